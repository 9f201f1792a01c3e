"""The outbound SMTP session against real aiosmtpd sinks on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from returnpath.config import Duration, Settings
from returnpath.core.model import DeliveryJob, DsnOptions, Outcome, Step, Verdict
from returnpath.smtp.client import Session, Target, enhanced_status, xtext

from .sinks import Sink

MESSAGE = (
    b"From: app@example.test\r\nTo: rcpt@example.test\r\nSubject: test\r\n\r\n"
    b"Hello.\r\n.A line that starts with a dot.\r\n"
)


def job(
    recipient: str = "rcpt@example.test",
    *,
    sender: str = "b0123@bounces.example.test",
    mime: bytes = MESSAGE,
    dsn: DsnOptions | None = None,
) -> DeliveryJob:
    now = time.time()
    return DeliveryJob(
        delivery_id="d" + recipient,
        message_id="m1",
        account_id="a1",
        recipient=recipient,
        envelope_sender=sender,
        mime=mime,
        attempts=0,
        created_at=now,
        expires_at=now + 3600,
        dsn=dsn,
    )


def session_for(sink: Sink, settings: Settings, **kw: ssl.SSLContext) -> Session:
    return Session([Target("127.0.0.1", "127.0.0.1", sink.port)], settings, **kw)


def short_timeouts(settings: Settings, seconds: float = 0.3) -> None:
    timeouts = settings.delivery.timeouts
    for name in ("connect", "greeting", "ehlo", "mail", "rcpt", "data", "block", "eom"):
        setattr(timeouts, name, Duration(seconds))


async def test_accepted(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    outcome = await session.send(job())
    await session.close()
    assert outcome == Outcome(
        Verdict.ACCEPTED, Step.EOM, 250, "2.0.0", "2.0.0 OK queued as 1", f"127.0.0.1[127.0.0.1]:{sink.port}"
    )
    [received] = sink.transactions
    assert received.mail_from == "b0123@bounces.example.test"
    assert received.rcpt_to == ["rcpt@example.test"]
    assert received.helo == "relay.example.test"  # the settings' hostname
    # Dot-stuffed on the way, unstuffed by the server: the message arrives as it was submitted.
    assert received.data == MESSAGE


async def test_helo_name_from_settings(sink: Sink, settings: Settings) -> None:
    settings.delivery.helo_name = "out.example.test"
    session = session_for(sink, settings)
    await session.send(job())
    await session.close()
    assert sink.transactions[0].helo == "out.example.test"


REFUSALS = [
    ("connect", "421 4.3.2 Service not available", Verdict.TEMPORARY, Step.CONNECT),
    ("connect", "554 5.7.1 No SMTP service here", Verdict.PERMANENT, Step.CONNECT),
    ("ehlo", "421 4.7.0 Too many connections", Verdict.TEMPORARY, Step.EHLO),
    ("ehlo", "550 5.7.1 Not from you", Verdict.PERMANENT, Step.EHLO),
    ("mail", "451 4.3.0 Sender check failed", Verdict.TEMPORARY, Step.MAIL),
    ("mail", "553 5.1.8 Sender domain does not exist", Verdict.PERMANENT, Step.MAIL),
    ("rcpt", "452 4.2.2 Mailbox full", Verdict.TEMPORARY, Step.RCPT),
    ("rcpt", "550 5.1.1 No such user", Verdict.PERMANENT, Step.RCPT),
    ("data", "451 4.3.0 Not now", Verdict.TEMPORARY, Step.DATA),
    ("data", "554 5.5.1 No valid recipients", Verdict.PERMANENT, Step.DATA),
    ("eom", "451 4.7.1 Greylisted, come back later", Verdict.TEMPORARY, Step.EOM),
    ("eom", "554 5.7.1 Message rejected as spam", Verdict.PERMANENT, Step.EOM),
]


@pytest.mark.parametrize(("where", "reply", "verdict", "step"), REFUSALS)
async def test_refused(sink: Sink, settings: Settings, where: str, reply: str, verdict: Verdict, step: Step) -> None:
    sink.refuse(where, reply)
    session = session_for(sink, settings)
    outcome = await session.send(job())
    await session.close()
    code, status, text = reply.split(" ", 2)
    assert (outcome.verdict, outcome.step, outcome.code, outcome.status) == (verdict, step, int(code), status)
    assert outcome.text == f"{status} {text}"
    assert outcome.remote == f"127.0.0.1[127.0.0.1]:{sink.port}"
    assert sink.transactions == []


async def test_reply_without_enhanced_status(sink: Sink, settings: Settings) -> None:
    sink.refuse("rcpt", "550 No such user here")
    session = session_for(sink, settings)
    outcome = await session.send(job())
    await session.close()
    assert (outcome.verdict, outcome.code, outcome.status, outcome.text) == (
        Verdict.PERMANENT,
        550,
        None,
        "No such user here",
    )


@pytest.mark.parametrize(
    ("recipient", "verdict", "step", "code", "status"),
    [
        ("rcpt-550@example.test", Verdict.PERMANENT, Step.RCPT, 550, "5.0.0"),
        ("rcpt-450-4.2.1@example.test", Verdict.TEMPORARY, Step.RCPT, 450, "4.2.1"),
        ("data-554@example.test", Verdict.PERMANENT, Step.DATA, 554, "5.0.0"),
        ("eom-452-4.2.2@example.test", Verdict.TEMPORARY, Step.EOM, 452, "4.2.2"),
    ],
)
async def test_refused_by_local_part(
    sink: Sink, settings: Settings, recipient: str, verdict: Verdict, step: Step, code: int, status: str
) -> None:
    session = session_for(sink, settings)
    outcome = await session.send(job(recipient))
    await session.close()
    assert (outcome.verdict, outcome.step, outcome.code, outcome.status) == (verdict, step, code, status)


@pytest.mark.parametrize(
    ("where", "step"),
    [
        ("connect", Step.CONNECT),
        ("ehlo", Step.EHLO),
        ("mail", Step.MAIL),
        ("rcpt", Step.RCPT),
        ("data", Step.DATA),
        ("eom", Step.EOM),
    ],
)
async def test_a_server_that_hangs_times_out(sink: Sink, settings: Settings, where: str, step: Step) -> None:
    short_timeouts(settings)
    sink.hang(where)
    session = session_for(sink, settings)
    started = time.monotonic()
    outcome = await session.send(job())
    assert time.monotonic() - started < 2
    assert (outcome.verdict, outcome.step, outcome.code, outcome.status) == (Verdict.TEMPORARY, step, None, "4.4.2")
    assert "timed out" in outcome.text
    assert not session.connected


async def test_connection_refused(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here once the socket is closed
    session = Session([Target("mx.example.test", "127.0.0.1", port)], settings)
    outcome = await session.send(job())
    assert (outcome.verdict, outcome.step, outcome.code, outcome.status) == (
        Verdict.TEMPORARY,
        Step.CONNECT,
        None,
        "4.4.1",
    )
    assert outcome.remote == f"mx.example.test[127.0.0.1]:{port}"
    assert "refused" in outcome.text.lower()


async def test_next_target_when_the_first_does_not_answer(sink: Sink, settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    session = Session(
        [Target("mx1.example.test", "127.0.0.1", dead), Target("mx2.example.test", "127.0.0.1", sink.port)], settings
    )
    outcome = await session.send(job())
    await session.close()
    assert outcome.accepted
    assert outcome.remote == f"mx2.example.test[127.0.0.1]:{sink.port}"


async def test_helo_when_ehlo_is_not_implemented(settings: Settings) -> None:
    with Sink(esmtp=False) as old:
        session = session_for(old, settings)
        outcome = await session.send(job())
        await session.close()
    assert outcome.accepted
    assert old.transactions[0].mail_options == []  # no ESMTP, so no SIZE= or BODY=


async def test_starttls_when_offered(tls_sink: Sink, settings: Settings) -> None:
    session = session_for(tls_sink, settings)
    outcome = await session.send(job())
    assert session.tls
    await session.close()
    assert outcome.accepted
    assert tls_sink.transactions[0].tls


async def test_no_starttls_when_the_settings_say_none(tls_sink: Sink, settings: Settings) -> None:
    settings.delivery.tls = "none"
    session = session_for(tls_sink, settings)
    outcome = await session.send(job())
    await session.close()
    assert outcome.accepted
    assert not tls_sink.transactions[0].tls


async def test_plaintext_after_a_failed_tls_handshake(sink_tls_context: ssl.SSLContext, settings: Settings) -> None:
    with Sink(tls_context=sink_tls_context, broken_tls=True) as broken:
        session = session_for(broken, settings)
        first = await session.send(job("a@example.test"))
        second = await session.send(job("b@example.test"))
        await session.close()
    assert first.accepted and second.accepted
    assert broken.connections == 2  # the failed handshake, then plaintext (kept for the second)
    assert [t.tls for t in broken.transactions] == [False, False]


async def test_dsn_parameters_when_offered(settings: Settings) -> None:
    dsn = DsnOptions(notify=("FAILURE", "DELAY"), ret="HDRS", envid="env-42", orcpt="rfc822;orig@example.test")
    with Sink(dsn=True) as offering:
        session = session_for(offering, settings)
        outcome = await session.send(job(dsn=dsn))
        await session.close()
    assert outcome.accepted
    [received] = offering.transactions
    # aiosmtpd gives the parameters in upper case.
    assert {"RET=HDRS", "ENVID=ENV-42"} <= set(received.mail_options)
    assert received.rcpt_options == ["NOTIFY=FAILURE,DELAY", "ORCPT=RFC822;ORIG@EXAMPLE.TEST"]


async def test_no_dsn_parameters_when_not_offered(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    outcome = await session.send(job(dsn=DsnOptions(notify=("NEVER",), ret="FULL")))
    await session.close()
    assert outcome.accepted
    assert not any(o.startswith(("RET=", "ENVID=")) for o in sink.transactions[0].mail_options)
    assert sink.transactions[0].rcpt_options == []


async def test_size_and_8bitmime(sink: Sink, settings: Settings) -> None:
    mime = "Subject: caf\u00e9\r\n\r\nCr\u00e8me br\u00fbl\u00e9e\r\n".encode()
    session = session_for(sink, settings)
    await session.send(job(mime=mime))
    await session.send(job())
    await session.close()
    eight, seven = sink.transactions
    assert eight.mail_options == [f"SIZE={len(mime)}", "BODY=8BITMIME"]
    assert seven.mail_options == [f"SIZE={len(MESSAGE)}"]
    assert eight.data == mime


async def test_null_sender(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    outcome = await session.send(job(sender=""))
    await session.close()
    assert outcome.accepted
    assert sink.transactions[0].mail_from == "<>"


async def test_smtputf8_address(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    outcome = await session.send(job("j\u00f6rg@example.test"))
    await session.close()
    assert outcome.accepted
    assert "SMTPUTF8" in sink.transactions[0].mail_options
    assert sink.transactions[0].rcpt_to == ["j\u00f6rg@example.test"]


# A local part that is not ASCII needs SMTPUTF8, whatever its domain (no ASCII form names it).
@pytest.mark.parametrize("recipient", ["j\u00f6rg@example.test", "j\u00f6rg@b\u00fccher.example"])
async def test_smtputf8_address_to_a_server_without_it(recipient: str, settings: Settings) -> None:
    with Sink(smtputf8=False) as ascii_only:
        session = session_for(ascii_only, settings)
        outcome = await session.send(job(recipient))
        await session.close()
    assert (outcome.verdict, outcome.step, outcome.status) == (Verdict.PERMANENT, Step.MAIL, "5.6.7")


@pytest.mark.parametrize(
    ("recipient", "sent"),
    [
        ("jo@b\u00fccher.example", "jo@xn--bcher-kva.example"),
        ("jo@stra\u00dfe.example", "jo@xn--strae-oqa.example"),  # IDNA 2008: ß stays (2003 made it ss)
        ("jo@B\u00dcCHER.example", "jo@xn--bcher-kva.example"),  # UTS #46 maps case
    ],
)
async def test_a_unicode_domain_goes_in_a_labels_to_a_server_without_smtputf8(
    recipient: str, sent: str, settings: Settings
) -> None:
    with Sink(smtputf8=False) as ascii_only:
        session = session_for(ascii_only, settings)
        outcome = await session.send(job(recipient))
        await session.close()
    assert outcome.accepted, outcome
    assert ascii_only.transactions[0].rcpt_to == [sent]
    assert "SMTPUTF8" not in ascii_only.transactions[0].mail_options


async def test_a_unicode_domain_goes_as_it_is_to_a_server_with_smtputf8(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    outcome = await session.send(job("jo@b\u00fccher.example"))
    await session.close()
    assert outcome.accepted
    assert sink.transactions[0].rcpt_to == ["jo@b\u00fccher.example"]
    assert "SMTPUTF8" in sink.transactions[0].mail_options


async def test_message_over_the_servers_size_limit(settings: Settings) -> None:
    with Sink(size_limit=100) as small:
        session = session_for(small, settings)
        outcome = await session.send(job(mime=MESSAGE * 10))
        await session.close()
    assert (outcome.verdict, outcome.step, outcome.status) == (Verdict.PERMANENT, Step.MAIL, "5.3.4")


async def test_large_message(sink: Sink, settings: Settings) -> None:
    body = b"".join(b"%06d " % i + b"x" * 70 + b"\r\n" for i in range(20_000))  # 1.5 MB, many blocks
    mime = b"Subject: big\r\n\r\n" + body + b".\r\n..\r\n"
    session = session_for(sink, settings)
    outcome = await session.send(job(mime=mime))
    await session.close()
    assert outcome.accepted
    assert sink.transactions[0].data == mime


# ---- connection reuse -----------------------------------------------------------------------


async def test_one_connection_for_several_messages(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    outcomes = [await session.send(job(f"r{i}@example.test", sender=f"b{i}@bounces.example.test")) for i in range(3)]
    await session.close()
    assert all(o.accepted for o in outcomes)
    assert sink.connections == 1
    assert [(t.connection, t.mail_from, t.rcpt_to) for t in sink.transactions] == [
        (1, f"b{i}@bounces.example.test", [f"r{i}@example.test"]) for i in range(3)
    ]


async def test_reuse_after_a_refused_transaction(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    refused = await session.send(job("rcpt-550@example.test"))
    accepted = await session.send(job("ok@example.test"))
    await session.close()
    assert refused.verdict is Verdict.PERMANENT and accepted.accepted
    assert sink.connections == 1
    assert [t.rcpt_to for t in sink.transactions] == [["ok@example.test"]]


async def test_reuse_limit(sink: Sink, settings: Settings) -> None:
    settings.delivery.reuse_limit = 2
    session = session_for(sink, settings)
    for i in range(3):
        assert (await session.send(job(f"r{i}@example.test"))).accepted
    await session.close()
    assert sink.connections == 2
    assert [t.connection for t in sink.transactions] == [1, 1, 2]


async def test_reconnect_when_the_server_closed_the_idle_connection(settings: Settings) -> None:
    with Sink(drop_after=1) as closing:
        session = session_for(closing, settings)
        outcomes = [await session.send(job(f"r{i}@example.test")) for i in range(3)]
        await session.close()
    assert all(o.accepted for o in outcomes)
    assert closing.connections == 3
    assert len(closing.transactions) == 3


async def test_reconnect_when_the_server_says_421_to_mail(sink: Sink, settings: Settings) -> None:
    session = session_for(sink, settings)
    assert (await session.send(job("a@example.test"))).accepted
    sink.refuse("mail", "421 4.4.2 Idle too long, closing")
    first_try = session.send(job("b@example.test"))
    # The 421 ends the reused connection; the retry on a new connection meets the same rule
    # and reports it: one attempt, not two.
    outcome = await first_try
    await session.close()
    assert (outcome.step, outcome.code) == (Step.MAIL, 421)
    assert sink.connections == 2


# ---- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("5.1.1 <x@example.test>: Recipient address rejected", "5.1.1"),
        ("4.7.1 Greylisted", "4.7.1"),
        ("2.0.0 Ok: queued as 12345", "2.0.0"),
        ("5.7.26 Unauthenticated email is not accepted\n5.7.26 more text", "5.7.26"),
        ("No such user", None),
        ("5.1 incomplete", None),
        ("Mailbox 5.1.1 unknown", None),
        ("", None),
    ],
)
def test_enhanced_status(text: str, status: str | None) -> None:
    assert enhanced_status(text) == status


def test_xtext() -> None:
    assert xtext("plain@example.test") == "plain@example.test"
    assert xtext("a+b=c d") == "a+2Bb+3Dc+20d"


async def test_a_server_that_stops_reading_the_data_times_out_at_a_block(settings: Settings) -> None:
    """RFC 5321 4.5.3.2.5: each block of data must leave within the block timeout. A server
    that takes DATA and then reads nothing fills the socket buffers; the next block waits and
    times out, long before the (here, long) timeout for the reply to the end of data."""
    stalled = asyncio.Event()
    stop = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def stop_reading_after_354(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        writer.write(b"220 stall.test ESMTP\r\n")
        while line := await reader.readline():
            if line.upper().startswith(b"DATA"):
                writer.write(b"354 go ahead\r\n")
                stalled.set()
                await stop.wait()  # and never read again
                break
            writer.write(b"250 stall.test\r\n" if line.upper().startswith(b"EHLO") else b"250 OK\r\n")

    server = await asyncio.start_server(stop_reading_after_354, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings.delivery.timeouts.block = Duration(0.3)
    settings.delivery.timeouts.eom = Duration(3600)
    session = Session([Target("127.0.0.1", "127.0.0.1", port)], settings)
    mime = b"Subject: big\r\n\r\n" + (b"x" * 76 + b"\r\n") * (64 * 1024 * 1024 // 78)  # past any socket buffer
    outcome = await asyncio.wait_for(session.send(job(mime=mime)), 60)
    assert stalled.is_set()
    assert (outcome.verdict, outcome.step, outcome.code, outcome.status) == (Verdict.TEMPORARY, Step.EOM, None, "4.4.2")
    assert "timed out" in outcome.text
    assert not session.connected
    stop.set()
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()
