"""Managing sending domains (issue 11): add one (its DKIM keys made and kept in the store),
list them, show the DNS records to publish, remove one. Shared by the CLI
(`returnpath domains ...`) and the API (`/v1/domains`); every call is scoped by the account
that owns the domain, and another account's domain is "not there".

Keys live in the store (its `dkim_keys` table), sealed with a key of the instance's secret
(dkim/sealing.py), so that every node of a deployment on one PostgreSQL database signs with
them; the domain's row says which selectors sign. Earlier versions wrote them as files,
``<data folder>/domains/<domain>/<selector>.pem`` (dkim/keys.py): `import_key_files` stores
those at `migrate` and at `serve`'s start, and a key missing from the store is looked for
there too before signing gives up; the files are left where they are. Removing a domain keeps
its keys: a selector once published is never used again (keys.next_selectors is given every
selector the store, or a file, has for the domain), and mail queued before the removal was
signed when it was accepted, so it goes on being delivered as it is. Its row stays too, marked
removed, so that the inbound server accepts the DSNs of that mail at its bounce domain for
`senders.bounce_kept` (the retry lifetime plus a week) before the supervisor's purge deletes
it.

Adding a removed domain again, within that time or after, by its account or another, makes it
new: new keys under selectors the domain never had, and the bounce domain given (or the
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver

from .. import config
from ..config import Settings
from ..core.events import format_time
from ..core.model import Account
from ..core.ports import SealedKey, Store
from ..core.senders import RETIRED_KEEP, SendingDomain, default_bounce_domain, parse_domain, taken
from ..dkim import keys, lookup, records, sealing
from ..errors import InputError, NotFound, ReturnpathError, StoreError

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
    """Where earlier versions kept the key files of `domain` (imported by `import_key_files`)."""
    return settings.path("domains") / domain


async def signing_keys(store: Store, settings: Settings, domain: SendingDomain) -> list[keys.DomainKey]:
    """The keys of the selectors that sign for `domain`, RSA first; StoreError naming the
    domain and selector when one is missing or does not open (another secret)."""
    return await _read(store, settings, domain.domain, domain.selectors)


async def pending_keys(store: Store, settings: Settings, domain: SendingDomain) -> list[keys.DomainKey]:
    """The keys of a pending rotation, RSA first (none outside one); StoreError as above."""
    return await _read(store, settings, domain.domain, domain.pending_selectors)


async def _read(store: Store, settings: Settings, domain: str, selectors: tuple[str, ...]) -> list[keys.DomainKey]:
    found = []
    for key in (await _read_each(store, settings, domain, selectors)).values():
        if isinstance(key, StoreError):
            raise key
        found.append(key)
    return found


async def _read_each(
    store: Store, settings: Settings, domain: str, selectors: tuple[str, ...]
) -> dict[str, keys.DomainKey | StoreError]:
    """The key of each of `selectors`, in their order, or the StoreError that reading it met;
    the store's keys of `domain` read once."""
    stored = {key.selector: key for key in await store.dkim_keys(domain)}
    cipher = sealing.sealing_key(settings.secret_bytes)
    found: dict[str, keys.DomainKey | StoreError] = {}
    for selector in selectors:
        try:
            if selector not in stored:  # made by an earlier version, as a file: this node may hold it
                stored |= {key.selector: key for key in await _import_files(store, settings, domain, [selector])}
            found[selector] = sealing.unseal(cipher, stored[selector])
        except StoreError as exc:
            found[selector] = exc
    return found


async def _used_selectors(store: Store, settings: Settings, domain: str) -> list[str]:
    """Every selector `domain` has had a key under: none may be used again (dkim/keys.py). Key
    files not imported yet count too."""
    folder = keys_folder(settings, domain)
    files = [key.stem for key in folder.glob("*" + keys.KEY_SUFFIX)] if folder.is_dir() else []
    return [*(key.selector for key in await store.dkim_keys(domain)), *files]


async def import_key_files(store: Store, settings: Settings) -> int:
    """Store the key files of earlier versions (``<data>/domains/<domain>/<selector>.pem``) that
    the store does not hold yet, sealed; how many were new. `migrate` and `serve` call it, so
    that every node of a deployment signs with them, not only the one that has the files; a
    file that cannot be read is said in the log and left (signing tries it again, and says
    why it cannot). The files stay, so that an earlier version run again still finds them."""
    root = settings.path("domains")
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise StoreError(f"cannot list the DKIM key folders in {root}: {exc.strerror or exc}") from exc
    imported = 0
    for folder in folders:
        stored = {key.selector for key in await store.dkim_keys(folder.name)}
        files = sorted(p.stem for p in folder.glob("*" + keys.KEY_SUFFIX) if not p.name.startswith("."))
        for selector in (s for s in files if s not in stored):
            try:
                imported += len(await _import_files(store, settings, folder.name, [selector], only_new=True))
            except StoreError as exc:
                log.warning("DKIM key file not imported into the store: %s", exc)
    return imported


async def _import_files(
    store: Store, settings: Settings, domain: str, selectors: list[str], *, only_new: bool = False
) -> list[SealedKey]:
    """The keys of `selectors` as the store holds them after importing their files (where
    another node imported one meanwhile, the store's copy); with `only_new`, only those this
    call imported. StoreError naming the file that cannot be read, or the key that is in
    neither place."""
    folder = keys_folder(settings, domain)
    cipher = sealing.sealing_key(settings.secret_bytes)
    found = []
    for selector in selectors:
        path = keys.key_path(folder, selector)
        if not path.exists():
            raise StoreError(f"the DKIM key {selector} of {domain} is in neither the store nor this node's {path}")
        key = keys.read_key(path)
        try:
            made = path.stat().st_mtime  # when the key was written: the nearest to when it was made
        except OSError as exc:
            raise StoreError(f"cannot read the DKIM key {path}: {exc.strerror or exc}") from exc
        sealed = sealing.seal(cipher, domain, key, made)
        if await store.import_dkim_keys([sealed]):
            log.info("DKIM key %s of %s imported into the store from %s (the file stays)", selector, domain, path)
            found.append(sealed)
        elif not only_new:  # imported meanwhile, by another node or call: the store's copy counts
            found += [k for k in await store.dkim_keys(domain) if k.selector == selector]
    return found


async def key_reader(store: Store, settings: Settings, domain: SendingDomain) -> Callable[[str], keys.DomainKey]:
    """The keys of `domain`'s signing and pending selectors, read now, for the checks of
    `domains check` and `doctor` (checks/sending.py), which do not await: a function of a
    selector that returns its key, or raises the StoreError that reading it met."""
    found = await _read_each(store, settings, domain.domain, (*domain.selectors, *domain.pending_selectors))

    def key_of(selector: str) -> keys.DomainKey:
        key = found[selector]
        if isinstance(key, StoreError):
            raise key
        return key

    return key_of


async def add_domain(
    store: Store, settings: Settings, account: Account, name: str, now: float, bounce_domain: str | None = None
) -> SendingDomain:
    """Configure `name` for the account: new keys under the month's next free selectors, stored
    sealed with the row, in one transaction. InputError for a name that is no domain, or a
    domain configured already (for this account or another)."""
    domain = parse_domain(name)
    bounce = parse_domain(bounce_domain, "bounce domain") if bounce_domain else None
    if bounce == domain:
        # Its MX and SPF record would replace the domain's own: the domain's mail would come
        # here and its other senders fail SPF.
        raise InputError(
            f"the bounce domain must not be the domain {domain} itself, whose MX it takes over: "
            f"give a name of its own under it, such as {default_bounce_domain(domain, settings.bounce_domain)}"
        )
    existing = await store.domain(domain)
    if existing is not None:
        raise taken(existing, account.id)
    # Selectors of keys left by an earlier configuration of the domain are not used again.
    pair = keys.generate_pair(now, await _used_selectors(store, settings, domain))
    sending = SendingDomain(
        account_id=account.id,
        domain=domain,
        bounce_domain=bounce or default_bounce_domain(domain, settings.bounce_domain),
        created_at=now,
        rsa_selector=pair[0].selector,
        ed25519_selector=pair[1].selector,
    )
    await store.add_domain(sending, _sealed(settings, domain, pair, now))
    return sending


def _sealed(settings: Settings, domain: str, pair: tuple[keys.DomainKey, ...], now: float) -> list[SealedKey]:
    cipher = sealing.sealing_key(settings.secret_bytes)
    return [sealing.seal(cipher, domain, key, now) for key in pair]


async def find_domain(store: Store, account: Account, name: str) -> SendingDomain:
    """The account's domain `name`; NotFound when the account has no such domain (another
    account's is not there either)."""
    domain = await store.domain(name.strip().lower().rstrip("."))
    if domain is None or domain.account_id != account.id:
        raise NotFound(f"no domain {name!r} in this account")
    return domain


async def remove_domain(store: Store, account: Account, name: str, now: float) -> SendingDomain:
    """Stop signing for the domain and using its bounce domain for new mail. Its keys stay,
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
            f"publish its records (`returnpath domains show {domain.domain}`, GET /v1/domains/{domain.domain}); "
            "it switches once they are seen"
        )
    used = [*await _used_selectors(store, settings, domain.domain), *domain.selectors, *(s for s, _ in domain.retired)]
    pair = keys.generate_pair(now, used)
    rotating = domain.rotating(pair[0].selector, pair[1].selector)
    if not await store.update_domain(rotating, domain, _sealed(settings, domain.domain, pair, now)):
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
    problems = await lookup.key_problems(resolver, domain.domain, await pending_keys(store, settings, domain))
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


async def dns_records(store: Store, settings: Settings, domain: SendingDomain) -> list[DnsRecord]:
    """What to publish for `domain`, in the order of the module's docstring; a pending
    rotation's key records after the signing ones."""
    found = []
    for key, purpose in [
        *((key, "DKIM key ({})") for key in await signing_keys(store, settings, domain)),
        *(
            (key, "next DKIM key ({}): signs once this record is seen")
            for key in await pending_keys(store, settings, domain)
        ),
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
    """Comment lines `domains add` and `show` print after the records: how to do better than
    an SPF record by name, and a hostname that no receiver can reach, which the MX (and that
    SPF record) would point at. `init` writes the machine's name, which on a host without a
    public DNS name is "localhost" or a bare name; `doctor` fails it too, but only once the
    records are published."""
    notes = [] if config.public_addresses(settings) else [f"; SPF names {SPF_BY_NAME}"]
    if not _public_name(settings.hostname):
        notes.append(
            f"; hostname {settings.hostname!r} is no public DNS name, so the MX above leads nowhere: set hostname "
            "in returnpath.toml to this host's public DNS name, then print the records again (domains show)"
        )
    return notes


def _public_name(hostname: str) -> bool:
    name = hostname.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return "." in name and name.rsplit(".", 1)[-1] not in {"localhost", "localdomain", "local", "internal"}
    return False  # an MX must name a host, not an address (RFC 7505 3, RFC 5321 5.1)


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
    """The records as aligned zone-file lines, as `domains add` and `show` print them.

    Names are written absolute, with the final dot, and so is an MX record's host: in a zone
    file (RFC 1035 5.1) a name without it is relative to $ORIGIN, so that
    ``rp202612._domainkey.example.com`` pasted into example.com's zone would publish the key at
    ``rp202612._domainkey.example.com.example.com``. The JSON (`--json`, the API) keeps the
    names without the dot, as providers' forms take them."""
    width = max(len(r.name) for r in found) + 1
    return [f"{r.name + '.':<{width}}  {r.type:<3}  {_absolute_value(r)}" for r in found]


def _absolute_value(record: DnsRecord) -> str:
    if record.type != "MX":
        return record.value
    preference, host = record.value.split()
    return f"{preference} {host.rstrip('.')}."
