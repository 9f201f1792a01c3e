-- Version 4: a rotation's retired DKIM selectors (issue 11). When the pending selectors start
-- signing, the old ones are listed here, a JSON list of [selector, time of the switch]: their
-- records may be removed from DNS a week later (core/senders.py RETIRED_KEEP). (SQLite's
-- version 7 is the same.)
ALTER TABLE domains ADD COLUMN retired TEXT NOT NULL DEFAULT '[]';
