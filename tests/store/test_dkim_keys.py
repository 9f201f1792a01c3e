"""The sending domains' DKIM keys in the store (usecases/domains.py): stored with their domain
in one transaction, read back byte for byte, kept when the domain, its row or its account goes
(a selector is never used again), and imported from files without replacing what is there.
The store sees sealed bytes only (dkim/sealing.py has its own tests). Part of the conformance
suite: runs against each backend in conftest.BACKENDS."""

from __future__ import annotations

import pytest

from returnpath.core.ports import SealedKey, Store
from returnpath.errors import InputError

from .conftest import count_rows
from .test_domains import _domain
from .test_store import NOW, _account

# Bytes a text round trip would change: NUL, high bytes, invalid UTF-8.
BLOB = b"\x01" + bytes(range(256)) + b"\x00\xff\xfe"


def _key(selector: str, domain: str = "example.com", sealed: bytes = BLOB, algorithm: str = "rsa") -> SealedKey:
    return SealedKey(domain, selector, algorithm, sealed + selector.encode(), NOW)


PAIR = [_key("rp202701"), _key("rp202701e", algorithm="ed25519")]


async def test_a_domains_keys_are_stored_with_it_and_read_back_as_they_were(backend: Store) -> None:
    account = await _account(backend)
    await backend.add_domain(_domain(account.id), PAIR)
    assert await backend.dkim_keys("example.com") == PAIR
    assert await backend.dkim_keys("example.org") == []


async def test_a_used_selector_refuses_the_whole_add(backend: Store) -> None:
    account = await _account(backend)
    await backend.import_dkim_keys([_key("rp202701e", sealed=b"\x01old")])  # left by an earlier configuration
    with pytest.raises(InputError, match=r"selector rp202701e of example\.com was used meanwhile"):
        await backend.add_domain(_domain(account.id), PAIR)
    # Neither the domain nor its other key was stored; the old key is as it was.
    assert await backend.domain("example.com") is None
    assert await backend.dkim_keys("example.com") == [_key("rp202701e", sealed=b"\x01old")]


async def test_a_taken_domain_stores_no_key(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id), PAIR)
    with pytest.raises(InputError, match="belongs to another account"):
        await backend.add_domain(_domain(other.id, rsa_selector="rp202702"), [_key("rp202702")])
    assert await backend.dkim_keys("example.com") == PAIR


async def test_a_rotations_keys_are_stored_only_with_its_row(backend: Store) -> None:
    account = await _account(backend)
    domain = _domain(account.id)
    await backend.add_domain(domain, PAIR)
    rotating = domain.rotating("rp202702", "rp202702e")
    new = [_key("rp202702"), _key("rp202702e", algorithm="ed25519")]
    assert await backend.update_domain(rotating, domain, new)
    assert await backend.dkim_keys("example.com") == [*PAIR, *new]
    # Refused (made from the row as it was before): its keys are not stored either.
    assert not await backend.update_domain(domain.rotating("rp202703", "rp202703e"), domain, [_key("rp202703")])
    assert [k.selector for k in await backend.dkim_keys("example.com")] == [
        "rp202701",
        "rp202701e",
        *rotating.pending_selectors,
    ]


async def test_keys_outlive_their_domain_its_purge_and_its_account(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id), PAIR)
    await backend.add_domain(_domain(other.id, "example.org"), [_key("rp202701", "example.org")])
    assert await backend.remove_domain(app.id, "example.com", NOW)
    assert await backend.purge_removed_domains(NOW + 1) == 1
    assert await backend.remove_account(other.id) == 0
    # The selectors stay taken: whoever adds the domains next gets new ones.
    assert await backend.dkim_keys("example.com") == PAIR
    assert await backend.dkim_keys("example.org") == [_key("rp202701", "example.org")]
    assert await count_rows(backend, ("domains", "dkim_keys")) == {"domains": 0, "dkim_keys": 3}


async def test_an_import_stores_only_what_is_not_there(backend: Store) -> None:
    account = await _account(backend)
    await backend.add_domain(_domain(account.id), PAIR)
    other = _key("rp202701", sealed=b"\x01another")
    assert await backend.import_dkim_keys([other, _key("rp202612"), _key("rp202612e")]) == 2
    assert await backend.import_dkim_keys([_key("rp202612")]) == 0  # a second node importing the same file
    assert await backend.import_dkim_keys([]) == 0
    assert await backend.dkim_keys("example.com") == sorted(
        [*PAIR, _key("rp202612"), _key("rp202612e")], key=lambda k: k.selector
    )
