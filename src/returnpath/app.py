"""`returnpath serve`: a supervisor process and its worker processes.

The supervisor binds the listening sockets (submission, inbound, HTTP), releases leases left
by a previous run (on the embedded SQLite store nothing else can be running: a lock file makes
sure), starts one worker process per core with the sockets inherited, writes the log files
from the events table, restarts a worker that dies (releasing its leases first, so its
deliveries are attempted again at once), and every ten minutes deletes the feedback loops'
posts that are past keeping. Workers each run the submission server, the inbound server of
the bounce domain, the HTTP API, a delivery engine, a returned-mail worker and a feedback-loop
dispatcher, sharing the store; the kernel spreads connections over them.

On SIGINT or SIGTERM every worker stops accepting, finishes what it is doing (briefly) and
exits; then the supervisor writes the last log lines and exits. Nothing accepted is lost at
any point: it is in the store before the client hears OK.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .config import Settings, parse_hostport
from .errors import StartError
from .logs import LogWriter
from .store import open_store
from .store.sqlite import SqliteStore

log = logging.getLogger("returnpath")

STOP_GRACE = 20.0  # seconds a worker gets to finish before it is killed
RESTART_DELAY = 1.0
PURGE_INTERVAL = 600.0  # seconds between purges of what is past keeping
PURGE_BATCH = 5000


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
        raise StartError(f"{name} = {hostport!r}: cannot listen there: {exc.strerror}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def lock_data_folder(settings: Settings) -> IO[str]:
    """Hold an exclusive lock on the data folder for as long as `serve` runs."""
    folder = settings.path(".")
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / "returnpath.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StartError(f"another `returnpath serve` is running on {folder}") from None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@dataclass
class Worker:
    index: int
    owner: str = ""
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = field(default=0)


class Supervisor:
    def __init__(self, settings: Settings, config_path: Path) -> None:
        self.settings = settings
        self.config_path = config_path.resolve()
        self.nonce = secrets.token_hex(4)
        self.sockets: dict[str, socket.socket] = {}
        self.workers = [Worker(i) for i in range(settings.worker_count)]
        self.stopping = asyncio.Event()
        self.purged_at = 0.0  # monotonic time of the last purge

    def spawn(self, worker: Worker) -> None:
        worker.owner = f"{socket.gethostname()}-{self.nonce}-{worker.index}-{worker.restarts}"
        fds = {name: sock.fileno() for name, sock in self.sockets.items()}
        args = [
            sys.executable,
            "-m",
            "returnpath.worker",
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
        store = open_store(self.settings)
        await store.open()
        released = await store.release()  # a previous run's in-flight deliveries: try them again
        if released:
            log.info("released %d deliveries left in flight by a previous run", released)
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
        writer = LogWriter(store, self.settings.path(self.settings.logs.dir))
        writing = asyncio.create_task(writer.run(self.stopping))
        try:
            while not self.stopping.is_set():
                await self.watch(store)
                if time.monotonic() - self.purged_at >= PURGE_INTERVAL:
                    await self.purge(store, time.time())
                try:
                    await asyncio.wait_for(self.stopping.wait(), 0.5)
                except TimeoutError:
                    pass
            await self.stop_workers()
            await writing
        finally:
            writer.close()
            for sock in self.sockets.values():
                sock.close()
            await store.close()
        log.info("returnpath stopped")
        return 0

    async def watch(self, store: SqliteStore) -> None:
        """Restart workers that died, after releasing what they held."""
        for worker in self.workers:
            assert worker.process is not None
            code = worker.process.poll()
            if code is None:
                continue
            released = await store.release(worker.owner)
            log.error("worker %d exited with %s; released %d deliveries; restarting", worker.index, code, released)
            worker.restarts += 1
            if time.monotonic() - worker.started < RESTART_DELAY:
                await asyncio.sleep(RESTART_DELAY)
            self.spawn(worker)

    async def purge(self, store: SqliteStore, now: float) -> int:
        """Delete the feedback loops' posts that are past keeping (`[webhooks] keep_done`,
        `keep_dead`), a batch per transaction, yielding to the workers' writes in between."""
        self.purged_at = time.monotonic()
        hooks = self.settings.webhooks
        total = 0
        while not self.stopping.is_set():
            deleted = await store.purge_outbox(now - hooks.keep_done, now - hooks.keep_dead, PURGE_BATCH)
            total += deleted
            if deleted < PURGE_BATCH:
                break
            await asyncio.sleep(0.05)
        if total:
            log.info("purged %d feedback-loop posts past keeping", total)
        return total

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
    try:
        return asyncio.run(Supervisor(settings, config_path).run())
    finally:
        lock.close()
