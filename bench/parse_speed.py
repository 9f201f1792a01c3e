#!/usr/bin/env python3
"""Bounce recognition speed: returnpath against flufl.bounce, same files, same process, one run.

flufl.bounce (the bounce detectors of GNU Mailman, `pip install flufl.bounce`, in the `bench`
extra) is the Python alternative. Both sides get the same raw bytes, already in memory:

- returnpath: `recognise(raw)` — parsing included;
- flufl.bounce: `email.message_from_bytes(raw)` then `all_failures(msg)` — parsing included,
  since it needs a parsed message (we parse with the same stdlib parser and policy).

Each side runs over the whole corpus `--rounds` times, alternating, and keeps its best round
(the least disturbed by the machine). Printed: messages per second for both, the ratio, and
for both the share of emails with at least one expected recipient found (flufl.bounce
answers addresses only, so that is the one accuracy figure both have).

    python bench/parse_speed.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import email
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests import corpus

from returnpath.bounces import recognise

CORPUS = corpus.SISIMAI
FOLDERS = ("bsd", "dos", "mac", "not")


def ours(raw: bytes) -> set[str]:
    return {r.address for r in recognise(raw).recipients}


def theirs(raw: bytes) -> set[str]:
    from flufl.bounce import all_failures

    try:
        msg = email.message_from_bytes(raw)
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl.bounce raises on some broken messages; count as nothing found
        return set()
    found = set()
    for a in (*temporary, *permanent):
        found.add((a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)).lower())
    return found


def best_round(fn: Callable[[bytes], set[str]], raws: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in raws:
        fn(raw)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        import flufl.bounce  # noqa: F401
    except ImportError:
        print("flufl.bounce is not installed: pip install 'flufl.bounce>=4'", file=sys.stderr)
        return 1
    if why := corpus.missing():
        print(f"returnpath: {why}", file=sys.stderr)
        return 1
    emails = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["emails"]
    paths = sorted(p for p in emails if p.startswith("maildir/") and p.split("/")[1] in FOLDERS)
    raws = [(CORPUS / p).read_bytes() for p in paths]

    times: dict[str, list[float]] = {"returnpath": [], "flufl.bounce": []}
    for _ in range(args.rounds):
        times["returnpath"].append(best_round(ours, raws))
        times["flufl.bounce"].append(best_round(theirs, raws))

    hits = {"returnpath": 0, "flufl.bounce": 0}
    with_rcpt = 0
    for path, raw in zip(paths, raws, strict=True):
        expected = {(r["recipient"] or "").lower() for r in emails[path]["expected"]} - {""}
        if not expected:
            continue
        with_rcpt += 1
        hits["returnpath"] += bool(ours(raw) & expected)
        hits["flufl.bounce"] += bool(theirs(raw) & expected)

    rate = {name: len(raws) / min(t) for name, t in times.items()}
    print(f"{len(raws)} emails, best of {args.rounds} rounds each")
    print(f"{'':<14}{'messages/s':>12}{'>=1 right recipient':>24}")
    for name in ("returnpath", "flufl.bounce"):
        print(f"{name:<14}{rate[name]:>12,.0f}{hits[name] / with_rcpt:>18.1%} ({hits[name]}/{with_rcpt})")
    print(f"ratio returnpath / flufl.bounce: {rate['returnpath'] / rate['flufl.bounce']:.2f}x  (goal: >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
