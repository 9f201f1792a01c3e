#!/usr/bin/env python3
"""Bounce recognition accuracy over the Sisimai corpus (issue 3, "Accuracy and speed").

Runs `returnpath.bounces.recognise` on every email of ../shared/corpus/sisimai/maildir/
{bsd,dos,mac,not} and compares with `expected.json` (Sisimai's own results):

- recipients: share of expected recipients found among the verdict's recipients;
- statuses:   of the found rows whose status Sisimai read from the email (not a made-up
              x.0.9xx pseudo status), the share with the same RFC 3463 status;
- reasons, hard/soft: of the found rows, the share with Sisimai's reason / hard flag;
- kinds:      share of emails with the right kind;
- false failures: `failed` recipients reported for not-bounces and auto-replies;
- dos/ and mac/: emails whose verdict differs from the bsd/ copy's;
- rules of one: the wording rules (reasons.toml's families of text patterns and its provider
  code patterns, and the patterns by which a detector knows its software's notices) that
  decide exactly one email of the corpus and no other. A rule that fits one email is a sign
  of tuning to the corpus rather than writing for a wording family; `--rules` lists them.
- split score: the guard against tuning. The bsd/ emails are split in two halves by a hash
  of their file name (crc32, even or odd: the same split in every run). Half B is then
  recognised again with only those reasons.toml wording rules (text families and `[[host]]`
  patterns) that decide at least one email of half A — the rules that would exist had they
  been written while looking at half A only — and its reason score printed next to its
  score with every rule; likewise half A with half B's rules. A large gap means rules fit their emails
  rather than their wording families.

Goal: >= 98% recipients, 95% statuses, 90% reasons, no false failures.

    python bench/parse_accuracy.py            # the table
    python bench/parse_accuracy.py --misses   # and every miss, one line each
    python bench/parse_accuracy.py --rules    # and the rules that decide one email only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests import corpus

from returnpath.bounces import Kind, reasons, recognise

CORPUS = corpus.SISIMAI
FOLDERS = ("bsd", "dos", "mac", "not")

# expected.json's kind -> the verdict kinds that are right for it
KINDS: dict[str, frozenset[Kind]] = {
    "dsn": frozenset({Kind.DSN}),
    "non-standard-bounce": frozenset({Kind.BOUNCE, Kind.DSN}),
    "auto-reply": frozenset({Kind.AUTOREPLY}),
    "feedback-report": frozenset({Kind.COMPLAINT}),
    "delivered-notice": frozenset({Kind.DELIVERY}),
    "not-bounce": frozenset({Kind.OTHER}),
}


def expected_kinds(entry: dict) -> frozenset[Kind]:
    rows = entry["expected"]
    if rows and all(r["reason"] == "delivered" for r in rows):
        return frozenset({Kind.DELIVERY})
    return KINDS[entry["kind"]]


_TOML_RULE = re.compile(r"((?:text|host [\w.-]+) \w+)(?: (\[[^\]]*\]))?: ('[^']*'|\"[^\"]*\")")


def wording_rules(rule: str) -> list[str]:
    """The wording rules a verdict row's `rule` names: from reasons.toml a family of a text
    rule (`text <reason> [<family>]`) or a pattern (`host <provider> <reason>: <pattern>`),
    and `lhost/<detector>: <pattern>`; statuses and fallbacks are no wording."""
    found = []
    for part in rule.split("; "):
        part = part.split(" -> ", 1)[-1]
        if part.startswith("lhost/"):
            found.append(part)
        elif match := _TOML_RULE.match(part):
            unit = f"{match[1]} {match[2]}" if match[2] else f"{match[1]}: {match[3]}"
            found.append(f"reasons.toml {unit}")
    return found


def half(path: str) -> str:
    """ "A" or "B": the half of the corpus an email belongs to, by a hash of its file name."""
    return "AB"[zlib.crc32(path.rsplit("/", 1)[-1].encode()) % 2]


def reason_score(emails: dict[str, dict], paths: list[str]) -> tuple[int, int]:
    """(right reasons, found recipients) of these emails, with the rules in force now."""
    ok = found = 0
    for path in paths:
        got = {r.address: r for r in recognise((CORPUS / path).read_bytes()).recipients}
        for row in emails[path]["expected"]:
            r = got.get((row["recipient"] or "").lower())
            if r is not None:
                found += 1
                ok += r.reason == row["reason"]
    return ok, found


def split_scores(emails: dict[str, dict], deciding: dict[str, set[str]]) -> list[tuple[str, int, int, int, int]]:
    """Per half: (name, right and found with the other half's reasons.toml rules, with all)."""
    prefix = "reasons.toml "
    paths = {h: [p for p in sorted(emails) if p.startswith("maildir/bsd/") and half(p) == h] for h in "AB"}
    every = reasons.RULES
    scores = []
    for scored, other in (("B", "A"), ("A", "B")):
        keep = {
            r[len(prefix) :] for r, ps in deciding.items() if r.startswith(prefix) and any(half(p) == other for p in ps)
        }
        full = reason_score(emails, paths[scored])
        reasons.RULES = every.restricted(keep)
        try:
            reduced = reason_score(emails, paths[scored])
        finally:
            reasons.RULES = every
        scores.append((f"{scored} with {other}'s rules", *reduced, *full))
    return scores


def load() -> dict[str, dict]:
    return json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["emails"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--rules", action="store_true", help="list the rules that decide one email only")
    args = parser.parse_args()
    if why := corpus.missing():
        print(f"returnpath: {why}", file=sys.stderr)
        return 1
    emails = load()
    count: Counter[str] = Counter()
    misses: list[str] = []
    verdicts = {}
    for path, entry in sorted(emails.items()):
        folder = path.split("/")[1] if path.startswith("maildir/") else ""
        if folder not in FOLDERS:
            continue
        verdict = recognise((CORPUS / path).read_bytes())
        verdicts[path] = verdict
        got = {r.address: r for r in verdict.recipients}
        if folder in ("dos", "mac"):
            twin = "maildir/bsd/" + path.split("/", 2)[2]
            if twin in emails:
                count["twins"] += 1
                continue  # compared below, once bsd/ is done
        count["emails"] += 1
        count["kinds ok"] += verdict.kind in expected_kinds(entry)
        if verdict.kind not in expected_kinds(entry):
            misses.append(f"kind     {path}: {verdict.kind.value} (expected {entry['kind']})")
        if entry["kind"] in ("not-bounce", "auto-reply"):
            false = [r.address for r in verdict.recipients if r.action == "failed"]
            count["false failures"] += len(false)
            if false:
                misses.append(f"false    {path}: {false}")
        for row in entry["expected"]:
            address = (row["recipient"] or "").lower()
            if not address:
                continue
            count["rows"] += 1
            r = got.get(address)
            if r is None:
                misses.append(f"rcpt     {path}: {address} not in {sorted(got)}")
                continue
            count["found"] += 1
            if row["deliverystatus"] and not row["status_is_sisimai_pseudo"]:
                count["status rows"] += 1
                count["status ok"] += r.status == row["deliverystatus"]
                if r.status != row["deliverystatus"]:
                    misses.append(
                        f"status   {path}: {r.status} (expected {row['deliverystatus']}) {r.diagnostic[:90]!r}"
                    )
            count["reason ok"] += r.reason == row["reason"]
            if r.reason != row["reason"]:
                misses.append(
                    f"reason   {path}: {r.reason} (expected {row['reason']}) "
                    f"[{r.status}] {r.rule[:60]} | {r.diagnostic[:100]!r}"
                )
            count["hard ok"] += r.hard == bool(row["hardbounce"])
    deciding: dict[str, set[str]] = {}
    for path, verdict in verdicts.items():
        if path.split("/")[1] in ("bsd", "not"):  # dos/ and mac/ are copies
            for r in verdict.recipients:
                for rule in wording_rules(r.rule):
                    deciding.setdefault(rule, set()).add(path)
    of_one = sorted(f"{rule}  <- {next(iter(paths))}" for rule, paths in deciding.items() if len(paths) == 1)
    for path, verdict in verdicts.items():
        folder = path.split("/")[1]
        if folder in ("dos", "mac"):
            twin = "maildir/bsd/" + path.split("/", 2)[2]
            if twin in verdicts and verdicts[twin].as_dict() != verdict.as_dict():
                count["twins differ"] += 1
                misses.append(f"twin     {path}: differs from {twin}")

    def share(ok: str, total: str) -> str:
        return f"{count[ok] / count[total]:7.1%}" if count[total] else "    n/a"

    print(f"{'measure':<34}{'result':>9}{'count':>14}   goal")
    print(f"{'recipients found':<34}{share('found', 'rows'):>9}{count['found']:>8}/{count['rows']:<5}  >= 98%")
    print(
        f"{'statuses equal (non-pseudo)':<34}{share('status ok', 'status rows'):>9}"
        f"{count['status ok']:>8}/{count['status rows']:<5}  >= 95%"
    )
    print(f"{'reasons equal':<34}{share('reason ok', 'found'):>9}{count['reason ok']:>8}/{count['found']:<5}  >= 90%")
    print(f"{'hard/soft equal':<34}{share('hard ok', 'found'):>9}{count['hard ok']:>8}/{count['found']:<5}")
    print(f"{'kinds right':<34}{share('kinds ok', 'emails'):>9}{count['kinds ok']:>8}/{count['emails']:<5}")
    print(f"{'false failures (not/, auto-reply)':<34}{count['false failures']:>9}{'':>14}   0")
    print(f"{'dos/ and mac/ differing from bsd/':<34}{count['twins differ']:>9}{'':>8}/{count['twins']:<5}  0")
    print(f"{'rules deciding one email only':<34}{len(of_one):>9}{'':>8}/{len(deciding):<5}  (see --rules)")
    for name, ok, found, all_ok, all_found in split_scores(emails, deciding):
        print(
            f"{'reasons, half ' + name:<34}{ok / found:>9.1%}{ok:>8}/{found:<5}  (every rule: {all_ok / all_found:.1%})"
        )
    if args.misses:
        print()
        print("\n".join(sorted(misses)))
    if args.rules:
        print()
        print("\n".join(of_one))
    return 0


if __name__ == "__main__":
    sys.exit(main())
