"""The one thing returnpath takes from aiosmtpd past its public surface: the stream reader.

ServerSMTP reads the message data itself (server.py, `smtp_DATA`), in blocks, and the answers
to AUTH challenges (`challenge_auth`, so that a line over the limit is refused rather than
raised); for that it needs the connection's `asyncio.StreamReader`, which aiosmtpd keeps as
`_reader`. Everything
else it uses is public. pyproject.toml pins aiosmtpd to the versions the tests cover, and
tests/smtp/test_upstream.py fails when aiosmtpd's own DATA reading changes, so that a fix
there (as the smuggling fix of CVE-2024-27305 was) is looked at and carried over.
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP


def stream_reader(server: SMTP) -> asyncio.StreamReader:
    """The StreamReader aiosmtpd reads this connection's commands and data from."""
    reader = getattr(server, "_reader", None)
    if not isinstance(reader, asyncio.StreamReader):  # an aiosmtpd that keeps it elsewhere
        raise RuntimeError("aiosmtpd no longer keeps the connection's StreamReader as _reader")
    return reader
