"""The patterns of the reason rules, and how to find the few worth trying on a diagnostic.

A few hundred regular expressions (reasons.toml) meet every diagnostic text. Each `Pattern`
knows plain strings of which every match contains one (`required_literals`, a small scanner
of the pattern); an `Index` of those strings' three-letter pieces picks the patterns a text
may match, and a pattern is compiled only when first tried. Both keep `returnpath parse`
quick to start and the returned-mail worker quick per message; neither changes an answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Pattern:
    """One regular expression of reasons.toml, compiled on first need.

    Every match contains `literal` or one of `more` (plain strings; `literal` is "" when
    nothing is known): plain `in` tests skip most searches, and the compilation of patterns
    whose strings never occur."""

    __slots__ = ("_compiled", "family", "literal", "more", "source")

    def __init__(self, source: str, family: str = "") -> None:
        self.source = source
        self.family = family  # the wording family it belongs to ([[reason.family]] name)
        literals = required_literals(source) or ("",)
        self.literal, self.more = literals[0], literals[1:]
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source)
        return self._compiled

    def search(self, text: str) -> bool:
        if self.literal not in text and not (self.more and any(m in text for m in self.more)):
            return False
        return self.compiled().search(text) is not None


class Index(Generic[T]):
    """Patterns, each with what it stands for (a rule), by the three-letter pieces of their strings.

    A few hundred patterns, one diagnostic: instead of testing every pattern's strings
    against the text, the text's own three-letter pieces pick the patterns that may match
    (a pattern's string occurs only where each of its pieces does), and only those are
    tried, in rule order. Patterns with no string of three letters are always tried."""

    __slots__ = ("always", "by_piece", "entries", "pieces")

    def __init__(self, entries: Sequence[tuple[Pattern, T]]) -> None:
        self.entries = tuple(entries)
        pieces = [[s[i : i + 3] for i in range(len(s) - 2)] for p, _ in self.entries for s in (p.literal, *p.more)]
        common: dict[str, int] = {}
        for piece in (x for each in pieces for x in each):
            common[piece] = common.get(piece, 0) + 1
        always: list[int] = []
        by_piece: dict[str, list[int]] = {}
        for n, (pattern, _) in enumerate(self.entries):
            strings = (pattern.literal, *pattern.more)
            if min(len(s) for s in strings) < 3:
                always.append(n)
                continue
            for string in strings:  # each string's rarest piece stands for it
                piece = min((string[i : i + 3] for i in range(len(string) - 2)), key=lambda x: common[x])
                by_piece.setdefault(piece, []).append(n)
        self.always = frozenset(always)
        self.by_piece = {k: tuple(v) for k, v in by_piece.items()}
        self.pieces = frozenset(by_piece)

    def candidates(self, text: str) -> list[int]:
        """The numbers of the patterns that may match `text`, in rule order."""
        found = set(self.always)
        if len(text) < len(self.pieces):
            pieces: Collection[str] = self.pieces.intersection(
                map("".join, zip(text, text[1:], text[2:], strict=False))
            )
        else:  # a long text: testing each piece is cheaper than cutting the text up
            pieces = [piece for piece in self.by_piece if piece in text]
        for piece in pieces:
            found.update(self.by_piece[piece])
        return sorted(found)


def required_literals(pattern: str) -> tuple[str, ...]:
    """Plain strings of which every match of `pattern` contains at least one; () when the
    scanner finds none (then the pattern is tried on every diagnostic).

    A small scanner of the `re` syntax that reasons.toml uses (cut into tokens by one
    regular expression, so that loading hundreds of rules stays quick): an escaped
    punctuation mark is a plain character; classes, `.`, anchors, class escapes (`\\d`,
    `\\b`) and lookarounds end a run of plain characters; a character or group under `?`,
    `*` or `{m,n}` is not required; a required group, or the pattern itself, that is an
    alternation gives one string per branch. It errs only towards weaker hints (slower,
    never different, answers): of the runs and groups of a branch, the one whose shortest
    string is longest stands for it."""
    literals, _ = _alternation(_TOKEN.findall(pattern), 0)
    return literals


# one token of a pattern: escape, class, group opening, ")", "|", quantifier, plain run, other
_TOKEN = re.compile(
    r"(\\.)|(\[\^?\]?(?:\\.|[^\]\\])*\])|(\((?:\?(?:[:=!]|<[=!]|P<\w+>))?)|(\))|(\|)|"
    r"((?:[?*+]|\{\d*(?:,\d*)?\})[?+]?)|([^\\\[\](){}|?*+.^$]+)|(.)",
    re.DOTALL,
)


def _alternation(tokens: list[tuple[str, ...]], i: int) -> tuple[tuple[str, ...], int]:
    """The strings required by the alternation that starts at token `i` (up to its closing
    ")" or the end), and the index after it."""
    branches: list[tuple[str, ...]] = []
    best: tuple[str, ...] = ()
    run = ""

    def better(candidate: tuple[str, ...]) -> tuple[str, ...]:
        shortest = min((len(c) for c in candidate), default=0)
        return candidate if shortest > min((len(b) for b in best), default=0) else best

    while i < len(tokens):
        escape, _cls, opening, closing, bar, _quant, plain, _other = tokens[i]
        i += 1
        if bar or closing:
            branches.append(better((run,)))
            best, run = (), ""
            if closing:
                return _union(branches), i
            continue
        group: tuple[str, ...] = ()
        if opening:
            group, i = _alternation(tokens, i)
            if opening.startswith(("(?=", "(?!", "(?<")):
                group = ()  # a lookaround: its text is not part of the match
        elif escape:
            plain = "" if escape[1].isalnum() else escape[1]
        quant = tokens[i][5] if i < len(tokens) else ""
        if quant:
            i += 1
        optional = quant[:1] in ("?", "*", "{")
        if plain:
            if quant[:1] == "+":  # the quantifier binds the last character: one at least
                best, run = better((run + plain,)), plain[-1]
            elif quant:
                best, run = better((run + plain[:-1],)), ""
            else:
                run += plain
            continue
        best, run = better((run,)), ""
        if group and not optional:
            best = better(group)
    branches.append(better((run,)))
    return _union(branches), i


def _union(branches: list[tuple[str, ...]]) -> tuple[str, ...]:
    """One of these strings is in every match of an alternation: one branch's at least."""
    if any(not b for b in branches):
        return ()
    return tuple(dict.fromkeys(s for b in branches for s in b))
