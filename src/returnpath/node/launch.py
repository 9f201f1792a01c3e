"""The first code a worker process runs: tie its life to the supervisor's, then start it.

A worker imports the whole relay (aiosmtpd, starlette, psycopg, the bounce rules) before it
can do anything, which takes a second or two. A supervisor SIGKILLed in that time would leave
the worker running with the listening sockets, and a `serve` restarted at once (systemd's
`Restart=` waits 100 ms by default) would find its ports in use. So the supervisor starts
`python -m returnpath.node.launch`, which asks Linux for PR_SET_PDEATHSIG with nothing but the
standard library loaded, and only then imports the worker (node/worker.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the supervisor dies; exit if it already has."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG, prctl(2)
    except OSError:  # not Linux: the supervisor's own stop handles the usual case
        pass
    if os.getppid() != parent:
        os._exit(1)


def parent_of(argv: list[str]) -> int:
    """The supervisor's pid, from the worker's `--parent N` argument."""
    return int(argv[argv.index("--parent") + 1])


def main() -> None:
    die_with_parent(parent_of(sys.argv))
    from .worker import main as worker_main  # only now: see the module's docstring

    worker_main()


if __name__ == "__main__":
    main()
