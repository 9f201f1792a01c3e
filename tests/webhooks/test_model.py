"""Loops: which events they receive, and the checks of what users give."""

from __future__ import annotations

import pytest

from returnpath.core.events import EventKind
from returnpath.core.feedback import Format, parse_events, parse_format
from returnpath.errors import InputError, LoopError

from . import samples


def test_a_loop_receives_its_accounts_events_of_the_kinds_it_asked_for() -> None:
    loop = samples.loop("l1", "https://hooks.example/x", EventKind.FAILURE, EventKind.BOUNCE)
    events = samples.every_kind()
    assert [e.kind for e in events if loop.wants(e)] == [
        EventKind.FAILURE,
        EventKind.BOUNCE,
        EventKind.FAILURE,
        EventKind.BOUNCE,
    ]
    others = samples.every_kind(account="b" * 26)
    assert not any(loop.wants(e) for e in others)


def test_a_paused_loop_still_gets_its_items() -> None:
    """They wait in the outbox and are posted when it is resumed."""
    paused = samples.loop("l1", "https://hooks.example/x", active=False)
    assert paused.wants(samples.delivered())


def test_event_types_are_smtpeters_names_and_deferred() -> None:
    assert parse_events(["failure", " Bounce", "delivery", "abuse", "deferred"]) == frozenset(EventKind)


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["failure", "bounced"], "unknown event type 'bounced': expected some of delivery, deferred, failure"),
        ([], "at least one event type"),
    ],
)
def test_unknown_event_types_are_refused_naming_the_known_ones(names: list[str], why: str) -> None:
    with pytest.raises(LoopError, match=why) as caught:
        parse_events(names)
    assert isinstance(caught.value, InputError) and caught.value.field == "events"


def test_the_format_is_form_or_json() -> None:
    assert (parse_format("form"), parse_format("JSON")) == (Format.FORM, Format.JSON)
    with pytest.raises(LoopError, match="unknown format 'xml': expected form or json"):
        parse_format("xml")
