#!/usr/bin/env python3
"""Reason agreement with Sisimai over its own phrase lists (issue 9).

Runs `returnpath.bounces.reasons.classify` on every row of tests/bounces/reason_phrases.json
(one diagnostic line per phrase or pattern branch of Sisimai 4.25's Reason/*.pm and
Rhost/*.pm, with Sisimai's own answer) and prints the agreement: overall, per reason
(right/total), and the confusions `expected -> got`, most frequent first.

    python bench/reason_phrases.py            # the figures
    python bench/reason_phrases.py --misses   # and every miss, one line each
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from returnpath.bounces.reasons import classify

TABLE = ROOT / "tests" / "bounces" / "reason_phrases.json"

# Reasons that Sisimai 5 split out of 4.25's (the table's answers are 4.25's): a row answered
# with one of these, where 4.25 says one it was split from, is counted apart.
SPLIT_FROM = {
    "authfailure": {"blocked", "rejected", "policyviolation", "securityerror"},
    "badreputation": {"blocked"},
    "requireptr": {"blocked", "rejected"},
    "speeding": {"toomanyconn", "blocked"},
    "notcompliantrfc": {"contenterror", "policyviolation", "rejected"},
    "failedstarttls": {"securityerror"},
}


def load() -> list[dict]:
    return json.loads(TABLE.read_text(encoding="utf-8"))["rows"]


def got(row: dict) -> str:
    hosts = (row["host"],) if row.get("host") else ()
    return classify(row["status"], row["code"], row["diagnostic"], row["command"], hosts=hosts).reason


def known_misses(rows: list[dict]) -> str:
    """The KNOWN_MISSES table of tests/bounces/test_reason_phrases.py for the rules as they are."""
    groups: dict[str, list[int]] = {}
    for number, row in enumerate(rows):
        answer = got(row)
        if answer != row["reason"]:
            groups.setdefault(f"{row['reason']} -> {answer}", []).append(number)
    lines = ["KNOWN_MISSES: dict[str, str] = {"]
    for confusion, numbers in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        chunks, line = [], ""  # row numbers, space-separated, in lines of at most 80 characters
        for n in numbers:
            if len(line) + len(str(n)) + 1 > 80:
                chunks.append(line)
                line = ""
            line += f"{n} "
        chunks.append(line.rstrip())
        lines.append(f'    "{confusion}": (')
        lines.extend(f'        "{c}"' for c in chunks)
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every row whose reason differs")
    parser.add_argument(
        "--known", action="store_true", help="print KNOWN_MISSES for tests/bounces/test_reason_phrases.py"
    )
    args = parser.parse_args()
    if args.known:
        print(known_misses(load()))
        return 0

    rows = load()
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    confusions: Counter[tuple[str, str]] = Counter()
    misses = []
    for row in rows:
        answer = got(row)
        total[row["reason"]] += 1
        if answer == row["reason"]:
            right[row["reason"]] += 1
        else:
            confusions[row["reason"], answer] += 1
            misses.append((row, answer))

    n, ok = len(rows), sum(right.values())
    split = sum(c for (expected, answer), c in confusions.items() if expected in SPLIT_FROM.get(answer, ()))
    print(f"reason agreement with Sisimai 4.25 over its phrase lists: {ok}/{n} = {ok / n:.1%}")
    print(
        f"  counting Sisimai 5's finer reasons as the 4.25 one they came from: {ok + split}/{n} = {(ok + split) / n:.1%}"
    )
    print("\nper reason (right/total):")
    for reason in sorted(total):
        print(f"  {reason:16} {right[reason]:4}/{total[reason]:<4} {right[reason] / total[reason]:6.1%}")
    print("\nconfusions (Sisimai -> classify):")
    for (expected, answer), count in confusions.most_common():
        print(f"  {count:4}  {expected} -> {answer}")
    if args.misses:
        print("\nmisses:")
        for row, answer in misses:
            where = f" [{row['host']}]" if row["host"] else ""
            cmd = f" ({row['command']})" if row["command"] else ""
            print(f"  {row['reason']} -> {answer}{where}{cmd}: {row['diagnostic']}  <{row['source']}>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
