"""Two `returnpath serve` nodes on one PostgreSQL database, on this machine, when things go
wrong: one node SIGKILLed under load (and started again later), and the database going away
for ten seconds under load.

What a user relies on (README, "Several nodes: PostgreSQL"): every message a client was told
about (250 over SMTP, 200 over HTTP) is delivered; no delivery is attempted by two nodes at
once; a dead node's work is finished by another once its leases run out; every event is in
the log files of exactly one node and posted to the feedback loops at least once; while the
database is away, submissions are refused (4xx, 503) and never confirmed, and the nodes carry
on by themselves when it is back.

Each node says its own name in EHLO (`[delivery] helo_name`), so the sink knows which node sent
what and when (the MAIL command and the 250 to the end of data, on the clock returnpath writes
its leases and attempts with). Every recipient is unique, so the sink's recipients tell which
deliveries arrived.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from bench.postgres import PrivateCluster

from returnpath import config
from tests.delivery.sinks import Sink, Transaction
from tests.e2e.harness import Server, queued_ids, wait_for
from tests.webhooks.receiver import Receiver, ThreadedReceiver

MESSAGE = b"From: shop@example.com\r\nSubject: order\r\n\r\nThanks for your order.\r\n"
HELO = {"node-1": "node-1.relay.example.test", "node-2": "node-2.relay.example.test"}
NODE_OF_HELO = {helo: node for node, helo in HELO.items()}
LEASE = 4.0  # [delivery] lease and [webhooks] lease of the kill test: short, so that it is quick
ENHANCED = re.compile(r"^4\.\d{1,3}\.\d{1,3} ")  # a 4xx reply's enhanced status code (RFC 3463)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with ThreadedReceiver() as receiver:
        yield receiver


def node_changes(sink: Sink, **more: Any) -> dict[str, Any]:
    return {
        "workers": 1,  # two nodes on two CPUs, beside PostgreSQL and the test itself
        "delivery__routes": {"*": sink.route},
        "delivery__poll_interval": config.Duration(0.1),
        "webhooks__allow_private_targets": True,  # the receiver is on 127.0.0.1
        "webhooks__timeout": config.Duration(1),
        "webhooks__retry_first": config.Duration(0.2),
        "webhooks__retry_max_interval": config.Duration(0.5),
        "webhooks__poll_interval": config.Duration(0.1),
        **more,
    }


def add_loop(server: Server, hooks: Receiver, path: str) -> None:
    """A feedback loop for every kind of event, posting (JSON) to the receiver's `path`."""
    kinds = ["delivery", "deferred", "failure", "bounce", "abuse"]
    with server.api() as api:
        reply = api.post(
            "/v1/feedback-loops", json={"url": f"{hooks.base_url}{path}", "events": kinds, "format": "json"}
        )
    assert reply.status_code == 201, reply.text
    hooks.endpoint(path, reply.json()["secret"])


def nodes(server: Server) -> dict[str, dict[str, Any]]:
    result = server.cli("nodes", "--json")
    assert result.returncode == 0, result.stderr
    return {record["name"]: record for record in map(json.loads, result.stdout.splitlines())}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stored_deliveries(url: str) -> dict[str, dict[str, Any]]:
    """Every delivery in the store with its state and lease, read straight from the database."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, recipient, state, lease_owner, lease_until FROM deliveries").fetchall()
    return {
        row[0]: {"recipient": row[1], "state": row[2], "owner": row[3], "until": row[4] and float(row[4])}
        for row in rows
    }


def logged_ids(servers: list[Server]) -> list[str]:
    """The delivery ids of every line in every log file of every node."""
    return [
        line["id"] for server in servers for name in ("deliveries", "failures", "bounces") for line in server.log(name)
    ]


@dataclass
class Outcome:
    """One submission: when it started and ended, and what the node answered."""

    started: float
    ended: float
    accepted: dict[str, str] = field(default_factory=dict)  # delivery id -> recipient
    refusal: str = ""  # "451 4.3.0 ...", "503 {...}"


class Load:
    """Clients submitting through each node, over SMTP and over HTTP, one thread each, every
    message to a recipient of its own. `keep_going`: a client that is refused (or loses its
    connection) tries again after a pause, else it stops there."""

    def __init__(self, servers: list[Server], messages: int, *, pause: float, keep_going: bool) -> None:
        self.messages = messages
        self.pause = pause
        self.keep_going = keep_going
        self.outcomes: dict[str, list[Outcome]] = {}
        self.errors: list[BaseException] = []
        self.done = threading.Event()  # tells every client to stop
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        for server in servers:
            name = server.settings.node.name
            for door, client in (("smtp", self._smtp), ("http", self._http)):
                self.outcomes[f"{name}/{door}"] = []
                self._threads.append(threading.Thread(target=self._guard(client, server, f"{name}/{door}")))

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads)
        assert self.errors == []

    def accepted(self, client: str | None = None) -> dict[str, str]:
        with self._lock:
            return {
                delivery_id: recipient
                for name, outcomes in self.outcomes.items()
                if client is None or name.startswith(client)
                for outcome in outcomes
                for delivery_id, recipient in outcome.accepted.items()
            }

    def _guard(self, client: Callable[[Server, str], None], server: Server, name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                client(server, name)
            except BaseException as exc:
                self.errors.append(exc)

        return run

    def _record(self, name: str, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes[name].append(outcome)

    def _smtp(self, server: Server, name: str) -> None:
        client: smtplib.SMTP | None = None
        for i in range(self.messages):
            if self.done.is_set():
                break
            recipient = f"{name.replace('/', '-')}-{i}@d{i % 3}.example.net"
            started = time.time()
            try:
                client = client or server.smtp()
                for code, reply in (client.mail("shop@example.com"), client.rcpt(recipient)):
                    if code != 250:  # smtplib raises for a refused DATA only
                        raise smtplib.SMTPResponseException(code, reply)
                code, reply = client.data(MESSAGE)
                if code != 250:
                    raise smtplib.SMTPDataError(code, reply)
                [delivery_id] = queued_ids(reply, [recipient]).values()
                self._record(name, Outcome(started, time.time(), accepted={delivery_id: recipient}))
            except smtplib.SMTPResponseException as exc:
                self._record(name, Outcome(started, time.time(), refusal=f"{exc.smtp_code} {exc.smtp_error.decode()}"))
                if not self.keep_going:
                    return
                try:
                    client.rset() if client else None
                except (smtplib.SMTPException, OSError):
                    client = None
            except (smtplib.SMTPException, OSError):
                if not self.keep_going:
                    return
                client = None  # the node closed the connection: a new one
            time.sleep(self.pause)
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def _http(self, server: Server, name: str) -> None:
        mime = MESSAGE.decode()
        with server.api() as api:
            for i in range(self.messages):
                if self.done.is_set():
                    break
                recipient = f"{name.replace('/', '-')}-{i}@d{i % 3}.example.net"
                started = time.time()
                try:
                    response = api.post("/v1/send", json={"recipient": recipient, "mime": mime})
                except httpx.TransportError:
                    if not self.keep_going:
                        return
                    time.sleep(self.pause)
                    continue
                if response.status_code == 200:
                    accepted = {v: k for k, v in response.json()["recipients"].items()}
                    self._record(name, Outcome(started, time.time(), accepted=accepted))
                else:
                    kind = response.headers.get("content-type", "")
                    self._record(
                        name, Outcome(started, time.time(), refusal=f"{response.status_code} {kind} {response.text}")
                    )
                    if not self.keep_going:
                        return
                time.sleep(self.pause)


# ---- a node SIGKILLed under load --------------------------------------------------------------


def test_a_node_killed_under_load_has_its_work_finished_by_the_other_once_its_leases_ran_out(
    tmp_path: Path, pg_url: str, hooks: Receiver
) -> None:
    # Slow: 0.3 s before each 250 to the end of data, one session per domain per node, so that
    # the killed node holds claimed, undelivered work (and has attempts in flight) at the kill.
    with Sink(slow=0.3) as sink:
        changes = node_changes(
            sink,
            delivery__lease=config.Duration(LEASE),
            delivery__per_destination=1,
            webhooks__lease=config.Duration(LEASE),
            node__heartbeat=config.Duration(1),
        )
        one = Server(
            tmp_path / "node1", store=pg_url, node__name="node-1", delivery__helo_name=HELO["node-1"], **changes
        )
        two = Server(tmp_path / "node2", like=one, node__name="node-2", delivery__helo_name=HELO["node-2"], **changes)
        with one, two:
            add_loop(one, hooks, "/events")
            load = Load([one, two], messages=30, pause=0.05, keep_going=False).start()
            try:
                # Kill once node 1 has delivered some and holds more than it can send at once.
                def ready() -> bool:
                    sent_by_one = [t for t in sink.transactions if t.helo == HELO["node-1"]]
                    held = [d for d in stored_deliveries(pg_url).values() if (d["owner"] or "").startswith("node-1/")]
                    return len(sent_by_one) >= 3 and len(held) >= 10

                wait_for(ready, timeout=30, interval=0.1, what="node 1 to deliver some and hold more")
                pids = one.worker_pids()
                one.kill()  # the supervisor; its workers die with it
                wait_for(lambda: not any(alive(pid) for pid in pids), timeout=10, what="node 1's workers to die")
                killed_at = time.time()
                time.sleep(0.5)  # a commit node 1 sent just before it died is visible now
                # What node 1 held when it died: nobody renews these leases any more.
                held = {
                    delivery_id: stored["until"]
                    for delivery_id, stored in stored_deliveries(pg_url).items()
                    if (stored["owner"] or "").startswith("node-1/") and stored["state"] not in ("delivered", "failed")
                }
                assert len(held) >= 5, held
                assert not any(alive(pid) for pid in pids)
            finally:
                load.stop()
            assert all(
                outcome.ended < killed_at for outcome in load.outcomes["node-1/smtp"] + load.outcomes["node-1/http"]
            )
            accepted = load.accepted()
            assert len(load.accepted("node-2")) >= 20  # node 2 went on taking submissions

            # Every delivery in the store, confirmed or not (a reply the kill cut off), is delivered:
            # node 2 finishes node 1's work.
            def all_delivered() -> dict[str, dict[str, Any]] | None:
                stored = stored_deliveries(pg_url)
                return stored if all(d["state"] == "delivered" for d in stored.values()) else None

            stored = wait_for(all_delivered, timeout=60, interval=0.2, what="every delivery delivered")
            assert set(accepted) <= set(stored)
            recipients = {delivery_id: d["recipient"] for delivery_id, d in stored.items()}
            assert set(held) <= set(stored)
            views = two.wait_final(stored)
            by_recipient: dict[str, list[Transaction]] = {}
            for transaction in sink.transactions:
                [recipient] = transaction.rcpt_to
                by_recipient.setdefault(recipient, []).append(transaction)
            for delivery_id, recipient in recipients.items():
                sent = by_recipient.get(recipient, [])
                assert sent, f"{recipient} ({delivery_id}) never reached the sink"
                assert {two.token_of(t.mail_from) for t in sent} == {delivery_id}
                # No delivery held by two nodes at once: their sessions with it never overlap.
                for a in sent:
                    for b in sent:
                        if a.helo != b.helo:
                            assert a.received_at < b.mail_at or b.received_at < a.mail_at, (recipient, a, b)
                # At least once; twice only for a delivery node 1 held at the kill, whose message
                # the sink took (250) before the kill but whose attempt node 1 never recorded.
                if len(sent) > 1:
                    assert delivery_id in held, (recipient, sent)
                    first, second = sorted(sent, key=lambda t: t.mail_at)
                    assert len(sent) == 2 and first.helo == HELO["node-1"] and first.received_at <= killed_at
                    assert second.helo == HELO["node-2"]
                # The recorded attempts: one, the one that delivered, by the node whose session
                # the sink's last copy came over, after that copy's 250.
                attempts = views[delivery_id]["attempts"]
                assert [a["node"] for a in attempts] == [NODE_OF_HELO[sent[-1].helo or ""]], attempts
                assert attempts[0]["timestamp"] >= round(sent[-1].received_at, 3) - 0.001
            # Node 1's work was finished by node 2, only after node 1's lease on it had run out.
            for delivery_id, lease_until in held.items():
                [attempt] = views[delivery_id]["attempts"]
                assert attempt["node"] == "node-2"
                by_two = [t for t in by_recipient[recipients[delivery_id]] if t.helo == HELO["node-2"]]
                assert len(by_two) == 1 and by_two[0].mail_at >= lease_until, (delivery_id, lease_until, by_two)
            assert len(sink.transactions) <= len(stored) + len(held)

            # Every event posted to the loop at least once, wherever it was recorded: node 1's
            # leased posts are posted by node 2 once their lease ran out.
            def posted() -> set[str]:
                return {a.fields["id"] for a in hooks.unique("/events").values() if a.fields["type"] == "delivery"}

            wait_for(lambda: posted() >= set(stored), timeout=30, what="a post of every event")

            # Node 1 comes back on its data folder: it rejoins and writes its own remaining events.
            dead = nodes(two)["node-1"]
            assert not dead["alive"] and dead["heartbeat_age"] >= time.time() - killed_at - 1
            one.start()
            assert one.process is not None
            wait_for(lambda: nodes(two)["node-1"]["alive"], timeout=10, what="node 1 alive again")
            assert nodes(one)["node-1"]["pid"] == one.process.pid
            wait_for(lambda: set(logged_ids([one, two])) >= set(stored), timeout=20, what="every event logged")
            time.sleep(1)  # a line written twice would be written by now
            logged = logged_ids([one, two])
            twice = {
                line["id"]: line
                for server in (one, two)
                for line in server.log("deliveries")
                if logged.count(line["id"]) > 1
            }
            assert sorted(logged) == sorted(stored), twice  # each event in exactly one node's files
            for server in (one, two):
                for line in server.log("deliveries"):
                    assert line["node"] == server.settings.node.name
                    assert views[line["id"]]["attempts"][0]["node"] == line["node"]
            assert all(n["alive"] for n in nodes(one).values())
            assert "Traceback" not in two.stderr()


# ---- the database away for ten seconds --------------------------------------------------------

OUTAGE = 10.0


def readiness(server: Server) -> tuple[int, Any]:
    """`GET /readyz` of a node, and `/healthz` with it, which stays 200 throughout."""
    with server.api() as api:
        assert api.get("/healthz").status_code == 200
        response = api.get("/readyz", timeout=10)
        return response.status_code, response.json()


def test_a_database_outage_refuses_submissions_loses_nothing_and_every_node_recovers(
    tmp_path: Path, pg_cluster: PrivateCluster, pg_url: str, hooks: Receiver, sink: Sink
) -> None:
    changes = node_changes(sink, node__heartbeat=config.Duration(0.5))
    one = Server(tmp_path / "node1", store=pg_url, node__name="node-1", delivery__helo_name=HELO["node-1"], **changes)
    two = Server(tmp_path / "node2", like=one, node__name="node-2", delivery__helo_name=HELO["node-2"], **changes)
    with one, two:
        add_loop(one, hooks, "/events")
        processes = {server.settings.node.name: (server.process, server.worker_pids()) for server in (one, two)}
        load = Load([one, two], messages=10_000, pause=0.1, keep_going=True).start()
        try:
            wait_for(lambda: all(load.outcomes[c] for c in load.outcomes), timeout=20, what="every client to submit")
            stopping_at = time.time()  # the server refuses new sessions from here on
            pg_cluster.stop()
            stopped_at = time.time()  # and is gone from here on
            # A load balancer asking /readyz takes the nodes out; /healthz keeps them alive.
            ready = {server.settings.node.name: readiness(server) for server in (one, two)}
            time.sleep(max(0.0, stopped_at + OUTAGE - time.time()))
            started_at = time.time()
            pg_cluster.start()
            for name, (status, problem) in ready.items():
                assert status == 503 and problem["type"] == "urn:returnpath:problem:unavailable", (name, problem)

            # Every node takes submissions again, through both doors, by itself.
            def recovered() -> bool:
                return all(any(o.accepted and o.started > started_at for o in load.outcomes[c]) for c in load.outcomes)

            wait_for(recovered, timeout=30, interval=0.2, what="submissions to succeed again on every node")
            time.sleep(1)
        finally:
            pg_cluster.start()
            load.stop()

        for client, outcomes in load.outcomes.items():
            refused = [o for o in outcomes if o.refusal]
            during = [o for o in refused if stopped_at < o.started < started_at]
            assert during, f"{client} was never refused while the database was away"
            for outcome in refused:
                # Refused only around the outage, and as the README says: 4xx with an enhanced
                # status over SMTP, a 503 problem over HTTP.
                assert stopping_at < outcome.ended and outcome.started < started_at + 30, (client, outcome)
                if client.endswith("/smtp"):
                    code, _, text = outcome.refusal.partition(" ")
                    assert code.startswith("4") and ENHANCED.match(text), (client, outcome.refusal)
                else:
                    assert outcome.refusal.startswith("503 application/problem+json "), (client, outcome.refusal)
            # Nothing confirmed that could not have been stored: no 250 or 200 for a submission
            # made and answered entirely while the database was away.
            assert not [o for o in outcomes if o.accepted and o.started > stopped_at and o.ended < started_at]

        accepted = load.accepted()
        stored = stored_deliveries(pg_url)
        assert set(accepted) <= set(stored)  # nothing confirmed was lost
        views = one.wait_final(accepted, timeout=60)
        assert {view["state"] for view in views.values()} == {"delivered"}
        received = {two.token_of(t.mail_from) for t in sink.transactions}
        assert set(accepted) <= received
        wait_for(lambda: set(logged_ids([one, two])) >= set(accepted), timeout=30, what="every event logged")
        logged = logged_ids([one, two])
        assert len(logged) == len(set(logged))  # each event once

        def posted() -> set[str]:
            return {a.fields["id"] for a in hooks.unique("/events").values() if a.fields["type"] == "delivery"}

        wait_for(lambda: posted() >= set(accepted), timeout=30, what="a post of every event")

        assert [readiness(server) for server in (one, two)] == [(200, {"status": "ready"})] * 2
        # Every node carried on without a restart: the same supervisor and workers, beating again.
        for server in (one, two):
            name = server.settings.node.name
            process, workers = processes[name]
            assert server.process is process and server.running
            assert server.worker_pids() == workers, server.stderr()
            assert "exited with" not in server.stderr()
        # Both alive, each with a heartbeat recorded since the database came back.
        listed = nodes(two)
        assert all(n["alive"] and n["heartbeat_age"] < time.time() - started_at for n in listed.values()), listed
        assert sorted(nodes(one)) == ["node-1", "node-2"]


def test_a_node_stopped_while_the_database_is_away_stops_cleanly(
    tmp_path: Path, pg_cluster: PrivateCluster, pg_url: str, sink: Sink
) -> None:
    """An operator stops `serve` during an outage of the database (to restart it, or because
    the machine shuts down): each worker cannot give back its leases, which then run out as a
    killed node's do. That is said in one line, not in a traceback per worker, and `serve`
    stops as asked; `returnpath nodes` meanwhile names the database it cannot reach."""
    server = Server(tmp_path / "node1", store=pg_url, node__name="node-1", **node_changes(sink))
    server.start()
    try:
        pg_cluster.stop()
        listed = server.cli("nodes")
        assert listed.returncode == 1 and listed.stdout == "", listed
        assert listed.stderr.startswith(f"returnpath: cannot connect to the database {config.display_url(pg_url)}: ")
        assert listed.stderr.count("\n") == 1, listed.stderr
        assert server.stop(timeout=60) == 0, server.stderr()
    finally:
        pg_cluster.start()
    stderr = server.stderr()
    assert "Traceback" not in stderr, stderr
    assert "leases run out instead of being released" in stderr, stderr
