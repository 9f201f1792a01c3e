"""`returnpath domains check` and `returnpath doctor`: the checks (checks/) put together.

`domain_report` checks the DNS of one sending domain, or of every one; `doctor_report` checks
everything an operator must get right: the store, every sending domain, the instance's own
bounce domain (`bounce_domain`, for mail of other domains), this host's name, the reverse DNS
of the sending addresses, the TLS certificate, the data folder's permissions, free disk and the
clock. Both return the lines in that order; the CLI prints them and exits 1 on any fail.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from urllib.parse import quote

from ..checks import Check, fail, ok
from ..checks.host import (
    clock_check,
    disk_checks,
    fcrdns_checks,
    hostname_check,
    permission_checks,
    sending_addresses,
    tls_check,
)
from ..checks.lookups import Lookups
from ..checks.sending import KeyOf, domain_checks, mx_check
from ..config import Settings
from ..core.ports import Store
from ..core.senders import SendingDomain
from ..errors import NotFound, ReturnpathError
from ..store import open_store
from .domains import key_reader


def lookups_for(settings: Settings) -> Lookups:
    """The DNS as `[dns]` configures it for delivery."""
    return Lookups(settings.dns.servers(), float(settings.dns.timeout))


async def domains_to_check(store: Store, name: str | None, account_id: str | None) -> list[SendingDomain]:
    """The domain `name` (of `account_id` when given), or every domain (of `account_id`)."""
    if name is None:
        return await store.domains(account_id)
    domain = await store.domain(name.strip().lower().rstrip("."))
    if domain is None or (account_id is not None and domain.account_id != account_id):
        raise NotFound(f"no sending domain {name!r}" + (" in this account" if account_id else ""))
    return [domain]


async def keys_of(store: Store, settings: Settings, domains: Sequence[SendingDomain]) -> dict[str, KeyOf]:
    """The DKIM keys of `domains`, by domain, read from the store for their checks."""
    return {domain.domain: await key_reader(store, settings, domain) for domain in domains}


def checks_of(
    settings: Settings,
    lookups: Lookups,
    domains: Sequence[SendingDomain],
    addresses: Sequence[str],
    key_of: Mapping[str, KeyOf],
) -> list[Check]:
    host = settings.hostname.lower().rstrip(".")
    found: list[Check] = []
    for domain in domains:
        found += domain_checks(lookups, key_of[domain.domain], domain, addresses, host)
    return found


async def domain_report(
    store: Store,
    settings: Settings,
    name: str | None = None,
    account_id: str | None = None,
    probed: Sequence[str] | None = None,
) -> list[Check]:
    """`domains check [DOMAIN]`: where the sending addresses come from, then each domain's lines."""
    domains = await domains_to_check(store, name, account_id)
    addresses, line = sending_addresses(settings, probed)
    key_of = await keys_of(store, settings, domains)
    return [line, *checks_of(settings, lookups_for(settings), domains, addresses, key_of)]


async def doctor_report(settings: Settings, now: float, probed: Sequence[str] | None = None) -> list[Check]:
    """`doctor`: every check (see the module's docstring)."""
    lookups = lookups_for(settings)
    addresses, addresses_line = sending_addresses(settings, probed)
    store_line, domains, key_of = await _store_check(settings)
    host = settings.hostname.lower().rstrip(".")
    found = [store_line, addresses_line, *checks_of(settings, lookups, domains, addresses, key_of)]
    default = settings.bounce_domain.lower().rstrip(".")
    if default not in {domain.bounce_domain for domain in domains}:  # else checked above already
        found.append(mx_check(lookups, default, host))
    found.append(hostname_check(lookups, host, addresses))
    found += fcrdns_checks(lookups, addresses, host)
    found.append(tls_check(settings, datetime.datetime.fromtimestamp(now, datetime.UTC)))
    found += permission_checks(settings)
    found += disk_checks(settings)
    found.append(clock_check())
    return found


# What to do when PostgreSQL cannot be reached or refuses the connection (libpq's reason is in
# the message): migrate would fail in the same way, so it is not suggested.
CANNOT_CONNECT = (
    "start the database server, or correct [storage] url (host, port, user, password, database "
    "name); a database that does not exist yet: create it (`createdb -O USER NAME`)"
)


async def _store_check(settings: Settings) -> tuple[Check, list[SendingDomain], dict[str, KeyOf]]:
    """Whether the store can be opened at this returnpath's schema; its domains and their keys
    if so. An SQLite file is read first without writing (opening it as the store would migrate
    it)."""
    what = f"store {settings.store_display}"
    if settings.store_backend == "sqlite":
        problem = _sqlite_problem(settings)
        if problem is not None:
            return problem, [], {}
    from ..store.postgresql.postgres_database import CannotConnect

    store = open_store(settings)
    try:
        await store.open()
    except CannotConnect as exc:  # before any schema: migrate would fail alike
        return fail(what, str(exc), CANNOT_CONNECT), [], {}
    except ReturnpathError as exc:
        return fail(what, str(exc), "run `returnpath migrate` (or upgrade returnpath) as the message says"), [], {}
    try:
        domains = await store.domains()
        key_of = await keys_of(store, settings, domains)
    except ReturnpathError as exc:
        return fail(what, str(exc), "check that the database is up"), [], {}
    finally:
        await store.close()
    return ok(what, f"reachable, at this returnpath's schema; {len(domains)} sending domain(s)"), domains, key_of


def _sqlite_problem(settings: Settings) -> Check | None:
    from ..store.sqlite.sqlite_database import newest as newest_version

    path = settings.sqlite_path
    what = f"store {path}"
    if not path.is_file():
        return fail(
            what, "the file does not exist", "check [storage] url, or create the data folder with `returnpath init`"
        )
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.OperationalError as exc:  # "unable to open database file"
        return fail(what, f"cannot be read: {exc}", "check the file's owner and permissions")
    except sqlite3.Error as exc:  # "file is not a database": damaged, or another file at that path
        return fail(
            what,
            f"cannot be read: {exc}",
            "restore it from a backup, or set [storage] url to the node's returnpath.db",
        )
    newest = newest_version()
    if version > newest:
        return fail(what, f"at schema version {version}, newer than this returnpath's {newest}", "upgrade returnpath")
    return None
