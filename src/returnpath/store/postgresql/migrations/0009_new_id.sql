-- Version 9: ids made by the server, as core/ids.py's new_id makes them (a ULID in lowercase
-- Crockford base32: ten characters of the time in milliseconds, then 80 random bits), so that
-- a statement can insert rows that need new ids without a round trip to fetch them first. A
-- settle inserts its event's feedback-loop posts in the same statement as the event
-- (queries.sql, settle_deliveries): the posts' number is known only there, from the loops
-- that want the event, and one statement is one transaction with no BEGIN and COMMIT around
-- it. The random bits are bytes 0-4 and 10-14 of a version 4 UUID, the ones not fixed by its
-- version and variant. PL/pgSQL: 14 us an id here, against 30-60 us for the same in plain
-- SQL (generate_series and string_agg, or 26 substr() joined). No SQLite counterpart: SQLite's
-- settles run in this process, and their posts' ids come from new_id.
CREATE FUNCTION new_id(at double precision) RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
    a CONSTANT text := '0123456789abcdefghjkmnpqrstvwxyz';
    r CONSTANT bytea := uuid_send(gen_random_uuid());
    millis CONSTANT bigint := floor(at * 1000)::bigint & 281474976710655;
    high CONSTANT bigint := (get_byte(r, 0)::bigint << 32) | (get_byte(r, 1)::bigint << 24)
        | (get_byte(r, 2)::bigint << 16) | (get_byte(r, 3)::bigint << 8) | get_byte(r, 4);
    low CONSTANT bigint := (get_byte(r, 10)::bigint << 32) | (get_byte(r, 11)::bigint << 24)
        | (get_byte(r, 12)::bigint << 16) | (get_byte(r, 13)::bigint << 8) | get_byte(r, 14);
    id text := '';
BEGIN
    FOR k IN REVERSE 9..0 LOOP
        id := id || substr(a, (millis >> (5 * k) & 31)::integer + 1, 1);
    END LOOP;
    FOR k IN REVERSE 7..0 LOOP
        id := id || substr(a, (high >> (5 * k) & 31)::integer + 1, 1);
    END LOOP;
    FOR k IN REVERSE 7..0 LOOP
        id := id || substr(a, (low >> (5 * k) & 31)::integer + 1, 1);
    END LOOP;
    RETURN id;
END
$$;
