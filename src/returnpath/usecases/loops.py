"""Feedback loops, as an account manages them: the use cases the HTTP API and the CLI share.

Every call is scoped by the account: another account's loop is `NotFound`, like one that does
not exist. Settings are checked here, once for both doors (`LoopError` names the field):
the URL by webhooks/targets.py (its form, and that it resolves to public addresses unless
`[webhooks] allow_private_targets`), event types and format by webhooks/model.py.

One loop per URL in an account: a second loop with the URL of one it has is a `Conflict`
(HTTP 409) that names the one it has. Two loops with one URL post each event both want twice,
and sign their posts with two secrets, of which the receiver at that URL checks one; more
event types for a URL are a change of its loop's `events`.

The secret is made here and shown only when a loop is created and when it is rotated.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable

from ..config import Settings
from ..core import ids
from ..core.events import Event, EventKind
from ..core.feedback import Answer, Loop, PostView, parse_events, parse_format
from ..core.model import Account
from ..core.ports import LoopStore, Poster
from ..errors import Conflict, InputError, LoopError, NotFound
from ..webhooks import signing, targets
from ..webhooks.dispatcher import signed_request

ITEM_STATES = ("pending", "in_flight", "done", "dead")  # what a loop's deliveries can be listed by
MAX_LISTED = 1000
ROTATION_GRACE = 24 * 3600.0  # seconds a rotated-out secret still signs posts


class Loops:
    def __init__(
        self,
        store: LoopStore,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        resolve: targets.Resolver = targets.system_resolve,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.resolve = resolve

    async def create(
        self, account: Account, url: str, events: Iterable[str], format: str = "form", active: bool = True
    ) -> Loop:
        """A new loop with a new secret."""
        most = self.settings.webhooks.max_loops
        existing = await self.store.loops(account.id)
        if len(existing) >= most:
            raise InputError(
                f"this account has {most} feedback loops, the most it may have ([webhooks] max_loops); remove one first"
            )
        loop = Loop(
            id=ids.new_id(self.clock()),
            account_id=account.id,
            url=await self._checked_url(url),
            events=parse_events(_names(events)),
            secret=signing.new_secret(),
            format=parse_format(_text(format, "format")),
            active=_flag(active, "active"),
        )
        _refuse_a_second_loop(existing, loop.url)  # after the checks of its settings: a 400 comes first
        return await self.store.create_loop(loop, self.clock())

    async def list(self, account: Account) -> list[Loop]:
        return await self.store.loops(account.id)

    async def get(self, account: Account, loop_id: str) -> Loop:
        loop = await self.store.loop(account.id, _loop_id(loop_id))
        if loop is None:
            raise NotFound(f"no feedback loop {loop_id!r} in this account")
        return loop

    async def update(
        self,
        account: Account,
        loop_id: str,
        *,
        url: str | None = None,
        events: Iterable[str] | None = None,
        format: str | None = None,
        active: bool | None = None,
    ) -> Loop:
        """Change what is given. A paused loop keeps collecting its events; they are posted
        when it is resumed."""
        checked_url = None if url is None else await self._checked_url(url)
        kinds = None if events is None else parse_events(_names(events))
        body_format = None if format is None else parse_format(_text(format, "format"))
        flag = None if active is None else _flag(active, "active")
        if checked_url is not None:  # after the checks of the settings: a 400 comes first
            others = {loop.id: loop for loop in await self.store.loops(account.id)}
            if others.pop(_loop_id(loop_id), None) is None:
                raise NotFound(f"no feedback loop {loop_id!r} in this account")
            _refuse_a_second_loop(others.values(), checked_url)
        loop = await self.store.update_loop(
            account.id,
            _loop_id(loop_id),
            url=checked_url,
            events=kinds,
            format=body_format,
            active=flag,
            now=self.clock(),
        )
        if loop is None:
            raise NotFound(f"no feedback loop {loop_id!r} in this account")
        return loop

    async def rotate_secret(self, account: Account, loop_id: str) -> Loop:
        """A new secret. Posts from now on are signed with it (retries of earlier events too)
        and, for ROTATION_GRACE, with the old one as well: a receiver verifies them with
        either, so it can switch to the new secret without losing a post."""
        now = self.clock()
        loop = await self.store.update_loop(
            account.id, _loop_id(loop_id), secret=signing.new_secret(), previous_until=now + ROTATION_GRACE, now=now
        )
        if loop is None:
            raise NotFound(f"no feedback loop {loop_id!r} in this account")
        return loop

    async def remove(self, account: Account, loop_id: str) -> None:
        """Remove the loop and what it had still to post."""
        if not await self.store.delete_loop(account.id, _loop_id(loop_id)):
            raise NotFound(f"no feedback loop {loop_id!r} in this account")

    async def deliveries(
        self,
        account: Account,
        loop_id: str,
        *,
        state: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> builtins.list[PostView]:
        """The loop's posts, newest event first, each with whether it is in
        flight and what its event was; `state` is one of ITEM_STATES; `before` the id of the
        last post of the page before (its event, not the post, is the cursor: a replayed post
        keeps its place)."""
        if state is not None and state not in ITEM_STATES:
            raise LoopError(f"unknown state {state!r}: expected one of {', '.join(ITEM_STATES)}", "state")
        if not 1 <= limit <= MAX_LISTED:
            raise LoopError(f"limit must be from 1 to {MAX_LISTED}", "limit")
        cursor = None
        if before is not None:
            await self.get(account, loop_id)
            last = await self.store.loop_post(account.id, _loop_id(loop_id), _item_id(before))
            if last is None:
                raise LoopError(
                    f"no post {before!r} in feedback loop {loop_id!r}: give the id of a post of this loop, "
                    "the last one of the page before (`next`)",
                    "before",
                )
            cursor = (last.event_time, last.event_id)
        items = await self.store.loop_posts(
            account.id, _loop_id(loop_id), state=state, now=self.clock(), limit=limit, before=cursor
        )
        if items is None:
            raise NotFound(f"no feedback loop {loop_id!r} in this account")
        return items

    async def replay(self, account: Account, loop_id: str, item_id: str) -> None:
        """Post a done or dead item again, with a new retry window."""
        if await self.store.replay_post(account.id, _loop_id(loop_id), _item_id(item_id), self.clock()):
            return
        await self.get(account, loop_id)
        if await self.store.loop_post(account.id, _loop_id(loop_id), _item_id(item_id)) is not None:
            raise InputError(f"delivery {item_id!r} is still pending: it is posted (again) without a replay")
        raise NotFound(f"no delivery {item_id!r} in feedback loop {loop_id!r}")

    async def replay_dead(self, account: Account, loop_id: str) -> int:
        """Post every dead item of the loop again; how many."""
        await self.get(account, loop_id)
        return await self.store.replay_dead(account.id, _loop_id(loop_id), self.clock())

    async def test(self, account: Account, loop_id: str, poster: Poster, kind: str | None = None) -> Answer:
        """Post one sample event to the loop now, signed, in its format, and say what came of
        it. Nothing is stored: the sample is no post and is not retried."""
        loop = await self.get(account, loop_id)
        try:
            wanted = parse_events([kind]) if kind else loop.events
        except LoopError as exc:
            raise LoopError(str(exc), "event") from None
        event_kind = next(k for k in EventKind if k in wanted)
        allow_private = self.settings.webhooks.allow_private_targets
        try:
            _, found = await targets.check(
                loop.url, allow_private=allow_private, resolve=self.resolve, timeout=self.settings.webhooks.timeout
            )
        except LoopError as exc:
            return Answer(None, str(exc), refused=True)
        now = self.clock()
        headers, body = signed_request(
            loop,
            f"msg_test{ids.new_id(now)}",
            0,
            sample_event(account, event_kind, now),
            SAMPLE_MIME if event_kind in (EventKind.BOUNCE, EventKind.ABUSE) else None,
            int(now),
        )
        return await poster.post(loop.url, headers, body, addresses=found)

    # ---- checks ------------------------------------------------------------------------------

    async def _checked_url(self, url: object) -> str:
        if not isinstance(url, str):
            raise LoopError("url must be a string: the http:// or https:// URL to post to", "url")
        await targets.check(
            url,
            allow_private=self.settings.webhooks.allow_private_targets,
            resolve=self.resolve,
            timeout=self.settings.webhooks.timeout,
        )
        return url


SAMPLE_MIME = (
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: test@example.com\r\nSubject: Undelivered Mail\r\n"
    b"\r\nThis is a sample returned message posted by `returnpath loops test`.\r\n"
)


def sample_event(account: Account, kind: EventKind, now: float) -> Event:
    """A made-up event of `kind` with every variable filled in, for `test`."""
    data: dict[str, object] = {"recipient": "test@example.com", "tags": ["test"]}
    if kind is EventKind.DELIVERY:
        data.update(code=250, status="2.0.0", description="250 2.0.0 Ok: queued as TEST")
    elif kind in (EventKind.FAILURE, EventKind.DEFERRED):
        data.update(
            type="sync",
            state="rcpt",
            code=550 if kind is EventKind.FAILURE else 451,
            status="5.1.1" if kind is EventKind.FAILURE else "4.7.1",
            description="sample: this is a test post from returnpath",
            reason="test",
        )
    elif kind is EventKind.BOUNCE:
        data.update(kind="dsn", envelope="", mailfrom="", rcptto=["b-test@bounces.example.com"], reason="test")
    else:
        data.update(emailfrom="complainer@example.net", feedbacktype="abuse")
    return Event(kind, "test", "test", account.id, now, data)


def _refuse_a_second_loop(loops: Iterable[Loop], url: str) -> None:
    """Raise Conflict when one of the account's `loops` posts to `url` already.

    Checked here, before the store writes, not by a unique key in the store: URLs written
    differently name one endpoint, and loops made before this check may share one. Two
    requests at the same moment can still both make their loop."""
    for loop in loops:
        if targets.same_endpoint(loop.url, url):
            raise Conflict(
                f"feedback loop {loop.id} of this account posts to {loop.url} already: change its events "
                f"(PATCH /v1/feedback-loops/{loop.id}, `returnpath loops update {loop.id} --events ...`) "
                "rather than adding a second loop, which would post each event twice",
                "url",
                loop.id,
            )


def _names(events: object) -> list[str]:
    if not isinstance(events, (list, tuple, set, frozenset)) or not all(isinstance(e, str) for e in events):
        raise LoopError("events must be a list of event types (failure, bounce, delivery, abuse, deferred)", "events")
    return list(events)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise LoopError(f"{field} must be a string", field)
    return value


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise LoopError(f"{field} must be true or false", field)
    return value


def _loop_id(value: str) -> str:
    return value.strip().lower()


_item_id = _loop_id
