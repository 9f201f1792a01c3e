"""The small interfaces (ports) between the core and its adapters, all of them here.

The use cases, the HTTP app and the node's processes depend on these Protocols, never on a
concrete adapter; node/worker.py and the CLI pick the adapters (`store.open_store` the
store's backend from `[storage] url`). The store has two backends, SQLite and PostgreSQL,
which both pass tests/store. The DNS as delivery asks it is delivery/routes.py's `Resolver`,
delivery's own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from .events import Event, EventKind
from .feedback import Answer, Call, Format, Loop, Post, PostSettlement, PostState, PostView
from .model import Account, Attempt, DeliveryJob, DeliveryView, Returned, Submission
from .retry import Settlement
from .senders import SendingDomain
from .throttle import AuthLimits


class JobSink(Protocol):
    """Where freshly accepted deliveries go: the delivery engine of this process."""

    owner: str

    def enqueue(self, jobs: Sequence[DeliveryJob]) -> None: ...


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery about to be stored: its id, recipient and the envelope sender it will use."""

    id: str
    recipient: str
    envelope_sender: str


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message about to be stored with its deliveries."""

    account_id: str
    id: str
    submission: Submission
    deliveries: tuple[NewDelivery, ...]
    now: float
    expires_at: float
    forward_of: str | None = None  # a copy of this returned message, for the application's envelope
    sign_domain: str | None = None  # stored unsigned: its domain's key could not be read (sign later)


@dataclass(frozen=True, slots=True)
class SealedKey:
    """A sending domain's DKIM private key as the store keeps it: encrypted with a key of the
    instance's secret, bound to its domain and selector (dkim/sealing.py)."""

    domain: str
    selector: str
    algorithm: str  # the `k=` of its record: "rsa" or "ed25519"
    sealed: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from the store, with its id (ascending in commit order)."""

    id: int
    event: Event
    node: str = ""  # the node whose worker recorded it ([node] name)


class Outbox(Protocol):
    """The feedback-loop posts of every loop. Posts are leased while one dispatcher sends them,
    so several processes (or nodes) can share the work and a dead one's posts come back."""

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (a dispatcher's `notify`) soon after new posts were committed by
        this process, and posts replayed or given back by others where the backend can tell
        (PostgreSQL's LISTEN/NOTIFY): `Store.wakeups` "posts". Polling covers the rest."""
        ...

    async def claim(
        self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int, skip_loops: Collection[str] = ()
    ) -> list[Call]:
        """Lease up to `limit` pending items that are due (`next_attempt_at <= now`) and not
        leased (or whose lease ran out), of active loops, none of `skip_loops`, at most
        `per_loop` of one loop; oldest event first."""
        ...

    async def settle(self, owner: str, item_id: str, settlement: PostSettlement) -> Loop | None:
        """Record an attempt (the item's new state, attempts, last status and error) and drop
        the lease; nothing is recorded when `owner` no longer holds the lease. Returns the
        item's loop as it is now, None when it was removed (with its items): the dispatcher
        posts no more of the items it holds of a loop that was paused, moved or removed."""
        ...

    async def release(self, owner: str, item_ids: Sequence[str], due_at: float) -> None:
        """Drop the leases `owner` holds on these items without an attempt: they are due again
        at `due_at` (an endpoint's circuit is open, or the dispatcher is stopping)."""
        ...


WorkKind = Literal["deliveries", "returns", "posts"]
WORK_KINDS: tuple[WorkKind, ...] = ("deliveries", "returns", "posts")


class Wakeups(Protocol):
    """Early notice of new work for the workers that claim it from the store (the delivery
    engine's poller, the returned-mail worker, the dispatcher), so that an idle one claims now
    rather than at its next poll. Best effort: a notice may come late, twice, or not at all (a
    database outage), so every worker still polls, and a notice only ends its wait early.

    Kinds: "deliveries" queued without a lease (stored by a process that does not deliver them
    itself, forwarded copies of returned mail) or released; "returns", returned messages
    received or released; "posts", feedback-loop posts created, replayed or released."""

    def subscribe(self, kind: WorkKind, callback: Callable[[], None]) -> None:
        """Call `callback` on this process's event loop soon after work of `kind` was committed.
        It must be quick and must not block (set an asyncio.Event). Call from a running event
        loop: a backend that listens for other processes' notices starts listening here."""
        ...


class LoopStore(Protocol):
    """The loops of each account, as the API and CLI manage them (../loops.py). Every call is
    scoped by the account: another account's loop is not there (None / False)."""

    async def create_loop(self, loop: Loop, now: float | None = None) -> Loop: ...

    async def loops(self, account_id: str) -> list[Loop]: ...

    async def loop(self, account_id: str, loop_id: str) -> Loop | None: ...

    async def update_loop(
        self,
        account_id: str,
        loop_id: str,
        *,
        url: str | None = None,
        events: Iterable[EventKind] | None = None,
        format: Format | None = None,
        active: bool | None = None,
        secret: str | None = None,
        previous_until: float | None = None,
        now: float | None = None,
    ) -> Loop | None:
        """Change what is given; a new `secret` rotates it, the old one signed with too until
        `previous_until`."""
        ...

    async def delete_loop(self, account_id: str, loop_id: str) -> bool:
        """Remove the loop with its posts."""
        ...

    async def loop_posts(
        self,
        account_id: str,
        loop_id: str,
        *,
        state: PostState | str | None = None,
        now: float | None = None,
        limit: int = 100,
        before: tuple[float, int] | None = None,
    ) -> list[PostView] | None:
        """The loop's items, newest event first; `state` is an PostState or "in_flight";
        `before` the (event time, event id) of the last item of the page before."""
        ...

    async def loop_post(self, account_id: str, loop_id: str, item_id: str) -> Post | None:
        """One item of the account's loop."""
        ...

    async def replay_post(self, account_id: str, loop_id: str, item_id: str, now: float | None = None) -> bool:
        """A done or dead item pending again, due now, with a new retry window."""
        ...

    async def replay_dead(self, account_id: str, loop_id: str, now: float | None = None) -> int: ...


class Poster(Protocol):
    """Posts one request and says what came of it. Never raises for what the network or the
    receiver did: that is an `Answer` without a status."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, *, addresses: Sequence[str] = ()) -> Answer:
        """Post to `url`; connect to the first of `addresses` (checked already) that takes the
        connection, in their order, rather than to the URL's host name when they are given.
        TLS is still verified against the host name."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A node (`[node] name`) as its heartbeats left it in the store, and the work it holds."""

    name: str
    host: str  # the machine's host name
    pid: int  # the supervisor's process id
    version: str  # returnpath's version
    listen: str  # "submission=127.0.0.1:8025 inbound=... http=..."
    started_at: float
    heartbeat_at: float
    deliveries: int = 0  # deliveries leased now by this node's workers
    returns: int = 0  # returned messages leased now
    posts: int = 0  # feedback-loop posts leased now


def node_of(owner: str) -> str:
    """The node a lease owner belongs to: owners are "<node>/<process>" (node/supervisor.py)."""
    return owner.partition("/")[0] if "/" in owner else ""


class Store(LoopStore, Protocol):
    """Durable state. Every method that writes has committed when it returns.

    `node` is the name of the node this store was opened for: it is written into the events
    and attempts it records. `shared` says whether several nodes may use the same store
    (PostgreSQL) or one only (SQLite, held by the data folder's lock)."""

    node: str
    shared: bool

    @property
    def outbox(self) -> Outbox:
        """The dispatcher's view of the feedback-loop posts."""
        ...

    @property
    def wakeups(self) -> Wakeups:
        """Notices of new work to claim (`outbox.subscribe` is `wakeups.subscribe("posts", ...)`)."""
        ...

    async def open(self) -> None:
        """Connect; create the schema in an empty database. Refuses (StoreError) a schema newer
        than this code knows, and one older that needs `migrate` first (SQLite migrates at
        open: nothing else can be using its file)."""
        ...

    async def close(self) -> None: ...

    async def migrate(self, vet: Callable[[list[NodeStatus]], None] | None = None) -> tuple[int, int]:
        """Bring the schema to the newest version this code knows, one version per transaction
        (several nodes may run it at once: one does the work). Returns (before, after). When
        there is something to migrate, `vet` is given the nodes first and may raise to refuse."""
        ...

    # nodes
    async def heartbeat(self, status: NodeStatus) -> None:
        """Record that the node is alive (insert or update its row)."""
        ...

    async def nodes(self) -> list[NodeStatus]:
        """Every node that has sent a heartbeat, with what its workers hold leased now."""
        ...

    async def hold_logs(self, holder: str, now: float, until: float, dead_before: float) -> list[str]:
        """The nodes whose events the log writer of node `holder` is to write (logs.py), held
        for it until `until`: its own node, and each node whose last heartbeat is before
        `dead_before`, unless another writer holds that node and its hold has not run out
        (before `now`). A node that needs its heartbeat row to be held: one without is not.
        Nodes `holder` held that are heard from again (heartbeat since `dead_before`) are let
        go first. Each node's hold is taken atomically: two writers never both get one."""
        ...

    async def forget_node(self, name: str, cursor: str, dead_before: float) -> tuple[float, int] | None:
        """The node's last heartbeat and how many of its events are after `cursor` (its log
        writer's: not in any log file yet); None when no such node. Its row is deleted (it is
        listed no more, and holds purges back no more) only when that heartbeat is before
        `dead_before` and no event waits. Its cursor stays: if it ever comes back, it goes on
        from there."""
        ...

    # accounts
    async def create_account(
        self, account: Account, api_token_hash: str, smtp_password_hash: str, now: float
    ) -> None: ...

    async def account_by_token(self, api_token_hash: str) -> Account | None: ...

    async def account_by_username(self, smtp_username: str) -> tuple[Account, str] | None:
        """The account and its stored password hash."""
        ...

    async def accounts(self) -> list[Account]: ...

    async def account(self, account_id: str) -> Account | None:
        """The account as it is now (disabled, sender domains), or None when it was removed."""
        ...

    async def update_account(
        self,
        account_id: str,
        *,
        api_token_hash: str | None = None,
        smtp_password_hash: str | None = None,
        disabled: bool | None = None,
        sender_domains: Sequence[str] | None = None,
    ) -> Account | None:
        """Change what is given (a new hash replaces the old credential at once); None when
        there is no such account."""
        ...

    async def remove_account(self, account_id: str, *, force: bool = False) -> int | None:
        """Delete the account with everything it owns: loops and their posts, messages,
        deliveries, attempts, events. Refuses (InputError) while it has queued or deferred
        deliveries unless `force`. Returns how many deliveries went with it; None when there
        is no such account."""
        ...

    # failed logins, counted across connections and processes (core/throttle.py)
    async def auth_lookup(
        self, address: str, username: str, smtp_username: str, now: float, limits: AuthLimits
    ) -> tuple[str | None, tuple[Account, str] | None]:
        """What an SMTP login reads before its password is checked, in one read (one round trip
        to a database server: a login costs one, not two): why an attempt from `address` as
        `username` (as counted, throttle.username_of) may not be checked now by its failures
        (throttle.failures_refusal), or None; and the account of `smtp_username` with its stored
        password hash (as account_by_username), or None. When refused, the account is not to
        be used: the attempt stops there."""
        ...

    async def reserve_auth(self, address: str, username: str, now: float, limits: AuthLimits) -> str | None:
        """In one transaction: the refusal, or else count the attempt as being checked for the
        address and the username (until `release_auth` or `fail_auth`, or its window ends)."""
        ...

    async def release_auth(self, address: str, username: str, now: float) -> None:
        """The reserved attempt succeeded: uncount it, and remember the address as known for
        the username (for throttle.KNOWN_FOR)."""
        ...

    async def fail_auth(self, address: str, username: str, now: float, limits: AuthLimits) -> None:
        """The reserved attempt failed: count it as a failure of the address and the username
        instead of as being checked."""
        ...

    # messages and deliveries
    async def submit(self, message: NewMessage, *, owner: str | None, lease_until: float) -> None:
        """Store a message and its deliveries, queued; leased to `owner` when it is given."""
        ...

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[DeliveryJob]:
        """Lease up to `limit` deliveries that are due and not leased (or whose lease expired)."""
        ...

    async def renew(self, owner: str, delivery_ids: Sequence[str], lease_until: float) -> None:
        """Extend the leases `owner` holds on these deliveries."""
        ...

    async def release(self, owner: str | None = None, *, node: str | None = None) -> int:
        """Drop the deliveries' and returned messages' leases of `owner`, or of every owner of
        `node` (its earlier run: "<node>/..."), or of everybody when neither is given; returns
        how many."""
        ...

    async def settle(self, job: DeliveryJob, attempt: Attempt, settlement: Settlement) -> int | None:
        """Record an attempt, the delivery's new state and its event; returns the event id
        (None when the settlement has no event: a forwarded copy of returned mail). Records
        nothing, and returns None, when `job.owner` no longer holds the delivery's lease (it
        ran out and another worker claimed it): a node that comes back never settles work it
        lost."""
        ...

    async def delivery(self, account_id: str, delivery_id: str) -> DeliveryView | None: ...

    async def views(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryView]:
        """Deliveries by id, whatever their account (for the returned-mail worker), with the
        message's options (trackbounces, dsn)."""
        ...

    # returned messages
    async def receive(self, returned: Returned, *, limit: int | None = None) -> None:
        """Store a returned message, raw, as state 'new'. With a `limit`, raise StoreFull
        instead when the returned mail kept would then be more than `limit` bytes."""
        ...

    async def stored_returns(self) -> int:
        """The size in bytes of the returned messages whose raw bytes are kept."""
        ...

    async def forwards_since(self, account_id: str, since: float) -> int:
        """How many copies of returned mail were forwarded for the account since then."""
        ...

    async def claim_returns(self, owner: str, now: float, lease_until: float, limit: int) -> list[Returned]:
        """Lease up to `limit` of the returned messages not processed yet and held by nobody (or
        by a lease that ran out at `now`) to `owner` until `lease_until`; oldest first. Two
        claims never get the same message while its lease holds."""
        ...

    async def returned(self, return_id: str) -> Returned | None: ...

    async def finish_return(
        self,
        return_id: str,
        kind: str,
        events: Sequence[Event],
        failed: Sequence[str],
        forwards: Sequence[NewMessage],
        now: float,
    ) -> list[int]:
        """In one transaction: the events, the deliveries that failed, the forwarded copies,
        and the returned message marked processed. Returns the event ids.

        A delivery fails once: one in `failed` that has failed already (another report of it
        was recorded meanwhile) stays as it was, and its `failure` event is not recorded."""
        ...

    async def message_deliveries(self, account_id: str, message_id: str) -> list[DeliveryView]: ...

    async def mime(self, message_id: str) -> bytes | None:
        """The message as stored (as it will be sent)."""
        ...

    async def queue_summary(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        ...

    # retention: each deletes at most `batch` and returns how many
    async def purge_bodies(self, before: float, now: float, batch: int) -> int:
        """Delete the MIME of messages created before `before` whose deliveries are all final."""
        ...

    async def purge_returns(self, before: float, now: float, batch: int) -> int:
        """Delete the raw bytes of processed returned messages received before `before`; their
        rows stay, marked purged."""
        ...

    async def purge_events(self, before: float, logged: int, batch: int) -> int:
        """Delete events older than `before` with ids up to `logged` (written to the logs) that
        no feedback-loop post refers to."""
        ...

    # events
    async def events(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        kinds: Sequence[EventKind] = (),
        account_id: str | None = None,
        since: float | None = None,
        node: str | None = None,
    ) -> list[StoredEvent]:
        """Events in id order (ids ascend in commit order on every backend: a reader that has
        seen id N never later finds an event below N), filtered as given; `node`: only those
        recorded by that node's workers."""
        ...

    async def newest_event_id(self) -> int:
        """The highest event id this store has given (0: none yet), also once that event is
        purged: ids are never given twice, so a reader's cursor is at most this."""
        ...

    async def purge_posts(self, done_before: float, dead_before: float, batch: int = 5000) -> int:
        """Delete feedback-loop posts done before `done_before` or dead before `dead_before`."""
        ...

    async def cursor(self, name: str) -> int: ...

    async def set_cursor(self, name: str, value: int) -> None: ...

    async def move_cursor(self, name: str, old: int, new: int) -> bool:
        """Set the cursor to `new` if it is at `old` still (or missing); whether it was."""
        ...

    # sending domains (core/domains.py): the selectors, and their DKIM keys, sealed
    async def add_domain(self, domain: SendingDomain, keys: Sequence[SealedKey] = ()) -> None:
        """Store a new sending domain, and its `keys` in the same transaction. Refuses
        (InputError) a domain that is configured already, for this account or another: a domain
        belongs to one account; and a key whose selector the domain has used before. A removed
        domain (see `remove_domain`) may be added again, by any account: its bounce domain stays
        accepted by `bounce_domains` as if the row were still there, removed, even when the new
        domain has another one."""
        ...

    async def domain(self, name: str) -> SendingDomain | None:
        """The domain by its name (lowercase), whichever account has it."""
        ...

    async def domains(self, account_id: str | None = None) -> list[SendingDomain]:
        """The domains of the account, or of every account; by name."""
        ...

    async def sign_message(self, message_id: str, mime: bytes) -> bytes:
        """Store `mime` as the message's, signed, if it still waits for its signature (its
        `sign_domain`); the MIME stored now: this, or what another attempt stored first."""
        ...

    async def update_domain(self, domain: SendingDomain, was: SendingDomain, keys: Sequence[SealedKey] = ()) -> bool:
        """Store `domain`'s selectors, state and retired selectors (a rotation's step), and
        `keys` (a rotation's new ones), if its row is still as `was` (its signing and pending RSA
        selectors); False otherwise, and nothing stored. InputError for a selector used before."""
        ...

    async def dkim_keys(self, domain: str) -> list[SealedKey]:
        """Every key ever stored for the domain (by name), by selector: those of a removed
        domain too, as their selectors are never used again."""
        ...

    async def import_dkim_keys(self, keys: Sequence[SealedKey]) -> int:
        """Store the keys of which the store has no key under the same domain and selector (the
        others stay as they are); how many were new. For the key files of earlier versions."""
        ...

    async def remove_domain(self, account_id: str, name: str, now: float) -> bool:
        """Remove the account's domain at `now`; False when the account has no such domain. The
        row stays, removed, for `bounce_domains`, until `purge_removed_domains`: the domain is
        not read, listed or updated any more, and adding it again makes it new."""
        ...

    async def bounce_domains(self, removed_since: float) -> list[str]:
        """The bounce domains of the active domains and of those removed at or after
        `removed_since`: where the inbound server accepts returned mail."""
        ...

    async def purge_removed_domains(self, before: float) -> int:
        """Delete the domains removed before `before`, and the bounce domains kept of those
        removed before it and added again; how many rows went."""
        ...
