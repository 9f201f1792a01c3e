"""The poster, one request at a time, against the real receiver: TLS, kept-alive connections,
long answers. (What the dispatcher makes of their answers is in test_dispatcher.py.)"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from returnpath.tls import make_self_signed
from returnpath.webhooks import signing
from returnpath.webhooks.h11poster import ERROR_BODY, MAX_INFORMATIONAL, H11Poster

from .receiver import Receiver, Reply

SECRET = signing.new_secret()


def signed(body: bytes, n: int = 1) -> dict[str, str]:
    return {**signing.headers(SECRET, f"msg_{n}", int(time.time()), body), "Content-Type": "application/json"}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_self_signed(cert, key, "localhost")
    return cert, key


@pytest.fixture
async def tls_receiver(certificate: tuple[Path, Path]) -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start(tls=certificate)
    yield r
    await r.stop()


async def test_https_is_verified_against_the_trusted_certificates(
    tls_receiver: Receiver, certificate: tuple[Path, Path]
) -> None:
    url = tls_receiver.endpoint("/tls", SECRET)
    trusting = H11Poster(timeout=2, ssl_context=ssl.create_default_context(cafile=str(certificate[0])))
    default = H11Poster(timeout=2)
    try:
        assert (await trusting.post(url, signed(b"{}"), b"{}")).status == 200
        refused = await default.post(url, signed(b"{}", 2), b"{}")
    finally:
        await trusting.close()
        await default.close()
    assert refused.status is None and refused.error is not None
    assert refused.error.startswith("cannot connect") and "certificate verify failed" in refused.error
    assert len(tls_receiver.unique("/tls")) == 1


async def test_a_checked_address_is_connected_to_rather_than_the_name(receiver: Receiver) -> None:
    """The dispatcher checks where a name points and hands the poster that address: a name
    that resolves elsewhere a moment later (DNS rebinding) is not looked up again."""
    port = receiver.base_url.rsplit(":", 1)[1]
    receiver.endpoint("/pinned", SECRET)
    poster = H11Poster(timeout=2)
    try:
        answer = await poster.post(f"http://hooks.invalid:{port}/pinned", signed(b"{}"), b"{}", addresses=["127.0.0.1"])
    finally:
        await poster.close()
    assert answer.status == 200
    [arrival] = receiver.at("/pinned")
    assert arrival.headers["host"] == f"hooks.invalid:{port}"


async def test_the_checked_addresses_are_tried_in_order_until_one_takes_the_connection(receiver: Receiver) -> None:
    """A host with an IPv6 and an IPv4 address, the first unreachable from here, never got its
    posts: the poster connected to the first address only. Here the first refuses (nothing
    listens on [::1]), the second never answers (a listening socket whose backlog is full drops
    the connection's SYN, as a black-holed route does) and takes its share of the timeout, and
    the third is the receiver: the post arrives there, once."""
    port = int(receiver.base_url.rsplit(":", 1)[1])
    receiver.endpoint("/dual", SECRET)
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.2", port))
    black_hole.listen(0)
    queued = socket.create_connection(("127.0.0.2", port))  # the one connection its backlog holds
    poster = H11Poster(timeout=4)
    try:
        url = f"http://dual.invalid:{port}/dual"
        answer = await poster.post(url, signed(b"{}"), b"{}", addresses=["::1", "127.0.0.2", "127.0.0.1"])
        # None takes it (another URL: no connection kept alive): every address is named in the error.
        failed = await poster.post(url + "/2", signed(b"{}", 2), b"{}", addresses=["127.0.0.2", "::1"])
    finally:
        await poster.close()
        queued.close()
        black_hole.close()
    assert answer.status == 200, answer.error
    assert len(receiver.at("/dual")) == 1
    assert failed.status is None and (failed.error or "").startswith("cannot connect: 127.0.0.2: no connection within ")
    assert "s; ::1: " in (failed.error or "")


async def test_connections_are_kept_alive_between_posts(receiver: Receiver) -> None:
    url = receiver.endpoint("/alive", SECRET)
    poster = H11Poster(timeout=2)
    try:
        for n in range(5):
            assert (await poster.post(url, signed(b"{}", n), b"{}")).ok
    finally:
        await poster.close()
    assert len({a.client for a in receiver.at("/alive")}) == 1


async def test_a_nul_in_an_answer_is_not_kept_in_the_error(receiver: Receiver) -> None:
    """The error is stored with the post: PostgreSQL's text holds no NUL, and a post whose
    settle fails at every try would never settle."""
    url = receiver.endpoint("/nul", SECRET, Reply(500, body=b"broken\x00answer"))
    poster = H11Poster(timeout=2)
    try:
        answer = await poster.post(url, signed(b"{}"), b"{}")
    finally:
        await poster.close()
    assert answer.error == "HTTP 500: broken answer"


async def test_a_long_answer_is_cut_in_the_error_and_its_headers_kept(receiver: Receiver) -> None:
    url = receiver.endpoint("/long", SECRET, Reply(503, (("Retry-After", "120"),), body=b"x" * 100_000), Reply(500))
    poster = H11Poster(timeout=2)
    try:
        long = await poster.post(url, signed(b"{}"), b"{}")
        after = await poster.post(url, signed(b"{}", 2), b"{}")  # the connection is still fine, or a new one is
    finally:
        await poster.close()
    assert (long.status, long.retry_after) == (503, "120")
    assert long.error == "HTTP 503: " + "x" * ERROR_BODY
    assert (after.status, after.error) == (500, "HTTP 500: no")


async def test_a_url_with_an_international_host_and_path_is_posted_in_ascii(receiver: Receiver) -> None:
    """A loop URL may be written as people write it (`https://bücher.example/hooks/ü`), and the
    URL check accepts it; HTTP/1.1 carries only ASCII, so the Host is the IDNA form (RFC 5891)
    and the path is percent-encoded as UTF-8 (RFC 3986 3.3), as browsers send them. It used to
    raise UnicodeEncodeError out of the poster: a traceback and a lost lease at every try."""
    port = receiver.base_url.rsplit(":", 1)[1]
    receiver.endpoint("/hooks/ü", SECRET)
    poster = H11Poster(timeout=2)
    try:
        answer = await poster.post(
            f"http://bücher.invalid:{port}/hooks/ü?q=é", signed(b"{}"), b"{}", addresses=["127.0.0.1"]
        )
    finally:
        await poster.close()
    assert answer.status == 200, answer.error
    [arrival] = receiver.at("/hooks/ü")
    assert arrival.headers["host"] == f"xn--bcher-kva.invalid:{port}"


async def test_a_receiver_that_answers_only_informational_answers_is_given_up_on(receiver: Receiver) -> None:
    """`100 Continue` after `100 Continue`, faster than they are read: each was parsed from
    what was already read, without giving the event loop back, so the post's timeout could not
    fire and every other task of the process (the SMTP servers too) stalled for most of a
    second at a time. A real answer comes after a few informational ones (RFC 9110 15.2)."""

    async def informational(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            while True:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 100)
                await writer.drain()
        except ConnectionError:
            pass

    server = await asyncio.start_server(informational, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    poster = H11Poster(timeout=5)
    try:
        answer = await poster.post(f"http://127.0.0.1:{port}/", signed(b"{}"), b"{}")
    finally:
        await poster.close()
        server.close()
    assert answer.status is None
    assert answer.error == f"connection dropped: more than {MAX_INFORMATIONAL} informational answers (1xx)"
