"""Nodes: `returnpath nodes` and `returnpath migrate` beside a running `serve`, on the embedded
SQLite store (one node) and on PostgreSQL (nodes sharing one database)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.postgres import PrivateCluster

import returnpath
from tests.delivery.sinks import Sink
from tests.dkim.verifiers import dkimpy
from tests.dns_server import DnsServer, dns_server, txt  # noqa: F401 - a fixture
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, run_cli, wait_for


def _nodes(result: Any) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_serving_node_is_listed_alive_with_its_heartbeat(make_server: ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, node__name="edge-1", node__heartbeat=0.5, delivery__routes={"*": sink.route})
    [node] = wait_for(lambda: _nodes(server.cli("nodes", "--json")), what="a heartbeat")
    assert node["name"] == "edge-1" and node["alive"] is True
    assert f"submission={server.settings.smtp.submission.listen}" in node["listen"]
    first = node["heartbeat"]
    wait_for(lambda: _nodes(server.cli("nodes", "--json"))[0]["heartbeat"] != first, what="the next heartbeat")
    # Attempts and events name the node that made them.
    message = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhi\r\n"
    [delivery_id] = server.submit_smtp("a@example.com", ["b@example.net"], message).values()
    server.wait_final([delivery_id])
    shown = server.delivery(delivery_id)
    assert [a["node"] for a in shown["attempts"]] == ["edge-1"]
    server.wait_logged("deliveries", [delivery_id])
    assert [line["node"] for line in server.log_of("deliveries", delivery_id)] == ["edge-1"]


def test_migrate_says_the_store_is_current(make_server: ServerFactory) -> None:
    server = make_server(start=False)
    result = server.cli("migrate")
    assert result.returncode == 0, result.stderr
    newest = max(int(f.name[:4]) for f in MIGRATIONS.glob("[0-9]*.sql"))
    # The file by its whole path: its URL is relative to a data folder the reader may not be in.
    assert f"returnpath: {server.data / 'returnpath.db'} is at schema version {newest}, the newest" in result.stdout


MIGRATIONS = Path(returnpath.__file__).parent / "store" / "sqlite" / "migrations"
MESSAGE = b"From: shop@example.com\r\nTo: b@example.net\r\nSubject: order\r\n\r\nThanks.\r\n"


def test_two_nodes_on_one_postgresql_share_the_work_and_log_each_event_once(
    tmp_path: Path, pg_url: str, sink: Sink
) -> None:
    changes: dict[str, Any] = {"workers": 1, "node__heartbeat": 0.5, "delivery__routes": {"*": sink.route}}
    with Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes) as one:  # noqa: SIM117
        with Server(tmp_path / "node2", like=one, node__name="node-2", **changes) as two:
            ids: list[str] = []
            for server in (one, two):  # submitted through both: one queue, one set of accounts
                for i in range(5):
                    ids += server.submit_smtp("shop@example.com", [f"r{i}@example.net"], MESSAGE).values()
            finals = one.wait_final(ids)
            assert {final["state"] for final in finals.values()} == {"delivered"}
            assert two.delivery(ids[0])["id"] == ids[0]  # either node's API sees every delivery
            one.wait_logged("deliveries", ids[:5])
            two.wait_logged("deliveries", ids[5:])
            # Every event in the files of exactly one node: the one whose worker recorded it.
            logged = [line["id"] for server in (one, two) for line in server.log("deliveries")]
            assert sorted(logged) == sorted(ids)
            assert {line["node"] for line in one.log("deliveries")} == {"node-1"}
            # `returnpath logs` on either node reads every node's events from the store.
            shown = two.cli("logs", "deliveries", "--json")
            everything = [json.loads(line)["id"] for line in shown.stdout.splitlines()]
            assert sorted(everything) == sorted(ids)
            # --lines: the last ones of them, in the same order (as --follow starts, like tail -f).
            for count in (0, 3, 50):
                last = two.cli("logs", "deliveries", "--json", "--lines", str(count))
                assert [json.loads(line)["id"] for line in last.stdout.splitlines()] == everything[
                    len(everything) - count :
                ]
            names = {node["name"]: node for node in _nodes(one.cli("nodes", "--json"))}
            assert sorted(names) == ["node-1", "node-2"] and all(n["alive"] for n in names.values())


def test_a_node_gone_for_good_has_its_events_written_by_a_live_node_and_is_forgotten(
    tmp_path: Path, pg_url: str, sink: Sink
) -> None:
    changes: dict[str, Any] = {
        "workers": 1,
        "node__heartbeat": 0.5,
        "node__takeover_after": 2.0,
        "delivery__routes": {"*": sink.route},
    }
    one = Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes)
    # node-2 cannot write its log files (its log folder, made at start, is then a file), delivers,
    # and dies. (A log folder that cannot be made at start is refused then: test_cli.py.)
    two = Server(tmp_path / "node2", like=one, node__name="node-2", logs__dir="blocked", **changes)
    with two:
        blocked = tmp_path / "node2" / "blocked"
        blocked.rmdir()  # empty: node-2 has recorded no event yet
        blocked.write_text("not a folder\n")
        ids = list(two.submit_smtp("shop@example.com", ["r1@example.net", "r2@example.net"], MESSAGE).values())
        two.wait_final(ids)
        two.kill()

    def refusal() -> str:
        result = one.cli("nodes", "--forget", "node-2")
        assert result.returncode == 1, result.stdout
        return result.stderr

    # Its events are in no log file: it cannot be forgotten (first it may still be alive).
    wait_for(lambda: "2 events of node 'node-2' are in no log file yet" in refusal(), what="node-2 taken for gone")
    with one:
        one.wait_logged("deliveries", ids)  # node-1 wrote them, once, naming who recorded them
        assert sorted(line["id"] for line in one.log("deliveries")) == sorted(ids)
        assert {line["node"] for line in one.log("deliveries")} == {"node-2"}
        forgotten = one.cli("nodes", "--forget", "node-2")
        assert forgotten.returncode == 0, forgotten.stderr
        assert [node["name"] for node in _nodes(one.cli("nodes", "--json"))] == ["node-1"]
        assert "node node-2 has been silent for more than 2 s: this node writes its events" in one.stderr()


def test_a_domain_added_on_one_node_is_signed_for_by_the_other(
    tmp_path: Path,
    pg_url: str,
    sink: Sink,
    dns_server: DnsServer,  # noqa: F811
) -> None:
    changes: dict[str, Any] = {"workers": 1, "delivery__routes": {"*": sink.route}}
    with Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes) as one:  # noqa: SIM117
        with Server(tmp_path / "node2", like=one, node__name="node-2", **changes) as two:
            added = one.cli("domains", "add", "example.com", "--json")
            assert added.returncode == 0, added.stderr
            for record in json.loads(added.stdout)["records"][:2]:  # the DKIM key records, as printed
                dns_server.zone[record["name"]] = [txt(*re.findall(r'"([^"]*)"', record["value"]))]
            # No key file was written, none copied: node 2 signs with the keys in the store.
            assert not list(tmp_path.rglob("domains/*/*.pem"))
            two.submit_smtp("shop@example.com", ["signed@example.net"], MESSAGE)
            received = wait_for(
                lambda: next((t for t in sink.transactions if t.rcpt_to == ["signed@example.net"]), None),
                what="the signed message at the sink",
            )
            selectors = json.loads(added.stdout)["selectors"]
            assert dkimpy(received.data, dns_server) == dict.fromkeys(selectors.values(), "pass")


def test_a_second_node_with_a_live_nodes_name_is_refused_and_takes_nothing_from_it(
    tmp_path: Path, pg_url: str, sink: Sink
) -> None:
    """A copied returnpath.toml whose [node] name was not changed: the copy would release the
    live node's leases at its start, so both would send what it holds. It is refused instead."""
    changes: dict[str, Any] = {"workers": 1, "node__heartbeat": 0.5, "delivery__routes": {"*": sink.route}}
    sink.hang("eom")  # node-1 holds the delivery, in the middle of its attempt
    with Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes) as one:
        one.submit_smtp("shop@example.com", ["held@example.net"], MESSAGE)
        wait_for(lambda: _nodes(one.cli("nodes", "--json"))[0]["holds"]["deliveries"] == 1, what="node-1 to hold it")
        copy = Server(tmp_path / "node2", like=one, node__name="node-1", **changes)
        result = copy.cli("serve")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "returnpath: [node] name = 'node-1' is in use: the node on host " in result.stderr
        assert "give every node its own [node] name in its returnpath.toml" in result.stderr
        [node] = _nodes(one.cli("nodes", "--json"))
        assert node["holds"]["deliveries"] == 1 and node["listen"].startswith(
            f"submission={one.settings.smtp.submission.listen}"
        )
        one.stop()
    # Its own previous run, stopped (or killed) a moment ago on this host, holds the name no more.
    with copy:
        assert copy.running


def test_a_second_node_on_the_same_machine_with_a_worker_per_core_is_warned(
    tmp_path: Path, pg_url: str, sink: Sink
) -> None:
    """A copied returnpath.toml keeps `workers = 0`: every node on the machine then starts a
    worker per core, more processes than cores (docs/scaling.md). The node says so at start,
    and a node whose `workers` is set, or that runs alone, does not."""
    warning = "run on this machine too, and with `workers = 0` this node starts one worker per core"
    changes: dict[str, Any] = {"node__heartbeat": 0.5, "delivery__routes": {"*": sink.route}}
    with Server(tmp_path / "node1", store=pg_url, node__name="node-1", workers=0, **changes) as one:
        wait_for(lambda: _nodes(one.cli("nodes", "--json")), what="node-1's heartbeat")
        with Server(tmp_path / "node2", like=one, node__name="node-2", workers=0, **changes) as two:
            assert f"node(s) 'node-1' {warning} ({two.workers})" in two.stderr()
            assert "give each node its share of the cores with `workers`" in two.stderr()
        with Server(tmp_path / "node3", like=one, node__name="node-3", workers=1, **changes) as three:
            assert "run on this machine too" not in three.stderr()
    assert "run on this machine too" not in one.stderr()


@pytest.mark.parametrize("made", ["mail sent", "a domain added"])
def test_a_node_with_another_secret_is_refused(tmp_path: Path, pg_url: str, sink: Sink, made: str) -> None:
    """A second node whose secret is not the first's would send envelopes that the first
    node's inbound server refuses (and refuse the first node's bounces), and could not open
    the DKIM keys: refused at start, whether the store has sent mail yet or has only keys."""
    changes: dict[str, Any] = {"workers": 1, "delivery__routes": {"*": sink.route}}
    with Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes) as one:
        if made == "mail sent":
            [sent] = one.submit_smtp("shop@example.com", ["r@example.net"], MESSAGE).values()
            one.wait_final([sent])
        else:
            added = one.cli("domains", "add", "example.com")
            assert added.returncode == 0, added.stderr
        other = Server(tmp_path / "node2", like=one, node__name="node-2", secret="another-secret-" * 3, **changes)
        result = other.cli("serve")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "returnpath: secret differs from the one the store's mail and DKIM keys were made with" in result.stderr
        assert [node["name"] for node in _nodes(one.cli("nodes", "--json"))] == ["node-1"]
        # With the first node's secret, as the README says, the same copy starts.
        same = Server(tmp_path / "node3", like=one, node__name="node-3", **changes)
        with same:
            assert same.running


def test_a_role_that_may_not_create_the_tables_is_told_so(
    tmp_path: Path, pg_cluster: PrivateCluster, pg_url: str
) -> None:
    """The README asks for a database made beforehand for the role (`createdb -O rp
    returnpath`). One made by another role (PostgreSQL 15 lets only the owner create tables in
    it) fails at the first CREATE TABLE: `init` and `migrate` say that the role lacks the
    right, and how to give it, in one line; not that the database is unavailable, which sends
    the operator looking for an outage. Nothing is left half made."""
    role = f"r_{uuid.uuid4().hex[:12]}"
    pg_cluster.psql(f'CREATE ROLE "{role}" LOGIN')
    url = re.sub(r"//[^@]*@", f"//{role}@", pg_url, count=1)
    try:
        data = tmp_path / "node1"
        made = run_cli("init", "--data", str(data), "--bounce-domain", "bounces.example.test", "--store", url)
        config_path = tmp_path / "returnpath.toml"
        config_path.write_text(
            f'bounce_domain = "bounces.example.test"\nsecret = "{"s" * 32}"\n[storage]\nurl = "{url}"\n'
        )
        migrated = run_cli("migrate", "--config", str(config_path))
        for result in (made, migrated):
            assert result.returncode == 1 and result.stdout == "", result
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
            assert result.stderr.startswith(f"returnpath: the role {role!r} may not create returnpath's tables in "), (
                result.stderr
            )
            assert "permission denied for schema public" in result.stderr
            assert "createdb -O" in result.stderr and "unavailable" not in result.stderr
        assert not data.exists()
        assert (
            pg_cluster.psql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", pg_url.rsplit("/", 1)[1]
            ).strip()
            == "0"
        )
    finally:
        pg_cluster.psql(f'DROP ROLE "{role}"')


def _quiet_node(tmp_path: Path, pg_url: str, sink: Sink) -> Server:
    """One node of one worker whose heartbeat comes once a minute: what a test reads of the
    nodes is what the node did at its start or stop, not a heartbeat between."""
    changes: dict[str, Any] = {
        "workers": 1,
        "node__heartbeat": 60,
        "node__takeover_after": 600,
        "delivery__routes": {"*": sink.route},
    }
    return Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes)


def test_a_node_killed_on_this_machine_is_not_listed_alive(tmp_path: Path, pg_url: str, sink: Sink) -> None:
    """After `kill -9` of a node, `returnpath nodes` on the same machine must not call it alive
    until its heartbeat is old: `serve` and `migrate` already take a node of this machine whose
    process is gone for stopped (node_alive), and the operator who reads `nodes` to see whether
    the node is down, before starting it again or migrating, is to read the same."""
    with _quiet_node(tmp_path, pg_url, sink) as one:
        [node] = wait_for(lambda: _nodes(one.cli("nodes", "--json")), what="a heartbeat")
        assert node["alive"] is True
        one.kill()
        [node] = _nodes(one.cli("nodes", "--json"))
        assert node["alive"] is False and node["heartbeat_age"] < 180, node
        shown = one.cli("nodes")
        assert shown.returncode == 0 and shown.stdout.startswith("node-1 "), shown
        assert " alive " not in shown.stdout and f"pid {node['pid']} gone" in shown.stdout, shown.stdout


def test_a_node_stopped_cleanly_is_listed_no_more_and_migrate_need_not_wait(
    tmp_path: Path, pg_url: str, sink: Sink
) -> None:
    """The upgrade as the README gives it: stop every node, then `migrate`. A node on another
    machine stopped cleanly used to stay listed alive, and `migrate` refused, until its last
    heartbeat was three heartbeats old; a stopped node now leaves, its events all written."""
    with _quiet_node(tmp_path, pg_url, sink) as one:
        [delivery_id] = one.submit_smtp("shop@example.com", ["b@example.net"], MESSAGE).values()
        one.wait_logged("deliveries", [delivery_id])
        [node] = wait_for(lambda: _nodes(one.cli("nodes", "--json")), what="a heartbeat")
        assert node["alive"] is True
        # As if on another machine: `nodes` and `migrate` cannot see that its process is gone.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE nodes SET host = 'elsewhere.example'")
        assert one.stop() == 0
        assert _nodes(one.cli("nodes", "--json")) == []  # so `migrate` (node_alive) waits for nothing
        # And the operator is not told that no node ever ran (it used to say "no heartbeat yet").
        empty = one.cli("nodes")
        assert empty.returncode == 0 and empty.stdout == "", empty
        assert "no node is running" in empty.stderr and "stopped cleanly" in empty.stderr, empty.stderr
        # Started again, it is back, and its log goes on where it was.
        one.start()
        [node] = wait_for(lambda: _nodes(one.cli("nodes", "--json")), what="a heartbeat")
        assert node["name"] == "node-1" and node["alive"] is True
        [again] = one.submit_smtp("shop@example.com", ["c@example.net"], MESSAGE).values()
        one.wait_logged("deliveries", [again])
        assert [line["id"] for line in one.log("deliveries")] == [delivery_id, again]


def test_a_node_with_a_pool_of_one_connection_relays(tmp_path: Path, pg_url: str, sink: Sink) -> None:
    """`[storage] pool_size = 1` is allowed (at least 1), and is what a small PostgreSQL
    (max_connections) shared by many worker processes may need: each process then keeps one
    connection, takes mail and delivers it. Before, every command ended in psycopg_pool's
    ValueError: the pool's minimum (2) was above its maximum."""
    changes: dict[str, Any] = {"workers": 1, "storage__pool_size": 1, "delivery__routes": {"*": sink.route}}
    with Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes) as one:
        [delivery_id] = one.submit_smtp("shop@example.com", ["b@example.net"], MESSAGE).values()
        assert one.wait_final([delivery_id])[delivery_id]["state"] == "delivered"
        queue = one.cli("queue")
        assert queue.returncode == 0 and json.loads(queue.stdout)["delivered"] == 1, queue


def test_store_copy_refuses_a_database_a_node_is_serving(tmp_path: Path, pg_url: str, sink: Sink) -> None:
    """`store copy` into the PostgreSQL database while a node already serves it (started before
    the copy, a natural slip: `serve` makes the tables of an empty database): the copy would
    replace that node's heartbeat and log cursors under it, and hand it mail and DKIM keys made
    with another secret than the one it checked at its start. It is refused, naming the node;
    nothing is copied. Stopped, the node no longer holds the copy back."""
    changes: dict[str, Any] = {"workers": 1, "delivery__routes": {"*": sink.route}}
    old = Server(tmp_path / "old", **changes)  # an SQLite node: the data to move
    target = Server(tmp_path / "node1", store=pg_url, node__name="node-1", **changes)
    removed = target.cli("accounts", "remove", "default")
    assert removed.returncode == 0, removed.stderr  # nothing in it but what serve writes itself
    source = f"sqlite:///{old.data / 'returnpath.db'}"
    with target:
        wait_for(lambda: _nodes(target.cli("nodes", "--json")), what="a heartbeat")
        refused = run_cli("store", "copy", "--from", source, "--to", pg_url)
        assert refused.returncode == 1 and refused.stdout == "", refused
        assert refused.stderr.startswith("returnpath: node-1 (host "), refused.stderr
        assert "is serving the target: stop every node on it first" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        accounts = target.cli("accounts", "list")
        assert accounts.returncode == 0 and accounts.stdout == "", accounts
    copied = run_cli("store", "copy", "--from", source, "--to", pg_url)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["accounts"] == 1
