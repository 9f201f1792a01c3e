"""DKIM keys of a sending domain: made, named, and the key files of earlier versions.

A domain signs with two keys at a time (issue 11): RSA-2048, which every verifier knows, and
Ed25519 (RFC 8463) as a second signature, short and fast, for the verifiers that know it. The
two are made together and named together:

* **Selectors** are dated, so a record in the zone says when its key was made: ``rp202612``
  (RSA) and ``rp202612e`` (Ed25519) for December 2026. A second pair in the same month (a
  rotation, or a key replaced after a leak) takes the next letter, ``rp202612b`` and
  ``rp202612be``, and so on; `next_selectors` skips every generation of which either name was
  ever used (``rp202612e`` is the first Ed25519 selector, so the fifth RSA one is not it).
  Selectors that were once published are never reused: a verifier's cache, or a message
  still in a queue somewhere, may still hold the old key under that name.
* **Where**: in the store, sealed (sealing.py), so that every node of a deployment signs with
  them. Earlier versions wrote files, which are still read, to import them
  (usecases/domains.py), and written by the tests that stand for such a version:
* **Files**: one PEM file per key, ``<folder>/<selector>.pem`` (PKCS#8, unencrypted: the relay
  must sign unattended). The algorithm is read from the key itself. A file is written whole or
  not at all (a temporary file, then a hard link to the final name, which also refuses to
  replace a key that exists), and is created 0600 in a folder made 0700, so that no other user
  of the machine can read it, not even for an instant.

A key that cannot be read (gone, permissions, not a PEM key, a kind we do not sign with) raises
`StoreError` naming the file and what is wrong: the relay defers a message it cannot sign
rather than send it unsigned.
"""

from __future__ import annotations

import datetime
import enum
import os
import re
import string
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..errors import StoreError

RSA_BITS = 2048
# RFC 8301 3.2: verifiers must accept 1024 to 4096 bits; below 1024 they must not. We make 2048.
MIN_RSA_BITS = 1024
SELECTOR_PREFIX = "rp"
KEY_SUFFIX = ".pem"

# RFC 6376 3.1: a selector is a sub-domain, dot-separated labels of letters, digits and hyphens.
_SELECTOR = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
# The generations of one month: "" for the first pair, then b, c, ... z.
_GENERATIONS = ("", *string.ascii_lowercase[1:])

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class KeyAlgorithm(enum.Enum):
    """The key types a domain signs with, by their DKIM names (the `k=` tag of a record)."""

    RSA = "rsa"
    ED25519 = "ed25519"

    @property
    def signature_algorithm(self) -> str:
        """The `a=` tag of a signature made with such a key."""
        return f"{self.value}-sha256"


@dataclass(frozen=True)
class DomainKey:
    """A private key and the selector under which its public half is published."""

    selector: str
    private_key: PrivateKey

    @property
    def algorithm(self) -> KeyAlgorithm:
        return KeyAlgorithm.RSA if isinstance(self.private_key, rsa.RSAPrivateKey) else KeyAlgorithm.ED25519

    def public_key_bytes(self) -> bytes:
        """What the record's `p=` tag carries, before base64: for RSA the DER SubjectPublicKeyInfo
        (RFC 6376 3.6.1), for Ed25519 the raw 32-byte public key (RFC 8463 4)."""
        public = self.private_key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def pem(self) -> bytes:
        """The private key as an unencrypted PKCS#8 PEM file."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_key(algorithm: KeyAlgorithm, selector: str) -> DomainKey:
    """A new key of `algorithm` to be published under `selector`."""
    check_selector(selector)
    if algorithm is KeyAlgorithm.RSA:
        return DomainKey(selector, rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))
    return DomainKey(selector, ed25519.Ed25519PrivateKey.generate())


def generate_pair(now: float, taken: Collection[str]) -> tuple[DomainKey, DomainKey]:
    """A new RSA key and a new Ed25519 key under the next free selectors of `now`'s month."""
    rsa_selector, ed_selector = next_selectors(now, taken)
    return generate_key(KeyAlgorithm.RSA, rsa_selector), generate_key(KeyAlgorithm.ED25519, ed_selector)


def next_selectors(now: float, taken: Collection[str]) -> tuple[str, str]:
    """The selectors (RSA, Ed25519) for a new pair of keys made at `now` (UTC): ``rp<YYYYMM>``
    and ``rp<YYYYMM>e`` for the month's first pair, ``rp<YYYYMM>b`` and ``rp<YYYYMM>be`` for the
    second, and so on, skipping any generation with a name in `taken` (every selector the domain
    has used, compared without regard to case, as DNS compares names)."""
    month = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y%m")
    used = {name.lower() for name in taken}
    for generation in _GENERATIONS:
        pair = (f"{SELECTOR_PREFIX}{month}{generation}", f"{SELECTOR_PREFIX}{month}{generation}e")
        if not used.intersection(pair):
            return pair
    raise StoreError(f"no free DKIM selector left for {month}: {len(_GENERATIONS)} key pairs were made this month")


def check_selector(selector: str) -> str:
    """`selector` if it is a valid DKIM selector (RFC 6376 3.1); StoreError otherwise (a key
    file's name is where selectors come from)."""
    if not _SELECTOR.match(selector):
        raise StoreError(f"{selector!r} is not a valid DKIM selector (letters, digits, hyphens; dot-separated labels)")
    return selector


def key_path(folder: Path, selector: str) -> Path:
    """Where the key of `selector` is kept in `folder`."""
    return folder / (check_selector(selector) + KEY_SUFFIX)


def write_key(folder: Path, key: DomainKey) -> Path:
    """Write `key` to `folder` (made 0700 if missing) as ``<selector>.pem``, 0600; its path.

    Refuses (StoreError) to replace an existing key: a published selector keeps its key."""
    path = key_path(folder, key.selector)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{key.selector}.{os.getpid()}.tmp"
        # O_EXCL: never write into a file somebody else made (a symlink planted there, say);
        # mode 0600 from the start, not chmod afterwards: no moment at which others may read.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            try:
                os.fchmod(fd, 0o600)  # the umask can only take bits away; make it exact anyway
                os.write(fd, key.pem())
                os.fsync(fd)
            finally:
                os.close(fd)
            # A hard link publishes the whole file under its name at once, and fails if the name
            # exists (os.replace would silently drop the key already there).
            os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_folder(folder)
    except FileExistsError:
        raise StoreError(f"a DKIM key for selector {key.selector} already exists: {path}") from None
    except OSError as exc:
        raise StoreError(f"cannot write the DKIM key {path}: {exc.strerror or exc}") from exc
    return path


def read_key(path: Path) -> DomainKey:
    """The key in `path`, its selector the file's name; StoreError if it cannot be used."""
    selector = check_selector(path.name.removesuffix(KEY_SUFFIX))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the DKIM key {path}: {exc.strerror or exc}") from exc
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # ValueError: not PEM, or damaged; TypeError: encrypted (we sign unattended).
        raise StoreError(f"the DKIM key {path} is not a usable PEM private key: {exc}") from exc
    return check_key(private_key, selector, f"the DKIM key {path}")


def check_key(private_key: object, selector: str, where: str) -> DomainKey:
    """`private_key` under `selector` if DKIM can sign with it; StoreError starting with
    `where` (which key: a file, or a domain's selector in the store) otherwise."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return DomainKey(selector, private_key)
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < MIN_RSA_BITS:
            raise StoreError(
                f"{where} has {private_key.key_size} bits; verifiers ignore RSA keys under {MIN_RSA_BITS} (RFC 8301)"
            )
        return DomainKey(selector, private_key)
    raise StoreError(f"{where} is a {type(private_key).__name__}; DKIM signs with RSA or Ed25519 keys")


def read_keys(folder: Path) -> list[DomainKey]:
    """Every key in `folder`, in the order of their selectors; none if the folder is missing."""
    try:
        paths = sorted(p for p in folder.iterdir() if p.name.endswith(KEY_SUFFIX) and not p.name.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot list the DKIM keys in {folder}: {exc.strerror or exc}") from exc
    return [read_key(path) for path in paths]


def _sync_folder(folder: Path) -> None:
    """Make the new name durable: a crash after the write must not lose a key already published."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
