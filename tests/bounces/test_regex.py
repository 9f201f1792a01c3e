"""bounces/regex.py: expressions compiled on first use, with a plain-string shortcut that
must never change an answer."""

from __future__ import annotations

import re
import sys

import pytest

from returnpath.bounces import regex, rules
from returnpath.bounces.mail import Mail
from tests import corpus


def _all_regexes() -> list[tuple[str, regex.Regex[str]]]:
    rules.DETECTORS  # noqa: B018 - imports every detector module
    found = []
    for name, module in sorted(sys.modules.items()):
        if name.startswith("returnpath.bounces"):
            for attr, value in vars(module).items():
                if isinstance(value, regex.Regex) and isinstance(value.pattern, str):
                    found.append((f"{name}.{attr}", value))
    return found


def test_the_shortcut_never_changes_an_answer() -> None:
    # every expression of every recogniser, on the text of every email of the corpus (and
    # upper- and lower-cased copies, for the case-insensitive ones): the same matches
    folder = corpus.require() / "maildir" / "bsd"
    texts = [Mail.parse(path.read_bytes()).body for path in sorted(folder.glob("*.eml"))]
    texts += [t.upper() for t in texts[::7]] + [t.lower() for t in texts[::5]]
    expressions = _all_regexes()
    assert len(expressions) > 80
    shortcuts = 0
    for name, expression in expressions:
        expression.compiled  # noqa: B018
        shortcuts += bool(expression._needles)
        for text in texts:
            fast, slow = expression.search(text), expression.compiled.search(text)
            assert (fast and fast.span()) == (slow and slow.span()), (name, text[:80])
            assert expression.findall(text) == expression.compiled.findall(text), name
    assert shortcuts > 50  # most have strings to look for


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [(r"\x41bc", 0), (r"(?i)abc", 0), (r"(?P<a>abc)(?P=a)", 0), (r"a b c", re.VERBOSE), (r"ab|cd", 0)],
)
def test_syntax_the_scanner_cannot_read_gets_no_shortcut(pattern: str, flags: int) -> None:
    expression = regex.compile(pattern, flags)
    expression.compiled  # noqa: B018
    assert not expression._needles


def test_a_case_insensitive_expression_finds_its_string_in_any_case() -> None:
    expression = regex.compile(r"after RCPT TO\b", re.IGNORECASE)
    assert expression.search("... After Rcpt To:<a@example.org>") is not None
    assert expression.search("after MAIL FROM") is None
