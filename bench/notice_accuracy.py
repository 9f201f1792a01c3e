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
- non-bounces:     replies, auto-replies, complaints, challenges, receipts: the right kind,
                   and the number marked failed (must be 0). A complaint's row must also have
                   the expected feedback type (abuse, fraud, ...) to count as a right reason.

With Sisimai installed (Debian: `apt-get install libsisimai-perl`, 4.25), the same table
has a second column, Sisimai's own answers for the same files in the same run: the mature
parser this recognition is compared with. (Its rows become a verdict: a `vacation` row an
auto-reply, a `feedback` row a complaint, any other row a bounce, none "other".)

    python bench/notice_accuracy.py             # the table
    python bench/notice_accuracy.py --misses    # and every miss, one line each
    python bench/notice_accuracy.py --families  # and how each sending software fares
    python bench/notice_accuracy.py --only 'gmail-*' postfix-04.eml   # these files only
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from returnpath.bounces import BounceVerdict, Kind, Recipient, recognise

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


# Sisimai's answers for every file, one process for all (JSON on stdout).
_SISIMAI = r"""
use Sisimai; use JSON::PP;
my %out;
for my $f (@ARGV) {
  my $d = Sisimai->make($f, vacation => 1, delivered => 1) || [];
  $out{$f} = [ map { { address => $_->recipient->address, action => $_->action,
    status => $_->deliverystatus, reason => $_->reason, soft => $_->softbounce,
    diagnostic => $_->diagnosticcode, feedback => $_->feedbacktype } } @$d ];
}
print JSON::PP->new->canonical->utf8->encode(\%out);
"""


def sisimai(names: list[str]) -> dict[str, BounceVerdict] | None:
    """Sisimai's answers as verdicts, or None when it is not installed."""
    if shutil.which("perl") is None:
        return None
    paths = [str(NOTICES / n) for n in names]
    run = subprocess.run(["perl", "-e", _SISIMAI, *paths], capture_output=True, check=False)
    if run.returncode != 0:
        return None
    verdicts = {}
    for path, rows in json.loads(run.stdout.decode("utf-8", "replace")).items():
        recipients = tuple(
            Recipient(
                r["address"],
                r["action"] or ("" if r["reason"] in ("vacation", "feedback") else "failed"),
                r["status"] or None,
                None,
                r["diagnostic"] or "",
                None,
                None,
                r["reason"],
                str(r["soft"]) == "0",
                "sisimai",
                r["feedback"] or None,
            )
            for r in rows
        )
        if any(r.reason == "vacation" for r in recipients):
            kind = Kind.AUTOREPLY
        elif any(r.reason == "feedback" for r in recipients):
            kind = Kind.COMPLAINT
        elif recipients:
            kind = Kind.BOUNCE
        else:
            kind = Kind.OTHER
        verdicts[Path(path).name] = BounceVerdict(kind, recipients)
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--families", action="store_true", help="one line per sending software")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="score only the files matching these names or globs (e.g. new ones)"
    )
    args = parser.parse_args()
    expected = load()
    if args.only:
        expected = {name: entry for name, entry in expected.items() if any(fnmatch(name, p) for p in args.only)}
    ours = {name: recognise((NOTICES / name).read_bytes()) for name in sorted(expected)}
    count, misses, families = score(expected, ours)
    theirs = sisimai(sorted(expected))
    other = score(expected, theirs)[0] if theirs is not None else None
    table(count, other)
    if args.families:
        print()
        print(f"{'family':<18}{'files':>6}{'wrong':>7}")
        for name, fam in sorted(families.items()):
            print(f"{name:<18}{fam['files']:>6}{fam['wrong']:>7}")
    if args.misses:
        print()
        print("\n".join(sorted(misses)))
    return 0


def score(
    emails: dict[str, dict], verdicts: dict[str, BounceVerdict]
) -> tuple[Counter[str], list[str], dict[str, Counter[str]]]:
    count: Counter[str] = Counter()
    misses: list[str] = []
    families: dict[str, Counter[str]] = {}
    for name, entry in sorted(emails.items()):
        verdict = verdicts[name]
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
            same = r.reason == row["reason"] and r.feedback_type == row.get("feedback_type")
            count["reason ok"] += same
            if not same:
                wrong = True
                misses.append(
                    f"reason   {name}: {r.reason}/{r.feedback_type} (expected {row['reason']}/"
                    f"{row.get('feedback_type')}) [{r.status}] "
                    f"{r.rule[:60]} | {r.diagnostic[:90]!r}"
                )
            if row["action"] == "failed":
                count["hard rows"] += 1
                count["hard ok"] += r.hard == row["hard"]
        fam["wrong"] += wrong or bool(verdict.failed and expected in ("autoreply", "complaint", "other"))

    return count, misses, families


def table(count: Counter[str], other: Counter[str] | None) -> None:
    """Our figures, and Sisimai's beside them when it ran."""

    def share(c: Counter[str], ok: str, total: str) -> str:
        return f"{c[ok] / c[total]:7.1%}" if c[total] else "    n/a"

    def line(label: str, ok: str, total: str, goal: str) -> None:
        theirs = f"{share(other, ok, total):>9}" if other is not None else ""
        print(f"{label:<38}{share(count, ok, total):>9}{count[ok]:>8}/{count[total]:<5}{theirs}  {goal}")

    print(f"{'measure':<38}{'result':>9}{'count':>14}{'Sisimai' if other is not None else '':>9}   goal")
    line("is a bounce (failure notices)", "failures ok", "failures", "100%")
    line("warnings read as delayed, not failed", "warnings ok", "warnings", "100%")
    line("recipients found (with their action)", "found", "rows", ">= 98%")
    line("statuses equal (where given)", "status ok", "status rows", ">= 95%")
    line("reasons equal", "reason ok", "found", ">= 90%")
    line("hard/soft equal (failed rows)", "hard ok", "hard rows", "")
    line("non-bounces read right", "non-bounces ok", "non-bounces", "100%")
    theirs = f"{other['false failures']:>9}" if other is not None else ""
    print(f"{'non-bounces marked failed':<38}{count['false failures']:>9}{'':>8}/{count['non-bounces']:<5}{theirs}  0")
    if other is None:
        print("(Sisimai is not installed: `apt-get install libsisimai-perl` adds its column)")


if __name__ == "__main__":
    sys.exit(main())
