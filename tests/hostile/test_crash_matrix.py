"""The crash matrix: sustained load over SMTP and HTTP while worker processes and the
supervisor are SIGKILLed, then a comparison of what clients were told against what happened.

- every delivery a client heard 250 / 200 for reaches the sink (none lost); a delivery that
  reaches it twice is counted and printed: that happens only to one in flight at a kill;
- every such delivery gets its `delivery` post at the feedback loop (none missing) and its line
  in `deliveries.log`; no log line is torn, and lines repeat only as the same event (`event_id`).

The CI version runs 20 s with 5 worker and 2 supervisor kills; `scripts/test --long
tests/hostile/test_crash_matrix.py` runs it for 10 minutes with 50 kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from returnpath import config
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, queued_ids, wait_for
from tests.webhooks.receiver import ThreadedReceiver

MESSAGE = b"From: app@example.com\r\nSubject: load\r\n\r\n" + (b"x" * 98 + b"\r\n") * 20  # 2 KB
SMTP_CLIENTS = 4


class Load:
    """SMTP and HTTP clients in threads until `stop`; each reconnects after the server went away.

    `accepted` maps each delivery id a client was told about to its (unique) recipient."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.accepted: dict[str, str] = {}
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        self._threads = [threading.Thread(target=self._run, args=(self._smtp, n)) for n in range(SMTP_CLIENTS)]
        self._threads.append(threading.Thread(target=self._run, args=(self._http, 0)))

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads)

    def _recipient(self, door: str, n: int) -> str:
        with self._lock:
            self._count += 1
            return f"{door}{n}-{self._count}@d{self._count % 3}.example.net"

    def _run(self, client: Callable[[int], None], n: int) -> None:
        while not self.stop.is_set():
            try:
                client(n)
            except (smtplib.SMTPException, OSError, httpx.TransportError):
                time.sleep(0.05)  # the server is going or gone: try again
            except BaseException as exc:
                self.errors.append(exc)
                return

    def _smtp(self, n: int) -> None:
        with self.server.smtp() as client:
            while not self.stop.is_set():
                recipient = self._recipient("smtp", n)
                client.mail("app@example.com")
                client.rcpt(recipient)
                code, reply = client.data(MESSAGE)
                if code != 250:
                    raise smtplib.SMTPDataError(code, reply)
                ids = queued_ids(reply, [recipient])
                with self._lock:
                    self.accepted.update({delivery_id: r for r, delivery_id in ids.items()})

    def _http(self, n: int) -> None:
        mime = MESSAGE.decode()
        with self.server.api() as api:
            while not self.stop.is_set():
                recipient = self._recipient("http", n)
                response = api.post("/v1/send", json={"recipients": [recipient], "mime": mime})
                if response.status_code != 200:
                    raise OSError(f"{response.status_code} {response.text}")  # e.g. 503 while stopping
                with self._lock:
                    self.accepted[response.json()["recipients"][recipient]] = recipient


def test_sigkills_under_sustained_load_lose_nothing(make_server: ServerFactory, request: pytest.FixtureRequest) -> None:
    long = bool(request.config.getoption("--long"))
    duration, worker_kills, supervisor_kills = (600.0, 40, 10) if long else (20.0, 5, 2)
    rng = random.Random(8)
    kills = ["worker"] * worker_kills + ["supervisor"] * supervisor_kills
    rng.shuffle(kills)
    with Sink(slow=0.02) as sink, ThreadedReceiver() as hooks:
        server = make_server(
            delivery__routes={"*": sink.route},
            webhooks__allow_private_targets=True,
            worker_restart_delay=config.Duration(0.2),
            worker_max_quick_deaths=1000,  # this test kills workers as fast as they come back
        )
        reply = httpx.post(
            f"{server.http_url}/v1/feedback-loops",
            headers={"Authorization": f"Bearer {server.credentials['api_token']}"},
            json={"url": f"{hooks.base_url}/all", "events": ["delivery"], "format": "json"},
        )
        assert reply.status_code == 201, reply.text
        hooks.endpoint("/all", reply.json()["secret"])

        load = Load(server).start()
        began = time.monotonic()
        for n, kill in enumerate(kills, 1):
            time.sleep(max(0.0, began + duration * n / (len(kills) + 1) - time.monotonic()))
            if kill == "worker":
                os.kill(rng.choice(server.worker_pids()), signal.SIGKILL)
            else:
                server.kill()
                server.start()
        time.sleep(max(0.0, began + duration - time.monotonic()))
        load.join()
        assert load.errors == []
        accepted = dict(load.accepted)
        assert len(accepted) > 50, "the load never got going"

        wanted = set(accepted.values())
        wait_for(lambda: wanted <= set(sink.recipients()), timeout=120, what="every accepted delivery at the sink")
        arrived = Counter(r for r in sink.recipients() if r in wanted)
        twice = {r: count for r, count in arrived.items() if count > 1}
        print(f"crash matrix: {len(accepted)} accepted, {len(kills)} kills, {len(twice)} delivered more than once")
        assert len(twice) <= 20 * len(kills), twice  # a few in flight at each kill, never a pattern

        def posted() -> set[str]:
            return {a.fields["id"] for a in hooks.unique("/all").values() if a.fields["type"] == "delivery"}

        wait_for(lambda: set(accepted) <= posted(), timeout=120, what="a delivery post for every accepted delivery")
        server.wait_logged("deliveries", accepted, timeout=60)

    lines = (server.settings.path(server.settings.logs.dir) / "deliveries.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # raises on a torn line
    by_event: dict[object, list[dict[str, object]]] = {}
    for record in records:
        by_event.setdefault(record["event_id"], []).append(record)
    assert all(all(r == same[0] for r in same) for same in by_event.values()), "a repeated line that differs"
