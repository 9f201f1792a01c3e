"""The checks of one sending domain: what receivers will find in DNS for its mail.

- each signing key's DKIM record (and a rotation's next key's, once made) carries that key;
- the bounce domain's MX points at this host, or what comes back never reaches returnpath;
- the bounce domain's SPF passes for every sending address: it is the envelope sender's
  domain, the one SPF checks (RFC 7208 2.4);
- a DMARC record exists, and DKIM and SPF align with `From:` under it (dmarc.py).

A missing DMARC record is a fail, not a warn: since February 2024 Gmail and Yahoo require one
of bulk senders (p=none suffices), and making returnpath's mail pass DMARC is what sending
domains are for (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..core.senders import SendingDomain
from ..dkim import keys, records
from ..errors import StoreError
from . import Check, fail, is_public_name, ok, warn
from .dmarc import alignment, tree_walk
from .lookups import Lookups, Unanswered
from .spf import evaluate

AGAIN = (
    "ask again later; if it persists, check that the DNS servers asked answer ([dns] nameservers, else "
    "/etc/resolv.conf); if they do, the domain's DNS servers are failing and receivers cannot check it either"
)


def cannot_check(what: str, exc: Unanswered) -> Check:
    return warn(what, f"cannot check: {exc}", AGAIN)


# The private key of one of the domain's selectors, as read from the store (usecases/domains.py:
# key_reader); StoreError when it cannot be had.
KeyOf = Callable[[str], keys.DomainKey]


def dkim_checks(lookups: Lookups, key_of: KeyOf, domain: SendingDomain) -> list[Check]:
    """One line per selector: signing ones must be published; a rotation's next ones are warned
    about until they are (the rotation waits for them)."""
    found = []
    pending = [s for s in (domain.pending_rsa_selector, domain.pending_ed25519_selector) if s]
    for selector in [*domain.selectors, *pending]:
        name = records.record_name(selector, domain.domain)
        what = f"DKIM {name}"
        publish = f"publish the record `returnpath domains show {domain.domain}` prints for {selector}"
        try:
            key = key_of(selector)
        except StoreError as exc:
            fix = "give this node the `secret` (returnpath.toml) of the node that made the key, or add the domain anew"
            found.append(fail(what, str(exc), fix))
            continue
        try:
            problem = records.record_problem(key, lookups.txt(name))
        except Unanswered as exc:
            found.append(cannot_check(what, exc))
            continue
        if problem is None:
            found.append(ok(what, f"published; it carries the {key.algorithm.value} key that signs"))
        elif selector in pending:
            found.append(warn(what, f"the next key (rotation) is not published yet: {problem}", publish))
        else:
            found.append(fail(what, problem, publish))
    return found


def mx_check(lookups: Lookups, bounce_domain: str, hostname: str) -> Check:
    """The bounce domain's MX must lead to this host (by name, or by an address of this host's name)."""
    what = f"MX {bounce_domain}"
    fix = f"publish `{bounce_domain} MX 10 {hostname}`"
    if not is_public_name(hostname):  # an MX naming "localhost" would send the bounces nowhere
        fix = f"set hostname in returnpath.toml to this host's public DNS name, and publish `{bounce_domain} MX 10 <that name>`"
    try:
        hosts = [host for _, host in lookups.mx(bounce_domain)]
        if not hosts:
            return fail(what, "no MX record: returned mail for it goes nowhere (or to its A record)", fix)
        if "." in hosts:
            return fail(what, "a null MX (RFC 7505): the domain says it takes no mail, so bounces are lost", fix)
        if hostname in hosts:
            return ok(what, f"points at this host ({hostname})")
        ours = set(lookups.addresses(hostname))
        for host in hosts:
            shared = ours & set(lookups.addresses(host))
            if shared:
                return ok(what, f"points at {host}, which has this host's address {min(shared)}")
    except Unanswered as exc:
        return cannot_check(what, exc)
    return fail(what, f"points at {', '.join(hosts)}, not at this host ({hostname}): bounces go elsewhere", fix)


def spf_checks(
    lookups: Lookups, bounce_domain: str, addresses: Sequence[str], hostname: str
) -> tuple[list[Check], bool]:
    """One line per sending address; and whether SPF passes for all of them."""
    found, passes = [], 0
    for address in addresses:
        what = f"SPF {bounce_domain} for {address}"
        ip = f"ip{'6' if ':' in address else '4'}:{address}"
        mechanism = f"a:{hostname}" if is_public_name(hostname) else ip
        fix = f'publish `{bounce_domain} TXT "v=spf1 {mechanism} -all"` (or add {ip} to its record)'
        result = evaluate(lookups, address, bounce_domain)
        if result.result == "pass":
            passes += 1
            found.append(ok(what, f"pass: {result.term}"))
        elif result.result == "temperror":
            found.append(warn(what, f"cannot check: {result.reason}", AGAIN))
        elif result.result == "none":
            found.append(fail(what, f"no SPF record: {result.reason}", fix))
        elif result.result == "permerror":
            found.append(
                fail(
                    what,
                    f"a broken record (permerror, receivers treat it as failing): {result.reason}",
                    "fix the record so that it has fewer than 10 lookups and valid terms; " + fix,
                )
            )
        else:
            term = f" ({result.term})" if result.term else ""
            found.append(fail(what, f"{result.result}{term}: {result.reason}", fix))
    return found, bool(addresses) and passes == len(addresses)


def dmarc_checks(lookups: Lookups, domain: SendingDomain, spf_passes: bool) -> list[Check]:
    """The DMARC line: the policy record found by the DNS Tree Walk (dmarc.py), the policy that
    applies to the domain's mail, its organisational domain, and which alignment passes."""
    what = f"DMARC {domain.domain}"
    suggestion = f'publish `_dmarc.{domain.domain} TXT "v=DMARC1; p=none; rua=mailto:postmaster@{domain.domain}"`'
    try:
        walk = tree_walk(lookups, domain.domain)
        bounce_walk = tree_walk(lookups, domain.bounce_domain)
    except Unanswered as exc:
        return [cannot_check(what, exc)]
    record = walk.policy_record
    if record is None:
        why = "; ".join(walk.problems) or f"no DMARC record at _dmarc.{domain.domain} nor at a parent domain"
        return [fail(what, why + " (Gmail and Yahoo require one of bulk senders)", suggestion)]
    where = f"_dmarc.{record.found_at}"
    policy = record.policy or "(none given)"
    if record.policy not in ("none", "quarantine", "reject"):
        return [fail(what, f"{where} has p={policy}, not none, quarantine or reject: receivers ignore it", suggestion)]
    tags = f"p={policy}" + (f" sp={record.subdomain_policy}" if record.subdomain_policy else "")
    if record.found_at == domain.domain:
        applies = f"p={walk.policy} applies to mail from {domain.domain}"
    else:  # a parent's record: the domain is one of its subdomains
        applies = f"{'sp' if record.subdomain_policy else 'p'}={walk.policy} applies to mail from {domain.domain}, a subdomain"
    dkim, spf = alignment(walk, bounce_walk, spf_passes)
    detail = f"{where} {tags}; {applies}; organisational domain {walk.organisational_domain}; {dkim}; {spf}"
    return [ok(what, detail)]


def domain_checks(
    lookups: Lookups, key_of: KeyOf, domain: SendingDomain, addresses: Sequence[str], hostname: str
) -> list[Check]:
    """Every check of `domain`, in the order of the module's docstring."""
    found = dkim_checks(lookups, key_of, domain)
    found.append(mx_check(lookups, domain.bounce_domain, hostname))
    spf, spf_passes = spf_checks(lookups, domain.bounce_domain, addresses, hostname)
    found += spf
    found += dmarc_checks(lookups, domain, spf_passes)
    return found
