"""What a returned message means for the deliveries it answers: the events it makes.

This is the lower half of the table in ../shared/DESIGN.md ("Which outcome goes where"), as a
pure function from the stored message, its verdict and the deliveries its tokens name:

| verdict                                   | events                                         |
|-------------------------------------------|------------------------------------------------|
| anything at all                           | `bounce` (every returned message, always)      |
| DSN or non-standard bounce, failed rcpt   | + `failure` (type async; the delivery fails)   |
| DSN or non-standard bounce, delayed rcpt  | + `deferred` (type async)                      |
| ARF complaint                             | + `abuse` (not for not-spam or auth-failure)   |
| DSN reporting success / relay             | noted in the `bounce` event (`dsn_action`)     |

A delivery fails once: a report about a delivery that has failed already (the same DSN sent
again, a copy to postmaster@ that quotes the tracking address) is a `bounce` event only, with
no second `failure` (or `deferred`) and so no second post to the failure loop.

The token in the envelope recipient says which delivery a message answers; when the report
names a different recipient (forwarding, aliases), the events keep both: `recipient` is the
one we sent to, `reported_recipient` the one the report names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..bounces.verdict import BounceVerdict, Kind, Recipient
from .events import Event, EventKind
from .model import DeliveryState, DeliveryView, Returned


@dataclass(frozen=True, slots=True)
class ReturnOutcome:
    events: tuple[Event, ...]
    failed: tuple[str, ...] = ()  # delivery ids that failed asynchronously
    forward: tuple[DeliveryView, ...] = field(default=())  # deliveries whose application gets a copy


def _pick(verdict: BounceVerdict, view: DeliveryView, action: str | None) -> Recipient | None:
    """The report's row about this delivery (of those with `action`; None: of any): the one
    naming its recipient, else the first."""
    rows = [r for r in verdict.recipients if action is None or r.action == action]
    for row in rows:
        if row.address.lower() == view.recipient.lower():
            return row
    return rows[0] if rows else None


def _report_fields(row: Recipient, view: DeliveryView) -> dict[str, Any]:
    data: dict[str, Any] = {
        # The attempt whose copy the report is about: the last one made, which a remote took.
        # A failures.log line has an `attempt` whether it was refused during SMTP or later.
        "attempt": view.attempts,
        "status": row.status,
        "code": row.code,
        "description": row.diagnostic,
        "remote": row.remote_mta,
        "command": row.command,
        "reason": row.reason,
        "hard": row.hard,
        "rule": row.rule,
    }
    if row.address and row.address.lower() != view.recipient.lower():
        data["reported_recipient"] = row.address
    return data


def route(returned: Returned, verdict: BounceVerdict, views: Mapping[str, DeliveryView], now: float) -> ReturnOutcome:
    """The events for one returned message, one set per delivery its tokens name.

    A message that names no known delivery (sent to postmaster@, or a token of a delivery that
    is gone) still gets its `bounce` event, with no delivery or account, so that it is logged.
    """
    base: dict[str, Any] = {
        "mailfrom": returned.mailfrom,
        "rcptto": list(returned.rcptto),
        "kind": verdict.kind.value,
        "return": returned.id,
        "raw": f"returnpath returned {returned.id}",  # the command that prints it, as it arrived
    }
    targets = [views[d] for d in returned.deliveries if d in views]
    if not targets:
        return ReturnOutcome(
            (Event(EventKind.BOUNCE, "", "", "", now, {**base, "recipient": None, "envelope": None, "tags": []}),)
        )
    events: list[Event] = []
    failed: list[str] = []
    forward: list[DeliveryView] = []
    for view in targets:
        # `envelope` is the MAIL FROM the delivery went out with, as in its delivery event and a
        # failure refused during our dialogue; the application's own address is `own_envelope`.
        common = {
            "recipient": view.recipient,
            "envelope": view.envelope_sender,
            "own_envelope": view.envelope,
            "tags": list(view.tags),
        }

        def event(kind: EventKind, data: dict[str, Any]) -> Event:  # called in this iteration only
            return Event(kind, view.id, view.message_id, view.account_id, now, {**common, **data})  # noqa: B023

        bounce = dict(base)
        failure_row = _pick(verdict, view, "failed") if verdict.kind in (Kind.DSN, Kind.BOUNCE) else None
        failed_before = view.state is DeliveryState.FAILED
        if verdict.kind is Kind.DELIVERY and verdict.recipients:
            bounce["dsn_action"] = verdict.recipients[0].action
        delayed_row = (
            _pick(verdict, view, "delayed") if failure_row is None and verdict.kind in (Kind.DSN, Kind.BOUNCE) else None
        )
        # The bounce line says why, as the failure or deferral beside it does: a delay's reason
        # and status too (a `dsn` bounce line without them left a log reader to look further).
        reported = failure_row if failure_row is not None else delayed_row
        if reported is not None:
            bounce.update({"action": reported.action, "reason": reported.reason, "status": reported.status})
        events.append(event(EventKind.BOUNCE, bounce))
        if failure_row is not None and not failed_before:
            events.append(
                event(
                    EventKind.FAILURE,
                    {
                        "type": "async",
                        "state": "bounce",
                        "action": "failed",
                        "dsn": verdict.kind is Kind.DSN,
                        **_report_fields(failure_row, view),
                    },
                )
            )
            failed.append(view.id)
        elif not failed_before and delayed_row is not None:
            # A delay notice that is no DSN (Exim's "Warning: message ... delayed", a webmail's
            # notice in its language) is a deferral too, marked not-DSN as such a failure is.
            events.append(
                event(
                    EventKind.DEFERRED,
                    {
                        "type": "async",
                        "state": "bounce",
                        "action": "delayed",
                        "dsn": verdict.kind is Kind.DSN,
                        **_report_fields(delayed_row, view),
                    },
                )
            )
        elif verdict.kind is Kind.COMPLAINT and _complains(row := _pick(verdict, view, None)):
            # The complainer of this delivery: in a digest of reports about several deliveries,
            # each delivery's own (the row naming its recipient), else the report's first.
            events.append(
                event(
                    EventKind.ABUSE,
                    {
                        "return": returned.id,  # the ARF report: its `mime` for the feedback loops
                        "emailfrom": row.address if row else None,
                        "feedbacktype": row.feedback_type if row else None,
                        "description": row.diagnostic if row else "",
                    },
                )
            )
        repeated = failed_before and verdict.kind in (Kind.DSN, Kind.BOUNCE)  # forwarded the first time
        if not repeated and _should_forward(view, verdict):
            forward.append(view)
    return ReturnOutcome(tuple(events), tuple(failed), tuple(forward))


# Feedback types (RFC 5965 section 7.3 and its registry) whose report is no complaint about the
# mail: "not-spam" (RFC 6650 section 4: a user marked it as not spam) and "auth-failure" (RFC
# 6591: a DMARC or SPF/DKIM failure report, written by a machine about authentication). Such a
# report is recorded (its `bounce` event, kind complaint, with its feedback type in the stored
# report) but makes no `abuse` event: an application that stops mailing an address on `abuse`
# must not stop because its reader rescued the mail from the spam folder.
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})


def _complains(row: Recipient | None) -> bool:
    """Whether a complaint verdict's row is a complaint (a report that names nobody, as
    SpamCop's or a redacted one may, is taken for one)."""
    return row is None or (row.feedback_type or "abuse").lower() not in NOT_COMPLAINTS


# What is forwarded to an application's own envelope: what a mail server or an auto-responder
# sends back. Anybody can send anything to a tracking address, so the rest (`other`: human
# replies, spam, whatever reached the token) is recorded but never relayed on; complaints
# reach the application as `abuse` events.
FORWARDED = frozenset({Kind.DSN, Kind.DELIVERY, Kind.BOUNCE, Kind.AUTOREPLY})


def _should_forward(view: DeliveryView, verdict: BounceVerdict) -> bool:
    """SMTPeter's behaviour, made safe: an application that gave its own envelope (and kept
    tracking on) gets the bounces and auto-replies forwarded; recognised DSNs only where its
    `dsn.notify` asks for them (failures by default, as RFC 3461 has it when NOTIFY is absent)."""
    if not view.envelope or not view.trackbounces or verdict.kind not in FORWARDED:
        return False
    if verdict.kind not in (Kind.DSN, Kind.DELIVERY):
        return True
    notify = set(view.dsn.notify) if view.dsn and view.dsn.notify else {"FAILURE"}
    if "NEVER" in notify:
        return False
    actions = {r.action for r in verdict.recipients}
    wanted = {
        "failed": "FAILURE",
        "delayed": "DELAY",
        "delivered": "SUCCESS",
        "relayed": "SUCCESS",
        "expanded": "SUCCESS",
    }
    return any(wanted.get(a) in notify for a in actions) or not actions
