"""Fixtures of the end-to-end tests: sinks, and servers that are stopped after each test.

When a test fails, the stderr of the servers it ran is printed with the failure.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.sinks import module_sink, sink  # noqa: F401
from tests.e2e.harness import Server

ServerFactory = Callable[..., Server]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(node: Any) -> bool:
    return any(getattr(getattr(node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


def _shut(servers: list[Server], show: bool) -> None:
    for server in servers:
        if server.process is not None:
            try:
                server.stop()
            except subprocess.TimeoutExpired:
                server.kill()
        if show:
            print(f"---- stderr of the server in {server.data} ----\n{server.stderr()[-6000:]}")


@pytest.fixture
def make_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """`make_server(**changes)`: a started server on a data folder of its own."""
    servers: list[Server] = []

    def make(name: str = "rp-data", start: bool = True, **changes: Any) -> Server:
        server = Server(tmp_path / name, **changes)
        servers.append(server)
        return server.start() if start else server

    yield make
    _shut(servers, _failed(request.node))


@pytest.fixture(scope="module")
def make_module_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerFactory]:
    """Like make_server, for a server shared by a module's tests."""
    servers: list[Server] = []

    def make(**changes: Any) -> Server:
        server = Server(tmp_path_factory.mktemp("rp-data"), **changes)
        servers.append(server)
        return server.start()

    yield make
    _shut(
        servers, any(_failed(item) for item in request.session.items if getattr(item, "module", None) is request.module)
    )
