"""`returnpath domains check` and `returnpath doctor`: what an operator must get right, checked.

Each check gives one `Check` line: ok, warn or fail, what was checked, what was found, and for
a warn or fail the fix in one sentence. The commands print them as a checklist (or JSON) and
exit 1 when any line is a fail.

- lookups.py: the DNS as the world sees it (dnspython, `[dns] nameservers`); an answer that
  did not come (SERVFAIL, a timeout) is `Unanswered`, and its check a warn "cannot check";
- spf.py: an SPF evaluator (RFC 7208) that says which mechanism matched;
- dmarc.py: the DMARC record and organisational domain by DMARCbis's DNS Tree Walk (no Public
  Suffix List), and which alignment passes;
- sending.py: the checks of one sending domain (DKIM records, bounce MX, SPF, DMARC);
- host.py: the checks of this host (its name, the sending addresses' reverse DNS, the TLS
  certificate, the data folder's permissions, free disk, the clock).

usecases/doctor.py puts them together with the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but something will bite (or could not be checked)
    FAIL = "fail"  # mail will be refused, junked, or not come back: `doctor` exits 1


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    status: Status
    what: str  # what was checked: "DKIM rp202612._domainkey.example.com"
    detail: str  # what was found
    fix: str = ""  # for a warn or fail: what to do, in one sentence

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "what": self.what, "detail": self.detail, "fix": self.fix}


def ok(what: str, detail: str) -> Check:
    return Check(Status.OK, what, detail)


def is_public_name(hostname: str) -> bool:
    """Whether `hostname` may be a name the world looks up: not "localhost" nor a bare machine
    name without a dot (what Python's lookup of this host gives in many containers)."""
    return "." in hostname.strip(".")


def warn(what: str, detail: str, fix: str) -> Check:
    return Check(Status.WARN, what, detail, fix)


def fail(what: str, detail: str, fix: str) -> Check:
    return Check(Status.FAIL, what, detail, fix)


def failed(checks: list[Check]) -> bool:
    """Whether any line is a fail (the commands' exit status)."""
    return any(check.status is Status.FAIL for check in checks)
