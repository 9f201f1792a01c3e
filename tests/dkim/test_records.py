"""The key records to publish, and reading them back as `domains check` will."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from returnpath.dkim.keys import DomainKey
from returnpath.dkim.records import (
    parse_record,
    record_name,
    record_problem,
    record_value,
    txt_strings,
    zone_value,
)
from returnpath.errors import InputError
from tests.dns_server import DnsServer, txt


def test_the_records_are_what_rfc_6376_and_rfc_8463_ask_for(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    rsa_key, ed_key = domain_keys
    rsa_value, ed_value = record_value(rsa_key), record_value(ed_key)
    assert rsa_value.startswith("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")  # SPKI, 2048 bits
    der = base64.b64decode(rsa_value.split("p=")[1])
    assert serialization.load_der_public_key(der).public_numbers() == rsa_key.private_key.public_key().public_numbers()  # type: ignore[union-attr]
    assert ed_value.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(ed_value.split("p=")[1])) == 32  # the raw key, no SPKI around it
    assert record_name("rp202612", "example.com.") == "rp202612._domainkey.example.com"


def test_a_long_record_is_split_into_strings_of_at_most_255_octets(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    value = record_value(domain_keys[0])
    parts = txt_strings(value)
    assert len(parts) == 2 and all(len(p) <= 255 for p in parts) and "".join(parts) == value
    assert zone_value(value) == f'"{parts[0]}" "{parts[1]}"'
    assert txt_strings(record_value(domain_keys[1])) == [record_value(domain_keys[1])]


def test_a_published_record_read_back_over_dns_matches_its_key(
    dns_server: DnsServer, domain_keys: tuple[DomainKey, DomainKey]
) -> None:
    for key in domain_keys:
        name = record_name(key.selector, "example.com")
        dns_server.zone[name] = [txt("google-site-verification=abc"), txt(*txt_strings(record_value(key)))]
        dns_server.udp_limit = 512
        assert record_problem(key, dns_server.txt_lookup(name)) is None
    assert ("rp202612._domainkey.example.com", "TXT", "tcp") in dns_server.queries  # too big for UDP


def test_what_is_wrong_with_a_published_record(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    rsa_key, ed_key = domain_keys
    good_rsa, good_ed = record_value(rsa_key), record_value(ed_key)
    assert record_problem(rsa_key, []) == "no TXT record"
    assert record_problem(rsa_key, [good_ed.replace("k=ed25519", "k=rsa")]) == (
        "a different public key from this selector's private key"
    )
    assert record_problem(rsa_key, [good_ed]) == "a key of type k=ed25519, not k=rsa"
    assert record_problem(ed_key, ["v=DKIM1; k=ed25519; p="]) == "the key is revoked (empty p=)"
    assert record_problem(ed_key, ["v=spf1 -all"]) == "a TXT record that is not a DKIM key: v=spf1 -all, not v=DKIM1"
    assert (
        record_problem(ed_key, ["v=DKIM1; k=ed25519"])
        == "a TXT record that is not a DKIM key: no p= tag (the public key)"
    )
    assert record_problem(rsa_key, [good_rsa[:-20]]) is not None  # cut short by a DNS form
    # One good record among others is enough.
    assert record_problem(ed_key, ["v=spf1 -all", good_ed]) is None
    # Whitespace in p= (a zone file's line breaks) is not part of the key.
    spaced = good_rsa[:60] + " \t " + good_rsa[60:]
    assert record_problem(rsa_key, [spaced]) is None


def test_an_rsa_key_published_as_bare_pkcs1_matches(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    rsa_key = domain_keys[0]
    pkcs1 = rsa_key.private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert record_problem(rsa_key, [f"v=DKIM1; p={base64.b64encode(pkcs1).decode()}"]) is None  # k= defaults to rsa


BROKEN = {
    "v= not first": ("k=rsa; v=DKIM1; p=AAAA", "v=DKIM1 is not the first tag"),
    "wrong version": ("v=DKIM2; p=AAAA", "v=DKIM2, not v=DKIM1"),
    "no p=": ("v=DKIM1; k=rsa", "no p= tag"),
    "duplicate tag": ("v=DKIM1; p=AAAA; p=BBBB", "not a tag=value list"),
    "not base64": ("v=DKIM1; p=@@@@", "not valid base64"),
    "not for email": ("v=DKIM1; s=tlsrpt; p=AAAA", "not for email"),
}


@pytest.mark.parametrize(("value", "says"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_record_is_refused_saying_why(value: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_record(value)


def test_flags_and_defaults_of_a_record() -> None:
    record = parse_record("v=DKIM1; t=y:s; s=email:*; p=AAAA")
    assert record.testing and record.key_type == "rsa" and record.public_key == b"\0\0\0"
    assert not parse_record(b"p=").testing
