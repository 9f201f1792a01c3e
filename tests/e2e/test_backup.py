"""Backing up the SQLite store while `serve` runs, and restoring it, as the README says: `returnpath
store backup --to FILE` beside a running server that is accepting mail, then the server stopped,
the backup put in place of returnpath.db (its -wal and -shm files removed) and `serve` started
again. Every message accepted before the backup is delivered from the restored store; the
credentials still work. A backup never overwrites a file, and a PostgreSQL store is sent to its
own tools.
"""

from __future__ import annotations

import json
from pathlib import Path

from returnpath import config
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import free_port, run_cli


def backup(config_path: Path, target: Path) -> dict[str, object]:
    result = run_cli("store", "backup", "--to", str(target), "--config", str(config_path))
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_a_backup_taken_while_serve_runs_restores_everything_accepted_before_it(
    make_server: ServerFactory, sink: Sink, tmp_path: Path
) -> None:
    closed = f"127.0.0.1:{free_port()}"  # nothing listens: the mail stays queued
    server = make_server(
        delivery__routes={"*": closed}, delivery__retry__first=config.Duration(0.3), delivery__retry__factor=1.0
    )
    before = [f"kept{n}@example.net" for n in range(20)]
    for recipient in before:
        server.send_http({"recipients": [recipient], "mime": "From: app@example.com\nSubject: hi\n\nhi\n"})
    # Taken while the server runs, its latest commits still in the -wal file (a copy of the file
    # alone would lack them).
    assert (server.data / "returnpath.db-wal").stat().st_size > 0
    taken = backup(server.config_path, tmp_path / "backups" / "returnpath.db")
    assert taken["backup"] == str(tmp_path / "backups" / "returnpath.db")
    server.send_http({"recipients": ["after@example.net"], "mime": "From: app@example.com\nSubject: hi\n\nhi\n"})
    server.stop()

    store = server.data / "returnpath.db"
    for name in ("returnpath.db-wal", "returnpath.db-shm"):
        (server.data / name).unlink(missing_ok=True)
    store.write_bytes((tmp_path / "backups" / "returnpath.db").read_bytes())
    server.settings.delivery.routes = {"*": sink.route}
    server.config_path.write_text(config.render(server.settings))
    server.start()

    sink.wait(len(before), timeout=30)
    assert sorted(sink.recipients()) == sorted(before)
    with server.api() as api:
        assert api.get("/v1/events", params={"type": "delivery"}).status_code == 200


def test_a_backup_never_overwrites_a_file(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(start=False)
    there = tmp_path / "there.db"
    there.write_bytes(b"not yours")
    result = run_cli("store", "backup", "--to", str(there), "--config", str(server.config_path))
    assert result.returncode == 1
    assert f"{there} exists already: a backup goes to a new file" in result.stderr
    assert there.read_bytes() == b"not yours"
    assert not list(tmp_path.glob("there.db.*"))


def test_a_postgresql_store_is_backed_up_with_its_own_tools(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(start=False, storage__url="postgresql://rp@127.0.0.1:9/returnpath")
    result = run_cli("store", "backup", "--to", str(tmp_path / "b.db"), "--config", str(server.config_path))
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "b.db").exists()
