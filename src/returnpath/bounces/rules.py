"""The interface of a per-software bounce detector, and the ordered registry of them.

A *detector* knows the non-standard bounces one piece of software writes (qmail, Exim,
Sendmail, Exchange, Gmail, ...). It lives in its own module under `bounces/lhost/`, which
exposes one module-level name::

    DETECTOR = Detector(name="qmail", detect=detect)

`detect(mail)` receives the parsed returned message (`bounces.mail.Mail`: headers, subject,
sender, the bounce's own text, the returned original) and answers

- `None` — "not mine": the next detector is tried;
- a sequence of `Found` — one per recipient the bounce is about (may be empty: "mine, but
  no recipient could be found", which stops the search and gives `Kind.BOUNCE`).

A detector says *who* bounced and what the report says (status, reply code, diagnostic text,
command); *why* (the reason, hard/soft) is decided by `reasons.classify`, which `recognise`
calls for every `Found` that does not set `reason` itself. A detector may set `reason` when
the format itself says it (e.g. a software that writes "mailbox full" as a fixed phrase); it
then should name the phrase in `pattern`. `_text.by_phrase` does that from a table of the
software's own phrases (ported from Sisimai's Lhost `messagesof`). A weak reason (Sisimai's
"retry" set, `bounces.WEAK_REASONS`: userunknown, hostunknown, networkerror, systemerror, ...)
still gives way to a specific one that `classify` reads in the same recipient's words.

Speed: every non-report message is offered to every detector until one claims it, so
`detect` must answer `None` in a few microseconds for mail that is not its software's: test
a header, the sender, the subject or a fixed phrase (`"phrase" in mail.lower_body`, lowered
once for all detectors) before running any regular expression over the text.

Detectors run in the order of `DETECTORS`, only for messages that are not an RFC 3464
report, an ARF report or an auto-reply. Put the specific ones (that check a header or a
sender first) before the generic ones. Each is listed explicitly, in run order, in
`lhost/__init__.py` (`ORDER`): adding a format means adding one module and one line there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .mail import Mail


@dataclass(frozen=True, slots=True)
class Found:
    """One recipient a non-standard bounce is about, as the detector read it."""

    address: str  # the recipient, as written in the bounce (the caller lower-cases and cleans)
    diagnostic: str = ""  # the remote server's text (or the software's own explanation)
    status: str | None = None  # RFC 3463 status if the bounce gives one, e.g. "5.1.1"
    code: int | None = None  # SMTP reply code if the bounce gives one, e.g. 550
    command: str | None = None  # SMTP step that failed, if known: CONN (the greeting), HELO,
    #                             EHLO, MAIL, RCPT, DATA, STARTTLS — `classify` reads it
    remote_mta: str | None = None  # the host that refused, if named
    action: str = "failed"  # failed, delayed (a "still trying" warning), delivered, ...
    reason: str | None = None  # set only when the format itself says why (else classify decides)
    pattern: str = ""  # what matched, for the verdict's `rule` ("the 'Sorry, no mailbox' line")
    feedback_type: str | None = None  # a complaint (reason "feedback"): abuse, fraud, ...
    phrase: str = ""  # the software's own phrase (lower-cased) that set `reason`, if one did


DetectFn = Callable[[Mail], Sequence[Found] | None]


@dataclass(frozen=True, slots=True)
class Detector:
    """A recogniser for the bounces of one sending software."""

    name: str  # short, lower-case: "qmail", "exim", "office365"; shown in rule as "lhost/<name>"
    detect: DetectFn


def _registry() -> tuple[Detector, ...]:
    # The run order is written once, explicitly, as `lhost.ORDER` (one line per module).
    # Imported here, not at the top, because the lhost modules import this module.
    from .lhost import ORDER

    return tuple(ORDER)


_cache: dict[str, tuple[Detector, ...]] = {}


def __getattr__(name: str) -> tuple[Detector, ...]:
    """`rules.DETECTORS`: the ordered registry, built on first use (PEP 562)."""
    if name == "DETECTORS":
        if name not in _cache:
            _cache[name] = _registry()
        return _cache[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
