"""The checks of this host: its name, the sending addresses' reverse DNS, the TLS certificate,
the data folder's permissions, free disk and the clock.

The sending addresses are `[delivery] public_addresses`; when none are set, the local address
the kernel would use to reach the internet, found by connect() on a UDP socket, which sends
nothing (the destinations are documentation addresses, RFC 5737 and RFC 3849, routed by the
default route like any other). Behind NAT that address is not the one receivers see, so a
private one is reported as such and not checked in DNS.

The clock cannot be compared with a time server from here (no NTP client, and no network to
assume): what is checked is whether the system says it is synchronised — `timedatectl`, or the
kernel's own flag (adjtimex(2) answers TIME_ERROR while it is not) — and "cannot tell" otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from ..config import Settings, public_addresses
from ..private import loose
from . import Check, fail, is_public_name, ok, warn
from .lookups import Lookups, Unanswered
from .sending import cannot_check

CERT_WARN_DAYS = 21
_PROBES = (("192.0.2.1", socket.AF_INET), ("2001:db8::1", socket.AF_INET6))


def local_addresses() -> list[str]:
    """The local addresses the kernel picks to reach the internet (IPv4, IPv6), if any."""
    found = []
    for target, family in _PROBES:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 53))  # UDP: picks a route and source address, sends nothing
                found.append(str(probe.getsockname()[0]))
        except OSError:
            continue  # no route of that family
    return found


def sending_addresses(settings: Settings, probed: Sequence[str] | None = None) -> tuple[list[str], Check]:
    """The addresses to check in DNS, and the line that says where they come from."""
    what = "sending addresses"
    configured = public_addresses(settings)
    if configured:
        return configured, ok(what, f"{', '.join(configured)} ([delivery] public_addresses)")
    found = list(local_addresses() if probed is None else probed)
    fix = "set [delivery] public_addresses to the address(es) receivers see this host's mail come from"
    if not found:
        return [], fail(what, "none set and no route to the internet found", fix)
    public = [a for a in found if ipaddress.ip_address(a).is_global]
    private = [a for a in found if a not in public]
    if private:
        return public, warn(
            what,
            f"none set; the local address used to reach the internet is {', '.join(found)}, of which "
            f"{', '.join(private)} {'is' if len(private) == 1 else 'are'} not public (NAT?), so not checked in DNS",
            fix,
        )
    return public, ok(what, f"{', '.join(public)} (none set: the local address used to reach the internet)")


def hostname_check(lookups: Lookups, hostname: str, addresses: Sequence[str]) -> Check:
    what = f"hostname {hostname}"
    try:
        found = lookups.addresses(hostname)
    except Unanswered as exc:
        return cannot_check(what, exc)
    if not found:
        fix = f"publish {hostname}'s address"
        if not is_public_name(hostname):
            fix = "set hostname in returnpath.toml to this host's public DNS name, and publish its address"
        return fail(what, "no A or AAAA record: the MX of the bounce domains leads nowhere", fix)
    if addresses and not set(found) & set(addresses):
        return warn(
            what,
            f"resolves to {', '.join(found)}, none of the sending addresses: receivers compare the EHLO name "
            "with the connecting address",
            f"point {hostname} at {addresses[0]}, or set hostname to the sending address's name",
        )
    return ok(what, f"resolves to {', '.join(found)}")


def fcrdns_checks(lookups: Lookups, addresses: Sequence[str], hostname: str) -> list[Check]:
    """Forward-confirmed reverse DNS of each sending address: Gmail refuses mail from an address
    without it (its sender guidelines: "valid forward and reverse DNS records")."""
    found = []
    for address in addresses:
        what = f"reverse DNS {address}"
        fix = f"ask whoever owns {address} (the hosting provider) to set its PTR record to {hostname}"
        try:
            names = lookups.ptr(address)
            if not names:
                found.append(fail(what, "no PTR record: many receivers refuse mail from it", fix))
                continue
            back = [name for name in names if address in lookups.addresses(name)]
        except Unanswered as exc:
            found.append(cannot_check(what, exc))
            continue
        if not back:
            found.append(
                fail(
                    what,
                    f"PTR {', '.join(names)}, which does not resolve back to {address} (no forward-confirmed reverse DNS)",
                    f"publish an A/AAAA record of {names[0]} pointing at {address}, or " + fix,
                )
            )
        elif hostname not in back:
            found.append(
                ok(what, f"PTR {back[0]} resolves back (not the hostname {hostname}; most receivers accept it)")
            )
        else:
            found.append(ok(what, f"PTR {hostname} resolves back"))
    return found


def tls_check(settings: Settings, now: datetime.datetime) -> Check:
    """The STARTTLS certificate of the submission and inbound servers: readable, matching its
    key, and not expiring within CERT_WARN_DAYS."""
    cert_path = settings.path(settings.smtp.submission.tls_cert)
    key_path = settings.path(settings.smtp.submission.tls_key)
    what = f"TLS certificate {cert_path}"
    fix = "install a valid certificate and key at [smtp.submission] tls_cert and tls_key, then restart serve"
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except (OSError, ValueError, ssl.SSLError) as exc:
        return fail(what, f"cannot be used: {exc}", fix)
    expires = certificate.not_valid_after_utc
    left = expires - now
    when = expires.strftime("%Y-%m-%d %H:%M UTC")
    if left <= datetime.timedelta(0):
        return fail(what, f"expired on {when}: clients that verify it refuse STARTTLS", fix)
    if certificate.not_valid_before_utc > now:
        return fail(what, f"not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC", fix)
    if left < datetime.timedelta(days=CERT_WARN_DAYS):
        return warn(what, f"expires on {when}, in {left.days} days", "renew it before then")
    return ok(what, f"valid until {when}")


def permission_checks(settings: Settings) -> list[Check]:
    """Private keys must be their owner's alone (a fail otherwise); anything else in the data
    folder that others may read is a warn (private.py)."""
    folder = settings.path(".")
    keys_folder = settings.path("domains")
    tls_key = settings.path(settings.smtp.submission.tls_key)
    found = loose(folder)
    secret = [(p, m) for p, m in found if stat.S_ISREG(m) and (p == tls_key or keys_folder in p.parents)]
    others = [(p, m) for p, m in found if (p, m) not in secret]
    lines = [
        fail(
            f"private key {path}",
            f"mode {stat.filemode(mode)}: others on this machine may read it",
            f"chmod 600 {path}",
        )
        for path, mode in secret
    ]
    if others:
        named = ", ".join(f"{p} ({stat.filemode(m)})" for p, m in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        lines.append(
            warn(
                f"data folder {folder}",
                f"others may read {named}{more}: it holds message bodies, secrets and password hashes",
                f"chmod -R go= {folder}",
            )
        )
    elif not secret:
        lines.append(ok(f"data folder {folder}", "private to its owner"))
    return lines


def disk_checks(settings: Settings) -> list[Check]:
    """Free space where returnpath writes, against `[smtp.inbound] reserve_free_space`: below
    it the inbound server refuses returned mail (a fail), below twice it a warn."""
    folders = [settings.path("."), settings.path(settings.logs.dir)]
    if settings.store_backend == "sqlite":
        folders.append(settings.sqlite_path.parent)
    reserve = int(settings.smtp.inbound.reserve_free_space)
    seen: set[int] = set()
    lines = []
    for folder in folders:
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        device = os.stat(existing).st_dev
        if device in seen:
            continue
        seen.add(device)
        free = shutil.disk_usage(existing).free
        what = f"free disk {existing}"
        shown = f"{_size(free)} free"
        setting = f"[smtp.inbound] reserve_free_space ({_size(reserve)})"
        fix = "free some space or move the data folder to a larger disk"
        if free < reserve:
            lines.append(fail(what, f"{shown}, below {setting}: returned mail is refused", fix))
        elif free < 2 * reserve:
            lines.append(warn(what, f"{shown}, less than twice {setting}", fix))
        else:
            lines.append(ok(what, shown))
    return lines


def _size(octets: int) -> str:
    """A disk size to compare at a glance: GB from 1 GB on, MB below (where "0.1 GB" could be
    more or less than a reserve of 62 MB)."""
    if octets >= 1024**3:
        return f"{octets / 1024**3:.1f} GB"
    return f"{octets / 1024**2:.1f} MB"


TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


def clock_check() -> Check:
    what = "clock"
    fix = "run an NTP client (systemd-timesyncd, chrony): DKIM signatures, TLS and logs carry the time"
    try:
        answer = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if answer.returncode == 0 and answer.stdout.strip() in ("yes", "no"):
            if answer.stdout.strip() == "yes":
                return ok(what, "synchronised (timedatectl)")
            return warn(what, "timedatectl says it is not synchronised", fix)
    except (OSError, subprocess.SubprocessError):
        pass
    state = _adjtimex()
    if state is None:
        return warn(what, "cannot tell whether it is synchronised (no timedatectl, no adjtimex)", fix)
    if state == TIME_ERROR:
        return warn(what, "the kernel says it is not synchronised (adjtimex: TIME_ERROR)", fix)
    return ok(what, "synchronised (the kernel's adjtimex)")


def _adjtimex() -> int | None:
    """adjtimex(2) with modes 0 (read only): the clock's state, or None where there is none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None
    buffer = ctypes.create_string_buffer(512)  # struct timex is about 200 bytes; modes (0) comes first
    state = int(function(buffer))
    return None if state < 0 else state
