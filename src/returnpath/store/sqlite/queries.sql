-- name: insert_account
INSERT INTO accounts (id, name, smtp_username, smtp_password_hash, api_token_hash, created_at)
VALUES (:id, :name, :smtp_username, :smtp_password_hash, :api_token_hash, :created_at)

-- name: account_by_token
SELECT id, name, smtp_username, disabled, sender_domains FROM accounts WHERE api_token_hash = ?

-- name: account_by_username
SELECT id, name, smtp_username, disabled, sender_domains, smtp_password_hash FROM accounts WHERE smtp_username = ?

-- name: accounts
SELECT id, name, smtp_username, disabled, sender_domains FROM accounts ORDER BY created_at

-- name: account_by_id
SELECT id, name, smtp_username, disabled, sender_domains FROM accounts WHERE id = ?

-- name: update_account
-- NULL leaves a column as it is.
UPDATE accounts SET
    api_token_hash = coalesce(:api_token_hash, api_token_hash),
    smtp_password_hash = coalesce(:smtp_password_hash, smtp_password_hash),
    disabled = coalesce(:disabled, disabled),
    sender_domains = coalesce(:sender_domains, sender_domains)
WHERE id = :id

-- name: account_pending_deliveries
SELECT count(*) FROM deliveries WHERE account_id = ? AND state IN ('queued', 'deferred')

-- name: account_delivery_count
SELECT count(*) FROM deliveries WHERE account_id = ?

-- name: delete_account_attempts
DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE account_id = ?)

-- name: delete_account_events
-- Their posts are the account's loops', which go with the loops.
DELETE FROM events WHERE account_id = ?

-- name: delete_account_deliveries
DELETE FROM deliveries WHERE account_id = ?

-- name: delete_account_messages
DELETE FROM messages WHERE account_id = ?

-- name: delete_account_loops
-- loop_events and loop_posts go with them (ON DELETE CASCADE).
DELETE FROM loops WHERE account_id = ?

-- name: delete_account
DELETE FROM accounts WHERE id = ?

-- name: prune_auth_failures
DELETE FROM auth_failures WHERE window_start <= ?

-- name: auth_failure_count
SELECT count FROM auth_failures WHERE key = ? AND window_start > ?

-- name: auth_known
SELECT count(*) FROM auth_logins WHERE username = ? AND address = ? AND at > ?

-- name: count_auth_failure
-- Expired rows were pruned first, so an existing row is in its window.
INSERT INTO auth_failures (key, window_start, count) VALUES (?, ?, 1)
ON CONFLICT (key) DO UPDATE SET count = auth_failures.count + 1

-- name: uncount_auth_failure
UPDATE auth_failures SET count = count - 1 WHERE key = ? AND count > 0

-- name: remember_auth_login
INSERT INTO auth_logins (username, address, at) VALUES (?, ?, ?)
ON CONFLICT (username, address) DO UPDATE SET at = excluded.at

-- name: prune_auth_logins
DELETE FROM auth_logins WHERE at <= ?

-- name: insert_message
INSERT INTO messages (id, account_id, mail_from, envelope, trackbounces, tags, maxdelivertime, dsn,
                      size, mime, created_at, forward_of, sign_domain)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: insert_delivery
INSERT INTO deliveries (id, message_id, account_id, recipient, envelope_sender, state, attempts,
                        created_at, updated_at, next_attempt_at, expires_at, lease_owner, lease_until)
VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?)

-- name: claim
-- Lease the deliveries that are due and held by nobody (or by a lease that ran out).
UPDATE deliveries SET lease_owner = :owner, lease_until = :until
WHERE id IN (
    SELECT id FROM deliveries
    WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= :now
      AND (lease_until IS NULL OR lease_until < :now)
    ORDER BY next_attempt_at
    LIMIT :limit
)
RETURNING id

-- name: jobs
-- The deliveries with the fields of their message; filled with the ids of a claim.
SELECT d.id, d.message_id, d.account_id, d.recipient, d.envelope_sender, d.attempts, d.created_at,
       d.expires_at, m.tags, m.dsn, m.forward_of IS NOT NULL, m.sign_domain
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.id IN (SELECT value FROM json_each(?))

-- name: sign_message
-- The first signature stored wins: another attempt at the same message may have signed it.
UPDATE messages SET mime = ?, size = ?, sign_domain = NULL WHERE id = ? AND sign_domain IS NOT NULL

-- name: mime
SELECT id, mime FROM messages WHERE id IN (SELECT value FROM json_each(?))

-- name: renew
UPDATE deliveries SET lease_until = ?
WHERE lease_owner = ? AND id IN (SELECT value FROM json_each(?))

-- name: release_owner
UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?

-- name: release_all
UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL

-- name: release_node
-- Every lease of a node's owners ("<node>/<process>", core/ports.node_of): its earlier run's.
UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
WHERE substr(lease_owner, 1, length(:prefix)) = :prefix

-- name: insert_attempt
INSERT INTO attempts (delivery_id, number, time, remote, step, code, status, text, verdict, node)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: lease_owner
SELECT lease_owner FROM deliveries WHERE id = ?

-- name: update_delivery
-- A delivery that is final already (another worker got there first) stays as it is.
UPDATE deliveries
SET state = :state, attempts = :attempts, updated_at = :now, next_attempt_at = :next,
    lease_owner = NULL, lease_until = NULL
WHERE id = :id AND state NOT IN ('delivered', 'failed')

-- name: insert_event
INSERT INTO events (kind, delivery_id, message_id, account_id, time, data, node)
VALUES (?, ?, ?, ?, ?, ?, ?)
RETURNING id

-- name: delivery
SELECT d.id, d.message_id, d.account_id, d.recipient, m.mail_from, m.envelope, d.envelope_sender,
       d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.expires_at, m.tags
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.id = ? AND d.account_id = ?

-- name: message_deliveries
SELECT d.id, d.message_id, d.account_id, d.recipient, m.mail_from, m.envelope, d.envelope_sender,
       d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.expires_at, m.tags
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.message_id = ? AND d.account_id = ?
ORDER BY d.rowid

-- name: attempts
SELECT number, time, remote, step, code, status, text, verdict, node
FROM attempts WHERE delivery_id = ? ORDER BY number, id

-- name: delivery_events
SELECT id, kind, delivery_id, message_id, account_id, time, data, node
FROM events WHERE delivery_id = ? ORDER BY id

-- name: queue_summary
SELECT state, count(*) FROM deliveries GROUP BY state

-- name: newest_event_id
-- AUTOINCREMENT keeps the highest id given in sqlite_sequence, also once its row is deleted
-- (https://www.sqlite.org/autoinc.html); max(id) for a file whose rows came in with their ids.
SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
           COALESCE((SELECT max(id) FROM events), 0))

-- name: cursor
SELECT value FROM cursors WHERE name = ?

-- name: set_cursor
INSERT INTO cursors (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value

-- name: insert_return
INSERT INTO returns (id, mailfrom, rcptto, deliveries, client, received_at, size, raw, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new')

-- name: claim_returns
UPDATE returns SET lease_owner = :owner, lease_until = :until
WHERE id IN (
    SELECT id FROM returns
    WHERE state = 'new' AND (lease_until IS NULL OR lease_until < :now)
    ORDER BY received_at
    LIMIT :limit
)
RETURNING id, mailfrom, rcptto, deliveries, client, received_at, raw, purged_at

-- name: return_by_id
SELECT id, mailfrom, rcptto, deliveries, client, received_at, raw, purged_at FROM returns WHERE id = ?

-- name: finish_return
UPDATE returns SET state = 'processed', kind = ?, processed_at = ?, lease_owner = NULL, lease_until = NULL
WHERE id = ?

-- name: release_returns_owner
UPDATE returns SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?

-- name: release_returns_all
UPDATE returns SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL

-- name: release_returns_node
UPDATE returns SET lease_owner = NULL, lease_until = NULL
WHERE substr(lease_owner, 1, length(:prefix)) = :prefix

-- name: deliveries_by_id
SELECT d.id, d.message_id, d.account_id, d.recipient, m.mail_from, m.envelope, d.envelope_sender,
       d.state, d.attempts, d.created_at, d.updated_at, d.next_attempt_at, d.expires_at, m.tags,
       m.trackbounces, m.dsn
FROM deliveries d JOIN messages m ON m.id = d.message_id
WHERE d.id IN (SELECT value FROM json_each(?))

-- name: fail_delivery
-- An asynchronous failure: the delivery failed after all, whatever it was before, unless it
-- has failed already (a delivery fails once; no row changed then).
UPDATE deliveries SET state = 'failed', updated_at = ?, next_attempt_at = NULL, lease_owner = NULL,
    lease_until = NULL
WHERE id = ? AND state != 'failed'

-- name: insert_loop
INSERT INTO loops (id, account_id, url, format, active, secret, created_at, updated_at)
VALUES (:id, :account_id, :url, :format, :active, :secret, :now, :now)

-- name: insert_loop_event
INSERT INTO loop_events (loop_id, kind) VALUES (?, ?)

-- name: delete_loop_events
DELETE FROM loop_events WHERE loop_id = ?

-- name: loops
SELECT l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       (SELECT json_group_array(kind) FROM loop_events e WHERE e.loop_id = l.id)
FROM loops l WHERE l.account_id = ? ORDER BY l.created_at, l.id

-- name: loop
SELECT l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       (SELECT json_group_array(kind) FROM loop_events e WHERE e.loop_id = l.id)
FROM loops l WHERE l.id = ? AND l.account_id = ?

-- name: loops_by_id
SELECT l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       (SELECT json_group_array(kind) FROM loop_events e WHERE e.loop_id = l.id)
FROM loops l WHERE l.id IN (SELECT value FROM json_each(?))

-- name: update_loop
UPDATE loops SET url = :url, format = :format, active = :active, secret = :secret,
                 previous_secret = :previous_secret, previous_until = :previous_until, updated_at = :now
WHERE id = :id AND account_id = :account_id

-- name: delete_loop
DELETE FROM loops WHERE id = ? AND account_id = ?

-- name: fan_out_loops
-- The loops (paused ones too) that want an event of this account and kind: Loop.wants.
SELECT l.id FROM loops l JOIN loop_events e ON e.loop_id = l.id
WHERE l.account_id = ? AND e.kind = ?

-- name: insert_post
INSERT INTO loop_posts (id, loop_id, event_id, event_time, created_at, expires_at, state, attempts,
                         next_attempt_at)
VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)

-- name: claimable_loops
-- Active loops with pending items, none of those skipped.
SELECT l.id FROM loops l
WHERE l.active = 1 AND l.id NOT IN (SELECT value FROM json_each(:skip))
  AND EXISTS (SELECT 1 FROM loop_posts o INDEXED BY loop_posts_pending WHERE o.loop_id = l.id AND o.state = 'pending')

-- name: due_of_loop
-- A loop's oldest due, unleased items: one walk of its pending items in event order, whatever
-- the size of the outbox.
SELECT o.id, o.event_time, o.event_id FROM loop_posts o INDEXED BY loop_posts_pending
WHERE o.loop_id = :loop_id AND o.state = 'pending' AND o.next_attempt_at <= :now
  AND (o.lease_until IS NULL OR o.lease_until <= :now)
ORDER BY o.event_time, o.event_id
LIMIT :per_loop

-- name: lease_posts
UPDATE loop_posts SET lease_owner = :owner, lease_until = :until
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: post_calls
-- The claimed items with their event; filled with the ids of a claim.
SELECT o.id, o.loop_id, o.event_id, o.event_time, o.created_at, o.expires_at, o.state, o.attempts,
       o.next_attempt_at, o.last_attempt_at, o.last_status, o.last_error,
       e.kind, e.delivery_id, e.message_id, e.account_id, e.time, e.data
FROM loop_posts o JOIN events e ON e.id = o.event_id
WHERE o.id IN (SELECT value FROM json_each(?))
ORDER BY o.event_time, o.event_id

-- name: return_raw
SELECT raw FROM returns WHERE id = ?

-- name: settle_post
UPDATE loop_posts
SET state = :state, attempts = :attempts, next_attempt_at = :next, last_attempt_at = :at,
    last_status = :status, last_error = :error, lease_owner = NULL, lease_until = NULL
WHERE id = :id AND lease_owner = :owner

-- name: loop_of_post
-- The loop of a post as it is now (no row: the loop was removed, its posts with it).
SELECT l.id, l.account_id, l.url, l.format, l.active, l.secret, l.previous_secret, l.previous_until,
       (SELECT json_group_array(kind) FROM loop_events e WHERE e.loop_id = l.id)
FROM loop_posts o JOIN loops l ON l.id = o.loop_id WHERE o.id = ?

-- name: release_posts
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?
WHERE lease_owner = ? AND id IN (SELECT value FROM json_each(?))

-- name: release_posts_owner
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?

-- name: release_posts_all
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL

-- name: release_posts_node
UPDATE loop_posts SET lease_owner = NULL, lease_until = NULL
WHERE substr(lease_owner, 1, length(:prefix)) = :prefix

-- name: heartbeat
INSERT INTO nodes (name, host, pid, version, listen, started_at, heartbeat_at)
VALUES (:name, :host, :pid, :version, :listen, :started_at, :heartbeat_at)
ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
    listen = excluded.listen, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at

-- name: nodes
-- Each node with what its owners hold leased now (an expired lease is held by nobody).
SELECT n.name, n.host, n.pid, n.version, n.listen, n.started_at, n.heartbeat_at,
    (SELECT count(*) FROM deliveries d WHERE d.lease_owner IS NOT NULL AND d.lease_until > :now
        AND substr(d.lease_owner, 1, length(n.name) + 1) = n.name || '/'),
    (SELECT count(*) FROM returns r WHERE r.lease_owner IS NOT NULL AND r.lease_until > :now
        AND substr(r.lease_owner, 1, length(n.name) + 1) = n.name || '/'),
    (SELECT count(*) FROM loop_posts p WHERE p.lease_owner IS NOT NULL AND p.lease_until > :now
        AND substr(p.lease_owner, 1, length(n.name) + 1) = n.name || '/')
FROM nodes n ORDER BY n.name

-- name: release_log_holds
-- The nodes this holder wrote the events of while they were silent and that are heard from
-- again (logs.py): handed back, so that each writes its own events again (its hold, run out
-- already, lets another take it over should it go silent again before it holds it itself).
UPDATE nodes SET log_holder = name, log_held_until = :now
WHERE log_holder = :holder AND name <> :holder AND heartbeat_at >= :dead_before

-- name: hold_logs
-- The holder's own node, and every node silent since before the given time, that nobody else
-- holds now: held (or held longer) by this holder. Row by row atomic, on both backends: an
-- UPDATE of a row another transaction changes meanwhile waits for it and checks its WHERE
-- again (PostgreSQL's READ COMMITTED), so that two would-be holders never both get a row.
-- A silent node whose log nobody ever held is not taken: its row was copied from an SQLite
-- store (whose one writer has one cursor for every node), or it ran before holds existed.
UPDATE nodes SET log_holder = :holder, log_held_until = :until
WHERE (name = :holder OR (heartbeat_at < :dead_before AND log_holder IS NOT NULL))
  AND (log_holder IS NULL OR log_holder = :holder OR log_held_until < :now)
RETURNING name

-- name: move_cursor
-- Compare and set: moved only from where the mover read it, so that a writer that lost its
-- hold meanwhile never moves a cursor back (logs.py).
INSERT INTO cursors (name, value) VALUES (:name, :new)
ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE cursors.value = :old
RETURNING value

-- name: forgetting_node
-- A node's last heartbeat, and how many of its events are after its log writer's cursor.
SELECT n.heartbeat_at,
    (SELECT count(*) FROM events e WHERE e.node = n.name
        AND e.id > COALESCE((SELECT c.value FROM cursors c WHERE c.name = :cursor), 0))
FROM nodes n WHERE n.name = :name

-- name: forget_node
DELETE FROM nodes WHERE name = :name

-- name: purge_posts
-- Done posts answered before :done, dead ones given up before :dead; a batch at a time, so
-- that the writer is never held for long.
DELETE FROM loop_posts WHERE id IN (
    SELECT id FROM loop_posts INDEXED BY loop_posts_finished
    WHERE state != 'pending'
      AND ((state = 'done' AND last_attempt_at < :done) OR (state = 'dead' AND last_attempt_at < :dead))
    LIMIT :batch)

-- name: loop_posts
-- A loop's items, newest event first; :state is NULL (all), 'pending' (waiting, not leased),
-- 'in_flight' (pending and leased now), 'done' or 'dead'; :before_time and :before_event (or
-- NULL) the event of the last post of the page before, for the next page.
SELECT o.id, o.loop_id, o.event_id, o.event_time, o.created_at, o.expires_at, o.state, o.attempts,
       o.next_attempt_at, o.last_attempt_at, o.last_status, o.last_error,
       o.state = 'pending' AND o.lease_until IS NOT NULL AND o.lease_until > :now,
       e.kind, e.delivery_id
FROM loop_posts o JOIN events e ON e.id = o.event_id
WHERE o.loop_id = :loop_id
  AND (:state IS NULL
       OR (:state = 'in_flight' AND o.state = 'pending' AND o.lease_until > :now)
       OR (:state = 'pending' AND o.state = 'pending' AND (o.lease_until IS NULL OR o.lease_until <= :now))
       OR (:state IN ('done', 'dead') AND o.state = :state))
  AND (:before_time IS NULL OR o.event_time < :before_time
       OR (o.event_time = :before_time AND o.event_id < :before_event))
ORDER BY o.event_time DESC, o.event_id DESC
LIMIT :limit

-- name: loop_post
SELECT o.id, o.loop_id, o.event_id, o.event_time, o.created_at, o.expires_at, o.state, o.attempts,
       o.next_attempt_at, o.last_attempt_at, o.last_status, o.last_error
FROM loop_posts o JOIN loops l ON l.id = o.loop_id
WHERE o.id = ? AND o.loop_id = ? AND l.account_id = ?

-- name: replay_post
-- A done or dead item is pending again with a new retry window; its last status and error stay.
UPDATE loop_posts
SET state = 'pending', attempts = 0, next_attempt_at = :now, expires_at = :expires,
    lease_owner = NULL, lease_until = NULL
WHERE id = :id AND state != 'pending'
  AND loop_id IN (SELECT id FROM loops WHERE id = :loop_id AND account_id = :account_id)

-- name: replay_dead
UPDATE loop_posts
SET state = 'pending', attempts = 0, next_attempt_at = :now, expires_at = :expires,
    lease_owner = NULL, lease_until = NULL
WHERE state = 'dead'
  AND loop_id IN (SELECT id FROM loops WHERE id = :loop_id AND account_id = :account_id)

-- name: stored_returns
SELECT bytes FROM stored_bytes WHERE name = 'returns'

-- name: add_stored_returns
UPDATE stored_bytes SET bytes = bytes + ? WHERE name = 'returns'

-- name: forwards_since
SELECT count(*) FROM messages WHERE account_id = ? AND forward_of IS NOT NULL AND created_at >= ?

-- name: purge_bodies
-- The MIME of messages created before :before whose deliveries are all final (nothing will
-- read it to send it again); a batch at a time.
UPDATE messages SET mime = :nothing, purged_at = :now
WHERE id IN (
    SELECT m.id FROM messages m
    WHERE m.purged_at IS NULL AND m.created_at < :before
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.state NOT IN ('delivered', 'failed'))
    LIMIT :batch)

-- name: purge_returns
-- The raw bytes of returned messages received before :before and processed; the row stays, so
-- that events which name it still find what it was.
UPDATE returns SET raw = :nothing, purged_at = :now
WHERE id IN (
    SELECT id FROM returns
    WHERE purged_at IS NULL AND state = 'processed' AND received_at < :before
    LIMIT :batch)
RETURNING size

-- name: purge_events
-- Events older than :before that the log writer has written (id up to :logged) and that no
-- feedback-loop post refers to any more (those go with [webhooks] keep_done and keep_dead).
DELETE FROM events WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.time < :before AND e.id <= :logged
      AND NOT EXISTS (SELECT 1 FROM loop_posts o WHERE o.event_id = e.id)
    LIMIT :batch)

-- ---- sending domains (issue 11) ------------------------------------------------------------

-- name: keep_bounce_domain
-- Before a removed domain's row becomes the new domain (insert_domain), its bounce domain is
-- kept, with the time of the removal, for the DSNs of mail sent before it.
INSERT INTO kept_bounce_domains (bounce_domain, domain, account_id, removed_at)
SELECT bounce_domain, domain, account_id, removed_at FROM domains WHERE domain = ? AND removed_at IS NOT NULL

-- name: insert_domain
-- A removed domain's row (its bounce domain kept by keep_bounce_domain) becomes the new domain:
-- active again, with the new keys; an active one is left as it is (the caller says it is taken).
INSERT INTO domains (domain, account_id, bounce_domain, created_at, rsa_selector, ed25519_selector,
                     pending_rsa_selector, pending_ed25519_selector, state, retired)
VALUES (:domain, :account_id, :bounce_domain, :created_at, :rsa_selector, :ed25519_selector,
        :pending_rsa_selector, :pending_ed25519_selector, :state, :retired)
ON CONFLICT (domain) DO UPDATE SET
    account_id = excluded.account_id,
    bounce_domain = excluded.bounce_domain,
    created_at = excluded.created_at,
    rsa_selector = excluded.rsa_selector,
    ed25519_selector = excluded.ed25519_selector,
    pending_rsa_selector = excluded.pending_rsa_selector,
    pending_ed25519_selector = excluded.pending_ed25519_selector,
    state = excluded.state,
    retired = excluded.retired,
    removed_at = NULL
WHERE domains.removed_at IS NOT NULL

-- name: domain
SELECT account_id, domain, bounce_domain, created_at, rsa_selector, ed25519_selector,
       pending_rsa_selector, pending_ed25519_selector, state, retired
FROM domains WHERE domain = ? AND removed_at IS NULL

-- name: domains
SELECT account_id, domain, bounce_domain, created_at, rsa_selector, ed25519_selector,
       pending_rsa_selector, pending_ed25519_selector, state, retired
FROM domains WHERE removed_at IS NULL ORDER BY domain

-- name: account_domains
SELECT account_id, domain, bounce_domain, created_at, rsa_selector, ed25519_selector,
       pending_rsa_selector, pending_ed25519_selector, state, retired
FROM domains WHERE account_id = ? AND removed_at IS NULL ORDER BY domain

-- name: update_domain
-- A rotation's step: only if the row is still as the caller read it (its selectors), so that
-- two nodes switching at once, or a rotation started meanwhile, do not overwrite each other.
UPDATE domains SET rsa_selector = :rsa_selector, ed25519_selector = :ed25519_selector,
    pending_rsa_selector = :pending_rsa_selector, pending_ed25519_selector = :pending_ed25519_selector,
    state = :state, retired = :retired
WHERE domain = :domain AND account_id = :account_id AND removed_at IS NULL
  AND rsa_selector = :was_rsa_selector AND pending_rsa_selector IS :was_pending_rsa_selector

-- name: delete_account_domains
DELETE FROM domains WHERE account_id = ?

-- name: delete_account_kept_bounce_domains
DELETE FROM kept_bounce_domains WHERE account_id = ?

-- name: remove_domain
-- The row stays, for its bounce domain (core/senders.py: bounce_kept).
UPDATE domains SET removed_at = ? WHERE account_id = ? AND domain = ? AND removed_at IS NULL

-- name: bounce_domains
-- The bounce domains the inbound server accepts: those of the active domains, and of those
-- removed at or after the given time (the second: kept when the domain was added again).
SELECT bounce_domain FROM domains WHERE removed_at IS NULL OR removed_at >= ?
UNION
SELECT bounce_domain FROM kept_bounce_domains WHERE removed_at >= ?

-- name: purge_removed_domains
DELETE FROM domains WHERE removed_at < ?

-- name: purge_kept_bounce_domains
DELETE FROM kept_bounce_domains WHERE removed_at < ?

-- name: insert_dkim_key
-- A selector the domain has used keeps its key: the caller tells a new key from a kept one by
-- the row count.
INSERT INTO dkim_keys (domain, selector, algorithm, sealed, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (domain, selector) DO NOTHING

-- name: dkim_keys
SELECT domain, selector, algorithm, sealed, created_at FROM dkim_keys WHERE domain = ? ORDER BY selector
