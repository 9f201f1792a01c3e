"""How a delivery is shown to people and programs: one JSON shape for the API and the CLI."""

from __future__ import annotations

from typing import Any

from .core.events import format_time
from .core.model import DeliveryView


def _time(t: float | None) -> str | None:
    return None if t is None else format_time(t)


def delivery_json(view: DeliveryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "message": view.message_id,
        "recipient": view.recipient,
        "mailfrom": view.mail_from,
        "envelope": view.envelope,
        "envelope_sender": view.envelope_sender,
        "state": view.state.value,
        "attempts": view.attempts,
        "tags": list(view.tags),
        "created": _time(view.created_at),
        "updated": _time(view.updated_at),
        "next_attempt": _time(view.next_attempt_at),
        "expires": _time(view.expires_at),
        "history": [{
            "attempt": a.number, "time": _time(a.time), "timestamp": a.time, "remote": a.remote,
            "state": a.step.value, "code": a.code, "status": a.status, "description": a.text,
            "verdict": a.verdict.value,
        } for a in view.history],
        "events": [{**e, "timestamp": e["time"], "time": _time(e["time"])}  # type: ignore[arg-type]
                   for e in view.events],
    }
