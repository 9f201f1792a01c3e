"""`POST /v1/send`: submit a message, as SMTPeter's call of the same name.

Answers after the message and its deliveries are committed, with the id of the message and of
each recipient's delivery.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.intake import MAX_TAG_LENGTH, MAX_TAGS
from ..core.model import Accepted, Trace
from ..errors import SenderError
from .auth import authenticate
from .body import read_json_object
from .payload import PRESENTATION, UNSUPPORTED, from_field, submission_from
from .problems import from_error
from .state import memory_of, relay_of, settings_of


def accepted_json(accepted: Accepted) -> dict[str, Any]:
    return {
        "id": accepted.message_id,
        "recipients": dict(accepted.deliveries),
        "deliveries": [{"id": delivery, "recipient": recipient} for recipient, delivery in accepted.deliveries],
    }


async def send(request: Request) -> JSONResponse:
    account = await authenticate(request)
    relay, settings = relay_of(request), settings_of(request)
    with memory_of(request).hold() as held:  # the body counts until the message is stored
        payload = await read_json_object(request, settings.http.max_body_size, held)
        submission = submission_from(payload, settings, relay.clock())
        client = request.client.host if request.client else None
        try:
            accepted = await relay.submit(account, submission, Trace("HTTP", client))
        except SenderError as exc:
            raise from_error(exc, _sender_field(exc, payload)) from None
    return JSONResponse(accepted_json(accepted))


def _sender_field(exc: SenderError, payload: dict[str, Any]) -> str:
    """The request field that gave a refused sender: the envelope sender is `envelope` when
    given, else the From address (the `from` field, or the From header in `mime`)."""
    if exc.field == "envelope" or payload.get("envelope"):
        return "envelope"
    return from_field(payload)


routes = [Route("/v1/send", send, methods=["POST"])]

_address = {"type": "string", "format": "email"}
_strings = {"type": "array", "items": {"type": "string"}}
_tag = {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "description": "no control characters"}

paths: dict[str, Any] = {
    "/v1/send": {
        "post": {
            "operationId": "send",
            "summary": "Submit a message for delivery (SMTPeter's /v1/send)",
            "description": "Give `mime` (the whole message; bare LF line endings become CRLF), or build the "
            "message from `from`, `subject`, `text` and `html`. Recipients come from "
            "`recipients` and `recipient` together. A message without Message-ID or Date gets them. "
            "Answers after the commit.",
            "security": [{"bearer": []}, {"access_token": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "recipients": {
                                    "oneOf": [_address, {"type": "array", "items": _address}],
                                    "description": "the recipients: a list, or one address",
                                },
                                "recipient": {**_address, "description": "one recipient (added to recipients)"},
                                "mime": {
                                    "type": "string",
                                    "minLength": 1,
                                    "description": "the complete message: header fields, an empty line, the "
                                    "body; a first line that is no header field is a 400",
                                },
                                "envelope": {
                                    **_address,
                                    "description": "your own bounce address instead of a tracking one",
                                },
                                "trackbounces": {
                                    "oneOf": [
                                        {"type": "boolean"},
                                        {"enum": [0, 1]},
                                        {"type": "string", "description": "true/false, yes/no, on/off, 1/0, any case"},
                                    ],
                                    "default": True,
                                    "description": "use a tracking envelope address per delivery; also 0/1 and "
                                    "the words of the X-Returnpath-Trackbounces header (true/false, yes/no, on/off)",
                                },
                                "tags": {
                                    "oneOf": [
                                        {"type": "array", "maxItems": MAX_TAGS, "items": _tag},
                                        {"type": "string", "description": "comma-separated, as the header writes them"},
                                    ],
                                    "description": "labels kept with every event: a list, or one comma-separated string",
                                },
                                "maxdelivertime": {
                                    "type": "string",
                                    "pattern": r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$",
                                    "description": "UTC `YYYY-MM-DD hh:mm:ss`, still to come: stop retrying after this",
                                },
                                "dsn": {
                                    "description": "delivery status notifications asked of the receivers (RFC "
                                    "3461); also as the header's text, `notify=FAILURE,DELAY; ret=HDRS; envid=abc`. "
                                    "Keywords in any case",
                                    "oneOf": [
                                        {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "properties": {
                                                "notify": {
                                                    "description": "NEVER alone, or any of SUCCESS, FAILURE, DELAY; "
                                                    'also one comma-separated string, "FAILURE,DELAY"',
                                                    "oneOf": [
                                                        {
                                                            "type": "array",
                                                            "items": {"enum": ["NEVER", "SUCCESS", "FAILURE", "DELAY"]},
                                                        },
                                                        {"type": "string"},
                                                    ],
                                                },
                                                "ret": {"enum": ["FULL", "HDRS"]},
                                                "envid": {"type": "string", "maxLength": 100},
                                                "orcpt": {"type": "string", "maxLength": 100},
                                            },
                                        },
                                        {"type": "string"},
                                    ],
                                },
                                "from": {
                                    "type": "string",
                                    "description": "From header, when building the message from fields",
                                },
                                "to": {
                                    "oneOf": [{"type": "string"}, _strings],
                                    "description": "To header (fields only)",
                                },
                                "cc": {
                                    "oneOf": [{"type": "string"}, _strings],
                                    "description": "Cc header (fields only)",
                                },
                                "subject": {"type": "string", "description": "Subject (fields only)"},
                                "text": {"type": "string", "description": "text body (fields only)"},
                                "html": {"type": "string", "description": "HTML body (fields only)"},
                                **{
                                    name: {
                                        "description": "accepted for SMTPeter compatibility and ignored: "
                                        "the message is sent as given"
                                    }
                                    for name in PRESENTATION
                                },
                                **{
                                    name: {
                                        "type": ["array", "null"],
                                        "maxItems": 0,
                                        "description": "not supported: a non-empty list is refused (400), "
                                        "with or without mime; attach files in mime",
                                    }
                                    for name in UNSUPPORTED
                                },
                            },
                            "additionalProperties": False,
                            # At least one recipient, and the message: whole, or the From to build it with.
                            "allOf": [
                                {"anyOf": [{"required": ["recipients"]}, {"required": ["recipient"]}]},
                                {"anyOf": [{"required": ["mime"]}, {"required": ["from"]}]},
                            ],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "stored; every recipient has a delivery",
                    "links": {
                        "message": {
                            "operationId": "getMessage",
                            "parameters": {"id": "$response.body#/id"},
                            "description": "where the message's deliveries stand",
                        },
                        "firstDelivery": {
                            "operationId": "getDelivery",
                            "parameters": {"id": "$response.body#/deliveries/0/id"},
                            "description": "the first recipient's delivery, with its attempts and events",
                        },
                    },
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "recipients", "deliveries"],
                                "properties": {
                                    "id": {"type": "string", "description": "the message id"},
                                    "recipients": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                        "description": "recipient -> delivery id",
                                    },
                                    "deliveries": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {"id": {"type": "string"}, "recipient": {"type": "string"}},
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "413": {"$ref": "#/components/responses/TooLarge"},
                "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                "503": {"$ref": "#/components/responses/UnavailableOrBusy"},
            },
        }
    }
}
