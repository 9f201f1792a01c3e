"""The HTTP API: the Starlette app, and running it under uvicorn on a listening socket.

One module per resource (send, deliveries, events, ...), each with its `routes` and the
OpenAPI `paths` that describe them; `RESOURCES` lists them, and a new resource (the feedback
loops) is one more module in that list. Errors leave as problem documents
(problems.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import ModuleType
from typing import cast

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from ..config import Settings
from ..core.limits import ConnectionLimit, MessageMemory
from ..core.ports import LoopStore
from ..errors import ReturnpathError
from ..logs import LogWatch
from ..polling import woken
from ..usecases.loops import Loops
from ..usecases.relay import Relay
from . import deliveries, event_feed, feedback_loops, health, openapi, send, sending_domains
from .guard import HEAD_LIMIT, framing_check, guarded_protocol
from .problems import Problem, error_handler, http_exception_handler, internal_error_handler, problem_handler

RESOURCES: tuple[ModuleType, ...] = (health, send, deliveries, event_feed, feedback_loops, sending_domains, openapi)


def create_app(
    relay: Relay, settings: Settings, *, log_watch: LogWatch | None = None, memory: MessageMemory | None = None
) -> Starlette:
    """The API over `relay`; `log_watch` (the worker's view of the log writer) feeds /healthz;
    `memory`, the process's message_memory (one of its own when not given), bounds the bodies
    of messages sent (/v1/send) being received at once."""
    app = Starlette(
        routes=[route for resource in RESOURCES for route in resource.routes],
        exception_handlers={
            Problem: problem_handler,
            ReturnpathError: error_handler,
            HTTPException: http_exception_handler,
            Exception: internal_error_handler,
        },
    )
    app.router.redirect_slashes = False  # one URL per resource; /v1/send/ is a 404, not a redirect
    app.state.relay = relay
    app.state.settings = settings
    app.state.log_watch = log_watch
    app.state.memory = memory if memory is not None else MessageMemory(int(settings.message_memory))
    app.state.loops = Loops(cast(LoopStore, relay.store), settings)
    app.state.openapi = openapi.document(
        {path: item for resource in RESOURCES for path, item in resource.paths.items()}
    )
    return app


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the process that runs it handles signals), ticking
    once a second where uvicorn's own loop ticks ten times: each tick woke the idle worker, ten
    times a second for nothing (`strace -c` on an idle worker: a third of its wakeups).
    `exiting` wakes the loop at once when it is to stop."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exiting = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            # on_tick renews the Date header (whole seconds) when counter % 10 == 0: every tick.
            counter = (counter + 10) % 864000
            await woken(self.exiting, 1.0)


class HttpServer:
    """A running API server; `stop` ends it."""

    def __init__(self, server: _Server, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    async def stop(self) -> None:
        """Stop accepting, let requests under way finish (up to the grace period), return."""
        self._server.should_exit = True
        self._server.exiting.set()
        await self._task


async def serve_http(
    app: Starlette,
    settings: Settings,
    sock: socket.socket,
    *,
    access_log: bool = False,
    grace: int = 5,
    workers: int = 1,
) -> HttpServer:
    """Serve `app` on an already listening socket (shared by `workers` processes, and so their
    `max_connections`); returns once it accepts connections. The server owns the socket from
    then on and closes it when it stops."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
        # asyncio sets TCP_NODELAY on accepted connections only when the listening socket object
        # says IPPROTO_TCP; `socket.socket()` says 0. Without it, Nagle's algorithm and the
        # client's delayed ACK add some 40 ms to every response sent in two segments.
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    config = uvicorn.Config(
        framing_check(app),
        lifespan="off",
        access_log=access_log,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=grace,
        h11_max_incomplete_event_size=HEAD_LIMIT,
        http=guarded_protocol(
            ConnectionLimit(
                -(-settings.http.max_connections // max(1, workers)), settings.http.max_connections_per_address
            ),
            float(settings.http.header_timeout),
            float(settings.http.body_timeout),
        ),
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    while not server.started:
        if task.done():
            task.result()  # raises what went wrong at startup
            raise OSError(f"the HTTP server on {settings.http.listen} stopped while starting")
        await asyncio.sleep(0.01)
    return HttpServer(server, task)
