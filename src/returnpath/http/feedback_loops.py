"""`/v1/feedback-loops`: the account's feedback loops (webhooks), and what was posted to them.

    GET    /v1/feedback-loops                          the account's loops
    POST   /v1/feedback-loops                          a new loop: 201, with its secret (shown once)
    GET    /v1/feedback-loops/{id}                     one loop
    PATCH  /v1/feedback-loops/{id}                     change url, events, format, active
    DELETE /v1/feedback-loops/{id}                     remove it, with what it had still to post
    POST   /v1/feedback-loops/{id}/secret              rotate the secret (the new one is shown once)
    POST   /v1/feedback-loops/{id}/test                post one signed sample event now
    GET    /v1/feedback-loops/{id}/posts               its posts: pending, in flight, done, dead
                                                       (also at .../deliveries, the name of 0.1)
    POST   /v1/feedback-loops/{id}/replay              post every dead one again
    POST   /v1/feedback-loops/{id}/posts/{item}/replay        post one again (or .../deliveries/...)

The checks are those of ../loops.py, shared with the CLI; a bad setting is a 400 problem that
names its `field`. An account has one loop per URL: a second (created, or changed to the URL
of another) is a 409 problem whose `existing` is the id of the loop with that URL. Another
account's loop is a 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..usecases.loops import ITEM_STATES, MAX_LISTED, Loops
from ..webhooks.h11poster import H11Poster
from ..webhooks.targets import MAX_URL_LENGTH
from .auth import authenticate
from .body import read_json_object
from .event_feed import KINDS, int_param
from .openapi import links, times
from .problems import Problem
from .state import settings_of
from .views import loop_delivery_json, loop_json

BODY_LIMIT = 64 * 1024
FIELDS = ("url", "events", "format", "active")


def loops_of(request: Request) -> Loops:
    return cast(Loops, request.app.state.loops)


async def _settings_body(request: Request, *, required: tuple[str, ...]) -> dict[str, Any]:
    body = await read_json_object(request, BODY_LIMIT)
    for name in body:
        if name not in FIELDS:
            raise Problem("invalid-field", f"unknown field {name!r}: a loop has {', '.join(FIELDS)}", field=name)
    for name in required:
        if body.get(name) is None:
            raise Problem("invalid-field", f"{name} is required", field=name)
    for name, value in body.items():
        if value is None:
            raise Problem("invalid-field", f"{name} must not be null (leave it out to keep it as it is)", field=name)
    return body


async def list_loops(request: Request) -> JSONResponse:
    account = await authenticate(request)
    return JSONResponse({"loops": [loop_json(loop) for loop in await loops_of(request).list(account)]})


async def create_loop(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await _settings_body(request, required=("url", "events"))
    loop = await loops_of(request).create(
        account, body["url"], body["events"], body.get("format", "form"), body.get("active", True)
    )
    return JSONResponse(
        loop_json(loop, secret=True), status_code=201, headers={"Location": f"/v1/feedback-loops/{loop.id}"}
    )


async def get_loop(request: Request) -> JSONResponse:
    account = await authenticate(request)
    return JSONResponse(loop_json(await loops_of(request).get(account, request.path_params["id"])))


async def update_loop(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await _settings_body(request, required=())
    loop = await loops_of(request).update(account, request.path_params["id"], **body)
    return JSONResponse(loop_json(loop))


async def delete_loop(request: Request) -> Response:
    account = await authenticate(request)
    await loops_of(request).remove(account, request.path_params["id"])
    return Response(status_code=204)


async def rotate_secret(request: Request) -> JSONResponse:
    account = await authenticate(request)
    loop = await loops_of(request).rotate_secret(account, request.path_params["id"])
    return JSONResponse(loop_json(loop, secret=True))


async def post_sample(request: Request) -> JSONResponse:
    account = await authenticate(request, "event")
    kind = request.query_params.get("event")
    timeout = settings_of(request).webhooks.timeout
    poster = H11Poster(timeout=timeout, per_endpoint=1)
    try:
        answer = await loops_of(request).test(account, request.path_params["id"], poster, kind)
    finally:
        await poster.close()
    return JSONResponse({"ok": answer.ok, "status": answer.status, "error": answer.error})


async def posts(request: Request) -> JSONResponse:
    account = await authenticate(request, "state", "limit", "before")
    state = request.query_params.get("state") or None
    limit = int_param(request, "limit", 100, 1, MAX_LISTED)
    before = request.query_params.get("before") or None
    loops = loops_of(request)
    items = await loops.deliveries(account, request.path_params["id"], state=state, limit=limit, before=before)
    # `/posts` is the name; `/deliveries` (and its key) stays for the clients of version 0.1.
    key = "posts" if request.url.path.endswith("/posts") else "deliveries"
    # `next`: the `before` of the following page, null when this page is the last.
    after = items[-1].item.id if len(items) == limit else None
    return JSONResponse({key: [loop_delivery_json(view) for view in items], "next": after})


async def replay_one(request: Request) -> JSONResponse:
    account = await authenticate(request)
    await loops_of(request).replay(account, request.path_params["id"], request.path_params["item"])
    return JSONResponse({"replayed": 1}, status_code=202)


async def replay_dead(request: Request) -> JSONResponse:
    account = await authenticate(request)
    count = await loops_of(request).replay_dead(account, request.path_params["id"])
    return JSONResponse({"replayed": count}, status_code=202)


routes = [
    Route("/v1/feedback-loops", list_loops, methods=["GET"]),
    Route("/v1/feedback-loops", create_loop, methods=["POST"]),
    Route("/v1/feedback-loops/{id}", get_loop, methods=["GET"]),
    Route("/v1/feedback-loops/{id}", update_loop, methods=["PATCH"]),
    Route("/v1/feedback-loops/{id}", delete_loop, methods=["DELETE"]),
    Route("/v1/feedback-loops/{id}/secret", rotate_secret, methods=["POST"]),
    Route("/v1/feedback-loops/{id}/test", post_sample, methods=["POST"]),
    Route("/v1/feedback-loops/{id}/posts", posts, methods=["GET"]),
    Route("/v1/feedback-loops/{id}/posts/{item}/replay", replay_one, methods=["POST"]),
    Route("/v1/feedback-loops/{id}/deliveries", posts, methods=["GET"]),
    Route("/v1/feedback-loops/{id}/replay", replay_dead, methods=["POST"]),
    Route("/v1/feedback-loops/{id}/deliveries/{item}/replay", replay_one, methods=["POST"]),
]

# ---- OpenAPI ---------------------------------------------------------------------------------

_security: list[dict[str, list[str]]] = [{"bearer": []}, {"access_token": []}]
_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_item = {
    "name": "item",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "the delivery's `id` (its `webhook_id` without `msg_`)",
}
_events = {"type": "array", "minItems": 1, "items": {"enum": KINDS}}
_loop = {
    "type": "object",
    "required": ["id", "url", "events", "format", "active"],
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
        "events": _events,
        "format": {"enum": ["form", "json"]},
        "active": {"type": "boolean"},
        "secret": {"type": "string", "description": "whsec_ + base64: only when created or rotated"},
    },
}
_delivery = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "webhook_id": {"type": "string", "description": "the webhook-id header"},
        "event_id": {"type": "integer"},
        "type": {"enum": KINDS, "description": "the event's type"},
        "delivery": {"type": "string", "description": "the delivery the event is about"},
        "state": {"enum": list(ITEM_STATES)},
        "attempts": {"type": "integer"},
        "last_status": {"type": ["integer", "null"], "description": "HTTP status of the last answer"},
        "last_error": {"type": ["string", "null"]},
        **times("event", "created", "last_attempt", "next_attempt", "expires"),
    },
}
_settings = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "pattern": "^[hH][tT][tT][pP][sS]?://",
            "maxLength": MAX_URL_LENGTH,
            "description": "http or https; public addresses only unless [webhooks] allow_private_targets. "
            "An account has one loop per URL: the URL of another of its loops is a 409 conflict whose "
            "`existing` is that loop's id (change its events instead)",
        },
        "events": _events,
        "format": {"enum": ["form", "json"], "default": "form"},
        "active": {"type": "boolean", "default": True},
    },
}
_errors = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}
_conflict = {"409": {"$ref": "#/components/responses/Conflict"}}  # where a URL is set: one loop per URL


def _ok(
    description: str, schema: dict[str, Any], status: str = "200", *, links: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if links:
        response["links"] = links
    return {status: response}


# What a new loop's id leads to.
_loop_links = links(
    "id",
    "id",
    "getFeedbackLoop",
    "updateFeedbackLoop",
    "deleteFeedbackLoop",
    "rotateFeedbackLoopSecret",
    "testFeedbackLoop",
    "listFeedbackLoopPosts",
    "replayDeadFeedbackLoopDeliveries",
)


# What /posts and its 0.1 name /deliveries share.
_listing = (
    _id,
    {"name": "state", "in": "query", "schema": {"enum": list(ITEM_STATES)}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LISTED, "default": 100},
    },
    {
        "name": "before",
        "in": "query",
        "description": "the `next` of the previous page: the posts of older events than that post's",
        "schema": {"type": "string"},
    },
)


def _posts(key: str) -> dict[str, Any]:
    """The answer of a listing of posts, under `key`."""
    return _ok(
        "the posts, newest event first",
        {
            "type": "object",
            "required": [key, "next"],
            "properties": {
                key: {"type": "array", "items": _delivery},
                "next": {
                    "type": ["string", "null"],
                    "description": "pass as `before` for the next page; null: this page is the last",
                },
            },
        },
    )


_replayed = _ok("replayed", {"type": "object", "properties": {"replayed": {"type": "integer"}}}, "202")


def _op(
    op_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    params: tuple[dict[str, Any], ...] = (_id,),
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "security": _security,
        "parameters": list(params),
        "responses": {**responses, **_errors},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


paths: dict[str, Any] = {
    "/v1/feedback-loops": {
        "get": _op(
            "listFeedbackLoops",
            "The account's feedback loops (without secrets)",
            _ok("the loops", {"type": "object", "properties": {"loops": {"type": "array", "items": _loop}}}),
            params=(),
        ),
        "post": _op(
            "createFeedbackLoop",
            "Register a URL for events; the answer holds its secret, shown once",
            {**_ok("the new loop, with its secret", _loop, "201", links=_loop_links), **_conflict},
            params=(),
            body={**_settings, "required": ["url", "events"]},
        ),
    },
    "/v1/feedback-loops/{id}": {
        "get": _op("getFeedbackLoop", "One loop", _ok("the loop", _loop)),
        "patch": _op(
            "updateFeedbackLoop",
            "Change a loop; a paused loop (active false) keeps its events until it is resumed. Once "
            "paused or moved to another URL, the old URL gets no more posts but those on the wire",
            {**_ok("the loop", _loop), **_conflict},
            body=_settings,
        ),
        "delete": _op(
            "deleteFeedbackLoop",
            "Remove a loop and what it had still to post; its URL gets no more posts but those on the wire",
            {"204": {"description": "removed"}},
        ),
    },
    "/v1/feedback-loops/{id}/secret": {
        "post": _op(
            "rotateFeedbackLoopSecret",
            "A new signing secret (shown once); posts are signed with it from now on",
            _ok("the loop, with its new secret", _loop),
        )
    },
    "/v1/feedback-loops/{id}/test": {
        "post": _op(
            "testFeedbackLoop",
            "Post one signed sample event to the loop now; nothing is stored or retried",
            _ok(
                "what the loop answered",
                {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "status": {"type": ["integer", "null"]},
                        "error": {"type": ["string", "null"]},
                    },
                },
            ),
            params=(
                _id,
                {
                    "name": "event",
                    "in": "query",
                    "schema": {"enum": KINDS},
                    "description": "the sample's event type (default: one the loop wants)",
                },
            ),
        )
    },
    "/v1/feedback-loops/{id}/posts": {
        "get": _op(
            "listFeedbackLoopPosts",
            "The loop's posts, newest event first, with their last status and error",
            _posts("posts"),
            params=_listing,
        )
    },
    "/v1/feedback-loops/{id}/deliveries": {
        "get": _op(
            "listFeedbackLoopDeliveries",
            "The loop's posts under their old name (0.1); the same as /posts, in a `deliveries` key",
            _posts("deliveries"),
            params=_listing,
        )
    },
    "/v1/feedback-loops/{id}/replay": {
        "post": _op(
            "replayDeadFeedbackLoopDeliveries",
            "Post every dead post of the loop again",
            _ok("how many", {"type": "object", "properties": {"replayed": {"type": "integer"}}}, "202"),
        )
    },
    "/v1/feedback-loops/{id}/posts/{item}/replay": {
        "post": _op(
            "replayFeedbackLoopPost",
            "Post one done or dead post again, with a new retry window",
            _replayed,
            params=(_id, _item),
        )
    },
    "/v1/feedback-loops/{id}/deliveries/{item}/replay": {
        "post": _op(
            "replayFeedbackLoopDelivery",
            "The same as /posts/{item}/replay (the name of 0.1)",
            _replayed,
            params=(_id, _item),
        )
    },
}
