"""Managing sending domains (issue 11): add one (its DKIM keys made and written to the data
folder), list them, show the DNS records to publish, remove one. Shared by the CLI
(`returnpath domains ...`) and the API (`/v1/domains`); every call is scoped by the account
that owns the domain, and another account's domain is "not there".

Keys live in ``<data folder>/domains/<domain>/<selector>.pem`` (dkim/keys.py), 0600; the
store keeps which selectors sign. Removing a domain keeps its key files: a selector once
published is never used again (keys.next_selectors counts the files), and mail queued before
the removal was signed when it was accepted, so it goes on being delivered as it is. Its row
stays too, marked removed, so that the inbound server accepts the DSNs of that mail at its
bounce domain for `senders.bounce_kept` (the retry lifetime plus a week) before the
supervisor's purge deletes it.

Adding a removed domain again, within that time or after, by its account or another, makes it
new: new keys under selectors none of its key files had, and the bounce domain given (or the
default), which may differ from the old one. The old bounce domain is not given up: the store
keeps it, with the time of the removal (`kept_bounce_domains`), and the inbound server accepts
DSNs there for the mail sent before the removal until `bounce_kept` after it, as if the domain
had not been added again.

The records to publish for a domain:

* the two DKIM key records (RSA and Ed25519), TXT at ``<selector>._domainkey.<domain>``;
* the bounce domain's MX, pointing at this host (``hostname``: the inbound server's name),
  so that what comes back reaches returnpath;
* the bounce domain's SPF record: ``ip4:``/``ip6:`` of the sending addresses when
  ``[delivery] public_addresses`` lists them (issue 11's format); otherwise this host by name
  (``a:<hostname>``), as returnpath does not know the address it sends from behind NAT, with a
  comment line saying to set public_addresses;
* a DMARC record for the domain, as a suggestion (``p=none``: watch the reports before
  asking receivers to act), for a domain that publishes none yet.

Rotating the keys (`rotate_domain`) makes a new pair under the next selectors and keeps them
pending: the old keys go on signing, and the new records are listed to publish beside the old
ones. `check_rotation` looks the new records up in DNS (dkim/lookup.py) and, once both carry
their keys, switches: the new selectors sign, the old ones are retired (listed as removable
RETIRED_KEEP after the switch). Nobody has to run a command for the switch: the supervisor
calls `check_rotations` every `[dns] rotation_check` (node/supervisor.py), and `domains show`
checks the domain it shows.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver

from .. import config
from ..config import Settings
from ..core.events import format_time
from ..core.model import Account
from ..core.ports import Store
from ..core.senders import RETIRED_KEEP, SendingDomain, default_bounce_domain, parse_domain, taken
from ..dkim import keys, lookup, records
from ..errors import InputError, NotFound, ReturnpathError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One record to publish: as a zone file line has it, and why."""

    name: str
    type: str
    value: str  # as a zone file writes it: TXT strings quoted
    purpose: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "value": self.value, "purpose": self.purpose}


def keys_folder(settings: Settings, domain: str) -> Path:
    """Where the keys of `domain` are kept."""
    return settings.path("domains") / domain


def signing_keys(settings: Settings, domain: SendingDomain) -> list[keys.DomainKey]:
    """The keys of the selectors that sign for `domain`, RSA first; StoreError naming the file
    when one cannot be read."""
    return _read(settings, domain.domain, domain.selectors)


def pending_keys(settings: Settings, domain: SendingDomain) -> list[keys.DomainKey]:
    """The keys of a pending rotation, RSA first (none outside one); StoreError as above."""
    return _read(settings, domain.domain, domain.pending_selectors)


def _read(settings: Settings, domain: str, selectors: tuple[str, ...]) -> list[keys.DomainKey]:
    folder = keys_folder(settings, domain)
    return [keys.read_key(keys.key_path(folder, selector)) for selector in selectors]


def _used_selectors(settings: Settings, domain: str) -> list[str]:
    """The selectors of every key file of `domain`: none may be used again (dkim/keys.py)."""
    folder = keys_folder(settings, domain)
    return [key.stem for key in folder.glob("*" + keys.KEY_SUFFIX)] if folder.is_dir() else []


async def add_domain(
    store: Store, settings: Settings, account: Account, name: str, now: float, bounce_domain: str | None = None
) -> SendingDomain:
    """Configure `name` for the account: new keys under the month's next free selectors, written
    to the data folder, then the row. InputError for a name that is no domain, or a domain
    configured already (for this account or another)."""
    domain = parse_domain(name)
    bounce = parse_domain(bounce_domain, "bounce domain") if bounce_domain else None
    existing = await store.domain(domain)
    if existing is not None:
        raise taken(existing, account.id)
    folder = keys_folder(settings, domain)
    # Selectors of keys left by an earlier configuration of the domain are not used again.
    pair = keys.generate_pair(now, _used_selectors(settings, domain))
    written = [keys.write_key(folder, key) for key in pair]
    sending = SendingDomain(
        account_id=account.id,
        domain=domain,
        bounce_domain=bounce or default_bounce_domain(domain, settings.bounce_domain),
        created_at=now,
        rsa_selector=pair[0].selector,
        ed25519_selector=pair[1].selector,
    )
    try:
        await store.add_domain(sending)
    except ReturnpathError:
        for path in written:  # never published: nothing can refer to them
            path.unlink(missing_ok=True)
        raise
    return sending


async def find_domain(store: Store, account: Account, name: str) -> SendingDomain:
    """The account's domain `name`; NotFound when the account has no such domain (another
    account's is not there either)."""
    domain = await store.domain(name.strip().lower().rstrip("."))
    if domain is None or domain.account_id != account.id:
        raise NotFound(f"no domain {name!r} in this account")
    return domain


async def remove_domain(store: Store, account: Account, name: str, now: float) -> SendingDomain:
    """Stop signing for the domain and using its bounce domain for new mail. Its key files stay,
    and its bounce domain is still accepted for a while (see the module's docstring)."""
    domain = await find_domain(store, account, name)
    if not await store.remove_domain(account.id, domain.domain, now):
        raise NotFound(f"no domain {name!r} in this account")  # removed meanwhile
    return domain


async def rotate_domain(store: Store, settings: Settings, account: Account, name: str, now: float) -> SendingDomain:
    """Make the domain's next keys, under new selectors, and keep them pending: the current
    keys sign until `check_rotation` sees the new records. InputError when a rotation is
    pending already (publish its records first)."""
    domain = await find_domain(store, account, name)
    if domain.pending_selectors:
        raise InputError(
            f"a rotation of {domain.domain} to {', '.join(domain.pending_selectors)} is pending already: "
            f"publish its records (returnpath domains show {domain.domain}); it switches once they are seen"
        )
    used = [*_used_selectors(settings, domain.domain), *domain.selectors, *(s for s, _ in domain.retired)]
    pair = keys.generate_pair(now, used)
    folder = keys_folder(settings, domain.domain)
    written = [keys.write_key(folder, key) for key in pair]
    rotating = domain.rotating(pair[0].selector, pair[1].selector)
    if not await store.update_domain(rotating, domain):
        for path in written:  # never published
            path.unlink(missing_ok=True)
        raise InputError(f"the domain {domain.domain} was changed meanwhile (rotated or removed); try again")
    return rotating


@dataclass(frozen=True, slots=True)
class RotationCheck:
    """What `check_rotation` found: the domain as it is now, and per pending selector what is
    wrong with its record (None: published and carrying its key). Empty outside a rotation."""

    domain: SendingDomain
    problems: dict[str, str | None]

    @property
    def switched(self) -> bool:
        return bool(self.problems) and not self.domain.pending_selectors


async def check_rotation(
    store: Store, settings: Settings, domain: SendingDomain, resolver: dns.asyncresolver.Resolver, now: float
) -> RotationCheck:
    """Look up the records of the domain's pending keys; when every one carries its key, switch
    to them (the old selectors retired at `now`). LookupFailed when DNS does not answer,
    StoreError when a pending key cannot be read: nothing changes then."""
    if not domain.pending_selectors:
        return RotationCheck(domain, {})
    problems = await lookup.key_problems(resolver, domain.domain, pending_keys(settings, domain))
    if any(problem is not None for problem in problems.values()):
        return RotationCheck(domain, problems)
    switched = domain.switched(now)
    if not await store.update_domain(switched, domain):
        # Another node switched it, or it was removed, meanwhile: report what is there now.
        current = await store.domain(domain.domain)
        return RotationCheck(current or domain, problems)
    log.info(
        "DKIM keys of %s switched to %s: their records are published; %s removable after %s",
        domain.domain,
        ", ".join(switched.selectors),
        ", ".join(domain.selectors),
        format_time(now + RETIRED_KEEP),
    )
    return RotationCheck(switched, problems)


async def check_rotations(store: Store, settings: Settings, resolver: dns.asyncresolver.Resolver, now: float) -> int:
    """Check every domain with a rotation pending (see `check_rotation`); how many switched. A
    domain whose lookup fails, or whose pending key cannot be read, is said and left for the
    next check."""
    switched = 0
    for domain in await store.domains():
        if not domain.pending_selectors:
            continue
        try:
            switched += (await check_rotation(store, settings, domain, resolver, now)).switched
        except ReturnpathError as exc:  # LookupFailed, StoreError
            log.warning("rotation of the DKIM keys of %s not checked: %s", domain.domain, exc)
    return switched


def dns_records(settings: Settings, domain: SendingDomain) -> list[DnsRecord]:
    """What to publish for `domain`, in the order of the module's docstring; a pending
    rotation's key records after the signing ones."""
    found = []
    for key, purpose in [
        *((key, "DKIM key ({})") for key in signing_keys(settings, domain)),
        *((key, "next DKIM key ({}): signs once this record is seen") for key in pending_keys(settings, domain)),
    ]:
        found.append(
            DnsRecord(
                records.record_name(key.selector, domain.domain),
                "TXT",
                records.zone_value(records.record_value(key)),
                purpose.format(key.algorithm.value),
            )
        )
    host = settings.hostname.rstrip(".")
    found.append(DnsRecord(domain.bounce_domain, "MX", f"10 {host}", "returned mail reaches this host"))
    found.append(spf_record(settings, domain.bounce_domain))
    found.append(
        DnsRecord(
            f"_dmarc.{domain.domain}",
            "TXT",
            f'"v=DMARC1; p=none; rua=mailto:postmaster@{domain.domain}"',
            "DMARC: a suggestion, if the domain publishes none yet",
        )
    )
    return found


def spf_record(settings: Settings, bounce_domain: str) -> DnsRecord:
    """The bounce domain's SPF record: the sending addresses (`[delivery] public_addresses`) as
    ip4:/ip6: mechanisms, which receivers match without a lookup of their own; when that is not
    set, this host by name (a:), which is right only if the hostname resolves to the address
    the mail leaves from (not behind NAT)."""
    addresses = config.public_addresses(settings)
    if addresses:
        mechanisms = " ".join(f"ip{ipaddress.ip_address(a).version}:{a}" for a in addresses)
        return DnsRecord(bounce_domain, "TXT", f'"v=spf1 {mechanisms} -all"', "SPF: the addresses this host sends from")
    host = settings.hostname.rstrip(".")
    return DnsRecord(bounce_domain, "TXT", f'"v=spf1 a:{host} -all"', f"SPF: {SPF_BY_NAME}")


# Said with an SPF record that names the host (a:) rather than its addresses.
SPF_BY_NAME = "this host by name: set [delivery] public_addresses to list the sending addresses (ip4:/ip6:) instead"


def record_notes(settings: Settings) -> list[str]:
    """Comment lines `domains add` and `show` print after the records."""
    return [] if config.public_addresses(settings) else [f"; SPF names {SPF_BY_NAME}"]


def domain_json(domain: SendingDomain) -> dict[str, object]:
    """A domain as `domains list` and the API show it."""
    return {
        "domain": domain.domain,
        "account": domain.account_id,
        "bounce_domain": domain.bounce_domain,
        "created_at": domain.created_at,
        "state": domain.state.value,
        "selectors": {"rsa": domain.rsa_selector, "ed25519": domain.ed25519_selector},
        "pending_selectors": {"rsa": domain.pending_rsa_selector, "ed25519": domain.pending_ed25519_selector},
        "retired": [
            {
                "selector": selector,
                "name": records.record_name(selector, domain.domain),
                "retired_at": at,
                "removable_after": at + RETIRED_KEEP,
            }
            for selector, at in domain.retired
        ],
    }


def retired_lines(domain: SendingDomain) -> list[str]:
    """The retired key records, as `domains show` lists them after those to publish."""
    return [
        f"; retired: {records.record_name(selector, domain.domain)} TXT  removable after {format_time(at + RETIRED_KEEP)} UTC"
        for selector, at in domain.retired
    ]


def zone_lines(found: list[DnsRecord]) -> list[str]:
    """The records as aligned zone-file-like lines, as `domains add` and `show` print them."""
    width = max(len(r.name) for r in found)
    return [f"{r.name:<{width}}  {r.type:<3}  {r.value}" for r in found]
