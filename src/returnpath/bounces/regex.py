"""Regular expressions compiled when first used, not when their module is imported.

Recognition has a few hundred expressions at module level (each detector's, the notice
layer's, the auto-reply signs), and most messages need few of them: a detector tests a fixed
phrase before it runs any expression. Compiling them all at import made `returnpath parse`
spend most of its start-up in `re.compile`; `compile` here returns a `Regex` that compiles
on its first search, with the methods of `re.Pattern` that the recognisers use. Answers are
the same; only the moment of compilation moves.

A `Regex` also knows plain strings of which every match contains one (`patterns.
required_literals`, where the pattern's syntax lets it say so): `search`, `finditer` and
`findall` answer "no match" at once when none of them is in the text, as a detector's phrase
test would, instead of running the expression over the whole message.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, AnyStr, Generic

from .mail import lowered
from .patterns import required_literals

# Syntax the literal scanner does not read: numeric and named escapes, backreferences,
# conditionals, comments and inline flags. A pattern with any of them gets no shortcut.
_UNREAD = re.compile(r"\\[0-9xuUN]|\(\?(?:P=|\(|#|[aiLmsux-]+[:)])")


class Regex(Generic[AnyStr]):
    """An `re.Pattern` compiled on first use."""

    __slots__ = ("_compiled", "_needles", "flags", "pattern")

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self.pattern: AnyStr = pattern
        self.flags = flags
        self._compiled: re.Pattern[AnyStr] | None = None
        self._needles: tuple[str, ...] | None = None  # () when nothing is known

    @property
    def compiled(self) -> re.Pattern[AnyStr]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
            self._needles = _needles(self.pattern, self.flags)
        return self._compiled

    def _unless_absent(self, string: AnyStr) -> re.Pattern[AnyStr] | None:
        """The compiled expression, or None when none of the strings every match contains is
        in `string` (then there is no match)."""
        compiled = self.compiled  # (sets _needles)
        needles = self._needles
        if needles and isinstance(string, str):
            text = lowered(string) if self.flags & re.IGNORECASE else string
            if not any(n in text for n in needles):
                return None
        return compiled

    def search(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        compiled = self._unless_absent(string)
        return compiled.search(string, pos, endpos) if compiled is not None else None

    def match(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self.compiled.match(string, pos, endpos)

    def fullmatch(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self.compiled.fullmatch(string, pos, endpos)

    def finditer(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[AnyStr]]:
        compiled = self._unless_absent(string)
        return compiled.finditer(string, pos, endpos) if compiled is not None else iter(())

    def findall(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        compiled = self._unless_absent(string)
        return compiled.findall(string, pos, endpos) if compiled is not None else []

    def split(self, string: AnyStr, maxsplit: int = 0) -> list[AnyStr | Any]:
        return self.compiled.split(string, maxsplit)

    def sub(self, repl: AnyStr | Callable[[re.Match[AnyStr]], AnyStr], string: AnyStr, count: int = 0) -> AnyStr:
        return self.compiled.sub(repl, string, count)

    def __repr__(self) -> str:
        return f"regex.compile({self.pattern!r})"


def _needles(pattern: str | bytes, flags: int) -> tuple[str, ...]:
    """Strings of which every match contains one (lower-cased for IGNORECASE), or ()."""
    if not isinstance(pattern, str) or flags & re.VERBOSE or _UNREAD.search(pattern):
        return ()
    literals = required_literals(pattern)
    if not literals or min(len(n) for n in literals) < 3:  # too short to spare a search
        return ()
    return tuple(n.lower() for n in literals) if flags & re.IGNORECASE else literals


def compile(pattern: AnyStr, flags: int = 0) -> Regex[AnyStr]:
    """`re.compile`, deferred to the first search."""
    return Regex(pattern, flags)
