"""Backing up the SQLite store while `serve` runs, and restoring it, as the README says: `returnpath
store backup --to FILE` beside a running server that is accepting mail, then the server stopped,
the backup put in place of returnpath.db (its -wal and -shm files removed) and `serve` started
again. Every message accepted before the backup is delivered from the restored store; the
credentials still work. A backup never overwrites a file, and a PostgreSQL store is sent to its
own tools.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from returnpath import config
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import free_port, run_cli
from tests.hostile.tmpfs import mounted


def backup_command(config_path: Path, target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "returnpath.cli",
        "store",
        "backup",
        "--to",
        str(target),
        "--config",
        str(config_path),
    ]


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


def grown(store: Path, megabytes: int) -> None:
    """Make the store big enough that a backup of it takes a while (rows of a table of its own)."""
    with contextlib.closing(sqlite3.connect(store)) as conn, conn:
        conn.execute("CREATE TABLE ballast (b BLOB)")
        conn.executemany("INSERT INTO ballast VALUES (randomblob(1048576))", [()] * megabytes)


def test_ctrl_c_during_a_backup_leaves_no_file_behind(make_server: ServerFactory, tmp_path: Path) -> None:
    """Interrupted, the half-written copy stayed beside the target as TARGET.partial, and the
    next backup to that name removed it: a file nobody asked for, as big as the store."""
    server = make_server(start=False)
    grown(server.data / "returnpath.db", 150)
    folder = tmp_path / "backups"
    folder.mkdir()
    command = backup_command(server.config_path, folder / "b.db")
    backing_up = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(folder.iterdir()) and backing_up.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    backing_up.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, stderr = backing_up.communicate(timeout=60)
    # Interrupted (130), unless the signal came as it finished: then the backup is whole.
    assert backing_up.returncode in (130, 0), stderr
    assert b"Traceback" not in stderr
    left = [p.name for p in folder.iterdir()]
    assert left in ([], ["b.db"]), left  # never a partial file, under any name
    if left:
        with contextlib.closing(sqlite3.connect(folder / "b.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_backup_leaves_the_files_beside_its_target_alone(make_server: ServerFactory, tmp_path: Path) -> None:
    """The copy was written to TARGET.partial, first removing whatever had that name: a file of
    the user's, or the copy another backup to the same target was writing at that moment."""
    server = make_server(start=False)
    mine = tmp_path / "b.db.partial"
    mine.write_bytes(b"mine")
    backup(server.config_path, tmp_path / "b.db")
    assert mine.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("b.db")) == ["b.db", "b.db.partial"]


def test_two_backups_to_one_target_at_once_give_one_whole_backup(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(start=False)
    grown(server.data / "returnpath.db", 40)
    target = tmp_path / "b.db"
    command = backup_command(server.config_path, target)
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = []
    for process in both:
        _, stderr = process.communicate(timeout=120)
        results.append((process.returncode, stderr.decode()))
    assert sorted(code for code, _ in results) == [0, 1], results
    refusal = next(err for code, err in results if code == 1)
    assert str(target) in refusal and "a backup goes to a new file" in refusal and "Traceback" not in refusal
    with contextlib.closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM ballast").fetchone()[0] == 40
    assert [p.name for p in tmp_path.iterdir() if p.name != "rp-data"] == ["b.db"]


def test_a_backup_to_a_full_disk_says_so_and_leaves_nothing(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(start=False)
    with mounted(tmp_path / "small") as disk:
        disk.fill()
        result = run_cli("store", "backup", "--to", str(disk.path / "b.db"), "--config", str(server.config_path))
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "full" in result.stderr, result.stderr
        assert "name a new file in a folder this user may write, with room for the store" in result.stderr
        assert [p.name for p in disk.path.iterdir()] == ["filler"]
    with contextlib.closing(sqlite3.connect(server.data / "returnpath.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_backup_of_nothing_or_to_nothing_says_what_to_give(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(start=False)
    result = run_cli("store", "backup", "--to", "", "--config", str(server.config_path))
    assert result.returncode == 1
    assert result.stderr == "returnpath: store backup --to: give the path of the new file to write the backup to\n"
    result = run_cli("store", "backup", "--to", str(tmp_path), "--config", str(server.config_path))
    assert f"{tmp_path} is a folder: name the new file to write, e.g. {tmp_path / 'returnpath.db'}" in result.stderr
    (server.data / "returnpath.db").unlink()
    result = run_cli("store", "backup", "--to", str(tmp_path / "b.db"), "--config", str(server.config_path))
    assert result.returncode == 1
    assert f"there is no store at {server.data / 'returnpath.db'}" in result.stderr
    assert "make a new data folder with `returnpath init`" in result.stderr
    assert not (tmp_path / "b.db").exists()


def test_a_postgresql_store_is_backed_up_with_its_own_tools(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server(start=False, storage__url="postgresql://rp@127.0.0.1:9/returnpath")
    result = run_cli("store", "backup", "--to", str(tmp_path / "b.db"), "--config", str(server.config_path))
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "b.db").exists()
