"""A real `returnpath serve` for end-to-end tests: made with `returnpath init`, configured
to route mail to test sinks, started as a subprocess and stopped (or killed) like in life.

    with Sink() as sink, Server(tmp_path, delivery__routes={"*": sink.route}) as server:
        accepted = server.submit_smtp("app@example.com", ["a@example.net"], MESSAGE)
        server.wait_final(accepted.values())
        assert server.delivery(accepted["a@example.net"])["state"] == "delivered"

Settings are changed as `section__key=value` keyword arguments (`workers=1`,
`delivery__retry__first=config.Duration(0.3)`); the file `init` wrote is rewritten with them
and with free loopback ports.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

import httpx

from returnpath import config
from returnpath.core import tokens

BOUNCE_DOMAIN = "bounces.example.test"
FINAL = ("delivered", "failed")

# The lines of a 250 reply to the end of DATA (smtplib joins them with LF): one per recipient
# when there are several, else one line naming the single delivery.
_QUEUED_LINE = re.compile(r"^2\.0\.0 <(?P<recipient>[^>]+)> delivery (?P<id>[0-9a-z]{26})$")
_QUEUED_ONE = re.compile(r"^2\.0\.0 OK queued as (?P<message>[0-9a-z]{26}) delivery (?P<id>[0-9a-z]{26})$")
_QUEUED_LAST = re.compile(r"^2\.0\.0 OK queued as (?P<message>[0-9a-z]{26})$")


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port that nothing listens on, outside the kernel's ephemeral range.

    Outside, because a server restarted on the same ports must find them free: a port from
    the ephemeral range may meanwhile be the local end of some client's connection.
    """
    ephemeral = _ephemeral_ports()
    while True:
        port = random.randrange(10000, 65536)
        if port in ephemeral:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def wait_for(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll `check` until it returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(interval)


def queued_ids(reply: bytes | str, recipients: list[str]) -> dict[str, str]:
    """The delivery id of each recipient, read from the 250 reply to the end of DATA.

    Asserts the reply's exact shape: one line per recipient, in order, then the message id.
    """
    text = reply.decode() if isinstance(reply, bytes) else reply
    lines = text.split("\n")
    if len(recipients) == 1:
        match = _QUEUED_ONE.match(lines[0])
        assert len(lines) == 1 and match, text
        return {recipients[0]: match["id"]}
    assert len(lines) == len(recipients) + 1, text
    assert _QUEUED_LAST.match(lines[-1]), text
    found = {}
    for line in lines[:-1]:
        match = _QUEUED_LINE.match(line)
        assert match, text
        found[match["recipient"]] = match["id"]
    assert list(found) == recipients, text
    return found


def unverified_tls() -> ssl.SSLContext:
    """A client context for the self-signed certificate `init` made."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Server:
    """A returnpath data folder and the `serve` process running on it."""

    def __init__(self, data: Path, *, store: str | None = None, like: Server | None = None, **changes: Any) -> None:
        """A new data folder made by `init` (on `store`, a store URL, when given), or, with
        `like`, a second node of `like`'s store: its configuration copied, as the README says."""
        self.data = data
        self.config_path = data / "returnpath.toml"
        if like is not None:
            data.mkdir(parents=True)
            self.credentials: dict[str, str] = like.credentials
            settings = config.load(like.config_path)
            settings.base = data
            for name in ("tls_cert", "tls_key"):
                source = like.settings.path(getattr(settings.smtp.submission, name))
                (data / source.name).write_bytes(source.read_bytes())
                setattr(settings.smtp.submission, name, source.name)
        else:
            extra = ["--store", store] if store else []
            result = run_cli(
                "init",
                "--data",
                str(data),
                "--bounce-domain",
                BOUNCE_DOMAIN,
                "--hostname",
                "relay.example.test",
                *extra,
            )
            assert result.returncode == 0, result.stderr
            self.credentials = json.loads(result.stdout)
            settings = config.load(self.config_path)
        settings.smtp.submission.listen = f"127.0.0.1:{free_port()}"
        settings.smtp.inbound.listen = f"127.0.0.1:{free_port()}"
        settings.http.listen = f"127.0.0.1:{free_port()}"
        settings.delivery.poll_interval = config.Duration(0.2)
        # The tests' disk may have less free than the 1 GB a server keeps for submissions.
        settings.smtp.inbound.reserve_free_space = config.Size(1024 * 1024)
        for dotted, value in changes.items():
            target: Any = settings
            *path, last = dotted.split("__")
            for part in path:
                target = getattr(target, part)
            setattr(target, last, value)
        self.settings = settings
        self.config_path.write_text(config.render(settings))
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path = data / "serve.stderr"
        self._ready_count = 0

    # ---- running ---------------------------------------------------------------------------

    def start(self) -> Server:
        with open(self.stderr_path, "ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "returnpath.cli", "serve", "--config", str(self.config_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )  # a process group of its own
        # Every worker must be up, not just the first.
        try:
            wait_for(
                lambda: (
                    self.stderr_path.read_bytes().count(b" ready ") >= self._ready_count + self.workers or self._died()
                ),
                what="all workers to be ready",
            )
        except AssertionError as exc:  # say what the server said meanwhile: why it is not ready
            raise AssertionError(f"{exc}; its stderr:\n{self.stderr()[-4000:]}") from None
        self._ready_count += self.workers
        assert self.process.poll() is None, self.stderr()
        return self

    @property
    def workers(self) -> int:
        return self.settings.worker_count

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as Ctrl-C or a service manager would stop it; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C in the terminal: SIGINT to the whole process group, workers included."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def worker_pids(self) -> list[int]:
        """The supervisor's children: its worker processes."""
        assert self.process is not None
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def kill(self) -> None:
        """SIGKILL the supervisor; its workers die with it (PR_SET_PDEATHSIG), and this returns
        once they have, so that a `serve` started again at once finds its ports free."""
        assert self.process is not None
        workers = self.worker_pids()
        self.process.kill()
        self.process.wait()
        self.process = None
        wait_for(lambda: not any(_running(pid) for pid in workers), timeout=30, what="the killed server's workers gone")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.kill()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    # ---- reading what it wrote -------------------------------------------------------------

    def log(self, name: str) -> list[dict[str, Any]]:
        path = self.data / "logs" / f"{name}.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def log_of(self, name: str, delivery_id: str) -> list[dict[str, Any]]:
        return [record for record in self.log(name) if record["id"] == delivery_id]

    def cli(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "--config", str(self.config_path), input=input)

    def queue(self) -> dict[str, int]:
        result = self.cli("queue")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def token_of(self, envelope_sender: str) -> str | None:
        """The delivery id in a tracking envelope address, or None if it is not one of ours."""
        local, _, domain = envelope_sender.rpartition("@")
        if domain != BOUNCE_DOMAIN:
            return None
        return tokens.decode(self.settings.secret_bytes, local)

    # ---- the doors -------------------------------------------------------------------------

    @property
    def submission_port(self) -> int:
        return config.parse_hostport(self.settings.smtp.submission.listen, "")[1]

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.http.listen}"

    def smtp(self, *, starttls: bool = False, credentials: dict[str, str] | None = None) -> smtplib.SMTP:
        """A submission connection, logged in with the first account (or `credentials`)."""
        creds = credentials or self.credentials
        client = smtplib.SMTP("127.0.0.1", self.submission_port, timeout=30)
        if starttls:
            client.starttls(context=unverified_tls())
        client.login(creds["smtp_username"], creds["smtp_password"])
        return client

    def submit_smtp(
        self, mail_from: str, recipients: list[str], message: bytes, client: smtplib.SMTP | None = None
    ) -> dict[str, str]:
        """Submit one message; returns recipient -> delivery id, read from the 250 reply."""
        own = client is None
        client = client or self.smtp()
        try:
            code, reply = client.mail(mail_from)
            assert code == 250, reply
            for recipient in recipients:
                code, reply = client.rcpt(recipient)
                assert code == 250, reply
            code, reply = client.data(message)
            assert code == 250, reply
            return queued_ids(reply, recipients)
        finally:
            if own:
                client.quit()

    def api(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for the API with the first account's token (or `token`)."""
        return httpx.Client(
            base_url=self.http_url,
            timeout=30,
            headers={"Authorization": f"Bearer {token or self.credentials['api_token']}"},
        )

    def send_http(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self.api() as api:
            response = api.post("/v1/send", json=payload)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        with self.api() as api:
            response = api.get(f"/v1/deliveries/{delivery_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_final(self, delivery_ids: Iterable[str], timeout: float = 20.0) -> dict[str, dict[str, Any]]:
        """Wait until every delivery is delivered or failed; returns them by id."""
        pending = list(delivery_ids)
        done: dict[str, dict[str, Any]] = {}
        with self.api() as api:

            def settled() -> bool:
                for delivery_id in list(pending):
                    view = api.get(f"/v1/deliveries/{delivery_id}").json()
                    if view["state"] not in FINAL:
                        return False
                    done[delivery_id] = view
                    pending.remove(delivery_id)
                return True

            wait_for(settled, timeout, interval=0.1, what=f"deliveries {pending} to settle")
        return done

    def wait_logged(self, name: str, delivery_ids: Iterable[str], timeout: float = 20.0) -> None:
        """Wait until each delivery has a line in the log (the log writer runs every 0.2 s)."""
        wanted = set(delivery_ids)
        wait_for(lambda: wanted <= {r["id"] for r in self.log(name)}, timeout, what=f"{name}.log lines")


def _running(pid: int) -> bool:
    """Whether a process runs (a zombie, which holds no sockets, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def run_cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "returnpath.cli", *args],
        input=input,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())
