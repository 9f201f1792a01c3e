"""Sealing DKIM keys for the store (dkim/sealing.py): what is sealed opens with the same secret
as the same key; another secret, another row (selector or domain) or a damaged blob gives a
StoreError naming the domain and the selector, never a key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from returnpath.dkim.keys import DomainKey
from returnpath.dkim.sealing import seal, sealing_key, unseal
from returnpath.errors import StoreError

SECRET = b"the deployment's secret, 16+ chars"
NOW = 1796119867.0


@pytest.mark.parametrize("which", [0, 1], ids=["rsa", "ed25519"])
def test_a_sealed_key_opens_as_the_same_key(domain_keys: tuple[DomainKey, DomainKey], which: int) -> None:
    key = domain_keys[which]
    sealed = seal(sealing_key(SECRET), "example.com", key, NOW)
    assert (sealed.domain, sealed.selector, sealed.algorithm, sealed.created_at) == (
        "example.com",
        key.selector,
        key.algorithm.value,
        NOW,
    )
    opened = unseal(sealing_key(SECRET), sealed)  # another node: the cipher made again from the secret
    assert opened.selector == key.selector and opened.pem() == key.pem()
    assert key.pem() not in sealed.sealed and b"PRIVATE" not in sealed.sealed
    # A nonce of its own each time: the same key sealed twice gives other bytes.
    assert seal(sealing_key(SECRET), "example.com", key, NOW).sealed != sealed.sealed


def test_another_secret_says_which_key_and_why(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    sealed = seal(sealing_key(SECRET), "example.com", domain_keys[0], NOW)
    with pytest.raises(StoreError) as caught:
        unseal(sealing_key(b"another secret of this length"), sealed)
    assert str(caught.value).startswith(
        f"the DKIM key {domain_keys[0].selector} of example.com cannot be opened with this node's secret (returnpath.toml)"
    )


def test_a_sealed_key_moved_to_another_row_does_not_open(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    cipher = sealing_key(SECRET)
    sealed = seal(cipher, "example.com", domain_keys[0], NOW)
    for moved in (replace(sealed, selector="rp209901"), replace(sealed, domain="example.org")):
        with pytest.raises(StoreError, match=f"the DKIM key {moved.selector} of {moved.domain} cannot be opened"):
            unseal(cipher, moved)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "cannot be opened"),
        (lambda b: b[:20], "cannot be opened"),
        (lambda b: b[:5], "is damaged in the store"),
        (lambda b: b"\x02" + b[1:], "is damaged in the store"),
        (lambda b: b"", "is damaged in the store"),
    ],
    ids=["a bit flipped", "cut short", "shorter than a nonce", "unknown version", "empty"],
)
def test_a_damaged_blob_is_a_store_error(
    domain_keys: tuple[DomainKey, DomainKey], damage: Callable[[bytes], bytes], says: str
) -> None:
    cipher = sealing_key(SECRET)
    sealed = seal(cipher, "example.com", domain_keys[1], NOW)
    with pytest.raises(StoreError, match=f"the DKIM key {domain_keys[1].selector} of example.com {says}"):
        unseal(cipher, replace(sealed, sealed=damage(sealed.sealed)))
