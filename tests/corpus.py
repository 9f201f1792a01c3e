"""Where the bounce corpus is, for every test and benchmark that reads it.

The corpus is the sisimai/set-of-emails collection of real bounces, auto-replies and
complaints (BSD-2-Clause), with Sisimai's expected results: it is not part of this repository
but kept next to it, at ../shared/corpus (`RETURNPATH_CORPUS` names another place). Without
it, its tests are skipped with a message that says so, except under CI (`CI` set, as CI
services do), where a missing corpus fails the run: a green run must have read it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("RETURNPATH_CORPUS") or REPOSITORY.parent / "shared" / "corpus")
SISIMAI = CORPUS / "sisimai"


def missing() -> str | None:
    """Why the corpus cannot be read (a message for a person), or None when it is there."""
    if (SISIMAI / "expected.json").is_file():
        return None
    return (
        f"the bounce corpus is not at {CORPUS}: it is the sisimai/set-of-emails collection "
        "(with expected.json), kept next to the repository at ../shared/corpus, or where "
        "RETURNPATH_CORPUS says"
    )


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require() -> Path:
    """The corpus's sisimai/ folder; else skip the calling test or module, or fail it under CI.

    Call it at module level (before a table is read from the corpus) or in a test."""
    import pytest  # here, so that the benchmarks can use this module without it

    why = missing()
    if why is None:
        return SISIMAI
    if under_ci():
        pytest.fail(f"{why} (CI is set: a missing corpus fails the run)", pytrace=False)
    pytest.skip(why, allow_module_level=True)
