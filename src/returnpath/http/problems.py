"""RFC 9457 problem documents: how every error leaves the HTTP API.

Each kind of problem has a `type` URI (`urn:returnpath:problem:<slug>`, stable: clients may
compare it), a fixed `title`, the HTTP status, and a `detail` that says what was wrong with this
request. Validation problems also name the `field` (a JSON field such as `recipients[1]`, or a
query parameter); a conflict names the field and, in `existing`, the id of what it clashes with.

The project's exceptions (../errors.py) are translated here, at the boundary, and so are
Starlette's own 404 and 405; anything else becomes a 500 that reveals nothing of the internals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import errors

log = logging.getLogger("returnpath.http")

TYPE_PREFIX = "urn:returnpath:problem:"
MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_OUTAGE = 5  # seconds a client should wait after a store outage
RETRY_AFTER_BUSY = 5  # seconds a client refused for the load (too many connections, too much mail) should wait

# slug: (status, title)
KINDS: dict[str, tuple[int, str]] = {
    "invalid-body": (400, "The request body is not a JSON object"),
    "invalid-field": (400, "A field is missing, unknown or of the wrong type"),
    "invalid-address": (400, "An address is not valid"),
    "invalid-message": (400, "The message will not be relayed"),
    "invalid-option": (400, "An option has a bad value"),
    "invalid-input": (400, "The request was refused"),
    "unauthorized": (401, "Missing or invalid API token"),
    "account-disabled": (403, "The account is disabled"),
    "sender-not-allowed": (403, "The sender is outside the account's sender domains"),
    "not-found": (404, "Not found"),
    "conflict": (409, "It clashes with something the account has"),  # names it in `existing`
    "method-not-allowed": (405, "Method not allowed"),
    "too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "The request body must be JSON"),
    "unavailable": (503, "The store is unavailable; try again later"),
    "too-many-connections": (503, "Too many connections; try again later"),  # http/guard.py
    # message_memory (core/limits.py) is held by messages being received
    "too-much-mail": (503, "Too much mail is being received at once; try again later"),
    "request-timeout": (408, "The request's line and headers did not arrive in time"),  # http/guard.py
    "malformed-request": (400, "The request is not valid HTTP/1.1"),  # http/guard.py
    "header-too-large": (431, "The request's line and headers are too large"),  # http/guard.py
    "internal-error": (500, "Internal server error"),
}

_BY_ERROR: tuple[tuple[type[errors.ReturnpathError], str], ...] = (
    (errors.AddressError, "invalid-address"),
    (errors.MessageError, "invalid-message"),
    (errors.OptionError, "invalid-option"),
    (errors.SenderError, "sender-not-allowed"),
    (errors.Conflict, "conflict"),
    (errors.LoopError, "invalid-field"),
    (errors.InputError, "invalid-input"),
    (errors.AccountDisabled, "account-disabled"),
    (errors.AuthError, "unauthorized"),
    (errors.NotFound, "not-found"),
    (errors.StoreError, "unavailable"),
)

_BY_STATUS = {status: slug for slug, (status, _) in KINDS.items()}

# RFC 6750 section 3: a 401 names the scheme; a token that was given but refused says so.
WWW_AUTHENTICATE = 'Bearer realm="returnpath"'
WWW_AUTHENTICATE_INVALID = 'Bearer realm="returnpath", error="invalid_token"'


class Problem(Exception):
    """An HTTP answer of the API's own, raised from deep in a handler and sent as it is."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        field: str | None = None,
        existing: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.field = field
        self.existing = existing
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return KINDS[self.slug][0]

    def document(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "type": TYPE_PREFIX + self.slug,
            "title": KINDS[self.slug][1],
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            doc["field"] = self.field
        if self.existing is not None:
            doc["existing"] = self.existing
        return doc

    def response(self) -> Response:
        return JSONResponse(self.document(), status_code=self.status, headers=self.headers, media_type=MEDIA_TYPE)


def from_error(exc: errors.ReturnpathError, field: str | None = None) -> Problem:
    """The problem for one of the project's exceptions."""
    slug = next((slug for cls, slug in _BY_ERROR if isinstance(exc, cls)), "internal-error")
    if field is None and isinstance(exc, (errors.LoopError, errors.SenderError, errors.Conflict)):
        field = exc.field
    existing = exc.existing if isinstance(exc, errors.Conflict) else None
    headers: dict[str, str] = {}
    detail = str(exc)
    if slug == "unauthorized":
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE_INVALID
    elif slug == "unavailable":
        headers["Retry-After"] = str(RETRY_AFTER_OUTAGE)
        log.error("store unavailable: %s", exc)
        detail = KINDS[slug][1]  # the store's message may name files and tables
    elif slug == "internal-error":
        detail = "the server could not handle the request"
    return Problem(slug, detail, field=field, existing=existing, headers=headers)


# ---- exception handlers, installed by app.create_app --------------------------------------


async def problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ReturnpathError)
    return from_error(exc).response()


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own: unknown routes (404), methods (405) and the like."""
    assert isinstance(exc, HTTPException)
    slug = _BY_STATUS.get(exc.status_code, "internal-error" if exc.status_code >= 500 else "invalid-input")
    if exc.status_code == 404:
        detail = f"no such resource: {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    else:
        detail = str(exc.detail)
    return Problem(slug, detail, headers=exc.headers).response()


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    """Anything unexpected: a 500 that tells the client nothing of the internals.

    Starlette re-raises the exception after this answer, so uvicorn logs the traceback.
    """
    return Problem("internal-error", "the server could not handle the request").response()
