"""`/v1/domains`: the account's sending domains (issue 11) and the DNS records to publish.

    GET    /v1/domains              the account's domains
    POST   /v1/domains              add one: {"domain": ..., "bounce_domain": ... (optional)};
                                    201 with its records to publish
    GET    /v1/domains/{domain}     one domain, with its records
    POST   /v1/domains/{domain}/rotate  make its next keys, pending until their records are
                                    seen in DNS (then they sign); 200 with the records
    DELETE /v1/domains/{domain}     stop signing for it (its keys stay in the data folder)

The logic is ../usecases/domains.py, shared with `returnpath domains`. A name that is no domain
is a 400 problem naming its field; a domain configured already (for this account or another)
a 400 `invalid-input`; another account's domain is a 404, like one that does not exist.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.senders import SendingDomain, parse_domain
from ..errors import InputError
from ..usecases import domains
from .auth import authenticate
from .body import read_json_object
from .openapi import links
from .problems import Problem
from .state import relay_of, settings_of

BODY_LIMIT = 4 * 1024
FIELDS = ("domain", "bounce_domain")


async def _with_records(request: Request, domain: SendingDomain) -> dict[str, object]:
    found = await domains.dns_records(relay_of(request).store, settings_of(request), domain)
    return domains.domain_json(domain) | {"records": [record.as_dict() for record in found]}


async def list_domains(request: Request) -> JSONResponse:
    account = await authenticate(request)
    listed = await relay_of(request).store.domains(account.id)
    return JSONResponse({"domains": [domains.domain_json(domain) for domain in listed]})


async def add_domain(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await read_json_object(request, BODY_LIMIT)
    for name, value in body.items():
        if name not in FIELDS:
            raise Problem("invalid-field", f"unknown field {name!r}: a domain has {', '.join(FIELDS)}", field=name)
        if not isinstance(value, str) and not (name == "bounce_domain" and value is None):
            raise Problem("invalid-field", f"{name} must be a string", field=name)
    if not body.get("domain"):
        raise Problem("invalid-field", "domain is required", field="domain")
    domain_name, bounce = _checked(body, "domain") or "", _checked(body, "bounce_domain")
    relay, settings = relay_of(request), settings_of(request)
    # A domain configured already is an InputError from here: "invalid-input", no field.
    domain = await domains.add_domain(relay.store, settings, account, domain_name, time.time(), bounce)
    return JSONResponse(
        await _with_records(request, domain), status_code=201, headers={"Location": f"/v1/domains/{domain.domain}"}
    )


def _checked(body: dict[str, Any], field: str) -> str | None:
    """The body's `field` as a domain name, or None when not given; a problem naming the field
    when it is not a domain name."""
    value = body.get(field)
    if value is None:
        return None
    try:
        return parse_domain(value, field.replace("_", " "))
    except InputError as exc:
        raise Problem("invalid-field", str(exc), field=field) from None


async def get_domain(request: Request) -> JSONResponse:
    account = await authenticate(request)
    domain = await domains.find_domain(relay_of(request).store, account, request.path_params["domain"])
    return JSONResponse(await _with_records(request, domain))


async def rotate_domain(request: Request) -> JSONResponse:
    account = await authenticate(request)
    relay, settings = relay_of(request), settings_of(request)
    name = request.path_params["domain"]
    domain = await domains.rotate_domain(relay.store, settings, account, name, time.time())
    return JSONResponse(await _with_records(request, domain))


async def delete_domain(request: Request) -> Response:
    account = await authenticate(request)
    await domains.remove_domain(relay_of(request).store, account, request.path_params["domain"], time.time())
    return Response(status_code=204)


routes = [
    Route("/v1/domains", list_domains, methods=["GET"]),
    Route("/v1/domains", add_domain, methods=["POST"]),
    Route("/v1/domains/{domain}", get_domain, methods=["GET"]),
    Route("/v1/domains/{domain}", delete_domain, methods=["DELETE"]),
    Route("/v1/domains/{domain}/rotate", rotate_domain, methods=["POST"]),
]

# ---- OpenAPI ---------------------------------------------------------------------------------

_security: list[dict[str, list[str]]] = [{"bearer": []}, {"access_token": []}]
_name = {"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}
_pair = {"type": "object", "properties": {"rsa": {"type": ["string", "null"]}, "ed25519": {"type": ["string", "null"]}}}
_domain: dict[str, Any] = {
    "type": "object",
    "properties": {
        "domain": {"type": "string"},
        "account": {"type": "string"},
        "bounce_domain": {"type": "string", "description": "the domain of its deliveries' envelope senders"},
        "created_at": {"type": "number", "description": "Unix seconds"},
        "state": {"enum": ["active", "rotating"]},
        "selectors": {**_pair, "description": "the DKIM selectors that sign"},
        "pending_selectors": {**_pair, "description": "a rotation's next selectors, not yet signing"},
        "retired": {
            "type": "array",
            "description": "selectors that signed before a rotation; their records may go after removable_after",
            "items": {
                "type": "object",
                "properties": {
                    "selector": {"type": "string"},
                    "name": {"type": "string"},
                    "retired_at": {"type": "number", "description": "Unix seconds"},
                    "removable_after": {"type": "number", "description": "Unix seconds"},
                },
            },
        },
    },
}
_record = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the full name, without the final dot (as providers' forms take it)"},
        "type": {"enum": ["TXT", "MX"]},
        "value": {
            "type": "string",
            "description": "TXT: the strings quoted, as a zone file writes them; MX: preference and host, "
            "the host a full name without the final dot (a zone file needs it added)",
        },
        "purpose": {"type": "string"},
    },
}
_with = {**_domain, "properties": {**_domain["properties"], "records": {"type": "array", "items": _record}}}
_errors = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}


# What an added domain's name leads to.
_domain_links = links("domain", "domain", "getDomain", "rotateDomain", "deleteDomain")


def _op(
    op_id: str,
    summary: str,
    status: str,
    description: str,
    schema: dict[str, Any] | None,
    links: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    if links:
        response["links"] = links
    return {
        "operationId": op_id,
        "summary": summary,
        "security": _security,
        "responses": {status: response, **_errors},
        **extra,
    }


paths: dict[str, Any] = {
    "/v1/domains": {
        "get": _op(
            "listDomains",
            "The account's sending domains",
            "200",
            "the domains",
            {"type": "object", "properties": {"domains": {"type": "array", "items": _domain}}},
            parameters=[],
        ),
        "post": _op(
            "addDomain",
            "Add a sending domain: its DKIM keys are made; the answer lists the records to publish",
            "201",
            "the domain and its records",
            _with,
            _domain_links,
            parameters=[],
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["domain"],
                            "additionalProperties": False,
                            "properties": {
                                "domain": {
                                    "type": "string",
                                    "format": "hostname",
                                    "description": "an internationalised name as its A-label (xn--...)",
                                },
                                "bounce_domain": {
                                    "type": ["string", "null"],
                                    "format": "hostname",
                                    "description": "default: the first label of the instance's bounce domain under it",
                                },
                            },
                        }
                    }
                },
            },
        ),
    },
    "/v1/domains/{domain}": {
        "get": _op(
            "getDomain", "One domain, with the records to publish", "200", "the domain", _with, parameters=[_name]
        ),
        "delete": _op(
            "deleteDomain",
            "Stop signing for the domain; mail accepted before keeps its signature",
            "204",
            "removed",
            None,
            parameters=[_name],
        ),
    },
    "/v1/domains/{domain}/rotate": {
        "post": _op(
            "rotateDomain",
            "Make the domain's next DKIM keys; they sign once their records are seen in DNS",
            "200",
            "the domain, its pending selectors and the records to publish",
            _with,
            parameters=[_name],
        ),
    },
}
