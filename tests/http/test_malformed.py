"""A request h11 cannot parse is refused before it reaches the API — by uvicorn, which would
answer in plain text — with the API's own problem document (http/guard.py). If uvicorn stops
calling `send_400_response`, these tests fail."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import httpx
import pytest
from starlette.applications import Starlette

from returnpath.config import Settings
from returnpath.http import serve_http
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount

HEADS = [
    b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS, ids=["not-a-number", "negative", "two-lengths", "no-colon"])
async def test_a_malformed_request_gets_a_problem_document(base_url: str, head: bytes) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    answer = await asyncio.wait_for(reader.read(), 10)  # the server answers and closes
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in headers and b"Connection: close" in headers
    problem = json.loads(body)
    assert problem["type"] == "urn:returnpath:problem:malformed-request" and problem["status"] == 400
    assert problem["detail"].startswith("the request is not valid HTTP/1.1")


BODY = b'{"recipients": ["someone@example.net"], "mime": "From: app@example.com\\r\\n\\r\\nhello\\r\\n"}'
BROKEN_BODIES = {
    # The client goes away with its body half sent.
    "cut-short": b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY[:20],
    # A chunked body whose second chunk size is no number: h11 refuses the connection mid-body.
    "bad-chunk": b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % 20 + BODY[:20] + b"\r\nzz\r\n",
}


@pytest.mark.parametrize("rest", BROKEN_BODIES.values(), ids=BROKEN_BODIES.keys())
async def test_a_body_that_breaks_off_is_no_server_error(
    app: Starlette,
    settings: Settings,
    account: NewAccount,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
    rest: bytes,
) -> None:
    """Before: starlette's ClientDisconnect escaped the body reader, and uvicorn logged
    'Exception in ASGI application' with a traceback at ERROR for the client's doing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    server = await serve_http(app, settings, sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"POST /v1/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {account.api_token}\r\n"
        writer.write(head.encode() + b"Content-Type: application/json\r\n" + rest)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert (await client.get("/healthz")).status_code in (200, 503)  # it goes on serving
    finally:
        await server.stop()  # lets the broken request's handler run to its end
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sum((await store.queue_summary()).values()) == 0


async def _exchange(base_url: str, data: bytes) -> bytes:
    """Send `data` at once and read until the server closes; a reset is a failure."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_a_head_too_large_gets_its_answer_not_a_reset(base_url: str) -> None:
    """Before: h11 refused a head past 16 KiB after reading the first 64 KiB, uvicorn's 400 was
    written and the socket closed with the rest of the request unread, so the kernel sent a
    reset that destroyed the answer: the client saw 'connection reset by peer', nothing else."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 400_000
    answer = await _exchange(base_url, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    problem = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert problem["type"] == "urn:returnpath:problem:header-too-large" and problem["status"] == 431
    assert "16384 bytes" in problem["detail"]


async def test_content_length_beside_transfer_encoding_is_refused_and_the_connection_closed(
    base_url: str, account: NewAccount
) -> None:
    """RFC 9112 section 6.1: a request with both may be an attempt to smuggle a second request
    past a proxy that reads the other length; the server must close the connection after it.
    Before: h11 read the chunked body, the request was answered, and the bytes after the empty
    chunk were answered as a request of their own on the same connection."""
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        f"POST /v1/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {account.api_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {5 + len(smuggled)}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ).encode() + smuggled
    answer = await _exchange(base_url, request)
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # the smuggled request got no answer
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"connection: close" in headers.lower()
    problem = json.loads(body)
    assert problem["type"] == "urn:returnpath:problem:malformed-request"
    assert "Transfer-Encoding" in problem["detail"]
