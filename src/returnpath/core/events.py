"""Events: one row per outcome, and where each kind of event goes.

Event kinds are nouns, the same words as the feedback-loop types of SMTPeter. The table of
../shared/DESIGN.md ("Which outcome goes where") is `LOGS` below plus the loop types: later
issues add the bounce log and the feedback loops by adding to these tables.
"""

from __future__ import annotations

import enum
import time as _time
from dataclasses import dataclass
from typing import Any

from ..bounces.reasons import classify, receiving_hosts
from .model import DeliveryJob, Outcome, Step


class EventKind(enum.StrEnum):
    DELIVERY = "delivery"  # a remote server accepted the message
    DEFERRED = "deferred"  # a temporary failure; the delivery will be retried
    FAILURE = "failure"  # refused during SMTP, the retry window closed, or a recognised bounce
    BOUNCE = "bounce"  # something came back to a tracking envelope address
    ABUSE = "abuse"  # a complaint (ARF feedback report)


# Which log file (under the log folder, with ".log") receives each kind of event.
LOGS: dict[EventKind, str] = {
    EventKind.DELIVERY: "deliveries",
    EventKind.FAILURE: "failures",
    EventKind.BOUNCE: "bounces",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One outcome, ready to be stored. `data` holds the kind's own fields."""

    kind: EventKind
    delivery_id: str
    message_id: str
    account_id: str
    time: float
    data: dict[str, Any]


def format_time(t: float) -> str:
    """UTC `YYYY-MM-DD HH:MM:SS`, as SMTPeter writes timestamps."""
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(t))


# The SMTP command each step of an attempt answered, as bounces.reasons.classify names them.
_COMMANDS = {
    Step.CONNECT: "CONN",
    Step.EHLO: "EHLO",
    Step.STARTTLS: "STARTTLS",
    Step.MAIL: "MAIL",
    Step.RCPT: "RCPT",
    Step.DATA: "DATA",
    Step.EOM: "DATA",
}


def refusal_fields(outcome: Outcome, *, expired: bool = False, recipient: str = "") -> dict[str, Any]:
    """Why our own delivery failed, decided by the same classifier as a returned report
    (bounces/reasons.py), so that a failure refused during SMTP and the same refusal reported
    later by a DSN get the same `reason` and `hard`. A delivery whose retry window closed is
    `expired` (soft: the address may well work), whatever its last reply said. The host we
    spoke to and the recipient's domain let a provider's own codes be read as it documents them."""
    command = _COMMANDS[outcome.step]
    if expired:
        return {"command": command, "reason": "expired", "hard": False, "rule": "the retry window closed"}
    hosts = receiving_hosts(outcome.remote, recipient)
    # The step says which command a remote's reply answered (a refusal of the greeting is of
    # this client: "blocked"). Without a reply the text is our own, as the "Host or domain
    # name not found" of a recipient domain that does not exist, which is the address's fault:
    # hostunknown, hard; classified as blocked it read as if our address were blacklisted.
    answered = command if outcome.code is not None else None
    found = classify(outcome.status, outcome.code, outcome.text, command=answered, hosts=hosts)
    return {"command": command, "reason": found.reason, "hard": found.hard, "rule": found.rule}


def attempt_event(kind: EventKind, job: DeliveryJob, outcome: Outcome, attempt: int, now: float, **extra: Any) -> Event:
    """The event for an attempt's outcome: a delivery, a deferral or a synchronous failure."""
    data: dict[str, Any] = {
        "recipient": job.recipient,
        "envelope": job.envelope_sender,
        "attempt": attempt,
        "state": outcome.step.value,
        "code": outcome.code,
        "status": outcome.status,
        "description": outcome.text,
        "remote": outcome.remote,
        "tags": list(job.tags),
    }
    # A refusal's line has the fields of one reported later (core/returns.py): its `action`
    # (failed, delayed) and `dsn` (false: our own dialogue, no report), so that a log reader's
    # filter on them finds both.
    if kind is EventKind.FAILURE:
        data.update(type="sync", action="failed", dsn=False)
        data.update(refusal_fields(outcome, expired=bool(extra.get("expired")), recipient=job.recipient))
    elif kind is EventKind.DEFERRED:
        # A deferral has the fields of a failure (a deferral reported later by a DSN has them
        # too), so that an application learns why its mail waits: a 452 4.2.2 at RCPT is
        # mailboxfull there as it would be in a failure. Nothing is hard while it is retried.
        data.update(type="sync", action="delayed", dsn=False)
        data.update(refusal_fields(outcome, recipient=job.recipient), hard=False)
    data.update(extra)
    return Event(kind, job.delivery_id, job.message_id, job.account_id, now, data)


def log_record(event_id: int, event: Event, node: str = "") -> dict[str, Any]:
    """The JSON object written to a log file for an event: its common fields (and the node that
    recorded it, when it has a name), then its data."""
    # `event` names the kind of event; `kind` is left to the bounce event (what came back:
    # dsn, autoreply, ...) and `type` to the failure (sync or async), as the issues name them.
    record: dict[str, Any] = {
        "event": event.kind.value,
        "event_id": event_id,
        "id": event.delivery_id,
        "message": event.message_id,
        "time": format_time(event.time),
        "timestamp": round(event.time, 3),
    }
    if node:
        record["node"] = node
    record.update(event.data)
    return record
