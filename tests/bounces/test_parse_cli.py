"""`returnpath parse`: .eml files, maildirs and mbox files, one verdict per message, and no
stop on a bad file."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from returnpath.bounces.files import messages
from returnpath.cli import main

from .test_hostile import DSN

AUTOREPLY = b"From: Kim <kim@example.org>\nSubject: Out of Office: hello\n\nAway until Monday.\n"
HUMAN = b"From: Lee <lee@example.org>\nSubject: Re: hello\n\nThanks!\n>From the start\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "one.eml").write_bytes(DSN)
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1700000000.1.host").write_bytes(AUTOREPLY)
    (box / "cur" / "1700000000.2.host:2,S").write_bytes(DSN.replace(b"\n", b"\r\n"))
    (tmp_path / "box.mbox").write_bytes(
        b"From MAILER-DAEMON Mon Sep 20 19:29:27 2021\n"
        + DSN
        + b"\n"
        + b"From lee@example.org Mon Sep 20 19:29:28 2021\n"
        + HUMAN.replace(b"\n>From", b"\n>>From")
        + b"\n"
    )
    return tmp_path


def test_files_maildirs_and_mboxes_give_one_item_per_message(folder: Path) -> None:
    items = list(messages([folder / "one.eml", folder / "Maildir", folder / "box.mbox"]))
    assert [i.label.replace(str(folder), "") for i in items] == [
        "/one.eml",
        "/Maildir/cur/1700000000.2.host:2,S",
        "/Maildir/new/1700000000.1.host",
        "/box.mbox:1",
        "/box.mbox:2",
    ]
    assert items[3].raw == DSN
    assert items[4].raw == HUMAN  # its ">>From" line unescaped


def test_parse_json_lines(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", str(folder)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = {Path(line["file"]).name: line["kind"] for line in lines}
    assert kinds == {
        "1700000000.2.host:2,S": "dsn",
        "1700000000.1.host": "autoreply",
        "box.mbox:1": "dsn",
        "box.mbox:2": "other",
        "one.eml": "dsn",
    }
    dsn = next(line for line in lines if line["file"].endswith("one.eml"))
    assert dsn["recipients"] == [
        {
            "address": "nobody@example.org",
            "action": "failed",
            "status": "5.1.1",
            "code": 550,
            "diagnostic": "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
            "remote_mta": "mx.example.org",
            "command": "RCPT",
            "reason": "userunknown",
            "hard": True,
            "rule": dsn["recipients"][0]["rule"],
        }
    ]
    assert dsn["recipients"][0]["rule"].startswith("dsn:")


def test_parse_goes_on_after_a_bad_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "dangling").symlink_to(folder / "nowhere")
    code = main(["parse", str(folder / "missing.eml"), str(folder / "dangling"), str(folder / "one.eml")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "missing.eml" in err and "dangling" in err
    assert out.strip() == (f"{folder / 'one.eml'}: dsn nobody@example.org failed 5.1.1 550 userunknown hard")


def test_parse_of_a_folder_without_messages_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / ".DS_Store").write_bytes(b"\0")
    result = subprocess.run(
        [sys.executable, "-m", "returnpath.cli", "parse", str(tmp_path / "empty"), str(tmp_path / "hidden")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == f"returnpath: no message in {tmp_path / 'empty'}, {tmp_path / 'hidden'}\n"


def test_parse_loads_recognition_only_not_the_relays_parts() -> None:
    """`returnpath parse` starts quickly (about 0.15 s here, from 0.3) because the command
    imports only what recognition needs; the store, servers and HTTP stack stay unloaded."""
    code = (
        "import sys; from returnpath.cli import main; main(['parse', '--json', sys.argv[1]]); "
        "print(sorted(m for m in sys.modules if m.startswith(('returnpath.', 'asyncio', 'sqlite3', 'starlette'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__))], capture_output=True, text=True, check=True
    )
    loaded = set(ast.literal_eval(result.stdout.splitlines()[-1]))
    assert "returnpath.bounces" in loaded
    heavy = {
        "returnpath.store",
        "returnpath.usecases.relay",
        "returnpath.smtp",
        "returnpath.http",
        "sqlite3",
        "starlette",
    }
    assert not loaded & heavy, loaded & heavy
