"""A real `returnpath serve` for end-to-end tests: made with `returnpath init`, configured
to route mail to test sinks, started as a subprocess and stopped (or killed) like in life."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from returnpath import config

BOUNCE_DOMAIN = "bounces.example.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class Server:
    """A returnpath data folder and the `serve` process running on it."""

    def __init__(self, data: Path, **changes: Any) -> None:
        self.data = data
        self.config_path = data / "returnpath.toml"
        result = run_cli("init", "--data", str(data), "--bounce-domain", BOUNCE_DOMAIN, "--hostname",
                         "relay.example.test")
        assert result.returncode == 0, result.stderr
        self.credentials: dict[str, str] = json.loads(result.stdout)
        settings = config.load(self.config_path)
        settings.smtp.submission.listen = f"127.0.0.1:{free_port()}"
        settings.smtp.inbound.listen = f"127.0.0.1:{free_port()}"
        settings.http.listen = f"127.0.0.1:{free_port()}"
        settings.delivery.poll_interval = config.Duration(0.2)
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

    @property
    def submission_port(self) -> int:
        return config.parse_hostport(self.settings.smtp.submission.listen, "")[1]

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.http.listen}"

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "returnpath.cli", "serve", "--config", str(self.config_path)],
            stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "ab"))  # noqa: SIM115
        wait_for(lambda: b"ready" in self.stderr_path.read_bytes() or self._died(), what="serve to be ready")
        # Every worker must be up, not just the first.
        wait_for(lambda: self.stderr_path.read_bytes().count(b"ready") >= self._ready_count + self.workers
                 or self._died(), what="all workers")
        self._ready_count += self.workers
        assert self.process.poll() is None, self.stderr()
        return self

    _ready_count = 0

    @property
    def workers(self) -> int:
        return self.settings.worker_count

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL the supervisor; its workers die with it (PR_SET_PDEATHSIG)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def log(self, name: str) -> list[dict[str, Any]]:
        path = self.data / "logs" / f"{name}.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def cli(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "--config", str(self.config_path), input=input)


def run_cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-m", "returnpath.cli", *args], input=input, capture_output=True,
                            env=env, timeout=60)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                       result.stderr.decode())
