"""A worker that keeps dying is restarted with growing back-off, and `serve` gives up with a
clear message and a non-zero exit after a few quick deaths in a row, instead of restarting it
once a second forever; a broken certificate is named before any worker starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from returnpath import config
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import wait_for


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_a_worker_that_keeps_dying_is_restarted_later_each_time_then_serve_gives_up(
    make_server: ServerFactory,
) -> None:
    server = make_server(workers=1, worker_restart_delay=config.Duration(0.2), worker_max_quick_deaths=4)
    assert server.process is not None
    supervisor = server.process.pid
    killed: set[int] = set()
    for _ in range(4):  # each new worker is killed as soon as it is there: a worker that dies at once
        pid = wait_for(lambda: [c for c in children(supervisor) if c not in killed], what="a new worker")[0]
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    code = server.process.wait(30)
    server.process = None
    stderr = server.stderr()
    assert code == 3, stderr
    delays = [
        float(d) for d in re.findall(r"exited with -9; released \d+ deliveries; restarting in ([\d.]+) s", stderr)
    ]
    assert delays == [0.2, 0.4, 0.8], stderr
    assert "worker 0 died 4 times in a row, each within 60 s of its start (last exit code -9); giving up" in stderr


def test_a_broken_certificate_is_named_before_any_worker_starts(make_server: ServerFactory) -> None:
    server = make_server(start=False)
    cert = server.settings.path(server.settings.smtp.submission.tls_cert)
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    result = server.cli("serve")
    assert result.returncode != 0
    assert f"cannot load the STARTTLS certificate {cert}" in result.stderr
    assert " ready " not in result.stderr and "restarting" not in result.stderr


def test_a_worker_whose_supervisor_is_gone_exits_before_loading_the_relay(tmp_path: Path) -> None:
    """A supervisor SIGKILLed while its new worker is still importing must not leave that worker
    holding the listening sockets for the second its imports take: the worker asks for
    PR_SET_PDEATHSIG, and checks its parent, before it imports any of the relay."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is no parent of the worker
    launched = subprocess.run(
        [
            *(sys.executable, "-X", "importtime", "-m", "returnpath.node.launch"),
            *("--config", str(tmp_path / "returnpath.toml"), "--owner", "n/x-0-0", "--index", "0"),
            *("--workers", "1", "--parent", str(dead.pid)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert launched.returncode == 1, launched.stderr
    imported = launched.stderr
    assert "ctypes" in imported  # -X importtime lists what was imported: here, what prctl needs
    for heavy in ("returnpath.node.worker", "aiosmtpd", "returnpath.bounces", "psycopg"):
        assert heavy not in imported, heavy
