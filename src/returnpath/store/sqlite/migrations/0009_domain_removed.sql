-- Version 9: a removed sending domain stays a row, with the time it was removed, so that the
-- inbound server goes on accepting DSNs at its bounce domain for mail sent before the removal
-- (usecases/domains.py: BOUNCE_KEEP); the supervisor's purge deletes it once no delivery can
-- bounce any more. Re-adding the domain makes the row active again (with new keys). Issue 11.
ALTER TABLE domains ADD COLUMN removed_at REAL;
