"""Sisimai's reason wordings (tests/bounces/reason_phrases.json) -> classify's reason.

One test per row: a diagnostic line built from a phrase or pattern branch of Sisimai 4.25's
Reason/*.pm or Rhost/*.pm, with Sisimai's own answer for it. Rows that classify gets wrong
today are strict xfails listed in KNOWN_MISSES (row numbers by `expected -> got`): when a
rules change makes one pass, the run fails until its number is taken out of the list
(`python bench/reason_phrases.py --known` prints the list for the rules as they are).
`python bench/reason_phrases.py --misses` prints the same misses with their sources.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from returnpath.bounces.reasons import classify

TABLE = Path(__file__).with_name("reason_phrases.json")
ROWS = json.loads(TABLE.read_text(encoding="utf-8"))["rows"]

# Row numbers that classify gets wrong on main today (issue 9), by Sisimai's answer -> ours.
# Row numbers that classify gets wrong (issue 9), by Sisimai's answer -> ours.
KNOWN_MISSES: dict[str, str] = {
    "filtered -> userunknown": (
        "146 356 517 521 526 531 536 541 551 556 560 565 570 575 580 585 590 595 600 605 "
        "610 615 620 625 630 635 640 645 974"
    ),
    "blocked -> requireptr": ("1 3 4 12 13 16 27 38 49 60 63 66 71 72 73 75 76 80 92 101 658 720 892 918 936"),
    "blocked -> authfailure": ("44 46 52 53 64 84 85 86 87 659 660 661 662 731 738 740 840 841 842 875 885 969"),
    "blocked -> badreputation": ("48 58 68 69 88 663 741 839 932"),
    # Exchange Online's DANE codes (4.7.321-4.7.325) and "TLS required but not supported":
    # Sisimai 4.25 says blocked or securityerror; TLS the sender's policy requires and could not
    # have is failedstarttls here (the reason Sisimai 5 added for 4.7.321)
    "blocked -> failedstarttls": ("734 735 736 737 739"),
    "securityerror -> failedstarttls": ("358 732 733 789 790"),
    "undefined -> onhold": ("963 966 967 980 985"),
    "blocked -> networkerror": ("20 21 22 718"),
    "rejected -> onhold": ("298 309 322 324"),
    "policyviolation -> notcompliantrfc": ("280 287 672"),
    "spamdetected -> filtered": ("392"),
    "toomanyconn -> speeding": ("709 710 711"),
    "undefined -> blocked": ("964 965 979"),
    "blocked -> rejected": ("5 11"),
    "networkerror -> hostunknown": ("755 758"),
    "policyviolation -> authfailure": ("277 987"),
    "rejected -> securityerror": ("308 775"),
    "spamdetected -> blocked": ("380 383"),
    "systemerror -> networkerror": ("486 490"),
    "userunknown -> onhold": ("532 623"),
    "userunknown -> suspend": ("545 552"),
    "blocked -> filtered": ("722"),
    "blocked -> onhold": ("23"),
    "blocked -> policyviolation": ("42"),
    "blocked -> suspend": ("984"),
    "blocked -> virusdetected": ("57"),
    "contenterror -> networkerror": ("112"),
    "exceedlimit -> mesgtoobig": ("117"),
    "expired -> networkerror": ("954"),
    "expired -> systemerror": ("133"),
    "filtered -> policyviolation": ("370"),
    "filtered -> rejected": ("1023"),  # NTTDOCOMO.pm's own table says rejected, as Sisimai 5 does
    "filtered -> spamdetected": ("371"),
    "filtered -> suspend": ("546"),
    "hostunknown -> networkerror": ("156"),
    "hostunknown -> onhold": ("166"),
    "norelaying -> onhold": ("765"),
    "rejected -> authfailure": ("677"),
    "rejected -> blocked": ("785"),
    "rejected -> hostunknown": ("317"),
    "rejected -> notcompliantrfc": ("784"),
    "rejected -> requireptr": ("305"),
    "securityerror -> norelaying": ("357"),
    "securityerror -> toomanyconn": ("811"),
    "spamdetected -> policyviolation": ("402"),
    "systemerror -> onhold": ("499"),
    "userunknown -> blocked": ("519"),
    "userunknown -> hostunknown": ("717"),
    "userunknown -> norelaying": ("612"),
}

_MISSED = {int(row): confusion for confusion, rows in KNOWN_MISSES.items() for row in rows.split()}


def _params() -> list[object]:
    params = []
    for number, row in enumerate(ROWS):
        marks = []
        if number in _MISSED:
            family = row["family"]
            reason = f"issue 9: {family} wording not covered ({_MISSED[number]}; {row['source']})"
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        params.append(pytest.param(row, id=f"{number}-{row['reason']}", marks=marks))
    return params


def test_table_is_broad() -> None:
    reasons = {row["reason"] for row in ROWS}
    assert len(ROWS) >= 500
    assert len(reasons) >= 20
    assert all(0 <= n < len(ROWS) for n in _MISSED)


@pytest.mark.parametrize("row", _params())
def test_reason_matches_sisimai(row: dict[str, object]) -> None:
    hosts = (str(row["host"]),) if row.get("host") else ()
    got = classify(row["status"], row["code"], row["diagnostic"], row["command"], hosts=hosts)  # type: ignore[arg-type]
    assert got.reason == row["reason"], f"{row['diagnostic']!r} <{row['source']}>"
