-- Version 2: accounts can be disabled and bound to sender domains; failed SMTP logins are
-- counted where every worker process sees them (core/throttle.py).

ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN sender_domains TEXT NOT NULL DEFAULT '[]';  -- JSON list; [] = any

-- Failed (or being checked) AUTH attempts per key, `addr:<address>` or `user:<username>`, in a
-- window that begins with the first one. Rows whose window has passed are deleted.
CREATE TABLE auth_failures (
    key           TEXT PRIMARY KEY,
    window_start  REAL NOT NULL,
    count         INTEGER NOT NULL
);
CREATE INDEX auth_failures_window ON auth_failures (window_start);

-- The addresses that logged in as a username, and when last: the per-username limit does not
-- hold them back.
CREATE TABLE auth_logins (
    username  TEXT NOT NULL,
    address   TEXT NOT NULL,
    at        REAL NOT NULL,
    PRIMARY KEY (username, address)
);
CREATE INDEX auth_logins_at ON auth_logins (at);
