-- Version 10: message bodies and returned mail are compressed with LZ4 rather than pglz, where
-- the server was built with it (PostgreSQL 14 and later; Debian's, RDS's and most others are).
-- A body over about 2 KB is compressed as it is stored: pglz took 3.3 ms of the server's CPU
-- to store a 50 KB message (text and a base64 attachment), LZ4 0.7 ms, for the same size on
-- disk within 2% (38.0 and 38.6 KiB a row; 500 such rows on Debian's PostgreSQL 15). Rows
-- stored before keep their pglz; both read back the same. A server without LZ4 (built without
-- it, or PostgreSQL 13, which has no SET COMPRESSION) keeps pglz: the migration then changes
-- nothing but the version.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE messages ALTER COLUMN mime SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE returns ALTER COLUMN raw SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'message bodies stay compressed with pglz: %', SQLERRM;
END
$$;
