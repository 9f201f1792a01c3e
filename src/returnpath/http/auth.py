"""Who is calling: the account of the API token.

The token comes as `Authorization: Bearer <token>` (RFC 6750). SMTPeter's clients pass it as
the `access_token` query parameter instead, so that is accepted too; the header wins when both
are given.
"""

from __future__ import annotations

from starlette.requests import Request

from ..core.model import Account
from ..errors import AuthError
from .problems import WWW_AUTHENTICATE, Problem, from_error
from .state import relay_of

ACCESS_TOKEN = "access_token"  # the query parameter that may carry the token


def token_of(request: Request) -> str | None:
    """The API token the request carries, or None."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                "unauthorized",
                "the Authorization header must be 'Bearer <api token>'",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )
        return token.strip()
    return request.query_params.get(ACCESS_TOKEN) or None


async def authenticate(request: Request) -> Account:
    """The calling account; raises a 401 problem when there is no valid token."""
    token = token_of(request)
    if token is None:
        raise Problem(
            "unauthorized",
            "an API token is required: send 'Authorization: Bearer <api token>'",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    try:
        return await relay_of(request).account_for_token(token)
    except AuthError as exc:
        raise from_error(exc) from None
