"""`GET /healthz`: the process answers HTTP. No authentication, no store access."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


routes = [Route("/healthz", healthz, methods=["GET"])]

paths: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "health",
            "summary": "Liveness: answers 200 while the process serves HTTP",
            "security": [],
            "responses": {
                "200": {
                    "description": "alive",
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"status": {"const": "ok"}}}}
                    },
                }
            },
        }
    }
}
