"""The settings: declared once, with type, description and default; loaded once.

This module is the only reader of the configuration file. `init` writes a commented
`returnpath.toml` from the same declarations (`render`), so the file a user gets always lists
every setting with its default, and `docs/configuration.md` is generated from it too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit, urlunsplit

from .core.retry import RetryPolicy
from .core.throttle import AuthLimits
from .errors import ConfigError
from .webhooks.dispatcher import Limits
from .webhooks.policy import Backoff

log = logging.getLogger("returnpath")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(k|kb|m|mb|g|gb)?\s*$", re.I)
_SIZES = {None: 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


class Duration(float):
    """Seconds; written in the file as a number or as "30s", "5m", "4h", "5d"."""


class Size(int):
    """Bytes; written in the file as a number or as "512k", "25m", "1g"."""


class Keep(Duration):
    """How long something is kept: a duration, or 0 or "forever" to keep it forever."""


def setting(default: Any, description: str, **kw: Any) -> Any:
    """Declare a setting: its default and the one-line description shown in the file."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": description, **kw})
    return field(default=default, metadata={"doc": description, **kw})


@dataclass
class SmtpServerSettings:
    """What both SMTP servers have: where they listen, their deadlines and connection limits."""

    listen: str = setting("", "host:port to listen on")
    command_timeout: Duration = setting(
        Duration(300), "a command line must arrive whole within this (RFC 5321 4.5.3.2.7), else 421 4.4.2 and close"
    )
    data_timeout: Duration = setting(
        Duration(600), "the whole message data must arrive within this after the 354, else 421 4.4.2 and close"
    )
    max_connections: int = setting(
        1000, "most client connections at once (each worker process takes its share); more get 421 4.7.0"
    )
    max_connections_per_address: int = setting(
        20, "most connections at once from one client IP address (per worker process); more get 421 4.7.0"
    )


@dataclass
class SubmissionSettings(SmtpServerSettings):
    """[smtp.submission] the SMTP server applications submit mail to."""

    listen: str = setting("127.0.0.1:2587", "host:port to listen on (587 in production)")
    max_connections_per_address: int = setting(
        100, "most connections at once from one client IP address (per worker process); more get 421 4.7.0"
    )
    tls_cert: str = setting("tls/cert.pem", "certificate for STARTTLS (PEM), relative to the data folder")
    tls_key: str = setting("tls/key.pem", "private key for STARTTLS (PEM), relative to the data folder")
    auth_over_cleartext: str = setting(
        "loopback",
        "allow AUTH without STARTTLS: never, loopback (clients on 127.0.0.0/8 and ::1), always",
        choices=("never", "loopback", "always"),
    )
    max_message_size: Size = setting(Size(25 * 1024 * 1024), "largest message accepted, in bytes (SIZE)")
    max_recipients: int = setting(1000, "most recipients in one message")
    auth_failures_before_disconnect: int = setting(5, "failed AUTH attempts on one connection before it is closed")
    auth_failures_per_address: int = setting(
        10,
        "failed AUTH attempts from one client address (IPv6: its /64), over all connections, after which "
        "its attempts are refused with 454 4.7.0, unchecked, until auth_failure_window has passed; 0: no limit",
    )
    auth_failures_per_username: int = setting(
        20,
        "the same for one username, from addresses that have not logged in as it in the last 30 days "
        "(those are not held back); 0: no limit",
    )
    auth_failure_window: Duration = setting(
        Duration(900), "failed AUTH attempts count for this long after the first of them"
    )

    def auth_limits(self) -> AuthLimits:
        return AuthLimits(
            self.auth_failures_per_address,
            self.auth_failures_per_username,
            self.auth_failure_window,
            self.max_connections_per_address,
        )


@dataclass
class InboundSettings(SmtpServerSettings):
    """[smtp.inbound] the SMTP server of the bounce domain (receives what comes back)."""

    listen: str = setting("127.0.0.1:2525", "host:port to listen on (25 in production)")
    max_message_size: Size = setting(
        Size(0), "largest returned message accepted, in bytes; at most, and 0 for, [smtp.submission] max_message_size"
    )
    max_recipients: int = setting(100, "most recipients in one returned message")
    messages_per_minute_per_address: int = setting(
        600, "most MAIL commands from one client IP address in 60 seconds (per worker process); more get 451 4.7.1"
    )
    max_stored_returns: Size = setting(
        Size(5 * 1024**3), "most returned mail kept, in bytes; beyond it more is refused (452 4.3.1); 0: no limit"
    )
    reserve_free_space: Size = setting(
        Size(1024**3),
        "refuse returned mail (452 4.3.1) when the database's disk has less free space than this, "
        "so that it is left to submissions",
    )
    max_forwards_per_hour: int = setting(
        1000, "most returned messages forwarded to one account's own envelope addresses in an hour"
    )


@dataclass
class SmtpSettings:
    submission: SubmissionSettings = field(default_factory=SubmissionSettings)
    inbound: InboundSettings = field(default_factory=InboundSettings)

    @property
    def inbound_message_size(self) -> int:
        """The largest returned message: inbound's own limit, or submission's when it sets none."""
        return int(self.inbound.max_message_size or self.submission.max_message_size)


@dataclass
class HttpSettings:
    """[http] the HTTP API."""

    listen: str = setting("127.0.0.1:8587", "host:port to listen on")
    max_body_size: Size = setting(Size(40 * 1024 * 1024), "largest request body accepted, in bytes")
    header_timeout: Duration = setting(
        Duration(30), "a request's line and headers must arrive within this of the connection or previous response"
    )
    body_timeout: Duration = setting(
        Duration(600), "a request's whole body must arrive within this of its headers, else 408 and close"
    )
    max_connections: int = setting(
        1000, "most client connections at once (each worker process takes its share); more are answered 503"
    )
    max_connections_per_address: int = setting(
        100, "most connections at once from one client IP address (per worker process); more are answered 503"
    )


@dataclass
class StorageSettings:
    """[storage] where messages, deliveries and events are kept."""

    url: str = setting(
        "sqlite:///returnpath.db",
        "sqlite:///PATH (relative to the data folder; one node) or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        " (shared by every node that names it)",
    )
    pool_size: int = setting(10, "PostgreSQL: most connections each process of `serve` keeps open")


@dataclass
class NodeSettings:
    """[node] this machine among the nodes that share one PostgreSQL store."""

    name: str = setting("", "shown in attempts, events and `returnpath nodes`; unique per node; '' for the host name")
    heartbeat: Duration = setting(Duration(5), "how often the node tells the store it is alive")
    takeover_after: Duration = setting(
        Duration(60),
        "a node silent this long is taken for gone: a live node writes its events to its own log files until it is back",
    )

    @property
    def alive_for(self) -> float:
        """How long after its last heartbeat a node counts as alive (`returnpath nodes`, and
        `serve` refusing a live node's name): three of its intervals, as the lease keeper
        renews a lease thrice within it."""
        return 3 * self.heartbeat


@dataclass
class LogSettings:
    """[logs] the JSON-lines log files (deliveries.log, failures.log, ...)."""

    dir: str = setting("logs", "folder of the log files, relative to the data folder")
    stall_after: Duration = setting(
        Duration(60), "/healthz reports the log writer stalled when events wait this long without it moving on"
    )


@dataclass
class TimeoutSettings:
    """[delivery.timeouts] per SMTP step, as RFC 5321 section 4.5.3.2 advises."""

    connect: Duration = setting(Duration(30), "TCP connect")
    greeting: Duration = setting(Duration(300), "the server's 220 greeting")
    ehlo: Duration = setting(Duration(300), "EHLO and STARTTLS")
    mail: Duration = setting(Duration(300), "MAIL FROM")
    rcpt: Duration = setting(Duration(300), "RCPT TO")
    data: Duration = setting(Duration(120), "the DATA command")
    block: Duration = setting(Duration(180), "sending the message data")
    eom: Duration = setting(Duration(600), "the reply to the end of data")


@dataclass
class RetrySettings:
    """[delivery.retry] when to try again after a temporary failure (4xx, timeouts, refused connections)."""

    first: Duration = setting(Duration(300), "wait after the first failed attempt")
    factor: float = setting(2.0, "each wait is this many times the one before")
    max_interval: Duration = setting(Duration(4000), "the longest wait between attempts")
    lifetime: Duration = setting(Duration(5 * 86400), "give up this long after submission")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(first=self.first, factor=self.factor, max_interval=self.max_interval, lifetime=self.lifetime)


@dataclass
class DeliverySettings:
    """[delivery] sending to the recipients' mail servers."""

    helo_name: str = setting("", "name given in EHLO; empty: the settings' hostname")
    concurrency: int = setting(100, "most outgoing connections in total")
    per_destination: int = setting(20, "most outgoing connections to one destination domain")
    reuse_idle: Duration = setting(Duration(5), "keep an idle outgoing connection open this long for the next message")
    reuse_limit: int = setting(1000, "most messages sent over one connection")
    tls: str = setting(
        "opportunistic", "STARTTLS: opportunistic (when offered, unverified) or none", choices=("opportunistic", "none")
    )
    poll_interval: Duration = setting(Duration(1), "how often to look for deliveries due for a retry")
    lease: Duration = setting(Duration(300), "how long a worker holds a delivery before another may take it")
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    public_addresses: str = setting(
        "",
        "the IP addresses receivers see this host's mail come from, comma-separated, for the SPF and reverse DNS "
        "checks of `domains check` and `doctor` (behind NAT: the public one); empty: the local address used to "
        "reach the internet",
    )
    routes: dict[str, str] = setting({}, 'domain (or "*") = "host:port": send there instead of looking up MX records')


@dataclass
class DnsSettings:
    """[dns] the DNS servers asked for MX records, by `domains check`, `doctor` and key rotation."""

    nameservers: str = setting(
        "",
        "IP addresses of the DNS servers to ask (ADDRESS or ADDRESS:PORT, [v6]:PORT), comma-separated; "
        "empty: those of /etc/resolv.conf",
    )
    timeout: Duration = setting(Duration(30), "one DNS question fails after this long, its retries included")
    rotation_check: Duration = setting(
        Duration(300), "how often `serve` looks for the records of rotated DKIM keys, to switch to them once seen"
    )

    def servers(self) -> list[tuple[str, int]]:
        """`nameservers` as (address, port) pairs; ConfigError for an entry that is no IP address."""
        found = []
        for entry in self.nameservers.replace(",", " ").split():
            try:
                host, port = str(ipaddress.ip_address(entry.strip("[]"))), 53
            except ValueError:
                try:  # ADDRESS:PORT; a name (dns.google) is neither, and says so below
                    host, port = parse_hostport(entry, "dns.nameservers")
                    ipaddress.ip_address(host)
                except (ConfigError, ValueError):
                    raise ConfigError(
                        f"dns.nameservers: {entry!r} is not an IP address (ADDRESS or ADDRESS:PORT)"
                    ) from None
            found.append((host, port))
        return found


@dataclass
class WebhookSettings:
    """[webhooks] posting events to the accounts' feedback loops."""

    allow_private_targets: bool = setting(
        False, "let loops post to loopback, private and link-local addresses (tests, single-host set-ups)"
    )
    max_loops: int = setting(100, "most feedback loops one account may have (each event is written once per loop)")
    retry_window: Duration = setting(Duration(3 * 86400), "retry a failing post for this long, then keep it as dead")
    keep_done: Duration = setting(
        Duration(7 * 86400), "how long a post that was answered 2xx stays listed, then it is deleted"
    )
    keep_dead: Duration = setting(Duration(30 * 86400), "how long a post that was given up on is kept for a replay")
    timeout: Duration = setting(Duration(10), "a post that has not been answered by then has failed")
    concurrency: int = setting(500, "most posts in flight per worker process")
    per_endpoint: int = setting(8, "most posts in flight to one loop URL per worker process")
    retry_first: Duration = setting(
        Duration(10), "a failed post is retried after a random wait up to this, doubling with each failure"
    )
    retry_max_interval: Duration = setting(Duration(3600), "the longest wait between two attempts of a post")
    poll_interval: Duration = setting(Duration(1), "how often to look for posts due for a retry")
    lease: Duration = setting(Duration(300), "how long a worker holds a post before another may take it")

    def backoff(self) -> Backoff:
        return Backoff(
            first=self.retry_first,
            max_interval=max(self.retry_first, self.retry_max_interval),
            min_interval=min(1.0, self.retry_first / 4),
        )

    def limits(self) -> Limits:
        return Limits(
            concurrency=self.concurrency,
            per_endpoint=self.per_endpoint,
            held_per_endpoint=max(8 * self.per_endpoint, 64),
            timeout=self.timeout,
            lease=self.lease,
            poll_interval=self.poll_interval,
            allow_private_targets=self.allow_private_targets,
        )


@dataclass
class RetentionSettings:
    """[retention] how long what was sent, what came back and events are kept (0 or "forever": always)."""

    message_bodies: Keep = setting(
        Keep(7 * 86400), "the MIME of a message, once all of its deliveries are delivered or failed"
    )
    returned_mail: Keep = setting(Keep(30 * 86400), "the raw bytes of a returned message (bounce, auto-reply, ...)")
    events: Keep = setting(Keep(90 * 86400), "events (the API's and the CLI's history; the log files are kept apart)")


@dataclass
class Settings:
    """returnpath settings. Paths are relative to the data folder."""

    data_dir: str = setting(".", "the data folder; relative to this file")
    bounce_domain: str = setting("bounces.example.com", "the domain of the tracking envelope addresses")
    secret: str = setting(
        "",
        "key of the envelope tokens' signatures and of the stored DKIM keys' encryption (keep it; changing it "
        "orphans bounces and leaves the DKIM keys unopenable; every node of a PostgreSQL store has the same)",
    )
    hostname: str = setting("localhost", "this server's name, in greetings and EHLO")
    workers: int = setting(0, "processes sharing the work; 0: one per CPU core")
    worker_restart_delay: Duration = setting(
        Duration(1), "wait before restarting a worker that died; doubles with each quick death in a row, to 1 min"
    )
    worker_max_quick_deaths: int = setting(
        5, "`serve` gives up (exit 3) when a worker dies this many times in a row within a minute of its start"
    )
    message_memory: Size = setting(
        Size(256 * 1024 * 1024),
        "most message data one worker process holds at once, in bytes: messages being received over SMTP and "
        "HTTP bodies, counted as they arrive until they are stored (each byte costs about four of memory "
        "meanwhile); a message that would go over it is refused with 452 4.3.1 (HTTP: 503), to be sent again "
        "later; at least the largest message or body allowed; 0: no limit",
    )
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    node: NodeSettings = field(default_factory=NodeSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    dns: DnsSettings = field(default_factory=DnsSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    # Resolved by `load`, not settings of their own.
    base: Path = field(default=Path("."), metadata={"internal": True})

    def path(self, relative: str) -> Path:
        """A path from the settings, resolved against the data folder."""
        p = Path(relative)
        return p if p.is_absolute() else (self.base / self.data_dir / p).resolve()

    @property
    def secret_bytes(self) -> bytes:
        return self.secret.encode("utf-8")

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)

    @property
    def node_name(self) -> str:
        """`[node] name`, or the host name when it is not set."""
        return self.node.name or socket.gethostname()

    @property
    def store_backend(self) -> str:
        """ "sqlite" or "postgresql", from `[storage] url`; ConfigError for anything else."""
        return store_backend(self.storage.url)

    @property
    def store_display(self) -> str:
        """The store as messages name it: an SQLite store by its file's whole path (its URL is
        relative to the data folder, which the reader of a message may not be in), a PostgreSQL
        one by its URL with the password hidden."""
        if store_backend(self.storage.url) == "sqlite":
            return str(self.sqlite_path)
        return display_url(self.storage.url)

    @property
    def sqlite_path(self) -> Path:
        url = self.storage.url
        if store_backend(url) != "sqlite":
            raise ConfigError(f"storage.url {url!r} is not an SQLite file")
        return self.path(url[len("sqlite:///") :])


STORE_SCHEMES = {"sqlite:///": "sqlite", "postgresql://": "postgresql", "postgres://": "postgresql"}


def store_backend(url: str) -> str:
    """The backend a store URL names: "sqlite" or "postgresql"; ConfigError for anything else."""
    for prefix, backend in STORE_SCHEMES.items():
        if url.startswith(prefix) and len(url) > len(prefix):
            if backend == "postgresql":
                try:
                    urlsplit(url)
                except ValueError as exc:  # an unclosed IPv6 bracket: libpq would refuse it too, later
                    raise ConfigError(
                        f"storage.url {display_url(url)!r}: {exc}; expected postgresql://USER@HOST/DATABASE"
                    ) from None
            return backend
    raise ConfigError(f"storage.url {display_url(url)!r}: expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")


def public_addresses(settings: Settings) -> list[str]:
    """`[delivery] public_addresses` as IP addresses; ConfigError for an entry that is none."""
    found = []
    for entry in settings.delivery.public_addresses.replace(",", " ").split():
        try:
            found.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            raise ConfigError(f"delivery.public_addresses: {entry!r} is not an IP address") from None
    return found


#: The password of a URL's user part, ``scheme://user:PASSWORD@``.
_USERINFO_PASSWORD = re.compile(r"(://[^:/@]*:)[^/]*@")


def display_url(url: str) -> str:
    """A store URL as messages show it: its password, if it has one, as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # Not a URL urllib can split (so that message is about to say it is wrong): hide
        # whatever stands between the user's name and the @.
        return _USERINFO_PASSWORD.sub(r"\1***@", url, count=1)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def parse_hostport(value: str, name: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` to a pair; raise ConfigError naming the setting."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ConfigError(f"{name} = {value!r}: expected host:port, the port from 1 to 65535")
    return host.strip("[]"), int(port)


def _coerce(value: Any, kind: Any, name: str, meta: dict[str, Any]) -> Any:
    if kind is Keep and isinstance(value, str) and value.strip().lower() == "forever":
        return Keep(0)
    if kind in (Duration, Keep):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            result: Any = kind(value)
        elif isinstance(value, str) and (m := _DURATION.match(value)):
            result = kind(float(m.group(1)) * _UNITS[m.group(2)])
        else:
            also = ', or "forever"' if kind is Keep else ""
            raise ConfigError(f'{name} = {value!r}: expected seconds or a duration like "5m"{also}')
        if result < 0:
            raise ConfigError(f"{name} must not be negative")
        return result
    if kind is Size:
        if isinstance(value, int) and not isinstance(value, bool):
            return Size(value)
        if isinstance(value, str) and (m := _SIZE.match(value)):
            return Size(int(m.group(1)) * _SIZES[(m.group(2) or "").lower() or None])
        raise ConfigError(f'{name} = {value!r}: expected bytes or a size like "25m"')
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} = {value!r}: expected true or false")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{name} = {value!r}: expected a number")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{name} = {value!r}: expected a whole number")
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} = {value!r}: expected a string")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{name} = {value!r}: expected one of {', '.join(meta['choices'])}")
        return value
    if kind == dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"[{name}] must map names to strings")
        return dict(value)
    raise ConfigError(f"{name}: unsupported setting type")  # pragma: no cover - a bug in this module


# Settings that were renamed: an older `init` wrote every key into the file, so the old name is
# still read (as the new one, unless that is given too), with a warning to rename it.
_RENAMED = {
    f"smtp.{server}.timeout": (
        "command_timeout",
        "is now command_timeout (a whole command line; data_timeout bounds the whole message data): "
        "read as command_timeout; rename it",
    )
    for server in ("submission", "inbound")
}


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    for name in sorted(set(data) - set(known)):
        if (renamed := _RENAMED.get(f"{prefix}.{name}")) is not None:
            new, why = renamed
            log.warning("[%s] %s %s", prefix, name, why)
            old = data[name]
            data = {key: value for key, value in data.items() if key != name}
            data.setdefault(new, old)
    unknown = set(data) - set(known)
    if unknown:
        where = f"[{prefix}]" if prefix else "the top level"
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            continue
        full = f"{prefix}.{name}" if prefix else name
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            if not isinstance(data[name], dict):
                raise ConfigError(f"[{full}] must be a table")
            values[name] = _build(kind, data[name], full)  # type: ignore[arg-type]
        else:
            values[name] = _coerce(data[name], kind, full, dict(f.metadata))
    return cls(**values)


def validate(settings: Settings) -> None:
    """Checks that involve more than one setting or a setting's shape beyond its type."""
    for name, value in (
        ("smtp.submission.listen", settings.smtp.submission.listen),
        ("smtp.inbound.listen", settings.smtp.inbound.listen),
        ("http.listen", settings.http.listen),
    ):
        parse_hostport(value, name)
    for domain, target in settings.delivery.routes.items():
        parse_hostport(target, f"delivery.routes.{domain!r}")
    settings.dns.servers()  # raises ConfigError for an entry that is no address
    if settings.dns.timeout <= 0:
        raise ConfigError("dns.timeout must be positive")
    public_addresses(settings)  # likewise
    if len(settings.secret) < 16:
        raise ConfigError("secret must be at least 16 characters (init writes a random one)")
    if "." not in settings.bounce_domain:
        raise ConfigError(f"bounce_domain = {settings.bounce_domain!r}: expected a domain name")
    if settings.delivery.concurrency < 1 or settings.delivery.per_destination < 1:
        raise ConfigError("delivery.concurrency and delivery.per_destination must be at least 1")
    _validate_counts(settings)
    submission = settings.smtp.submission
    if min(submission.auth_failures_per_address, submission.auth_failures_per_username) < 0:
        raise ConfigError("smtp.submission.auth_failures_per_address and _per_username must be 0 (no limit) or more")
    if submission.auth_failure_window <= 0:
        raise ConfigError("smtp.submission.auth_failure_window must be positive")
    hooks = settings.webhooks
    if hooks.concurrency < 1 or hooks.per_endpoint < 1 or hooks.max_loops < 1:
        raise ConfigError("webhooks.concurrency, webhooks.per_endpoint and webhooks.max_loops must be at least 1")
    if hooks.timeout <= 0 or hooks.lease <= 2 * hooks.timeout:
        raise ConfigError("webhooks.timeout must be positive and webhooks.lease more than twice as long")
    _validate_servers(settings)
    settings.dns.servers()  # raises ConfigError for an entry that is no address
    if settings.dns.timeout <= 0 or settings.dns.rotation_check <= 0:
        raise ConfigError("dns.timeout and dns.rotation_check must be positive")
    settings.store_backend  # noqa: B018 - raises ConfigError for an unsupported URL
    if settings.storage.pool_size < 1:
        raise ConfigError("storage.pool_size must be at least 1")
    name = settings.node_name
    if "/" in name or any(c.isspace() for c in name) or not 0 < len(name) <= 64:
        raise ConfigError(f"node.name = {name!r}: expected up to 64 characters, no spaces and no '/'")
    if settings.node.heartbeat <= 0 or settings.node.heartbeat * 3 > settings.delivery.lease:
        raise ConfigError("node.heartbeat must be positive and at most a third of delivery.lease")
    if settings.node.takeover_after < settings.node.alive_for:
        # `returnpath nodes` calls a node alive until three heartbeats are missed
        raise ConfigError("node.takeover_after must be at least three times node.heartbeat")


def _validate_counts(settings: Settings) -> None:
    """Numbers whose type alone lets through a value that makes no sense: a negative number of
    workers, no recipient allowed, a retry that comes sooner each time, a poll that never waits
    (a worker would ask the store without pause)."""
    retry = settings.delivery.retry
    for name, wrong, must in (
        ("workers", settings.workers < 0, "be 0 (one per CPU core) or more"),
        ("worker_max_quick_deaths", settings.worker_max_quick_deaths < 1, "be at least 1"),
        ("smtp.submission.max_message_size", settings.smtp.submission.max_message_size < 1, "be at least 1"),
        ("smtp.submission.max_recipients", settings.smtp.submission.max_recipients < 1, "be at least 1"),
        ("smtp.inbound.max_recipients", settings.smtp.inbound.max_recipients < 1, "be at least 1"),
        ("delivery.poll_interval", settings.delivery.poll_interval <= 0, "be positive"),
        ("delivery.retry.first", retry.first <= 0, "be positive"),
        ("delivery.retry.factor", retry.factor < 1, "be at least 1 (each wait as long as the one before, or longer)"),
        ("delivery.retry.max_interval", retry.max_interval <= 0, "be positive"),
        ("delivery.retry.lifetime", retry.lifetime <= 0, "be positive"),
        ("webhooks.poll_interval", settings.webhooks.poll_interval <= 0, "be positive"),
    ):
        if wrong:
            raise ConfigError(f"{name} must {must}")


def _validate_servers(settings: Settings) -> None:
    submission, inbound, http = settings.smtp.submission, settings.smtp.inbound, settings.http
    for name, value in (
        ("smtp.submission.command_timeout", submission.command_timeout),
        ("smtp.submission.data_timeout", submission.data_timeout),
        ("smtp.inbound.command_timeout", inbound.command_timeout),
        ("smtp.inbound.data_timeout", inbound.data_timeout),
        ("http.header_timeout", http.header_timeout),
        ("http.body_timeout", http.body_timeout),
    ):
        if value <= 0:
            raise ConfigError(f"{name} must be positive")
    for name, count in (
        ("smtp.submission.max_connections", submission.max_connections),
        ("smtp.submission.max_connections_per_address", submission.max_connections_per_address),
        ("smtp.inbound.max_connections", inbound.max_connections),
        ("smtp.inbound.max_connections_per_address", inbound.max_connections_per_address),
        ("smtp.inbound.messages_per_minute_per_address", inbound.messages_per_minute_per_address),
        ("http.max_connections", http.max_connections),
        ("http.max_connections_per_address", http.max_connections_per_address),
    ):
        if count < 1:
            raise ConfigError(f"{name} must be at least 1")
    # Nothing we send is larger than submission allows, so nothing larger is one of ours coming
    # back (bounces that quote a message whole are a little larger; most MTAs quote headers or
    # a part). Refused rather than clamped: a limit the file states must be the one applied.
    # A message the size limits let in must fit in message_memory alone, or it could never be taken.
    largest = max(int(submission.max_message_size), int(http.max_body_size))
    if settings.message_memory and settings.message_memory < largest:
        raise ConfigError(
            f"message_memory ({int(settings.message_memory)} bytes) must be at least the largest message or body "
            f"allowed (smtp.submission.max_message_size, http.max_body_size: {largest} bytes), or 0 for no limit"
        )
    if inbound.max_message_size < 0 or inbound.max_message_size > submission.max_message_size:
        raise ConfigError(
            f"smtp.inbound.max_message_size ({int(inbound.max_message_size)} bytes) must not be larger than "
            f"smtp.submission.max_message_size ({int(submission.max_message_size)} bytes); lower it as well"
        )


def load(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> Settings:
    """Read and check a configuration file. Raises ConfigError with the reason."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such configuration file (name yours with --config PATH or RETURNPATH_CONFIG, "
            "or create one with `returnpath init --data DIR --bounce-domain DOMAIN`)"
        ) from None
    except IsADirectoryError:  # --config rp-data: the data folder rather than its file
        inside = file / "returnpath.toml"
        hint = f"give the file, --config {inside}" if inside.is_file() else "give the configuration file"
        raise ConfigError(f"{file} is a folder: {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        data[key] = value
    settings: Settings = _build(Settings, data, "")
    settings.base = file.resolve().parent
    validate(settings)
    return settings


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# ---- writing the commented file ------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Keep) and not value:
        return '"forever"'
    if isinstance(value, Duration):
        seconds = float(value)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                return f'"{int(seconds // size)}{unit}"'
        return f'"{seconds:g}s"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(value)


def render(settings: Settings) -> str:
    """The settings as a commented TOML file: every setting, its description and default."""
    lines = [
        "# returnpath configuration. Every setting is listed with its description;",
        "# the value shown is the default unless `returnpath init` chose it for you.",
        "",
    ]

    def table(obj: Any, prefix: str) -> None:
        doc = " ".join((type(obj).__doc__ or "").split())  # a docstring of several lines: one comment line
        hints = get_type_hints(type(obj))
        subtables: list[tuple[str, Any]] = []
        scalars = [
            f
            for f in fields(obj)
            if not f.metadata.get("internal")
            and not dataclasses.is_dataclass(hints[f.name])
            and not isinstance(getattr(obj, f.name), dict)
        ]
        if prefix and scalars:
            if doc.startswith("["):
                # A docstring may wrap: one comment line however many lines it takes there.
                lines.append("# " + " ".join(doc.split("]", 1)[1].split()))
            lines.append(f"[{prefix}]")
        for f in fields(obj):
            if f.metadata.get("internal"):
                continue
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                subtables.append((f.name, value))
                continue
            default = f.default if f.default is not dataclasses.MISSING else None
            lines.append(f"# {f.metadata['doc']}")
            if isinstance(value, dict):
                subtables.append((f.name, value))
                lines.pop()
                continue
            line = f"{f.name} = {_toml_value(value)}"
            if default is not None and value != default:
                line += f"  # default: {_toml_value(default)}"
            lines.append(line)
        if scalars:
            lines.append("")
        for name, value in subtables:
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(value, dict):
                meta = next(f for f in fields(obj) if f.name == name).metadata
                lines.append(f"# {meta['doc']}")
                lines.append(f"[{full}]")
                if not value:
                    lines.append('# "example.com" = "127.0.0.1:2526"')
                    lines.append('# "*" = "smarthost.example.net:25"')
                for key, target in value.items():
                    lines.append(f"{_toml_value(key)} = {_toml_value(target)}")
                lines.append("")
            else:
                table(value, full)

    table(settings, "")
    return "\n".join(lines).rstrip() + "\n"


def reference(settings: Settings | None = None) -> str:
    """The configuration reference in Markdown (docs/configuration.md is this text)."""
    settings = settings or Settings()
    out = [
        "# Configuration reference",
        "",
        "Generated from `src/returnpath/config.py` (`python -m returnpath.config > docs/configuration.md`).",
        "`returnpath init` writes the same settings, with these defaults, into `returnpath.toml`.",
        "Durations take `30s`, `5m`, `4h`, `5d` or seconds; sizes take `512k`, `25m` or bytes.",
        "",
    ]

    def table(obj: Any, prefix: str) -> None:
        hints = get_type_hints(type(obj))
        rows, subs = [], []
        for f in fields(obj):
            if f.metadata.get("internal"):
                continue
            if dataclasses.is_dataclass(hints[f.name]):
                subs.append((f.name, getattr(obj, f.name)))
                continue
            value = getattr(obj, f.name)
            shown = "(empty table)" if isinstance(value, dict) else f"`{_toml_value(value)}`"
            rows.append(f"| `{f.name}` | {shown} | {f.metadata['doc']} |")
        if rows:
            doc = " ".join((type(obj).__doc__ or "").split())
            out.append(f"## [{prefix}]" if prefix else "## Top level")
            out.append("")
            if prefix and doc.startswith("["):
                text = doc.split("]", 1)[1].strip()
                out.extend([text[:1].upper() + text[1:], ""])
            out.extend(["| setting | default | meaning |", "|---|---|---|", *rows, ""])
        for name, value in subs:
            table(value, f"{prefix}.{name}" if prefix else name)

    table(settings, "")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
