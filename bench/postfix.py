#!/usr/bin/env python3
"""A private Postfix instance on loopback, for the benchmark and for end-to-end tests.

returnpath is measured against Postfix (bench/relay.py) and, from the bounce issue on, tested
against the DSNs that a real Postfix writes. Both need a Postfix that is entirely our own:
its own configuration, queue and data directories in a temporary folder, listening only on
the loopback ports the caller picks, relaying only where the caller says, and gone again
afterwards, leaving the machine's own Postfix (if any) untouched. Several may run at once.

This module installs nothing. It needs Debian's ``postfix`` package (bench/install-postfix.sh
installs it without starting the system instance) and root, because the Postfix master has to
start its daemons as root and then drop to the ``postfix`` user.

Two modes, both from :func:`private_postfix`:

* relay (the benchmark): ``private_postfix(2525, relay_to=("127.0.0.1", 2526))`` accepts mail
  from 127.0.0.0/8 for any domain and relays all of it to ``relay_to``; nothing is delivered
  locally and nothing is looked up in DNS.
* bounce (the inbound-bounce tests): ``private_postfix(2525, local_domains=["example.test"],
  transports={"bounces.example.com": ("127.0.0.1", 2527)})`` accepts mail for any recipient at
  example.test, then its local delivery agent finds that the user does not exist, so Postfix
  itself writes a DSN (RFC 3464) and sends it to the envelope sender, whose domain is routed
  to the given loopback port.

Command line::

    python bench/postfix.py relay --port 2525 --relay-to 127.0.0.1:2526   # until Ctrl-C
    python bench/postfix.py bounce-demo          # a DSN arrives at an aiosmtpd sink
"""

from __future__ import annotations

import argparse
import contextlib
import os
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

#: Debian's paths. ``postfix`` is the administrator's command; the daemons, among them
#: ``master``, live in daemon_directory, which the ``postfix`` command finds by itself.
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SMTP_SINK = "/usr/sbin/smtp-sink"

HostPort = tuple[str, int]


class PostfixError(RuntimeError):
    """Postfix is missing, refused its configuration, or did not come up."""


def postfix_available() -> str | None:
    """Return why a private Postfix cannot run here, or None when it can (for test skips)."""
    if not os.path.exists(POSTFIX):
        return f"{POSTFIX} not found: install Debian's postfix (bench/install-postfix.sh)"
    if os.geteuid() != 0:
        return "a private Postfix must be started as root"
    return None


def postfix_version() -> str:
    """The installed Postfix's version, e.g. ``3.7.11``."""
    out = subprocess.run([POSTCONF, "-dh", "mail_version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _nexthop(dest: HostPort) -> str:
    """An SMTP next hop for ``dest``. The brackets say "this host, do not look up MX"."""
    host, port = dest
    return f"[{host}]:{port}"


def main_cf(
    base: Path,
    *,
    relay_to: HostPort | None,
    transports: Mapping[str, HostPort],
    local_domains: Sequence[str],
    hostname: str,
    extra: Mapping[str, str],
) -> dict[str, str]:
    """The main.cf settings of a private instance rooted at ``base``, as a dict.

    Every setting that differs from Postfix's defaults is here with the reason for it.
    """
    cf: dict[str, str] = {
        # Turn off the backwards-compatibility safety net (and its log warnings): we want
        # today's defaults, as a new installation would have them.
        "compatibility_level": "3.6",
        # Our own directories. The daemon, meta and shlib directories stay Debian's (the
        # programs and read-only files). queue_directory holds the queue files and the
        # sockets the daemons talk over; data_directory holds caches and the lock file.
        "config_directory": str(base / "etc"),
        "queue_directory": str(base / "queue"),
        "data_directory": str(base / "data"),
        # Daemons drop to this user; the package created it.
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        # Logging: a container has no syslog daemon, so use Postfix's own logger (postlogd,
        # Postfix 3.4+; needs the postlog service in master.cf). The file must lie under one
        # of maillog_file_prefixes, a guard against writing logs to arbitrary places.
        "maillog_file": str(base / "maillog"),
        "maillog_file_prefixes": str(base),
        # Each instance logs under its own name, so two instances' lines can be told apart.
        "syslog_name": f"postfix-{base.name}",
        # A fixed name, so Postfix does not ask the resolver for the machine's FQDN (with
        # "vm" as the hostname it would otherwise complain and append .localdomain).
        "myhostname": hostname,
        "mydomain": hostname.partition(".")[2] or "localdomain",
        "myorigin": "$myhostname",
        # Listen on loopback only; the port itself is in master.cf.
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        # Who may relay: loopback clients, nobody else. smtpd_relay_restrictions is the
        # Postfix 2.10+ place for the open-relay guard; recipient restrictions stay default.
        "mynetworks": "127.0.0.0/8",
        "smtpd_relay_restrictions": "permit_mynetworks, reject",
        # No DNS anywhere: the machine has no network beyond loopback, and a lookup that
        # waits for a resolver that never answers would stall every delivery. The SMTP
        # client resolves names (there are none: next hops are bracketed IP addresses) with
        # the system resolver only. smtpd does not look up the client's name (3.x).
        "smtp_dns_support_level": "disabled",
        "smtp_host_lookup": "native",
        "lmtp_host_lookup": "native",
        "smtpd_peername_lookup": "no",
        # No local delivery in relay mode: no local domains, no aliases, and a local
        # transport that fails loudly if something slips through.
        "mydestination": "",
        "local_recipient_maps": "",
        "alias_maps": "",
        "alias_database": "",
        "local_transport": "error:5.1.1 local delivery is disabled in this instance",
        # Postmaster notices (resource, software problems) would otherwise be mailed to
        # postmaster@$myhostname, i.e. relayed to the sink and counted as benchmark mail.
        "notify_classes": "",
        "biff": "no",
        # Don't wait for a slow remote greeting in a benchmark (defaults are minutes); but
        # also don't make them so short that a busy machine turns them into deferrals.
        "smtp_connect_timeout": "10s",
        "smtp_helo_timeout": "30s",
        # Fair-benchmark settings, kept at Postfix's defaults on purpose and written down so
        # nobody has to look them up:
        #   default_destination_concurrency_limit = 20   parallel deliveries per destination
        #     (one destination here: the relay host); starts at
        #     initial_destination_concurrency = 5 and grows while deliveries succeed;
        #   default_process_limit = 100                  smtpd/smtp processes per service;
        #   smtp_connection_cache_on_demand = yes        reuse connections when a backlog
        #                                                builds up for a destination;
        #   in_flow_delay = 1s                           smtpd briefly stalls a sender when
        #                                                mail arrives faster than it leaves:
        #                                                Postfix's own back-pressure;
        # and the durability: Postfix fsyncs every queue file before smtpd answers 250 to
        # the end of DATA. Nothing here turns that off.
        "default_destination_concurrency_limit": "20",
        # A deferred message is retried after minutes (the default: 300s/5m). Harmless for a
        # benchmark, where nothing should defer, but a test must not wait five minutes.
        "queue_run_delay": "5s",
        "minimal_backoff_time": "5s",
        "maximal_backoff_time": "30s",
    }
    # Where mail goes. transport_maps decides per recipient domain (the bounce domain in
    # bounce mode); relayhost catches everything else (relay mode). An inline: table
    # (Postfix 3.0+) keeps it all in main.cf, with no postmap step.
    if transports:
        pairs = ", ".join(f"{dom}=smtp:{_nexthop(dest)}" for dom, dest in transports.items())
        cf["transport_maps"] = f"inline:{{ {pairs} }}"
    if relay_to is not None:
        cf["relayhost"] = _nexthop(relay_to)
    else:
        # Without a relay host, mail for anywhere else would need DNS: refuse to try.
        cf["default_transport"] = "error:5.4.4 this test instance only routes listed domains"
    if local_domains:
        # Bounce mode: accept any recipient at these domains (empty local_recipient_maps:
        # smtpd does not check users at RCPT TO), then hand them to local(8), which finds
        # that the user does not exist and bounces: Postfix writes the DSN itself.
        cf.update(
            {
                "mydestination": ", ".join(local_domains),
                "local_transport": "local:$myhostname",
                # Should a recipient name a real user (root@...), the mailbox lands in our
                # directory, never in the machine's /var/mail; no commands or files either.
                "mail_spool_directory": str(base / "mail"),
                "allow_mail_to_commands": "",
                "allow_mail_to_files": "",
                "luser_relay": "",
            }
        )
    cf.update(extra)
    return cf


def master_cf(smtp_port: int) -> str:
    """The master.cf of a private instance: only the services it needs, none chrooted.

    Debian's master.cf runs most daemons chrooted into the queue directory, which only works
    after the init script has copied /etc/resolv.conf, /etc/services and friends in there;
    here we turn the chroot off instead. Columns: service type private unpriv chroot wakeup
    maxproc command.
    """
    return f"""\
# Generated by bench/postfix.py for a private, loopback-only instance.
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
proxywrite unix - - n -    1 proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def _format_main_cf(cf: Mapping[str, str]) -> str:
    lines = ["# Generated by bench/postfix.py for a private, loopback-only instance."]
    lines += [f"{k} = {v}" for k, v in cf.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The running instance
# --------------------------------------------------------------------------------------------


@dataclass
class PostfixInstance:
    """A private Postfix started by :func:`start_postfix`. Call :meth:`stop` when done."""

    dir: Path
    smtp_port: int
    keep_dir: bool = False
    #: The supervisor process (see :func:`_supervise`) that owns this instance.
    supervisor: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: The Postfix master's pid; also the process group of all the instance's daemons.
    master_pid: int | None = None

    @property
    def config_dir(self) -> Path:
        return self.dir / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.dir / "queue"

    @property
    def log_file(self) -> Path:
        return self.dir / "maillog"

    def log(self) -> str:
        """The instance's mail log so far (for failure messages and assertions)."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Postfix command (``postconf``, ``postqueue``, ...) against this instance."""
        prog, *rest = args
        if "/" not in prog:
            prog = f"/usr/sbin/{prog}"
        return subprocess.run([prog, "-c", str(self.config_dir), *rest], capture_output=True, text=True, check=check)

    def queue_size(self) -> int:
        """How many messages are in the queue (any state), counted from the queue tree."""
        total = 0
        for sub in ("incoming", "active", "deferred", "hold", "maildrop"):
            for _root, _dirs, files in os.walk(self.queue_dir / sub):
                total += len(files)
        return total

    def flush(self) -> None:
        """Ask Postfix to retry deferred mail now (``postqueue -f``)."""
        self.command("postqueue", "-f")

    def running(self) -> bool:
        return self.master_pid is not None and _alive(self.master_pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the instance and everything it started; remove its directory (idempotent)."""
        sup, self.supervisor = self.supervisor, None
        if sup is not None:
            # Closing its stdin is the supervisor's signal to shut Postfix down, reap every
            # process and exit.
            with contextlib.suppress(OSError):
                if sup.stdin:
                    sup.stdin.close()
            try:
                sup.wait(timeout)
            except subprocess.TimeoutExpired:
                sup.kill()
                sup.wait()
            for pipe in (sup.stdin, sup.stdout):
                if pipe is not None:
                    pipe.close()
        # Belt and braces, should the supervisor itself have failed: by process group.
        if self.master_pid is not None:
            _kill_group(self.master_pid, timeout=timeout)
        self.master_pid = None
        if not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _read_master_pid(queue_dir: Path) -> int | None:
    try:
        return int((queue_dir / "pid" / "master.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead: it only awaits reaping)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _group_alive(pgid: int) -> bool:
    """Whether any live process remains in process group ``pgid``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # fields after the command: state ppid pgrp ...
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _kill_group(master_pid: int, timeout: float) -> None:
    """Stop a Postfix master and every daemon it forked.

    The master is a session leader: every Postfix daemon it forks is in its process group.
    SIGTERM makes the master pass the signal on to that group and exit (what ``postfix
    abort`` does; ``postfix stop`` lets children finish their work and polls once a second).
    Stragglers are then killed by process group, so nothing of this instance survives and
    nothing of any other instance is touched.
    """
    if _alive(master_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(master_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(master_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    if _group_alive(master_pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(master_pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while _group_alive(master_pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _prctl(option: int, arg: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _supervise(config_dir: str, timeout: float, keep_dir: bool) -> int:
    """The process that owns one instance: starts it, and stops and reaps it at the end.

    Why a process of its own: ``postfix start`` leaves the master running as a daemon whose
    parent has exited, so it and, after it, any daemon that outlives it are re-parented to
    PID 1, which here is not a real init and may leave them as zombies; and a benchmark or
    test that is killed outright (SIGKILL, a CI time-out) must not leave a Postfix listening
    behind it. This process is a *child subreaper* (Linux 3.4+), so the orphaned master and
    its daemons become its children; it asks the kernel for SIGTERM when its parent dies
    (PDEATHSIG), and it stops Postfix when its stdin closes, which also happens when the
    parent dies. When the parent died, it also removes the instance's directory (unless
    kept), since nobody else will. Protocol on stdout: one line, ``ready <master pid>`` or
    ``failed``, then the error text.
    """
    parent = os.getppid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def on_term(_sig: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    queue_dir = Path(
        subprocess.run(
            [POSTCONF, "-c", config_dir, "-h", "queue_directory"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    master_pid: int | None = None
    try:
        # "postfix start" creates the queue subdirectories with the right owners
        # (post-install create-missing), checks the installation, and starts the master with
        # -w: it returns only once the master has initialized, non-zero if that failed.
        # MAIL_CONFIG is what "-c" sets too; set it so that every helper the scripts start
        # reads our main.cf, never /etc/postfix's.
        env = {**os.environ, "MAIL_CONFIG": config_dir}
        res = subprocess.run(
            [POSTFIX, "-c", config_dir, "start"], env=env, check=False, capture_output=True, text=True, timeout=timeout
        )
        master_pid = _read_master_pid(queue_dir)
        if res.returncode != 0 or master_pid is None:
            sys.stdout.write(f"failed\npostfix start exited {res.returncode}:\n{res.stdout}{res.stderr}")
            return 1
        sys.stdout.write(f"ready {master_pid}\n")
        sys.stdout.flush()
        # Wait for the end: EOF on stdin, or SIGTERM (ours, or the parent-death signal).
        while sys.stdin.buffer.read(4096):
            pass
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if master_pid is not None:
            _kill_group(master_pid, timeout=timeout)
        _reap_all(timeout)
        if os.getppid() != parent and not keep_dir:
            shutil.rmtree(Path(config_dir).parent, ignore_errors=True)


def _reap_all(timeout: float) -> None:
    """Wait for every child and adopted orphan, until the kernel says there are none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Wait until an SMTP server at host:port answers with its 220 greeting."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.settimeout(5)
                greeting = s.recv(512)
                if greeting.startswith(b"220"):
                    with contextlib.suppress(OSError):
                        s.sendall(b"QUIT\r\n")
                    return
                last = PostfixError(f"unexpected greeting {greeting!r}")
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise PostfixError(f"nothing answers on {host}:{port} after {timeout}s: {last}")


def start_postfix(
    smtp_port: int,
    relay_to: HostPort | None = None,
    *,
    transports: Mapping[str, HostPort] | None = None,
    local_domains: Sequence[str] = (),
    hostname: str = "postfix.test",
    extra: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    keep_dir: bool = False,
    timeout: float = 30.0,
) -> PostfixInstance:
    """Create and start a private Postfix; see the module docstring for the two modes.

    ``smtp_port``: the loopback port its SMTP server listens on. ``relay_to``: where all mail
    goes (relayhost). ``transports``: per-domain next hops that take precedence over
    ``relay_to``. ``local_domains``: domains whose recipients are accepted and then bounced
    as unknown users. ``extra``: main.cf settings to add or override. Returns once the port
    answers. Raises :class:`PostfixError` when it does not come up, after stopping whatever
    did start and keeping the directory (with its maillog) for inspection.
    """
    why_not = postfix_available()
    if why_not:
        raise PostfixError(why_not)
    base = Path(tempfile.mkdtemp(prefix="rp-postfix-", dir=base_dir))
    # mkdtemp makes the directory 0700; the daemons run as the postfix user and must reach
    # their queue inside it.
    os.chmod(base, 0o755)
    for sub in ("etc", "queue", "data", "mail"):
        (base / sub).mkdir(mode=0o755)
    # data_directory belongs to the mail_owner (Postfix checks, and keeps caches there);
    # the mail spool must be writable for local(8) should it ever deliver.
    shutil.chown(base / "data", user="postfix")
    os.chmod(base / "mail", 0o1777)

    inst = PostfixInstance(dir=base, smtp_port=smtp_port, keep_dir=keep_dir)
    cf = main_cf(
        base,
        relay_to=relay_to,
        transports=transports or {},
        local_domains=local_domains,
        hostname=hostname,
        extra=extra or {},
    )
    (inst.config_dir / "main.cf").write_text(_format_main_cf(cf))
    (inst.config_dir / "master.cf").write_text(master_cf(smtp_port))
    try:
        inst.supervisor = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "_supervise",
                str(inst.config_dir),
                "--timeout",
                str(timeout),
                *(["--keep"] if keep_dir else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C in the terminal goes to the parent, which
            # then stops the instance in order, instead of killing the supervisor midway.
            start_new_session=True,
        )
        assert inst.supervisor.stdout is not None
        first = inst.supervisor.stdout.readline().decode(errors="replace").split()
        if first[:1] != ["ready"]:
            rest = inst.supervisor.stdout.read().decode(errors="replace")
            raise PostfixError(f"private postfix did not start: {' '.join(first)}\n{rest}--- maillog:\n{inst.log()}")
        inst.master_pid = int(first[1])
        wait_for_port("127.0.0.1", smtp_port, timeout=timeout)
    except BaseException:
        # Also on KeyboardInterrupt: a half-started master must not outlive us. The log is
        # worth keeping when it fails.
        inst.keep_dir = True
        inst.stop()
        sys.stderr.write(f"postfix: failed instance left in {base} for inspection\n")
        raise
    return inst


@contextlib.contextmanager
def private_postfix(
    smtp_port: int,
    relay_to: HostPort | None = None,
    *,
    transports: Mapping[str, HostPort] | None = None,
    local_domains: Sequence[str] = (),
    hostname: str = "postfix.test",
    extra: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    keep_dir: bool = False,
    timeout: float = 30.0,
) -> Iterator[PostfixInstance]:
    """Run a private Postfix for the duration of a ``with`` block (see :func:`start_postfix`
    for the arguments); it is stopped, and its directory removed, however the block ends.

    >>> with private_postfix(2525, relay_to=("127.0.0.1", 2526)) as pf:  # doctest: +SKIP
    ...     smtplib.SMTP("127.0.0.1", 2525).sendmail(...)
    """
    inst = start_postfix(
        smtp_port,
        relay_to,
        transports=transports,
        local_domains=local_domains,
        hostname=hostname,
        extra=extra,
        base_dir=base_dir,
        keep_dir=keep_dir,
        timeout=timeout,
    )
    try:
        yield inst
    finally:
        inst.stop()


def free_port() -> int:
    """A loopback TCP port that is free right now (for tests that need one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _hostport(text: str) -> HostPort:
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def _cmd_relay(args: argparse.Namespace) -> int:
    # Stop in order on SIGTERM too (a CI time-out, kill PID), not only on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with private_postfix(args.port, args.relay_to, keep_dir=args.keep) as pf:
        print(
            f"postfix {postfix_version()} on 127.0.0.1:{args.port}, relaying to "
            f"{args.relay_to[0]}:{args.relay_to[1]}; dir {pf.dir}; Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while pf.running():
                time.sleep(0.5)
    return 0


def bounce_demo(
    bounce_domain: str = "bounces.example.com", unknown_domain: str = "example.test", timeout: float = 30.0
) -> bytes:
    """Make Postfix write a DSN and return it as an aiosmtpd sink received it.

    A message from ``b-demo@<bounce_domain>`` to ``no-such-user@<unknown_domain>`` is accepted by
    Postfix, which then finds no such user and sends the DSN to b-demo@<bounce_domain>,
    routed to the sink. This is the set-up the inbound-bounce tests build on. (Pick a
    local part that is no system account: ``nobody@`` *is* one, and local(8) delivers to it.)
    """
    import smtplib
    from email.message import EmailMessage

    from aiosmtpd.controller import Controller

    received: list[tuple[str, list[str], bytes]] = []

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            env = envelope  # aiosmtpd.smtp.Envelope
            received.append((env.mail_from, list(env.rcpt_tos), env.original_content))  # type: ignore[attr-defined]
            return "250 OK"

    sink_port, pf_port = free_port(), free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=sink_port)
    ctl.start()
    try:
        with private_postfix(
            pf_port, None, local_domains=[unknown_domain], transports={bounce_domain: ("127.0.0.1", sink_port)}
        ) as pf:
            msg = EmailMessage()
            msg["From"] = f"app@{bounce_domain}"
            msg["To"] = f"no-such-user@{unknown_domain}"
            msg["Subject"] = "bounce me"
            msg["Message-ID"] = "<bounce-demo@returnpath.test>"
            msg.set_content("This message is for a user who does not exist.\n")
            with smtplib.SMTP("127.0.0.1", pf_port) as s:
                s.send_message(msg, from_addr=f"b-demo@{bounce_domain}", to_addrs=[f"no-such-user@{unknown_domain}"])
            deadline = time.monotonic() + timeout
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            if not received:
                raise PostfixError(f"no DSN arrived within {timeout}s\n{pf.log()}")
    finally:
        ctl.stop()
    mail_from, rcpts, content = received[0]
    assert mail_from in ("", "<>"), f"a DSN has the null sender, got {mail_from!r}"
    assert rcpts == [f"b-demo@{bounce_domain}"], rcpts
    return content


def _cmd_bounce_demo(args: argparse.Namespace) -> int:
    dsn = bounce_demo(args.bounce_domain, args.unknown_domain)
    sys.stdout.write(dsn.decode("utf-8", "replace"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_supervise"]:  # internal: the process start_postfix runs
        sv = argparse.ArgumentParser(prog="postfix.py _supervise")
        sv.add_argument("config_dir")
        sv.add_argument("--timeout", type=float, default=30.0)
        sv.add_argument("--keep", action="store_true")
        a = sv.parse_args(argv[1:])
        return _supervise(a.config_dir, a.timeout, a.keep)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay", help="run a relaying instance in the foreground")
    r.add_argument("--port", type=int, default=2525, help="loopback SMTP port to listen on")
    r.add_argument("--relay-to", type=_hostport, default=("127.0.0.1", 2526), help="HOST:PORT to relay all mail to")
    r.add_argument("--keep", action="store_true", help="keep the instance's directory")
    r.set_defaults(func=_cmd_relay)
    b = sub.add_parser("bounce-demo", help="show a DSN written by Postfix for an unknown user")
    b.add_argument("--bounce-domain", default="bounces.example.com")
    b.add_argument("--unknown-domain", default="example.test")
    b.set_defaults(func=_cmd_bounce_demo)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
