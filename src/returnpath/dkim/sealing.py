"""DKIM private keys sealed for the store: encrypted so that the database, its backups and
`returnpath store copy` never hold a key in the clear, yet every node of a deployment can open
them, as they share the instance's `secret` (returnpath.toml) (README: several nodes, one database).

* **Cipher**: AES-256-GCM (NIST SP 800-38D), from `cryptography`. A random 96-bit nonce per key
  (the size GCM is made for, section 8.2.2): keys are sealed a few at a time, so random nonces
  are far from the 2^32 messages under one key that the standard allows them.
* **Key**: HKDF-SHA256 (RFC 5869) of the secret with a purpose label of its own, so that the
  sealing key is independent of the envelope tokens' HMAC key made from the same secret.
* **Associated data**: the domain and the selector. A sealed key copied to another row (another
  selector, another domain) does not open: nobody with write access to the database can make
  one domain sign with another's key.
* **Blob**: a version byte (1), the nonce, then the ciphertext with its 16-byte tag; the
  plaintext is the key as unencrypted PKCS#8 DER, which says its own algorithm.

A key that does not open raises `StoreError` naming the domain and the selector: with the wrong
secret (a node configured with another one), or a damaged row. The relay then accepts the
message and the delivery engine defers it (4.7.5) rather than sending it unsigned.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..core.ports import SealedKey
from ..errors import StoreError
from .keys import DomainKey, check_key

VERSION = b"\x01"
NONCE_BYTES = 12
# HKDF's `info`: what the derived key is for (RFC 5869 3.2), and the version of this scheme.
PURPOSE = b"returnpath dkim key sealing v1"


def sealing_key(secret: bytes) -> AESGCM:
    """The AES-256-GCM cipher of the instance whose secret is `secret`."""
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret))


def _associated(domain: str, selector: str) -> bytes:
    # A NUL cannot occur in a domain or a selector, so no two pairs give the same bytes.
    return f"{domain}\0{selector}".encode()


def seal(cipher: AESGCM, domain: str, key: DomainKey, now: float) -> SealedKey:
    """`key` of `domain`, sealed for the store."""
    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = os.urandom(NONCE_BYTES)
    sealed = VERSION + nonce + cipher.encrypt(nonce, der, _associated(domain, key.selector))
    return SealedKey(domain, key.selector, key.algorithm.value, sealed, now)


def unseal(cipher: AESGCM, stored: SealedKey) -> DomainKey:
    """The key in `stored`; StoreError naming its domain and selector when it does not open."""
    where = f"the DKIM key {stored.selector} of {stored.domain}"
    blob = stored.sealed
    if blob[:1] != VERSION or len(blob) <= 1 + NONCE_BYTES:
        raise StoreError(f"{where} is damaged in the store (not a sealed key of this returnpath)")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        der = cipher.decrypt(nonce, ciphertext, _associated(stored.domain, stored.selector))
    except InvalidTag:
        raise StoreError(
            f"{where} cannot be opened with this node's secret (returnpath.toml): every node of a deployment "
            "needs the same secret as the node that made the key (or the stored key is damaged)"
        ) from None
    try:
        # The key was checked when it was made or imported, and the tag proves these are the
        # bytes sealed then: cryptography's RSA consistency check (about 80 ms a key here) is
        # skipped, as its documentation allows for keys from a trusted source (the parameter's
        # description, cryptography 39+).
        private_key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise StoreError(f"{where} opened but holds no usable private key: {exc}") from exc
    return check_key(private_key, stored.selector, where)
