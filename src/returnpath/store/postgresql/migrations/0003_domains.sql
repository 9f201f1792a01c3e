-- Version 3: the sending domains of the accounts (core/domains.py, issue 11). A domain belongs
-- to one account (the primary key refuses a second); the DKIM keys are files in the data
-- folder, the row says which selectors sign and which wait for a rotation. (SQLite's version
-- 6 is the same.)
CREATE TABLE domains (
    domain                   TEXT PRIMARY KEY,
    account_id               TEXT NOT NULL REFERENCES accounts (id),
    bounce_domain            TEXT NOT NULL,
    created_at               DOUBLE PRECISION NOT NULL,
    rsa_selector             TEXT NOT NULL,
    ed25519_selector         TEXT NOT NULL,
    pending_rsa_selector     TEXT,
    pending_ed25519_selector TEXT,
    state                    TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX domains_account ON domains (account_id);
