"""`returnpath serve`: a supervisor process and its worker processes.

The supervisor binds the listening sockets (submission, inbound, HTTP), releases leases left
by a previous run (on the embedded SQLite store nothing else can be running: a lock file makes
sure), starts one worker process per core with the sockets inherited, writes the log files
from the events table, restarts a worker that dies (releasing its leases first, so its
deliveries are attempted again at once), and every ten minutes deletes what is past keeping:
the feedback loops' done and dead posts, and after their `[retention]` periods the MIME of
messages whose deliveries are all final, the raw bytes of returned messages, and events.
Every `[dns] rotation_check` it looks up the records of sending domains' rotated DKIM keys and
switches to the new keys once they are published (usecases/domains.py check_rotations), so
that a rotation completes without anybody running a command. At start it stores the DKIM key
files an earlier version left in the data folder (usecases/domains.py import_key_files), so
that the other nodes of a deployment sign with them too.
Workers each run the submission server, the inbound server of the bounce domain, the HTTP API,
a delivery engine, a returned-mail worker and a feedback-loop dispatcher, sharing the store;
the kernel spreads connections over them.

On SIGINT or SIGTERM every worker stops accepting, finishes what it is doing (briefly) and
exits; then the supervisor writes the last log lines and exits. Nothing accepted is lost at
any point: it is in the store before the client hears OK. SIGHUP makes the supervisor reopen
the log files (after logrotate moved them); the workers ignore it.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .. import __version__, logs
from ..config import Settings, parse_hostport
from ..core import senders, tokens
from ..core.events import EventKind
from ..core.ports import NodeStatus, SealedKey, Store
from ..dkim import lookup, sealing
from ..errors import ReturnpathError, StartError, StoreError
from ..logs import LogWriter
from ..private import warn_if_loose
from ..store import open_store
from ..usecases import domains

log = logging.getLogger("returnpath")

STOP_GRACE = 20.0  # seconds a worker gets to finish before it is killed
QUICK_DEATH = 60.0  # a worker that dies sooner than this after its start died "quickly"
MAX_RESTART_DELAY = 60.0
GAVE_UP = 3  # the exit code of a `serve` whose workers keep dying
PURGE_INTERVAL = 600.0  # seconds between purges of what is past keeping
PURGE_BATCH = 5000
SECRET_SAMPLE = 20  # events whose envelopes show the secret a shared store's mail was sent with
SENT_KINDS = (EventKind.DELIVERY, EventKind.DEFERRED, EventKind.FAILURE)  # events of an attempt: with its envelope


# The setting of each listening socket, as the configuration file writes it.
LISTEN_SETTINGS = {
    "submission": "[smtp.submission] listen",
    "inbound": "[smtp.inbound] listen",
    "http": "[http] listen",
}


def listeners(settings: Settings) -> dict[str, str]:
    """The listening sockets of a worker, by name, and their settings."""
    return {
        "submission": settings.smtp.submission.listen,
        "inbound": settings.smtp.inbound.listen,
        "http": settings.http.listen,
    }


# What to do when the system will not give a listening socket, by errno.
BIND_HINTS = {
    errno.EADDRINUSE: "another program listens there (`ss -ltnp` names it): stop it, or set another port",
    errno.EACCES: "ports below 1024 need root (or CAP_NET_BIND_SERVICE): run as root, or set a port of 1024 or more",
    errno.EADDRNOTAVAIL: "that is no address of this host: set one of its addresses (or 0.0.0.0 for all)",
}


def bind(hostport: str, name: str) -> socket.socket:
    """A listening socket on `hostport`, the value of the setting `name`; StartError naming
    both when the system will not give it (address in use, not this host's, port < 1024)."""
    host, port = parse_hostport(hostport, name)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = BIND_HINTS.get(exc.errno or 0, "set another address in the configuration file")
        raise StartError(f"{name} = {hostport!r}: cannot listen there: {exc.strerror}; {hint}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def lock_data_folder(settings: Settings) -> IO[str]:
    """Hold an exclusive lock on the data folder for as long as `serve` runs; the file holds
    the pid of the `serve` that holds it (for SIGHUP after a log rotation, README.md).

    The file is opened without truncating it and emptied only once the lock is ours: a second
    `serve` that is refused must leave the running one's pid in place."""
    folder = settings.path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "returnpath.lock", os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = handle.read().strip()
        handle.close()
        raise StartError(
            f"another `returnpath serve`{f' (pid {pid})' if pid.isdigit() else ''} is running on {folder}: "
            "stop it first (SIGTERM or Ctrl-C), or give this one a configuration with another data_dir"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def serving_pid(folder: Path) -> str | None:
    """The pid of the `serve` that holds `folder`'s lock ("?" if it wrote none yet), or None
    when no `serve` runs there."""
    try:
        handle = open(folder / "returnpath.lock", encoding="ascii")  # noqa: SIM115
    except OSError:  # no lock file: no serve ever ran there
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = handle.read().strip()
            return pid if pid.isdigit() else "?"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def preflight(settings: Settings) -> None:
    """Load now what every worker loads at its start, so that a broken certificate is one clear
    message, not workers dying one after another. (The recognition rules need no such check:
    this module's own imports read them, so the supervisor itself fails without them.)"""
    from ..smtp.server import load_tls_context

    load_tls_context(settings)
    # The log folder likewise: a [logs] dir that cannot be made is a mistake in the file, said
    # at start, not a writer stalled at the first event (which is for a disk that fills up).
    folder = settings.path(settings.logs.dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartError(
            f"[logs] dir = {settings.logs.dir!r}: cannot make the folder {folder}: {exc.strerror}; "
            "name a folder this user may write"
        ) from None


def pid_alive(pid: int) -> bool:
    """Whether a process of that id runs on this machine (signal 0 checks without sending).
    A zombie does not: a `serve` killed by a shell that has not reaped it yet has ended, and
    its pid still answers signal 0 until it is reaped (Linux's /proc says Z)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
    except FileNotFoundError:  # it ended just now, or there is no /proc (not Linux): signal 0 said
        return not os.path.exists("/proc/self")
    except OSError:
        return True
    return state not in ([b"Z"], [b"X"])


def node_alive(node: NodeStatus, alive_for: float, now: float) -> bool:
    """Whether a node of a shared store runs: a heartbeat within `alive_for` seconds, unless
    it is of this machine and its process is gone (its own earlier run, killed a moment ago)."""
    return now - node.heartbeat_at <= alive_for and not (node.host == socket.gethostname() and not pid_alive(node.pid))


def opens(cipher: AESGCM, key: SealedKey) -> bool:
    try:
        sealing.unseal(cipher, key)
    except StoreError:
        return False
    return True


@dataclass
class Worker:
    index: int
    owner: str = ""
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = field(default=0)
    quick_deaths: int = 0  # deaths in a row, each within QUICK_DEATH of its start
    restart_at: float | None = None  # monotonic time of a restart that waits out its back-off


class Supervisor:
    def __init__(self, settings: Settings, config_path: Path) -> None:
        self.settings = settings
        self.config_path = config_path.resolve()
        self.nonce = secrets.token_hex(4)
        self.sockets: dict[str, socket.socket] = {}
        self.workers = [Worker(i) for i in range(settings.worker_count)]
        self.stopping = asyncio.Event()
        self.purged_at = float("-inf")  # monotonic time of the last purge: the first is at start
        self.gave_up = ""  # why `serve` stopped on its own, when its workers kept dying
        self.node = settings.node_name
        self.started_at = time.time()
        self.beat_at = float("-inf")  # monotonic time of the last heartbeat
        self.rotations_at = float("-inf")  # monotonic time of the last look for rotated keys

    def spawn(self, worker: Worker) -> None:
        # "<node>/<process>": a node's leases are known by their owner (core/ports.node_of)
        worker.owner = f"{self.node}/{self.nonce}-{worker.index}-{worker.restarts}"
        fds = {name: sock.fileno() for name, sock in self.sockets.items()}
        args = [
            sys.executable,
            "-m",
            "returnpath.node.launch",
            "--config",
            str(self.config_path),
            "--owner",
            worker.owner,
            "--index",
            str(worker.index),
            "--workers",
            str(len(self.workers)),
            "--parent",
            str(os.getpid()),
        ]
        for name, fd in fds.items():
            args += ["--fd", f"{name}={fd}"]
        worker.process = subprocess.Popen(args, pass_fds=list(fds.values()))
        worker.started = time.monotonic()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stopping.set)
        preflight(self.settings)
        store = open_store(self.settings)
        await store.open()
        # Shared by several nodes, each writes the events its own workers recorded.
        writer = LogWriter(
            store,
            self.settings.path(self.settings.logs.dir),
            node=self.node if store.shared else None,
            takeover_after=self.settings.node.takeover_after,
            # The workers' LogWatch calls events waiting stall_after a stall: an idle
            # writer's wait must stay far below it (a test sets 1 s).
            idle_poll=min(logs.IDLE_POLL, float(self.settings.logs.stall_after) / 8),
        )
        loop.add_signal_handler(signal.SIGHUP, writer.reopen)  # logrotate's postrotate
        if store.shared:
            try:
                await self.check_shared(store)
            except StartError:
                await store.close()
                raise
        # A previous run's in-flight work: try it again now. On SQLite that is everything
        # leased (nobody else can be running: the data folder's lock), on a shared store this
        # node's own; other nodes' leases run out if those nodes are dead.
        released = await (store.release(node=self.node) if store.shared else store.release())
        if released:
            log.info("released %d deliveries left in flight by a previous run", released)
        await self.import_key_files(store)
        await self.heartbeat(store)
        for name, hostport in listeners(self.settings).items():
            self.sockets[name] = bind(hostport, LISTEN_SETTINGS[name])
        for worker in self.workers:
            self.spawn(worker)
        log.info(
            "returnpath serving: submission smtp://%s, inbound smtp://%s (%s), http://%s, %d worker(s), data in %s",
            self.settings.smtp.submission.listen,
            self.settings.smtp.inbound.listen,
            self.settings.bounce_domain,
            self.settings.http.listen,
            len(self.workers),
            self.settings.path("."),
        )
        writing = asyncio.create_task(writer.run(self.stopping))
        try:
            while not self.stopping.is_set():
                await self.watch(store)
                if time.monotonic() - self.beat_at >= self.settings.node.heartbeat:
                    await self.heartbeat(store)
                if time.monotonic() - self.rotations_at >= self.settings.dns.rotation_check:
                    await self.check_rotations(store)
                if time.monotonic() - self.purged_at >= PURGE_INTERVAL:
                    try:
                        await self.purge(store, time.time())
                    except ReturnpathError as exc:  # the database away: the node goes on
                        log.warning("purge stopped: %s; trying again in %.0f s", exc, PURGE_INTERVAL)
                try:
                    await asyncio.wait_for(self.stopping.wait(), 0.5)
                except TimeoutError:
                    pass
            await self.stop_workers()
            await writing
            if store.shared:
                await self.leave(store)
        finally:
            writer.close()
            for sock in self.sockets.values():
                sock.close()
            await store.close()
        if self.gave_up:
            return GAVE_UP
        log.info("returnpath stopped")
        return 0

    async def check_shared(self, store: Store) -> None:
        """Refuse to join a shared store as a node it cannot be: one whose `[node] name` a
        live node has (this node would release that node's leases just below, so both would
        send what it holds, and their events and log files would be mixed up), or one whose
        `secret` is not the one the store's mail was sent with (its envelopes would be refused
        by the other nodes' inbound servers, and theirs by its own). Both are mistakes of a
        copied returnpath.toml (README, "Several nodes"), said at start rather than found out
        from doubled mail and lost bounces. A third, that every node of the machine starts one
        worker per core, is only warned of."""
        now = time.time()
        alive = self.settings.node.alive_for  # as `returnpath nodes` counts a node alive
        nodes = await store.nodes()
        for node in nodes:
            age = now - node.heartbeat_at
            if node.name == self.node and node_alive(node, alive, now):
                raise StartError(
                    f"[node] name = {self.node!r} is in use: the node on host {node.host} (pid {node.pid}, "
                    f"{node.listen}) sent a heartbeat {age:.0f} s ago; give every node its own [node] name "
                    "in its returnpath.toml (`returnpath nodes` lists them), or, when that node has just "
                    f"stopped on another machine, start this one again in {max(1.0, alive - age):.0f} s"
                )
        here = sorted(
            node.name
            for node in nodes
            if node.name != self.node and node.host == socket.gethostname() and node_alive(node, alive, now)
        )
        if here and self.settings.workers == 0:
            # docs/scaling.md: on two cores one node of four workers did less than one of two,
            # and two nodes of two workers as much as that one of four.
            log.warning(
                "node(s) %s run on this machine too, and with `workers = 0` this node starts one worker per core "
                "(%d), as a copied returnpath.toml makes every node do; more worker processes than cores cost CPU "
                "per message: give each node its share of the cores with `workers` (docs/scaling.md)",
                ", ".join(repr(name) for name in here),
                self.settings.worker_count,
            )
        if await self.another_secret(store):
            raise StartError(
                "secret differs from the one the store's mail and DKIM keys were made with: every node of a shared "
                "store needs the first node's secret (copy its returnpath.toml); with another one this "
                "node's bounces would be refused by the other nodes, and theirs by this one"
            )

    async def another_secret(self, store: Store) -> bool:
        """Whether what the store holds was made with another secret: the envelopes of its
        first attempts' events and, when it has no such events yet, the sealed DKIM keys of a
        sending domain. Only when none of them opens with ours: one damaged is no proof."""
        signed = [
            (stored.event.delivery_id, str(stored.event.data.get("envelope", "")).partition("@")[0])
            for stored in await store.events(limit=SECRET_SAMPLE, kinds=SENT_KINDS)
        ]
        ours = [local for delivery_id, local in signed if local.lower().startswith(f"b{delivery_id}")]
        if ours:
            return not any(tokens.decode(self.settings.secret_bytes, local) for local in ours)
        cipher = sealing.sealing_key(self.settings.secret_bytes)
        for domain in (await store.domains())[:1]:
            keys = await store.dkim_keys(domain.domain)
            return bool(keys) and not any(opens(cipher, key) for key in keys)
        return False

    async def heartbeat(self, store: Store) -> None:
        """Tell the store this node is alive (`returnpath nodes`); a failure is logged only:
        the workers' own lease renewals are what keeps their work theirs."""
        self.beat_at = time.monotonic()
        status = NodeStatus(
            name=self.node,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            listen=" ".join(f"{name}={hostport}" for name, hostport in listeners(self.settings).items()),
            started_at=self.started_at,
            heartbeat_at=time.time(),
        )
        try:
            await store.heartbeat(status)
        except ReturnpathError as exc:
            log.warning("heartbeat not recorded: %s", exc)

    async def leave(self, store: Store) -> None:
        """Say in a shared store that this node stopped: its row goes (store.forget_node, which
        keeps it while any event of the node waits for a log file, so that another node writes
        those), so `returnpath nodes` lists it no more and `migrate` need not wait for its
        heartbeat to age (three heartbeats) before it takes the nodes for stopped."""
        try:
            found = await store.forget_node(self.node, logs.cursor_name(self.node), float("inf"))
        except ReturnpathError as exc:
            log.warning(
                "could not note in the store that this node stopped (%s): `returnpath nodes` lists it "
                "until its last heartbeat is %.0f s old",
                exc,
                self.settings.node.alive_for,
            )
            return
        if found is not None and found[1]:
            log.info("%d event(s) of this node wait for a log file: another node writes them", found[1])

    async def watch(self, store: Store) -> None:
        """Restart workers that died, after releasing what they held, waiting longer after each
        quick death in a row; give up (stop everything) when one keeps dying at once, as a
        worker does whose configuration or installation is broken."""
        now = time.monotonic()
        for worker in self.workers:
            assert worker.process is not None
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    worker.restart_at = None
                    self.spawn(worker)
                continue
            code = worker.process.poll()
            if code is None:
                continue
            try:
                released = await store.release(worker.owner)
            except ReturnpathError as exc:  # the database away: the node goes on
                log.warning("worker %d's leases run out instead of being released: %s", worker.index, exc)
                released = 0
            worker.restarts += 1
            worker.quick_deaths = worker.quick_deaths + 1 if now - worker.started < QUICK_DEATH else 1
            if worker.quick_deaths >= self.settings.worker_max_quick_deaths:
                self.gave_up = (
                    f"worker {worker.index} died {worker.quick_deaths} times in a row, each within "
                    f"{QUICK_DEATH:.0f} s of its start (last exit code {code}); giving up — its errors are above"
                )
                log.critical("%s", self.gave_up)
                self.stopping.set()
                return
            delay = min(self.settings.worker_restart_delay * 2 ** (worker.quick_deaths - 1), MAX_RESTART_DELAY)
            log.error(
                "worker %d exited with %s; released %d deliveries; restarting in %.1f s",
                worker.index,
                code,
                released,
                delay,
            )
            worker.restart_at = now + delay

    async def import_key_files(self, store: Store) -> None:
        """Store the DKIM key files an earlier version wrote to this node's data folder, so that
        every node signs with them (usecases/domains.py). A failure is said only: signing looks
        for a key missing from the store in the files too."""
        try:
            await domains.import_key_files(store, self.settings)
        except ReturnpathError as exc:
            log.warning("DKIM key files not imported into the store: %s", exc)

    async def check_rotations(self, store: Store) -> None:
        """Switch the sending domains whose rotated keys' records are now published. A failure
        is said only: the next check tries again, and the old keys sign meanwhile."""
        self.rotations_at = time.monotonic()
        try:
            await domains.check_rotations(store, self.settings, lookup.make_resolver(self.settings.dns), time.time())
        except ReturnpathError as exc:  # the database away, no DNS server to ask
            log.warning(
                "rotated DKIM keys not checked: %s; trying again in %.0f s", exc, self.settings.dns.rotation_check
            )

    async def purge(self, store: Store, now: float) -> int:
        """Delete what is past keeping: the feedback loops' posts (`[webhooks] keep_done`,
        `keep_dead`), the sending domains removed longer ago than their bounce domain is
        accepted (core/senders.py: bounce_kept) and what `[retention]` says (0: kept forever), a batch per transaction,
        yielding to the workers' writes in between. Returns how many things went."""
        self.purged_at = time.monotonic()
        hooks, keep = self.settings.webhooks, self.settings.retention
        removed_kept = senders.bounce_kept(self.settings.delivery.retry.lifetime)
        steps: list[tuple[str, Callable[[int], Awaitable[int]]]] = [
            ("feedback-loop posts", lambda n: store.purge_posts(now - hooks.keep_done, now - hooks.keep_dead, n)),
            # Few rows, deleted at once: the step ends when fewer than a batch went.
            ("removed sending domains", lambda n: store.purge_removed_domains(now - removed_kept)),
        ]
        if keep.message_bodies:
            steps.append(("message bodies", lambda n: store.purge_bodies(now - keep.message_bodies, now, n)))
        if keep.returned_mail:
            steps.append(("returned messages", lambda n: store.purge_returns(now - keep.returned_mail, now, n)))
        if keep.events:
            logged = await self.logged(store)  # never an event the log files have not got yet
            steps.append(("events", lambda n: store.purge_events(now - keep.events, logged, n)))
        total = 0
        for what, step in steps:
            purged = 0
            while not self.stopping.is_set():
                deleted = await step(PURGE_BATCH)
                purged += deleted
                if deleted < PURGE_BATCH:
                    break
                await asyncio.sleep(0.05)
            if purged:
                log.info("purged %d %s past keeping", purged, what)
            total += purged
        return total

    async def logged(self, store: Store) -> int:
        """The newest event id every log writer has written (logs.logged): on a shared store,
        of the nodes that have sent heartbeats (a node removed from `nodes` no longer holds
        purges back)."""
        if not store.shared:
            return await logs.logged(store, [None])
        return await logs.logged(store, sorted({node.name for node in await store.nodes()} | {self.node}))

    async def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.process and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for worker in self.workers:
            assert worker.process is not None
            while worker.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if worker.process.poll() is None:
                log.error("worker %d did not stop in time; killing it", worker.index)
                worker.process.kill()
                worker.process.wait()


def serve(settings: Settings, config_path: Path) -> int:
    lock = lock_data_folder(settings)
    warn_if_loose(settings.path("."))
    try:
        return asyncio.run(Supervisor(settings, config_path).run())
    finally:
        lock.close()
