"""Posting with httpx: the HTTP adapter of the dispatcher.

- One connection pool per endpoint URL. httpx's pool does work per waiting request on every
  change, so one large shared pool slows down as traffic grows (measured: a fifth of the
  speed at 50 requests in flight), and a slow endpoint would queue the others' requests.
- Redirects are not followed: a 3xx is an answer like any other (see policy.py).
- A post that has not answered within `timeout` in all has failed, whatever httpx's per-read
  timeouts say, so a receiver that drips its answer cannot hold a slot.
- Only the start of an answer's body is read: it goes into the error of a failed post.
- Proxy settings of the environment are ignored (`trust_env=False`): the target checks of
  targets.py are about the host we connect to.

httpx's exceptions stay here: every failure becomes an `Answer` without a status.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

import httpx

from .. import __version__
from .policy import Answer

USER_AGENT = f"returnpath/{__version__}"
ERROR_BODY = 512  # bytes of a failed answer's body kept in its error
READ_AT_MOST = 16 * 1024  # an answer longer than this is not read to its end


class HttpxPoster:
    def __init__(self, *, timeout: float = 10.0, per_endpoint: int = 8, user_agent: str = USER_AGENT,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.per_endpoint = per_endpoint
        self.user_agent = user_agent
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, url: str) -> httpx.AsyncClient:
        client = self._clients.get(url)
        if client is None:
            limits = httpx.Limits(max_connections=self.per_endpoint, max_keepalive_connections=self.per_endpoint)
            client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                       trust_env=False, verify=self.ssl_context,
                                       headers={"User-Agent": self.user_agent})
            self._clients[url] = client
        return client

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(url, headers, body)
        except (TimeoutError, httpx.TimeoutException):
            return Answer(None, f"no answer within {self.timeout:g}s")
        except httpx.ConnectError as exc:
            return Answer(None, f"cannot connect: {exc or type(exc).__name__}")
        except httpx.RemoteProtocolError as exc:
            return Answer(None, f"connection dropped: {exc or type(exc).__name__}")
        except httpx.HTTPError as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}")
        except httpx.InvalidURL as exc:  # no retry cures it
            return Answer(None, f"cannot send: {exc}", refused=True)

    async def _post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        async with self._client(url).stream("POST", url, content=body, headers=headers) as response:
            start = await _read_start(response)
            status = response.status_code
            if 200 <= status < 300:
                return Answer(status)
            return Answer(status, describe(status, response.headers.get("Location"), start),
                          response.headers.get("Retry-After"))

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


async def _read_start(response: httpx.Response) -> bytes:
    """The body up to READ_AT_MOST bytes; a longer one is cut (its connection is then closed)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= READ_AT_MOST:
            break
    return b"".join(chunks)


def describe(status: int, location: str | None, body: bytes) -> str:
    """A failed answer in words: its status, and where it redirects or what its body says."""
    error = f"HTTP {status}"
    if 300 <= status < 400 and location:
        return f"{error}: redirects to {location} (redirects are not followed)"
    text = " ".join(body[:ERROR_BODY].decode("utf-8", "replace").split())
    return f"{error}: {text}" if text else error
