"""How `returnpath logs` prints a record: one line, whatever a remote server or an address put
in it; control, line-separator and bidi characters come out as \\uXXXX."""

from __future__ import annotations

import json

import pytest

from returnpath.logs import format_record, json_line

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
