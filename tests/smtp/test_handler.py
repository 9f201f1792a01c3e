"""The submission handler's parts that need no socket: replies, the AUTH policy, the options."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.smtp import Envelope, Session

from returnpath.config import Settings
from returnpath.core.model import Accepted
from returnpath.errors import MessageError, OptionError
from returnpath.smtp.replies import one_line
from returnpath.smtp.submission import SubmissionHandler, is_loopback_peer, queued_reply
from returnpath.usecases.relay import Relay

MIME = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def test_one_recipient_gets_a_one_line_reply() -> None:
    accepted = Accepted("m" * 26, (("a@example.net", "d" * 26),))
    assert queued_reply(accepted) == f"250 2.0.0 OK queued as {'m' * 26} delivery {'d' * 26}"


def test_several_recipients_get_a_line_each() -> None:
    accepted = Accepted("m", (("a@example.net", "d1"), ("b@example.net", "d2")))
    assert queued_reply(accepted) == (
        "250-2.0.0 <a@example.net> delivery d1\r\n250-2.0.0 <b@example.net> delivery d2\r\n250 2.0.0 OK queued as m"
    )


@pytest.mark.parametrize(
    "peer, loopback",
    [
        (("127.0.0.1", 1), True),
        (("127.1.2.3", 1), True),
        (("::1", 1, 0, 0), True),
        (("::ffff:127.0.0.1", 1, 0, 0), True),
        (("192.0.2.1", 1), False),
        (("2001:db8::1", 1, 0, 0), False),
        (("::ffff:192.0.2.1", 1, 0, 0), False),
        (("fe80::1%eth0", 1, 0, 2), False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_peers(peer: object, loopback: bool) -> None:
    assert is_loopback_peer(peer) is loopback


@pytest.mark.parametrize(
    "policy, peer, tls, allowed",
    [
        ("loopback", ("127.0.0.1", 1), False, True),
        ("loopback", ("192.0.2.1", 1), False, False),
        ("loopback", ("192.0.2.1", 1), True, True),
        ("never", ("127.0.0.1", 1), False, False),
        ("never", ("192.0.2.1", 1), True, True),
        ("always", ("192.0.2.1", 1), False, True),
    ],
)
async def test_where_auth_is_allowed(
    relay: Relay, settings: Settings, policy: str, peer: tuple[str, int], tls: bool, allowed: bool
) -> None:
    settings.smtp.submission.auth_over_cleartext = policy
    session = Session(asyncio.get_running_loop())
    session.peer = peer  # type: ignore[assignment]  # aiosmtpd says str; asyncio gives a tuple
    session.ssl = {"cipher": "TLS_AES_256_GCM_SHA384"} if tls else None
    assert SubmissionHandler(relay, settings).may_authenticate(session) is allowed


def envelope(mail_from: str, data: bytes, *recipients: str) -> Envelope:
    result = Envelope()
    result.mail_from = mail_from
    result.rcpt_tos = list(recipients or ["b@example.net"])
    result.original_content = data
    return result


def test_the_submission_takes_the_envelope_and_the_option_headers(relay: Relay, settings: Settings) -> None:
    handler = SubmissionHandler(relay, settings)
    submission = handler.submission(envelope("a@example.com", b"X-Returnpath-Tags: x,y\r\n" + MIME))
    # MAIL FROM is the sender, not an `envelope` of the application's own: returned mail is
    # forwarded only where the application asked for it.
    assert (submission.mail_from, submission.envelope, submission.tags, submission.mime) == (
        "a@example.com",
        None,
        ("x", "y"),
        MIME,
    )
    null = handler.submission(envelope("<>", MIME))
    assert (null.mail_from, null.envelope) == ("", None)
    given = handler.submission(envelope("<>", b"X-Returnpath-Envelope: e@example.com\r\n" + MIME))
    assert given.envelope == "e@example.com"


def test_bare_lf_is_refused_before_the_headers_are_read(relay: Relay, settings: Settings) -> None:
    # An option header hidden behind a bare LF must not count: the data is refused whole.
    with pytest.raises(MessageError, match="bare LF"):
        SubmissionHandler(relay, settings).submission(
            envelope("a@example.com", b"Subject: x\nX-Returnpath-Tags: y\r\n\r\nbody\r\n")
        )


def test_an_unknown_option_header_is_refused(relay: Relay, settings: Settings) -> None:
    with pytest.raises(OptionError, match="unknown option header X-Returnpath-Track"):
        SubmissionHandler(relay, settings).submission(envelope("a@example.com", b"X-Returnpath-Track: no\r\n" + MIME))


def test_text_from_clients_cannot_break_a_reply_line() -> None:
    assert one_line("a\r\n250 fake\x00") == "a  250 fake "
    assert one_line("x\udcff") == "x?"
    assert len(one_line("y" * 1000)) == 400
