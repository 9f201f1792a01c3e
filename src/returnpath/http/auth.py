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
    _once(request, ACCESS_TOKEN)
    return request.query_params.get(ACCESS_TOKEN) or None


async def authenticate(request: Request, *params: str, repeatable: tuple[str, ...] = ()) -> Account:
    """The calling account; raises a 401 problem when there is no valid token, and then a 400
    one for a query parameter other than `params` (and access_token), or given more than once
    but for those `repeatable`."""
    account = await _account(request)
    known_params(request, *params, repeatable=repeatable)
    return account


def known_params(request: Request, *names: str, repeatable: tuple[str, ...] = ()) -> None:
    """Refuse a query parameter the endpoint does not take (`access_token` aside, which any
    takes). Dropped in silence, a misspelt filter (`types=bounce`) would get an answer holding
    all it was meant to leave out, with nothing to say so; and every endpoint answers alike.
    So is one given twice that takes one value (`limit=10&limit=500`): all but the last
    would be dropped in silence."""
    for name in request.query_params:
        if name not in names and name != ACCESS_TOKEN:
            known = f"known: {', '.join(names)}" if names else "it takes none"
            raise Problem("invalid-field", f"unknown query parameter {name!r}; {known}", field=name)
        if name not in repeatable:
            _once(request, name)


def _once(request: Request, name: str) -> None:
    count = len(request.query_params.getlist(name))
    if count > 1:
        raise Problem("invalid-field", f"query parameter {name!r} is given {count} times; give it once", field=name)


async def _account(request: Request) -> Account:
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
