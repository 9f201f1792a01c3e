-- Version 1: the whole schema as it stood when the PostgreSQL backend began (SQLite's schema.sql
-- with its migrations 0002-0004). Times are Unix seconds (double precision); ids are ULIDs
-- (core/ids.py) except events' and attempts', which the database numbers. JSON is kept as text,
-- as in SQLite, so that both backends read and write it the same way.

CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    smtp_username       TEXT NOT NULL UNIQUE,
    smtp_password_hash  TEXT NOT NULL,
    api_token_hash      TEXT NOT NULL UNIQUE,
    created_at          double precision NOT NULL,
    disabled            BOOLEAN NOT NULL DEFAULT false,
    sender_domains      TEXT NOT NULL DEFAULT '[]'     -- JSON list; [] = any
);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    mail_from       TEXT NOT NULL,
    envelope        TEXT,
    trackbounces    BOOLEAN NOT NULL,
    tags            TEXT NOT NULL,                      -- JSON list of strings
    maxdelivertime  double precision,
    dsn             TEXT,                               -- JSON object, or NULL
    size            INTEGER NOT NULL,
    mime            BYTEA NOT NULL,
    created_at      double precision NOT NULL,
    forward_of      TEXT,               -- the returned message a forwarded copy carries
    purged_at       double precision    -- when the MIME was deleted (retention)
);
CREATE INDEX messages_forwards ON messages (account_id, created_at) WHERE forward_of IS NOT NULL;
CREATE INDEX messages_kept ON messages (created_at) WHERE purged_at IS NULL;

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    account_id       TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    envelope_sender  TEXT NOT NULL,
    state            TEXT NOT NULL,                     -- queued, deferred, delivered, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    next_attempt_at  double precision,                  -- NULL once the delivery is final
    expires_at       double precision NOT NULL,
    lease_owner      TEXT,
    lease_until      double precision
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_account ON deliveries (account_id);

CREATE TABLE attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    number       INTEGER NOT NULL,
    time         double precision NOT NULL,
    remote       TEXT,
    step         TEXT NOT NULL,
    code         INTEGER,
    status       TEXT,
    text         TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    node         TEXT NOT NULL DEFAULT ''               -- the node whose worker made it
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);

-- Ids ascend in commit order: every transaction that inserts events takes one advisory lock
-- first (EVENTS_LOCK in database.py says why).
CREATE TABLE events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    time         double precision NOT NULL,
    data         TEXT NOT NULL,                         -- JSON object: the kind's own fields
    node         TEXT NOT NULL DEFAULT ''               -- the node whose worker recorded it
);
CREATE INDEX events_delivery ON events (delivery_id);
CREATE INDEX events_account ON events (account_id, id);
CREATE INDEX events_time ON events (time);
-- Each node's log writer reads its own events after its cursor (as SQLite's version 4 has it):
-- without this, an idle node's writer would scan every other node's events since its cursor.
CREATE INDEX events_node ON events (node, id);

CREATE TABLE cursors (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);

-- Messages that came back to the bounce domain, raw and byte-exact, with their envelope.
CREATE TABLE returns (
    id           TEXT PRIMARY KEY,
    mailfrom     TEXT NOT NULL,                         -- '' for the null sender
    rcptto       TEXT NOT NULL,                         -- JSON list
    deliveries   TEXT NOT NULL,                         -- JSON list of delivery ids
    client       TEXT,
    received_at  double precision NOT NULL,
    size         INTEGER NOT NULL,
    raw          BYTEA NOT NULL,
    state        TEXT NOT NULL,                         -- new, processed
    kind         TEXT,
    processed_at double precision,
    lease_owner  TEXT,
    lease_until  double precision,
    purged_at    double precision
);
CREATE INDEX returns_new ON returns (received_at) WHERE state = 'new';
CREATE INDEX returns_kept ON returns (received_at) WHERE purged_at IS NULL;
CREATE INDEX returns_lease ON returns (lease_owner) WHERE lease_owner IS NOT NULL;

-- Feedback loops: where an account wants its events posted, and which.
CREATE TABLE loops (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    url             TEXT NOT NULL,
    format          TEXT NOT NULL,                      -- form, json
    active          BOOLEAN NOT NULL,                   -- false: paused (its posts wait)
    secret          TEXT NOT NULL,
    previous_secret TEXT,
    previous_until  double precision,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL
);
CREATE INDEX loops_account ON loops (account_id);

CREATE TABLE loop_events (
    loop_id  TEXT NOT NULL REFERENCES loops (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    PRIMARY KEY (loop_id, kind)
);

-- One row per event per loop that wants it, written in the event's transaction.
CREATE TABLE loop_posts (
    id               TEXT PRIMARY KEY,                  -- webhook-id is "msg_" + this
    loop_id          TEXT NOT NULL REFERENCES loops (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL,
    event_time       double precision NOT NULL,
    created_at       double precision NOT NULL,
    expires_at       double precision NOT NULL,
    state            TEXT NOT NULL,                     -- pending, done, dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  double precision,
    last_attempt_at  double precision,
    last_status      INTEGER,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_until      double precision
);
CREATE INDEX loop_posts_pending ON loop_posts (loop_id, event_time, event_id) WHERE state = 'pending';
CREATE INDEX loop_posts_loop ON loop_posts (loop_id, state, event_time);
CREATE INDEX loop_posts_finished ON loop_posts (state, last_attempt_at) WHERE state != 'pending';
CREATE INDEX loop_posts_event ON loop_posts (event_id);
CREATE INDEX loop_posts_lease ON loop_posts (lease_owner) WHERE lease_owner IS NOT NULL;

-- Failed (or being checked) AUTH attempts per key, `addr:<address>` or `user:<username>`.
CREATE TABLE auth_failures (
    key           TEXT PRIMARY KEY,
    window_start  double precision NOT NULL,
    count         INTEGER NOT NULL
);
CREATE INDEX auth_failures_window ON auth_failures (window_start);

CREATE TABLE auth_logins (
    username  TEXT NOT NULL,
    address   TEXT NOT NULL,
    at        double precision NOT NULL,
    PRIMARY KEY (username, address)
);
CREATE INDEX auth_logins_at ON auth_logins (at);

-- Running totals: 'returns' is the size of the returned messages whose raw bytes are kept.
CREATE TABLE stored_bytes (
    name   TEXT PRIMARY KEY,
    bytes  BIGINT NOT NULL
);
INSERT INTO stored_bytes (name, bytes) VALUES ('returns', 0);

-- The nodes sharing this database, as their heartbeats left them.
CREATE TABLE nodes (
    name          TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    version       TEXT NOT NULL,
    listen        TEXT NOT NULL,
    started_at    double precision NOT NULL,
    heartbeat_at  double precision NOT NULL
);
