-- Version 8: the DKIM private keys of the sending domains, in the store rather than as files
-- in one node's data folder, so that every node of a deployment signs (issue 11). Each key is
-- sealed with AES-256-GCM under a key derived from the instance's [server] secret
-- (dkim/sealing.py): the store, its backups and `returnpath store copy` never hold it in the
-- clear. Keyed by the domain's name, not the domains row: a removed domain's keys stay, so that
-- its selectors are never used again (dkim/keys.py), whichever account adds it next.
-- (SQLite's version 11 is the same.)
CREATE TABLE dkim_keys (
    domain     TEXT NOT NULL,
    selector   TEXT NOT NULL,
    algorithm  TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (domain, selector)
);
