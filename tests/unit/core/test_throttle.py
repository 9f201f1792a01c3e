"""The throttle's rule (which attempts are not even checked) and the address failures count under."""

from __future__ import annotations

import pytest

from returnpath.core.throttle import AuthCounts, AuthLimits, client_address, refusal

LIMITS = AuthLimits(per_address=10, per_username=20, window=900, at_once=100)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (AuthCounts(0, 0, False), None),
        (AuthCounts(9, 19, False), None),
        (AuthCounts(10, 0, False), "address"),
        (AuthCounts(10, 0, True), "address"),  # a known address is held by its own count
        (AuthCounts(0, 20, False), "username"),
        (AuthCounts(0, 20, True), None),  # but not by the username's
        # Checks in flight count with the failures, refused as "at once": none has failed.
        (AuthCounts(4, 0, False, address_checking=5), None),
        (AuthCounts(4, 0, False, address_checking=6), "at once"),
        (AuthCounts(0, 19, False, username_checking=1), "at once"),
        (AuthCounts(10, 0, False, address_checking=6), "address"),  # failures say so first
        # An address known for the username: only failures, and `at_once` checks in flight.
        (AuthCounts(9, 0, True, address_checking=99, username_checking=99), None),
        (AuthCounts(0, 0, True, address_checking=100), "at once"),
    ],
)
def test_refusal(counts: AuthCounts, expected: str | None) -> None:
    assert refusal(LIMITS, counts) == expected


def test_zero_is_no_limit() -> None:
    off = AuthLimits(0, 0, 900)
    assert not off.active
    assert refusal(off, AuthCounts(10**6, 10**6, False)) is None


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::7%eth0", "2001:db8:1:2::/64"),
        (None, "unknown"),
    ],
)
def test_failures_count_per_ipv4_address_and_per_ipv6_64(peer: str | None, key: str) -> None:
    assert client_address(peer) == key
