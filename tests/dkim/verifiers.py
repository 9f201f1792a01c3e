"""Three DKIM verifiers, each asking the loopback DNS server (tests/dns_server.py) for keys.

* dkimpy (`dkim.DKIM.verify`, one call per signature): Python; RSA in pure Python, Ed25519
  through PyNaCl (libsodium).
* Perl's Mail::DKIM (Debian's libmail-dkim-perl) through tests/dkim/mail_dkim_verify.pl:
  RSA through Crypt::OpenSSL::RSA; Debian 12's release (1.20230212) does not know Ed25519
  and reports such signatures "invalid (unsupported algorithm ed25519-sha256)".
* OpenDKIM (Debian's opendkim, libopendkim 2.11 in C): its test mode, ``opendkim -t FILE``,
  with a configuration that points its resolver (libunbound) at the loopback server. It
  verifies both RSA and Ed25519 (RFC 8463), and reports one ``dkim=`` result per signature in
  the Authentication-Results field it would add, which it prints at -vvv.

Three code bases that share nothing (parsing, canonicalisation, DNS, cryptography), so a
signature all of them accept is not accepted by a shared mistake of ours and theirs. Each
function returns {selector: result}, result "pass", "fail" or the verifier's own word for
anything else ("invalid", "neutral", "permerror", ...).

A verifier that is missing is a test failure, with the command that installs it, not a skip:
these tests are what says that receivers accept the signatures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import dkim
from tests.dns_server import DnsServer

HERE = Path(__file__).parent
INSTALL_HINT = "Install the verifiers (as root): bash bench/install-dkim-verifiers.sh"


def require_verifiers() -> None:
    """Fail the test, saying how to install them, if Mail::DKIM or OpenDKIM is missing."""
    missing = []
    probe = subprocess.run(["perl", "-MMail::DKIM::Verifier", "-MNet::DNS::Resolver", "-e", "1"], capture_output=True)
    if probe.returncode != 0:
        missing.append("Perl's Mail::DKIM or Net::DNS (libmail-dkim-perl, libnet-dns-perl)")
    if not Path("/usr/sbin/opendkim").exists() and shutil.which("opendkim") is None:
        missing.append("OpenDKIM (opendkim)")
    try:
        import nacl.signing  # noqa: F401 (dkimpy verifies Ed25519 with it)
    except ImportError:
        missing.append("PyNaCl (pip install pynacl: the test extra)")
    if missing:
        pytest.fail(f"these tests need the DKIM verifiers {', '.join(missing)}.\n{INSTALL_HINT}", pytrace=False)


def dkimpy(message: bytes, dns: DnsServer) -> dict[str, str]:
    """dkimpy's verdict on each signature of `message`."""

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        values = dns.txt_lookup(name.decode("ascii"))
        return values[0].encode("ascii") if values else None

    verifier = dkim.DKIM(message)
    results = {}
    count = sum(1 for name, _ in dkim.rfc822_parse(message)[0] if name.lower() == b"dkim-signature")
    for idx in range(count):
        try:
            ok = verifier.verify(idx=idx, dnsfunc=txt)
        except dkim.DKIMException as exc:
            ok, error = False, type(exc).__name__
        else:
            error = ""
        selector = verifier.selector.decode("ascii")
        results[selector] = "pass" if ok else (f"fail {error}".strip())
    return results


def mail_dkim(message: bytes, dns: DnsServer) -> dict[str, str]:
    """Mail::DKIM's verdict on each signature of `message`."""
    done = subprocess.run(
        ["perl", str(HERE / "mail_dkim_verify.pl"), str(dns.port)], input=message, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    results = {}
    for line in done.stdout.decode().splitlines():
        result, _domain, selector, _algorithm, detail = line.split("\t")
        results[selector] = result if result in ("pass", "fail") else f"{result}: {detail}"
    return results


def opendkim(message: bytes, dns: DnsServer, folder: Path) -> dict[str, str]:
    """OpenDKIM's verdict on each signature of `message`."""
    folder.mkdir(parents=True, exist_ok=True)
    unbound = folder / "unbound.conf"
    # Forward every query to the loopback server; without do-not-query-localhost: no, unbound
    # refuses to ask 127.0.0.1. No trust anchor: answers are "unprotected", not failed.
    unbound.write_text(
        "server:\n  do-not-query-localhost: no\n  qname-minimisation: no\n"
        f'forward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@{dns.port}\n'
    )
    config = folder / "opendkim.conf"
    config.write_text(f"Mode v\nSyslog no\nResolverConfiguration {unbound}\n")
    path = folder / "message.eml"
    path.write_bytes(message)
    done = subprocess.run(
        ["/usr/sbin/opendkim", "-vvv", "-x", str(config), "-t", str(path)], capture_output=True, timeout=60
    )
    output = done.stdout.decode(errors="replace")
    assert done.returncode == 0, output + done.stderr.decode(errors="replace")
    # The Authentication-Results field it would insert, one result per signature:
    #   dkim=pass (2048-bit key; unprotected) header.d=example.com ... header.s=rp202612 ...;
    #   dkim=fail reason="signature verification failed" header.d=... header.s=rp202612e ...;
    found = re.findall(r"dkim=(\w+).*?header\.s=([\w.-]+)", output, re.DOTALL)
    assert found, f"no dkim= result in OpenDKIM's output:\n{output}{done.stderr.decode(errors='replace')}"
    return {selector: result for result, selector in found}


def verify_all(message: bytes, dns: DnsServer, folder: Path) -> dict[str, dict[str, str]]:
    """{verifier: {selector: result}} of the three verifiers."""
    return {
        "dkimpy": dkimpy(message, dns),
        "Mail::DKIM": mail_dkim(message, dns),
        "OpenDKIM": opendkim(message, dns, folder),
    }


# Which verifiers check which kind of signature (Debian 12's Mail::DKIM does not know Ed25519).
CHECKS = {"rsa": ("dkimpy", "Mail::DKIM", "OpenDKIM"), "ed25519": ("dkimpy", "OpenDKIM")}


def results_by_kind(
    message: bytes, dns: DnsServer, folder: Path, selectors: dict[str, str]
) -> dict[str, dict[str, str]]:
    """{"rsa": {verifier: result}, "ed25519": {...}} for the signatures under `selectors`
    ({"rsa": selector, "ed25519": selector}), by the verifiers that check each kind; "no
    result" where a verifier found no signature under the selector."""
    found = verify_all(message, dns, folder)
    return {
        kind: {verifier: found[verifier].get(selector, "no result") for verifier in CHECKS[kind]}
        for kind, selector in selectors.items()
    }


def all_say(verdict: str, results: dict[str, dict[str, str]]) -> bool:
    """Whether every verifier's result in `results` (of `results_by_kind`) is `verdict`."""
    return all(r == verdict or r.startswith(verdict + " ") for per_kind in results.values() for r in per_kind.values())
