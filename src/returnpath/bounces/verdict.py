"""What bounce recognition says about one returned message.

`recognise(raw) -> BounceVerdict` (see __init__.py) is pure: bytes in, verdict out, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    """What kind of message came back to a tracking envelope address."""

    DSN = "dsn"  # an RFC 3464 multipart/report; report-type=delivery-status
    BOUNCE = "bounce"  # a non-standard failure report
    AUTOREPLY = "autoreply"  # out-of-office, vacation, auto-responder (RFC 3834 and the rest)
    COMPLAINT = "complaint"  # an RFC 5965 ARF feedback report
    DELIVERY = "delivery"  # a DSN that reports success, relay or expansion
    OTHER = "other"  # a human reply, a challenge, anything unrecognised


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient a report is about."""

    address: str  # the recipient as the report names it (Final-Recipient, or found in text)
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str | None  # RFC 3463, e.g. "5.1.1"
    code: int | None  # SMTP reply code, e.g. 550
    diagnostic: str  # the remote server's text
    remote_mta: str | None
    command: str | None  # the SMTP command that failed (MAIL, RCPT, DATA, ...) where known
    reason: str  # Sisimai's vocabulary: userunknown, mailboxfull, hostunknown, ...
    hard: bool  # True when retrying can never succeed
    rule: str  # which rule decided: "dsn:Status", "lhost/postfix: <pattern>", ...
    feedback_type: str | None = None  # ARF only: abuse, fraud, virus, ...


@dataclass(frozen=True, slots=True)
class BounceVerdict:
    kind: Kind
    recipients: tuple[Recipient, ...] = ()

    @property
    def failed(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.action == "failed")

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "recipients": [
                {
                    "address": r.address,
                    "action": r.action,
                    "status": r.status,
                    "code": r.code,
                    "diagnostic": r.diagnostic,
                    "remote_mta": r.remote_mta,
                    "command": r.command,
                    "reason": r.reason,
                    "hard": r.hard,
                    "rule": r.rule,
                    **({"feedback_type": r.feedback_type} if r.feedback_type else {}),
                }
                for r in self.recipients
            ],
        }
