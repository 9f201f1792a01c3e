"""Whether `serve`'s earlier run on this machine still runs (a live node's name is refused at
start, supervisor.check_shared): a process killed but not yet reaped by its parent is a
zombie, ended, though signal 0 still finds its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from returnpath.node.supervisor import pid_alive


def _state(pid: int) -> bytes:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rpartition(b")")[2].split()[0]


def test_a_running_process_is_alive_and_a_killed_unreaped_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _state(child.pid) != b"Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(child.pid) == b"Z"  # not reaped: signal 0 still finds it
        os.kill(child.pid, 0)
        assert not pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)  # reaped: gone


def test_this_process_is_alive() -> None:
    assert pid_alive(os.getpid())
