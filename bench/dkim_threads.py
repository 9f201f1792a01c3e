#!/usr/bin/env python3
"""DKIM signing threads beside a busy event loop: how many RSA-2048 signatures they make, and
what is left of the loop's pace, by the interpreter's switch interval. One run.

Why (issue 11, "Speed"): signing in threads of the relay's own, so that OpenSSL's RSA, which
releases the GIL, runs on another core while the event loop serves other connections, was
tried and not kept (usecases/relay.py, ``Relay.new_message``, has the end-to-end figures).
When the RSA is done the thread needs the GIL back, and a thread that keeps running Python (a
busy event loop) gives it up only when the waiter has waited a whole switch interval
(``sys.setswitchinterval``, 5 ms by default). So each signature then waits up to 5 ms, and a
signing thread makes far fewer signatures than alone.

What is measured: for ``--seconds``, one thread runs a Python loop (counting, standing for the
event loop) while K threads sign a digest in a loop (returnpath's call: PKCS#1 v1.5 over a
SHA-256 hash, `cryptography`); printed per interval and K: signatures per second, and the
Python thread's count against its count alone ("pace"). Compare the signatures with the
relay's needs (bench/relay.py: a few hundred messages a second per worker) and the pace with
what the event loop keeps for everything else.

    python bench/dkim_threads.py [--seconds 1.0]

Two runs on the shared 2-core machine (``--seconds 2``, load average ~2; other helpers'
work shares the cores, so the loop's "pace" is noisy: its count alone is taken at another
moment than the others): signing alone 1424 and 1106 signatures/s; beside the busy Python
loop at 5 ms, one signing thread 155 and 170/s, two 499 and 386/s, four 817 and 681/s; at
1 ms, one 316 and 450/s, two 578 and 536/s; at 0.5 ms, two 936 and 490/s. The pace of the
Python loop went from 0.2 to 1.07 with no order that two runs agree on. So: beside a busy
loop a signing thread's signatures are capped by the GIL hand-back, two threads at the default
interval make a few hundred a second (more than a worker signed in bench/relay.py's runs,
50-250 a second, where the cores were the limit first); a shorter interval lifts the cap, at
a cost to the loop that these runs cannot tell. Two end-to-end runs with the workers at 1 ms
(bench/relay.py's docstring) showed no change either, so returnpath leaves the interval as
Python sets it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
DIGEST = hashlib.sha256(b"the canonical header fields of a message").digest()


def sign(stop: threading.Event, count: list[int]) -> None:
    while not stop.is_set():
        KEY.sign(DIGEST, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        count[0] += 1


def spin(stop: threading.Event, count: list[int]) -> None:
    while not stop.is_set():
        count[0] += 1


def run(seconds: float, spinning: bool, signers: int, interval: float) -> tuple[int, float]:
    """(Python loop iterations, signatures per second) with `signers` signing threads."""
    sys.setswitchinterval(interval)
    stop = threading.Event()
    spun, signed = [0], [0]
    threads = [threading.Thread(target=spin, args=(stop, spun))] if spinning else []
    threads += [threading.Thread(target=sign, args=(stop, signed)) for _ in range(signers)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return spun[0], signed[0] / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=1.0)
    args = p.parse_args()
    default = sys.getswitchinterval()
    alone = run(args.seconds, True, 0, default)[0]
    print(f"signing alone: {run(args.seconds, False, 1, default)[1]:.0f} signatures/s")
    for interval in (default, 0.001, 0.0005):
        for signers in (1, 2, 4):
            spun, rate = run(args.seconds, True, signers, interval)
            print(
                f"switch interval {interval * 1000:.1f} ms, {signers} signing thread(s): "
                f"{rate:.0f} signatures/s, Python loop at {spun / alone:.2f} of its pace"
            )


if __name__ == "__main__":
    main()
