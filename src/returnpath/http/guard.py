"""What the HTTP server does before a request reaches the API: connection limits and the
deadline for a request's head.

uvicorn's HTTP/1.1 protocol (h11) with two additions, as a subclass that uvicorn is given
(`uvicorn.Config(http=...)`):

- over `[http] max_connections` (this worker's share) or `max_connections_per_address`, a
  new connection is answered 503 with a problem document (`too-many-connections`,
  `Retry-After`) and closed; the request is not read;
- the request line and headers must arrive whole within `header_timeout` of the connection
  opening or of the previous response; otherwise 408 (`request-timeout`) and the connection is
  closed. uvicorn's own keep-alive timer is restarted by every byte, so a client sending one
  byte a second would otherwise hold a connection forever;
- the request body must arrive whole within `body_timeout` of its head, as the SMTP servers'
  message data must within `data_timeout` of the 354: uvicorn sets no deadline on a body at
  all, and a client that sent its head and then nothing, or a byte now and then, held the
  connection (and a place in `max_connections`) for as long as it liked. Past it: 408 and
  the connection is closed; the API, waiting for the body, sees the client gone;
- a request h11 cannot parse (a bad Content-Length, say), which uvicorn answers itself before
  any application runs, is answered 400 with a problem document (`malformed-request`), not
  uvicorn's plain text; a head over `HEAD_LIMIT` (h11's own limit, which uvicorn applies) 431
  (`header-too-large`). Like the 503 above, the answer is followed by a half-close and a
  linger, not a close: closing a socket with the rest of a request still unread makes the
  kernel send a reset, which destroys the answer before the client reads it;
- a request with both Content-Length and Transfer-Encoding (`framing_check`, the one piece
  that sits in front of the app, as h11 takes such a request and reads the chunked body) is
  answered 400 and the connection closed, as RFC 9112 section 6.1 requires: the two lengths
  are how a request is smuggled past a proxy that reads the other one.

uvicorn is pinned to the minor version the tests cover: `send_400_response`, `conn` and
`on_response_complete` are its protocol's, and tests/hostile/test_slow_clients.py and
tests/http/test_malformed.py fail when they change.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any, ClassVar

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..core.limits import ConnectionLimit, Refusal, client_address
from .problems import MEDIA_TYPE, RETRY_AFTER_BUSY, Problem

log = logging.getLogger("returnpath.http")

LINGER = 2.0  # seconds a refused connection stays half-open, so that the client reads its answer
HEAD_LIMIT = 16 * 1024  # bytes of request line and headers: h11's default, given to uvicorn


def _answer(problem: Problem) -> bytes:
    """A whole HTTP/1.1 response carrying `problem`, after which the connection closes."""
    body = json.dumps(problem.document()).encode()
    head = [
        f"HTTP/1.1 {problem.status} {HTTPStatus(problem.status).phrase}",
        f"Content-Type: {MEDIA_TYPE}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in problem.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


BUSY = {
    Refusal.TOTAL: _answer(
        Problem(
            "too-many-connections",
            "the server has as many connections as it takes",
            headers={"Retry-After": str(RETRY_AFTER_BUSY)},
        )
    ),
    Refusal.ADDRESS: _answer(
        Problem(
            "too-many-connections",
            "too many connections from your address",
            headers={"Retry-After": str(RETRY_AFTER_BUSY)},
        )
    ),
}


class GuardedProtocol(H11Protocol):
    """One HTTP connection, within the limits; `guarded_protocol` makes the class with them."""

    limits: ClassVar[ConnectionLimit]
    header_timeout: ClassVar[float]
    body_timeout: ClassVar[float]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address: str | None = None
        self.counted = False
        self.refused = False
        self.head_deadline: asyncio.TimerHandle | None = None
        self.body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.address = client_address(transport.get_extra_info("peername"))
        refusal = self.limits.open(self.address)
        if refusal is not None:
            log.info("refused an HTTP connection from %s: %s", self.address, refusal.value)
            self.refuse(BUSY[refusal])
            return
        self.counted = True
        self.arm()

    def refuse(self, answer: bytes) -> None:
        """Send `answer` and end the connection without reading another request."""
        self.refused = True
        self.transport.write(answer)
        # Close our side of it and read (and drop) what the client sends until it closes:
        # closing at once would reset a connection whose request is unread, and the reset
        # can destroy the answer before the client reads it.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self.disarm()  # the head is in
            if self.conn.their_state is h11.SEND_BODY and self.body_deadline is None:
                self.body_deadline = self.loop.call_later(self.body_timeout, self.body_timed_out)

    def send_400_response(self, msg: str) -> None:
        """What uvicorn sends when h11 refuses the request (`msg` is uvicorn's own few words)."""
        self.disarm()
        self.disarm_body()
        unread, _ = self.conn.trailing_data
        if len(unread) > HEAD_LIMIT and b"\r\n\r\n" not in unread:  # h11's "receive buffer too long"
            self.refuse(HEAD_TOO_LARGE)
        else:
            self.refuse(_answer(Problem("malformed-request", f"the request is not valid HTTP/1.1: {msg}")))

    def on_response_complete(self) -> None:
        self.disarm_body()
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.arm()  # the next request's head, if any, has the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        self.disarm_body()
        if self.counted:
            self.counted = False
            self.limits.close(self.address)
        super().connection_lost(exc)

    def arm(self) -> None:
        self.disarm()
        self.head_deadline = self.loop.call_later(self.header_timeout, self.head_timed_out)

    def disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def disarm_body(self) -> None:
        if self.body_deadline is not None:
            self.body_deadline.cancel()
            self.body_deadline = None

    def body_timed_out(self) -> None:
        self.body_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return  # the body is in (or the connection is going)
        log.info("request body timeout for %s; closing", self.address)
        if self.conn.our_state is h11.SEND_RESPONSE:  # no response begun: the 408 is one
            self.transport.write(BODY_TIMED_OUT)
        self.transport.close()

    def head_timed_out(self) -> None:
        self.head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.info("request head timeout for %s; closing", self.address)
        self.transport.write(TIMED_OUT)
        self.transport.close()


TIMED_OUT = _answer(Problem("request-timeout", "the request line and headers did not arrive in time"))
BODY_TIMED_OUT = _answer(Problem("request-timeout", "the request body did not arrive in time"))
HEAD_TOO_LARGE = _answer(
    Problem("header-too-large", f"the request line and headers are longer than {HEAD_LIMIT} bytes")
)


def framing_check(app: ASGIApp) -> ASGIApp:
    """`app` behind the refusal of a request that gives both Content-Length and
    Transfer-Encoding (RFC 9112 section 6.1: a server may refuse it, and must close the
    connection after answering it). Connection: close in the answer makes uvicorn close it."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name for name, _ in scope["headers"]}
            if b"content-length" in names and b"transfer-encoding" in names:
                problem = Problem(
                    "malformed-request",
                    "the request has both Content-Length and Transfer-Encoding, which RFC 9112 "
                    "section 6.1 makes ambiguous; send one of them",
                    headers={"Connection": "close"},
                )
                await problem.response()(scope, receive, send)
                return
        await app(scope, receive, send)

    return checked


def guarded_protocol(limits: ConnectionLimit, header_timeout: float, body_timeout: float) -> type[GuardedProtocol]:
    """The protocol class for uvicorn, with this server's limits."""
    return type(
        "Guarded",
        (GuardedProtocol,),
        {"limits": limits, "header_timeout": header_timeout, "body_timeout": body_timeout},
    )
