"""What returnpath puts on top of every message it accepts, for tests that compare what was
delivered or stored with what was submitted: its Received line (RFC 5321 4.4), and the
Message-ID and Date it adds to a message that has none."""

from __future__ import annotations

import re

RECEIVED = re.compile(
    rb"^Received: (?:from (?P<from>[^\r\n]+)\r\n\t)?by (?P<by>\S+) \(returnpath\)"
    rb"(?: with (?P<with>[A-Z]+))? id (?P<id>[0-9a-z]{26});\r\n\t(?P<date>[^\r\n]+)\r\n"
)


def without_trace(data: bytes, protocol: str | None = None) -> bytes:
    """`data` without our Received line, which must be its first line (sent `with protocol`,
    when that is given), and without the Message-ID and Date fields below it if they are the
    ones returnpath adds: `<message id@hostname>` and the time of the Received line."""
    match = RECEIVED.match(data)
    assert match, data[:300]
    if protocol is not None:
        assert (match["with"] or b"").decode() == protocol, match.group(0)
    rest = data[match.end() :]
    for added in (b"Message-ID: <%s@%s>\r\n" % (match["id"], match["by"]), b"Date: %s\r\n" % match["date"]):
        rest = rest.removeprefix(added)
    return rest
