"""The Received line returnpath puts on top of every message it accepts (RFC 5321 4.4), for
tests that compare what was delivered or stored with what was submitted."""

from __future__ import annotations

import re

_RECEIVED = re.compile(
    rb"^Received: (?:from (?P<from>[^\r\n]+)\r\n\t)?by (?P<by>\S+) \(returnpath\)"
    rb"(?: with (?P<with>[A-Z]+))? id (?P<id>[0-9a-z]{26});\r\n\t(?P<date>[^\r\n]+)\r\n"
)


def without_trace(data: bytes, protocol: str | None = None) -> bytes:
    """`data` without our Received line, which must be its first line (sent `with protocol`,
    when that is given)."""
    match = _RECEIVED.match(data)
    assert match, data[:300]
    if protocol is not None:
        assert (match["with"] or b"").decode() == protocol, match.group(0)
    return data[match.end() :]
