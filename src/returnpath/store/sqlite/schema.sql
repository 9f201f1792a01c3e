-- The SQLite schema. Applied at open; every statement is idempotent.
-- Times are Unix seconds (REAL). Ids are ULIDs (see core/ids.py), events use a rowid
-- so that their ids ascend in commit order (the log writer relies on it).

CREATE TABLE IF NOT EXISTS accounts (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    smtp_username       TEXT NOT NULL UNIQUE,
    smtp_password_hash  TEXT NOT NULL,
    api_token_hash      TEXT NOT NULL UNIQUE,
    created_at          REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS messages (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    mail_from       TEXT NOT NULL,
    envelope        TEXT,
    trackbounces    INTEGER NOT NULL,
    tags            TEXT NOT NULL,          -- JSON list of strings
    maxdelivertime  REAL,
    dsn             TEXT,                   -- JSON object, or NULL
    size            INTEGER NOT NULL,
    mime            BLOB NOT NULL,
    created_at      REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS deliveries (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    account_id       TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    envelope_sender  TEXT NOT NULL,
    state            TEXT NOT NULL,         -- queued, deferred, delivered, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    next_attempt_at  REAL,                  -- NULL once the delivery is final
    expires_at       REAL NOT NULL,
    lease_owner      TEXT,
    lease_until      REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries (message_id);
CREATE INDEX IF NOT EXISTS deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE IF NOT EXISTS attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    number       INTEGER NOT NULL,
    time         REAL NOT NULL,
    remote       TEXT,
    step         TEXT NOT NULL,
    code         INTEGER,
    status       TEXT,
    text         TEXT NOT NULL,
    verdict      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);

CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    time         REAL NOT NULL,
    data         TEXT NOT NULL              -- JSON object: the kind's own fields
);
CREATE INDEX IF NOT EXISTS events_delivery ON events (delivery_id);
CREATE INDEX IF NOT EXISTS events_account ON events (account_id, id);

CREATE TABLE IF NOT EXISTS cursors (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);

-- Messages that came back to the bounce domain, raw and byte-exact, with their envelope.
-- Committed before the inbound server answers 250; processed afterwards (state 'new' until then).
CREATE TABLE IF NOT EXISTS returns (
    id           TEXT PRIMARY KEY,
    mailfrom     TEXT NOT NULL,              -- '' for the null sender
    rcptto       TEXT NOT NULL,              -- JSON list
    deliveries   TEXT NOT NULL,              -- JSON list of the delivery ids the tokens name
    client       TEXT,
    received_at  REAL NOT NULL,
    size         INTEGER NOT NULL,
    raw          BLOB NOT NULL,
    state        TEXT NOT NULL,              -- new, processed
    kind         TEXT,                       -- the verdict's kind, once processed
    processed_at REAL,
    lease_owner  TEXT,
    lease_until  REAL
);
CREATE INDEX IF NOT EXISTS returns_new ON returns (received_at) WHERE state = 'new';

-- Feedback loops (webhooks/model.py): where an account wants its events posted, and which.
CREATE TABLE IF NOT EXISTS loops (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    url         TEXT NOT NULL,
    format      TEXT NOT NULL,               -- form, json
    active      INTEGER NOT NULL,            -- 0: paused (its items wait)
    secret      TEXT NOT NULL,               -- whsec_...: needed in clear to sign
    previous_secret TEXT,                    -- the one before the last rotation, also signed with
    previous_until  REAL,                    -- until then
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS loops_account ON loops (account_id);

CREATE TABLE IF NOT EXISTS loop_events (
    loop_id  TEXT NOT NULL REFERENCES loops (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    PRIMARY KEY (loop_id, kind)
);

-- One row per event per loop that wants it, written in the event's transaction.
CREATE TABLE IF NOT EXISTS loop_outbox (
    id               TEXT PRIMARY KEY,       -- webhook-id is "msg_" + this
    loop_id          TEXT NOT NULL REFERENCES loops (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL,
    event_time       REAL NOT NULL,
    created_at       REAL NOT NULL,
    expires_at       REAL NOT NULL,
    state            TEXT NOT NULL,          -- pending, done, dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,                   -- NULL once done or dead
    last_attempt_at  REAL,
    last_status      INTEGER,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_until      REAL
);
-- Claims walk a loop's pending items in event order (small: done and dead ones are not in it);
-- listings and replays go by loop and state.
CREATE INDEX IF NOT EXISTS loop_outbox_pending ON loop_outbox (loop_id, event_time, event_id)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS loop_outbox_loop ON loop_outbox (loop_id, state, event_time);
CREATE INDEX IF NOT EXISTS loop_outbox_finished ON loop_outbox (state, last_attempt_at)
    WHERE state != 'pending';  -- what the purge deletes
DROP INDEX IF EXISTS loop_outbox_due;  -- the claim of version 0.1 (a window over every due row)
