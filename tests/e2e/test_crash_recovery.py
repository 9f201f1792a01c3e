"""Nothing accepted is lost: `serve` (on its default two workers) is stopped in the middle of
accepting and delivering — by SIGKILL, and by SIGTERM — then started again on the same data
folder, and every delivery a client was told about (250 over SMTP, 200 over HTTP) reaches the
sink at least once and ends `delivered`.

Every recipient is unique, so the sink's recipients tell which deliveries arrived.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, queued_ids, wait_for

SMTP_CLIENTS = 6
SMTP_MESSAGES = 40  # per client; every fifth message has two recipients
HTTP_MESSAGES = 60  # from one HTTP client, two recipients each
STOP_AFTER = 150  # accepted deliveries before the server is stopped
MESSAGE = b"From: app@example.com\r\nSubject: load\r\n\r\n" + (b"x" * 98 + b"\r\n") * 20  # 2 KB


class Load:
    """Clients submitting over SMTP and HTTP in threads until they are done or the server goes.

    `accepted` maps each delivery id the server confirmed to its recipient. A client stops at
    its first error: a dropped connection, or a refusal such as 451 while the server stops
    (kept in `refusals` with its time, to check that none came before the stop).
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.accepted: dict[str, str] = {}
        self.refusals: list[tuple[float, str]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._guard(self._smtp, n)) for n in range(SMTP_CLIENTS)]
        self._threads.append(threading.Thread(target=self._guard(self._http, 0)))

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads)

    def _guard(self, client: Callable[[int], None], n: int) -> Callable[[], None]:
        def run() -> None:
            try:
                client(n)
            except smtplib.SMTPResponseException as exc:
                self.refusals.append((time.monotonic(), f"{exc.smtp_code} {exc.smtp_error!r}"))
            except (smtplib.SMTPException, OSError, httpx.TransportError):
                pass  # the server went away
            except BaseException as exc:
                self.errors.append(exc)

        return run

    def _confirmed(self, ids: dict[str, str]) -> None:
        with self._lock:
            self.accepted.update({delivery_id: recipient for recipient, delivery_id in ids.items()})

    def _smtp(self, n: int) -> None:
        with self.server.smtp() as client:
            for i in range(SMTP_MESSAGES):
                recipients = [f"smtp{n}-{i}@d{i % 3}.example.net"]
                if i % 5 == 0:
                    recipients.append(f"smtp{n}-{i}-cc@d{(i + 1) % 3}.example.net")
                client.mail("app@example.com")
                for recipient in recipients:
                    client.rcpt(recipient)
                code, reply = client.data(MESSAGE)  # raises for a refused MAIL, RCPT or DATA
                if code != 250:
                    raise smtplib.SMTPDataError(code, reply)
                self._confirmed(queued_ids(reply, recipients))

    def _http(self, n: int) -> None:
        mime = MESSAGE.decode()
        with self.server.api() as api:
            for i in range(HTTP_MESSAGES):
                recipients = [f"http{n}-{i}@d{i % 3}.example.net", f"http{n}-{i}-cc@d{(i + 2) % 3}.example.net"]
                response = api.post("/v1/send", json={"recipients": recipients, "mime": mime})
                if response.status_code != 200:
                    self.refusals.append((time.monotonic(), f"{response.status_code} {response.text}"))
                    return
                self._confirmed(response.json()["recipients"])


def stop_mid_load(server: Server, sink: Sink, stop: Callable[[], None], *, restart: bool = True) -> dict[str, str]:
    """Run the load, `stop` the server (or part of it) once STOP_AFTER deliveries are accepted,
    start it again, and check that every accepted delivery arrives; returns them."""
    load = Load(server).start()
    wait_for(lambda: len(load.accepted) >= STOP_AFTER, timeout=60, what=f"{STOP_AFTER} accepted deliveries")
    stopped_at = time.monotonic()
    stop()
    load.join()
    assert load.errors == []
    assert [reply for at, reply in load.refusals if at < stopped_at] == []
    accepted = dict(load.accepted)
    # The test means something only if the server stopped with work left to do.
    assert not set(accepted.values()) <= set(sink.recipients()), "everything was delivered before the stop"

    if restart:
        server.start()
    wait_for(
        lambda: set(accepted.values()) <= set(sink.recipients()), timeout=60, what="every accepted delivery at the sink"
    )
    wait_for(lambda: (q := server.queue())["queued"] == q["deferred"] == 0, timeout=30, what="an empty queue")

    summary = server.queue()
    assert summary["failed"] == 0
    assert summary["delivered"] >= len(accepted)  # and those committed without an answer
    views = server.wait_final(accepted)
    assert {view["state"] for view in views.values()} == {"delivered"}
    for delivery_id, recipient in accepted.items():
        assert views[delivery_id]["recipient"] == recipient
        # What the sink got for this recipient came with this delivery's envelope.
        senders = {t.mail_from for t in sink.transactions if t.rcpt_to == [recipient]}
        assert {server.token_of(sender) for sender in senders} == {delivery_id}
    server.wait_logged("deliveries", accepted)
    assert server.log("failures") == []
    return accepted


def test_sigkill_mid_load_loses_nothing(make_server: ServerFactory) -> None:
    with Sink(slow=0.05) as sink:
        server = make_server(delivery__routes={"*": sink.route}, delivery__per_destination=2)
        assert server.workers == 2
        stop_mid_load(server, sink, server.kill)


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_a_clean_stop_mid_load_loses_nothing(make_server: ServerFactory, how: str) -> None:
    with Sink(slow=0.05) as sink:
        server = make_server(delivery__routes={"*": sink.route}, delivery__per_destination=2)
        codes: list[int] = []
        stop_mid_load(server, sink, lambda: codes.append(server.stop() if how == "sigterm" else server.interrupt()))
        assert codes == [0]
        assert "returnpath stopped" in server.stderr()
        assert "Traceback" not in server.stderr()


def test_a_worker_killed_mid_load_is_replaced_and_loses_nothing(make_server: ServerFactory) -> None:
    """The supervisor notices, gives the dead worker's deliveries back, and starts another."""
    with Sink(slow=0.05) as sink:
        server = make_server(delivery__routes={"*": sink.route}, delivery__per_destination=2)
        assert server.process is not None
        supervisor = server.process.pid
        workers = [int(pid) for pid in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
        assert len(workers) == 2
        stop_mid_load(server, sink, lambda: os.kill(workers[0], signal.SIGKILL), restart=False)
        assert server.running
        assert re.search(r"worker [01] exited with -9; released \d+ deliveries; restarting", server.stderr())


def test_a_clean_stop_says_421_to_connected_clients(make_server: ServerFactory) -> None:
    """SIGTERM: a client logged in and between messages hears 421 4.3.2 before `serve` ends,
    instead of a connection cut without a word (tests/smtp/test_shutdown.py has the rest)."""
    server = make_server(workers=1)
    client = server.smtp()
    assert server.stop() == 0
    code, text = client.getreply()
    assert code == 421 and text.startswith(b"4.3.2 ") and b"shutting down" in text
    client.close()
