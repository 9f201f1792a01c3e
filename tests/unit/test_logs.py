"""How `returnpath logs` prints a record: one line, whatever a remote server or an address put
in it; control, line-separator and bidi characters come out as \\uXXXX."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from returnpath.logs import format_record, json_line, read_records

RECORD = {
    "time": "2027-01-15 08:00:00",
    "event": "failure",
    "id": "d1",
    "recipient": "x@example.net",
    "state": "rcpt",
    "code": 550,
    "status": "5.1.1",
    "description": "no such user",
}


@pytest.mark.parametrize(
    ("character", "escaped"),
    [
        ("\u2028", "\\u2028"),  # LINE SEPARATOR: a line break to JavaScript and str.splitlines
        ("\u2029", "\\u2029"),
        ("\u0085", "\\u0085"),  # NEXT LINE (C1)
        ("\u009b", "\\u009b"),  # CSI (C1): starts a terminal escape sequence
        ("\u202e", "\\u202e"),  # RIGHT-TO-LEFT OVERRIDE: shows what follows reversed
        ("\u2066", "\\u2066"),
        ("\u200f", "\\u200f"),
        ("\x7f", "\\u007f"),  # DEL
        ("\x1b", "\\u001b"),  # ESC
        ("\r", "\\u000d"),  # hides what came before it on a terminal
    ],
)
def test_control_and_bidi_characters_are_escaped(character: str, escaped: str) -> None:
    record = {**RECORD, "recipient": f"a{character}b@example.net", "description": f"no{character}such user"}
    line = format_record(record)
    assert f"a{escaped}b@example.net" in line and f"no{escaped}such user" in line
    assert character not in line and len(line.splitlines()) == 1

    as_json = json_line(record)
    assert character not in as_json and len(as_json.splitlines()) == 1
    assert json.loads(as_json) == record  # the same record, read back


def test_an_ordinary_record_reads_as_before() -> None:
    assert format_record({**RECORD, "description": "no such\nuser — Empfänger unbekannt"}) == (
        "2027-01-15 08:00:00  failure  d1  x@example.net  at rcpt  550 5.1.1  no such user — Empfänger unbekannt"
    )
    assert json_line(RECORD) == json.dumps(RECORD, ensure_ascii=False)


BOUNCE = {
    "time": "2027-01-15 08:00:00",
    "event": "bounce",
    "id": "d1",
    "recipient": "x@example.net",
    "rcptto": ["b0123@bounces.example.com"],
    "kind": "dsn",
    "reason": "userunknown",
    "status": "5.1.1",
}


@pytest.mark.parametrize(
    ("record", "line"),
    [
        (BOUNCE, "2027-01-15 08:00:00  bounce  d1  x@example.net  dsn  5.1.1  userunknown"),
        (
            {**BOUNCE, "kind": "autoreply", "reason": None, "status": None},
            "2027-01-15 08:00:00  bounce  d1  x@example.net  autoreply",
        ),
        (
            {**BOUNCE, "kind": "complaint", "reason": None, "status": None},
            "2027-01-15 08:00:00  bounce  d1  x@example.net  complaint",
        ),
        # A report to postmaster@ that names no delivery: no id nor recipient, the address it came to.
        (
            {**BOUNCE, "id": "", "recipient": None, "rcptto": ["postmaster@bounces.example.com"]},
            "2027-01-15 08:00:00  bounce  -  to postmaster@bounces.example.com  dsn  5.1.1  userunknown",
        ),
    ],
    ids=["dsn", "autoreply", "complaint", "no-delivery"],
)
def test_a_bounce_line_says_what_came_back(record: dict[str, object], line: str) -> None:
    assert format_record(record) == line


# ---- the last lines of a log (`returnpath logs --lines N`, and --follow as tail -f) ---------


def _log(path: Path, count: int, tail: bytes = b"") -> Path:
    """A log file of `count` records (ids 0.., timestamps 1000 + id), then `tail` as it is."""
    lines = [json.dumps({"id": str(i), "timestamp": 1000.0 + i}).encode() + b"\n" for i in range(count)]
    path.write_bytes(b"".join(lines) + tail)
    return path


def _ids(records: Iterator[dict[str, object]]) -> list[str]:
    return [str(record["id"]) for record in records]


@pytest.mark.parametrize("last", [0, 1, 3, 15, 40])
def test_the_last_lines_are_the_newest_records(tmp_path: Path, last: int) -> None:
    path = _log(tmp_path / "deliveries.log", 15)
    assert _ids(read_records(path, last=last)) == [str(i) for i in range(15)][15 - min(last, 15) :]


def test_a_line_still_being_written_is_not_one_of_the_last(tmp_path: Path) -> None:
    path = _log(tmp_path / "deliveries.log", 5, tail=b'{"id": "5", "timest')
    assert _ids(read_records(path, last=2)) == ["3", "4"]


def test_the_last_lines_are_found_across_blocks_and_skip_what_is_no_json(tmp_path: Path) -> None:
    # Some thousands of lines: the search back from the end reads more than one 64 KB block.
    path = _log(tmp_path / "deliveries.log", 5000)
    assert _ids(read_records(path, last=4000)) == [str(i) for i in range(1000, 5000)]
    with path.open("ab") as f:
        f.write(b"not json\n")
    assert _ids(read_records(path, last=3)) == ["4998", "4999"]


def test_the_last_lines_since_a_time_are_the_last_of_those(tmp_path: Path) -> None:
    path = _log(tmp_path / "deliveries.log", 10)
    assert _ids(read_records(path, since=1008.0, last=5)) == ["8", "9"]
    assert _ids(read_records(path, since=1002.0, last=2)) == ["8", "9"]


def test_following_after_the_last_lines_gives_the_new_ones(tmp_path: Path) -> None:
    path = _log(tmp_path / "deliveries.log", 20)
    records = read_records(path, last=2, follow=True, poll=0.01, stop_after=5)
    assert [str(next(records)["id"]) for _ in range(2)] == ["18", "19"]
    with path.open("ab") as f:
        f.write(json.dumps({"id": "20", "timestamp": 1020.0}).encode() + b"\n")
    assert next(records)["id"] == "20"
    records.close()
