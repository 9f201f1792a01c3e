"""What a loop receives for an event: SMTPeter's variables, then ours, in a form or JSON body.

An application written for SMTPeter's webhooks keeps working: every event carries `id` (the
delivery the event is about), `type` (the event kind), `timestamp` (UTC `YYYY-MM-DD HH:MM:SS`),
`time` (the same in Unix seconds) and `tags`, and each kind its own variables:

| type     | SMTPeter's variables                                                  | ours on top                                  |
|----------|-----------------------------------------------------------------------|----------------------------------------------|
| delivery | recipient, code, extended, description                                |                                              |
| failure  | recipient, action ("failed"), state, code, extended, description      | async, reason, hard, dsn, command            |
| deferred | as failure, with action "delayed"                                     | as failure                                   |
| bounce   | recipient, envelope, mailfrom, rcptto, mime                           | kind, reason                                 |
| abuse    | recipient, emailfrom, mime                                            | feedbacktype                                 |
| (all)    |                                                                       | message (its id), event_id                   |

`state` is the SMTP step a synchronous failure ended at, and "bounce" for one that came back
asynchronously, as SMTPeter sends it. `extended` is the enhanced status code (the events call
it `status`). `mime` is the complete returned message (the bounce, or the ARF report), decoded
as UTF-8: bytes that are not UTF-8 become U+FFFD; the exact bytes stay available from the API.

Every name is always present, in both formats; a value that is unknown is the empty string
(so a PHP receiver never meets an undefined index), but for `code`, an integer, which is null
in JSON, as in the logs, and "" in the form. In the form body booleans are "1" and "0", as
PHP's http_build_query writes them
(a PHP receiver tests them with `if ($_POST['hard'])`; "false" would be true), and lists are
repeated `tags[]` keys, which PHP reads back as an array; an empty list is left out, as
http_build_query does. JSON carries true/false and arrays.

Pure: event data in, dict and bytes out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

from ..core.events import Event, EventKind, format_time
from ..core.feedback import Format

Value = str | int | bool | list[str] | None  # None: `code` unknown
Payload = dict[str, Value]

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"


def payload(event_id: int, event: Event, returned_mime: bytes | None) -> Payload:
    """The variables posted for an event. `returned_mime` is the returned message that a
    bounce or abuse event is about (the event holds only its id); None for the others."""
    data = event.data
    fields: Payload = {
        "id": event.delivery_id,
        "type": event.kind.value,
        "timestamp": format_time(event.time),
        "time": int(event.time),
    }
    fields.update(_BY_KIND[event.kind](data, returned_mime))
    fields["tags"] = [str(t) for t in data.get("tags") or ()]
    fields["message"] = event.message_id
    fields["event_id"] = event_id
    return fields


def encode(fields: Mapping[str, Value], fmt: Format) -> tuple[str, bytes]:
    """The content type and body of the POST."""
    if fmt is Format.JSON:
        return JSON_TYPE, json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    pairs: list[str] = []
    for name, value in fields.items():
        if isinstance(value, list):
            pairs.extend(f"{name}%5B%5D={_quote(item)}" for item in value)
        elif isinstance(value, bool):
            pairs.append(f"{name}={'1' if value else '0'}")
        elif value is None:
            pairs.append(f"{name}=")
        else:
            pairs.append(f"{name}={_quote(str(value))}")
    return FORM_TYPE, "&".join(pairs).encode("ascii")


# What urllib.parse.quote_plus leaves alone; every other ASCII character becomes %XX, and the
# space "+". A translation table does ASCII text in one C call: a few times quicker than
# quote_plus, which counts at a few thousand posts a second. The names are plain ASCII words.
_FORM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_TABLE = {c: ("+" if c == 32 else f"%{c:02X}") for c in range(128) if chr(c) not in _FORM_SAFE}


def _quote(value: str) -> str:
    return value.translate(_FORM_TABLE) if value.isascii() else quote_plus(value)


# ---- the variables of each kind of event -----------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mime(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8", "replace")


def _delivery(data: Mapping[str, Any], _: bytes | None) -> Payload:
    return {
        "recipient": _text(data.get("recipient")),
        "code": _code(data.get("code")),
        "extended": _text(data.get("status")),
        "description": _text(data.get("description")),
    }


def _refusal(action: str) -> Callable[[Mapping[str, Any], bytes | None], Payload]:
    """failure and deferred: a refusal during SMTP (type sync) or one that came back (async)."""

    def fields(data: Mapping[str, Any], _: bytes | None) -> Payload:
        asynchronous = data.get("type") == "async"
        expired = bool(data.get("expired"))
        if "hard" in data:  # a bounce report, classified by bounces/reasons
            hard = bool(data["hard"])
        else:  # a synchronous failure is a permanent refusal, unless the retry window closed
            hard = action == "failed" and not expired
        return {
            "recipient": _text(data.get("recipient")),
            "action": action,
            "state": _text(data.get("state")),
            "code": _code(data.get("code")),
            "extended": _text(data.get("status")),
            "description": _text(data.get("description")),
            "async": asynchronous,
            "reason": _text(data.get("reason") or ("expired" if expired else None)),
            "hard": hard,
            "dsn": bool(data.get("dsn")),
            "command": _text(data.get("command")),
        }

    return fields


def _bounce(data: Mapping[str, Any], returned_mime: bytes | None) -> Payload:
    rcptto = data.get("rcptto") or ()
    return {
        "recipient": _text(data.get("recipient")),
        # SMTPeter's `envelope` is the application's own envelope address (the tracking one is
        # `rcptto`); events recorded before it was kept as `own_envelope` held it in `envelope`.
        "envelope": _text(data["own_envelope"] if "own_envelope" in data else data.get("envelope")),
        "mailfrom": _text(data.get("mailfrom")),
        # One address in practice: the tracking address the message came back to.
        "rcptto": ",".join(rcptto) if isinstance(rcptto, (list, tuple)) else _text(rcptto),
        "mime": _mime(returned_mime),
        "kind": _text(data.get("kind")),
        "reason": _text(data.get("reason")),
    }


def _abuse(data: Mapping[str, Any], returned_mime: bytes | None) -> Payload:
    return {
        "recipient": _text(data.get("recipient")),
        "emailfrom": _text(data.get("emailfrom")),
        "mime": _mime(returned_mime),
        "feedbacktype": _text(data.get("feedbacktype")),
    }


_BY_KIND: dict[EventKind, Callable[[Mapping[str, Any], bytes | None], Payload]] = {
    EventKind.DELIVERY: _delivery,
    EventKind.FAILURE: _refusal("failed"),
    EventKind.DEFERRED: _refusal("delayed"),
    EventKind.BOUNCE: _bounce,
    EventKind.ABUSE: _abuse,
}
