"""The dispatcher against a real HTTP receiver on loopback, which verifies every signature with
`standardwebhooks` and misbehaves as told: each event arrives, exactly once after duplicates
are dropped by `webhook-id`, in the loop's format, and a failing endpoint holds back no other.

The outbox is the in-memory double (memory.py) until the store has its own.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest

from returnpath import __version__
from returnpath.core.events import EventKind
from returnpath.core.feedback import Answer, Format, Loop, PostState
from returnpath.webhooks.dispatcher import Dispatcher, Limits
from returnpath.webhooks.payloads import encode, payload

from . import samples
from .conftest import FAST_BACKOFF, TIMEOUT, Start, eventually
from .memory import MemoryOutbox
from .receiver import Behaviour, Drop, Hold, Receiver, Reply, Slow


def register(
    receiver: Receiver,
    outbox: MemoryOutbox,
    path: str,
    *kinds: EventKind,
    behaviours: tuple[Behaviour, ...] = (),
    **loop_args: object,
) -> Loop:
    """A loop posting to an endpoint of the receiver that behaves as told, then answers 200."""
    loop = samples.loop(path.strip("/"), receiver.base_url + path, *kinds, **loop_args)  # type: ignore[arg-type]
    receiver.endpoint(path, loop.secret, *behaviours)
    return outbox.add_loop(loop)


def publish(outbox: MemoryOutbox, count: int) -> None:
    for n in range(count):
        outbox.publish(samples.refused(at=samples.NOW + n), time.time())


@pytest.mark.parametrize("fmt", list(Format))
async def test_each_event_reaches_the_loops_that_want_it_once_signed_with_its_variables(
    fmt: Format, receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    everything = register(receiver, outbox, "/all", fmt=fmt)
    failures = register(receiver, outbox, "/failures", EventKind.FAILURE, fmt=fmt)
    other_account = register(receiver, outbox, "/other", fmt=fmt, account="b" * 26)
    for event in samples.every_kind():
        outbox.publish(event, time.time(), samples.mime_of(event))
    await start()
    await eventually(outbox.settled)

    assert receiver.unverified == []
    assert receiver.at("/other") == [] and outbox.in_state(PostState.PENDING, other_account.id) == []
    for loop, path in ((everything, "/all"), (failures, "/failures")):
        items = outbox.in_state(PostState.DONE, loop.id)
        assert len(receiver.at(path)) == len(items)  # a healthy receiver gets no duplicate
        arrivals = receiver.unique(path)
        assert set(arrivals) == {item.webhook_id for item in items}
        for item in items:
            event, mime = outbox.events[item.event_id]
            arrival = arrivals[item.webhook_id]
            content_type, body = encode(payload(item.event_id, event, mime), fmt)
            assert arrival.body == body
            assert arrival.headers["content-type"] == content_type
            assert arrival.headers["user-agent"] == f"returnpath/{__version__}"
            assert arrival.fields["type"] == event.kind.value and arrival.fields["id"] == samples.DELIVERY
    assert sorted(a.fields["type"] for a in receiver.at("/all")) == sorted(
        k.value
        for k in [
            EventKind.DELIVERY,
            EventKind.FAILURE,
            EventKind.DEFERRED,
            EventKind.BOUNCE,
            EventKind.FAILURE,
            EventKind.BOUNCE,
            EventKind.ABUSE,
        ]
    )
    assert [a.fields["state"] for a in receiver.at("/failures")] in (["rcpt", "bounce"], ["bounce", "rcpt"])


@pytest.mark.parametrize(
    ("behaviours", "errors"),
    [
        ((Reply(500), Reply(500), Reply(500)), ["HTTP 500: no"] * 3),
        ((Reply(503, body=b"<html>\n  <b>down</b>\n</html>"),), ["HTTP 503: <html> <b>down</b> </html>"]),
        ((Reply(429, (("Retry-After", "1"),)),), ["HTTP 429: no"]),
        ((Slow(TIMEOUT * 2),), [f"no answer within {TIMEOUT:g}s"]),
        ((Drop(), Drop()), ["connection dropped"] * 2),
    ],
    ids=["500", "503-html", "429-retry-after", "slow", "dropped"],
)
async def test_a_failing_receiver_gets_each_event_exactly_once_after_duplicates_are_dropped(
    behaviours: tuple[Behaviour, ...], errors: list[str], receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    loop = register(receiver, outbox, "/flaky", behaviours=behaviours)
    publish(outbox, 3)
    await start()
    await eventually(outbox.settled)

    assert receiver.unverified == []
    items = outbox.in_state(PostState.DONE, loop.id)
    assert len(items) == 3 and set(receiver.unique("/flaky")) == {i.webhook_id for i in items}
    assert sum(i.attempts for i in items) == 3 + len(behaviours)  # every attempt recorded
    failed = [s for r in outbox.attempts for s in [r.settlement] if s.state is PostState.PENDING]
    assert [s.error[: len(e)] for s, e in zip(failed, errors, strict=True)] == errors  # type: ignore[index]
    assert all(i.last_status == 200 and i.last_error is None for i in items)
    if isinstance(behaviours[0], Reply) and behaviours[0].status == 429:
        first, again = [a for a in receiver.arrivals if a.webhook_id == receiver.arrivals[0].webhook_id]
        assert again.at - first.at >= 0.9  # Retry-After: 1, not the backoff's milliseconds


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (Reply(404), "HTTP 404: no"),
        (Reply(302, (("Location", "/elsewhere"),)), "HTTP 302: redirects to /elsewhere (redirects are not followed)"),
    ],
    ids=["404", "redirect"],
)
async def test_a_client_error_is_tried_three_times_then_kept_as_dead(
    behaviour: Reply, error: str, receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    loop = register(receiver, outbox, "/gone", behaviours=(behaviour,) * 5)
    receiver.endpoint("/elsewhere", loop.secret)
    publish(outbox, 1)
    await start()
    await eventually(outbox.settled)

    (dead,) = outbox.in_state(PostState.DEAD, loop.id)
    assert (dead.attempts, dead.last_status, dead.last_error) == (3, behaviour.status, error)
    assert len(receiver.at("/gone")) == 3 and receiver.at("/elsewhere") == []


async def test_a_dead_endpoint_does_not_delay_a_healthy_one(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    hanging = register(receiver, outbox, "/hanging", behaviours=(Slow(1.5),) * 200)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    closed.close()  # nothing listens there: connections are refused
    refusing = outbox.add_loop(samples.loop("refusing", refused_url))
    healthy = register(receiver, outbox, "/healthy")
    publish(outbox, 40)  # 40 events for each loop, interleaved in event order
    await start(concurrency=12, per_endpoint=4, held_per_endpoint=8)

    took = await eventually(lambda: outbox.settled(healthy.id), within=5)
    assert took < 1.5  # the hanging endpoint alone would need 40 / 4 * 0.5 s = 5 s
    assert len(receiver.unique("/healthy")) == 40
    assert not outbox.settled(hanging.id) and not outbox.settled(refusing.id)
    # Both failing endpoints' circuits opened: their items went back to the outbox, due later.
    await eventually(
        lambda: {hanging.id, refusing.id} <= {outbox.items[i].loop_id for i, _ in outbox.released}, within=3
    )
    assert any(
        (e := outbox.items[i].last_error) and e.startswith("cannot connect")
        for i, _ in outbox.released
        if outbox.items[i].loop_id == refusing.id
    )


async def test_an_open_circuit_stops_the_posts_for_a_growing_cool_down(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    loop = register(receiver, outbox, "/down", behaviours=(Reply(500),) * 6)
    publish(outbox, 10)
    await start(per_endpoint=1)
    await eventually(outbox.settled)

    arrivals = receiver.at("/down")
    assert len(arrivals) == 10 + 6  # no hammering while the circuit is open
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert gaps[4] >= 0.19  # 5 failures in a row opened it for 0.2 s; then one trial, which failed...
    assert gaps[5] >= 0.39  # ...and opened it for twice as long; the next trial succeeded
    assert len(outbox.in_state(PostState.DONE, loop.id)) == 10


async def test_a_loop_gets_its_events_in_event_order(receiver: Receiver, outbox: MemoryOutbox, start: Start) -> None:
    register(receiver, outbox, "/ordered")
    publish(outbox, 20)
    await start(per_endpoint=1)
    await eventually(outbox.settled)
    assert [a.fields["time"] for a in receiver.at("/ordered")] == [str(int(samples.NOW) + n) for n in range(20)]


async def test_a_full_endpoint_keeps_claiming_as_its_posts_end_without_waiting_for_a_poll(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    """Events that come while an endpoint holds all it may (a claim after a notify filled it)
    are claimed as its posts end; not only at the next poll, which here never comes."""
    register(receiver, outbox, "/streaming")
    publish(outbox, 2)
    dispatcher = await start(per_endpoint=1, held_per_endpoint=4, poll_interval=3600)
    await eventually(outbox.settled)  # the last claim found fewer than it could take
    publish(outbox, 12)
    dispatcher.notify()  # one claim, which fills the endpoint; the rest must follow by itself
    await eventually(outbox.settled)
    assert len(receiver.unique("/streaming")) == 14


async def test_a_private_target_is_not_posted_to_unless_allowed(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    loop = register(receiver, outbox, "/private")
    publish(outbox, 1)
    await start(allow_private_targets=False)
    await eventually(outbox.settled)
    (dead,) = outbox.in_state(PostState.DEAD, loop.id)
    assert dead.attempts == 3 and "127.0.0.1 is a loopback address" in (dead.last_error or "")
    assert receiver.at("/private") == []


class _Recording:
    """A poster that answers 200 and notes where it was told to connect."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, tuple[str, ...]]] = []

    async def post(self, url: str, headers: object, body: bytes, *, addresses: Sequence[str] = ()) -> Answer:
        self.posts.append((url, tuple(addresses)))
        return Answer(200, None)

    async def close(self) -> None:
        pass


async def test_the_poster_connects_to_the_address_that_was_checked(outbox: MemoryOutbox) -> None:
    """Not to the name again: it could point at a private address by then (DNS rebinding)."""
    names = {"hooks.example": ["93.184.215.14"]}

    async def resolve(host: str, port: int) -> list[str]:
        return names[host]

    outbox.add_loop(samples.loop("pinned", "https://hooks.example/in", EventKind.FAILURE))
    publish(outbox, 2)
    poster = _Recording()
    dispatcher = Dispatcher(outbox, poster, owner="test", limits=Limits(poll_interval=0.02), resolve=resolve)
    await dispatcher.start()
    try:
        await eventually(outbox.settled)
        names["hooks.example"] = ["10.0.0.7"]  # rebound, but the checked address is still trusted
        publish(outbox, 1)
        dispatcher.notify()
        await eventually(outbox.settled)
    finally:
        await dispatcher.stop()
    assert poster.posts == [("https://hooks.example/in", ("93.184.215.14",))] * 3


async def test_a_host_whose_first_address_is_unreachable_gets_its_posts_at_the_next(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    """A host with an IPv6 and an IPv4 address, the first unreachable from here: the post went to
    the first only, and failed for three days. The receiver listens on 127.0.0.1 alone, so [::1]
    at its port refuses; the name resolves (fake DNS) to [::1] first, then 127.0.0.1."""
    port = int(receiver.base_url.rsplit(":", 1)[1])
    looked_up: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["::1", "127.0.0.1"]

    loop = outbox.add_loop(samples.loop("dual", f"http://dual.example:{port}/dual", EventKind.FAILURE))
    receiver.endpoint("/dual", loop.secret)
    publish(outbox, 3)
    await start(resolve=resolve)
    await eventually(outbox.settled)
    assert {i.state for i in outbox.items.values()} == {PostState.DONE}
    assert all(i.attempts == 1 for i in outbox.items.values())
    assert len(receiver.unique("/dual")) == 3 and looked_up == ["dual.example"]  # the look-up is kept


async def test_the_poster_is_given_every_checked_address_in_the_resolvers_order(outbox: MemoryOutbox) -> None:
    """Every address of the host is checked (one private address refuses the loop, test_targets.py),
    and the poster is handed all of them, in order, to try one after the other."""
    dual = ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"]

    async def resolve(host: str, port: int) -> list[str]:
        return {"dual.example": dual, "half.example": ["93.184.215.14", "192.168.1.20"]}[host]

    outbox.add_loop(samples.loop("dual", "https://dual.example/in", EventKind.FAILURE))
    half = outbox.add_loop(samples.loop("half", "https://half.example/in", EventKind.FAILURE))
    publish(outbox, 1)
    poster = _Recording()
    limits = Limits(poll_interval=0.02)
    dispatcher = Dispatcher(outbox, poster, owner="test", limits=limits, backoff=FAST_BACKOFF, resolve=resolve)
    await dispatcher.start()
    try:
        await eventually(outbox.settled)
    finally:
        await dispatcher.stop()
    assert poster.posts == [("https://dual.example/in", tuple(dual))]
    (refused,) = outbox.in_state(PostState.DEAD, half.id)
    assert "192.168.1.20, which is a private address" in (refused.last_error or "")


async def test_a_paused_loop_keeps_its_events_until_it_is_resumed(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    loop = register(receiver, outbox, "/paused", active=False)
    witness = register(receiver, outbox, "/witness")  # active, with the same events
    publish(outbox, 2)
    dispatcher = await start()
    await eventually(lambda: outbox.settled(witness.id))  # the dispatcher has been through the outbox
    assert len(receiver.unique("/witness")) == 2
    assert receiver.at("/paused") == [] and not outbox.settled(loop.id)
    outbox.add_loop(replace(loop, active=True))
    dispatcher.notify()
    await eventually(outbox.settled)
    assert len(receiver.unique("/paused")) == 2


async def test_the_posts_held_for_a_loop_that_moved_go_to_its_new_url(
    receiver: Receiver, outbox: MemoryOutbox, start: Start
) -> None:
    """A user who changes a loop's URL because the endpoint moved expects the posts still to
    come to go to the new one: of those the dispatcher held, only the one on the wire reaches
    the old URL. (tests/store/test_loops.py pauses and removes a loop, on every store.)"""
    on_the_wire = asyncio.Event()
    loop = register(receiver, outbox, "/old", behaviours=(Hold(on_the_wire),))
    publish(outbox, 5)
    await start(per_endpoint=1)
    await eventually(lambda: len(receiver.at("/old")) == 1)
    receiver.endpoint("/new", loop.secret)
    outbox.add_loop(replace(loop, url=receiver.base_url + "/new"))
    on_the_wire.set()
    await eventually(outbox.settled)
    assert len(receiver.at("/old")) == 1 and len(receiver.at("/new")) == 4
    assert set(receiver.unique("/old")) | set(receiver.unique("/new")) == {i.webhook_id for i in outbox.items.values()}


async def test_stopping_gives_back_what_was_not_posted(receiver: Receiver, outbox: MemoryOutbox, start: Start) -> None:
    loop = register(receiver, outbox, "/slow", behaviours=(Slow(TIMEOUT * 2),) * 10)
    publish(outbox, 5)
    dispatcher = await start(per_endpoint=1)
    await eventually(lambda: len(receiver.at("/slow")) == 1)
    await dispatcher.stop()

    (tried,) = [i for i in outbox.items.values() if i.attempts]
    assert tried.state is PostState.PENDING and tried.last_error == f"no answer within {TIMEOUT:g}s"
    waiting = {item_id for item_id, _ in outbox.released}
    assert len(waiting) == 4 and tried.id not in waiting
    # Nothing is leased any more: another dispatcher can take every item now.
    later = time.time() + 1
    calls = await outbox.claim("another", later, later + 30, limit=10, per_loop=10)
    assert {c.item.id for c in calls} == set(outbox.items) and {c.loop.id for c in calls} == {loop.id}


async def test_a_retry_after_of_other_digits_than_ascii_ones_is_ignored_not_a_crash(
    outbox: MemoryOutbox, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 9110 10.2.3: delay-seconds is ASCII digits. A receiver that sends `Retry-After: ²`
    (a Latin-1 byte that Python's str.isdigit() takes for a digit) got a traceback in the log
    and its post held until the lease ran out, at every try; the header is now not understood,
    and the post retried on the backoff schedule."""
    answers = [b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n"]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the body is small: it came with the headers or is dropped
        writer.write(answers.pop(0) if answers else b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = outbox.add_loop(samples.loop("digits", f"http://127.0.0.1:{port}/in", EventKind.FAILURE))
    publish(outbox, 1)
    try:
        await start()
        await eventually(outbox.settled)
    finally:
        server.close()
    (done,) = outbox.in_state(PostState.DONE, loop.id)
    assert done.attempts == 2
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_host_whose_name_does_not_resolve_in_time_is_retried_like_a_post_that_timed_out(
    outbox: MemoryOutbox,
) -> None:
    """A loop's host name may be served by a name server that never answers (it is the account
    that chooses the name). Its check came before the post's timeout and had none: the post
    waited for the resolver, holding a slot of its endpoint and its item, for as long as the
    resolver took (forever, for one that hangs). It now fails within the timeout, and is retried."""
    answered = asyncio.Event()

    async def resolve(host: str, port: int) -> list[str]:
        if not answered.is_set():
            answered.set()
            await asyncio.Event().wait()  # the first lookup never answers
        return ["93.184.215.14"]

    loop = outbox.add_loop(samples.loop("slowdns", "https://hooks.example/in", EventKind.FAILURE))
    publish(outbox, 1)
    poster = _Recording()
    limits = Limits(timeout=0.2, poll_interval=0.02)
    dispatcher = Dispatcher(outbox, poster, owner="test", limits=limits, backoff=FAST_BACKOFF, resolve=resolve)
    await dispatcher.start()
    try:
        await eventually(outbox.settled)
    finally:
        await dispatcher.stop(grace=0.5)
    (done,) = outbox.in_state(PostState.DONE, loop.id)
    first, _ = outbox.attempts_of(done.id)
    assert first.error == "'https://hooks.example/in': cannot resolve hooks.example within 0.2s"
    assert done.attempts == 2 and poster.posts == [("https://hooks.example/in", ("93.184.215.14",))]
