"""A real HTTP receiver for the tests: uvicorn on a loopback port, as an application's
webhook endpoint would be.

Each endpoint (a path) has a secret, and every request is verified with the `standardwebhooks`
package as a receiver would; one that does not verify is answered 401 and kept apart. Each
endpoint can be told to misbehave for its next requests — answer a status (500, 429 with
Retry-After, 404...), answer too slowly, drop the connection, hold the answer until the test
lets it go — and answers 200 after that.
Every request that verified is kept as an `Arrival`, duplicates included: `unique` drops them
by `webhook-id`, as a receiver would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """Answer with this status (and headers)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"no"


@dataclass(frozen=True)
class Slow:
    """Answer 200, but only after this many seconds."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Start the answer, then close the connection."""


@dataclass(frozen=True)
class Hold:
    """Answer 200 once the test sets `until` (the post is on the wire till then)."""

    until: asyncio.Event


Behaviour = Reply | Slow | Drop | Hold


@dataclass
class Arrival:
    path: str
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    fields: dict[str, Any]  # the body as a PHP receiver sees $_POST (form) or as parsed JSON
    answered: str  # "200", "500", "slow", "drop", ...
    client: tuple[str, int] = ("", 0)  # the poster's address and port: one per connection
    at: float = field(default_factory=time.monotonic)


def form_fields(body: bytes) -> dict[str, Any]:
    """A form body as PHP reads it: `name[]` keys collect into a list under `name`."""
    fields: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True):
        if name.endswith("[]"):
            fields.setdefault(name[:-2], []).append(value)
        else:
            fields[name] = value
    return fields


class Receiver:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.scripts: dict[str, deque[Behaviour]] = {}
        self.arrivals: list[Arrival] = []
        self.unverified: list[tuple[str, str]] = []  # (path, why)
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def endpoint(self, path: str, secret: str, *behaviours: Behaviour) -> str:
        """Register an endpoint; it behaves as told for its first requests, then answers 200."""
        self.secrets[path] = secret
        self.scripts[path] = deque(behaviours)
        return self.base_url + path

    def at(self, path: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.path == path]

    def unique(self, path: str) -> dict[str, Arrival]:
        """The arrivals at an endpoint that were answered 2xx, one per webhook-id."""
        return {a.webhook_id: a for a in self.at(path) if a.answered in ("200", "slow", "held")}

    async def start(self, tls: tuple[Path, Path] | None = None) -> None:
        """Listen on a loopback port: http://127.0.0.1:port, or https://localhost:port with the
        certificate and key `tls`."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY: see http/app.py
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        port = sock.getsockname()[1]
        self.base_url = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
        cert, key = tls or (None, None)
        config = uvicorn.Config(
            self,
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level="critical",
            timeout_graceful_shutdown=1,
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    # ---- the ASGI application ----------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            Webhook(self.secrets[path]).verify(body, headers, json_parse=False)
        except (KeyError, WebhookVerificationError) as exc:
            self.unverified.append((path, repr(exc)))
            await _answer(send, 401)
            return
        if headers.get("content-type") == "application/json":
            fields = json.loads(body)
        else:
            fields = form_fields(body)
        script = self.scripts[path]
        behaviour = script.popleft() if script else Reply(200, body=b"ok")
        answered = {Slow: "slow", Drop: "drop", Hold: "held"}.get(type(behaviour)) or str(
            getattr(behaviour, "status", "")
        )
        self.arrivals.append(
            Arrival(path, headers["webhook-id"], headers, body, fields, answered, client=tuple(scope["client"]))
        )
        if isinstance(behaviour, Reply):
            await _answer(send, behaviour.status, behaviour.headers, behaviour.body)
        elif isinstance(behaviour, Slow):
            await asyncio.sleep(behaviour.seconds)
            await _answer(send, 200)
        elif isinstance(behaviour, Hold):
            await behaviour.until.wait()
            await _answer(send, 200)
        else:
            # uvicorn closes the connection when an application fails after starting its answer.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
            raise ConnectionAbortedError("dropping the connection, as told")


async def _answer(send: Any, status: int, headers: tuple[tuple[str, str], ...] = (), body: bytes = b"ok") -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain"), *raw]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running receiver (import this fixture into a conftest or test module to use it)."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


class ThreadedReceiver:
    """A `Receiver` on an event loop of its own in a thread, for blocking tests (the end-to-end
    ones run `returnpath serve` as a process and wait on it):

        with ThreadedReceiver() as hooks:
            url = hooks.endpoint("/a", secret)
            ...
            assert hooks.unique("/a")
    """

    def __init__(self) -> None:
        self.receiver = Receiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="receiver", daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(10)
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
