#!/usr/bin/env python3
"""Feedback-loop dispatch speed: events per second posted to a loopback receiver, in one run.

Scenarios (issue 4, "Benchmark"): one endpoint; 50 endpoints; 50 endpoints with 10% of the
requests answered 500 (retried after a few milliseconds until they succeed). Each posts N
events (`refused` failures, form bodies, signed) through the real dispatcher with its default
limits (8 posts in flight per endpoint), once with each poster: httpx (poster.py) and h11 on
asyncio streams (h11poster.py). The figure is events per second from the dispatcher's start
until the last item is done; also printed: requests per second and the dispatcher process's
CPU time per event.

The other side, from the same run: httpx alone posting the same bodies over the same number
of connections, with no outbox, payload, signature or bookkeeping: the ceiling of any
dispatcher built on httpx on this machine.

The outbox is the in-memory double of the tests (tests/webhooks/memory.py): the SQLite outbox
is not in the loop yet, so the figures are those of dispatching alone. The receiver is a lean
asyncio HTTP/1.1 sink in its own process (as Postfix's smtp-sink is in bench/relay.py): it
only answers, so the dispatcher is what is measured.

    python bench/webhooks.py [--n 10000] [--only 1,50,50-failing]

One run on the 2-CPU development machine (--n 10000; events/s, CPU ms per event):

    scenario     rp + httpx     rp + h11      httpx alone
    1            893  1.12      5511  0.18    1730  0.58
    50           810  1.21      4327  0.21    1318  0.75
    50-failing   687  1.40      3971  0.24    (10% failing: 11087 requests)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import httpx

from returnpath.webhooks.dispatcher import Dispatcher, Limits
from returnpath.webhooks.h11poster import H11Poster
from returnpath.webhooks.model import Format
from returnpath.webhooks.payloads import encode, payload
from returnpath.webhooks.policy import Backoff
from returnpath.webhooks.poster import HttpxPoster
from tests.webhooks import samples
from tests.webhooks.memory import MemoryOutbox

# Failed posts come back after milliseconds, so that a run ends when its events are posted.
BENCH_BACKOFF = Backoff(first=0.01, max_interval=0.05, min_interval=0.001)


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoints: int
    failing: float  # share of requests the receiver answers 500


SCENARIOS = (Scenario("1", 1, 0.0), Scenario("50", 50, 0.0), Scenario("50-failing", 50, 0.10))


# ---- the receiver: a lean HTTP/1.1 sink in its own process -------------------------------------

class _Sink(asyncio.Protocol):
    """Reads requests with a Content-Length body; answers 200 (or 500 for a share of them)."""

    def __init__(self, failing: float, rng: random.Random) -> None:
        self.failing, self.rng, self.buffer = failing, rng, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17:head.find(b"\r\n", at + 2) if head.find(b"\r\n", at + 2) > 0 else None]) \
                if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            if self.rng.random() < self.failing:
                self.transport.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nfail")
            else:
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


async def _serve_sink(port: int, failing: float) -> None:
    rng = random.Random(4)
    server = await asyncio.get_running_loop().create_server(lambda: _Sink(failing, rng), "127.0.0.1", port,
                                                            backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()


def start_sink(failing: float) -> tuple[subprocess.Popen[str], int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "_sink", str(port), str(failing)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, port


# ---- the two sides ---------------------------------------------------------------------------

async def dispatch(scenario: Scenario, n: int, port: int, poster_class: type[HttpxPoster | H11Poster]
                   ) -> dict[str, float]:
    """Our side: N events through the outbox and the dispatcher."""
    outbox = MemoryOutbox()
    loops = [outbox.add_loop(samples.loop(f"loop{i}", f"http://127.0.0.1:{port}/hook/{i}", account=f"acct{i:022d}"))
             for i in range(scenario.endpoints)]
    now = time.time()
    for i in range(n):
        outbox.publish(samples.refused(at=now + i * 1e-3, account=loops[i % len(loops)].account_id), now)
    limits = Limits(allow_private_targets=True, poll_interval=0.05)
    poster = poster_class(timeout=limits.timeout, per_endpoint=limits.per_endpoint)
    dispatcher = Dispatcher(outbox, poster, owner="bench", limits=limits, backoff=BENCH_BACKOFF)
    cpu, began = time.process_time(), time.perf_counter()
    await dispatcher.start()
    while not outbox.settled():
        await asyncio.sleep(0.01)
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    await dispatcher.stop()
    await poster.close()
    requests = len(outbox.attempts)
    assert len([i for i in outbox.items.values() if i.state.value == "done"]) == n
    return {"events/s": n / took, "requests/s": requests / took, "requests": requests,
            "cpu ms/event": cpu / n * 1000, "seconds": took}


async def httpx_alone(scenario: Scenario, n: int, port: int) -> dict[str, float]:
    """The other side: the same bodies posted by httpx, as fast as it goes, same connections."""
    event = samples.refused()
    _, body = encode(payload(1, event, None), Format.FORM)
    per = Limits().per_endpoint
    clients = [httpx.AsyncClient(limits=httpx.Limits(max_connections=per, max_keepalive_connections=per))
               for _ in range(scenario.endpoints)]
    left = n

    async def worker(client: httpx.AsyncClient, url: str) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.post(url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(c, f"http://127.0.0.1:{port}/hook/{i}") for i, c in enumerate(clients)
                           for _ in range(per)))
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    for client in clients:
        await client.aclose()
    return {"events/s": n / took, "requests/s": n / took, "requests": n, "cpu ms/event": cpu / n * 1000,
            "seconds": took}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_sink":
        asyncio.run(_serve_sink(int(sys.argv[2]), float(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="events per scenario")
    parser.add_argument("--only", default="", help="comma-separated scenario names: 1, 50, 50-failing")
    args = parser.parse_args()
    wanted = set(filter(None, args.only.split(",")))
    print(f"# {args.n} events per scenario; {os.cpu_count()} CPUs; the receiver in its own process")
    print(f"{'scenario':<12} {'side':<12} {'events/s':>9} {'requests/s':>11} {'requests':>9} {'cpu ms/event':>13}")
    sides = {"rp + httpx": lambda sc, n, port: dispatch(sc, n, port, HttpxPoster),
             "rp + h11": lambda sc, n, port: dispatch(sc, n, port, H11Poster),
             "httpx alone": httpx_alone}
    for scenario in SCENARIOS:
        if wanted and scenario.name not in wanted:
            continue
        for side, run in sides.items():
            if side == "httpx alone" and scenario.failing:
                continue  # the same as without failures, for httpx
            sink, port = start_sink(scenario.failing)
            try:
                figures = asyncio.run(run(scenario, args.n, port))
            finally:
                sink.terminate()
                sink.wait()
            print(f"{scenario.name:<12} {side:<12} {figures['events/s']:>9.0f} {figures['requests/s']:>11.0f} "
                  f"{figures['requests']:>9.0f} {figures['cpu ms/event']:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
