"""Upgrading, as an operator does it: a data folder of the first release that had `returnpath
migrate` (SQLite schema version 4; tests/e2e/upgrade/sqlite-v4.sql, written by that release itself, not
by this code) gets this returnpath: `migrate`, then `serve`. Nothing accepted before is lost:
the mail it had deferred is delivered once its route works, its loop's pending posts are sent
and verify with the loop's secret, its events, deliveries and returned mail are still read, and
its accounts still log in with the credentials it printed. No old wheel is needed: the rows are
the old release's own.

A store migrated by any command says so (an earlier returnpath refuses it from then on), and a
file of a newer returnpath is refused, untouched, with the fix.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from bench.postgres import PrivateCluster

import dkim
from returnpath import config
from returnpath.store.postgresql import postgres_database as postgresql
from returnpath.store.sqlite.sqlite_database import migrations
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, run_cli, wait_for
from tests.webhooks.receiver import Receiver, ThreadedReceiver

DUMP = Path(__file__).parent / "upgrade" / "sqlite-v4.sql"
# What the old release's `init`, `accounts add shop` and `loops add` printed (upgrade/sqlite-v4.sql).
SECRET = "LSwAiCVxm1GDSI7M4lrht2s11bYN4H6fysZ_k0_DBFU"
DEFAULT = {"smtp_username": "default", "smtp_password": "Sx-g9DkSnnvMLC7ySgfPZBCXrs8DV8Hc"}
DEFAULT_TOKEN = "rp_QGffbtwzU4bPYxFLHeb06-N9jJR-2y0EOoTP30GryzE"
SHOP = {"smtp_username": "shop", "smtp_password": "ibYhzCX6r2HXCHVkQflJKNJZoFm-EZik"}
LOOP_SECRET = "whsec_lAJHZS/RrDcTW73Ga51JraZdvHkBhEmd"
DEFERRED = {"c@later.example", "d@later.example", "f@later.example"}  # to a port that was closed
FAILED = "01m8t0hnxfw0a5mwaft2jw91ma"  # b@sink.example, failed by the DSN
RETURNED = "01m8t0hx1r4jhhvqmvh5ma0k0j"  # that DSN
# The settings of the old data folders (both made with this bounce domain, their loops posting
# to loopback), and quick retries of posts for the test.
AS_THE_OPERATOR_HAD_IT: dict[str, object] = {
    "bounce_domain": "bounces.example.com",
    "webhooks__allow_private_targets": True,
    "webhooks__retry_first": config.Duration(0.2),
    "webhooks__poll_interval": config.Duration(0.1),
}


def newest() -> int:
    return migrations()[-1][0]


def old_store(server: Server, receiver: Receiver) -> Path:
    """The old release's store in `server`'s data folder, in place of the one `init` made. The
    operator upgrades within the retry windows, so the deferred deliveries and the pending posts
    are due now rather than at the times of the dump (which a later run of the test would pass);
    the loop posts to the test's receiver rather than the closed port."""
    path = server.data / "returnpath.db"
    for leftover in (path, path.with_name("returnpath.db-wal"), path.with_name("returnpath.db-shm")):
        leftover.unlink(missing_ok=True)
    now = time.time()
    conn = sqlite3.connect(path)
    try:
        conn.executescript(DUMP.read_text(encoding="utf-8"))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        conn.execute("PRAGMA journal_mode = WAL")  # as the old release kept it
        with conn:
            conn.execute(
                "UPDATE deliveries SET next_attempt_at = ?, expires_at = ? WHERE state = 'deferred'",
                (now, now + 86400),
            )
            conn.execute(
                "UPDATE loop_posts SET next_attempt_at = ?, expires_at = ? WHERE state = 'pending'",
                (now, now + 86400),
            )
            conn.execute("UPDATE loops SET url = ?", (receiver.endpoint("/hook", LOOP_SECRET),))
    finally:
        conn.close()
    path.chmod(0o600)  # as the old release made it
    return path


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    with ThreadedReceiver() as receiver:
        yield receiver


@pytest.fixture
def old(make_server: ServerFactory, sink: Sink, hooks: Receiver) -> Server:
    """A data folder as the old release left it, configured as the operator had it: its secret,
    routes (now to a sink that works), loopback loop targets allowed; not started."""
    server = make_server(start=False, secret=SECRET, delivery__routes={"*": sink.route}, **AS_THE_OPERATOR_HAD_IT)
    old_store(server, hooks)
    return server


def test_migrate_then_serve_keeps_everything_the_old_release_accepted(old: Server, sink: Sink, hooks: Receiver) -> None:
    conn = sqlite3.connect(old.data / "returnpath.db")
    pending = {f"msg_{post}" for (post,) in conn.execute("SELECT id FROM loop_posts WHERE state = 'pending'")}
    conn.close()
    assert len(pending) == 6
    migrated = run_cli("migrate", "--config", str(old.config_path))
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from schema version 4 to {newest()}" in migrated.stdout

    old.start()
    # The mail it had deferred goes out now, once each.
    sink.wait(3, timeout=30)
    assert sorted(sink.recipients()) == sorted(DEFERRED)
    # Its loop's pending posts are sent, signed with the loop's secret (the receiver verifies).
    wait_for(lambda: pending <= set(hooks.unique("/hook")), timeout=30, what="the old pending posts")
    assert hooks.unverified == []

    # Its accounts log in with what it printed, over SMTP and HTTP.
    for credentials in (DEFAULT, SHOP):
        with old.smtp(starttls=True, credentials=credentials) as smtp:
            assert smtp.noop()[0] == 250
    with httpx.Client(base_url=old.http_url, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}) as api:
        failed = api.get(f"/v1/deliveries/{FAILED}")
        # Its events and returned mail are still read.
        failures = api.get("/v1/events", params={"type": "failure"})
    assert failed.status_code == 200, failed.text
    assert failed.json()["state"] == "failed"
    assert failures.status_code == 200, failures.text
    assert FAILED in {event["id"] for event in failures.json()["events"]}
    returned = run_cli("returned", RETURNED, "--config", str(old.config_path))
    assert returned.returncode == 0, returned.stderr
    assert "Status: 5.1.1" in returned.stdout
    queue = old.queue()
    assert queue["delivered"] == 4 and queue["failed"] == 1, queue


def test_any_command_that_migrates_the_store_says_so(old: Server) -> None:
    queue = run_cli("queue", "--config", str(old.config_path))
    assert queue.returncode == 0, queue.stderr
    assert json.loads(queue.stdout)["deferred"] == 3
    assert f"migrated from schema version 4 to {newest()}" in queue.stderr
    assert "an earlier returnpath no longer opens it" in queue.stderr
    again = run_cli("queue", "--config", str(old.config_path))
    assert "migrated" not in again.stderr


def test_a_store_of_a_newer_returnpath_is_refused_untouched(old: Server) -> None:
    path = old.data / "returnpath.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"PRAGMA user_version = {newest() + 1}")
    conn.close()
    before = path.read_bytes()
    for command in (["migrate"], ["serve"], ["queue"]):
        result = run_cli(*command, "--config", str(old.config_path))
        assert result.returncode != 0
        assert f"schema version {newest() + 1}, newer than this returnpath" in result.stderr
        assert "upgrade returnpath" in result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_bytes() == before


def test_the_version_names_the_schema_the_installed_code_brings() -> None:
    """pip keeps the installed code when a wheel has the same version string: the schema
    versions tell the operator which code is installed, and what `migrate` will bring."""
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert f"store schema: SQLite {newest()}, PostgreSQL {postgresql.newest()}" in result.stdout


def test_migrate_refuses_while_the_old_release_serves_the_store(old: Server) -> None:
    """The old release's `serve` still runs (the operator installed the new wheel beside it):
    it holds the data folder's lock, as every `serve` does. Migrated beneath it, the file would
    change under code that does not know the new schema, and its restarted workers would refuse
    it. Held here by `flock`, as the README's logrotate script reads it."""
    lock = old.data / "returnpath.lock"
    holder = subprocess.Popen(["flock", "-n", str(lock), "sleep", "60"], start_new_session=True)
    try:
        wait_for(lambda: _held(lock), what="the lock to be held")
        lock.write_text(str(holder.pid))
        for command in ("migrate", "queue"):
            refused = run_cli(command, "--config", str(old.config_path))
            assert refused.returncode == 1, refused.stderr
            assert f"is at schema version 4 and this returnpath migrates it to {newest()}" in refused.stderr
            assert f"a `returnpath serve` (pid {holder.pid}) runs on it" in refused.stderr
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # flock and the sleep that holds the lock with it
        holder.wait()
    with sqlite3.connect(old.data / "returnpath.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    conn.close()
    migrated = run_cli("migrate", "--config", str(old.config_path))
    assert migrated.returncode == 0, migrated.stderr


def _held(lock: Path) -> bool:
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def test_migrate_refuses_while_a_node_runs_on_the_older_postgresql_schema(
    make_server: ServerFactory, pg_url: str
) -> None:
    """A shared store at the schema before this code's, as `migrate` of the earlier release left
    it, and a node of that release on another machine heard from a moment ago: `migrate` waits
    for every node to stop, naming it, and migrates once its heartbeats are old."""
    server = make_server(start=False, storage__url=pg_url)
    *older, _ = postgresql.migrations()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for _number, script in older:
            conn.execute(script.encode())
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (older[-1][0],))
        conn.execute(
            "INSERT INTO nodes (name, host, pid, version, listen, started_at, heartbeat_at) "
            "VALUES ('node1', 'elsewhere.example', 4242, '0.1.0', 'submission=192.0.2.1:587', %s, %s)",
            (time.time() - 600, time.time()),
        )
    refused = run_cli("migrate", "--config", str(server.config_path))
    assert refused.returncode == 1, refused.stderr
    assert "1 node(s) still run on" in refused.stderr
    assert "node1 (host elsewhere.example, pid 4242, returnpath 0.1.0" in refused.stderr
    assert "stop every node" in refused.stderr
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (older[-1][0],)
        conn.execute("UPDATE nodes SET heartbeat_at = heartbeat_at - 3600")  # it stopped an hour ago
    migrated = run_cli("migrate", "--config", str(server.config_path))
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from schema version {older[-1][0]} to {postgresql.newest()}" in migrated.stdout


# ---- PostgreSQL, from the release with sending domains whose keys were files ------------------

PG_DUMP = Path(__file__).parent / "upgrade" / "postgresql-v6.sql"
PG_KEYS = Path(__file__).parent / "upgrade" / "pg6-domains"
# What that release's `init --store` and `loops add` printed (upgrade/postgresql-v6.sql).
PG_SECRET = "EptgcVORMiH26RAhBo3ljO76vWE2_usjCTRGRYyeYV8"
PG_TOKEN = "rp_fYGIc_rMgnzoPzn80iblkyVyGjmL3EB1W8MyGg3m3XI"
PG_LOGIN = {"smtp_username": "default", "smtp_password": "dJbU2N2Uz5ppzdfaq0yZ78x20-B1nJny"}
PG_LOOP_SECRET = "whsec_ynb7/9u2YE8PDBJA9CAdws6+YoJUwjNY"


def test_a_postgresql_store_with_key_files_is_migrated_and_served(
    make_server: ServerFactory, pg_cluster: PrivateCluster, pg_url: str, sink: Sink, hooks: Receiver
) -> None:
    server = make_server(
        start=False, storage__url=pg_url, secret=PG_SECRET, delivery__routes={"*": sink.route}, **AS_THE_OPERATOR_HAD_IT
    )
    loaded = subprocess.run(
        [str(pg_cluster.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg_url, "-f", str(PG_DUMP)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    shutil.copytree(PG_KEYS, server.data / "domains")
    for path in (server.data / "domains").rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)  # as the old release made them
    now = time.time()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # due now, as in old_store
        conn.execute(
            "UPDATE deliveries SET next_attempt_at = %s, expires_at = %s WHERE state = 'deferred'", (now, now + 86400)
        )
        conn.execute(
            "UPDATE loop_posts SET next_attempt_at = %s, expires_at = %s WHERE state = 'pending'", (now, now + 86400)
        )
        conn.execute("UPDATE loops SET url = %s", (hooks.endpoint("/pg", PG_LOOP_SECRET),))
        pending = {f"msg_{post}" for (post,) in conn.execute("SELECT id FROM loop_posts WHERE state = 'pending'")}
    assert len(pending) == 6

    # serve before migrate: refused, naming the command (README: a PostgreSQL store only by migrate).
    early = run_cli("serve", "--config", str(server.config_path))
    assert early.returncode != 0
    assert "older than this returnpath's" in early.stderr and "run `returnpath migrate`" in early.stderr
    migrated = run_cli("migrate", "--config", str(server.config_path))
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from schema version 6 to {postgresql.newest()}" in migrated.stdout
    assert "2 DKIM key file(s)" in migrated.stdout
    shutil.rmtree(server.data / "domains")  # README: delete them once every node runs this version

    server.start()
    sink.wait(2, timeout=30)
    assert sorted(sink.recipients()) == ["c@later.example", "d@later.example"]
    signed = next(t for t in sink.transactions if t.rcpt_to == ["c@later.example"])
    assert _dkim_passes(server, signed.data)
    wait_for(lambda: pending <= set(hooks.unique("/pg")), timeout=30, what="the old pending posts")
    assert hooks.unverified == []
    with server.smtp(starttls=True, credentials=PG_LOGIN) as smtp:
        assert smtp.noop()[0] == 250
    with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {PG_TOKEN}"}) as api:
        failures = api.get("/v1/events", params={"type": "failure"})
    assert failures.status_code == 200, failures.text
    assert [event["recipient"] for event in failures.json()["events"]] == ["b@sink.example"]


def _dkim_passes(server: Server, message: bytes) -> bool:
    """The RSA signature of `message` verifies against the record `domains show` prints (the
    store's key, since the files are gone)."""
    shown = run_cli("domains", "show", "example.com", "--json", "--config", str(server.config_path))
    assert shown.returncode == 0, shown.stderr
    records = {
        record["name"].rstrip("."): record["value"]
        for record in json.loads(shown.stdout)["records"]
        if record["type"] == "TXT"
    }

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        value = records.get(name.decode("ascii").rstrip("."))
        return "".join(re.findall(r'"([^"]*)"', value)).encode("ascii") if value else None

    return bool(dkim.DKIM(message).verify(idx=0, dnsfunc=txt))
