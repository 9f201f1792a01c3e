"""ServerSMTP reads DATA itself (a block reader, 1.6 to 7 times faster than aiosmtpd's; see
bench/data_reader.py) and takes aiosmtpd's StreamReader for it (smtp/upstream.py). So a change
to aiosmtpd's own DATA handling does not reach us by itself: these tests make it visible.

When test_aiosmtpd_s_data_handling_is_the_one_we_follow fails after an upgrade: read the diff
of `SMTP.smtp_DATA` between the versions, carry any fix over to `ServerSMTP.smtp_DATA` (with
a test in test_data_reader.py), run tests/smtp and tests/hostile, then record the new source
fingerprint here and widen the aiosmtpd range in pyproject.toml.
"""

from __future__ import annotations

import hashlib
import inspect

import aiosmtpd
import pytest
from aiosmtpd.smtp import SMTP

from returnpath.smtp.upstream import stream_reader

# aiosmtpd version -> sha256 of the source of SMTP.smtp_DATA that ServerSMTP.smtp_DATA follows.
REVIEWED = {
    "1.4.6": "3a33f30d3fd6d02f39c7d78a08288bffea9170525b62e2161568041ae7e018df",
}


def test_aiosmtpd_s_data_handling_is_the_one_we_follow() -> None:
    source = inspect.getsource(SMTP.smtp_DATA)
    fingerprint = hashlib.sha256(source.encode()).hexdigest()
    assert fingerprint in REVIEWED.values(), (
        f"aiosmtpd {aiosmtpd.__version__} changed SMTP.smtp_DATA: review it against "
        "returnpath.smtp.server.ServerSMTP.smtp_DATA (see this module's docstring)"
    )


async def test_without_the_reader_where_it_was_the_data_is_not_read_at_all() -> None:
    """If aiosmtpd stops keeping the StreamReader as `_reader`, stream_reader says so rather
    than read from something else. (Every DATA in test_data_reader.py reads through it.)"""
    unconnected = SMTP(object())  # aiosmtpd sets `_reader` when a client connects
    with pytest.raises(RuntimeError, match="_reader"):
        stream_reader(unconnected)
