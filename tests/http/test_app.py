"""The app as a whole: health, unknown routes and methods, the OpenAPI description, stopping."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx
from starlette.routing import Route

from returnpath.config import Settings
from returnpath.http import create_app, serve_http
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases import accounts
from returnpath.usecases.relay import Relay

from .conftest import assert_problem

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


async def test_healthz_needs_no_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_unknown_routes_and_methods_are_problems(anonymous: httpx.AsyncClient) -> None:
    assert_problem(await anonymous.get("/v1/nothing"), 404, "not-found")
    assert_problem(await anonymous.post("/v1/send/"), 404, "not-found")
    response = await anonymous.get("/v1/send")
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in _refs(value)]
    return [r for value in node for r in _refs(value)] if isinstance(node, list) else []


async def test_openapi_describes_exactly_the_routes(
    anonymous: httpx.AsyncClient, relay: Relay, settings: Settings
) -> None:
    spec = (await anonymous.get("/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    app = create_app(relay, settings)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    described = {(path, method) for path, item in spec["paths"].items() for method in item if method in METHODS}
    assert served == described
    for ref in _refs(spec):  # every $ref points at something that exists
        node: Any = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
    schemes = set(spec["components"]["securitySchemes"])
    assert {
        name
        for item in spec["paths"].values()
        for op in item.values()
        for requirement in op["security"]
        for name in requirement
    } <= schemes


async def test_serve_http_stops_cleanly(relay: Relay, settings: Settings) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    server = await serve_http(create_app(relay, settings), settings, sock)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        await server.stop()
        try:
            await http.get(f"http://127.0.0.1:{port}/healthz")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("still serving after stop")


async def test_a_store_outage_is_503_with_retry_after(client: httpx.AsyncClient, store: Any) -> None:
    await store.close()
    response = await client.get("/v1/events")
    assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"].isdigit()
    assert "database" not in response.text  # the store's own message stays in the log


async def test_an_unexpected_error_is_500_without_internals(
    client: httpx.AsyncClient, relay: Relay, monkeypatch: Any
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(relay, "submit", broken)
    response = await client.post("/v1/send", json={"recipient": "x@example.net", "mime": "From: a@b.example\n\nx\n"})
    assert_problem(response, 500, "internal-error")
    assert "secret" not in response.text


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation that takes a token, with its path parameters filled in."""
    return [
        (method, re.sub(r"\{[^}]+\}", "01m8t4000000000000000000zz", path), operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS and operation["security"]
    ]


async def test_every_operation_answers_as_documented_to_what_any_call_can_get_wrong(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient, store: SqliteStore
) -> None:
    """An unknown query parameter (a misspelt filter) is a 400 naming it on every endpoint, not
    only on the listings; a disabled account gets 403 from every one; a body that is not JSON
    415. Each of these answers is in the operation's description, as a problem document."""
    spec = (await anonymous.get("/v1/openapi.json")).json()
    operations = _operations(spec)
    assert len(operations) > 15
    for method, path, operation in operations:
        body = {"json": {}} if "requestBody" in operation else {}
        assert_problem(
            await client.request(method, path, params={"colour": "red"}, **body), 400, "invalid-field", "colour"
        )
        assert "400" in operation["responses"], (method, path)
        if "requestBody" in operation:
            form = await client.request(method, path, content=b"a=1", headers={"Content-Type": "text/plain"})
            assert_problem(form, 415, "unsupported-media-type")
            assert {"413", "415"} <= set(operation["responses"]), (method, path)
    await accounts.set_disabled(store, "app", True)
    for method, path, operation in operations:
        body = {"json": {}} if "requestBody" in operation else {}
        assert_problem(await client.request(method, path, **body), 403, "account-disabled")
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
