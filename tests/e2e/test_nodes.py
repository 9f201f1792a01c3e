"""Nodes: `returnpath nodes` and `returnpath migrate` beside a running `serve`, on the embedded
SQLite store (one node) and on PostgreSQL (nodes sharing one database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, wait_for


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
    assert "is at schema version 4, the newest" in result.stdout


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
            assert sorted(json.loads(line)["id"] for line in shown.stdout.splitlines()) == sorted(ids)
            names = {node["name"]: node for node in _nodes(one.cli("nodes", "--json"))}
            assert sorted(names) == ["node-1", "node-2"] and all(n["alive"] for n in names.values())
