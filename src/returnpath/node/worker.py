"""One worker process of `serve`: submission and inbound SMTP, HTTP API, delivery, returned mail,
feedback loops.

Started by the supervisor (supervisor.py) with the listening sockets inherited as file descriptors.
It dies with the supervisor (PR_SET_PDEATHSIG, set by node/launch.py before this module is
imported), so a killed `serve` leaves nothing running.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import socket
import sys

from .. import config
from ..config import Settings
from ..core.limits import MessageMemory
from ..delivery.engine import DeliveryEngine
from ..errors import ReturnpathError
from ..http.app import create_app, serve_http
from ..logs import LogWatch
from ..returns.processor import ReturnsWorker
from ..smtp.inbound import start_inbound_server
from ..smtp.server import shut_down
from ..smtp.submission import start_submission_server
from ..store import open_store
from ..usecases.relay import Relay
from ..webhooks.dispatcher import Dispatcher
from ..webhooks.h11poster import H11Poster
from .supervisor import STOP_GRACE

log = logging.getLogger("returnpath.node.worker")


async def run(settings: Settings, fds: dict[str, int], owner: str, index: int, workers: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # SIGHUP is for the supervisor (reopen the log files); one sent to the whole process group
    # (a closed terminal, `kill -HUP -PGID`) must not stop the worker in the middle of its work.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    store = open_store(settings)
    await store.open()
    delivery = settings.delivery
    engine = DeliveryEngine(
        store,
        settings,
        owner=owner,
        concurrency=math.ceil(delivery.concurrency / workers),
        per_destination=math.ceil(delivery.per_destination / workers),
    )
    relay = Relay(store, settings, sink=engine)
    returns = ReturnsWorker(store, relay, settings, owner=owner)
    hooks = settings.webhooks
    poster = H11Poster(timeout=hooks.timeout, per_endpoint=hooks.per_endpoint)
    dispatcher = Dispatcher(store.outbox, poster, owner=owner, limits=hooks.limits(), backoff=hooks.backoff())
    store.outbox.subscribe(dispatcher.notify)  # post at once what this process commits (and others give back)
    # One message_memory for the process: its two SMTP servers and its HTTP API take from it.
    memory = MessageMemory(int(settings.message_memory))
    submission = await start_submission_server(
        relay, settings, socket.socket(fileno=fds["submission"]), workers=workers, memory=memory
    )
    inbound = await start_inbound_server(
        store, settings, socket.socket(fileno=fds["inbound"]), workers=workers, memory=memory
    )
    log_watch = LogWatch(store, settings.logs.stall_after, node=settings.node_name if store.shared else None)
    await log_watch.check()
    watching = asyncio.create_task(log_watch.run(stop), name="log watch")
    app = create_app(relay, settings, log_watch=log_watch, memory=memory)
    http = await serve_http(app, settings, socket.socket(fileno=fds["http"]), workers=workers)
    await engine.start()
    await returns.start()
    await dispatcher.start()
    log.info("worker %d ready (owner %s)", index, owner)
    await stop.wait()
    # Stop taking new work, let what is under way finish, then give back what is left. The SMTP
    # clients hear 421 4.3.2 (at once, or after the message they are sending), while the rest
    # stops beside them; the store stays open until they are done.
    smtp_closing = asyncio.gather(shut_down(submission, STOP_GRACE / 2), shut_down(inbound, STOP_GRACE / 2))
    await http.stop()
    await returns.stop()
    await engine.stop(STOP_GRACE / 2)
    await dispatcher.stop(STOP_GRACE / 4)
    await poster.close()
    await smtp_closing
    await watching
    try:
        await store.release(owner)
    except ReturnpathError as exc:  # the database away: the leases run out, as a killed node's do
        log.warning("worker %d's leases run out instead of being released: %s", index, exc)
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="returnpath.node.worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--fd", action="append", default=[])
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s w{args.index} %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd logs every SMTP command at INFO: far too much for a relay under load.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    fds = {name: int(fd) for name, _, fd in (item.partition("=") for item in args.fd)}
    asyncio.run(run(config.load(args.config), fds, args.owner, args.index, args.workers))


if __name__ == "__main__":
    main()
