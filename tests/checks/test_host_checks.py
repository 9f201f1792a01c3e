"""doctor's lines about this host: reverse DNS of the sending addresses (loopback DNS server),
the TLS certificate (made here with `cryptography`, valid for chosen dates), the permissions of
private keys in the data folder, the sending addresses' source, and the clock."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from returnpath.checks import Status
from returnpath.checks.host import (
    clock_check,
    fcrdns_checks,
    hostname_check,
    permission_checks,
    sending_addresses,
    tls_check,
)
from returnpath.checks.lookups import Lookups
from returnpath.config import Settings
from returnpath.dkim.keys import DomainKey, write_key
from returnpath.private import restricted
from tests.checks.conftest import ADDRESS, HOST
from tests.dns_server import DnsServer, a, ptr, reverse

NOW = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)


def settings_in(folder: Path, **delivery: str) -> Settings:
    settings = Settings()
    settings.base = folder
    for name, value in delivery.items():
        setattr(settings.delivery, name, value)
    return settings


@pytest.mark.usefixtures("good_zone")
def test_reverse_dns_that_resolves_back_is_ok(lookups: Lookups) -> None:
    (line,) = fcrdns_checks(lookups, [ADDRESS], HOST)
    assert line.status is Status.OK and line.detail == f"PTR {HOST} resolves back"
    assert hostname_check(lookups, HOST, [ADDRESS]).status is Status.OK


def test_reverse_dns_missing_or_not_resolving_back_fails(good_zone: DnsServer, lookups: Lookups) -> None:
    good_zone.zone.pop(reverse(ADDRESS))
    (line,) = fcrdns_checks(lookups, [ADDRESS], HOST)
    assert line.status is Status.FAIL and line.detail.startswith("no PTR record")
    good_zone.zone[reverse(ADDRESS)] = [ptr("host-192-0-2-10.isp.example")]
    good_zone.zone["host-192-0-2-10.isp.example"] = [a("198.51.100.9")]
    (line,) = fcrdns_checks(lookups, [ADDRESS], HOST)
    assert line.status is Status.FAIL and "does not resolve back to 192.0.2.10" in line.detail
    assert line.fix.startswith("publish an A/AAAA record of host-192-0-2-10.isp.example")


def test_a_hostname_without_address_fails(good_zone: DnsServer, lookups: Lookups) -> None:
    good_zone.zone.pop(HOST)
    line = hostname_check(lookups, HOST, [ADDRESS])
    assert line.status is Status.FAIL and "no A or AAAA record" in line.detail
    assert line.fix == f"publish {HOST}'s address"
    # `init` writes hostname = "localhost" when it is not told the host's name: the fix is the setting
    line = hostname_check(lookups, "localhost", [ADDRESS])
    assert line.status is Status.FAIL and line.fix.startswith("set hostname in returnpath.toml")


def write_certificate(folder: Path, not_before: datetime.datetime, not_after: datetime.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    (folder / "tls").mkdir(exist_ok=True)
    (folder / "tls" / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "tls" / "key.pem").write_bytes(pem)


@pytest.mark.parametrize(
    ("days_left", "status", "detail"),
    [
        (400, Status.OK, "valid until 2028-01-05"),
        (10, Status.WARN, "expires on 2026-12-11 10:00 UTC, in 10 days"),
        (-3, Status.FAIL, "expired on 2026-11-28 10:00 UTC"),
    ],
)
def test_the_certificate_expiry(tmp_path: Path, days_left: int, status: Status, detail: str) -> None:
    write_certificate(tmp_path, NOW - datetime.timedelta(days=30), NOW + datetime.timedelta(days=days_left))
    line = tls_check(settings_in(tmp_path), NOW)
    assert line.status is status and detail in line.detail, line


def test_an_unreadable_or_mismatched_certificate_fails(tmp_path: Path) -> None:
    line = tls_check(settings_in(tmp_path), NOW)
    assert line.status is Status.FAIL and "cannot be used" in line.detail and "No such file" in line.detail
    write_certificate(tmp_path, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=90))
    key = (tmp_path / "tls" / "key.pem").read_bytes()
    write_certificate(tmp_path, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=90))
    (tmp_path / "tls" / "key.pem").write_bytes(key)  # the key of another certificate
    line = tls_check(settings_in(tmp_path), NOW)
    assert line.status is Status.FAIL and "cannot be used" in line.detail


def test_a_world_readable_key_file_fails_and_other_loose_files_warn(
    tmp_path: Path, pair: tuple[DomainKey, DomainKey]
) -> None:
    tmp_path.chmod(0o700)
    with restricted():  # as the `returnpath` command runs (umask 077)
        path = write_key(tmp_path / "domains" / "example.com", pair[0])
    (line,) = permission_checks(settings_in(tmp_path))
    assert line.status is Status.OK
    path.chmod(0o644)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "notes.txt").chmod(0o640)
    key_line, folder_line = permission_checks(settings_in(tmp_path))
    assert key_line.status is Status.FAIL and key_line.what == f"private key {path}"
    assert key_line.fix == f"chmod 600 {path}"
    assert folder_line.status is Status.WARN and "notes.txt (-rw-r-----)" in folder_line.detail


def test_sending_addresses_come_from_the_settings_or_the_route_to_the_internet(tmp_path: Path) -> None:
    addresses, line = sending_addresses(settings_in(tmp_path, public_addresses="192.0.2.10, 2001:db8::5"))
    assert addresses == ["192.0.2.10", "2001:db8::5"] and line.status is Status.OK
    addresses, line = sending_addresses(settings_in(tmp_path), probed=["8.8.4.4"])
    assert addresses == ["8.8.4.4"] and "the local address used to reach the internet" in line.detail
    addresses, line = sending_addresses(settings_in(tmp_path), probed=["10.1.2.3"])
    assert addresses == [] and line.status is Status.WARN and "10.1.2.3 is not public (NAT?)" in line.detail
    addresses, line = sending_addresses(settings_in(tmp_path), probed=["10.1.2.3", "fd00::2"])
    assert addresses == [] and "10.1.2.3, fd00::2 are not public" in line.detail
    addresses, line = sending_addresses(settings_in(tmp_path), probed=[])
    assert addresses == [] and line.status is Status.FAIL


def test_the_clock_line_says_what_the_system_says() -> None:
    line = clock_check()
    # No time server to compare with here: the line reports the system's own word, or cannot tell.
    assert line.what == "clock"
    if line.status is Status.OK:
        assert line.detail.startswith("synchronised (")
    else:
        assert line.status is Status.WARN and "synchronised" in line.detail and line.fix
    assert os.path.exists("/proc") or "cannot tell" in line.detail
