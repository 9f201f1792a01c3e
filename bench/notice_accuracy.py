#!/usr/bin/env python3
"""Bounce recognition accuracy over tests/bounces/notices/ (issue 9), the set written from
the sending software's own templates, apart from the Sisimai corpus it was tuned on.

Runs `returnpath.bounces.recognise` on every `.eml` there and compares with `expected.json`:

- is a bounce:     failure notices read as a failure (kind bounce or dsn);
- warnings:        delay warnings read as delayed, with no recipient failed;
- recipients:      expected recipients found among the verdict's, with the same action;
- statuses:        of the found rows whose notice gives an RFC 3463 status, the share equal;
- reasons:         of the found rows, the share with the expected reason;
- hard/soft:       of the found failed rows, the share with the expected hard flag;
- non-bounces:     replies, auto-replies, challenges, receipts: the right kind, and the number
                   marked failed (must be 0).

    python bench/notice_accuracy.py             # the table
    python bench/notice_accuracy.py --misses    # and every miss, one line each
    python bench/notice_accuracy.py --families  # and how each sending software fares
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from returnpath.bounces import BounceVerdict, Kind, recognise

NOTICES = ROOT / "tests" / "bounces" / "notices"
FAILURE = frozenset({Kind.BOUNCE, Kind.DSN})


def load() -> dict[str, dict]:
    return json.loads((NOTICES / "expected.json").read_text(encoding="utf-8"))["emails"]


def family(name: str) -> str:
    """`exchange-de-01.eml` -> `exchange-de`: the software (and language) a file is from."""
    return re.sub(r"-\d+\.eml$", "", name)


def kind_ok(expected: str, verdict: BounceVerdict) -> bool:
    if expected in ("bounce", "dsn"):
        return verdict.kind in FAILURE
    if expected == "delayed":
        return verdict.kind in FAILURE and not verdict.failed and any(r.action == "delayed" for r in verdict.recipients)
    return verdict.kind.value == expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--families", action="store_true", help="one line per sending software")
    args = parser.parse_args()
    count: Counter[str] = Counter()
    misses: list[str] = []
    families: dict[str, Counter[str]] = {}
    for name, entry in sorted(load().items()):
        verdict = recognise((NOTICES / name).read_bytes())
        expected = entry["kind"]
        fam = families.setdefault(family(name), Counter())
        fam["files"] += 1
        right = kind_ok(expected, verdict)
        got = {r.address: r for r in verdict.recipients}
        if expected in ("bounce", "dsn"):
            count["failures"] += 1
            count["failures ok"] += right
        elif expected == "delayed":
            count["warnings"] += 1
            count["warnings ok"] += right
        else:
            count["non-bounces"] += 1
            count["non-bounces ok"] += right
            false = [r.address for r in verdict.failed]
            count["false failures"] += bool(false)
            if false:
                misses.append(f"false    {name}: {verdict.kind.value} failed {false}")
        if not right:
            rows = ", ".join(f"{r.address} {r.action}" for r in verdict.recipients)
            misses.append(f"kind     {name}: {verdict.kind.value} [{rows}] (expected {expected})")
        wrong = not right
        for row in entry["recipients"]:
            count["rows"] += 1
            r = got.get(row["address"])
            if r is None or r.action != row["action"]:
                wrong = True
                seen = f"{r.action}" if r else f"not in {sorted(got)}"
                misses.append(f"rcpt     {name}: {row['address']} {row['action']}: {seen}")
                continue
            count["found"] += 1
            if row["status"]:
                count["status rows"] += 1
                count["status ok"] += r.status == row["status"]
                if r.status != row["status"]:
                    misses.append(f"status   {name}: {r.status} (expected {row['status']})")
            count["reason ok"] += r.reason == row["reason"]
            if r.reason != row["reason"]:
                wrong = True
                misses.append(
                    f"reason   {name}: {r.reason} (expected {row['reason']}) [{r.status}] "
                    f"{r.rule[:60]} | {r.diagnostic[:90]!r}"
                )
            if row["action"] == "failed":
                count["hard rows"] += 1
                count["hard ok"] += r.hard == row["hard"]
        fam["wrong"] += wrong or bool(verdict.failed and expected in ("autoreply", "other"))

    def share(ok: str, total: str) -> str:
        return f"{count[ok] / count[total]:7.1%}" if count[total] else "    n/a"

    def line(label: str, ok: str, total: str, goal: str) -> None:
        print(f"{label:<38}{share(ok, total):>9}{count[ok]:>8}/{count[total]:<5}  {goal}")

    print(f"{'measure':<38}{'result':>9}{'count':>14}   goal")
    line("is a bounce (failure notices)", "failures ok", "failures", "100%")
    line("warnings read as delayed, not failed", "warnings ok", "warnings", "100%")
    line("recipients found (with their action)", "found", "rows", ">= 98%")
    line("statuses equal (where given)", "status ok", "status rows", ">= 95%")
    line("reasons equal", "reason ok", "found", ">= 90%")
    line("hard/soft equal (failed rows)", "hard ok", "hard rows", "")
    line("non-bounces read right", "non-bounces ok", "non-bounces", "100%")
    print(f"{'non-bounces marked failed':<38}{count['false failures']:>9}{'':>8}/{count['non-bounces']:<5}  0")
    if args.families:
        print()
        print(f"{'family':<18}{'files':>6}{'wrong':>7}")
        for name, fam in sorted(families.items()):
            print(f"{name:<18}{fam['files']:>6}{fam['wrong']:>7}")
    if args.misses:
        print()
        print("\n".join(sorted(misses)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
