-- Version 6: the sending domains of the accounts (core/domains.py, issue 11). A domain belongs
-- to one account (the primary key refuses a second); the DKIM keys are files in the data
-- folder (domains/<domain>/<selector>.pem), the row says which selectors sign and which wait
-- for a rotation.
CREATE TABLE domains (
    domain                   TEXT PRIMARY KEY,
    account_id               TEXT NOT NULL REFERENCES accounts (id),
    bounce_domain            TEXT NOT NULL,
    created_at               REAL NOT NULL,
    rsa_selector             TEXT NOT NULL,
    ed25519_selector         TEXT NOT NULL,
    pending_rsa_selector     TEXT,
    pending_ed25519_selector TEXT,
    state                    TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX domains_account ON domains (account_id);
