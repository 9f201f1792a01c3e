"""A domain's DMARC record (RFC 7489), and which of DKIM and SPF will align with `From:`.

The record is the one TXT value starting `v=DMARC1` at ``_dmarc.<From domain>``, or else at
the organisational domain's (RFC 7489 6.6.3). The organisational domain is properly found with
the Public Suffix List, which returnpath does not carry; the parents of the domain are asked
instead, up to two labels, which finds the same record except under multi-label public
suffixes (``example.co.uk`` asks ``_dmarc.co.uk`` too, where nothing is published).

Alignment (RFC 7489 3.1), for mail returnpath signs for a sending domain `D` with its bounce
domain `B` as envelope sender:

- DKIM: the signature's ``d=`` is `D`. Relaxed alignment (the default) passes for mail from `D`
  and from its subdomains; strict (``adkim=s``) only for mail from `D` itself.
- SPF: the envelope sender's domain is `B`, and SPF must pass for it. Relaxed alignment passes
  when `B` is `D` or under `D` (or under the domain where the DMARC record was found, the
  organisational domain); strict (``aspf=s``) only when `B` is the From domain itself, which a
  bounce domain of its own never is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lookups import Lookups


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    found_at: str  # the domain whose _dmarc name holds it
    tags: dict[str, str]

    @property
    def policy(self) -> str:
        return self.tags.get("p", "")

    @property
    def dkim_strict(self) -> bool:
        return self.tags.get("adkim", "r").lower() == "s"

    @property
    def spf_strict(self) -> bool:
        return self.tags.get("aspf", "r").lower() == "s"


def parse_tags(value: str) -> dict[str, str]:
    """`v=DMARC1; p=none; rua=...` as a dict (names lowercased)."""
    tags = {}
    for part in value.split(";"):
        name, eq, text = part.partition("=")
        if eq:
            tags[name.strip().lower()] = text.strip()
    return tags


def find_record(lookups: Lookups, domain: str) -> tuple[DmarcRecord | None, list[str]]:
    """The DMARC record for mail from `domain`, and the problems met on the way (two records at
    one name: RFC 7489 6.6.3 says to use none of them)."""
    problems = []
    labels = domain.lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):
        name = ".".join(labels[start:])
        found = [v for v in lookups.txt(f"_dmarc.{name}") if v.replace(" ", "").upper().startswith("V=DMARC1")]
        if len(found) > 1:
            problems.append(f"_dmarc.{name} has {len(found)} DMARC records, so receivers use none (RFC 7489 6.6.3)")
            continue
        if found:
            return DmarcRecord(name, parse_tags(found[0])), problems
    return None, problems


def under(name: str, domain: str) -> bool:
    """Whether `name` is `domain` or a subdomain of it."""
    return name == domain or name.endswith("." + domain)


def alignment(record: DmarcRecord, domain: str, bounce_domain: str, spf_passes: bool) -> tuple[str, str]:
    """What DKIM and SPF alignment will do for mail from `domain` signed as `domain` and sent with
    an envelope sender at `bounce_domain`, each in a few words (see the module's docstring)."""
    if record.dkim_strict:
        dkim = f"DKIM aligns for mail from {domain} itself (adkim=s), not from its subdomains"
    else:
        dkim = f"DKIM aligns (relaxed) for mail from {domain} and its subdomains"
    if record.spf_strict:
        spf = f"SPF does not align: aspf=s needs the envelope domain to be the From domain, not {bounce_domain}"
    elif not (under(bounce_domain, domain) or under(bounce_domain, record.found_at)):
        spf = f"SPF does not align: the bounce domain {bounce_domain} is not under {domain}"
    elif not spf_passes:
        spf = f"SPF would align (relaxed: {bounce_domain} is under {domain}) but does not pass"
    else:
        spf = f"SPF aligns (relaxed: {bounce_domain} is under {domain})"
    return dkim, spf
