#!/usr/bin/env python3
"""Bounce recognition on an independent public corpus: GNU Mailman's flufl.bounce test emails.

flufl.bounce (the bounce detectors of GNU Mailman, https://gitlab.com/warsaw/flufl.bounce,
Apache License 2.0) ships 118 returned messages that mailing lists received over twenty years,
with the addresses its detectors must find in them, in the tests of its source distribution
(tests/data/*.txt; the expectations in tests/test_detectors.py). returnpath was never tuned on
them: they are "samples from elsewhere". The emails stay out of this repository; this script
fetches the sdist once (`pip download flufl.bounce==6.0.0 --no-binary :all: --no-deps`) into
~/.cache/returnpath-bench/ (or `--corpus DIR`) and reads them there.

The expectations are read from test_detectors.py with `ast` (never imported): its DETECTORS
table (detector, file, addresses, temporary?) and the `test_scan_*` tests, which assert the
`permanent` and `temporary` sets of one file. A file may have several rows: its expected
failures are the union of its rows' addresses. An empty row is one detector's finding nothing
("Text/html groupwise -- just make sure it doesn't throw"), so a file counts as "no address
expected" only when every row for it is empty.

`returnpath.bounces.recognise` runs on each file, without the delivery's own recipient (the
primary figure, as in notice_accuracy.py), and prints:

- addresses expected: emails all of whose expected addresses are found with the right action
  (failed; delayed for the rows flufl calls temporary);
- none expected: emails for which flufl expects no address, and we mark no recipient failed;
- with the recipient known: the first figure again with each expected address given as
  `recognise(raw, recipient=...)`, as the relay does (a returned message reaches the tracking
  address of one delivery, so its recipient is known; `bounces/evidence.py`): "named" when a
  row names that address with the right action; "as the relay routes it" when the delivery
  gets that outcome, which the relay gives it from the row naming its recipient or else the
  report's first row with the action (core/returns.py), keeping the row's own address.

Where flufl's expectation is debatable, or the relay's knowledge of the delivery makes a miss
moot, the email stays in the figures as a miss; `NOTES` says why for each miss left, and
`--misses` shows it.

    python bench/flufl_accuracy.py              # the figures
    python bench/flufl_accuracy.py --misses     # and one line per miss
    python bench/flufl_accuracy.py --corpus /tmp/flufl   # an sdist already unpacked there
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from returnpath.bounces import BounceVerdict, recognise

VERSION = "6.0.0"
CACHE = Path.home() / ".cache" / "returnpath-bench"

# The misses left, and why. "debatable": flufl.bounce's expectation can be argued with;
# "relay": the relay's own knowledge makes it moot (a returned message reaches the tracking
# address of one delivery, so the relay knows its recipient and keeps the row's address too);
# "miss": ours. They still count as misses in the figures; --misses shows these notes.
NOTES: dict[str, str] = {
    "yale_01.txt": "debatable: the notice names a bare directory name, 'userx'; flufl's yale detector guesses "
    "two domains for it (yale.edu, and cs.yale.edu which the text suggests trying instead). We give a row "
    "without address, which the relay attaches to its delivery's recipient",
    "aol_01.txt": "relay: old AOL names a bare screen name; flufl appends @aol.com (AOL also hosted other "
    "domains). We give a row without address, which the relay attaches to its delivery's recipient",
    "dsn_04.txt": "relay: the DSN's Final-Recipient is the mailbox the alias led to, its Original-Recipient "
    "flufl's address. We report Final-Recipient (as Sisimai does, whose corpus judges that); the relay "
    "fails its delivery from that row and keeps the address as reported_recipient",
    "dsn_17.txt": "relay: as dsn_04 (Final-Recipient a forward's target, Original-Recipient flufl's address)",
    "sendmail_01.txt": "relay: Sendmail names the failed address and the alias it was expanded from; flufl "
    "wants both. We report the failed one; the relay knows its delivery (the alias)",
    "simple_42.txt": "debatable: a real Exim bounce (Gmail refused the message as spam) whose recipient flufl's "
    "data anonymised to 'david...@gmail.com', no valid address, so flufl expects none; we report it failed",
    "simple_43.txt": "relay: the notice names nobody; we take the returned message's only To, which is the "
    "mailing list's address (the list's post), and flufl expects none. With the delivery's recipient, "
    "named in the copy's Received lines, the relay reads that recipient (bounces/evidence.py)",
    "microsoft_03.txt": "miss: a 'Non-Delivery Report' from admin@ that carries the List-Id of the list "
    "whose message it returns: the generic layer takes it for list mail (its guard against newsletters)",
    "simple_20.txt": "miss: a site's gateway titles its notice as a reply ('RE: <subject> : non remis') "
    "from a personal-looking mailbox: by sender and subject it is a person's reply, which is not claimed",
}


@dataclass
class Expected:
    """What flufl.bounce's tests say one email holds."""

    failed: set[str] = field(default_factory=set)
    delayed: set[str] = field(default_factory=set)

    @property
    def none(self) -> bool:
        return not (self.failed or self.delayed)


def tests_dir(corpus: Path) -> Path:
    """The sdist's tests/ folder under `corpus`, fetched and unpacked there when missing."""
    for candidate in (corpus / "tests", corpus / f"flufl_bounce-{VERSION}" / "tests"):
        if (candidate / "test_detectors.py").is_file():
            return candidate
    corpus.mkdir(parents=True, exist_ok=True)
    sdist = corpus / f"flufl_bounce-{VERSION}.tar.gz"
    if not sdist.is_file():
        pip = [sys.executable, "-m", "pip", "download", f"flufl.bounce=={VERSION}", "--no-binary", ":all:"]
        subprocess.run([*pip, "--no-deps", "-d", str(corpus)], check=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(corpus, filter="data")
    return corpus / f"flufl_bounce-{VERSION}" / "tests"


def expectations(source: str) -> dict[str, Expected]:
    """file name -> what is expected of it, from test_detectors.py's text."""
    out: dict[str, Expected] = {}
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DETECTORS" for t in node.targets):
            for _detector, name, addresses, temporary in ast.literal_eval(node.value):
                entry = out.setdefault(name, Expected())
                (entry.delayed if temporary else entry.failed).update(a.decode().lower() for a in addresses)
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_scan"):
            _scan_test(node, out)
    return out


def _scan_test(test: ast.FunctionDef, out: dict[str, Expected]) -> None:
    """A `test_scan_*` function: `msg = _parse('x.txt')` and `assert permanent == {...}`."""
    names = [
        n.args[0].value
        for n in ast.walk(test)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_parse" and isinstance(n.args[0], ast.Constant)
    ]
    if len(names) != 1:
        return
    entry = out.setdefault(names[0], Expected())
    for n in ast.walk(test):
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.Name) and n.left.id in ("permanent", "temporary"):
            right = n.comparators[0]
            found = set() if isinstance(right, ast.Call) else ast.literal_eval(right)  # set() or {b'...'}
            (entry.failed if n.left.id == "permanent" else entry.delayed).update(a.decode().lower() for a in found)


def right(expected: Expected, verdict: BounceVerdict) -> bool:
    """Every expected address found with its action; for none expected, none marked failed."""
    got = {(r.address.lower(), r.action) for r in verdict.recipients}
    if expected.none:
        return not verdict.failed
    return all((a, "failed") in got for a in expected.failed) and all((a, "delayed") in got for a in expected.delayed)


def with_recipient(raw: bytes, expected: Expected) -> tuple[bool, bool]:
    """With each expected address given as the delivery's recipient: (is it named with its
    action, does the relay give its delivery that outcome). The relay takes the report's row
    naming the recipient, else its first row with the action (core/returns.py, `route`), and
    keeps the row's address as `reported_recipient`."""
    named = routed = True
    for address in expected.failed | expected.delayed:
        action = "failed" if address in expected.failed else "delayed"
        rows = {(r.address.lower(), r.action) for r in recognise(raw, recipient=address).recipients}
        named = named and (address, action) in rows
        routed = routed and any(a == action for _, a in rows)
    return named, routed


def describe(name: str, expected: Expected, verdict: BounceVerdict) -> str:
    want = sorted(expected.failed) + [f"{a} (delayed)" for a in sorted(expected.delayed)]
    got = ", ".join(f"{r.address or '<unnamed>'} {r.action} {r.reason}" for r in verdict.recipients)
    note = f"  [{NOTES[name]}]" if name in NOTES else ""
    return f"{name:<20} want {want or 'none'}; got {verdict.kind.value} [{got}]{note}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CACHE, help="where the sdist is (or is fetched to)")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args()
    tests = tests_dir(args.corpus)
    expected = expectations((tests / "test_detectors.py").read_text(encoding="utf-8"))
    counts = {"addressed": 0, "addressed ok": 0, "none": 0, "none ok": 0, "known ok": 0, "routed ok": 0}
    misses = []
    for name, entry in sorted(expected.items()):
        raw = (tests / "data" / name).read_bytes()
        verdict = recognise(raw)
        ok = right(entry, verdict)
        kind = "none" if entry.none else "addressed"
        counts[kind] += 1
        counts[kind + " ok"] += ok
        known, routed = with_recipient(raw, entry) if not entry.none else (False, False)
        counts["known ok"] += known
        counts["routed ok"] += routed
        if not ok:
            after = "  (named with the recipient known)" if known else "  (routed right)" if routed else ""
            misses.append(describe(name, entry, verdict) + after)
    unused = sorted(p.name for p in (tests / "data").glob("*.txt") if p.name not in expected)
    print(f"flufl.bounce {VERSION}: {len(expected)} emails with expectations ({len(unused)} without: {unused})")
    print(f"{'addresses expected: all found, right action':<48}{counts['addressed ok']:>5}/{counts['addressed']}")
    print(f"{'none expected: none marked failed':<48}{counts['none ok']:>5}/{counts['none']}")
    print(f"{'total':<48}{counts['addressed ok'] + counts['none ok']:>5}/{len(expected)}")
    print(f"{'with the recipient known: named, right action':<48}{counts['known ok']:>5}/{counts['addressed']}")
    print(f"{'with the recipient known: as the relay routes it':<48}{counts['routed ok']:>5}/{counts['addressed']}")
    if args.misses:
        print()
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
