"""A domain's DMARC record, its organisational domain, and which of DKIM and SPF will align.

Both are found without the Public Suffix List, which returnpath does not carry, by the DNS Tree
Walk of DMARCbis (draft-ietf-dmarc-dmarcbis, section "DNS Tree Walk", 4.10 in the revisions of
2023-2025, with "DMARC Policy Discovery" and "Identifying the Organizational Domain" under it;
it replaces RFC 7489's Public Suffix List). Written from the draft's algorithm:

1. Ask for ``_dmarc.<domain>``. Keep only the TXT values that start ``v=DMARC1``; two or more
   at one name are all discarded (RFC 7489 6.6.3 said so too). A record there with ``psd=n``
   ends the walk.
2. Otherwise go up: a domain of 8 labels or more jumps to its last 7 labels, a shorter one
   loses its leftmost label; ask ``_dmarc.`` of that, and so on, one label less each time, down
   to the top-level domain. A record with ``psd=n`` or ``psd=y`` ends the walk. At most 8
   questions (`MAX_QUERIES`), however long the name.

The *policy record* of mail from the domain is the first record the walk finds (at the
domain itself, or at the nearest parent asked). Its ``p=`` applies when it was found at the
domain itself; found at a parent, the domain is a subdomain of where it was found, and ``sp=``
applies (``p=`` when there is no ``sp=``).

The *organisational domain* (draft section "Identifying the Organizational Domain"): where a
record with ``psd=n`` was found; below a record with ``psd=y`` (a public suffix operator's),
the domain one label longer, on the way to the domain walked from; otherwise the domain with the
fewest labels at which a record was found; with no record at all, the domain itself. So
``mail.example.co.uk``, with a record at ``example.co.uk`` only, has the organisational domain
``example.co.uk``: nothing is published at ``co.uk`` or ``uk``, which the Public Suffix List
would have known to skip.

Alignment (RFC 7489 3.1; the draft's "Identifier Alignment" in the same words, with the
organisational domain found as above), for mail returnpath signs for a sending domain `D` with
its bounce domain `B` as envelope sender:

- DKIM: the signature's ``d=`` is `D`. Relaxed alignment (the default) passes for mail from `D`
  and from its subdomains; strict (``adkim=s``) only for mail from `D` itself.
- SPF: the envelope sender's domain is `B`, and SPF must pass for it. Relaxed alignment passes
  when `B` and `D` have the same organisational domain; strict (``aspf=s``) only when `B` is the
  From domain itself, which a bounce domain of its own never is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lookups import Lookups

MAX_QUERIES = 8  # the draft's limit of questions a walk asks
MAX_LABELS = 7  # a longer name jumps to its last 7 labels after the first question


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    found_at: str  # the domain whose _dmarc name holds it
    tags: dict[str, str]

    @property
    def policy(self) -> str:
        return self.tags.get("p", "")

    @property
    def subdomain_policy(self) -> str:
        """``sp=``, the policy for the subdomains of where it was found ("" when not given)."""
        return self.tags.get("sp", "")

    @property
    def psd(self) -> str:
        """``psd=``: "y" (a public suffix domain's record), "n" (an organisational domain's) or
        "u" (not said; the default)."""
        return self.tags.get("psd", "u").lower()

    @property
    def dkim_strict(self) -> bool:
        return self.tags.get("adkim", "r").lower() == "s"

    @property
    def spf_strict(self) -> bool:
        return self.tags.get("aspf", "r").lower() == "s"


@dataclass(frozen=True, slots=True)
class TreeWalk:
    """What the DNS Tree Walk from `domain` found: the records in the order asked (the longest
    name first), and the problems met (two records at one name)."""

    domain: str
    records: tuple[DmarcRecord, ...]
    problems: tuple[str, ...]

    @property
    def policy_record(self) -> DmarcRecord | None:
        """The record whose policy applies to mail from the domain: the first found."""
        return self.records[0] if self.records else None

    @property
    def policy(self) -> str:
        """The policy that applies to mail from the domain itself: ``p=`` of a record at the
        domain, ``sp=`` (else ``p=``) of one at a parent; "" without a record."""
        record = self.policy_record
        if record is None:
            return ""
        if record.found_at != self.domain and record.subdomain_policy:
            return record.subdomain_policy
        return record.policy

    @property
    def organisational_domain(self) -> str:
        """The organisational domain (see the module's docstring)."""
        if not self.records:
            return self.domain
        # The walk asks the longest name first, so its last record has the fewest labels; the
        # walk ended there at a psd=n record (the organisational domain), at a psd=y record, or
        # at the top (then the organisational domain is where the last record was found).
        last = self.records[-1]
        if last.psd == "y" and last.found_at != self.domain:
            labels = self.domain.split(".")
            return ".".join(labels[-(len(last.found_at.split(".")) + 1) :])
        return last.found_at


def parse_tags(value: str) -> dict[str, str]:
    """`v=DMARC1; p=none; rua=...` as a dict (names lowercased)."""
    tags = {}
    for part in value.split(";"):
        name, eq, text = part.partition("=")
        if eq:
            tags[name.strip().lower()] = text.strip()
    return tags


def walk_names(domain: str) -> list[str]:
    """The domains whose ``_dmarc`` names the walk from `domain` asks, in order (at most
    MAX_QUERIES): the domain, then from at most MAX_LABELS labels one label less each time."""
    labels = domain.lower().rstrip(".").split(".")
    names = [".".join(labels)]
    count = min(len(labels) - 1, MAX_LABELS)
    while count >= 1:
        names.append(".".join(labels[-count:]))
        count -= 1
    return names


def tree_walk(lookups: Lookups, domain: str) -> TreeWalk:
    """Walk up from `domain` (see the module's docstring). Unanswered (lookups.py) when a
    question gets no answer: receivers cannot tell then either."""
    domain = domain.lower().rstrip(".")
    records: list[DmarcRecord] = []
    problems: list[str] = []
    for asked, name in enumerate(walk_names(domain)):
        found = [v for v in lookups.txt(f"_dmarc.{name}") if v.replace(" ", "").upper().startswith("V=DMARC1")]
        if len(found) > 1:
            problems.append(f"_dmarc.{name} has {len(found)} DMARC records, so receivers use none (RFC 7489 6.6.3)")
            continue
        if not found:
            continue
        record = DmarcRecord(name, parse_tags(found[0]))
        records.append(record)
        if record.psd == "n" or (record.psd == "y" and asked > 0):
            break
    return TreeWalk(domain, tuple(records), tuple(problems))


def alignment(walk: TreeWalk, bounce_walk: TreeWalk, spf_passes: bool) -> tuple[str, str]:
    """What DKIM and SPF alignment will do for mail from `walk.domain` signed as that domain and
    sent with an envelope sender at `bounce_walk.domain`, each in a few words (see the module's
    docstring); `walk` has a policy record."""
    record = walk.policy_record
    assert record is not None
    domain, bounce_domain = walk.domain, bounce_walk.domain
    organisational = walk.organisational_domain
    if record.dkim_strict:
        dkim = f"DKIM aligns for mail from {domain} itself (adkim=s), not from its subdomains"
    else:
        dkim = f"DKIM aligns (relaxed) for mail from {domain} and its subdomains"
    if record.spf_strict:
        spf = f"SPF does not align: aspf=s needs the envelope domain to be the From domain, not {bounce_domain}"
    elif bounce_walk.organisational_domain != organisational:
        spf = (
            f"SPF does not align: the bounce domain {bounce_domain} is not under {domain}'s organisational "
            f"domain {organisational} (its own is {bounce_walk.organisational_domain})"
        )
    elif not spf_passes:
        spf = f"SPF would align (relaxed: {bounce_domain} is under {organisational}) but does not pass"
    else:
        spf = f"SPF aligns (relaxed: {bounce_domain} is under {organisational})"
    return dkim, spf
