"""Without the corpus (it lives outside the repository), its tests say where it comes from
and skip; under CI they fail the run, so that a green CI run has read it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import corpus

# Every test that reads the corpus, as `pytest` takes them.
READERS = [
    "tests/bounces/test_corpus.py",
    "tests/bounces/test_lhost.py",
    "tests/bounces/test_hostile.py::test_every_corpus_email_answers_the_same_with_crlf_and_cr",
]


def run_readers(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["RETURNPATH_CORPUS"] = str(tmp_path / "no-corpus-here")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *READERS],
        cwd=corpus.REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_corpus_skips_saying_where_it_comes_from(tmp_path: Path) -> None:
    result = run_readers(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    reason = f"the bounce corpus is not at {tmp_path / 'no-corpus-here'}: it is the sisimai/set-of-emails collection"
    assert "SKIPPED [3]" in result.stdout and reason in result.stdout and "3 skipped" in result.stdout, result.stdout
    assert "next to the repository at ../shared/corpus" in result.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_missing_corpus_fails_the_run(tmp_path: Path, ci: str) -> None:
    result = run_readers(tmp_path, ci)
    assert result.returncode != 0
    assert "skipped" not in result.stdout
    assert "sisimai/set-of-emails" in result.stdout and "CI is set: a missing corpus fails the run" in result.stdout


def test_every_test_and_benchmark_finds_the_corpus_through_tests_corpus() -> None:
    root = corpus.REPOSITORY
    own = root / "tests" / "corpus.py"
    for path in [*root.glob("tests/**/*.py"), *root.glob("bench/*.py")]:
        if path != own and path != Path(__file__):
            text = path.read_text(encoding="utf-8")
            assert '"shared" / "corpus"' not in text, path
