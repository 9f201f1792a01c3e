-- Version 3: limits on returned mail, forwarded copies as deliveries of their own kind, and
-- retention ([retention] message_bodies, returned_mail, events).

-- A copy of returned mail forwarded to an application's own envelope names the returned
-- message it carries; NULL for what an application submitted. Forwards are counted per
-- account for their rate limit.
ALTER TABLE messages ADD COLUMN forward_of TEXT;
CREATE INDEX messages_forwards ON messages (account_id, created_at) WHERE forward_of IS NOT NULL;

-- When the MIME of a message (all of its deliveries final) or the raw bytes of a returned
-- message were deleted after their retention period; NULL while they are kept.
ALTER TABLE messages ADD COLUMN purged_at REAL;
ALTER TABLE returns ADD COLUMN purged_at REAL;
CREATE INDEX messages_kept ON messages (created_at) WHERE purged_at IS NULL;
CREATE INDEX returns_kept ON returns (received_at) WHERE purged_at IS NULL;

-- Events are deleted by age; an event that a feedback loop's post still refers to stays.
CREATE INDEX events_time ON events (time);
CREATE INDEX loop_outbox_event ON loop_outbox (event_id);

-- Running totals, so that a limit is checked without summing a table: 'returns' is the
-- size of the returned messages whose raw bytes are kept ([smtp.inbound] max_stored_returns).
CREATE TABLE stored_bytes (
    name   TEXT PRIMARY KEY,
    bytes  INTEGER NOT NULL
);
INSERT INTO stored_bytes (name, bytes) SELECT 'returns', coalesce(sum(size), 0) FROM returns;
