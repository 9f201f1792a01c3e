-- A store written by returnpath 0.1.0 at commit a12551e (SQLite schema version 4, the first
-- release with `returnpath migrate`), through its own doors: `init`, `accounts add shop`, a loop
-- to a closed port (its posts pending), mail over SMTP and HTTP to a sink and to a closed port
-- (three deliveries deferred), a DSN to the inbound port (a returned message, a failure).
-- `sqlite3 returnpath.db .dump`, which leaves out the file's version: it is the last line.
-- tests/e2e/test_upgrade.py upgrades it. Released history: never edit, add another.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    smtp_username       TEXT NOT NULL UNIQUE,
    smtp_password_hash  TEXT NOT NULL,
    api_token_hash      TEXT NOT NULL UNIQUE,
    created_at          REAL NOT NULL
, disabled INTEGER NOT NULL DEFAULT 0, sender_domains TEXT NOT NULL DEFAULT '[]');
INSERT INTO accounts VALUES('01m8t0ha343072cn3e9s8e8fn7','default','default','scrypt$16384$8$1$oFymqbFxQY5R5uqcGhY+rg==$Y870QyjxcinPx3PfRzgvGgEkt3TrPQhp6GfgGmclTTg=','72d7b6ba66a9d7c919f99817cedcace9bf57156223504d91e1d0c469603b1598',1796169312.356998682,0,'[]');
INSERT INTO accounts VALUES('01m8t0hm9kvwa790aap6w346w5','shop','shop','scrypt$16384$8$1$S2yuKvUg8LEc+2hTuFyong==$BOYn0rdBVyXqh7XjeLhMXjYDOe/81ud4OGFX1/eEnRU=','ef0947d9470b1317a7eb9b136839c03a8f1a87ebef516715455b8bf85804db60',1796169322.803372383,0,'[]');
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    mail_from       TEXT NOT NULL,
    envelope        TEXT,
    trackbounces    INTEGER NOT NULL,
    tags            TEXT NOT NULL,          -- JSON list of strings
    maxdelivertime  REAL,
    dsn             TEXT,                   -- JSON object, or NULL
    size            INTEGER NOT NULL,
    mime            BLOB NOT NULL,
    created_at      REAL NOT NULL
, forward_of TEXT, purged_at REAL);
INSERT INTO messages VALUES('01m8t0hnp9r78n69887pksars4','01m8t0ha343072cn3e9s8e8fn7','news@example.com',NULL,1,'[]',NULL,NULL,328,X'52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d387430686e70397237386e3639383837706b73617273343b0d0a095475652c2030312044656320323032362032333a35353a3234202b303030300d0a4d6573736167652d49443a203c30316d387430686e70397237386e3639383837706b7361727334406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35353a3234202b303030300d0a46726f6d3a206e657773406578616d706c652e636f6d0d0a546f3a20614073696e6b2e6578616d706c650d0a5375626a6563743a206f312d64656c6976657265640d0a0d0a68656c6c6f206f312d64656c6976657265640d0a',1796169324.2337169647,NULL,NULL);
INSERT INTO messages VALUES('01m8t0hnxffa8zew10hbepqr6d','01m8t0ha343072cn3e9s8e8fn7','news@example.com',NULL,1,'[]',NULL,NULL,328,X'52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d387430686e78666661387a6577313068626570717236643b0d0a095475652c2030312044656320323032362032333a35353a3234202b303030300d0a4d6573736167652d49443a203c30316d387430686e78666661387a657731306862657071723664406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35353a3234202b303030300d0a46726f6d3a206e657773406578616d706c652e636f6d0d0a546f3a20624073696e6b2e6578616d706c650d0a5375626a6563743a206f322d746f2d626f756e63650d0a0d0a68656c6c6f206f322d746f2d626f756e63650d0a',1796169324.4630694389,NULL,NULL);
INSERT INTO messages VALUES('01m8t0hp6rqr34bfjd2fkmr167','01m8t0ha343072cn3e9s8e8fn7','other@other.example',NULL,1,'[]',NULL,NULL,326,X'52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d387430687036727172333462666a6432666b6d723136373b0d0a095475652c2030312044656320323032362032333a35353a3234202b303030300d0a4d6573736167652d49443a203c30316d387430687036727172333462666a6432666b6d72313637406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35353a3234202b303030300d0a46726f6d3a206f74686572406f746865722e6578616d706c650d0a546f3a2063406c617465722e6578616d706c650d0a5375626a6563743a206f332d7175657565640d0a0d0a68656c6c6f206f332d7175657565640d0a',1796169324.7603995799,NULL,NULL);
INSERT INTO messages VALUES('01m8t0hppzrs7nkxepy2b1vnns','01m8t0hm9kvwa790aap6w346w5','x@shop.example',NULL,1,'[]',NULL,NULL,331,X'52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d3874306870707a7273376e6b78657079326231766e6e733b0d0a095475652c2030312044656320323032362032333a35353a3235202b303030300d0a4d6573736167652d49443a203c30316d3874306870707a7273376e6b78657079326231766e6e73406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35353a3235202b303030300d0a46726f6d3a20784073686f702e6578616d706c650d0a546f3a2064406c617465722e6578616d706c650d0a5375626a6563743a206f342d73686f702d7175657565640d0a0d0a68656c6c6f206f342d73686f702d7175657565640d0a',1796169325.2799201011,NULL,NULL);
INSERT INTO messages VALUES('01m8t0hpznf0g2ap14ktj0026a','01m8t0ha343072cn3e9s8e8fn7','news@example.com',NULL,1,'["welcome"]',NULL,NULL,280,X'52656365697665643a2066726f6d205b3132372e302e302e315d0d0a096279206c6f63616c686f7374202872657475726e7061746829207769746820485454502069642030316d38743068707a6e66306732617031346b746a30303236613b0d0a095475652c2030312044656320323032362032333a35353a3235202b303030300d0a4d6573736167652d49443a203c30316d38743068707a6e66306732617031346b746a3030323661406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35353a3235202b303030300d0a46726f6d3a206e657773406578616d706c652e636f6d0d0a5375626a6563743a206f362d687474702d7175657565640d0a0d0a68656c6c6f0d0a',1796169325.5571720599,NULL,NULL);
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    account_id       TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    envelope_sender  TEXT NOT NULL,
    state            TEXT NOT NULL,         -- queued, deferred, delivered, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    next_attempt_at  REAL,                  -- NULL once the delivery is final
    expires_at       REAL NOT NULL,
    lease_owner      TEXT,
    lease_until      REAL
);
INSERT INTO deliveries VALUES('01m8t0hnp9avk01fyre3w3sj17','01m8t0hnp9r78n69887pksars4','01m8t0ha343072cn3e9s8e8fn7','a@sink.example','b01m8t0hnp9avk01fyre3w3sj17vc9tb6ygnwmqxawf@bounces.example.com','delivered',1,1796169324.2337169647,1796169324.2587752341,NULL,1796601324.2337169646,NULL,NULL);
INSERT INTO deliveries VALUES('01m8t0hnxfw0a5mwaft2jw91ma','01m8t0hnxffa8zew10hbepqr6d','01m8t0ha343072cn3e9s8e8fn7','b@sink.example','b01m8t0hnxfw0a5mwaft2jw91majvpv2hyc4pmfp1vt@bounces.example.com','failed',1,1796169324.4630694389,1796169331.8395967483,NULL,1796601324.463069439,NULL,NULL);
INSERT INTO deliveries VALUES('01m8t0hp6rfzq3t0n5c25hm5g9','01m8t0hp6rqr34bfjd2fkmr167','01m8t0ha343072cn3e9s8e8fn7','c@later.example','b01m8t0hp6rfzq3t0n5c25hm5g9shmyrnn3hssma4z6@bounces.example.com','deferred',1,1796169324.7603995799,1796169324.7770521641,1796169624.7770521641,1796601324.7603995799,NULL,NULL);
INSERT INTO deliveries VALUES('01m8t0hppz3392ch606e7vxtha','01m8t0hppzrs7nkxepy2b1vnns','01m8t0hm9kvwa790aap6w346w5','d@later.example','b01m8t0hppz3392ch606e7vxthab2k1rxfwq1gwfqjd@bounces.example.com','deferred',1,1796169325.2799201011,1796169325.2842903137,1796169625.2842903136,1796601325.2799201012,NULL,NULL);
INSERT INTO deliveries VALUES('01m8t0hpzndsv2zphb4wpnmatn','01m8t0hpznf0g2ap14ktj0026a','01m8t0ha343072cn3e9s8e8fn7','f@later.example','b01m8t0hpzndsv2zphb4wpnmatnxwxxqxt9wjm9efgk@bounces.example.com','deferred',1,1796169325.5571720599,1796169325.5641548633,1796169625.5641548633,1796601325.55717206,NULL,NULL);
CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    number       INTEGER NOT NULL,
    time         REAL NOT NULL,
    remote       TEXT,
    step         TEXT NOT NULL,
    code         INTEGER,
    status       TEXT,
    text         TEXT NOT NULL,
    verdict      TEXT NOT NULL
, node TEXT NOT NULL DEFAULT '');
INSERT INTO attempts VALUES(1,'01m8t0hnp9avk01fyre3w3sj17',1,1796169324.2587752341,'127.0.0.1[127.0.0.1]:34526','eom',250,'2.0.0','2.0.0 ok','accepted','vm');
INSERT INTO attempts VALUES(2,'01m8t0hnxfw0a5mwaft2jw91ma',1,1796169324.4753239155,'127.0.0.1[127.0.0.1]:34526','eom',250,'2.0.0','2.0.0 ok','accepted','vm');
INSERT INTO attempts VALUES(3,'01m8t0hp6rfzq3t0n5c25hm5g9',1,1796169324.7770521641,'127.0.0.1[127.0.0.1]:37999','connect',NULL,'4.4.1','connect to 127.0.0.1[127.0.0.1]:37999: Connection refused','temporary','vm');
INSERT INTO attempts VALUES(4,'01m8t0hppz3392ch606e7vxtha',1,1796169325.2842903137,'127.0.0.1[127.0.0.1]:37999','connect',NULL,'4.4.1','connect to 127.0.0.1[127.0.0.1]:37999: Connection refused','temporary','vm');
INSERT INTO attempts VALUES(5,'01m8t0hpzndsv2zphb4wpnmatn',1,1796169325.5641548633,'127.0.0.1[127.0.0.1]:37999','connect',NULL,'4.4.1','connect to 127.0.0.1[127.0.0.1]:37999: Connection refused','temporary','vm');
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    time         REAL NOT NULL,
    data         TEXT NOT NULL              -- JSON object: the kind's own fields
, node TEXT NOT NULL DEFAULT '');
INSERT INTO events VALUES(1,'delivery','01m8t0hnp9avk01fyre3w3sj17','01m8t0hnp9r78n69887pksars4','01m8t0ha343072cn3e9s8e8fn7',1796169324.2587752341,'{"recipient": "a@sink.example", "envelope": "b01m8t0hnp9avk01fyre3w3sj17vc9tb6ygnwmqxawf@bounces.example.com", "attempt": 1, "state": "eom", "code": 250, "status": "2.0.0", "description": "2.0.0 ok", "remote": "127.0.0.1[127.0.0.1]:34526", "tags": []}','vm');
INSERT INTO events VALUES(2,'delivery','01m8t0hnxfw0a5mwaft2jw91ma','01m8t0hnxffa8zew10hbepqr6d','01m8t0ha343072cn3e9s8e8fn7',1796169324.4753239155,'{"recipient": "b@sink.example", "envelope": "b01m8t0hnxfw0a5mwaft2jw91majvpv2hyc4pmfp1vt@bounces.example.com", "attempt": 1, "state": "eom", "code": 250, "status": "2.0.0", "description": "2.0.0 ok", "remote": "127.0.0.1[127.0.0.1]:34526", "tags": []}','vm');
INSERT INTO events VALUES(3,'deferred','01m8t0hp6rfzq3t0n5c25hm5g9','01m8t0hp6rqr34bfjd2fkmr167','01m8t0ha343072cn3e9s8e8fn7',1796169324.7770521641,'{"recipient": "c@later.example", "envelope": "b01m8t0hp6rfzq3t0n5c25hm5g9shmyrnn3hssma4z6@bounces.example.com", "attempt": 1, "state": "connect", "code": null, "status": "4.4.1", "description": "connect to 127.0.0.1[127.0.0.1]:37999: Connection refused", "remote": "127.0.0.1[127.0.0.1]:37999", "tags": [], "retry_at": 1796169624.777}','vm');
INSERT INTO events VALUES(4,'deferred','01m8t0hppz3392ch606e7vxtha','01m8t0hppzrs7nkxepy2b1vnns','01m8t0hm9kvwa790aap6w346w5',1796169325.2842903137,'{"recipient": "d@later.example", "envelope": "b01m8t0hppz3392ch606e7vxthab2k1rxfwq1gwfqjd@bounces.example.com", "attempt": 1, "state": "connect", "code": null, "status": "4.4.1", "description": "connect to 127.0.0.1[127.0.0.1]:37999: Connection refused", "remote": "127.0.0.1[127.0.0.1]:37999", "tags": [], "retry_at": 1796169625.284}','vm');
INSERT INTO events VALUES(5,'deferred','01m8t0hpzndsv2zphb4wpnmatn','01m8t0hpznf0g2ap14ktj0026a','01m8t0ha343072cn3e9s8e8fn7',1796169325.5641548633,'{"recipient": "f@later.example", "envelope": "b01m8t0hpzndsv2zphb4wpnmatnxwxxqxt9wjm9efgk@bounces.example.com", "attempt": 1, "state": "connect", "code": null, "status": "4.4.1", "description": "connect to 127.0.0.1[127.0.0.1]:37999: Connection refused", "remote": "127.0.0.1[127.0.0.1]:37999", "tags": ["welcome"], "retry_at": 1796169625.564}','vm');
INSERT INTO events VALUES(6,'bounce','01m8t0hnxfw0a5mwaft2jw91ma','01m8t0hnxffa8zew10hbepqr6d','01m8t0ha343072cn3e9s8e8fn7',1796169331.8395967483,'{"recipient": "b@sink.example", "envelope": null, "tags": [], "mailfrom": "", "rcptto": ["b01m8t0hnxfw0a5mwaft2jw91majvpv2hyc4pmfp1vt@bounces.example.com"], "kind": "dsn", "return": "01m8t0hx1r4jhhvqmvh5ma0k0j", "raw": "returnpath returned 01m8t0hx1r4jhhvqmvh5ma0k0j", "reason": "userunknown", "status": "5.1.1"}','vm');
INSERT INTO events VALUES(7,'failure','01m8t0hnxfw0a5mwaft2jw91ma','01m8t0hnxffa8zew10hbepqr6d','01m8t0ha343072cn3e9s8e8fn7',1796169331.8395967483,'{"recipient": "b@sink.example", "envelope": null, "tags": [], "type": "async", "state": "bounce", "action": "failed", "dsn": true, "status": "5.1.1", "code": 550, "description": "550 5.1.1 <b@sink.example>: user unknown", "remote": null, "command": null, "reason": "userunknown", "hard": true, "rule": "dsn:Status -> status 5.1.1"}','vm');
CREATE TABLE cursors (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO cursors VALUES('logs',7);
CREATE TABLE returns (
    id           TEXT PRIMARY KEY,
    mailfrom     TEXT NOT NULL,              -- '' for the null sender
    rcptto       TEXT NOT NULL,              -- JSON list
    deliveries   TEXT NOT NULL,              -- JSON list of the delivery ids the tokens name
    client       TEXT,
    received_at  REAL NOT NULL,
    size         INTEGER NOT NULL,
    raw          BLOB NOT NULL,
    state        TEXT NOT NULL,              -- new, processed
    kind         TEXT,                       -- the verdict's kind, once processed
    processed_at REAL,
    lease_owner  TEXT,
    lease_until  REAL
, purged_at REAL);
INSERT INTO returns VALUES('01m8t0hx1r4jhhvqmvh5ma0k0j','','["b01m8t0hnxfw0a5mwaft2jw91majvpv2hyc4pmfp1vt@bounces.example.com"]','["01m8t0hnxfw0a5mwaft2jw91ma"]','127.0.0.1',1796169331.7681813239,545,X'46726f6d3a204d41494c45522d4441454d4f4e4073696e6b2e6578616d706c650d0a546f3a206230316d387430686e7866773061356d77616674326a7739316d616a7670763268796334706d667031767440626f756e6365732e6578616d706c652e636f6d0d0a5375626a6563743a20556e64656c697665726564204d61696c2052657475726e656420746f2053656e6465720d0a4d494d452d56657273696f6e3a20312e300d0a436f6e74656e742d547970653a206d756c7469706172742f7265706f72743b207265706f72742d747970653d64656c69766572792d7374617475733b20626f756e646172793d2242220d0a0d0a2d2d420d0a436f6e74656e742d547970653a20746578742f706c61696e0d0a0d0a546865206d61696c20636f756c64206e6f742062652064656c6976657265642e0d0a0d0a2d2d420d0a436f6e74656e742d547970653a206d6573736167652f64656c69766572792d7374617475730d0a0d0a5265706f7274696e672d4d54413a20646e733b206d782e73696e6b2e6578616d706c650d0a0d0a46696e616c2d526563697069656e743a207266633832323b20624073696e6b2e6578616d706c650d0a416374696f6e3a206661696c65640d0a5374617475733a20352e312e310d0a446961676e6f737469632d436f64653a20736d74703b2035353020352e312e31203c624073696e6b2e6578616d706c653e3a207573657220756e6b6e6f776e0d0a0d0a2d2d422d2d0d0a','processed','dsn',1796169331.8395967483,NULL,NULL,NULL);
CREATE TABLE loops (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    url         TEXT NOT NULL,
    format      TEXT NOT NULL,               -- form, json
    active      INTEGER NOT NULL,            -- 0: paused (its items wait)
    secret      TEXT NOT NULL,               -- whsec_...: needed in clear to sign
    previous_secret TEXT,                    -- the one before the last rotation, also signed with
    previous_until  REAL,                    -- until then
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
INSERT INTO loops VALUES('01m8t0hn4dq2zxhfjs3ayjfej7','01m8t0ha343072cn3e9s8e8fn7','http://127.0.0.1:37998/hook','form',1,'whsec_lAJHZS/RrDcTW73Ga51JraZdvHkBhEmd',NULL,NULL,1796169323.6623437404,1796169323.6623437404);
CREATE TABLE loop_events (
    loop_id  TEXT NOT NULL REFERENCES loops (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    PRIMARY KEY (loop_id, kind)
);
INSERT INTO loop_events VALUES('01m8t0hn4dq2zxhfjs3ayjfej7','bounce');
INSERT INTO loop_events VALUES('01m8t0hn4dq2zxhfjs3ayjfej7','deferred');
INSERT INTO loop_events VALUES('01m8t0hn4dq2zxhfjs3ayjfej7','delivery');
INSERT INTO loop_events VALUES('01m8t0hn4dq2zxhfjs3ayjfej7','failure');
CREATE TABLE IF NOT EXISTS "loop_posts" (
    id               TEXT PRIMARY KEY,       -- webhook-id is "msg_" + this
    loop_id          TEXT NOT NULL REFERENCES loops (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL,
    event_time       REAL NOT NULL,
    created_at       REAL NOT NULL,
    expires_at       REAL NOT NULL,
    state            TEXT NOT NULL,          -- pending, done, dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,                   -- NULL once done or dead
    last_attempt_at  REAL,
    last_status      INTEGER,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_until      REAL
);
INSERT INTO loop_posts VALUES('01m8t0hnq2c6b6b1erq5ys98q5','01m8t0hn4dq2zxhfjs3ayjfej7',1,1796169324.2587752341,1796169324.2587752341,1796428524.2587752341,'pending',3,1796169360.8977663517,1796169328.6046187877,NULL,'cannot connect: [Errno 111] Connect call failed (''127.0.0.1'', 37998)',NULL,NULL);
INSERT INTO loop_posts VALUES('01m8t0hnxvjfp98n9tsdqjz9j9','01m8t0hn4dq2zxhfjs3ayjfej7',2,1796169324.4753239155,1796169324.4753239155,1796428524.4753239155,'pending',3,1796169364.2518844604,1796169332.5411567687,NULL,'cannot connect: [Errno 111] Connect call failed (''127.0.0.1'', 37998)',NULL,NULL);
INSERT INTO loop_posts VALUES('01m8t0hp79npawxh2pgy2ey19w','01m8t0hn4dq2zxhfjs3ayjfej7',3,1796169324.7770521641,1796169324.7770521641,1796428524.777052164,'pending',3,1796169363.4559981822,1796169335.9129645824,NULL,'cannot connect: [Errno 111] Connect call failed (''127.0.0.1'', 37998)',NULL,NULL);
INSERT INTO loop_posts VALUES('01m8t0hpzw51cwvxxqkb2j279r','01m8t0hn4dq2zxhfjs3ayjfej7',5,1796169325.5641548633,1796169325.5641548633,1796428525.5641548633,'pending',3,1796169345.9558410644,1796169328.6047782897,NULL,'cannot connect: [Errno 111] Connect call failed (''127.0.0.1'', 37998)',NULL,NULL);
INSERT INTO loop_posts VALUES('01m8t0hx3zjwh4dfpp6ps77yxp','01m8t0hn4dq2zxhfjs3ayjfej7',6,1796169331.8395967483,1796169331.8395967483,1796428531.8395967483,'pending',0,1796169342.5411567688,NULL,NULL,NULL,NULL,NULL);
INSERT INTO loop_posts VALUES('01m8t0hx3z1tez23ve3h3seews','01m8t0hn4dq2zxhfjs3ayjfej7',7,1796169331.8395967483,1796169331.8395967483,1796428531.8395967483,'pending',0,1796169342.5411567688,NULL,NULL,NULL,NULL,NULL);
CREATE TABLE auth_failures (
    key           TEXT PRIMARY KEY,
    window_start  REAL NOT NULL,
    count         INTEGER NOT NULL
);
INSERT INTO auth_failures VALUES('addr:127.0.0.1',1796169324.1554801464,0);
INSERT INTO auth_failures VALUES('user:default',1796169324.1554801464,0);
INSERT INTO auth_failures VALUES('user:shop',1796169325.1971154213,0);
CREATE TABLE auth_logins (
    username  TEXT NOT NULL,
    address   TEXT NOT NULL,
    at        REAL NOT NULL,
    PRIMARY KEY (username, address)
);
INSERT INTO auth_logins VALUES('default','127.0.0.1',1796169324.7548458576);
INSERT INTO auth_logins VALUES('shop','127.0.0.1',1796169325.2751615048);
CREATE TABLE stored_bytes (
    name   TEXT PRIMARY KEY,
    bytes  INTEGER NOT NULL
);
INSERT INTO stored_bytes VALUES('returns',545);
CREATE TABLE nodes (
    name          TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    version       TEXT NOT NULL,
    listen        TEXT NOT NULL,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL
);
INSERT INTO nodes VALUES('vm','vm',22901,'0.1.0','submission=127.0.0.1:37587 inbound=127.0.0.1:37525 http=127.0.0.1:37880',1796169315.8102741241,1796169331.1010451316);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('events',7);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX attempts_delivery ON attempts (delivery_id);
CREATE INDEX events_delivery ON events (delivery_id);
CREATE INDEX events_account ON events (account_id, id);
CREATE INDEX returns_new ON returns (received_at) WHERE state = 'new';
CREATE INDEX loops_account ON loops (account_id);
CREATE INDEX auth_failures_window ON auth_failures (window_start);
CREATE INDEX auth_logins_at ON auth_logins (at);
CREATE INDEX messages_forwards ON messages (account_id, created_at) WHERE forward_of IS NOT NULL;
CREATE INDEX messages_kept ON messages (created_at) WHERE purged_at IS NULL;
CREATE INDEX returns_kept ON returns (received_at) WHERE purged_at IS NULL;
CREATE INDEX events_time ON events (time);
CREATE INDEX events_node ON events (node, id);
CREATE INDEX loop_posts_pending ON loop_posts (loop_id, event_time, event_id) WHERE state = 'pending';
CREATE INDEX loop_posts_loop ON loop_posts (loop_id, state, event_time);
CREATE INDEX loop_posts_finished ON loop_posts (state, last_attempt_at) WHERE state != 'pending';
CREATE INDEX loop_posts_event ON loop_posts (event_id);
COMMIT;
PRAGMA user_version = 4;
