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
    "blocked -> onhold": (
        "9 19 23 26 29 35 37 39 40 44 46 51 52 53 55 58 59 61 64 67 68 70 74 75 77 78 79 "
        "80 81 83 84 85 86 93 94 95 96 102 103 107 719 727 729 734 735 736 737 739 836 "
        "838 919 920 997"
    ),
    "userunknown -> onhold": (
        "518 522 525 528 529 530 532 533 534 537 547 548 550 553 554 558 561 562 563 567 "
        "574 576 577 581 582 583 584 586 589 591 596 599 601 604 608 611 614 616 618 619 "
        "621 622 623 632 633 636 637 644 646 929 976 992"
    ),
    "spamdetected -> onhold": (
        "363 364 365 369 373 376 377 378 379 381 382 386 387 395 397 398 400 403 404 405 "
        "406 407 409 410 411 413 418 420 423 424 426 427 428 429 431 432 433 436 437 445 "
        "447 449 450 451 455 457 460 462 884 941"
    ),
    "rejected -> onhold": (
        "296 298 299 300 301 302 303 304 306 307 309 310 311 312 313 314 316 319 320 321 "
        "322 324 325 326 327 328 330 332 333 335 338 340 342 344 777 783 854 943 944 947 "
        "971 998"
    ),
    "blocked -> requireptr": ("1 3 4 12 13 16 27 38 49 60 63 66 71 72 73 76 92 101 658 720 892 918 936"),
    "filtered -> onhold": (
        "136 137 138 139 140 141 142 144 145 147 148 526 531 551 575 585 590 600 605 615 620 645 991"
    ),
    "systemerror -> onhold": (
        "479 480 481 484 485 487 489 491 492 494 496 498 499 801 802 808 809 810 812 861 862 863 864"
    ),
    "securityerror -> onhold": (
        "345 346 347 348 350 351 352 353 354 360 362 732 733 789 790 855 856 857 858 859 860 942"
    ),
    "filtered -> userunknown": ("146 356 517 521 536 541 556 560 565 570 580 595 610 625 630 635 640 887 974"),
    "policyviolation -> onhold": ("272 273 274 275 280 283 284 287 289 290 293 294 295 768 849 923 924 988"),
    "toomanyconn -> onhold": ("505 515 816 818 820 821 822 823 824 865 867 873 927 928 995"),
    "blocked -> authfailure": ("87 659 660 661 662 731 738 740 842 875 885 969"),
    "mailboxfull -> onhold": ("168 174 176 177 187 193 194 198 200 210 955"),
    "norelaying -> onhold": ("248 251 254 255 258 261 264 765 990 996"),
    "rejected -> blocked": ("297 329 331 343 785 786 851 852 853"),
    "rejected -> securityerror": ("308 676 775 776 778 779 780 781 782"),
    "expired -> onhold": ("120 122 123 126 131 134 931 953"),
    "spamdetected -> blocked": ("372 380 383 412 415 416 419 458"),
    "suspend -> onhold": ("463 464 465 467 473 474 977 993"),
    "toomanyconn -> exceedlimit": ("512 708 814 815 866 949 1008 1017"),
    "blocked -> badreputation": ("48 69 88 663 741 839 932"),
    "blocked -> rejected": ("5 11 835 840 841 1011 1013"),
    "contenterror -> onhold": ("110 111 114 115 744 745"),
    "mesgtoobig -> onhold": ("220 222 230 231 843 986"),
    "networkerror -> onhold": ("232 233 241 242 246 247"),
    "mailererror -> onhold": ("211 212 213 216 219"),
    "securityerror -> rejected": ("681 682 683 684 897"),
    "undefined -> onhold": ("963 966 967 980 985"),
    "blocked -> networkerror": ("20 21 22 718"),
    "hostunknown -> onhold": ("153 157 161 166"),
    "notaccept -> onhold": ("270 271 846 922"),
    "syntaxerror -> securityerror": ("696 697 698 700"),
    "toomanyconn -> rejected": ("715 1007 1014 1015"),
    "blocked -> userunknown": ("921 939 940"),
    "networkerror -> hostunknown": ("237 755 758"),
    "spamdetected -> filtered": ("392 393 394"),
    "toomanyconn -> speeding": ("709 710 711"),
    "undefined -> blocked": ("964 965 979"),
    "blocked -> securityerror": ("652 654"),
    "blocked -> spamdetected": ("653 656"),
    "blocked -> toomanyconn": ("937 938"),
    "exceedlimit -> mesgtoobig": ("116 117"),
    "expired -> networkerror": ("666 954"),
    "notaccept -> systemerror": ("766 767"),
    "policyviolation -> authfailure": ("277 987"),
    "policyviolation -> blocked": ("292 675"),
    "policyviolation -> rejected": ("673 1012"),
    "policyviolation -> securityerror": ("674 770"),
    "spamdetected -> virusdetected": ("388 389"),
    "systemerror -> networkerror": ("486 490"),
    "toomanyconn -> systemerror": ("707 817"),
    "userunknown -> hostunknown": ("717 834"),
    "userunknown -> suspend": ("545 552"),
    "blocked -> filtered": ("722"),
    "blocked -> hostunknown": ("728"),
    "blocked -> policyviolation": ("42"),
    "blocked -> suspend": ("984"),
    "blocked -> syntaxerror": ("655"),
    "blocked -> virusdetected": ("57"),
    "contenterror -> mesgtoobig": ("108"),
    "contenterror -> networkerror": ("112"),
    "contenterror -> systemerror": ("742"),
    "expired -> systemerror": ("133"),
    "filtered -> policyviolation": ("370"),
    "filtered -> spamdetected": ("371"),
    "filtered -> suspend": ("546"),
    "hostunknown -> networkerror": ("156"),
    "mailboxfull -> mesgtoobig": ("180"),
    "mailboxfull -> suspend": ("167"),
    "mesgtoobig -> rejected": ("1006"),
    "networkerror -> contenterror": ("670"),
    "networkerror -> rejected": ("1003"),
    "notaccept -> hostunknown": ("268"),
    "policyviolation -> filtered": ("1009"),
    "policyviolation -> notcompliantrfc": ("672"),
    "rejected -> authfailure": ("677"),
    "rejected -> exceedlimit": ("978"),
    "rejected -> hostunknown": ("317"),
    "rejected -> notaccept": ("339"),
    "rejected -> notcompliantrfc": ("784"),
    "rejected -> requireptr": ("305"),
    "rejected -> suspend": ("1001"),
    "rejected -> syntaxerror": ("337"),
    "rejected -> userunknown": ("771"),
    "securityerror -> blocked": ("893"),
    "securityerror -> norelaying": ("357"),
    "securityerror -> syntaxerror": ("679"),
    "securityerror -> toomanyconn": ("811"),
    "spamdetected -> policyviolation": ("402"),
    "spamdetected -> securityerror": ("366"),
    "suspend -> blocked": ("794"),
    "suspend -> filtered": ("793"),
    "suspend -> userunknown": ("472"),
    "syntaxerror -> onhold": ("872"),
    "syntaxerror -> systemerror": ("796"),
    "systemerror -> blocked": ("982"),
    "systemerror -> exceedlimit": ("706"),
    "systemerror -> rejected": ("1002"),
    "systemerror -> toomanyconn": ("703"),
    "systemerror -> userunknown": ("803"),
    "toomanyconn -> mailboxfull": ("819"),
    "toomanyconn -> networkerror": ("713"),
    "toomanyconn -> suspend": ("712"),
    "toomanyconn -> userunknown": ("881"),
    "userunknown -> blocked": ("519"),
    "userunknown -> hasmoved": ("829"),
    "userunknown -> norelaying": ("612"),
    "virusdetected -> onhold": ("647"),
    "virusdetected -> policyviolation": ("871"),
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
