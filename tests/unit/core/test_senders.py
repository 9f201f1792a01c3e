"""Sender domains: how a list is written, and which envelope senders it allows (a table)."""

from __future__ import annotations

import pytest

from returnpath.core.senders import allows, parse_domains
from returnpath.errors import InputError


def test_a_list_is_lowercased_checked_and_deduplicated() -> None:
    assert parse_domains(["Example.COM, *.example.org", "example.com. mail.example.net"]) == (
        "example.com",
        "*.example.org",
        "mail.example.net",
    )
    assert parse_domains([""]) == ()
    assert parse_domains([]) == ()


@pytest.mark.parametrize("entry", ["example", "*example.com", "a.*.example.com", "exa mple@x.com", "-x.example.com"])
def test_what_is_not_a_domain_or_wildcard_is_named(entry: str) -> None:
    with pytest.raises(InputError, match="sender domain"):
        parse_domains([entry])


DOMAINS = ("example.com", "*.example.org")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("app@example.com", True),
        ("app@EXAMPLE.com", True),
        ("app@mail.example.com", False),  # exact: subdomains only with *.
        ("app@example.com.evil.test", False),
        ("app@notexample.com", False),
        ("app@mail.example.org", True),
        ("app@a.b.example.org", True),
        ("app@example.org", False),  # *.example.org is its subdomains, not itself
        ("app@evilexample.org", False),
        ("", False),  # the null sender names no domain
    ],
)
def test_which_senders_a_list_allows(address: str, allowed: bool) -> None:
    assert allows(DOMAINS, address) is allowed


def test_an_empty_list_allows_any_sender_even_the_null_one() -> None:
    assert allows((), "anyone@anywhere.test") and allows((), "")
