"""Managing sending domains (issue 11): add one (its DKIM keys made and written to the data
folder), list them, show the DNS records to publish, remove one. Shared by the CLI
(`returnpath domains ...`) and the API (`/v1/domains`); every call is scoped by the account
that owns the domain, and another account's domain is "not there".

Keys live in ``<data folder>/domains/<domain>/<selector>.pem`` (dkim/keys.py), 0600; the
store keeps which selectors sign. Removing a domain keeps its key files: a selector once
published is never used again (keys.next_selectors counts the files), and mail queued before
the removal was signed when it was accepted, so it goes on being delivered as it is.

The records to publish for a domain:

* the two DKIM key records (RSA and Ed25519), TXT at ``<selector>._domainkey.<domain>``;
* the bounce domain's MX, pointing at this host (``hostname``: the inbound server's name),
  so that what comes back reaches returnpath;
* the bounce domain's SPF record. It names this host (``a:<hostname>``) rather than an
  address: returnpath does not know the address it sends from behind NAT, and the record
  stays right when that address changes;
* a DMARC record for the domain, as a suggestion (``p=none``: watch the reports before
  asking receivers to act), for a domain that publishes none yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..core.model import Account
from ..core.ports import Store
from ..core.senders import SendingDomain, default_bounce_domain, parse_domain, taken
from ..dkim import keys, records
from ..errors import NotFound, ReturnpathError


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
    folder = keys_folder(settings, domain.domain)
    return [keys.read_key(keys.key_path(folder, selector)) for selector in domain.selectors]


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
    used = [key.stem for key in folder.glob("*" + keys.KEY_SUFFIX)] if folder.is_dir() else []
    pair = keys.generate_pair(now, used)
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


async def remove_domain(store: Store, account: Account, name: str) -> SendingDomain:
    """Stop signing for the domain and using its bounce domain for new mail. Its key files stay
    (see the module's docstring)."""
    domain = await find_domain(store, account, name)
    if not await store.remove_domain(account.id, domain.domain):
        raise NotFound(f"no domain {name!r} in this account")  # removed meanwhile
    return domain


def dns_records(settings: Settings, domain: SendingDomain) -> list[DnsRecord]:
    """What to publish for `domain`, in the order of the module's docstring."""
    found = []
    for key in signing_keys(settings, domain):
        found.append(
            DnsRecord(
                records.record_name(key.selector, domain.domain),
                "TXT",
                records.zone_value(records.record_value(key)),
                f"DKIM key ({key.algorithm.value})",
            )
        )
    host = settings.hostname.rstrip(".")
    found.append(DnsRecord(domain.bounce_domain, "MX", f"10 {host}", "returned mail reaches this host"))
    found.append(
        DnsRecord(domain.bounce_domain, "TXT", f'"v=spf1 a:{host} -all"', "SPF: this host sends for the bounce domain")
    )
    found.append(
        DnsRecord(
            f"_dmarc.{domain.domain}",
            "TXT",
            f'"v=DMARC1; p=none; rua=mailto:postmaster@{domain.domain}"',
            "DMARC: a suggestion, if the domain publishes none yet",
        )
    )
    return found


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
    }


def zone_lines(found: list[DnsRecord]) -> list[str]:
    """The records as aligned zone-file-like lines, as `domains add` and `show` print them."""
    width = max(len(r.name) for r in found)
    return [f"{r.name:<{width}}  {r.type:<3}  {r.value}" for r in found]
