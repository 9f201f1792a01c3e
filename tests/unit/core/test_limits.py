"""Connection counts and the per-address message window (core/limits.py): values in, decisions out."""

from __future__ import annotations

import pytest

from returnpath.core.limits import WINDOW, ConnectionLimit, RateLimit, Refusal, client_address


def test_connections_in_total_and_per_address() -> None:
    limit = ConnectionLimit(total=3, per_address=2)
    assert [limit.open("a"), limit.open("a"), limit.open("a")] == [None, None, Refusal.ADDRESS]
    assert [limit.open("b"), limit.open("c")] == [None, Refusal.TOTAL]
    limit.close("a")
    assert limit.open("c") is None
    for address in ("a", "b", "c"):
        limit.close(address)
    assert limit.open_count == 0 and limit.by_address == {}  # nothing kept for gone clients


def test_messages_per_address_in_a_sliding_minute() -> None:
    rate = RateLimit(2)
    assert [rate.allow("a", 0.0), rate.allow("a", 10.0), rate.allow("a", 20.0)] == [True, True, False]
    assert rate.allow("b", 20.0)  # another address has its own count
    assert not rate.allow("a", WINDOW - 0.1)  # the first is still inside the window
    assert rate.allow("a", WINDOW + 0.1)  # now it is not
    assert not rate.allow("a", WINDOW + 5.0)


def test_addresses_gone_quiet_are_forgotten() -> None:
    rate = RateLimit(5)
    for i in range(2000):
        rate.allow(f"10.0.{i // 256}.{i % 256}", 1.0)
    rate.allow("192.0.2.1", 1.0 + 2 * WINDOW)
    assert len(rate.recent) == 1


@pytest.mark.parametrize(
    "peer, address",
    [
        (("192.0.2.7", 2525), "192.0.2.7"),
        (("::ffff:192.0.2.7", 2525, 0, 0), "192.0.2.7"),  # an IPv4 client on a dual-stack socket
        (("2001:db8::1", 2525, 0, 0), "2001:db8::1"),
        (("fe80::1%eth0", 2525, 0, 2), "fe80::1"),
        (None, None),
        ("/run/socket", None),
    ],
)
def test_client_address(peer: object, address: str | None) -> None:
    assert client_address(peer) == address
