"""Posting over asyncio streams with h11: the HTTP adapter of the dispatcher.

h11 is the HTTP/1.1 state machine under httpx (httpcore) and uvicorn; here it runs straight on
asyncio streams, without httpx's layers of client, transport, pool and anyio. On the machine
of bench/webhooks.py that costs a fifth of httpx's CPU per request (httpx posted ~900 events/s
where this posts ~5,500), which is what lets one process post a few thousand events per second.

- Redirects are not followed: a 3xx is an answer like any other (see policy.py).
- A post that has not answered within `timeout` in all has failed, so a receiver that drips
  its answer cannot hold a slot.
- The checked addresses of the host are tried in their order until one takes the connection
  (a host with an IPv6 and an IPv4 address, the first unreachable from here, is reached at
  the second): one after the other, not raced as RFC 8305's happy eyeballs would, each but
  the last with its share of what is left of the timeout, so that one that never answers
  leaves time for the next. Only connecting moves on to the next address: a request that was
  sent is never sent again to another.
- Only the start of an answer's body is read: it goes into the error of a failed post.
- Proxy settings of the environment are ignored: the target checks of targets.py are about
  the host we connect to.
- Every failure is an `Answer` without a status; no exception leaves this module.

Connections are kept alive per endpoint (loop URL), at most `per_endpoint` idle ones. One that the
server closed while idle is noticed (end of stream) and not reused; a post that still races a
server closing its connection fails, and is retried by the policy like any failed post.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import h11

from .. import __version__
from ..core.feedback import Answer
from . import targets

USER_AGENT = f"returnpath/{__version__}"
ERROR_BODY = 512  # bytes of a failed answer's body kept in its error
READ_AT_MOST = 16 * 1024  # an answer longer than this is not read to its end
# Informational answers (1xx) before the real one: a few at most (RFC 9110 15.2: 100 Continue,
# 103 Early Hints). A receiver streaming them faster than they are parsed would hold the event
# loop, as each is parsed from what was already read without a pause the timeout could use.
MAX_INFORMATIONAL = 10


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    host_header: str


class _Dropped(Exception):
    """The connection ended before the answer did."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.http = h11.Connection(h11.CLIENT)

    @property
    def usable(self) -> bool:
        """Still open at both ends (an idle connection the server closed is at its end)."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    async def exchange(self, request: h11.Request, body: bytes) -> tuple[h11.Response, bytes, bool]:
        """Send one request; the answer, the start of its body, and whether the connection may
        carry the next request."""
        self.writer.write(
            self.http.send(request) + self.http.send(h11.Data(data=body)) + self.http.send(h11.EndOfMessage())
        )
        await self.writer.drain()
        response: h11.Response | None = None
        chunks: list[bytes] = []
        size = informational = 0
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                self.http.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
                size += len(event.data)
                if size >= READ_AT_MOST:  # a long answer: stop reading, drop the connection
                    assert response is not None
                    return response, b"".join(chunks), False
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _Dropped("the server closed the connection without answering")
            elif isinstance(event, h11.InformationalResponse):  # 100 Continue...: wait for the real answer
                informational += 1
                if informational > MAX_INFORMATIONAL:
                    raise _Dropped(f"more than {MAX_INFORMATIONAL} informational answers (1xx)")
        reusable = self.http.our_state is h11.DONE and self.http.their_state is h11.DONE
        if reusable:
            self.http.start_next_cycle()
        return response, b"".join(chunks), reusable

    def close(self) -> None:
        self.writer.transport.abort()


class H11Poster:
    def __init__(
        self,
        *,
        timeout: float = 10.0,
        per_endpoint: int = 8,
        user_agent: str = USER_AGENT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.per_endpoint = per_endpoint
        self.user_agent = user_agent
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._targets: dict[str, _Target] = {}
        self._idle: dict[str, list[_Connection]] = {}  # by URL, as the dispatcher counts endpoints

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, *, addresses: Sequence[str] = ()) -> Answer:
        target = self._target(url)
        connection: _Connection | None = None
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with asyncio.timeout_at(deadline):
                connection = self._take(url) or await self._connect(target, addresses, deadline)
                response, start, reusable = await connection.exchange(self._request(target, headers, body), body)
        except TimeoutError:
            answer = Answer(None, f"no answer within {self.timeout:g}s")
        except (_Dropped, h11.RemoteProtocolError) as exc:
            answer = Answer(None, f"connection dropped: {exc}")
        except (h11.LocalProtocolError, UnicodeError) as exc:  # a URL or header h11 will not send: no retry cures it
            answer = Answer(None, f"cannot send: {exc}", refused=True)
        except _ConnectError as exc:
            answer = Answer(None, f"cannot connect: {exc}")
        except (OSError, EOFError) as exc:
            answer = Answer(None, f"connection dropped: {exc or type(exc).__name__}")
        except asyncio.CancelledError:  # the dispatcher is stopping
            if connection is not None:
                connection.close()
            raise
        else:
            self._give_back(url, connection, reusable)
            return _answer(response, start)
        if connection is not None:
            connection.close()
        return answer

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # ---- connections -------------------------------------------------------------------------

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), targets.ascii_host(parts.hostname or "")
            port = parts.port or (443 if scheme == "https" else 80)
            default = port == (443 if scheme == "https" else 80)
            shown = f"[{host}]" if ":" in host else host
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            # HTTP/1.1 carries only ASCII: the rest of a path or query goes as UTF-8 percent-
            # encoded (RFC 3986 2.1, 3.3), as browsers send it; what is already encoded stays.
            path = quote(path, safe=_URL_CHARACTERS)
            target = self._targets[url] = _Target(
                url, scheme, host, port, path, shown if default else f"{shown}:{port}"
            )
        return target

    def _take(self, url: str) -> _Connection | None:
        idle = self._idle.get(url)
        while idle:
            connection = idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    async def _connect(self, target: _Target, addresses: Sequence[str], deadline: float) -> _Connection:
        """A new connection to the target: to the first of `addresses` (the dispatcher checked
        them) that takes it, else to the host name; TLS verified against the host name either
        way. Each address but the last may take its share of the time left before `deadline`."""
        tls = self.ssl_context if target.scheme == "https" else None
        tried = list(addresses) or [target.host]
        failures: list[str] = []
        clock = asyncio.get_running_loop()
        for index, address in enumerate(tried):
            left = len(tried) - index
            share = (deadline - clock.time()) / left
            try:
                async with asyncio.timeout(share if left > 1 else None):
                    reader, writer = await asyncio.open_connection(
                        address,
                        target.port,
                        ssl=tls,
                        server_hostname=target.host if tls else None,
                        limit=2 * READ_AT_MOST,
                    )
            except TimeoutError:  # this address's share ran out (the post's own timeout is the last's)
                failures.append(f"{address}: no connection within {share:.1f}s")
            except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, certificate
                failures.append(f"{address}: {exc}" if len(tried) > 1 else str(exc))
            else:
                return _Connection(reader, writer)
        raise _ConnectError("; ".join(failures))

    def _give_back(self, url: str, connection: _Connection, reusable: bool) -> None:
        idle = self._idle.setdefault(url, [])
        if reusable and len(idle) < self.per_endpoint:
            idle.append(connection)
        else:
            connection.close()

    def _request(self, target: _Target, headers: Mapping[str, str], body: bytes) -> h11.Request:
        return h11.Request(
            method="POST",
            target=target.path,
            headers=[
                ("Host", target.host_header),
                ("User-Agent", self.user_agent),
                ("Content-Length", str(len(body))),
                *headers.items(),
            ],
        )


# The characters of a URL's path and query that stay as they are (RFC 3986 2.2, 2.3), and "%"
# for what is already percent-encoded.
_URL_CHARACTERS = "/?#[]@!$&'()*+,;=:-._~%"


class _ConnectError(Exception):
    """No connection could be made; the cause says why."""


def _answer(response: h11.Response, start: bytes) -> Answer:
    status = response.status_code
    if 200 <= status < 300:
        return Answer(status)
    found = {name.lower(): value.decode("latin-1") for name, value in response.headers}
    return Answer(status, describe(status, found.get(b"location"), start), found.get(b"retry-after"))


def describe(status: int, location: str | None, body: bytes) -> str:
    """A failed answer in words: its status, and where it redirects or what its body says."""
    error = f"HTTP {status}"
    if 300 <= status < 400 and location:
        return f"{error}: redirects to {location} (redirects are not followed)"
    # A NUL read as a space: PostgreSQL's text cannot hold one, and the post's settle with it
    # would fail at every try.
    text = " ".join(body[:ERROR_BODY].decode("utf-8", "replace").replace("\x00", " ").split())
    return f"{error}: {text}" if text else error
