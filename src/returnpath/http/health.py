"""Health, without authentication: `GET /healthz` (liveness) and `GET /readyz` (readiness).

`/healthz`: the process answers HTTP, and how the log writer is doing; no store access (the log
writer's state is what the worker's `LogWatch` last read). It answers 200 while the process
serves, also when the log writer is stalled: the API and delivery work on, nothing is lost, and
a load balancer should not take the relay out of service for it. Monitoring reads `status`:
"degraded" says that something needs a person.

`/readyz`: whether this node can take mail now, that is, whether its store answers. While the
database is away every submission is refused (SMTP 4xx, HTTP 503), so a load balancer that asks
`/readyz` sends the traffic to a node that can take it, and a process supervisor that asks
`/healthz` does not restart a node that only waits for its database: it recovers by itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import StoreError
from ..logs import LogWatch
from ..usecases.relay import Relay
from .problems import RETRY_AFTER_OUTAGE, Problem

#: Seconds the store has to answer /readyz: a load balancer's probe waits some seconds, and a
#: store that takes longer is as good as away for a client that submits.
READY_WITHIN = 2.0


async def healthz(request: Request) -> JSONResponse:
    watch: LogWatch | None = getattr(request.app.state, "log_watch", None)
    if watch is None:  # an app without the supervisor's log writer (tests, embedding)
        return JSONResponse({"status": "ok"})
    logs = watch.report()
    return JSONResponse({"status": "ok" if logs["state"] == "ok" else "degraded", "logs": logs})


async def readyz(request: Request) -> Response:
    relay: Relay = request.app.state.relay
    try:
        await asyncio.wait_for(relay.store.newest_event_id(), READY_WITHIN)
    except (StoreError, TimeoutError) as exc:
        why = f"did not answer within {READY_WITHIN:g} s" if isinstance(exc, TimeoutError) else "is unavailable"
        headers = {"Retry-After": str(RETRY_AFTER_OUTAGE)}
        return Problem("unavailable", f"the store {why}: submissions are refused", headers=headers).response()
    return JSONResponse({"status": "ready"})


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]

paths: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "health",
            "summary": "Liveness: answers 200 while the process serves HTTP; says whether the log writer is stalled",
            "security": [],
            "responses": {
                "200": {
                    "description": "alive; `status` is `degraded` when the log writer is stalled or unknown",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status"],
                                "properties": {
                                    "status": {"enum": ["ok", "degraded"]},
                                    "logs": {
                                        "type": "object",
                                        "required": ["state"],
                                        "properties": {
                                            "state": {"enum": ["ok", "stalled", "unknown"]},
                                            "stalled_for": {
                                                "type": "integer",
                                                "description": "seconds events have waited without the writer moving on",
                                            },
                                            "cursor": {"type": "integer", "description": "the last event written"},
                                            "error": {
                                                "type": "string",
                                                "description": "why the store could not be read",
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                }
            },
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readiness",
            "summary": "Readiness: 200 while the store answers and this node takes mail; a 503 problem while it does not",
            "security": [],
            "responses": {
                "200": {
                    "description": "the store answered: submissions are taken",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"const": "ready"}},
                            }
                        }
                    },
                },
                "503": {"$ref": "#/components/responses/Unavailable"},
            },
        }
    },
}
