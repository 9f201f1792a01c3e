"""The data folder holds message bodies, returned mail, loop secrets, the token key and
password hashes: `init` and `serve` make everything in it private (0700 folders, 0600 files),
and warn about what others may read when they find it so."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from returnpath.cli import main
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import run_cli

MESSAGE = b"From: app@example.com\r\nSubject: private\r\n\r\nhello\r\n"


def modes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder.parent)): stat.filemode(path.lstat().st_mode)
        for path in [folder, *folder.rglob("*")]
        if path.name != "serve.stderr"  # the test harness's own file
    }


def test_everything_init_and_serve_create_is_private(make_server: ServerFactory, sink: Sink) -> None:
    server = make_server(delivery__routes={"*": sink.route})
    accepted = server.submit_smtp("app@example.com", ["a@example.net"], MESSAGE)
    server.wait_final(accepted.values())
    server.stop()
    found = modes(server.data)
    assert {"rp-data/returnpath.db", "rp-data/returnpath.toml", "rp-data/tls/key.pem", "rp-data/logs"} <= set(found)
    assert any(name.endswith(".log") for name in found), found
    loose = {name: mode for name, mode in found.items() if mode not in ("drwx------", "-rw-------")}
    assert loose == {}


def test_serve_names_what_others_may_read(make_server: ServerFactory) -> None:
    server = make_server(start=False)
    server.data.chmod(0o755)
    (server.data / "returnpath.db").chmod(0o644)
    server.start()
    stderr = server.stderr()
    assert "others may read the data folder, which holds message bodies, secrets and password hashes" in stderr
    assert f"{server.data} (drwxr-xr-x)" in stderr and f"{server.data / 'returnpath.db'} (-rw-r--r--)" in stderr
    assert f"chmod -R go= {server.data}" in stderr


def test_init_in_a_folder_others_may_read_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    result = run_cli("init", "--data", str(folder), "--bounce-domain", "bounces.example.test")
    assert result.returncode == 0, result.stderr
    assert f"{folder} (drwxr-xr-x)" in result.stderr
    private = {name: mode for name, mode in modes(folder).items() if name != "shared"}
    assert private and all(mode in ("drwx------", "-rw-------") for mode in private.values()), private


def test_a_program_that_calls_main_keeps_its_own_umask(tmp_path: Path) -> None:
    """main() makes what it creates private, then puts the caller's umask back (the tests, and
    any program embedding the command, go on creating files for others to read)."""
    os.umask(0o022)
    try:
        assert main(["parse", str(tmp_path)]) == 0
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(0o022)
