"""The private Postfix of bench/postfix.py and the load parts of bench/relay.py.

The benchmark and the later bounce tests stand on these, so they are tested like the rest:
against real servers on loopback. Skipped where Debian's postfix is not installed
(bench/install-postfix.sh installs it).
"""

from __future__ import annotations

import concurrent.futures
import email
import os
import smtplib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from bench.postfix import bounce_demo, free_port, postfix_available, private_postfix
from bench.relay import Sink, make_message, run_load

pytestmark = [
    pytest.mark.postfix,
    pytest.mark.skipif(postfix_available() is not None, reason=str(postfix_available())),
]


class Collector:
    """An aiosmtpd handler that keeps every envelope it is handed."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK"


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    handler, port = Collector(), free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    yield handler, port
    ctl.stop()


def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _master_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_relays_everything_to_the_given_host_and_leaves_nothing(collector: tuple[Collector, int]) -> None:
    handler, sink_port = collector
    port = free_port()
    with private_postfix(port, ("127.0.0.1", sink_port)) as pf:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for i in range(3):
                smtp.sendmail(
                    "app@sender.test",
                    [f"r{i}@example.net"],
                    make_message(i, 2048, "app@sender.test", f"r{i}@example.net"),
                )
        wait_until(lambda: len(handler.received) == 3)
        wait_until(lambda: pf.queue_size() == 0)
        assert sorted(r[1][0] for r in handler.received) == [f"r{i}@example.net" for i in range(3)]
        assert {r[0] for r in handler.received} == {"app@sender.test"}
        pid, directory = pf.master_pid, pf.dir
        assert pid is not None and _master_alive(pid)
    assert not _master_alive(pid)
    assert not directory.exists()


def test_two_instances_at_once(collector: tuple[Collector, int]) -> None:
    handler, sink_port = collector

    def one(k: int) -> str:
        port = free_port()
        with private_postfix(port, ("127.0.0.1", sink_port)) as pf:
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                smtp.sendmail("app@sender.test", [f"via{k}@example.net"], b"Subject: x\r\n\r\nhi\r\n")
            wait_until(lambda: pf.queue_size() == 0)
            return str(pf.dir)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        dirs = list(pool.map(one, [1, 2]))
    assert dirs[0] != dirs[1]
    wait_until(lambda: len(handler.received) == 2)
    assert sorted(r[1][0] for r in handler.received) == ["via1@example.net", "via2@example.net"]


def test_postfix_writes_a_dsn_for_an_unknown_user() -> None:
    dsn = email.message_from_bytes(bounce_demo("bounces.example.test", "example.test"))
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    report = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status")
    text = report.as_string()
    assert "Action: failed" in text and "Status: 5.1.1" in text
    assert "no-such-user@example.test" in text


def test_smtp_sink_counts_what_the_load_generator_sends() -> None:
    with Sink() as sink:
        stats = run_load("127.0.0.1", [sink.port], 50, 20480, clients=5)
        assert stats.accepted == 50 and stats.refused == 0
        assert sink.wait_for(50, timeout=10) >= stats.t_start
        assert sink.count == 50


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_load_generator_authenticates_with_auth_plain() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    handler, port = Collector(), free_port()
    ctl = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    ctl.start()
    try:
        stats = run_load("127.0.0.1", [port], 20, 2048, clients=2, auth=("app", "s3cret"))
    finally:
        ctl.stop()
    assert stats.accepted == 20
    assert seen == [(b"app", b"s3cret")] * 2
    assert all(len(r[2]) == 2048 for r in handler.received)


def test_make_message_has_the_exact_size() -> None:
    for size in (2048, 20480):
        msg = make_message(7, size, "a@b.test", "c@d.test")
        assert len(msg) == size and msg.endswith(b"\r\n") and b"\n." not in msg


def test_make_message_never_has_a_bare_cr_or_lf() -> None:
    """Whatever the message number's length, the body is never cut between a CR and its LF
    (it was from message 10,000 at 2 KB, which the relay refused: 550 5.6.0)."""
    for i in (7, 9_999, 10_000, 10_010, 123_456):
        for size in (2048, 2950, 20480):
            msg = make_message(i, size, "a@b.test", "c@d.test")
            assert len(msg) == size and msg.count(b"\r") == msg.count(b"\n") == msg.count(b"\r\n")
    assert os.path.exists("/usr/sbin/smtp-sink")
