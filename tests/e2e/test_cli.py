"""The `returnpath` command beside a running `serve`: send, logs (human, --json, --since,
--follow), queue, delivery, accounts; and its errors: a bad configuration file is exit code 2
with a message that says what is wrong, and `init` never overwrites."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, run_cli, wait_for
from tests.trace import without_trace

# An .eml file as editors write it: LF line endings.
EML = (
    b"From: Ops <ops@example.com>\n"
    b"To: a@example.net, b@example.org\n"
    b"Subject: from the command line\n"
    b"X-Returnpath-Tags: cli\n"
    b"\n"
    b"Sent with returnpath send.\n"
)
ON_THE_WIRE = (
    b"From: Ops <ops@example.com>\r\n"
    b"To: a@example.net, b@example.org\r\n"
    b"Subject: from the command line\r\n"
    b"\r\n"
    b"Sent with returnpath send.\r\n"
)


@pytest.fixture(scope="module")
def server(make_module_server: ServerFactory, module_sink: Sink) -> Server:
    return make_module_server(workers=1, delivery__routes={"*": module_sink.route})


@pytest.fixture(scope="module")
def sent(server: Server, module_sink: Sink, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A message sent with `returnpath send` to two recipients, delivered."""
    eml = tmp_path_factory.mktemp("eml") / "message.eml"
    eml.write_bytes(EML)
    result = server.cli("send", "--from", "ops@example.com", "--to", "a@example.net", "--to", "b@example.org", str(eml))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    server.wait_final(answer["recipients"].values())
    server.wait_logged("deliveries", answer["recipients"].values())
    return answer  # type: ignore[no-any-return]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---- send, and what the other commands show of it -------------------------------------------


def test_send_delivers_through_the_running_server(server: Server, module_sink: Sink, sent: dict[str, Any]) -> None:
    ids = sent["recipients"]
    assert list(ids) == ["a@example.net", "b@example.org"]
    for recipient, delivery_id in ids.items():
        (transaction,) = [t for t in module_sink.transactions if t.rcpt_to == [recipient]]
        assert server.token_of(transaction.mail_from) == delivery_id
        assert without_trace(transaction.data, "") == ON_THE_WIRE
        view = server.delivery(delivery_id)
        assert (view["state"], view["message"], view["sender"], view["tags"]) == (
            "delivered",
            sent["id"],
            "ops@example.com",
            ["cli"],
        )


def test_delivery_shows_what_the_api_shows(server: Server, sent: dict[str, Any]) -> None:
    delivery_id = sent["recipients"]["a@example.net"]
    shown = json.loads(ok(server.cli("delivery", delivery_id)))
    assert shown == server.delivery(delivery_id)
    assert shown["state"] == "delivered"
    assert [(a["state"], a["code"]) for a in shown["attempts"]] == [("eom", 250)]

    unknown = server.cli("delivery", "0" * 26)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"returnpath: no delivery {'0' * 26!r} in this account"


def test_queue_counts_deliveries_by_state(server: Server, sent: dict[str, Any]) -> None:
    summary = json.loads(ok(server.cli("queue")))
    assert set(summary) == {"queued", "deferred", "delivered", "failed"}
    assert summary["delivered"] >= 2
    assert summary["queued"] == summary["deferred"] == 0


def test_logs_human_and_json(server: Server, sent: dict[str, Any]) -> None:
    ids = sent["recipients"]
    records = [json.loads(line) for line in ok(server.cli("logs", "deliveries", "--json")).splitlines()]
    assert records == server.log("deliveries")
    assert {r["id"] for r in records} >= set(ids.values())

    human = ok(server.cli("logs", "deliveries")).splitlines()
    assert len(human) == len(records)
    for recipient, delivery_id in ids.items():
        (line,) = [line for line in human if delivery_id in line]
        record = next(r for r in records if r["id"] == delivery_id)
        assert line.startswith(f"{record['time']}  delivery  {delivery_id}  {recipient}  at eom  250 2.0.0  ")
        assert not line.lstrip().startswith("{")


def test_logs_escape_control_and_bidi_characters(make_server: ServerFactory) -> None:
    """A remote server's reply may hold U+2028, U+202E or C1 controls; on a terminal they would
    break the line or show the rest of it reversed. (Addresses and tags with them are refused at
    submission.) The log file and `logs` hold them escaped, in both forms."""
    hostile = "line\u2028break\u202eevil\u0085"
    with Sink() as refusing:
        refusing.refuse("rcpt", f"550 5.1.1 no such user {hostile}")
        server = make_server(workers=1, delivery__routes={"*": refusing.route})
        recipient = "gone@example.net"
        with server.api() as api:
            refused = api.post(
                "/v1/send", json={"recipient": recipient, "mime": "From: ops@example.com\n\nhi\n", "tags": [hostile]}
            )
        assert (refused.status_code, refused.json()["field"]) == (400, "tags")
        answer = server.send_http({"recipient": recipient, "mime": "From: ops@example.com\n\nhi\n", "tags": ["t"]})
        delivery_id = answer["recipients"][recipient]
        server.wait_logged("failures", [delivery_id])
    written = (server.data / "logs" / "failures.log").read_text(encoding="utf-8")
    assert "\u2028" not in written and "\u202e" not in written and "\u0085" not in written  # the file too
    escaped = "line\\u2028break\\u202eevil\\u0085"

    (human,) = [line for line in ok(server.cli("logs", "failures")).split("\n") if delivery_id in line]
    assert f"{delivery_id}  {recipient}  at rcpt  550 5.1.1  5.1.1 no such user {escaped}" in human
    assert "\u2028" not in human and "\u202e" not in human and "\u0085" not in human
    (as_json,) = [line for line in ok(server.cli("logs", "failures", "--json")).split("\n") if delivery_id in line]
    assert f'no such user {escaped}"' in as_json
    record = json.loads(as_json)
    assert record["description"].endswith(f"no such user {hostile}")


def test_logs_since(server: Server, sent: dict[str, Any]) -> None:
    recent = ok(server.cli("logs", "deliveries", "--json", "--since", "1h")).splitlines()
    assert {json.loads(line)["id"] for line in recent} >= set(sent["recipients"].values())
    assert ok(server.cli("logs", "deliveries", "--json", "--since", "2099-01-01 00:00:00")) == ""

    bad = server.cli("logs", "deliveries", "--since", "yesterday")
    assert bad.returncode == 1
    assert "--since 'yesterday'" in bad.stderr


def test_logs_lines_shows_the_last_ones(server: Server, sent: dict[str, Any]) -> None:
    everything = [json.loads(line)["id"] for line in ok(server.cli("logs", "deliveries", "--json")).splitlines()]
    assert set(everything) >= set(sent["recipients"].values())
    for count in ("0", "1", "500"):
        last = ok(server.cli("logs", "deliveries", "--json", "--lines", count)).splitlines()
        assert [json.loads(line)["id"] for line in last] == everything[len(everything) - int(count) :]
    bad = server.cli("logs", "deliveries", "--lines", "-1")
    assert bad.returncode == 1 and "--lines -1: give 0 or more" in bad.stderr


@contextlib.contextmanager
def _following(server: Server, *options: str) -> Iterator[list[dict[str, Any]]]:
    """`returnpath logs deliveries --follow --json` with `options`, running: the records it has
    printed so far, read by a thread as they come."""
    command = [sys.executable, "-m", "returnpath.cli", "logs", "deliveries", "--follow", "--json", *options]
    follower = subprocess.Popen(
        [*command, "--config", str(server.config_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert follower.stdout is not None
    lines: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(line) for line in follower.stdout))  # type: ignore[union-attr]
    reader.start()
    try:
        yield lines
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(10)
        reader.join(10)
        follower.stdout.close()


def test_logs_follow_starts_with_the_last_lines_as_tail_does(server: Server, sent: dict[str, Any]) -> None:
    everything = [json.loads(line)["id"] for line in ok(server.cli("logs", "deliveries", "--json")).splitlines()]
    with _following(server, "-n", "1") as lines:
        wait_for(lambda: lines, what="the last line")
        answer = server.send_http({"recipient": "tail@example.net", "mime": "From: ops@example.com\n\nhi\n"})
        new_id = answer["recipients"]["tail@example.net"]
        wait_for(lambda: any(r["id"] == new_id for r in lines), what="the new line")
    assert [r["id"] for r in lines] == [everything[-1], new_id]


def test_logs_follow_shows_new_lines(server: Server, sent: dict[str, Any]) -> None:
    with _following(server, "--lines", "1000") as lines:
        # The lines already there come first; then, while it waits, a new delivery's line.
        wait_for(lambda: {r["id"] for r in lines} >= set(sent["recipients"].values()), what="the old lines")
        answer = server.send_http(
            {"recipient": "followed@example.net", "mime": "From: ops@example.com\nSubject: follow\n\nhi\n"}
        )
        new_id = answer["recipients"]["followed@example.net"]
        wait_for(lambda: any(r["id"] == new_id for r in lines), what="the new line")
    (new,) = [r for r in lines if r["id"] == new_id]
    assert (new["event"], new["recipient"], new["state"], new["code"]) == (
        "delivery",
        "followed@example.net",
        "eom",
        250,
    )


def test_logs_of_an_empty_log(server: Server) -> None:
    result = server.cli("logs", "failures")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == f"returnpath: {server.data.resolve() / 'logs' / 'failures.log'} has no lines yet"


# ---- accounts --------------------------------------------------------------------------------


def test_accounts_add_and_list(server: Server) -> None:
    created = json.loads(ok(server.cli("accounts", "add", "billing")))
    assert set(created) == {"account", "name", "api_token", "smtp_username", "smtp_password"}
    assert created["name"] == "billing"
    assert created["account"] != server.credentials["account"]

    listed = [json.loads(line) for line in ok(server.cli("accounts", "list")).splitlines()]
    by_name = {entry["name"]: entry for entry in listed}
    assert by_name["default"]["account"] == server.credentials["account"]
    assert by_name["billing"] == {
        "account": created["account"],
        "name": "billing",
        "smtp_username": created["smtp_username"],
        "disabled": False,
        "sender_domains": [],
    }
    # Secrets are printed once, at creation, and never again.
    listing = server.cli("accounts", "list").stdout
    assert created["api_token"] not in listing and created["smtp_password"] not in listing

    missing = server.cli("accounts", "add")
    assert missing.returncode == 1
    assert "accounts add needs a NAME" in missing.stderr


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such configuration file"),
        ("this is = = not toml", "not valid TOML"),
        ('colour = "blue"\n', "unknown setting(s) in the top level: colour"),
        ('[delivery.retry]\nfirst = "soon"\n', "delivery.retry.first = 'soon': expected seconds or a duration"),
        ('secret = "short"\n', "secret must be at least 16 characters"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["queue"], ["logs", "deliveries"]])
def test_a_bad_configuration_file_is_exit_code_2(
    tmp_path: Path, command: list[str], content: str | None, message: str
) -> None:
    path = tmp_path / "returnpath.toml"
    if content is not None:
        path.write_text(content)
    result = run_cli(*command, "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("returnpath: configuration error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def refused_at_start(result: subprocess.CompletedProcess[str], message: str) -> None:
    """`serve` stopped before it started, saying why: exit code 2, no traceback, and not called
    a configuration error (the file is right; the machine is not ready for it)."""
    assert result.returncode == 2
    assert f"returnpath: {message}" in result.stderr, result.stderr
    assert "configuration error" not in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_second_server_on_the_same_data_folder(server: Server) -> None:
    assert server.process is not None
    lock = server.data / "returnpath.lock"
    assert lock.read_text() == f"{server.process.pid}\n"
    refused_at_start(
        server.cli("serve"),
        f"another `returnpath serve` (pid {server.process.pid}) is running on {server.data.resolve()}: stop it first",
    )
    # The refused one leaves the running one's pid, which logrotate's postrotate signals (README.md).
    assert lock.read_text() == f"{server.process.pid}\n"


@pytest.mark.parametrize(
    ("setting", "change"),
    [("[smtp.submission] listen", "smtp__submission__listen"), ("[http] listen", "http__listen")],
)
def test_serve_says_when_it_cannot_listen(make_server: ServerFactory, setting: str, change: str) -> None:
    """A port in use is not a mistake in the file: the message names the setting and the reason."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        other = make_server(workers=1, start=False, **{change: taken})
        result = other.cli("serve")
    refused_at_start(
        result,
        f"{setting} = '{taken}': cannot listen there: Address already in use; another program "
        "listens there (`ss -ltnp` names it): stop it, or set another port\n",
    )


def test_serve_says_when_it_cannot_make_the_log_folder(make_server: ServerFactory, tmp_path: Path) -> None:
    """A mistaken [logs] dir is said at start, not found at the first event as a stalled writer."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    server = make_server(workers=1, start=False, logs__dir=str(in_the_way))
    refused_at_start(
        server.cli("serve"),
        f"[logs] dir = '{in_the_way}': cannot make the folder {in_the_way}: File exists; "
        "name a folder this user may write\n",
    )


def test_serve_without_a_certificate_says_so_once(make_server: ServerFactory) -> None:
    """No STARTTLS certificate (a node set up from a copied returnpath.toml alone): one warning
    from `serve`, not one more from each of every worker's two SMTP servers."""
    server = make_server(workers=2, smtp__submission__tls_cert="missing-cert.pem")
    assert server.stderr().count("no STARTTLS: ") == 1, server.stderr()


def test_logs_help_names_every_log() -> None:
    assert "read a log: bounces, deliveries or failures\n" in run_cli("logs", "--help").stdout
    assert "read a log: bounces, deliveries or failures" in run_cli("--help").stdout


def test_init_refuses_to_overwrite(server: Server) -> None:
    before = server.config_path.read_bytes()
    result = run_cli("init", "--data", str(server.data), "--bounce-domain", "other.example.test")
    assert result.returncode == 2
    assert f"{server.config_path} exists already; init will not overwrite it" in result.stderr
    assert result.stdout == ""  # no new account, no credentials
    assert server.config_path.read_bytes() == before


def test_init_refuses_a_data_folder_whose_store_is_there(tmp_path: Path) -> None:
    """The configuration lost, `init` run again on the folder: a new secret would leave the
    store's DKIM keys unopenable and its tracking addresses unrecognised; nothing is written."""
    data = tmp_path / "rp-data"
    first = run_cli("init", "--data", str(data), "--bounce-domain", "bounces.example.test")
    assert first.returncode == 0, first.stderr
    (data / "returnpath.toml").unlink()
    store = (data / "returnpath.db").read_bytes()
    again = run_cli("init", "--data", str(data), "--bounce-domain", "bounces.example.test")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == (
        f"returnpath: {data / 'returnpath.db'} exists already: to go on with that store, put back the "
        "returnpath.toml it was made with (its secret opens the DKIM keys and checks the tracking addresses); "
        "to start afresh, move the file away\n"
    )
    assert not (data / "returnpath.toml").exists()
    assert (data / "returnpath.db").read_bytes() == store


def test_a_store_that_is_not_there_is_not_made_afresh(tmp_path: Path) -> None:
    """The store file moved away, or [storage] url mistyped: `serve` and the commands that read
    the store refuse, naming the path, instead of making an empty store (no accounts: every
    client's login would fail, with nothing to say why)."""
    data = tmp_path / "rp-data"
    assert run_cli("init", "--data", str(data), "--bounce-domain", "bounces.example.test").returncode == 0
    (data / "returnpath.db").rename(tmp_path / "elsewhere.db")
    config = str(data / "returnpath.toml")
    for command in (("serve",), ("accounts", "list"), ("queue",), ("migrate",)):
        result = run_cli(*command, "--config", config)
        assert result.returncode == 1 and result.stdout == "", (command, result.stderr)
        assert result.stderr.startswith(f"returnpath: there is no store at {data / 'returnpath.db'} "), result.stderr
    assert not (data / "returnpath.db").exists()


@pytest.mark.parametrize("hostname", ["localhost", "vm"])
def test_init_warns_of_a_hostname_the_world_cannot_look_up(tmp_path: Path, hostname: str) -> None:
    """Where the system's resolver names the host "localhost" (its name on 127.0.0.1 in
    /etc/hosts, as in many containers), that is what `init` takes by default: remote servers
    then meet it in EHLO and in Message-IDs. It says so at once, not only in `doctor`."""
    data = tmp_path / "rp-data"
    result = run_cli("init", "--data", str(data), "--bounce-domain", "bounces.example.test", "--hostname", hostname)
    assert result.returncode == 0, result.stderr
    assert f"returnpath: hostname {hostname!r} is no name the world can look up" in result.stderr
    assert f"hostname in {data / 'returnpath.toml'}" in result.stderr
    assert f'hostname = "{hostname}"' in (data / "returnpath.toml").read_text()


def test_init_is_quiet_about_a_fully_qualified_hostname(tmp_path: Path) -> None:
    data = tmp_path / "rp-data"
    result = run_cli(
        "init", "--data", str(data), "--bounce-domain", "bounces.example.test", "--hostname", "mail.example.test"
    )
    assert result.returncode == 0 and "no name the world can look up" not in result.stderr


def test_init_says_when_it_cannot_make_the_data_folder(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    for data, message in (
        ("afile", "{} is a file, not a folder: give --data the path of a folder"),
        ("afile/rp-data", "cannot create the data folder {}: Not a directory; give --data another path"),
    ):
        path = str(tmp_path / data)
        result = run_cli("init", "--data", path, "--bounce-domain", "bounces.example.test")
        assert result.returncode == 1
        assert result.stderr.startswith("returnpath: " + message.format(path)), result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_init_with_a_bad_option_leaves_no_folder_behind(tmp_path: Path) -> None:
    data = tmp_path / "rp-data"
    result = run_cli("init", "--data", str(data), "--bounce-domain", "localhost")
    assert result.returncode == 2
    assert "bounce_domain = 'localhost': expected a domain name" in result.stderr
    assert not data.exists()
    # A store URL of no known kind is blamed on the option given, not on a setting of a file
    # that does not exist yet.
    result = run_cli("init", "--data", str(data), "--bounce-domain", "bounces.example.test", "--store", "mysql://x@y/z")
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr
        == "returnpath: --store 'mysql://x@y/z': expected sqlite:///PATH or postgresql://USER@HOST/DATABASE\n"
    )
    assert not data.exists()


def test_a_store_url_that_is_no_url_is_one_line_naming_it(tmp_path: Path) -> None:
    """A PostgreSQL URL that urllib cannot split (an unclosed IPv6 bracket) is refused like any
    other wrong URL, in one line naming where it was given, its password hidden: before, the
    code that hides the password raised itself, and every command ended in a traceback."""
    url = "postgresql://rp:hunter2@[::1/returnpath"
    shown = "'postgresql://rp:***@[::1/returnpath'"
    config = tmp_path / "returnpath.toml"
    config.write_text(f'bounce_domain = "bounces.example.test"\nsecret = "{"s" * 32}"\n[storage]\nurl = "{url}"\n')
    for command, code, start in (
        (["queue", "--config", str(config)], 2, f"returnpath: configuration error: storage.url {shown}: "),
        (["nodes", "--config", str(config)], 2, f"returnpath: configuration error: storage.url {shown}: "),
        (["migrate", "--config", str(config)], 2, f"returnpath: configuration error: storage.url {shown}: "),
        (["init", "--data", str(tmp_path / "d"), "--bounce-domain", "b.example.test", "--store", url], 1,
         f"returnpath: --store {shown}: "),
        (["store", "copy", "--from", url, "--to", f"sqlite:///{tmp_path / 'c.db'}"], 1, f"returnpath: --from {shown}: "),
        (["store", "copy", "--from", f"sqlite:///{tmp_path / 'c.db'}", "--to", url], 1, f"returnpath: --to {shown}: "),
    ):  # fmt: skip
        result = run_cli(*command)
        assert result.returncode == code, (command, result.stderr)
        assert result.stderr.startswith(start), (command, result.stderr)
        assert result.stderr.count("\n") == 1 and "hunter2" not in result.stderr, result.stderr
        assert "Invalid IPv6 URL" in result.stderr and result.stdout == ""
    assert not (tmp_path / "d").exists() and not (tmp_path / "c.db").exists()


def test_another_programs_sqlite_file_is_left_alone(tmp_path: Path) -> None:
    """A [storage] url (or `store copy --to`/`--from`) that names another program's SQLite
    file, by a slip of the path: returnpath says it is not a returnpath database and writes
    nothing into it, as it refuses such a PostgreSQL database. Before, any command (`queue`)
    created returnpath's eighteen tables beside the other program's, without a word."""
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ann')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    config = tmp_path / "returnpath.toml"
    config.write_text(
        f'bounce_domain = "bounces.example.test"\nsecret = "{"s" * 32}"\n[storage]\nurl = "sqlite:///{other}"\n'
    )
    made = run_cli("init", "--data", str(tmp_path / "node"), "--bounce-domain", "bounces.example.test")
    assert made.returncode == 0, made.stderr
    store = f"sqlite:///{tmp_path / 'node' / 'returnpath.db'}"
    said = f"{other} is not a returnpath database: it has tables (users) but none of returnpath's\n"
    for command, start in (
        (["queue", "--config", str(config)], "returnpath: "),
        (["migrate", "--config", str(config)], "returnpath: "),
        (["serve", "--config", str(config)], "returnpath: "),
        (["store", "copy", "--from", store, "--to", f"sqlite:///{other}"], "returnpath: "),
        (["store", "copy", "--from", f"sqlite:///{other}", "--to", f"sqlite:///{tmp_path / 'copy.db'}"],
         "returnpath: the source "),
    ):  # fmt: skip
        result = run_cli(*command)
        assert result.returncode in (1, 2) and result.stdout == "", (command, result)
        # (serve may warn first that others can read the folder: not what is tested here)
        last = result.stderr.splitlines(keepends=True)[-1]
        assert last.startswith(start) and last.endswith(said), (command, result.stderr)
        assert "Traceback" not in result.stderr and "configuration error" not in result.stderr
        assert other.read_bytes() == before, command
    assert not (tmp_path / "copy.db").exists()


def test_store_copy_given_a_data_folder_names_the_file_meant(tmp_path: Path) -> None:
    """`store copy --from sqlite:///old` for the node's data folder `old`: before, the copy
    said that old did not exist (it does), and as the target that SQLite was unable to open
    the database file. Now either says that a store is a file, and which one was likely meant."""
    made = run_cli("init", "--data", str(tmp_path / "old"), "--bounce-domain", "bounces.example.test")
    assert made.returncode == 0, made.stderr
    (tmp_path / "empty").mkdir()
    store = f"sqlite:///{tmp_path / 'old' / 'returnpath.db'}"
    for args, said in (
        (["--from", f"sqlite:///{tmp_path / 'old'}", "--to", f"sqlite:///{tmp_path / 'copy.db'}"],
         f"the source {tmp_path / 'old'} is a folder; a store is a file: sqlite:///{tmp_path / 'old' / 'returnpath.db'}"),
        (["--from", store, "--to", f"sqlite:///{tmp_path / 'empty'}"],
         f"the target {tmp_path / 'empty'} is a folder; a store is a file: sqlite:///{tmp_path / 'empty' / 'returnpath.db'}"),
    ):  # fmt: skip
        result = run_cli("store", "copy", *args)
        assert result.returncode == 1 and result.stdout == "", result
        assert result.stderr == f"returnpath: {said}, if it is a node's data folder\n", result.stderr
    assert not (tmp_path / "copy.db").exists() and not list((tmp_path / "empty").iterdir())


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """`returnpath parse DIR | head`: the output's reader closes the pipe before the end. No
    traceback, and the exit status of a command that did its work."""
    message = tmp_path / "dsn.eml"
    message.write_bytes(
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    )
    read, write = os.pipe()
    os.close(read)  # gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "returnpath.cli", "parse", str(message)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_store_copy_to_another_sqlite_file(make_server: ServerFactory, module_sink: Sink, tmp_path: Path) -> None:
    """README: `store copy --from URL --to URL`, with the node stopped first; a relative
    sqlite:///PATH is relative to the current folder, and the copy is a store the CLI reads
    like the original."""
    server = make_server(workers=1, delivery__routes={"*": module_sink.route})
    answer = server.send_http({"recipient": "copied@example.net", "mime": "From: ops@example.com\n\nhi\n"})
    delivery_id = answer["recipients"]["copied@example.net"]
    server.wait_final([delivery_id])
    before = server.delivery(delivery_id)
    source = f"sqlite:///{server.data / 'returnpath.db'}"

    def copy(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "returnpath.cli", "store", "copy", "--from", source, "--to", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert server.process is not None
    running = copy("sqlite:///copy.db")
    assert running.returncode == 1
    assert running.stderr == (
        f"returnpath: a `returnpath serve` (pid {server.process.pid}) is running on {server.data.resolve()}: "
        "stop it first, so that the copy holds everything it accepted\n"
    )
    assert not (tmp_path / "copy.db").exists()

    assert server.stop() == 0
    result = copy("sqlite:///copy.db")
    assert result.returncode == 0, result.stderr
    copied = json.loads(result.stdout)
    assert (copied["accounts"], copied["deliveries"]) == (1, 1)
    config = tmp_path / "copy.toml"
    config.write_text(
        server.config_path.read_text().replace(
            'url = "sqlite:///returnpath.db"', f'url = "sqlite:///{tmp_path / "copy.db"}"'
        )
    )
    assert json.loads(ok(run_cli("delivery", delivery_id, "--config", str(config)))) == before

    again = copy("sqlite:///copy.db")
    assert again.returncode == 1 and "already holds" in again.stderr
    # Both stores are URLs: copy reads no --config (only backup does), and the help says so.
    assert "store copy reads none" in " ".join(run_cli("store", "--help").stdout.split())
    wrong = copy("mysql://rp:secret@db/rp")
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "returnpath: --to 'mysql://rp:***@db/rp': expected sqlite:///PATH or postgresql://USER@HOST/DATABASE\n"
    )
