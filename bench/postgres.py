#!/usr/bin/env python3
"""A private PostgreSQL cluster on loopback, for the tests and benchmarks of the PostgreSQL store.

The PostgreSQL store is tested against a real server, the one Debian ships, never a fake: the
durability and the failure modes (the server goes away mid-transaction, comes back) are what
the tests are for. Each test session starts a cluster that is entirely its own: ``initdb`` in
a temporary folder, listening only on 127.0.0.1 at a port of its own, its Unix socket in that
folder too (not /var/run/postgresql, where a system cluster's socket lives), and gone again
afterwards, leaving the machine's own clusters (if any) untouched. Several may run at once.

This module installs nothing. It needs Debian's ``postgresql`` package (bench/install-postgres.sh
installs it without starting the system cluster). The binaries are taken from the newest
/usr/lib/postgresql/<major>/bin, never from PATH: Debian puts only wrappers (pg_wrapper, which
pick a version and a cluster from /etc/postgresql) on PATH, and not initdb, pg_ctl or postgres
at all.

initdb, pg_ctl and postgres refuse to run as root (a server running as root that executes
``COPY ... TO PROGRAM`` would run it as root). So when we are root (CI is) they run as the
``postgres`` system user the package created; its temporary folder belongs to that user.
Otherwise they run as the current user. The clients (psql here, psycopg in the tests) connect
over TCP and may run as anybody.

Authentication is ``trust``: whoever can reach the socket may connect as any role, with no
password. That is fine here, and saves the tests a secret: the server listens on 127.0.0.1
only (pg_hba.conf only has loopback lines, too), its Unix socket lies in a folder only its
owner can enter, and it lives for one test session on a CI machine or a developer's box.
(Anyone with a shell on the same machine could connect during that time: do not run it on a
shared host you don't trust.)

In Python::

    with private_postgres() as pg:
        url = pg.create_database("t_one")      # postgresql://returnpath@127.0.0.1:PORT/t_one
        ...
        pg.stop(); pg.start()                  # an outage, same port, same data

Command line::

    python bench/postgres.py run [--port N]    # until Ctrl-C, printing the URL
    python bench/postgres.py check             # start, SELECT 1, stop; exit 0 or 1, with timings
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

#: Where Debian installs each major version's programs: /usr/lib/postgresql/15/bin, ...
PG_LIB = Path("/usr/lib/postgresql")
#: The programs a private cluster needs (psql is in the client package, which the server needs).
PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql")
#: The system user Debian's package creates; the server runs as it when we are root.
SYSTEM_USER = "postgres"
#: The cluster's superuser (initdb -U) and the database created at start.
SUPERUSER = "returnpath"
DATABASE = "returnpath"

#: postgresql.conf settings of every private cluster, each with its reason. ``options``
#: of :func:`private_postgres` adds to or overrides them. Port, addresses and socket
#: directory are added per cluster.
SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        # Several relay worker processes each hold a connection pool, and a test may run a
        # few relays at once: the default 100 runs out.
        "max_connections": "200",
        # Small and fixed, whatever the machine (the default is also 128MB; written down).
        "shared_buffers": "128MB",
        # Durability is what the tests are about: commits are flushed to disk before they
        # return, as in production. These are the defaults; written down so that nobody
        # "speeds up the tests" by turning them off.
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        # Debian builds with LLVM: JIT compiling a test's query costs more than running it,
        # and makes timings jump.
        "jit": "off",
        # Times in the log and timestamptz output do not depend on the machine's zone.
        "timezone": "UTC",
        "log_timezone": "UTC",
        # The server log goes to server.log in the cluster's folder (pg_ctl -l); no collector.
        "logging_collector": "off",
        "lc_messages": "C",
    }
)

_NO_OPTIONS: Mapping[str, str] = MappingProxyType({})

#: Database names we create: plain lower-case identifiers, so they never need quoting rules.
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresError(RuntimeError):
    """PostgreSQL is missing, refused its configuration, or did not come up."""


# --------------------------------------------------------------------------------------------
# Finding the installation
# --------------------------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>: 15 > 9.6 (numerically, not as text)."""
    try:
        return tuple(int(p) for p in path.name.split("."))
    except ValueError:
        return (-1,)


def postgres_bin() -> Path | None:
    """The newest installed major version's bin directory that has every program we need."""
    try:
        versions = sorted(PG_LIB.iterdir(), key=_version_key, reverse=True)
    except FileNotFoundError:
        return None
    for version in versions:
        bin_dir = version / "bin"
        if all(os.access(bin_dir / prog, os.X_OK) for prog in PROGRAMS):
            return bin_dir
    return None


def postgres_available() -> str | None:
    """Return why a private cluster cannot run here, or None when it can."""
    if postgres_bin() is None:
        return (
            f"no PostgreSQL server in {PG_LIB}/*/bin (needs {', '.join(PROGRAMS)}): "
            "install Debian's postgresql with: bash bench/install-postgres.sh"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return (
                f"running as root, but there is no {SYSTEM_USER!r} user to run the server as: "
                "bash bench/install-postgres.sh creates it"
            )
    return None


def postgres_version() -> str:
    """The server's version, e.g. ``postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``."""
    bin_dir = _bin()
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _bin() -> Path:
    why_not = postgres_available()
    bin_dir = postgres_bin()
    if why_not or bin_dir is None:
        raise PostgresError(why_not or "no PostgreSQL")
    return bin_dir


def _clean_env() -> dict[str, str]:
    """Our environment without libpq's PG* variables and with English messages.

    A developer's PGDATA, PGPORT, PGHOST, PGDATABASE or PGSERVICE would otherwise steer
    pg_ctl and psql to some other cluster; every program here is told everything explicitly.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


@dataclass
class PrivateCluster:
    """A private cluster made by :func:`private_postgres`: its folder, port and programs.

    The folder holds ``data/`` (the data directory), ``server.log``, and the Unix socket.
    """

    base: Path
    port: int
    bin: Path
    #: The user the server programs run as: ``postgres`` when we are root, else None (us).
    run_as: str | None = None
    #: The process that stops the server and removes the folder should we die without doing
    #: it ourselves (see :func:`_watch`).
    watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    @property
    def url(self) -> str:
        """The URL of the ``returnpath`` database, as psycopg and libpq take it."""
        return self.url_for(DATABASE)

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def log(self) -> str:
        """The server log so far (for failure messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- running the server programs ---------------------------------------------------------

    def _server_cmd(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run initdb or pg_ctl, as the cluster's user (see the module docstring)."""
        prog, *rest = args
        uid: int | None = None
        gid: int | None = None
        groups: list[int] | None = None
        if self.run_as is not None:
            # Popen's own setuid/setgid in the child: what "runuser -u postgres --" does,
            # without PAM, a login session or a preexec_fn (unsafe once threads run).
            # groups=[] drops root's supplementary groups.
            pw = pwd.getpwnam(self.run_as)
            uid, gid, groups = pw.pw_uid, pw.pw_gid, []
        return subprocess.run(
            [str(self.bin / prog), *rest],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=_clean_env(),
            # The programs chdir nowhere; our own cwd may be a folder the postgres user cannot
            # enter (/root), and initdb warns about it.
            cwd=self.base,
            user=uid,
            group=gid,
            extra_groups=groups,
        )

    def write_config(self, options: Mapping[str, str]) -> None:
        """Write our settings to data/private.conf, which postgresql.conf includes last."""
        settings = {
            **SETTINGS,
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.base),
            **options,
        }
        # Every value quoted: postgresql.conf accepts quotes around numbers and booleans too.
        lines = ["# Written by bench/postgres.py for a private, loopback-only cluster."]
        lines += [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in settings.items()]
        conf = self.data / "private.conf"
        conf.write_text("\n".join(lines) + "\n")
        if self.run_as is not None:
            shutil.chown(conf, user=self.run_as, group=pwd.getpwnam(self.run_as).pw_gid)

    def running(self) -> bool:
        """Whether this cluster's postmaster is alive (its pid file names a live process)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return False
        return _alive(pid)

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (again: same data, same port) and wait until it takes connections."""
        if self.running():
            return
        # -w waits until the postmaster writes "ready" into postmaster.pid, so the first
        # connection after this succeeds; -t bounds the wait (crash recovery after an
        # immediate stop takes a moment).
        res = self._server_cmd(
            "pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(self.data), "-l", str(self.log_file),
            timeout=timeout + 10,
        )  # fmt: skip
        if res.returncode != 0:
            raise PostgresError(
                f"pg_ctl start exited {res.returncode} (port {self.port}):\n{res.stdout}{res.stderr}"
                f"--- server.log:\n{self.log()[-4000:]}"
            )

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the server; the data stays. ``fast`` (the default) ends every session and
        shuts down cleanly: clients see the outage. ``immediate`` is a crash: the next start
        runs recovery from the WAL."""
        if not self.running():
            return
        res = self._server_cmd(
            "pg_ctl", "stop", "-w", "-t", str(int(timeout)), "-m", mode, "-D", str(self.data), timeout=timeout + 10
        )
        if res.returncode != 0 and self.running():
            raise PostgresError(f"pg_ctl stop -m {mode} exited {res.returncode}:\n{res.stdout}{res.stderr}")

    # -- databases -------------------------------------------------------------------------

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run one SQL statement with psql, outside any transaction; return its rows as text."""
        res = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",  # no ~/.psqlrc
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                dbname,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=_clean_env(),
            timeout=120,
        )
        if res.returncode != 0:
            raise PostgresError(f"psql: {sql!r} failed ({res.returncode}):\n{res.stderr}")
        return res.stdout

    def create_database(self, name: str, template: str = "template1") -> str:
        """Create an empty database (a copy of ``template``) and return its URL.

        Fast (tens of milliseconds), so tests take one each. A prepared template (say, one
        with the store's schema migrated into it) can be copied instead of template1; nobody
        may be connected to it meanwhile."""
        _check_name(name)
        _check_name(template)
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its sessions first (WITH (FORCE), PostgreSQL 13+)."""
        _check_name(name)
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Stop the server at once and remove the folder (idempotent)."""
        try:
            # Immediate: nothing is left to keep, so no shutdown checkpoint to wait for.
            self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            watchdog, self.watchdog = self.watchdog, None
            if watchdog is not None:
                _end_watchdog(watchdog)


def _check_name(name: str) -> None:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r}: use lower-case letters, digits and _ (at most 63)")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead: it only awaits reaping).

    A stopped postmaster was re-parented to PID 1 by pg_ctl's fork, and in a container PID 1
    may never reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


# --------------------------------------------------------------------------------------------
# Making one
# --------------------------------------------------------------------------------------------


def start_postgres(
    port: int | None = None,
    *,
    options: Mapping[str, str] = _NO_OPTIONS,
    base_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> PrivateCluster:
    """Create and start a private cluster; call its :meth:`~PrivateCluster.close` when done.

    ``port``: the loopback port to listen on; None picks a free one (and another, should
    somebody take it before the server binds it). ``options``: postgresql.conf settings
    added to or overriding :data:`SETTINGS`. ``base_dir``: where the temporary folder goes
    (the postgres user must be able to enter it when we are root). Raises
    :class:`PostgresError`, with the server's log, when the cluster does not come up.
    """
    bin_dir = _bin()
    run_as = SYSTEM_USER if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="rp-postgres-", dir=base_dir))
    cluster = PrivateCluster(base=base, port=port or free_port(), bin=bin_dir, run_as=run_as)
    try:
        # mkdtemp's folder is 0700, so only its owner (and root) reach the data and the
        # socket. When we are root, that owner is the postgres user.
        if run_as is not None:
            shutil.chown(base, user=run_as, group=pwd.getpwnam(run_as).pw_gid)
        cluster.watchdog = _start_watchdog(cluster)
        res = cluster._server_cmd(
            "initdb",
            "-D", str(cluster.data),
            "-U", SUPERUSER,
            # trust, see the module docstring; pg_hba.conf then has loopback lines only.
            "--auth-local=trust",
            "--auth-host=trust",
            # UTF-8, and C.UTF-8 (built into Debian's libc, always there) rather than the
            # machine's locale: code-point ordering and the same behaviour everywhere.
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            # initdb would fsync every file it wrote (a second or more on a slow disk). If the
            # machine crashed now, the folder would be thrown away anyway; the server itself
            # runs with fsync on.
            "--no-sync",
            "--no-instructions",
            timeout=timeout,
        )  # fmt: skip
        if res.returncode != 0:
            raise PostgresError(f"initdb exited {res.returncode}:\n{res.stdout}{res.stderr}")
        with open(cluster.data / "postgresql.conf", "a") as f:
            f.write("\n# bench/postgres.py: everything that differs, last, so that it wins.\ninclude 'private.conf'\n")
        for attempt in range(3):
            cluster.write_config(options)
            try:
                cluster.start(timeout=timeout)
                break
            except PostgresError:
                # Our free port was taken in the meantime: pick another, if it was ours to pick.
                if port is not None or attempt == 2 or "could not bind" not in cluster.log():
                    raise
                cluster.port = free_port()
        cluster.psql(f'CREATE DATABASE "{DATABASE}"')
    except BaseException:
        # Also on KeyboardInterrupt: a half-started server must not outlive us.
        cluster.close()
        raise
    return cluster


@contextlib.contextmanager
def private_postgres(
    port: int | None = None,
    *,
    options: Mapping[str, str] = _NO_OPTIONS,
    base_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Iterator[PrivateCluster]:
    """Run a private cluster for the duration of a ``with`` block (see :func:`start_postgres`
    for the arguments); it is stopped, and its folder removed, however the block ends."""
    cluster = start_postgres(port, options=options, base_dir=base_dir, timeout=timeout)
    try:
        yield cluster
    finally:
        cluster.close()


# --------------------------------------------------------------------------------------------
# The watchdog
# --------------------------------------------------------------------------------------------


def _start_watchdog(cluster: PrivateCluster) -> subprocess.Popen[bytes]:
    """Start the process that cleans up after us should we be killed (see :func:`_watch`)."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "_watch", str(cluster.base), *([cluster.run_as or ""])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        # Its own session: a Ctrl-C in the terminal goes to us, and we stop the cluster in
        # order; the watchdog only acts when we are gone.
        start_new_session=True,
        env=_clean_env(),
    )


def _end_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if watchdog.stdin is not None:
            watchdog.stdin.close()
    try:
        watchdog.wait(30)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def _watch(base: Path, run_as: str | None) -> int:
    """Wait for EOF on stdin, then stop the cluster in ``base`` if it runs and remove ``base``.

    Why: ``pg_ctl start`` leaves the postmaster running as a daemon, no child of ours. If the
    test session is killed outright (SIGKILL, a CI time-out), nobody would stop it and it would
    keep its port and its folder forever. Our end of this process's stdin closes however we
    end, so this process then does what :meth:`PrivateCluster.close` would have done (after a
    normal close there is nothing left to do).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    bin_dir = postgres_bin()
    if bin_dir is not None and base.exists():
        cluster = PrivateCluster(base=base, port=0, bin=bin_dir, run_as=run_as)
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)
    return 0


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    # Stop in order on SIGTERM too (a CI time-out, kill PID), not only on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with private_postgres(args.port) as pg:
        print(f"{postgres_version()}\n{pg.url}\ndata {pg.data}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while pg.running():
                time.sleep(0.5)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    why_not = postgres_available()
    if why_not:
        print(f"postgres: {why_not}", file=sys.stderr)
        return 1
    try:
        t0 = time.perf_counter()
        with private_postgres() as pg:
            t1 = time.perf_counter()
            one = pg.psql("SELECT 1", DATABASE).strip()
            t2 = time.perf_counter()
            pg.create_database("check_db")
            t3 = time.perf_counter()
            pg.drop_database("check_db")
            t4 = time.perf_counter()
        t5 = time.perf_counter()
    except PostgresError as e:
        print(f"postgres: {e}", file=sys.stderr)
        return 1
    if one != "1":
        print(f"postgres: SELECT 1 returned {one!r}", file=sys.stderr)
        return 1
    print(
        f"ok: {postgres_version()} as {pg.run_as or 'the current user'} on port {pg.port}; "
        f"start {t1 - t0:.2f}s, SELECT 1 {t2 - t1:.3f}s, create database {t3 - t2:.3f}s, "
        f"drop database {t4 - t3:.3f}s, stop and remove {t5 - t4:.2f}s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_watch"]:  # internal: the process start_postgres runs
        return _watch(Path(argv[1]), (argv[2:3] or [""])[0] or None)
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a private cluster in the foreground, until Ctrl-C")
    r.add_argument("--port", type=int, default=None, help="loopback port to listen on (default: a free one)")
    r.set_defaults(func=_cmd_run)
    c = sub.add_parser("check", help="start a cluster, SELECT 1, stop it; exit 0 when all worked")
    c.set_defaults(func=_cmd_check)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
