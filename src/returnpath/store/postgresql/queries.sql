-- The PostgreSQL store's queries (psycopg's %(name)s parameters). Same names and meaning as
-- ../sqlite/queries.sql; what differs is said where it does.

-- name: insert_account
INSERT INTO accounts (id, name, smtp_username, smtp_password_hash, api_token_hash, created_at)
VALUES (%(id)s, %(name)s, %(smtp_username)s, %(smtp_password_hash)s, %(api_token_hash)s, %(created_at)s)
ON CONFLICT DO NOTHING
RETURNING id

-- name: account_by_token
SELECT id, name, smtp_username, disabled, sender_domains FROM accounts WHERE api_token_hash = %s

-- name: account_by_username
SELECT id, name, smtp_username, disabled, sender_domains, smtp_password_hash FROM accounts WHERE smtp_username = %s

-- name: accounts
SELECT id, name, smtp_username, disabled, sender_domains FROM accounts ORDER BY created_at, id

-- name: account_by_id
SELECT id, name, smtp_username, disabled, sender_domains FROM accounts WHERE id = %s

-- name: update_account
-- NULL leaves a column as it is.
UPDATE accounts SET
    api_token_hash = coalesce(%(api_token_hash)s, api_token_hash),
    smtp_password_hash = coalesce(%(smtp_password_hash)s, smtp_password_hash),
    disabled = coalesce(%(disabled)s, disabled),
    sender_domains = coalesce(%(sender_domains)s, sender_domains)
WHERE id = %(id)s
RETURNING id, name, smtp_username, disabled, sender_domains

-- name: account_pending_deliveries
SELECT count(*) FROM deliveries WHERE account_id = %s AND state IN ('queued', 'deferred')

-- name: account_delivery_count
SELECT count(*) FROM deliveries WHERE account_id = %s

-- name: delete_account_attempts
DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE account_id = %s)

-- name: delete_account_events
DELETE FROM events WHERE account_id = %s

-- name: delete_account_deliveries
DELETE FROM deliveries WHERE account_id = %s

-- name: delete_account_messages
DELETE FROM messages WHERE account_id = %s

-- name: delete_account_loops
-- loop_events and loop_posts go with them (ON DELETE CASCADE).
DELETE FROM loops WHERE account_id = %s

-- name: delete_account
DELETE FROM accounts WHERE id = %s

-- name: prune_auth_failures
DELETE FROM auth_failures WHERE window_start <= %s

-- name: auth_counts
-- The failures of the address and of the username in their windows, whether the address
-- logged in as the username lately, and the attempts of each being checked now:
-- core/throttle.py's AuthCounts in one round trip.
SELECT
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(address_key)s AND window_start > %(since)s),
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(username_key)s AND window_start > %(since)s),
    EXISTS (SELECT 1 FROM auth_logins WHERE username = %(username)s AND address = %(address)s AND at > %(known)s),
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(address_busy)s AND window_start > %(since)s),
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(username_busy)s AND window_start > %(since)s)

-- name: auth_lookup
-- What an SMTP login reads before its password is checked, in one round trip: auth_counts'
-- columns, then account_by_username's (NULLs when there is no such account). A login used to
-- read them by two statements, whose round trips were a sixth of a worker's CPU under a load
-- that logs in for every message.
SELECT
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(address_key)s AND window_start > %(since)s),
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(username_key)s AND window_start > %(since)s),
    EXISTS (SELECT 1 FROM auth_logins WHERE username = %(username)s AND address = %(address)s AND at > %(known)s),
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(address_busy)s AND window_start > %(since)s),
    (SELECT coalesce(max(count), 0) FROM auth_failures WHERE key = %(username_busy)s AND window_start > %(since)s),
    a.id, a.name, a.smtp_username, a.disabled, a.sender_domains, a.smtp_password_hash
FROM (VALUES (1)) AS one LEFT JOIN accounts AS a ON a.smtp_username = %(smtp_username)s

-- name: lock_auth
-- Reservations (store.reserve_auth) of one address or of one username take turns, each until
-- its transaction commits: under READ COMMITTED two of them, in two workers' transactions, could
-- both read the counts below a limit and both count an attempt, one more password checked than
-- the limit allows (core/throttle.py). Locked in the order of the locks' ids, so that two
-- reservations never wait for each other's second lock.
SELECT pg_advisory_xact_lock(lock)
FROM (SELECT DISTINCT hashtextextended(key, 0) AS lock FROM unnest(%s::text[]) AS key ORDER BY 1) AS locks

-- name: count_auth_failure
INSERT INTO auth_failures (key, window_start, count) VALUES (%s, %s, 1)
ON CONFLICT (key) DO UPDATE SET count = auth_failures.count + 1

-- name: uncount_auth_failure
UPDATE auth_failures SET count = count - 1 WHERE key = %s AND count > 0

-- name: remember_auth_login
INSERT INTO auth_logins (username, address, at) VALUES (%s, %s, %s)
ON CONFLICT (username, address) DO UPDATE SET at = excluded.at

-- name: prune_auth_logins
DELETE FROM auth_logins WHERE at <= %s

-- name: insert_messages
-- Messages with their deliveries (insert_message and insert_delivery in SQLite's file) in one
-- statement, for the submissions a group commits (store.submit; postgres_database.py says why). The rows
-- come as JSON, one parameter for the lot, where a list per column would cost the client more
-- CPU than the statement itself (psycopg adapts each list in Python); the bodies, bytes, as an
-- array beside them, body n for the message at position n (1-based). The deliveries' foreign
-- key is checked at the end of the statement, when the messages are in.
WITH message AS (
    INSERT INTO messages (id, account_id, mail_from, envelope, trackbounces, tags, maxdelivertime, dsn,
                          size, mime, created_at, forward_of, sign_domain)
    SELECT m.id, m.account_id, m.mail_from, m.envelope, m.trackbounces, m.tags, m.maxdelivertime, m.dsn,
           m.size, b.mime, m.created_at, m.forward_of, m.sign_domain
    FROM json_to_recordset(%(messages)s::json) AS m(
             id text, account_id text, mail_from text, envelope text, trackbounces boolean, tags text,
             maxdelivertime double precision, dsn text, size integer, created_at double precision,
             forward_of text, sign_domain text, n bigint)
    JOIN unnest(%(mimes)b::bytea[]) WITH ORDINALITY AS b(mime, n) ON b.n = m.n
)
INSERT INTO deliveries (id, message_id, account_id, recipient, envelope_sender, state, attempts,
                        created_at, updated_at, next_attempt_at, expires_at, lease_owner, lease_until)
SELECT id, message_id, account_id, recipient, envelope_sender, 'queued', 0, time, time, time, expires, owner, lease
FROM json_to_recordset(%(deliveries)s::json) AS d(
         id text, message_id text, account_id text, recipient text, envelope_sender text,
         time double precision, expires double precision, owner text, lease double precision)

-- name: claim
-- Lease the deliveries that are due and held by nobody (or by a lease that ran out), and read
-- them with their message's fields. SKIP LOCKED: what another transaction is claiming or
-- settling right now is left to it, so claims of several nodes never wait for each other.
-- The message's body comes on the first of its deliveries' rows only (NULL on the others: a
-- message to a thousand recipients is read and sent once), so that the claim is one
-- statement, which needs no transaction around it: one round trip where a claim that finds
-- nothing (a worker polling an idle queue) cost three (BEGIN, the claim, COMMIT) and one that
-- finds some four (the bodies read by a statement of their own).
WITH due AS (
    SELECT id FROM deliveries
    WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= %(now)s
      AND (lease_until IS NULL OR lease_until < %(now)s)
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE deliveries d SET lease_owner = %(owner)s, lease_until = %(until)s
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.message_id, d.account_id, d.recipient, d.envelope_sender, d.attempts, d.created_at,
              d.expires_at
)
SELECT c.id, c.message_id, c.account_id, c.recipient, c.envelope_sender, c.attempts, c.created_at,
       c.expires_at, m.tags, m.dsn, m.forward_of IS NOT NULL, m.sign_domain,
       CASE WHEN row_number() OVER (PARTITION BY c.message_id ORDER BY c.id) = 1 THEN m.mime END
FROM claimed c JOIN messages m ON m.id = c.message_id

-- name: sign_message
-- The first signature stored wins: another attempt at the same message may have signed it.
UPDATE messages SET mime = %s, size = %s, sign_domain = NULL WHERE id = %s AND sign_domain IS NOT NULL

-- name: mime
SELECT id, mime FROM messages WHERE id = ANY(%s)

-- name: renew
UPDATE deliveries SET lease_until = %s WHERE lease_owner = %s AND id = ANY(%s)

-- name: release_owner
UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = %s

-- name: release_node
-- Every owner of a node is "<node>/<process>" (core.ports.node_of).
UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE starts_with(lease_owner, %s || '/')

-- name: release_all
UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL

-- name: settle_deliveries
-- A group's settles (store.settle; the JSON's rows, at most one per delivery, each with its
-- position n, 1-based; as JSON for insert_messages' reason) in one statement, where SQLite
-- runs lease_owner, settle_delivery, insert_event and insert_post for each (postgres_database.py says
-- why). A settle that names an owner is kept only if that owner still holds the lease, the
-- row locked until the commit (`changed`; claims skip locked rows); otherwise its lease ran
-- out and another worker took the delivery over, which records its own attempts, and this one
-- records nothing. A kept settle records its attempt, the delivery's new state (a delivery that is
-- final already stays as it is), its event, if any, and the event's posts to the loops that
-- want it (paused ones too, as insert_event's fan-out), due at the attempt's time: the event
-- ids are drawn from the events' own sequence after the events lock is taken
-- (database.EVENTS_LOCK), the posts' ids made by the server (new_id, migration 0009). One
-- statement, so that it needs no transaction around it. Returns, per event stored, its
-- settle's position (1-based), its id, and the number of posts the statement inserted.
WITH settle AS (
    SELECT * FROM json_to_recordset(%(settles)s::json) AS s(
        id text, owner text, attempts integer, time double precision, remote text, step text,
        code integer, status text, text text, verdict text, state text, next double precision,
        kind text, event_delivery text, event_message text, event_account text,
        event_time double precision, data text, n bigint)
),
changed AS (
    -- The guard and the change in one: an owner's settle changes the delivery only while that
    -- owner holds its lease, and the UPDATE locks the row and checks that against its latest
    -- version (a settle racing another node's claim sees the claim's lease once it has
    -- committed). A lease is held only by deliveries not yet final (settle and release clear
    -- it), so a settle with an owner changed its delivery exactly when it is kept. Before, a
    -- SELECT ... FOR UPDATE locked each row first, and the UPDATE wrote it again: one more
    -- WAL record and change of the page a settle.
    UPDATE deliveries d
    SET state = s.state, attempts = s.attempts, updated_at = s.time, next_attempt_at = s.next,
        lease_owner = NULL, lease_until = NULL
    FROM settle s
    -- By id through the primary key: joined on `d.id = s.id` alone, the planner (which takes
    -- json_to_recordset for 100 rows) scanned the whole table by hash join up to some ten
    -- thousand deliveries, 0.5-1 ms a lone settle at a few thousand; ANY(ARRAY(...)) it takes
    -- for 10. But ten rows are worth a scan of a table of fewer than some 40 pages (a thousand
    -- deliveries), and a prepared statement keeps the plan it was given until the table is
    -- analyzed again: analyzed at 500 deliveries, a lone settle scanned all 1,800 of them a
    -- minute later (0.9 of its 1.1 ms, auto_explain, bench/relay.py --load lean:1). So a lone
    -- settle, the most common group under a light load, names its delivery as a parameter of
    -- its own (lone() in postgres_database.py makes `d.id = %(one)s` of the ANY below), which the
    -- planner knows finds one row by the primary key. The rows are locked in the order the settles drive the join, and postgres_store.py
    -- gives them sorted by id, so that two groups lock in one order, as the SELECT ... FOR
    -- UPDATE before did with its ORDER BY. A plan driven by a scan of the table instead (a
    -- table too small for the index to pay) could lock them in another order; a deadlock
    -- between two nodes settling the same deliveries (a lease that ran out) is then broken by
    -- PostgreSQL, and the writer runs each write again alone (postgres_database.py).
    WHERE d.id = ANY(ARRAY(SELECT id FROM settle)) AND d.id = s.id
      AND d.state NOT IN ('delivered', 'failed') AND (s.owner IS NULL OR d.lease_owner = s.owner)
    RETURNING d.id
),
kept AS MATERIALIZED (
    SELECT * FROM settle WHERE owner IS NULL OR id IN (SELECT id FROM changed)
),
attempt AS (
    INSERT INTO attempts (delivery_id, number, time, remote, step, code, status, text, verdict, node)
    SELECT id, attempts, time, remote, step, code, status, text, verdict, %(node)s FROM kept ORDER BY n
),
locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(%(lock)s)),
numbered AS (
    SELECT k.*, nextval(pg_get_serial_sequence('events', 'id')) AS event_id
    FROM kept k CROSS JOIN locked
    WHERE k.kind IS NOT NULL
),
event AS (
    INSERT INTO events (id, kind, delivery_id, message_id, account_id, time, data, node)
    OVERRIDING SYSTEM VALUE
    SELECT event_id, kind, event_delivery, event_message, event_account, event_time, data, %(node)s FROM numbered
),
post AS (
    INSERT INTO loop_posts (id, loop_id, event_id, event_time, created_at, expires_at, state, attempts,
                            next_attempt_at)
    SELECT new_id(k.time), l.id, k.event_id, k.event_time, k.time, k.time + %(window)s, 'pending', 0, k.time
    FROM numbered k
    JOIN loops l ON l.account_id = k.event_account
    JOIN loop_events e ON e.loop_id = l.id AND e.kind = k.kind
    WHERE k.event_account != ''
    RETURNING 1
)
SELECT n, event_id, (SELECT count(*) FROM post) FROM numbered

-- name: insert_event
-- Takes the events lock (database.EVENTS_LOCK) before the id is drawn: the row comes from the
-- locked CTE, and the id's default is computed for each row the INSERT takes from it. Returns
-- the id and the loops (paused ones too) that want the event (Loop.wants): its fan-out.
WITH locked AS (SELECT pg_advisory_xact_lock(%(lock)s))
INSERT INTO events (kind, delivery_id, message_id, account_id, time, data, node)
SELECT %(kind)s, %(delivery_id)s, %(message_id)s, %(account_id)s, %(time)s, %(data)s, %(node)s FROM locked
RETURNING id, ARRAY(SELECT l.id FROM loops l JOIN loop_events e ON e.loop_id = l.id
                    WHERE l.account_id = events.account_id AND e.kind = events.kind AND events.account_id != '')

-- name: delivery
SELECT d.id, d.message_id, d.account_id, d.recipient, m.mail_from, m.envelope, d.envelope_sender,
       d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.expires_at, m.tags
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.id = %s AND d.account_id = %s

-- name: message_deliveries
-- In the order they were stored (ULIDs of one message ascend; SQLite goes by rowid).
SELECT d.id, d.message_id, d.account_id, d.recipient, m.mail_from, m.envelope, d.envelope_sender,
       d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.expires_at, m.tags
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.message_id = %s AND d.account_id = %s
ORDER BY d.created_at, d.id

-- name: attempts
SELECT number, time, remote, step, code, status, text, verdict, node
FROM attempts WHERE delivery_id = %s ORDER BY number, id

-- name: delivery_events
SELECT id, kind, delivery_id, message_id, account_id, time, data, node
FROM events WHERE delivery_id = %s ORDER BY id

-- name: queue_summary
SELECT state, count(*) FROM deliveries GROUP BY state

-- name: newest_event_id
-- The identity sequence's last value: the highest id given, also once its row is deleted (NULL
-- before the first; https://www.postgresql.org/docs/current/view-pg-sequences.html).
SELECT GREATEST(
    COALESCE((SELECT s.last_value FROM pg_sequences s
              JOIN pg_namespace n ON n.nspname = s.schemaname
              JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
              WHERE c.oid = pg_get_serial_sequence('events', 'id')::regclass), 0),
    COALESCE((SELECT max(id) FROM events), 0))

-- name: cursor
SELECT value FROM cursors WHERE name = %s

-- name: set_cursor
INSERT INTO cursors (name, value) VALUES (%s, %s)
ON CONFLICT (name) DO UPDATE SET value = excluded.value

-- name: insert_return
INSERT INTO returns (id, mailfrom, rcptto, deliveries, client, received_at, size, raw, state)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'new')

-- name: claim_returns
WITH due AS (
    SELECT id FROM returns
    WHERE state = 'new' AND (lease_until IS NULL OR lease_until < %(now)s)
    ORDER BY received_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE returns r SET lease_owner = %(owner)s, lease_until = %(until)s
FROM due WHERE r.id = due.id
RETURNING r.id, r.mailfrom, r.rcptto, r.deliveries, r.client, r.received_at, r.raw, r.purged_at

-- name: return_by_id
SELECT id, mailfrom, rcptto, deliveries, client, received_at, raw, purged_at FROM returns WHERE id = %s

-- name: finish_return
UPDATE returns SET state = 'processed', kind = %s, processed_at = %s, lease_owner = NULL, lease_until = NULL
WHERE id = %s

-- name: release_returns_owner
UPDATE returns SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = %s

-- name: release_returns_node
UPDATE returns SET lease_owner = NULL, lease_until = NULL WHERE starts_with(lease_owner, %s || '/')

-- name: release_returns_all
UPDATE returns SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL

-- name: deliveries_by_id
SELECT d.id, d.message_id, d.account_id, d.recipient, m.mail_from, m.envelope, d.envelope_sender,
       d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.expires_at, m.tags,
       m.trackbounces, m.dsn
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.id = ANY(%s)

-- name: fail_delivery
-- An asynchronous failure: the delivery failed after all, whatever it was before, unless it
-- has failed already (a delivery fails once; no row changed then).
UPDATE deliveries SET state = 'failed', updated_at = %s, next_attempt_at = NULL, lease_owner = NULL,
    lease_until = NULL
WHERE id = %s AND state != 'failed'

-- name: insert_loop
INSERT INTO loops (id, account_id, url, format, active, secret, created_at, updated_at)
VALUES (%(id)s, %(account_id)s, %(url)s, %(format)s, %(active)s, %(secret)s, %(now)s, %(now)s)

-- name: insert_loop_event
INSERT INTO loop_events (loop_id, kind) VALUES (%s, %s)

-- name: delete_loop_events
DELETE FROM loop_events WHERE loop_id = %s

-- name: loops
SELECT l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       ARRAY(SELECT kind FROM loop_events e WHERE e.loop_id = l.id)
FROM loops l WHERE l.account_id = %s ORDER BY l.created_at, l.id

-- name: loop
SELECT l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       ARRAY(SELECT kind FROM loop_events e WHERE e.loop_id = l.id)
FROM loops l WHERE l.id = %s AND l.account_id = %s

-- name: update_loop
UPDATE loops SET url = %(url)s, format = %(format)s, active = %(active)s, secret = %(secret)s,
                 previous_secret = %(previous_secret)s, previous_until = %(previous_until)s,
                 updated_at = %(now)s
WHERE id = %(id)s AND account_id = %(account_id)s

-- name: delete_loop
DELETE FROM loops WHERE id = %s AND account_id = %s

-- name: insert_post
INSERT INTO loop_posts (id, loop_id, event_id, event_time, created_at, expires_at, state, attempts,
                        next_attempt_at)
VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, %s)

-- name: claim_posts
-- Up to :per_loop of each active loop's oldest due, unleased posts (one walk of the loop's
-- pending posts in event order), then the oldest :limit of those, leased, and read with all
-- that posting them needs (core.feedback.Call): the post, its event, its loop with the loop's
-- event kinds, and for a bounce or an abuse report the returned message it is about. One
-- statement, so that it runs beside the writer's groups (database.write_apart) and reads
-- all of it from the snapshot it leased in: a loop deleted meanwhile (its posts go with it)
-- is either wholly there or not.
WITH due AS (
    SELECT p.id FROM loops l
    CROSS JOIN LATERAL (
        SELECT o.id, o.event_time, o.event_id FROM loop_posts o
        WHERE o.loop_id = l.id AND o.state = 'pending' AND o.next_attempt_at <= %(now)s
          AND (o.lease_until IS NULL OR o.lease_until <= %(now)s)
        ORDER BY o.event_time, o.event_id
        LIMIT %(per_loop)s
        FOR UPDATE SKIP LOCKED
    ) p
    WHERE l.active AND NOT l.id = ANY(%(skip)s)
    ORDER BY p.event_time, p.event_id
    LIMIT %(limit)s
),
claimed AS (
    UPDATE loop_posts o SET lease_owner = %(owner)s, lease_until = %(until)s
    FROM due WHERE o.id = due.id
    RETURNING o.id, o.loop_id, o.event_id, o.event_time, o.created_at, o.expires_at, o.state, o.attempts,
              o.next_attempt_at, o.last_attempt_at, o.last_status, o.last_error
)
SELECT c.*, e.kind, e.delivery_id, e.message_id, e.account_id, e.time, e.data,
       l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       ARRAY(SELECT kind FROM loop_events k WHERE k.loop_id = l.id),
       r.raw
FROM claimed c
JOIN events e ON e.id = c.event_id
JOIN loops l ON l.id = c.loop_id
LEFT JOIN returns r ON e.kind IN ('bounce', 'abuse') AND r.id = e.data::json ->> 'return'
ORDER BY c.event_time, c.event_id

-- name: settle_posts
-- The settles of posts a group commits (outbox.settle; the JSON's rows, at most one per post),
-- in one statement: each post changes only while its settle's owner holds its lease. By id
-- through the primary key, as settle_deliveries (which says why the ANY(ARRAY(...)), and why a
-- lone settle names its post as %(one)s, lone() in postgres_database.py). Returns
-- each post's loop as it is now (none: the loop was removed, its posts with it), read from the
-- statement's snapshot, so that the dispatcher posts no more of a loop paused, moved or removed.
WITH s AS (
    SELECT * FROM json_to_recordset(%(settles)s::json) AS s(
        id text, owner text, state text, attempts integer, next double precision, at double precision,
        status integer, error text)
),
settled AS (
    UPDATE loop_posts o
    SET state = s.state, attempts = s.attempts, next_attempt_at = s.next, last_attempt_at = s.at,
        last_status = s.status, last_error = s.error, lease_owner = NULL, lease_until = NULL
    FROM s
    WHERE o.id = ANY(ARRAY(SELECT id FROM s)) AND o.id = s.id AND o.lease_owner = s.owner
)
SELECT o.id, l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       ARRAY(SELECT kind FROM loop_events k WHERE k.loop_id = l.id)
FROM loop_posts o JOIN loops l ON l.id = o.loop_id
WHERE o.id = ANY(ARRAY(SELECT id FROM s))

-- name: release_posts
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL, next_attempt_at = %s
WHERE lease_owner = %s AND id = ANY(%s)

-- name: release_posts_owner
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = %s

-- name: release_posts_node
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL WHERE starts_with(lease_owner, %s || '/')

-- name: release_posts_all
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL

-- name: purge_posts
DELETE FROM loop_posts WHERE id IN (
    SELECT id FROM loop_posts
    WHERE state != 'pending'
      AND ((state = 'done' AND last_attempt_at < %(done)s) OR (state = 'dead' AND last_attempt_at < %(dead)s))
    LIMIT %(batch)s)

-- name: loop_posts
-- A loop's posts, newest event first; :state is NULL (all), 'pending' (waiting, not leased),
-- 'in_flight' (pending and leased now), 'done' or 'dead'; :before_time and :before_event (or
-- NULL) the event of the last post of the page before, for the next page.
SELECT o.id, o.loop_id, o.event_id, o.event_time, o.created_at, o.expires_at, o.state, o.attempts,
       o.next_attempt_at, o.last_attempt_at, o.last_status, o.last_error,
       o.state = 'pending' AND o.lease_until IS NOT NULL AND o.lease_until > %(now)s,
       e.kind, e.delivery_id
FROM loop_posts o JOIN events e ON e.id = o.event_id
WHERE o.loop_id = %(loop_id)s
  AND (%(state)s::text IS NULL
       OR (%(state)s = 'in_flight' AND o.state = 'pending' AND o.lease_until > %(now)s)
       OR (%(state)s = 'pending' AND o.state = 'pending' AND (o.lease_until IS NULL OR o.lease_until <= %(now)s))
       OR (%(state)s IN ('done', 'dead') AND o.state = %(state)s))
  AND (%(before_time)s::double precision IS NULL OR o.event_time < %(before_time)s
       OR (o.event_time = %(before_time)s AND o.event_id < %(before_event)s::bigint))
ORDER BY o.event_time DESC, o.event_id DESC
LIMIT %(limit)s

-- name: loop_post
SELECT o.id, o.loop_id, o.event_id, o.event_time, o.created_at, o.expires_at, o.state, o.attempts,
       o.next_attempt_at, o.last_attempt_at, o.last_status, o.last_error
FROM loop_posts o JOIN loops l ON l.id = o.loop_id
WHERE o.id = %s AND o.loop_id = %s AND l.account_id = %s

-- name: replay_post
UPDATE loop_posts
SET state = 'pending', attempts = 0, next_attempt_at = %(now)s, expires_at = %(expires)s,
    lease_owner = NULL, lease_until = NULL
WHERE id = %(id)s AND state != 'pending'
  AND loop_id IN (SELECT id FROM loops WHERE id = %(loop_id)s AND account_id = %(account_id)s)

-- name: replay_dead
UPDATE loop_posts
SET state = 'pending', attempts = 0, next_attempt_at = %(now)s, expires_at = %(expires)s,
    lease_owner = NULL, lease_until = NULL
WHERE state = 'dead'
  AND loop_id IN (SELECT id FROM loops WHERE id = %(loop_id)s AND account_id = %(account_id)s)

-- name: stored_returns
SELECT bytes FROM stored_bytes WHERE name = 'returns'

-- name: add_stored_returns
UPDATE stored_bytes SET bytes = bytes + %s WHERE name = 'returns'

-- name: forwards_since
SELECT count(*) FROM messages WHERE account_id = %s AND forward_of IS NOT NULL AND created_at >= %s

-- name: purge_bodies
UPDATE messages SET mime = %(nothing)s, purged_at = %(now)s
WHERE id IN (
    SELECT m.id FROM messages m
    WHERE m.purged_at IS NULL AND m.created_at < %(before)s
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.state NOT IN ('delivered', 'failed'))
    LIMIT %(batch)s)

-- name: purge_returns
UPDATE returns SET raw = %(nothing)s, purged_at = %(now)s
WHERE id IN (
    SELECT id FROM returns
    WHERE purged_at IS NULL AND state = 'processed' AND received_at < %(before)s
    LIMIT %(batch)s)
RETURNING size

-- name: purge_events
DELETE FROM events WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.time < %(before)s AND e.id <= %(logged)s
      AND NOT EXISTS (SELECT 1 FROM loop_posts o WHERE o.event_id = e.id)
    LIMIT %(batch)s)

-- name: heartbeat
INSERT INTO nodes (name, host, pid, version, listen, started_at, heartbeat_at)
VALUES (%(name)s, %(host)s, %(pid)s, %(version)s, %(listen)s, %(started_at)s, %(heartbeat_at)s)
ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
    listen = excluded.listen, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at

-- name: nodes
-- Each node with what its workers ("<node>/<process>") hold leased now.
SELECT n.name, n.host, n.pid, n.version, n.listen, n.started_at, n.heartbeat_at,
    (SELECT count(*) FROM deliveries d
     WHERE starts_with(d.lease_owner, n.name || '/') AND d.lease_until >= %(now)s),
    (SELECT count(*) FROM returns r
     WHERE starts_with(r.lease_owner, n.name || '/') AND r.lease_until >= %(now)s),
    (SELECT count(*) FROM loop_posts o
     WHERE starts_with(o.lease_owner, n.name || '/') AND o.lease_until >= %(now)s)
FROM nodes n ORDER BY n.name

-- name: release_log_holds
-- The nodes this holder wrote the events of while they were silent and that are heard from
-- again (logs.py): handed back, so that each writes its own events again (its hold, run out
-- already, lets another take it over should it go silent again before it holds it itself).
UPDATE nodes SET log_holder = name, log_held_until = %(now)s
WHERE log_holder = %(holder)s AND name <> %(holder)s AND heartbeat_at >= %(dead_before)s

-- name: hold_logs
-- The holder's own node, and every node silent since before the given time, that nobody else
-- holds now: held (or held longer) by this holder. Row by row atomic, on both backends: an
-- UPDATE of a row another transaction changes meanwhile waits for it and checks its WHERE
-- again (PostgreSQL's READ COMMITTED), so that two would-be holders never both get a row.
-- A silent node whose log nobody ever held is not taken: its row was copied from an SQLite
-- store (whose one writer has one cursor for every node), or it ran before holds existed.
UPDATE nodes SET log_holder = %(holder)s, log_held_until = %(until)s
WHERE (name = %(holder)s OR (heartbeat_at < %(dead_before)s AND log_holder IS NOT NULL))
  AND (log_holder IS NULL OR log_holder = %(holder)s OR log_held_until < %(now)s)
RETURNING name

-- name: move_cursor
-- Compare and set: moved only from where the mover read it, so that a writer that lost its
-- hold meanwhile never moves a cursor back (logs.py).
INSERT INTO cursors (name, value) VALUES (%(name)s, %(new)s)
ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE cursors.value = %(old)s
RETURNING value

-- name: forgetting_node
-- A node's last heartbeat, and how many of its events are after its log writer's cursor.
SELECT n.heartbeat_at,
    (SELECT count(*) FROM events e WHERE e.node = n.name
        AND e.id > COALESCE((SELECT c.value FROM cursors c WHERE c.name = %(cursor)s), 0))
FROM nodes n WHERE n.name = %(name)s FOR UPDATE OF n

-- name: forget_node
DELETE FROM nodes WHERE name = %(name)s

-- ---- sending domains (issue 11) ------------------------------------------------------------

-- name: keep_bounce_domain
-- Before a removed domain's row becomes the new domain (insert_domain), its bounce domain is
-- kept, with the time of the removal, for the DSNs of mail sent before it.
INSERT INTO kept_bounce_domains (bounce_domain, domain, account_id, removed_at)
SELECT bounce_domain, domain, account_id, removed_at FROM domains WHERE domain = %s AND removed_at IS NOT NULL

-- name: insert_domain
-- A removed domain's row (its bounce domain kept by keep_bounce_domain) becomes the new domain:
-- active again, with the new keys; an active one is left as it is (the caller says it is taken).
INSERT INTO domains (domain, account_id, bounce_domain, created_at, rsa_selector, ed25519_selector,
                     pending_rsa_selector, pending_ed25519_selector, state, retired)
VALUES (%(domain)s, %(account_id)s, %(bounce_domain)s, %(created_at)s, %(rsa_selector)s, %(ed25519_selector)s,
        %(pending_rsa_selector)s, %(pending_ed25519_selector)s, %(state)s, %(retired)s)
ON CONFLICT (domain) DO UPDATE SET
    account_id = excluded.account_id,
    bounce_domain = excluded.bounce_domain,
    created_at = excluded.created_at,
    rsa_selector = excluded.rsa_selector,
    ed25519_selector = excluded.ed25519_selector,
    pending_rsa_selector = excluded.pending_rsa_selector,
    pending_ed25519_selector = excluded.pending_ed25519_selector,
    state = excluded.state,
    retired = excluded.retired,
    removed_at = NULL
WHERE domains.removed_at IS NOT NULL
RETURNING domain

-- name: domain
SELECT account_id, domain, bounce_domain, created_at, rsa_selector, ed25519_selector,
       pending_rsa_selector, pending_ed25519_selector, state, retired
FROM domains WHERE domain = %s AND removed_at IS NULL

-- name: domains
SELECT account_id, domain, bounce_domain, created_at, rsa_selector, ed25519_selector,
       pending_rsa_selector, pending_ed25519_selector, state, retired
FROM domains WHERE removed_at IS NULL ORDER BY domain

-- name: account_domains
SELECT account_id, domain, bounce_domain, created_at, rsa_selector, ed25519_selector,
       pending_rsa_selector, pending_ed25519_selector, state, retired
FROM domains WHERE account_id = %s AND removed_at IS NULL ORDER BY domain

-- name: update_domain
-- A rotation's step: only if the row is still as the caller read it (its selectors), so that
-- two nodes switching at once, or a rotation started meanwhile, do not overwrite each other.
UPDATE domains SET rsa_selector = %(rsa_selector)s, ed25519_selector = %(ed25519_selector)s,
    pending_rsa_selector = %(pending_rsa_selector)s, pending_ed25519_selector = %(pending_ed25519_selector)s,
    state = %(state)s, retired = %(retired)s
WHERE domain = %(domain)s AND account_id = %(account_id)s AND removed_at IS NULL
  AND rsa_selector = %(was_rsa_selector)s AND pending_rsa_selector IS NOT DISTINCT FROM %(was_pending_rsa_selector)s

-- name: delete_account_domains
DELETE FROM domains WHERE account_id = %s

-- name: delete_account_kept_bounce_domains
DELETE FROM kept_bounce_domains WHERE account_id = %s

-- name: remove_domain
-- The row stays, for its bounce domain (core/senders.py: bounce_kept).
UPDATE domains SET removed_at = %s WHERE account_id = %s AND domain = %s AND removed_at IS NULL

-- name: bounce_domains
-- The bounce domains the inbound server accepts: those of the active domains, and of those
-- removed at or after the given time (the second: kept when the domain was added again).
SELECT bounce_domain FROM domains WHERE removed_at IS NULL OR removed_at >= %s
UNION
SELECT bounce_domain FROM kept_bounce_domains WHERE removed_at >= %s

-- name: purge_removed_domains
DELETE FROM domains WHERE removed_at < %s

-- name: purge_kept_bounce_domains
DELETE FROM kept_bounce_domains WHERE removed_at < %s

-- name: insert_dkim_key
-- A selector the domain has used keeps its key: the caller tells a new key from a kept one by
-- the row count.
INSERT INTO dkim_keys (domain, selector, algorithm, sealed, created_at) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (domain, selector) DO NOTHING

-- name: dkim_keys
SELECT domain, selector, algorithm, sealed, created_at FROM dkim_keys WHERE domain = %s ORDER BY selector COLLATE "C"
