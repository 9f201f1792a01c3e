"""`GET /v1/openapi.json`: the OpenAPI 3.1 description of the API.

Each resource module describes its own paths next to its handlers (`paths`); this module adds
what they share (the error responses, the delivery and event shapes, the two ways to pass a
token) and assembles the document. tests/http checks that it lists exactly the app's routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import __version__
from .problems import MEDIA_TYPE


def _problem_response(description: str, header: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if header:
        response["headers"] = {header: {"schema": {"type": "string"}}}
    return response


_time = {"type": ["string", "null"], "description": "UTC YYYY-MM-DD HH:MM:SS"}
_timestamp = {"type": ["number", "null"], "description": "Unix seconds"}
_nullable_string = {"type": ["string", "null"]}


def times(*names: str) -> dict[str, Any]:
    """The schema of a time given twice, as the JSON views write it: `name` (UTC text) and
    `name_timestamp` (Unix seconds)."""
    return {k: v for name in names for k, v in ((name, _time), (f"{name}_timestamp", _timestamp))}


def links(parameter: str, source: str, *operations: str) -> dict[str, Any]:
    """OpenAPI links from a response to `operations`, each given `parameter` from the response
    body's `source` field: what a new thing's id or name leads to (clients and test
    generators follow them)."""
    return {op: {"operationId": op, "parameters": {parameter: f"$response.body#/{source}"}} for op in operations}


_summary_properties: dict[str, Any] = {
    "id": {"type": "string"},
    "message": {"type": "string"},
    "recipient": {"type": "string"},
    "state": {"enum": ["queued", "deferred", "delivered", "failed"]},
    "sender": {"type": "string", "description": 'the application\'s sender ("" for none)'},
    "envelope": {"type": "string", "description": "the MAIL FROM this delivery is sent with"},
    "own_envelope": {**_nullable_string, "description": "the application's own envelope, if it gave one"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "attempt_count": {"type": "integer"},
    **times("created", "updated", "next_attempt", "expires"),
}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": "the account's API token"},
        "access_token": {
            "type": "apiKey",
            "in": "query",
            "name": "access_token",
            "description": "the API token as a query parameter, as SMTPeter's clients send it",
        },
    },
    "schemas": {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "field": {"type": "string", "description": "the request field or query parameter at fault"},
                "existing": {"type": "string", "description": "a conflict's: the id of what it clashes with"},
            },
        },
        "Attempt": {
            "type": "object",
            "properties": {
                "attempt": {"type": "integer"},
                "time": _time,
                "timestamp": _timestamp,
                "remote": _nullable_string,
                "state": {
                    "enum": ["connect", "ehlo", "starttls", "mail", "rcpt", "data", "eom"],
                    "description": "the SMTP step the attempt reached",
                },
                "code": {"type": ["integer", "null"]},
                "status": _nullable_string,
                "description": {"type": "string", "description": "the remote reply, or what went wrong"},
                "verdict": {"enum": ["accepted", "temporary", "permanent"]},
                "node": {"type": "string", "description": "the node that made the attempt"},
            },
        },
        "Event": {
            "type": "object",
            "required": ["event", "event_id", "id", "message", "time", "timestamp"],
            "additionalProperties": True,
            "properties": {
                "event": {"enum": ["delivery", "deferred", "failure", "bounce", "abuse"]},
                "event_id": {"type": "integer"},
                "id": {"type": "string", "description": "the delivery"},
                "message": {"type": "string"},
                "time": _time,
                "timestamp": _timestamp,
                "envelope": {
                    **_nullable_string,
                    "description": "the MAIL FROM the delivery was sent with (null: returned mail naming none)",
                },
                "own_envelope": {
                    **_nullable_string,
                    "description": "bounce and async failure: the application's own envelope, if it gave one",
                },
            },
        },
        "DeliverySummary": {"type": "object", "properties": _summary_properties},
        "Delivery": {
            "type": "object",
            "properties": {
                **_summary_properties,
                "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            },
        },
    },
    "responses": {
        "BadRequest": _problem_response("the request is malformed or a field is invalid"),
        "Unauthorized": _problem_response("missing or invalid API token", "WWW-Authenticate"),
        "Forbidden": _problem_response(
            "the account is disabled, or the sender is outside its sender domains (`field` names it)"
        ),
        "NotFound": _problem_response("no such thing in this account"),
        "Conflict": _problem_response("it clashes with something the account has (`existing` is its id)"),
        "TooLarge": _problem_response("the body exceeds http.max_body_size"),
        "UnsupportedMediaType": _problem_response("the body is not JSON"),
        "Unavailable": _problem_response("the store is unavailable; try again", "Retry-After"),
        "UnavailableOrBusy": _problem_response(
            "the store is unavailable (`unavailable`), or this server holds as many messages being received as "
            "its message_memory allows (`too-much-mail`); try again after Retry-After",
            "Retry-After",
        ),
    },
}


# What any call with a token can be answered (http/auth.py: a bad token, a disabled account, an
# unknown query parameter), and any call with a body (http/body.py).
_AUTHENTICATED = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
_WITH_BODY = {
    "413": {"$ref": "#/components/responses/TooLarge"},
    "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
}


def _complete(operation: Any) -> Any:
    """The operation with the answers every operation of its kind can give, where its own
    description leaves them out."""
    if not isinstance(operation, dict) or not operation.get("security"):
        return operation
    common = {**_AUTHENTICATED, **(_WITH_BODY if "requestBody" in operation else {})}
    responses = {**common, **operation["responses"]}
    return {**operation, "responses": dict(sorted(responses.items()))}


def document(paths: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI document for these paths."""
    paths = {path: {method: _complete(op) for method, op in item.items()} for path, item in paths.items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "returnpath",
            "version": __version__,
            "description": "An outbound mail relay that knows what happened to every message it sent. "
            "Errors are RFC 9457 problem documents (application/problem+json).",
        },
        "paths": dict(paths),
        "components": COMPONENTS,
    }


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


routes = [Route("/v1/openapi.json", openapi, methods=["GET"])]

paths: dict[str, Any] = {
    "/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This description of the API",
            "security": [],
            "responses": {
                "200": {
                    "description": "an OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
}
