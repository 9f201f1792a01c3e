"""The DKIM key records a domain publishes, and reading them back from DNS.

A key record (RFC 6376 3.6.1) is a TXT record at ``<selector>._domainkey.<domain>`` holding a
tag=value list: ``v=DKIM1; k=rsa; p=<base64 of the DER SubjectPublicKeyInfo>`` for RSA, and
``v=DKIM1; k=ed25519; p=<base64 of the raw 32-byte key>`` for Ed25519 (RFC 8463 4.2).

One string of a TXT record holds at most 255 octets (RFC 1035 3.3.14), and an RSA-2048 record
is about 410: it is published as several strings, which a verifier joins without anything
between them (RFC 6376 3.6.2.2). `txt_strings` splits a value so, `zone_value` writes it the
way zone files and most DNS providers' forms take it.

Reading goes the other way, for `domains check`: `parse_record` takes the value as DNS gives
it (the strings joined) and `record_problem` says whether a published value carries a given
key, and if not, why not, in one sentence fit for a checklist line.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.util import InvalidTagValueList, parse_tag_value

from ..errors import InputError
from .keys import DomainKey

TXT_STRING_LIMIT = 255


def record_name(selector: str, domain: str) -> str:
    """The DNS name of the key record of `selector` in `domain` (RFC 6376 3.6.2.1)."""
    return f"{selector}._domainkey.{domain.rstrip('.')}"


def record_value(key: DomainKey) -> str:
    """The TXT value to publish for `key`."""
    p = base64.b64encode(key.public_key_bytes()).decode("ascii")
    return f"v=DKIM1; k={key.algorithm.value}; p={p}"


def txt_strings(value: str, limit: int = TXT_STRING_LIMIT) -> list[str]:
    """`value` cut into strings of at most `limit` octets, to be published as one TXT record.

    Key records are ASCII; cutting between any two characters is allowed, as verifiers join
    the strings back without a separator."""
    data = value.encode("ascii")
    return [data[i : i + limit].decode("ascii") for i in range(0, len(data), limit)] or [""]


def zone_value(value: str) -> str:
    """The TXT record's data as a zone file writes it: each string quoted, space-separated."""
    return " ".join(f'"{part}"' for part in txt_strings(value))


@dataclass(frozen=True)
class KeyRecord:
    """A parsed key record: its tags, and what they mean for matching a key."""

    tags: Mapping[str, str]

    @property
    def key_type(self) -> str:
        """`k=`, which defaults to rsa."""
        return self.tags.get("k", "rsa").lower()

    @property
    def public_key(self) -> bytes:
        """`p=` decoded; empty for a revoked key."""
        return base64.b64decode("".join(self.tags["p"].split()), validate=True)

    @property
    def testing(self) -> bool:
        """`t=y`: the domain is testing DKIM, verifiers may treat failures as unsigned (3.6.1)."""
        return "y" in (flag.strip() for flag in self.tags.get("t", "").split(":"))


def parse_record(value: str | bytes) -> KeyRecord:
    """The key record in `value` (a TXT record's strings joined); InputError if it is not one.

    Checks what RFC 6376 3.6.1 requires of a verifier: a tag list without duplicates, `v=`
    first if present and then DKIM1, a `p=` tag of valid base64, and a service type (`s=`)
    that covers email."""
    data = value.encode("ascii", "replace") if isinstance(value, str) else value
    try:
        raw = parse_tag_value(data)
    except InvalidTagValueList as exc:
        raise InputError(f"not a tag=value list: {exc}") from exc
    # Tag names are case-sensitive (RFC 6376 3.2): "V=DKIM1" is an unknown tag, not v=.
    tags = {name.decode("ascii", "replace"): text.decode("ascii", "replace") for name, text in raw.items()}
    if "v" in tags:
        if tags["v"] != "DKIM1":
            raise InputError(f"v={tags['v']}, not v=DKIM1")
        if not data.lstrip().startswith(b"v"):
            raise InputError("v=DKIM1 is not the first tag")
    if "p" not in tags:
        raise InputError("no p= tag (the public key)")
    record = KeyRecord(tags)
    try:
        record.public_key  # noqa: B018 (decoding is the check)
    except binascii.Error as exc:
        raise InputError(f"the p= tag is not valid base64: {exc}") from exc
    services = {s.strip() for s in tags.get("s", "*").split(":")}
    if not services & {"*", "email"}:
        raise InputError(f"s={tags['s']}: the key is not for email")
    return record


def record_problem(key: DomainKey, published: Sequence[str]) -> str | None:
    """None if one of the `published` TXT values (strings joined) carries `key`; otherwise what
    is wrong, in one sentence: no record, a broken one, a revoked or another key."""
    if not published:
        return "no TXT record"
    problems = []
    for value in published:
        try:
            record = parse_record(value)
        except InputError as exc:
            problems.append(f"a TXT record that is not a DKIM key: {exc}")
            continue
        if record.key_type != key.algorithm.value:
            problems.append(f"a key of type k={record.key_type}, not k={key.algorithm.value}")
        elif not record.public_key:
            problems.append("the key is revoked (empty p=)")
        elif not _same_public_key(key, record.public_key):
            problems.append("a different public key from this selector's private key")
        else:
            return None
    return "; ".join(problems)


def _same_public_key(key: DomainKey, published: bytes) -> bool:
    """Whether `published` (a p= value, decoded) is `key`'s public key.

    RSA keys are compared by their numbers, not bytes: some tools publish the bare PKCS#1
    RSAPublicKey instead of the SubjectPublicKeyInfo around it, and verifiers (OpenDKIM,
    Mail::DKIM, dkimpy) accept both."""
    if published == key.public_key_bytes():
        return True
    private = key.private_key
    if not isinstance(private, rsa.RSAPrivateKey):
        return False
    for load in (serialization.load_der_public_key, _load_pkcs1):
        try:
            public = load(published)
        except ValueError:
            continue
        if isinstance(public, rsa.RSAPublicKey):
            return public.public_numbers() == private.public_key().public_numbers()
    return False


def _load_pkcs1(data: bytes) -> rsa.RSAPublicKey:
    # cryptography reads a bare PKCS#1 key only from PEM; wrap the DER in its armour.
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(data) + b"-----END RSA PUBLIC KEY-----\n"
    public = serialization.load_pem_public_key(pem)
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return public
