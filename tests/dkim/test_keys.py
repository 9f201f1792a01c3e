"""DKIM keys: dated selectors, 0600 files written whole, and clear errors for unusable ones."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from returnpath.dkim.keys import (
    DomainKey,
    KeyAlgorithm,
    generate_key,
    next_selectors,
    read_key,
    read_keys,
    write_key,
)
from returnpath.errors import StoreError
from tests.dkim.conftest import NOW

DECEMBER = NOW  # 2026-12-01


def test_the_first_pair_of_a_month_is_named_after_it() -> None:
    assert next_selectors(DECEMBER, []) == ("rp202612", "rp202612e")
    assert next_selectors(DECEMBER + 31 * 86400, ["rp202612", "rp202612e"]) == ("rp202701", "rp202701e")


def test_a_second_pair_in_the_same_month_takes_the_next_letter() -> None:
    assert next_selectors(DECEMBER, ["rp202612", "rp202612e"]) == ("rp202612b", "rp202612be")
    assert next_selectors(DECEMBER, ["RP202612B"]) == ("rp202612", "rp202612e")  # the first generation is free


def test_a_generation_whose_rsa_name_is_an_earlier_ed25519_name_is_skipped() -> None:
    taken = [f"rp202612{g}{e}" for g in ("", "b", "c", "d") for e in ("", "e")]
    # The fifth generation's RSA selector would be "rp202612e", the first Ed25519 one.
    assert next_selectors(DECEMBER, taken) == ("rp202612f", "rp202612fe")


def test_a_month_runs_out_of_selectors_with_a_clear_error() -> None:
    taken = [f"rp202612{g}" for g in "bcdefghijklmnopqrstuvwxyz"] + ["rp202612"]
    with pytest.raises(StoreError, match="no free DKIM selector left for 202612"):
        next_selectors(DECEMBER, taken)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: the files' modes are then the code's alone."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_a_key_is_written_0600_in_a_0700_folder_and_read_back(algorithm: KeyAlgorithm, tmp_path: Path) -> None:
    key = generate_key(algorithm, "rp202612")
    folder = tmp_path / "domains" / "example.com"
    path = write_key(folder, key)
    assert path == folder / "rp202612.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert os.listdir(folder) == ["rp202612.pem"]  # no temporary file left
    again = read_key(path)
    assert again.selector == "rp202612" and again.algorithm is algorithm
    assert again.public_key_bytes() == key.public_key_bytes()
    assert read_keys(folder)[0].public_key_bytes() == key.public_key_bytes()


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    first = generate_key(KeyAlgorithm.ED25519, "rp202612e")
    path = write_key(tmp_path, first)
    with pytest.raises(StoreError, match="already exists"):
        write_key(tmp_path, generate_key(KeyAlgorithm.ED25519, "rp202612e"))
    assert read_key(path).public_key_bytes() == first.public_key_bytes()
    assert sorted(os.listdir(tmp_path)) == ["rp202612e.pem"]


def test_reading_the_keys_of_a_domain_without_a_folder_finds_none(tmp_path: Path) -> None:
    assert read_keys(tmp_path / "nothing") == []


def _pem(private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


BAD_FILES = {
    "not PEM": (b"hello\n", "not a usable PEM private key"),
    "cut short": (
        b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n",
        "not a usable PEM",
    ),
    "encrypted": (_pem(rsa.generate_private_key(65537, 2048), b"secret"), "not a usable PEM private key"),
    "an EC key": (_pem(ec.generate_private_key(ec.SECP256R1())), "DKIM signs with RSA or Ed25519 keys"),
}


@pytest.mark.parametrize(("content", "says"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_an_unusable_key_file_is_a_store_error_naming_it(content: bytes, says: str, tmp_path: Path) -> None:
    path = tmp_path / "rp202612.pem"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=says) as caught:
        read_key(path)
    assert str(path) in str(caught.value)


def test_a_missing_or_unreadable_key_file_is_a_store_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot read the DKIM key .*rp202612\.pem: No such file"):
        read_key(tmp_path / "rp202612.pem")
    (tmp_path / "rp202612e.pem").mkdir()  # a folder where the file should be: read fails for root too
    with pytest.raises(StoreError, match="cannot read the DKIM key"):
        read_key(tmp_path / "rp202612e.pem")


def test_a_file_name_that_is_not_a_selector_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "my key!.pem"
    path.write_bytes(generate_key(KeyAlgorithm.ED25519, "x").pem())
    with pytest.raises(StoreError, match="not a valid DKIM selector"):
        read_key(path)


def test_key_kinds_are_told_apart_by_the_key() -> None:
    assert DomainKey("a", ed25519.Ed25519PrivateKey.generate()).algorithm is KeyAlgorithm.ED25519
    assert len(DomainKey("a", ed25519.Ed25519PrivateKey.generate()).public_key_bytes()) == 32
    assert KeyAlgorithm.RSA.signature_algorithm == "rsa-sha256"
