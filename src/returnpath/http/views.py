"""The JSON shapes of deliveries, attempts, events and feedback loops, shared by the API and the CLI.

Times are given twice, as the logs write them: `time` as UTC `YYYY-MM-DD HH:MM:SS` and
`timestamp` in Unix seconds. An event has the shape of its line in the log files
(core.events.log_record), wherever it is shown.
"""

from __future__ import annotations

from typing import Any

from ..core.events import format_time, log_record
from ..core.feedback import Loop, PostView
from ..core.model import Attempt, DeliveryView
from ..core.ports import StoredEvent


def _times(prefix: str, t: float | None) -> dict[str, Any]:
    if t is None:
        return {prefix: None, f"{prefix}_timestamp": None}
    return {prefix: format_time(t), f"{prefix}_timestamp": round(t, 3)}


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """One attempt; `state` is the SMTP step it reached, as in events and logs."""
    return {
        "attempt": attempt.number,
        "time": format_time(attempt.time),
        "timestamp": round(attempt.time, 3),
        "remote": attempt.remote,
        "state": attempt.step.value,
        "code": attempt.code,
        "status": attempt.status,
        "description": attempt.text,
        "verdict": attempt.verdict.value,
        "node": attempt.node,
    }


def event_json(stored: StoredEvent) -> dict[str, Any]:
    return log_record(stored.id, stored.event, stored.node)


def delivery_json(view: DeliveryView, *, history: bool = True) -> dict[str, Any]:
    """A delivery; with its attempts and events unless `history` is False (message listings)."""
    result: dict[str, Any] = {
        "id": view.id,
        "message": view.message_id,
        "recipient": view.recipient,
        "state": view.state.value,
        "sender": view.mail_from,
        "envelope": view.envelope_sender,
        "own_envelope": view.envelope,
        "tags": list(view.tags),
        "attempt_count": view.attempts,
        **_times("created", view.created_at),
        **_times("updated", view.updated_at),
        **_times("next_attempt", view.next_attempt_at),
        **_times("expires", view.expires_at),
    }
    if history:
        result["attempts"] = [attempt_json(a) for a in view.history]
        result["events"] = list(view.events)
    return result


def loop_json(loop: Loop, *, secret: bool = False) -> dict[str, Any]:
    """A feedback loop; its `secret` only when it was just made (created or rotated)."""
    result: dict[str, Any] = {
        "id": loop.id,
        "url": loop.url,
        "events": sorted(k.value for k in loop.events),
        "format": loop.format.value,
        "active": loop.active,
    }
    if secret:
        result["secret"] = loop.secret
    return result


def loop_delivery_json(view: PostView) -> dict[str, Any]:
    """One event posted (or to be posted) to a loop: a post. `state` is pending,
    in_flight (being posted now), done or dead; `webhook_id` is the header receivers see;
    `type` and `delivery` say what the event was."""
    item = view.item
    return {
        "id": item.id,
        "webhook_id": item.webhook_id,
        "event_id": item.event_id,
        "type": view.event.value,
        "delivery": view.delivery_id,
        "state": "in_flight" if view.in_flight else item.state.value,
        "attempts": item.attempts,
        "last_status": item.last_status,
        "last_error": item.last_error,
        **_times("event", item.event_time),
        **_times("created", item.created_at),
        **_times("last_attempt", item.last_attempt_at),
        **_times("next_attempt", item.next_attempt_at),
        **_times("expires", item.expires_at),
    }
