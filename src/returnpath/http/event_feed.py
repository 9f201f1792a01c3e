"""`GET /v1/events`: an account's events, oldest first, a page at a time.

Filters: `type` (repeatable or comma-separated: delivery, deferred, failure, bounce, abuse),
`since` (UTC `YYYY-MM-DD hh:mm:ss`, or Unix seconds) and `after` (an event id). The answer's
`next` is the `after` of the following page; an empty page means there is nothing newer yet.
An `after` beyond the store's newest event is a 400: a cursor kept from before a restore of the
store from a backup would otherwise wait, unaware, for ids already given to newer events.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.events import EventKind
from ..core.intake import parse_time
from ..errors import OptionError
from .auth import authenticate
from .problems import Problem
from .state import relay_of
from .views import event_json

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
KINDS = [kind.value for kind in EventKind]


def _kinds(request: Request) -> list[EventKind]:
    names = [n.strip() for value in request.query_params.getlist("type") for n in value.split(",") if n.strip()]
    for name in names:
        if name not in KINDS:
            raise Problem("invalid-field", f"type {name!r} is not one of {', '.join(KINDS)}", field="type")
    return [EventKind(name) for name in dict.fromkeys(names)]


def _since(request: Request) -> float | None:
    value = request.query_params.get("since")
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return parse_time(value, "since")
        except OptionError as exc:
            raise Problem("invalid-field", f"{exc}, or Unix seconds", field="since") from None
    if not math.isfinite(number):
        raise Problem("invalid-field", "since must be a time", field="since")
    return number


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 19 and low <= int(value) <= high):
        raise Problem("invalid-field", f"{name} must be a whole number from {low} to {high}", field=name)
    return int(value)


async def events(request: Request) -> JSONResponse:
    account = await authenticate(request, "type", "since", "after", "limit", repeatable=("type",))
    kinds, since = _kinds(request), _since(request)
    after = int_param(request, "after", 0, 0, 2**63 - 1)
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    relay = relay_of(request)
    page = await relay.events(account, kinds=kinds, since=since, after=after, limit=limit)
    if not page and not await relay.cursor_known(after):
        raise Problem(
            "invalid-field",
            f"after: no event of this store has id {after} or higher: a cursor from another store, or from before "
            "this one was restored from a backup; start again from since= (a time) or after=0",
            field="after",
        )
    return JSONResponse({"events": [event_json(e) for e in page], "next": page[-1].id if page else after})


routes = [Route("/v1/events", events, methods=["GET"])]

paths: dict[str, Any] = {
    "/v1/events": {
        "get": {
            "operationId": "listEvents",
            "summary": "The account's events (outcomes of deliveries), oldest first",
            "security": [{"bearer": []}, {"access_token": []}],
            "parameters": [
                {
                    "name": "type",
                    "in": "query",
                    "description": "event types; repeat or separate with commas",
                    "style": "form",
                    "explode": True,
                    "schema": {"type": "array", "items": {"enum": KINDS}},
                },
                {
                    "name": "since",
                    "in": "query",
                    "description": "UTC `YYYY-MM-DD hh:mm:ss` or Unix seconds",
                    "schema": {"type": "string"},
                },
                {
                    "name": "after",
                    "in": "query",
                    "description": "only events after this event id (`next` of the previous page); one beyond "
                    "the store's newest event (a cursor kept from before a restore) is a 400",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                },
            ],
            "responses": {
                "200": {
                    "description": "a page of events",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["events", "next"],
                                "properties": {
                                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                                    "next": {"type": "integer", "description": "pass as `after` for the next page"},
                                },
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "503": {"$ref": "#/components/responses/Unavailable"},
            },
        }
    }
}
