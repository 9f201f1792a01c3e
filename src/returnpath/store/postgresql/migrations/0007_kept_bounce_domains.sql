-- Version 7: the bounce domain of a removed sending domain that was added again (issue 11).
-- Adding a removed domain again makes its row the new domain, perhaps with another bounce
-- domain; the old one must still be accepted for the DSNs of mail sent before the removal
-- (core/senders.py: bounce_kept), so adding moves it here with the time of the removal.
-- `bounce_domains` reads both tables, `purge_removed_domains` purges both. (SQLite's version
-- 10 is the same.)
CREATE TABLE kept_bounce_domains (
    bounce_domain TEXT NOT NULL,
    domain        TEXT NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    removed_at    DOUBLE PRECISION NOT NULL
);
