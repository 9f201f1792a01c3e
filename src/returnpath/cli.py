"""The `returnpath` command: init, serve, send, logs, accounts, queue, delivery, loops, domains,
doctor."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, private
from .core.events import LOGS, EventKind, format_time
from .errors import ConfigError, Conflict, InputError, LoopError, NotFound, ReturnpathError, StartError
from .private import warn_if_loose

if TYPE_CHECKING:  # the commands import what they use: `parse` starts without the relay's parts
    from .config import Settings
    from .core.ports import NodeStatus, Store
    from .core.senders import SendingDomain

DEFAULT_CONFIG = os.environ.get("RETURNPATH_CONFIG", "rp-data/returnpath.toml")


class _Version(argparse.Action):
    """`--version`: returnpath's version and its store schema versions, read only when asked
    (the store package is not imported by `parse`, which starts without the relay's parts)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from .store import schema_versions

        schema = schema_versions()
        print(f"returnpath {__version__} (store schema: SQLite {schema['sqlite']}, PostgreSQL {schema['postgresql']})")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="returnpath", description="An outbound mail relay that knows what happened to every message it sent."
    )
    parser.add_argument("--version", action=_Version, help="show the version and the store schema it brings, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        if name != "init":
            p.add_argument(
                "--config",
                default=DEFAULT_CONFIG,
                # `store copy` reads no configuration (both stores are given as URLs): offered
                # for `store backup` alone, lest it be taken for the source of a copy.
                help=f"store backup: the configuration file whose store is backed up (default: "
                f"$RETURNPATH_CONFIG or {DEFAULT_CONFIG}); store copy reads none"
                if name == "store"
                else f"the configuration file (default: $RETURNPATH_CONFIG or {DEFAULT_CONFIG})",
            )
        return p

    p = command("init", "create a data folder with a commented configuration and a first account")
    p.add_argument("--data", required=True, help="the data folder to create")
    p.add_argument("--bounce-domain", required=True, help="domain of the tracking envelope addresses")
    p.add_argument("--hostname", default=socket.getfqdn() or "localhost", help="this server's name")
    p.add_argument("--account", default="default", help="name of the first account (default: default)")
    p.add_argument(
        "--store",
        metavar="URL",
        help="[storage] url: sqlite:///PATH (default: sqlite:///returnpath.db in the data folder) or "
        "postgresql://USER@HOST/DATABASE, an empty database (a second node copies the first one's returnpath.toml)",
    )
    p.add_argument("--node", metavar="NAME", help="[node] name (default: the host name)")

    command("serve", "run the relay: submission SMTP, HTTP API, delivery")
    command("migrate", "bring the store's schema to this version of returnpath (both backends)")
    p = command("nodes", "the nodes sharing the store: last heartbeat and the work each holds")
    p.add_argument("--json", action="store_true", help="one JSON object per node")
    p.add_argument(
        "--forget",
        metavar="NAME",
        help="remove a node gone for good from the list; refused while it may be alive or any of its events "
        "waits for a log writer",
    )
    p = command(
        "store",
        "copy a store's data to another (from SQLite to PostgreSQL, say), or back up the SQLite store while serve runs",
    )
    p.add_argument(
        "action",
        choices=["copy", "backup"],
        help="copy: every row of --from into --to, DKIM keys still sealed; backup: the SQLite store of --config "
        "into the new file --to, one consistent snapshot, also while serve runs",
    )
    # The URLs are given whole: a relative sqlite:///PATH is relative to the current folder
    # here, not to a data folder (--config is not read by copy).
    p.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="copy: sqlite:///PATH (relative to the current folder) or postgresql://...",
    )
    p.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="copy: an empty store: sqlite:///PATH (relative to the current folder; made if missing) or "
        "postgresql://...; backup: a new file (PATH)",
    )

    p = command("send", "submit a message from a file (- for standard input)")
    p.add_argument("--from", dest="mail_from", required=True, help="the sender address")
    p.add_argument("--to", action="append", required=True, help="a recipient (repeat for more)")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeat for more)")
    p.add_argument("--account", help="the account to send as (default: the first one)")
    p.add_argument("file", help="the message, as an .eml file")

    logs = sorted(set(LOGS.values()))
    p = command("logs", f"read a log: {', '.join(logs[:-1])} or {logs[-1]}")
    p.add_argument("log", choices=logs, help="which log")
    p.add_argument("--since", help='"YYYY-MM-DD HH:MM:SS" (UTC) or an age such as 30m, 2h, 1d')
    p.add_argument(
        "--follow", "-f", action="store_true", help="wait for new lines (after the last --lines ones, as tail -f)"
    )
    p.add_argument(
        "--lines",
        "-n",
        type=int,
        default=None,
        metavar="N",
        help="only the last N lines before what comes new (with --follow and no --since: 10 by default)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON lines as they are")
    p.add_argument(
        "--local",
        action="store_true",
        help="on a shared (PostgreSQL) store, this node's log file only; by default every node's events, from the store",
    )

    p = command(
        "accounts",
        "manage accounts: list, add (credentials printed once), rotate, disable, enable, update, remove",
    )
    p.add_argument("action", choices=["list", "add", "rotate", "disable", "enable", "update", "remove"])
    p.add_argument("name", nargs="?", help="the account's name (or id)")
    p.add_argument(
        "--sender-domains",
        metavar="DOMAINS",
        help="add, update: the envelope sender domains it may use, comma-separated; "
        "*.example.com for subdomains; empty: any",
    )
    p.add_argument(
        "--token", action="store_true", help="rotate: a new API token (with --password: both; neither: both)"
    )
    p.add_argument("--password", action="store_true", help="rotate: a new SMTP password")
    p.add_argument("--force", action="store_true", help="remove: even with queued or deferred deliveries (dropped)")

    command("queue", "how many deliveries are queued, deferred, delivered and failed")

    p = command("returned", "print a returned message (bounce, auto-reply, ...) as it arrived")
    p.add_argument("id", help='its id: the "return" field of its line in bounces.log')

    p = command("delivery", "show a delivery: its state, attempts and events")
    p.add_argument("id", help='the delivery\'s id: from the answer of send, or the "id" of its log lines')
    p.add_argument("--account", help="the account (default: the first one)")

    _loops_parser(sub)
    _domains_parser(sub)

    # offline bounce recognition: needs no configuration
    p = sub.add_parser(
        "parse",
        help="recognise returned mail in files: .eml files, maildirs, mbox files",
        description="recognise returned mail in files: .eml files, maildirs, mbox files",
    )
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="a message, mbox file or folder")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument(
        "--recipient",
        type=_address,
        metavar="ADDRESS",
        help="the address the returned mail was for: a failure notice that names it only in its text, "
        "mangled or not at all is read as about it (what `serve` knows from the tracking address)",
    )
    return parser


def _address(value: str) -> str:
    """An argument that must be one e-mail address, checked as submission checks recipients
    (argparse reports the error and exits 2)."""
    from .core.intake import validate_address
    from .errors import AddressError

    try:
        return validate_address(value.strip())
    except AddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _loops_parser(sub: Any) -> None:
    """`returnpath loops ACTION`: one sub-command per action, each with --config and --account."""
    help = "manage the account's feedback loops (webhooks): add, list, pause, test, replay, ..."
    loops = sub.add_parser("loops", help=help, description=help)
    actions = loops.add_subparsers(dest="loop_action", required=True, metavar="ACTION")
    # --config is given to each action, not to `loops`: a sub-parser's default would overwrite
    # the value given before the action.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the configuration file (default: $RETURNPATH_CONFIG or {DEFAULT_CONFIG})",
    )
    common.add_argument("--account", help="the account, by name or id (default: the first one)")
    kinds = ", ".join(k.value for k in EventKind)

    def action(name: str, help: str, *, loop_id: bool = True, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(
            name, help=help, description=help, parents=[common], aliases=list(aliases)
        )
        if loop_id:
            p.add_argument("id", help="the loop's id")
        return p

    def loop_settings(p: argparse.ArgumentParser, *, required: bool) -> None:
        # Values are checked by loops.Loops, as for the API, so that a bad one is named the same way.
        p.add_argument(
            "--events",
            action="append",
            required=required,
            metavar="KINDS",
            help=f"event types, comma-separated or repeated: some of {kinds}",
        )
        p.add_argument(
            "--format",
            default="form" if required else None,
            help="the body of the posts: form or json" + (" (default: form)" if required else ""),
        )

    p = action("add", "register a loop; its signing secret is printed once", loop_id=False)
    p.add_argument("url", help="the http:// or https:// URL to post events to")
    loop_settings(p, required=True)
    p.add_argument("--paused", action="store_true", help="create it paused (events wait until it is resumed)")
    action("list", "the account's loops (without their secrets)", loop_id=False)
    action("show", "one loop")
    action("pause", "stop posting; the loop keeps collecting its events")
    action("resume", "post again, the events collected meanwhile first")
    p = action("update", "change a loop's URL, event types or format")
    p.add_argument("--url", help="the new URL")
    loop_settings(p, required=False)
    action("remove", "remove a loop and what it had still to post")
    action("rotate", "give a loop a new signing secret, printed once")
    p = action("test", "post one signed sample event now; exit code 1 unless answered 2xx")
    p.add_argument(
        "--event", metavar="KIND", help=f"the event type of the sample: one of {kinds} (default: the loop's first)"
    )
    p = action(
        "posts",
        "the loop's posts, newest event first, with their last status and error ('deliveries' in 0.1)",
        aliases=["deliveries"],
    )
    p.add_argument("--state", help="only these: pending, in_flight, done or dead")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    p.add_argument(
        "--before", metavar="ITEM_ID", help="the page after this post (the last one listed), as the API's ?before="
    )
    p = action("replay", "post a done or dead post again (or every dead one, with --dead)")
    p.add_argument("item", nargs="?", metavar="ITEM_ID", help="the post's id, from `loops posts`")
    p.add_argument("--dead", action="store_true", help="replay every dead post of the loop")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The data folder holds secrets: whatever a command creates there is private. Put back
    # afterwards, for a program that calls main() and goes on (the tests do).
    try:
        with private.restricted():
            code = _run(args)
        sys.stdout.flush()  # here rather than at exit, so that a reader gone away is caught below
        return code
    except BrokenPipeError:
        # The reader went away (`returnpath parse DIR | head`): that is its choice, not an error.
        # Standard output now goes nowhere, so that the flush at exit does not raise again
        # (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"returnpath: configuration error: {exc}", file=sys.stderr)
        return 2
    except StartError as exc:  # a port in use is no mistake of the file: say only what happened
        print(f"returnpath: {exc}", file=sys.stderr)
        return 2
    except (LoopError, Conflict) as exc:  # names the setting, as the API's problem documents do
        print(f"returnpath: {exc.field}: {exc}", file=sys.stderr)
        return 1
    except ReturnpathError as exc:
        print(f"returnpath: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# ---- commands ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    import asyncio

    from . import config
    from .config import Settings
    from .store import open_store
    from .tls import make_self_signed
    from .usecases.accounts import create_account

    folder = Path(args.data)
    path = folder / "returnpath.toml"
    if path.exists():
        raise ConfigError(f"{path} exists already; init will not overwrite it")
    settings = Settings(bounce_domain=args.bounce_domain, hostname=args.hostname, secret=secrets.token_urlsafe(32))
    if args.store:
        settings.storage.url = args.store
    if args.node:
        settings.node.name = args.node
    settings.base = folder.resolve()
    # Every check before the folder is made: a mistake in an option leaves nothing behind.
    try:
        config.validate(settings)
    except ConfigError as exc:
        if args.store and str(exc).startswith("storage.url "):  # the option the user gave, by its name
            raise InputError(f"--store{str(exc).removeprefix('storage.url')}") from None
        raise
    if settings.store_backend == "postgresql":
        asyncio.run(_refuse_a_used_store(settings))
    elif settings.sqlite_path.exists():
        # Its accounts, DKIM keys and tracking addresses are bound to the secret of the file
        # that was lost: a new file with a new secret would orphan them (and the first account
        # is there already).
        raise InputError(
            f"{settings.sqlite_path} exists already: to go on with that store, put back the returnpath.toml it was "
            "made with (its secret opens the DKIM keys and checks the tracking addresses); to start afresh, move "
            "the file away"
        )
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder: give --data the path of a folder (made if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission, a read-only file system
        raise InputError(f"cannot create the data folder {folder}: {exc.strerror}; give --data another path") from None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds the secret
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(config.render(settings))
    make_self_signed(
        settings.path(settings.smtp.submission.tls_cert), settings.path(settings.smtp.submission.tls_key), args.hostname
    )
    settings.path(settings.logs.dir).mkdir(parents=True, exist_ok=True)

    async def first_account() -> dict[str, str]:
        store = open_store(settings)
        await store.open()
        try:
            return (await create_account(store, args.account, time.time())).as_dict()
        finally:
            await store.close()

    print(json.dumps(asyncio.run(first_account())))
    warn_if_loose(folder)
    from .checks import is_public_name

    if not is_public_name(settings.hostname):
        # The default is the resolver's name for this host, which is "localhost" where /etc/hosts
        # gives the host's name on 127.0.0.1 (many containers): remote servers would meet it in
        # EHLO (Postfix's reject_non_fqdn_helo_hostname refuses it) and in Message-IDs.
        print(
            f"returnpath: hostname {settings.hostname!r} is no name the world can look up: remote servers meet it in "
            f"EHLO and in Message-IDs, and the bounce domain's MX needs it; set hostname in {path} to this host's "
            "public DNS name (or give init --hostname)",
            file=sys.stderr,
        )
    print(
        f"returnpath: created {path}; the credentials above are shown only now (`accounts rotate` makes new "
        f"ones); run `returnpath serve --config {path}`",
        file=sys.stderr,
    )
    return 0


async def _refuse_a_used_store(settings: Settings) -> None:
    """`init` on a shared store: only an empty one. A second node shares the first node's
    secret and accounts, so it is set up from that node's returnpath.toml, not by `init`."""
    from .store import open_store

    store = open_store(settings)
    await store.open()
    try:
        if await store.accounts():
            raise InputError(
                f"{settings.store_display} is in use already: to add a node, copy the first node's "
                "returnpath.toml (same secret and store) and change its [node] name and listen addresses"
            )
    finally:
        await store.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    import asyncio

    from . import config
    from .store import open_store
    from .usecases import domains

    settings = config.load(args.config)
    _store_must_exist(settings)
    before, after = asyncio.run(open_store(settings).migrate(lambda nodes: _none_alive(settings, nodes)))
    where = settings.store_display
    if before == after:
        print(f"returnpath: {where} is at schema version {after}, the newest this returnpath knows")
    else:
        print(f"returnpath: {where} migrated from schema version {before} to {after}")
    # Key files of earlier versions go into the store, for every node (usecases/domains.py).
    imported = asyncio.run(_with_store(settings, lambda store: domains.import_key_files(store, settings)))
    if imported:
        print(f"returnpath: {imported} DKIM key file(s) of {settings.path('domains')} stored (the files stay)")
    return 0


def _none_alive(settings: Settings, nodes: list[NodeStatus]) -> None:
    """Refuse to migrate a shared store while a node runs on it: this returnpath refuses to
    start on the older schema, so a node alive now runs the code that wrote it, which would go
    on writing what the new schema does not expect, and whose restarted workers refuse it. A
    node of this machine whose process is gone stopped a moment ago (as `serve` reads it)."""
    from .node.supervisor import node_alive

    now = time.time()
    alive = [node for node in nodes if node_alive(node, settings.node.alive_for, now)]
    if alive:
        named = ", ".join(
            f"{node.name} (host {node.host}, pid {node.pid}, returnpath {node.version}, heartbeat "
            f"{now - node.heartbeat_at:.0f} s ago)"
            for node in alive
        )
        raise InputError(
            f"{len(alive)} node(s) still run on {settings.store_display}: {named}; stop every node, back up the "
            "database, then run `returnpath migrate` (README: Backups and upgrades). A node that has just "
            f"stopped on another machine counts as alive for {settings.node.alive_for:.0f} s after its last heartbeat"
        )


def cmd_nodes(args: argparse.Namespace) -> int:
    import asyncio

    from . import config
    from .node.supervisor import node_alive

    settings = config.load(args.config)
    if args.forget is not None:
        return _forget_node(settings, args.forget)
    nodes = asyncio.run(_with_store(settings, lambda s: s.nodes()))
    now = time.time()
    for node in nodes:
        age = now - node.heartbeat_at
        # As serve and migrate judge it: a recent heartbeat, unless of a process of this
        # machine that is gone (killed since).
        alive = node_alive(node, settings.node.alive_for, now)
        if args.json:
            record = {
                "name": node.name,
                "alive": alive,
                "host": node.host,
                "pid": node.pid,
                "version": node.version,
                "listen": node.listen,
                "started": format_time(node.started_at),
                "heartbeat": format_time(node.heartbeat_at),
                "heartbeat_age": round(age, 1),
                "holds": {"deliveries": node.deliveries, "returned": node.returns, "posts": node.posts},
            }
            print(json.dumps(record))
        else:
            if alive:
                state = "alive"
            elif age <= settings.node.alive_for:
                state = f"pid {node.pid} gone"
            else:
                state = f"silent for {age:.0f} s"
            print(
                f"{node.name:<20} {state:<18} heartbeat {format_time(node.heartbeat_at)} UTC  "
                f"holds {node.deliveries} deliveries, {node.returns} returned, {node.posts} posts  "
                f"(host {node.host}, pid {node.pid}, returnpath {node.version}, {node.listen})"
            )
    if not nodes:
        # Not "none has run yet": on a shared store a node stopped cleanly leaves the list.
        print(
            "returnpath: no node is running (`returnpath serve` starts one; one stopped cleanly is not listed)",
            file=sys.stderr,
        )
    return 0


def _forget_node(settings: Settings, name: str) -> int:
    """`nodes --forget NAME`: only a node silent for `[node] takeover_after` (a live node has
    taken its log over by then) none of whose events waits to be written."""
    import asyncio

    from .logs import cursor_name

    now, after = time.time(), settings.node.takeover_after
    # An SQLite store's one writer writes every node's events, after one cursor.
    found = asyncio.run(
        _with_store(settings, lambda s: s.forget_node(name, cursor_name(name if s.shared else None), now - after))
    )
    if found is None:
        raise InputError(f"no node named {name!r} (`returnpath nodes` lists them)")
    heartbeat_at, waiting = found
    silent = now - heartbeat_at
    if silent <= after:
        raise InputError(
            f"node {name!r} was heard from {silent:.0f} s ago and may be alive: forget a node only once it has "
            f"been silent for [node] takeover_after ({after:.0f} s)"
        )
    if waiting:
        raise InputError(
            f"{waiting} events of node {name!r} are in no log file yet: a live node writes them to its own "
            f"(it takes a node over after [node] takeover_after, {after:.0f} s, of silence); try again then"
        )
    print(f"returnpath: node {name!r} forgotten (silent for {silent:.0f} s; its events are all in log files)")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    import asyncio

    from .config import store_backend
    from .node.supervisor import serving_pid
    from .store.copy import copy_store

    if args.action == "backup":
        return _backup(args)
    if args.source is None:
        raise InputError("store copy needs --from: the store to copy")
    for option, url in (("--from", args.source), ("--to", args.target)):
        try:
            store_backend(url)
        except ConfigError as exc:  # it names [storage] url, which is not what was given here
            raise InputError(f"{option}{str(exc).removeprefix('storage.url')}") from None
    if args.source == args.target:
        raise InputError("--from and --to are the same store")
    if store_backend(args.source) == "sqlite":
        # A node that runs on the source goes on accepting mail the copy would not have.
        folder = Path(args.source[len("sqlite:///") :]).parent
        pid = serving_pid(folder)
        if pid is not None:
            raise InputError(
                f"a `returnpath serve` (pid {pid}) is running on {folder.resolve()}: stop it first, so that "
                "the copy holds everything it accepted"
            )
    if store_backend(args.target) == "postgresql":
        # (An SQLite target that a node serves is not empty: `serve` makes no store, `init` does, with an account.)
        asyncio.run(_refuse_a_served_target(args.target))

    def progress(table: str, rows: int) -> None:
        print(f"returnpath: {table}: {rows} row{'' if rows == 1 else 's'}", file=sys.stderr)

    copied = asyncio.run(copy_store(args.source, args.target, progress=progress))
    print(json.dumps(copied))
    return 0


async def _refuse_a_served_target(url: str) -> None:
    """`store copy` into a PostgreSQL database a node serves (started before the copy: `serve`
    makes the tables of an empty database): the copy replaces the bookkeeping rows the node
    writes (its heartbeat, its log cursor) under it, and brings mail and DKIM keys made with a
    secret the node did not check at its start. Refused while a node is alive on it."""
    from .config import Settings
    from .node.supervisor import node_alive
    from .store import open_store

    settings = Settings()
    settings.storage.url = url
    store = open_store(settings, node="store copy")
    await store.open()
    try:
        nodes = await store.nodes()
    finally:
        await store.close()
    now = time.time()
    # The nodes' own [node] heartbeat is not known here: the longest a live one may be silent.
    within = settings.node.takeover_after
    alive = [node for node in nodes if node_alive(node, within, now)]
    if alive:
        named = ", ".join(
            f"{node.name} (host {node.host}, pid {node.pid}, heartbeat {now - node.heartbeat_at:.0f} s ago)"
            for node in alive
        )
        raise InputError(
            f"{named} {'is' if len(alive) == 1 else 'are'} serving the target: stop every node on it first; a copy "
            f"goes only into a store that no node uses (one stopped on another machine counts for {within:.0f} s "
            "after its last heartbeat)"
        )


def _backup(args: argparse.Namespace) -> int:
    """`store backup`: the SQLite store, whole, into a new file, while serve may run."""
    from . import config
    from .store.sqlite.sqlite_database import backup

    settings = config.load(args.config)
    if args.source is not None:
        raise InputError("store backup takes no --from: it backs up the store of --config")
    if settings.store_backend != "sqlite":
        raise InputError(
            f"store backup copies an SQLite store; {settings.store_display} is PostgreSQL: "
            "back it up with PostgreSQL's own tools (pg_dump, or a base backup with WAL archiving)"
        )
    named = args.target[len("sqlite:///") :] if args.target.startswith("sqlite:///") else args.target
    if not named.strip():
        raise InputError("store backup --to: give the path of the new file to write the backup to")
    _store_is_there(settings)
    target, source = Path(named), settings.sqlite_path
    version = backup(source, target)
    print(json.dumps({"store": str(source), "backup": str(target.resolve()), "schema_version": version}))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from . import config
    from .node.supervisor import serve

    settings = config.load(args.config)
    _store_must_exist(settings)
    return serve(settings, Path(args.config))


def _store_must_exist(settings: Settings) -> None:
    """Refuse an SQLite store that is not there: opened, it would be made afresh, empty (no
    accounts, no queue), and a mistyped [storage] url or a lost file would go unnoticed
    until every client's login failed. `init` makes the store."""
    _store_is_there(settings)
    if settings.store_backend == "sqlite":
        _not_under_a_serve(settings)


def _store_is_there(settings: Settings) -> None:
    if settings.store_backend == "sqlite" and not settings.sqlite_path.exists():
        raise InputError(
            f"there is no store at {settings.sqlite_path} ([storage] url {settings.storage.url!r}): set [storage] url "
            "to the node's returnpath.db, or make a new data folder with `returnpath init`"
        )


def _not_under_a_serve(settings: Settings) -> None:
    """Refuse to migrate an SQLite store beneath a running `serve`: one that runs while a new
    wheel is installed is the earlier returnpath, which goes on writing the file as it knows it
    and whose restarted workers refuse the migrated file (and then serve stops)."""
    from .node.supervisor import serving_pid
    from .store.sqlite.sqlite_database import pending_migration

    pending = pending_migration(settings.sqlite_path)
    if pending is None:
        return
    pid = serving_pid(settings.path("."))
    if pid is not None:
        raise InputError(
            f"{settings.sqlite_path} is at schema version {pending[0]} and this returnpath migrates it to "
            f"{pending[1]}, but a `returnpath serve` (pid {pid}) runs on it, with the code that wrote it: stop that "
            "serve, back up the store, then run `returnpath migrate` (README: Backups and upgrades)"
        )


async def _with_store(settings: Settings, work: Any) -> Any:
    from .store import open_store

    _store_must_exist(settings)
    store = open_store(settings)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


async def _account(store: Store, name: str | None) -> Any:
    accounts = await store.accounts()
    if not accounts:
        raise InputError("there is no account yet (create one with `returnpath accounts add NAME`)")
    if name is None:
        return accounts[0]
    for account in accounts:
        if account.name == name or account.id == name:
            return account
    raise NotFound(f"no account named {name!r}")


def cmd_send(args: argparse.Namespace) -> int:
    import asyncio

    from . import config
    from .core.intake import build, split_option_headers
    from .core.model import Trace
    from .usecases.relay import Relay

    settings = config.load(args.config)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {args.file}: {exc.strerror}") from None
    # Files on disk usually have LF line endings; SMTP wants CRLF.
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    mime, headers = split_option_headers(raw)
    options: dict[str, Any] = dict(headers)
    if args.tag:
        options["tags"] = list(args.tag)
    submission = build(
        args.mail_from,
        args.to,
        mime,
        options,
        max_recipients=settings.smtp.submission.max_recipients,
        max_size=settings.smtp.submission.max_message_size,
        now=time.time(),
    )

    async def work(store: Store) -> Any:
        account = await _account(store, args.account)
        return await Relay(store, settings).submit(account, submission, Trace(None))

    accepted = asyncio.run(_with_store(settings, work))
    print(
        json.dumps(
            {"id": accepted.message_id, "recipients": {rcpt: delivery for rcpt, delivery in accepted.deliveries}}
        )
    )
    return 0


def _since(value: str | None) -> float | None:
    from . import config

    if value is None:
        return None
    age = config._DURATION.match(value)
    if age and age.group(2):
        return time.time() - float(age.group(1)) * config._UNITS[age.group(2)]
    from .core.intake import parse_time

    try:
        return parse_time(value, "--since")
    except InputError:
        raise InputError(f"--since {value!r}: use 'YYYY-MM-DD HH:MM:SS' (UTC) or an age like 2h") from None


def cmd_logs(args: argparse.Namespace) -> int:
    from . import config
    from .logs import format_record, json_line, read_records

    settings = config.load(args.config)
    path = settings.path(settings.logs.dir) / f"{args.log}.log"
    since = _since(args.since)
    if args.lines is not None and args.lines < 0:
        raise InputError(f"--lines {args.lines}: give 0 or more")
    # As tail -f: following a log of months shows its last lines, not all of it first.
    last = args.lines if args.lines is not None else 10 if args.follow and since is None else None
    if settings.store_backend == "postgresql" and not args.local:
        # Each node writes only its own workers' events to its files: every node's are in the store.
        return _logs_from_store(settings, args.log, since, args.follow, args.json, last)
    if not path.exists() and not args.follow:
        print(f"returnpath: {path} has no lines yet", file=sys.stderr)
        return 0
    try:
        for record in read_records(path, since=since, follow=args.follow, last=last):
            print(json_line(record) if args.json else format_record(record), flush=True)
    except BrokenPipeError:
        pass
    return 0


def _logs_from_store(
    settings: Settings, name: str, since: float | None, follow: bool, as_json: bool, last: int | None = None
) -> int:
    """A log's lines as the log writers of every node write them, read from the store; with
    `last`, only the last that many of what is there now."""
    import asyncio

    from .core.events import log_record
    from .logs import format_record, json_line

    kinds = [kind for kind, log_name in LOGS.items() if log_name == name]

    async def read(store: Store) -> None:
        after = 0 if last is None else await _before_last(store, kinds, since, last)
        while True:
            batch = await store.events(after=after, limit=1000, kinds=kinds, since=since)
            for stored in batch:
                record = log_record(stored.id, stored.event, stored.node)
                print(json_line(record) if as_json else format_record(record), flush=True)
            if batch:
                after = batch[-1].id
            elif not follow:
                return
            else:
                await asyncio.sleep(0.5)

    try:
        asyncio.run(_with_store(settings, read))
    except BrokenPipeError:
        pass
    return 0


async def _before_last(store: Store, kinds: Sequence[EventKind], since: float | None, count: int) -> int:
    """The event id after which the last `count` events of `kinds` (since `since`) are: read
    back from the newest id in windows that grow fourfold, so that the last lines of a long
    history cost a few reads, not all of it."""
    newest = await store.newest_event_id()
    window = max(1000, 10 * count)
    while True:
        start = max(0, newest - window)
        ids: list[int] = []
        after = start
        while batch := await store.events(after=after, limit=1000, kinds=kinds, since=since):
            ids += [stored.id for stored in batch]
            after = batch[-1].id
        if count == 0:
            return ids[-1] if ids else start
        if len(ids) >= count or start == 0:
            return ids[-count] - 1 if len(ids) >= count else 0
        window *= 4


def cmd_accounts(args: argparse.Namespace) -> int:
    """One action on accounts; prints JSON, one object per line."""
    import asyncio

    from . import config

    settings = config.load(args.config)
    if args.action != "list" and not args.name:
        raise InputError(f"accounts {args.action} needs a NAME")
    if args.sender_domains is not None and args.action not in ("add", "update"):
        raise InputError("--sender-domains goes with accounts add or accounts update")
    if (args.token or args.password) and args.action != "rotate":
        raise InputError("--token and --password go with accounts rotate")
    if args.force and args.action != "remove":
        raise InputError("--force goes with accounts remove")
    lines: list[Any] = asyncio.run(_with_store(settings, lambda store: _account_action(store, args)))
    for line in lines:
        print(json.dumps(line))
    return 0


async def _account_action(store: Store, args: argparse.Namespace) -> list[Any]:
    from .usecases import accounts

    domains = [] if args.sender_domains is None else [args.sender_domains]
    match args.action:
        case "add":
            return [(await accounts.create_account(store, args.name, time.time(), domains)).as_dict()]
        case "rotate":
            both = not (args.token or args.password)
            rotated = await accounts.rotate_credentials(
                store, args.name, token=both or args.token, password=both or args.password
            )
            return [rotated]
        case "disable" | "enable":
            return [accounts.account_json(await accounts.set_disabled(store, args.name, args.action == "disable"))]
        case "update":
            if args.sender_domains is None:
                raise InputError("accounts update needs --sender-domains (empty: any sender)")
            return [accounts.account_json(await accounts.set_sender_domains(store, args.name, domains))]
        case "remove":
            return [await accounts.remove_account(store, args.name, force=args.force)]
    return [accounts.account_json(account) for account in await store.accounts()]


def cmd_queue(args: argparse.Namespace) -> int:
    import asyncio

    from . import config

    settings = config.load(args.config)
    print(json.dumps(asyncio.run(_with_store(settings, lambda s: s.queue_summary()))))
    return 0


def cmd_delivery(args: argparse.Namespace) -> int:
    import asyncio

    from . import config
    from .http.views import delivery_json
    from .usecases.relay import Relay

    settings = config.load(args.config)

    async def work(store: Store) -> Any:
        account = await _account(store, args.account)
        return delivery_json(await Relay(store, settings).delivery(account, args.id))

    print(json.dumps(asyncio.run(_with_store(settings, work)), indent=2))
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    """One verdict per message; a file that cannot be read is reported and skipped."""
    from .bounces import recognise
    from .bounces.files import messages

    unreadable = read = 0
    for item in messages(args.paths):
        read += 1
        if item.raw is None:
            unreadable += 1
            print(f"returnpath: {item.label}: {item.error}", file=sys.stderr)
            continue
        verdict = recognise(item.raw, recipient=args.recipient)
        if args.json:
            print(json.dumps({"file": item.label, **verdict.as_dict()}, ensure_ascii=False))
            continue
        if not verdict.recipients:
            print(f"{item.label}: {verdict.kind.value}")
        for r in verdict.recipients:
            print(
                f"{item.label}: {verdict.kind.value} {r.address} {r.action or '-'} "
                f"{r.status or '-'} {r.code or '-'} {r.reason} {'hard' if r.hard else 'soft'}"
            )
    if not read:  # an empty folder (or one of hidden files only): say so rather than print nothing
        print(f"returnpath: no message in {', '.join(args.paths)}", file=sys.stderr)
    return 1 if unreadable else 0


def cmd_returned(args: argparse.Namespace) -> int:
    import asyncio

    from . import config

    settings = config.load(args.config)
    returned = asyncio.run(_with_store(settings, lambda s: s.returned(args.id.lower())))
    if returned is None:
        raise NotFound(f"no returned message {args.id!r}")
    if returned.purged_at is not None:
        raise NotFound(
            f"returned message {returned.id} was purged on {format_time(returned.purged_at)} UTC, "
            f"after [retention] returned_mail"
        )
    sys.stdout.buffer.write(returned.raw)
    sys.stdout.flush()
    return 0


def cmd_loops(args: argparse.Namespace) -> int:
    """One action on the account's feedback loops; prints JSON, one object per line."""
    import asyncio

    from . import config

    settings = config.load(args.config)
    done: tuple[list[dict[str, Any]], int] = asyncio.run(
        _with_store(settings, lambda store: _loop_action(store, settings, args))
    )
    lines, code = done
    for line in lines:
        print(json.dumps(line))
    return code


async def _loop_action(store: Store, settings: Settings, args: argparse.Namespace) -> tuple[list[dict[str, Any]], int]:
    """What to print, and the exit code."""
    from .http.views import loop_delivery_json, loop_json
    from .usecases.loops import Loops
    from .webhooks.h11poster import H11Poster

    account = await _account(store, args.account)
    loops = Loops(store, settings)
    match args.loop_action:
        case "add":
            loop = await loops.create(account, args.url, _event_names(args.events), args.format, active=not args.paused)
            return [loop_json(loop, secret=True)], 0
        case "list":
            return [loop_json(loop) for loop in await loops.list(account)], 0
        case "show":
            return [loop_json(await loops.get(account, args.id))], 0
        case "pause" | "resume":
            return [loop_json(await loops.update(account, args.id, active=args.loop_action == "resume"))], 0
        case "update":
            if args.url is None and args.events is None and args.format is None:
                raise InputError("loops update needs --url, --events or --format")
            loop = await loops.update(
                account,
                args.id,
                url=args.url,
                format=args.format,
                events=None if args.events is None else _event_names(args.events),
            )
            return [loop_json(loop)], 0
        case "remove":
            await loops.remove(account, args.id)
            return [{"removed": args.id}], 0
        case "rotate":
            return [loop_json(await loops.rotate_secret(account, args.id), secret=True)], 0
        case "test":
            poster = H11Poster(timeout=settings.webhooks.timeout)
            try:
                answer = await loops.test(account, args.id, poster, args.event)
            finally:
                await poster.close()
            return [{"status": answer.status, "ok": answer.ok, "error": answer.error}], 0 if answer.ok else 1
        case "posts" | "deliveries":
            items = await loops.deliveries(account, args.id, state=args.state, limit=args.limit, before=args.before)
            return [loop_delivery_json(view) for view in items], 0
        case "replay":
            if (args.item is None) == (not args.dead):
                raise InputError("loops replay needs an ITEM_ID or --dead (one of them)")
            if args.dead:
                return [{"replayed": await loops.replay_dead(account, args.id)}], 0
            await loops.replay(account, args.id, args.item)
            return [{"replayed": 1}], 0
    raise AssertionError(f"unknown loops action {args.loop_action!r}")  # argparse allows only the above


def _event_names(values: list[str]) -> list[str]:
    """`--events failure,bounce --events abuse` as one list of names."""
    return [name for value in values for name in value.replace(",", " ").split()]


# ---- sending domains (issue 11) ------------------------------------------------------------


def _domains_parser(sub: Any) -> None:
    p = sub.add_parser(
        "domains",
        help="sending domains: their DKIM keys, bounce domain and the DNS records to publish",
        description="sending domains: mail whose From: is in one is DKIM-signed and bounces to its bounce domain",
    )
    p.add_argument("action", choices=["list", "add", "show", "rotate", "remove", "check"])
    p.add_argument("domain", nargs="?", help="the domain (add, show, rotate, remove; check: all of them when left out)")
    p.add_argument(
        "--bounce-domain",
        metavar="DOMAIN",
        help="add: the domain of its envelope senders (default: the first label of bounce_domain under it)",
    )
    p.add_argument("--account", help="the account that owns the domain (default: the first one)")
    p.add_argument("--json", action="store_true", help="print JSON rather than zone-file lines")
    p.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the configuration file (default: $RETURNPATH_CONFIG or {DEFAULT_CONFIG})",
    )
    _doctor_parser(sub)


async def _check_rotation(
    store: Store, settings: Settings, domain: SendingDomain
) -> tuple[SendingDomain, dict[str, str | None]]:
    """`domains show` of a domain being rotated: switch if its new records are seen (as the
    supervisor would), else what is wrong with them, per selector."""
    from .dkim import lookup
    from .usecases import domains

    try:
        check = await domains.check_rotation(store, settings, domain, lookup.make_resolver(settings.dns), time.time())
    except lookup.LookupFailed as exc:
        return domain, {selector: f"not looked up: {exc}" for selector in domain.pending_selectors}
    return check.domain, {} if check.switched else check.problems


def cmd_domains(args: argparse.Namespace) -> int:
    """add and show print the records to publish; list one line per domain; remove what went."""
    import asyncio

    from . import config
    from .core import senders
    from .usecases import domains

    if args.action == "check":
        return _domains_check(args)
    settings = config.load(args.config)
    if args.action != "list" and not args.domain:
        raise InputError(f"domains {args.action} needs a DOMAIN")
    if args.bounce_domain is not None and args.action != "add":
        raise InputError("--bounce-domain goes with domains add")

    async def work(store: Store) -> list[str]:
        account = await _account(store, args.account)
        match args.action:
            case "add" | "show" | "rotate":
                checked: dict[str, str | None] = {}
                if args.action == "add":
                    domain = await domains.add_domain(
                        store, settings, account, args.domain, time.time(), args.bounce_domain
                    )
                elif args.action == "rotate":
                    domain = await domains.rotate_domain(store, settings, account, args.domain, time.time())
                else:
                    domain = await domains.find_domain(store, account, args.domain)
                    if domain.pending_selectors:
                        domain, checked = await _check_rotation(store, settings, domain)
                found = await domains.dns_records(store, settings, domain)
                if args.json:
                    shown = domains.domain_json(domain) | {"records": [r.as_dict() for r in found]}
                    return [json.dumps(shown | ({"pending_records": checked} if checked else {}))]
                return [
                    f"; publish for {domain.domain} (account {account.name}):",
                    *domains.zone_lines(found),
                    *domains.record_notes(settings),
                    *(f"; next key {s} not signing yet: {problem}" for s, problem in checked.items() if problem),
                    *domains.retired_lines(domain),
                ]
            case "remove":
                now = time.time()
                domain = await domains.remove_domain(store, account, args.domain, now)
                kept = senders.bounce_kept(settings.delivery.retry.lifetime)
                return [
                    json.dumps(
                        {
                            "removed": domain.domain,
                            # In the store now, sealed (usecases/domains.py): never used again.
                            "keys_kept_in": settings.store_display,
                            # DSNs of mail sent before the removal still come back there.
                            "bounce_domain_accepted_until": now + kept,
                        }
                    )
                ]
        listed = await store.domains(account.id)
        if args.json:
            return [json.dumps(domains.domain_json(d)) for d in listed]
        return [
            f"{d.domain}  bounce={d.bounce_domain}  selectors={','.join(d.selectors)}  {d.state.value}" for d in listed
        ]

    for line in asyncio.run(_with_store(settings, work)):
        print(line)
    return 0


# ---- domains check and doctor (issue 11) ---------------------------------------------------


def _doctor_parser(sub: Any) -> None:
    help = "check everything an operator must get right: DNS, TLS certificate, permissions, disk, clock, store"
    p = sub.add_parser("doctor", help=help, description=help + "; exit status 1 on any fail")
    p.add_argument("--json", action="store_true", help="one JSON object per check")
    p.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the configuration file (default: $RETURNPATH_CONFIG or {DEFAULT_CONFIG})",
    )


def _print_checks(checks: Sequence[Any], as_json: bool) -> int:
    """The checklist: one line per check (its fix indented below a warn or fail); 1 on any fail."""
    from .checks import failed

    for check in checks:
        if as_json:
            print(json.dumps(check.as_dict()))
            continue
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[check.status.value]
        print(f"[{mark}] {check.what}: {check.detail}")
        if check.fix:
            print(f"       fix: {check.fix}")
    return 1 if failed(list(checks)) else 0


def _domains_check(args: argparse.Namespace) -> int:
    """`domains check [DOMAIN]`: the DNS of one sending domain, or of every one (of --account)."""
    import asyncio

    from . import config
    from .usecases.doctor import domain_report

    settings = config.load(args.config)
    if args.bounce_domain is not None:
        raise InputError("--bounce-domain goes with domains add")

    async def work(store: Store) -> Any:
        account = await _account(store, args.account) if args.account else None
        return await domain_report(store, settings, args.domain, account.id if account else None)

    return _print_checks(asyncio.run(_with_store(settings, work)), args.json)


def cmd_doctor(args: argparse.Namespace) -> int:
    import asyncio

    from . import config
    from .usecases.doctor import doctor_report

    settings = config.load(args.config)
    return _print_checks(asyncio.run(doctor_report(settings, time.time())), args.json)


COMMANDS = {
    "init": cmd_init,
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "nodes": cmd_nodes,
    "store": cmd_store,
    "send": cmd_send,
    "logs": cmd_logs,
    "accounts": cmd_accounts,
    "queue": cmd_queue,
    "delivery": cmd_delivery,
    "parse": cmd_parse,
    "returned": cmd_returned,
    "loops": cmd_loops,
    "domains": cmd_domains,
    "doctor": cmd_doctor,
}


if __name__ == "__main__":
    sys.exit(main())
