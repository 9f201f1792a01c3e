-- Version 4: nodes (issue 10). Several nodes may share a PostgreSQL store; an SQLite file has
-- one, but both backends keep the same rows, so that `returnpath store copy` moves them whole.

-- The node whose worker recorded an attempt or an event ([node] name; '' before version 4).
ALTER TABLE attempts ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX events_node ON events (node, id);

-- Each node's last heartbeat, written by its supervisor (`returnpath nodes` lists them).
CREATE TABLE nodes (
    name          TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    version       TEXT NOT NULL,
    listen        TEXT NOT NULL,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL
);

-- A feedback loop's queued and sent events are its "posts", in the code, the API and the docs.
ALTER TABLE loop_outbox RENAME TO loop_posts;
DROP INDEX loop_outbox_pending;
DROP INDEX loop_outbox_loop;
DROP INDEX loop_outbox_finished;
DROP INDEX loop_outbox_event;
CREATE INDEX loop_posts_pending ON loop_posts (loop_id, event_time, event_id) WHERE state = 'pending';
CREATE INDEX loop_posts_loop ON loop_posts (loop_id, state, event_time);
CREATE INDEX loop_posts_finished ON loop_posts (state, last_attempt_at) WHERE state != 'pending';
CREATE INDEX loop_posts_event ON loop_posts (event_id);
