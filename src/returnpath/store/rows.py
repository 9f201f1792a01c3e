"""Rows to values, for both backends: their queries select the same columns in the same order
(store/sqlite/queries.sql, store/postgresql/queries.sql), so one mapper serves each value.

What differs is only how a backend hands a column over, and that is settled before these are
called: JSON kept as text on both, booleans as 0/1 or true/false (`bool` takes either), a
loop's event kinds as a JSON list or an array (the caller decodes them: `loop`'s `kinds`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..core.events import Event, EventKind
from ..core.feedback import Format, Loop, Post, PostSettlement, PostState
from ..core.model import Account, Attempt, DeliveryJob, DeliveryState, DeliveryView, DsnOptions, Returned, Step, Verdict
from ..core.ports import SealedKey, StoredEvent
from ..core.senders import DomainState, SendingDomain
from ..errors import InputError


def account(row: Sequence[Any]) -> Account:
    id, name, smtp_username, disabled, sender_domains = row
    return Account(id, name, smtp_username, bool(disabled), tuple(json.loads(sender_domains)))


def account_and_hash(row: Sequence[Any] | None) -> tuple[Account, str] | None:
    """The account_by_username query's row (account, then password hash): None for no row, or
    for the NULLs of no account where a query joins it in (auth_lookup)."""
    if row is None or row[0] is None:
        return None
    return account(row[:5]), row[5]


def sending_domain(row: Sequence[Any]) -> SendingDomain:
    account_id, domain, bounce_domain, created_at, rsa, ed25519, pending_rsa, pending_ed25519, state, retired = row
    return SendingDomain(
        account_id,
        domain,
        bounce_domain,
        created_at,
        rsa,
        ed25519,
        pending_rsa,
        pending_ed25519,
        DomainState(state),
        tuple((selector, float(at)) for selector, at in json.loads(retired)),
    )


def domain_params(domain: SendingDomain) -> dict[str, Any]:
    """The named parameters of `insert_domain` (the other way round)."""
    return {
        "domain": domain.domain,
        "account_id": domain.account_id,
        "bounce_domain": domain.bounce_domain,
        "created_at": domain.created_at,
        "rsa_selector": domain.rsa_selector,
        "ed25519_selector": domain.ed25519_selector,
        "pending_rsa_selector": domain.pending_rsa_selector,
        "pending_ed25519_selector": domain.pending_ed25519_selector,
        "state": domain.state.value,
        "retired": json.dumps([list(pair) for pair in domain.retired]),
    }


def sealed_key(row: Sequence[Any]) -> SealedKey:
    domain, selector, algorithm, sealed, created_at = row
    return SealedKey(domain, selector, algorithm, bytes(sealed), float(created_at))


def sealed_key_params(key: SealedKey) -> tuple[Any, ...]:
    """The parameters of `insert_dkim_key`."""
    return (key.domain, key.selector, key.algorithm, key.sealed, key.created_at)


def selector_used(key: SealedKey) -> InputError:
    """What adding `key` meets when its domain has a key under its selector already: another
    node made keys for the domain at the same moment (the selectors were free when read)."""
    return InputError(f"the DKIM selector {key.selector} of {key.domain} was used meanwhile; try again")


def domain_update_params(domain: SendingDomain, was: SendingDomain) -> dict[str, Any]:
    """The named parameters of `update_domain`: the new values, and the old ones that must
    still be there."""
    return domain_params(domain) | {
        "was_rsa_selector": was.rsa_selector,
        "was_pending_rsa_selector": was.pending_rsa_selector,
    }


def returned(row: Sequence[Any]) -> Returned:
    return Returned(
        id=row[0],
        mailfrom=row[1],
        rcptto=tuple(json.loads(row[2])),
        deliveries=tuple(json.loads(row[3])),
        client=row[4],
        received_at=row[5],
        raw=bytes(row[6]),
        purged_at=row[7],
    )


def job(row: Sequence[Any], mimes: Mapping[str, bytes], owner: str) -> DeliveryJob:
    """A claimed delivery; `mimes`: its message's MIME by message id (one bytes object per
    message, shared by all of its deliveries)."""
    return DeliveryJob(
        delivery_id=row[0],
        message_id=row[1],
        account_id=row[2],
        recipient=row[3],
        envelope_sender=row[4],
        mime=mimes[row[1]],
        attempts=row[5],
        created_at=row[6],
        expires_at=row[7],
        tags=tuple(json.loads(row[8])),
        dsn=DsnOptions.from_dict(json.loads(row[9])) if row[9] else None,
        forward=bool(row[10]),
        owner=owner,
        sign_domain=row[11],
    )


def stored_event(row: Sequence[Any]) -> StoredEvent:
    event_id, kind, delivery_id, message_id, account_id, time, data, node = row
    event = Event(EventKind(kind), delivery_id, message_id, account_id, time, json.loads(data))
    return StoredEvent(event_id, event, node)


def view(row: Sequence[Any]) -> DeliveryView:
    """A delivery without its history (the backend adds attempts and events when asked)."""
    result = DeliveryView(
        id=row[0],
        message_id=row[1],
        account_id=row[2],
        recipient=row[3],
        mail_from=row[4],
        envelope=row[5],
        envelope_sender=row[6],
        state=DeliveryState(row[7]),
        attempts=row[8],
        created_at=row[9],
        updated_at=row[10],
        next_attempt_at=row[11],
        expires_at=row[12],
        tags=tuple(json.loads(row[13])),
    )
    if len(row) > 14:  # deliveries_by_id adds the message's options
        result.trackbounces = bool(row[14])
        result.dsn = DsnOptions.from_dict(json.loads(row[15])) if row[15] else None
    return result


def attempt(row: Sequence[Any]) -> Attempt:
    number, time, remote, step, code, status, text, verdict, node = row
    return Attempt(number, time, remote, Step(step), code, status, text, Verdict(verdict), node)


def attempt_columns(attempt: Attempt) -> tuple[Any, ...]:
    """The other way: an attempt as the queries that insert it take it, from its number to its
    verdict (its node is the writing store's own)."""
    a = attempt
    return (a.number, a.time, a.remote, a.step.value, a.code, a.status, a.text, a.verdict.value)


def post_settle_params(owner: str, item_id: str, settlement: PostSettlement) -> dict[str, Any]:
    """A post's settle as the queries that record it take it (named parameters on SQLite, a
    JSON row of settle_posts on PostgreSQL)."""
    return {
        "id": item_id,
        "owner": owner,
        "state": settlement.state.value,
        "attempts": settlement.attempts,
        "next": settlement.next_attempt_at,
        "at": settlement.at,
        "status": settlement.status,
        "error": settlement.error,
    }


def loop(row: Sequence[Any], kinds: Iterable[str]) -> Loop:
    """A loop from its row (without its kinds column) and its event kinds, decoded."""
    loop_id, account_id, url, fmt, active, secret, previous_secret, previous_until = row
    return Loop(
        id=loop_id,
        account_id=account_id,
        url=url,
        events=frozenset(EventKind(k) for k in kinds),
        secret=secret,
        format=Format(fmt),
        active=bool(active),
        previous_secret=previous_secret,
        previous_until=previous_until,
    )


def post(row: Sequence[Any]) -> Post:
    return Post(
        id=row[0],
        loop_id=row[1],
        event_id=row[2],
        event_time=row[3],
        created_at=row[4],
        expires_at=row[5],
        state=PostState(row[6]),
        attempts=row[7],
        next_attempt_at=row[8],
        last_attempt_at=row[9],
        last_status=row[10],
        last_error=row[11],
    )


def page_after(before: tuple[float, int] | None) -> dict[str, Any]:
    """The parameters of a listing's cursor: the event time and id of the last post of the page
    before (NULL for the first page), compared as a pair, for posts of one event time differ."""
    time, event = before if before is not None else (None, None)
    return {"before_time": time, "before_event": event}
