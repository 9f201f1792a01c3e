#!/usr/bin/env python3
"""DKIM signing speed: returnpath's signer against dkimpy's own `dkim.sign`, one run.

Both sides sign the same messages, already in memory, with the same keys, canonicalisation
(relaxed/relaxed) and signed header fields (From oversigned), and return the DKIM-Signature
field(s). They differ in what the issue is about: ours does the RSA and Ed25519 operations in
OpenSSL (`cryptography`) and canonicalises and hashes the message once for both signatures;
dkimpy does RSA in pure Python and Ed25519 through PyNaCl (libsodium), and parses and
canonicalises the message again for each signature.

Cases: a 2 KB and a 20 KB message; RSA-2048 alone, Ed25519 alone, and both (what the relay
does for every message). Each side runs `--seconds` per round, the sides alternate, and each
keeps its best of `--rounds` rounds (the one the noisy machine disturbed least). Printed:
messages per second for both and the ratio. Before timing, every signature of ours is checked
with dkimpy's verifier, so that both sides are known to do the same work.

    python bench/dkim_sign.py [--rounds 3] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import dkim
from returnpath.dkim.keys import DomainKey, generate_pair
from returnpath.dkim.records import record_name, record_value
from returnpath.dkim.signer import DkimSigner

DOMAIN = "example.com"
NOW = 1796119867.0


def message(size: int) -> bytes:
    header = (
        b"From: Billing <billing@example.com>\r\nTo: Ann <ann@example.org>\r\nSubject: Your invoice for December\r\n"
        b"Date: Tue, 01 Dec 2026 10:11:07 +0000\r\nMessage-ID: <a1b2c3d4e5@relay.example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"List-Unsubscribe: <https://example.com/u/123>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n"
    )
    line = b"Dear customer, your invoice 2026-12-0042 of 123.45 EUR is attached. Thank you.\r\n"
    return header + line * ((size - len(header)) // len(line) + 1)


def theirs(keys: list[DomainKey]) -> Callable[[bytes], bytes]:
    """dkimpy's dkim.sign for each key, with our settings."""
    material = []
    for key in keys:
        private = key.private_key
        if isinstance(private, ed25519.Ed25519PrivateKey):
            raw = private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            material.append((key.selector.encode(), base64.b64encode(raw), b"ed25519-sha256"))
        else:
            assert isinstance(private, rsa.RSAPrivateKey)
            pem = private.private_bytes(  # dkimpy reads PKCS#1 ("RSA PRIVATE KEY") only
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
            material.append((key.selector.encode(), pem, b"rsa-sha256"))
    headers = [b"from", b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]
    headers += [b"content-transfer-encoding", b"list-unsubscribe", b"list-unsubscribe-post"]

    def sign(raw: bytes) -> bytes:
        return b"".join(
            dkim.sign(
                raw,
                selector,
                DOMAIN.encode(),
                privkey,
                signature_algorithm=algorithm,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=headers,
            )
            for selector, privkey, algorithm in material
        )

    return sign


def rate(sign: Callable[[bytes], bytes], raw: bytes, seconds: float) -> float:
    """Messages signed per second in one round of about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        sign(raw)
        count += 1
    return count / elapsed


def check(signed: bytes, keys: list[DomainKey]) -> None:
    records = {(record_name(k.selector, DOMAIN) + ".").encode(): record_value(k).encode() for k in keys}
    verifier = dkim.DKIM(signed)
    for idx in range(len(keys)):
        assert verifier.verify(idx=idx, dnsfunc=lambda name, timeout=5: records.get(name)), f"signature {idx} fails"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    rsa_key, ed_key = generate_pair(NOW, [])
    cases = {"RSA": [rsa_key], "Ed25519": [ed_key], "RSA+Ed25519": [rsa_key, ed_key]}
    print(f"{'message':>8} {'keys':<12} {'returnpath/s':>13} {'dkimpy/s':>10} {'ratio':>7}")
    for size in (2000, 20000):
        raw = message(size)
        for name, keys in cases.items():
            signer = DkimSigner(DOMAIN, keys)

            def ours(raw: bytes, signer: DkimSigner = signer) -> bytes:
                return signer.sign(raw, NOW)

            other = theirs(keys)
            check(ours(raw) + raw, keys)
            check(other(raw) + raw, keys)
            best_ours = best_theirs = 0.0
            for _ in range(args.rounds):
                best_ours = max(best_ours, rate(ours, raw, args.seconds))
                best_theirs = max(best_theirs, rate(other, raw, args.seconds))
            print(
                f"{len(raw) // 1000:>6} KB {name:<12} {best_ours:>13.0f} {best_theirs:>10.1f} {best_ours / best_theirs:>6.1f}x"
            )


if __name__ == "__main__":
    main()
