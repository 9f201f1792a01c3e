"""Nodes: `returnpath nodes` and `returnpath migrate` beside a running `serve`, on the embedded
SQLite store (one node) and on PostgreSQL (nodes sharing one database)."""

from __future__ import annotations

import json
from typing import Any

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import wait_for


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
