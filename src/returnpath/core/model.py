"""The values that move through returnpath: submissions, deliveries, attempts and outcomes.

Glossary (one name for one thing):
- a *message* is what an application submitted once: one MIME text, one or more recipients;
- a *delivery* is one message to one recipient, with its own id and envelope sender;
- an *attempt* is one try at a delivery: an SMTP session up to the step where it ended;
- an *outcome* is what one attempt came to: accepted, temporary or permanent failure;
- an *event* is one outcome written down (see events.py);
- a *loop* is a feedback-loop (webhook) registration of an account.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Step(enum.StrEnum):
    """The point of the SMTP dialogue that an attempt reached when it ended."""

    CONNECT = "connect"  # TCP connect and the server's greeting
    EHLO = "ehlo"
    STARTTLS = "starttls"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command, before the message is sent
    EOM = "eom"  # the end of data: the server's verdict on the message itself


class Verdict(enum.StrEnum):
    """How an attempt ended."""

    ACCEPTED = "accepted"  # 2xx at the end of data
    TEMPORARY = "temporary"  # 4xx, timeout, refused connection: retry later
    PERMANENT = "permanent"  # 5xx or null MX: never retry


class DeliveryState(enum.StrEnum):
    """Where a delivery stands."""

    QUEUED = "queued"  # waiting for its first or next attempt
    DEFERRED = "deferred"  # an attempt failed temporarily; waiting for the retry
    DELIVERED = "delivered"  # a remote server accepted it
    FAILED = "failed"  # refused, or the retry window closed

    @property
    def final(self) -> bool:
        return self in (DeliveryState.DELIVERED, DeliveryState.FAILED)


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    smtp_username: str
    disabled: bool = False  # may not submit; what it queued is still delivered and reported
    sender_domains: tuple[str, ...] = ()  # the envelope senders' domains it may use; () = any


@dataclass(frozen=True, slots=True)
class DsnOptions:
    """ESMTP DSN parameters (RFC 3461) asked for by the application."""

    notify: tuple[str, ...] = ()  # NEVER, or any of SUCCESS, FAILURE, DELAY
    ret: str | None = None  # FULL or HDRS
    envid: str | None = None
    orcpt: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"notify": list(self.notify), "ret": self.ret, "envid": self.envid, "orcpt": self.orcpt}

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> DsnOptions | None:
        if not data:
            return None
        notify = data.get("notify") or ()
        return cls(
            notify=tuple(str(n) for n in notify) if isinstance(notify, (list, tuple)) else (),
            ret=_opt_str(data.get("ret")),
            envid=_opt_str(data.get("envid")),
            orcpt=_opt_str(data.get("orcpt")),
        )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Submission:
    """A message handed to returnpath, validated, with its options; ready to store."""

    mail_from: str  # the application's sender ("" for the null sender)
    recipients: tuple[str, ...]
    mime: bytes  # header and body as they will be sent (our option headers removed)
    envelope: str | None = None  # the application's own bounce address
    trackbounces: bool = True
    tags: tuple[str, ...] = ()
    maxdelivertime: float | None = None  # Unix seconds: stop retrying after this
    dsn: DsnOptions | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    """Where a submission came from, for the Received header a relay must add (RFC 5321 4.4)."""

    protocol: str | None  # the "with" of RFC 3848: ESMTPA, ESMTPSA, HTTP...; None: not over a network
    client_ip: str | None = None
    helo: str | None = None  # the name the client gave in EHLO or HELO


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the store gives back for a stored submission."""

    message_id: str
    deliveries: tuple[tuple[str, str], ...]  # (recipient, delivery id) in submission order


@dataclass(slots=True)
class DeliveryJob:
    """Everything a delivery worker needs for one attempt at one delivery."""

    delivery_id: str
    message_id: str
    account_id: str
    recipient: str
    envelope_sender: str  # the MAIL FROM to use: a tracking address or the application's
    mime: bytes
    attempts: int  # attempts made before this one
    created_at: float
    expires_at: float  # no new attempt after this
    tags: tuple[str, ...] = ()
    dsn: DsnOptions | None = None
    forward: bool = False  # a copy of returned mail for the application's own envelope (no events)
    # The lease holder it was claimed or submitted for: its attempt is recorded only while that
    # owner still holds the lease (None: whoever holds it, for tools and tests).
    owner: str | None = None
    # Set when the message waits for its DKIM signature (its domain's key could not be read at
    # submission): the engine signs it before sending (delivery/engine.py).
    sign_domain: str | None = None

    @property
    def domain(self) -> str:
        return self.recipient.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. Senders return these; they do not raise."""

    verdict: Verdict
    step: Step
    code: int | None  # SMTP reply code; None when no reply came (timeout, refused, ...)
    status: str | None  # RFC 3463 enhanced status code, e.g. "5.1.1"
    text: str  # the remote reply text, or what went wrong when there was no reply
    remote: str | None = None  # the host (and address) we spoke to

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED


@dataclass(frozen=True, slots=True)
class Attempt:
    """An attempt as recorded in the store."""

    number: int
    time: float
    remote: str | None
    step: Step
    code: int | None
    status: str | None
    text: str
    verdict: Verdict
    node: str = ""  # the node whose worker made it ([node] name)


@dataclass(slots=True)
class DeliveryView:
    """A delivery with its history, as the API and CLI show it."""

    id: str
    message_id: str
    account_id: str
    recipient: str
    mail_from: str
    envelope: str | None
    envelope_sender: str
    state: DeliveryState
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float | None
    expires_at: float
    tags: tuple[str, ...]
    history: list[Attempt] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)  # in the shape of their log lines
    trackbounces: bool = True
    dsn: DsnOptions | None = None


@dataclass(frozen=True, slots=True)
class Returned:
    """A message that came back to the bounce domain, as the inbound server stored it."""

    id: str
    mailfrom: str  # the envelope sender ("" for the null sender)
    rcptto: tuple[str, ...]
    deliveries: tuple[str, ...]  # the delivery ids that the recipients' tokens name
    client: str | None  # the address of the server that sent it to us
    received_at: float
    raw: bytes  # b"" once purged
    purged_at: float | None = None  # when its raw bytes were deleted ([retention] returned_mail)
