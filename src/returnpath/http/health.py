"""`GET /healthz`: the process answers HTTP, and how the log writer is doing. No authentication,
no store access (the log writer's state is what the worker's `LogWatch` last read).

It answers 200 while the process serves, also when the log writer is stalled: the API and
delivery work on, nothing is lost, and a load balancer should not take the relay out of
service for it. Monitoring reads `status`: "degraded" says that something needs a person.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..logs import LogWatch


async def healthz(request: Request) -> JSONResponse:
    watch: LogWatch | None = getattr(request.app.state, "log_watch", None)
    if watch is None:  # an app without the supervisor's log writer (tests, embedding)
        return JSONResponse({"status": "ok"})
    logs = watch.report()
    return JSONResponse({"status": "ok" if logs["state"] == "ok" else "degraded", "logs": logs})


routes = [Route("/healthz", healthz, methods=["GET"])]

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
    }
}
