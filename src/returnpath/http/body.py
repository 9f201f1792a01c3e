"""Request bodies: read within the size limit, strictly UTF-8, one JSON object, each of its
names given once."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from starlette.requests import ClientDisconnect, Request

from ..core.limits import Held
from .problems import RETRY_AFTER_BUSY, Problem


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _whole_number(text: str) -> int:
    # Python refuses to convert more digits than this (CVE-2020-10735), in words of its own.
    if len(text) - text.startswith("-") > sys.get_int_max_str_digits():
        raise Problem("invalid-body", f"a number in the body has more than {sys.get_int_max_str_digits()} digits")
    return int(text)


class _Twice(dict[str, Any]):
    """A JSON object that gives the name `twice` more than once."""

    twice = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; a `_Twice` when it repeats a name, which json would settle in
    silence by keeping the last value. RFC 8259 section 4 leaves that to each parser, and
    others keep the first: a gateway or log in front could read another message than ours."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    repeated = _Twice(value)
    for name, _ in pairs:
        if name in seen:
            repeated.twice = name
            break
        seen.add(name)
    return repeated


async def read_body(request: Request, limit: int, held: Held | None = None) -> bytes:
    """The whole body; a 413 problem as soon as it is known to exceed `limit` bytes. With
    `held`, its bytes are counted there as they arrive: a 503 problem (too-much-mail) as soon
    as they would go over the process's message_memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Problem("too-large", f"the body is {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem("too-large", f"the body is over the limit of {limit} bytes")
            if held is not None and not held.take(len(chunk)):
                raise Problem(
                    "too-much-mail",
                    "this server holds as many messages being received as its message_memory allows; "
                    "send it again later",
                    headers={"Retry-After": str(RETRY_AFTER_BUSY)},
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # The connection ended before the body did: the client went away, or h11 refused the
        # rest of it (a bad chunk; the client has had its 400 from http/guard.py). Nobody is
        # left to read this answer; as a problem, not an exception, it is no traceback in the
        # log for the client's doing.
        raise Problem("invalid-body", "the connection ended before the body did") from None
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int, held: Held | None = None) -> dict[str, Any]:
    """The body as a JSON object, or a 400/413/415 problem saying why not (503: `held`, as
    read_body's)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if not media_type:
        # Guessing would read a form or a file as JSON; RFC 9110 15.5.16: say what we take.
        raise Problem("unsupported-media-type", "the body must be application/json; the request has no Content-Type")
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem("unsupported-media-type", f"the body must be application/json, not {media_type}")
    raw = await read_body(request, limit, held)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem("invalid-body", f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise Problem("invalid-body", "the body is empty")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_whole_number, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise Problem(
            "invalid-body", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise Problem("invalid-body", f"the body is not valid JSON: {reason}") from None
    if not isinstance(value, dict):
        raise Problem("invalid-body", f"the body must be a JSON object, not {json_type(value)}")
    check_surrogates = bool(_SURROGATE_ESCAPE.search(text))
    for path, node in _nodes(value):
        if isinstance(node, _Twice):
            name = f"{path}.{node.twice}" if path else node.twice
            raise Problem("invalid-body", f"the body gives {name} twice: give each field once", field=name)
        if check_surrogates and isinstance(node, str):
            _check_string(node, path)
    return value


# Valid UTF-8 cannot hold a surrogate: only a JSON escape like "\ud800" can make one, and a lone
# one is no character at all (it cannot be stored or sent). Look for them only when escaped.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _nodes(value: object) -> Iterator[tuple[str, object]]:
    """Every value in a decoded body with its path (`dsn.notify[1]`), and each object's names at
    the object's path. Iterative: a body may be nested as deep as json.loads goes."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(node))))
        elif isinstance(node, dict):
            for key, item in reversed(node.items()):
                stack.append((f"{path}.{key}" if path else key, item))
                stack.append((path, key))


def _check_string(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = path or "a field name"
        raise Problem(
            "invalid-field",
            f"{where} holds a lone surrogate (\\u{ord(value[exc.start]):04x} at "
            f"offset {exc.start}): it is not a character and has no UTF-8 form",
            field=path or None,
        ) from None


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
