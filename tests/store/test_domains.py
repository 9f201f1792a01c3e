"""Sending domains in the store (core/domains.py): kept per account, one account per domain,
listed, removed, and taken away with their account. Part of the conformance suite: runs
against each backend in conftest.BACKENDS."""

from __future__ import annotations

import pytest

from returnpath.core import ids
from returnpath.core.model import Submission
from returnpath.core.ports import NewDelivery, NewMessage, Store
from returnpath.core.senders import DomainState, SendingDomain
from returnpath.errors import InputError

from .conftest import count_rows
from .test_store import NOW, _account


def _domain(account_id: str, name: str = "example.com", **changes: object) -> SendingDomain:
    fields: dict[str, object] = {
        "account_id": account_id,
        "domain": name,
        "bounce_domain": f"bounces.{name}",
        "created_at": NOW,
        "rsa_selector": "rp202701",
        "ed25519_selector": "rp202701e",
    }
    fields.update(changes)
    return SendingDomain(**fields)  # type: ignore[arg-type]


async def test_a_domain_is_read_back_as_it_was_added(backend: Store) -> None:
    account = await _account(backend)
    domain = _domain(account.id, pending_rsa_selector="rp202702", pending_ed25519_selector="rp202702e")
    await backend.add_domain(domain)
    assert await backend.domain("example.com") == domain
    assert domain.state is DomainState.ACTIVE
    assert await backend.domains(account.id) == [domain]
    assert await backend.domains() == [domain]
    assert await backend.domain("example.org") is None


async def test_each_account_lists_only_its_own_domains_in_name_order(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    mine = [_domain(app.id, "b.example.com"), _domain(app.id, "a.example.com")]
    theirs = _domain(other.id, "example.org", bounce_domain="rp.example.org")
    for domain in (*mine, theirs):
        await backend.add_domain(domain)
    assert await backend.domains(app.id) == [mine[1], mine[0]]
    assert await backend.domains(other.id) == [theirs]
    assert [d.domain for d in await backend.domains()] == ["a.example.com", "b.example.com", "example.org"]


async def test_a_domain_belongs_to_one_account(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id))
    with pytest.raises(InputError, match="configured already"):
        await backend.add_domain(_domain(app.id, rsa_selector="rp202703"))
    with pytest.raises(InputError, match="belongs to another account"):
        await backend.add_domain(_domain(other.id))
    # Neither refusal changed what was there.
    assert await backend.domains() == [_domain(app.id)]


async def test_only_the_owner_removes_a_domain(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id))
    assert await backend.remove_domain(other.id, "example.com", NOW) is False
    assert await backend.domain("example.com") is not None
    assert await backend.remove_domain(app.id, "example.com", NOW) is True
    assert await backend.domain("example.com") is None
    assert await backend.remove_domain(app.id, "example.com", NOW) is False
    # Free again, for anybody.
    await backend.add_domain(_domain(other.id))
    assert [d.account_id for d in await backend.domains()] == [other.id]


async def test_a_removed_domain_keeps_only_its_bounce_domain_until_purged(backend: Store) -> None:
    app = await _account(backend, "app")
    removed, kept = _domain(app.id), _domain(app.id, "example.org", bounce_domain="rp.example.org")
    await backend.add_domain(removed)
    await backend.add_domain(kept)
    assert await backend.remove_domain(app.id, "example.com", NOW + 10)
    # Neither read, listed nor rotated any more...
    assert await backend.domain("example.com") is None
    assert await backend.domains() == [kept] and await backend.domains(app.id) == [kept]
    assert not await backend.update_domain(removed.rotating("rp202702", "rp202702e"), removed)
    # ...but its bounce domain is accepted for what was removed at or after the time asked.
    assert sorted(await backend.bounce_domains(NOW + 10)) == ["bounces.example.com", "rp.example.org"]
    assert await backend.bounce_domains(NOW + 11) == ["rp.example.org"]
    # The purge takes only what was removed before its time, and never an active domain.
    assert await backend.purge_removed_domains(NOW + 10) == 0
    assert await count_rows(backend, ("domains",)) == {"domains": 2}
    assert await backend.purge_removed_domains(NOW + 11) == 1
    assert await count_rows(backend, ("domains",)) == {"domains": 1}
    assert await backend.domains() == [kept]


async def test_a_removed_domain_added_again_is_new(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id, pending_rsa_selector="rp202702", pending_ed25519_selector="rp202702e"))
    await backend.remove_domain(app.id, "example.com", NOW + 10)
    # Another account may take it, with its own keys and bounce domain: nothing of the old row stays.
    again = _domain(
        other.id,
        created_at=NOW + 20,
        bounce_domain="rp.example.com",
        rsa_selector="rp202703",
        ed25519_selector="rp202703e",
    )
    await backend.add_domain(again)
    assert await backend.domain("example.com") == again
    assert await backend.domains(other.id) == [again] and await backend.domains(app.id) == []
    # The old bounce domain is still accepted for what was sent before the removal, as long
    # as it would have been without the new domain; the new one as long as the domain is there.
    assert sorted(await backend.bounce_domains(NOW + 10)) == ["bounces.example.com", "rp.example.com"]
    assert await backend.bounce_domains(NOW + 11) == ["rp.example.com"]
    assert await backend.purge_removed_domains(NOW + 10) == 0
    assert await backend.purge_removed_domains(NOW + 11) == 1  # the old bounce domain only
    assert await backend.bounce_domains(NOW) == ["rp.example.com"]
    assert await backend.purge_removed_domains(NOW + 1000) == 0  # active again: not purged
    # And it is taken again, as any active domain.
    with pytest.raises(InputError, match="belongs to another account"):
        await backend.add_domain(_domain(app.id))
    assert await backend.domain("example.com") == again
    assert await backend.bounce_domains(NOW) == ["rp.example.com"]


async def test_a_domain_removed_and_added_again_twice_keeps_each_old_bounce_domain_for_its_window(
    backend: Store,
) -> None:
    app = await _account(backend, "app")
    await backend.add_domain(_domain(app.id, bounce_domain="one.example.com"))
    await backend.remove_domain(app.id, "example.com", NOW + 10)
    await backend.add_domain(_domain(app.id, bounce_domain="two.example.com", rsa_selector="rp202702"))
    await backend.remove_domain(app.id, "example.com", NOW + 20)
    # A refused add (taken) keeps nothing of the row it did not take.
    await backend.add_domain(same := _domain(app.id, bounce_domain="two.example.com", rsa_selector="rp202703"))
    with pytest.raises(InputError, match="configured already"):
        await backend.add_domain(_domain(app.id, bounce_domain="three.example.com", rsa_selector="rp202704"))
    assert await backend.domain("example.com") == same
    assert sorted(await backend.bounce_domains(NOW + 10)) == ["one.example.com", "two.example.com"]
    assert await backend.bounce_domains(NOW + 11) == ["two.example.com"]
    assert await backend.purge_removed_domains(NOW + 21) == 2  # one.example.com's, two.example.com's kept
    assert await backend.bounce_domains(NOW) == ["two.example.com"]  # the active domain's


async def test_removing_an_account_takes_the_bounce_domains_kept_of_its_domains(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id))
    await backend.remove_domain(app.id, "example.com", NOW + 10)
    await backend.add_domain(_domain(app.id, bounce_domain="rp.example.com"))
    await backend.add_domain(_domain(other.id, "example.org"))
    await backend.remove_domain(other.id, "example.org", NOW + 10)
    await backend.add_domain(_domain(other.id, "example.org", bounce_domain="rp.example.org"))
    assert await backend.remove_account(app.id) == 0
    assert await count_rows(backend, ("kept_bounce_domains",)) == {"kept_bounce_domains": 1}
    assert sorted(await backend.bounce_domains(NOW)) == ["bounces.example.org", "rp.example.org"]


async def test_removing_an_account_removes_its_domains(backend: Store) -> None:
    app, other = await _account(backend, "app"), await _account(backend, "other")
    await backend.add_domain(_domain(app.id))
    await backend.add_domain(_domain(other.id, "example.org"))
    assert await backend.remove_account(app.id) == 0
    assert await count_rows(backend, ("domains",)) == {"domains": 1}
    assert await backend.domain("example.com") is None


async def test_a_rotation_is_stored_only_over_the_row_it_was_made_from(backend: Store) -> None:
    account = await _account(backend)
    domain = _domain(account.id)
    await backend.add_domain(domain)
    rotating = domain.rotating("rp202702", "rp202702e")
    assert await backend.update_domain(rotating, domain)
    assert await backend.domain("example.com") == rotating
    assert rotating.state is DomainState.ROTATING
    # A second rotation made from the row as it was before is refused: it was changed since.
    assert not await backend.update_domain(domain.rotating("rp202703", "rp202703e"), domain)
    switched = rotating.switched(NOW + 60)
    assert await backend.update_domain(switched, rotating)
    stored = await backend.domain("example.com")
    assert stored == switched and stored is not None
    assert stored.selectors == ("rp202702", "rp202702e") and stored.pending_selectors == ()
    assert stored.retired == (("rp202701", NOW + 60), ("rp202701e", NOW + 60))
    assert stored.state is DomainState.ACTIVE
    # The same switch again (another node's, say) changes nothing.
    assert not await backend.update_domain(switched, rotating)
    assert not await backend.update_domain(switched, _domain(account.id, "example.org"))


async def test_a_message_to_sign_later_is_claimed_so_and_signed_once(backend: Store) -> None:
    account = await _account(backend)
    message_id, deliveries = (
        ids.new_id(NOW),
        [NewDelivery(ids.new_id(NOW), r, f"b{i}@rp.example.com") for i, r in enumerate("ab")],
    )
    submission = Submission(mail_from="a@example.com", recipients=("a", "b"), mime=b"From: a@example.com\r\n\r\nx\r\n")
    message = NewMessage(
        account.id, message_id, submission, tuple(deliveries), NOW, NOW + 100, sign_domain="example.com"
    )
    await backend.submit(message, owner=None, lease_until=NOW + 60)
    jobs = await backend.claim("w", NOW + 1, NOW + 60, 10)
    assert {job.sign_domain for job in jobs} == {"example.com"} and len(jobs) == 2
    first = b"DKIM-Signature: one\r\n" + submission.mime
    # Two attempts of the message (one per recipient) sign it: the first stored is sent by both.
    assert await backend.sign_message(message_id, first) == first
    assert await backend.sign_message(message_id, b"DKIM-Signature: two\r\n" + submission.mime) == first
    assert await backend.mime(message_id) == first
    await backend.release()
    again = await backend.claim("w", NOW + 2, NOW + 60, 10)
    assert {(job.sign_domain, job.mime) for job in again} == {(None, first)}
