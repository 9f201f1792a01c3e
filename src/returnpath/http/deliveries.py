"""`GET /v1/deliveries/{id}` and `GET /v1/messages/{id}`: where a delivery or a message stands.

An account sees only its own: another account's id is answered 404, like an unknown one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .auth import authenticate
from .state import relay_of
from .views import delivery_json


async def delivery(request: Request) -> JSONResponse:
    account = await authenticate(request)
    view = await relay_of(request).delivery(account, request.path_params["id"].lower())
    return JSONResponse(delivery_json(view))


async def message(request: Request) -> JSONResponse:
    account = await authenticate(request)
    message_id = request.path_params["id"].lower()
    views = await relay_of(request).message_deliveries(account, message_id)
    return JSONResponse({"id": message_id, "deliveries": [delivery_json(v, history=False) for v in views]})


routes = [
    Route("/v1/deliveries/{id}", delivery, methods=["GET"]),
    Route("/v1/messages/{id}", message, methods=["GET"]),
]

_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 26, "maxLength": 26}}
_errors = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}

paths: dict[str, Any] = {
    "/v1/deliveries/{id}": {
        "get": {
            "operationId": "getDelivery",
            "summary": "A delivery (one message to one recipient): state, attempts and events",
            "security": [{"bearer": []}, {"access_token": []}],
            "parameters": [_id],
            "responses": {
                "200": {
                    "description": "the delivery",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Delivery"}}},
                },
                **_errors,
            },
        }
    },
    "/v1/messages/{id}": {
        "get": {
            "operationId": "getMessage",
            "summary": "A message's deliveries, one per recipient (without their history)",
            "security": [{"bearer": []}, {"access_token": []}],
            "parameters": [_id],
            "responses": {
                "200": {
                    "description": "the message",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "deliveries"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "deliveries": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/DeliverySummary"},
                                    },
                                },
                            }
                        }
                    },
                },
                **_errors,
            },
        }
    },
}
