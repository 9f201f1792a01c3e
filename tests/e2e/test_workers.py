"""A worker that keeps dying is restarted with growing back-off, and `serve` gives up with a
clear message and a non-zero exit after a few quick deaths in a row, instead of restarting it
once a second forever; a broken certificate is named before any worker starts."""

from __future__ import annotations

import os
import re
import signal
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
