-- Version 5: a message accepted while its sending domain's DKIM key could not be read is
-- stored unsigned, with the domain to sign it for here; the delivery engine signs it before
-- the first attempt that can, stores the signed bytes and clears this (issue 11). (SQLite's
-- version 8 is the same.)
ALTER TABLE messages ADD COLUMN sign_domain TEXT;
