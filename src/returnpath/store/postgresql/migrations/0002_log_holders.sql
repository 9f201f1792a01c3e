-- Version 2: who writes each node's events to the log files (logs.py). A node's log writer
-- holds its own node's row; when a node falls silent for good, one live node holds it instead
-- and writes that node's events to its own files. The hold runs out at log_held_until unless
-- renewed, so that a writer that died lets another take over. (SQLite's version 5 is the same.)
ALTER TABLE nodes ADD COLUMN log_holder TEXT;
ALTER TABLE nodes ADD COLUMN log_held_until DOUBLE PRECISION;
