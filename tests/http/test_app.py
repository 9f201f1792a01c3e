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


async def test_readyz_needs_no_token_and_says_ready_while_the_store_answers(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ready"}


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


def _satisfies_required(schema: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether `body` has the fields `schema` requires (its `required`, allOf and anyOf)."""
    if not set(schema.get("required", ())) <= body.keys():
        return False
    if "anyOf" in schema and not any(_satisfies_required(option, body) for option in schema["anyOf"]):
        return False
    return all(_satisfies_required(part, body) for part in schema.get("allOf", ()))


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property's schema admits (by `type`, `enum` and `oneOf`/`anyOf`)."""
    named = schema.get("type", [])
    types = {named} if isinstance(named, str) else set(named)
    for value in schema.get("enum", ()):
        types.add("boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else "string")
    for option in (*schema.get("oneOf", ()), *schema.get("anyOf", ())):
        types |= _json_types(option)
    return types


_TYPE_OF = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}
_MIME = "From: app@example.com\nSubject: hi\n\nhello\n"
# (body, whether the server takes it)
_SEND_BODIES: list[tuple[dict[str, Any], bool]] = [
    ({}, False),
    ({"mime": _MIME}, False),
    ({"recipients": ["x@example.net"]}, False),
    ({"recipient": "x@example.net", "subject": "hi", "text": "hello"}, False),  # fields without from
    ({"recipients": ["x@example.net"], "mime": _MIME}, True),
    ({"recipient": "x@example.net", "mime": _MIME}, True),
    ({"recipients": "x@example.net", "from": "app@example.com", "text": "hello"}, True),
    ({"recipient": "x@example.net", "mime": _MIME, "tags": "a, b", "trackbounces": "no"}, True),
    ({"recipient": "x@example.net", "mime": _MIME, "trackbounces": 0}, True),
]


async def test_the_send_schema_requires_and_admits_what_the_server_does(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    """Before: the schema required nothing, so clients and generators built from it sent bodies
    the server refused (schemathesis: 1 of 700 generated sends taken), and it said `tags` is a
    list and `trackbounces` a boolean where the server also takes the header's forms."""
    spec = (await anonymous.get("/v1/openapi.json")).json()
    schema = spec["paths"]["/v1/send"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for body, taken in _SEND_BODIES:
        response = await client.post("/v1/send", json=body)
        assert (response.status_code == 200) is taken, (body, response.text)
        assert _satisfies_required(schema, body) is taken, body
        if taken:
            for name, value in body.items():
                assert _TYPE_OF[type(value)] in _json_types(schema["properties"][name]), (name, value)


def _resolve(expression: str, body: Any) -> Any:
    """An OpenAPI runtime expression `$response.body#/json/pointer` on a decoded body."""
    prefix = "$response.body#"
    assert expression.startswith(prefix), expression
    for part in expression.removeprefix(prefix).strip("/").split("/"):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


async def test_the_links_of_what_creates_something_lead_to_it(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Before: no operation had links, so nothing built from the description (a client, or a
    stateful test generator: schemathesis reached 0 of 37 links) knew that the id a send or a
    new loop answers with is the {id} of the operations that read it."""
    settings.webhooks.allow_private_targets = True  # the loop's URL is on loopback: no DNS in tests
    spec = (await anonymous.get("/v1/openapi.json")).json()
    by_id = {
        op["operationId"]: (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }
    makers = {
        "send": ("/v1/send", {"recipients": ["x@example.net"], "mime": _MIME}),
        "createFeedbackLoop": ("/v1/feedback-loops", {"url": "http://127.0.0.1:9/hook", "events": ["bounce"]}),
        "addDomain": ("/v1/domains", {"domain": "example.com"}),
    }
    followed = 0
    for op_id, (path, body) in makers.items():
        _, _, operation = by_id[op_id]
        status, answer = next((s, r) for s, r in operation["responses"].items() if s.startswith("2"))
        assert answer.get("links"), op_id
        made = await client.post(path, json=body)
        assert made.status_code == int(status), made.text
        for link in answer["links"].values():
            method, target, linked = by_id[link["operationId"]]
            in_path = {p["name"] for p in linked.get("parameters", []) if p["in"] == "path"}
            assert set(link["parameters"]) == in_path, link
            if method == "get":
                url = target
                for name, expression in link["parameters"].items():
                    url = url.replace("{" + name + "}", str(_resolve(expression, made.json())))
                assert (await client.get(url)).status_code == 200, (link, url)
                followed += 1
    assert followed >= 4


async def test_every_body_refuses_a_field_it_does_not_take_as_its_schema_says(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    """Before: the schema of POST /v1/domains let any other field through, which the server refuses."""
    spec = (await anonymous.get("/v1/openapi.json")).json()
    with_body = [(m, p, op) for m, p, op in _operations(spec) if "requestBody" in op]
    assert len(with_body) >= 4
    for method, path, operation in with_body:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema.get("additionalProperties") is False, (method, path)
        response = await client.request(method, path, json={"colour": "red"})
        assert_problem(response, 400, "invalid-field", "colour")
