"""Messages from files, for `returnpath parse`: .eml files, maildirs and mbox files.

`messages(paths)` yields one `Item` per message, in a stable order, and never stops on a bad
file: an unreadable one becomes an `Item` with `error` set. This is the only I/O in
`bounces/`; recognition itself stays pure.

- a file that starts with an mbox "From " line is an mbox: one message per "From " line that
  follows a blank line (or starts the file); ">From " escapes are undone; the label is
  `path:N` (N from 1);
- any other file is one message;
- a maildir (a folder with cur/, new/ or tmp/) gives the files in cur/, new/ and tmp/;
- any other folder is walked recursively, hidden files and folders skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAILDIR_SUBDIRS = ("cur", "new", "tmp")
_FROM_ESCAPE = re.compile(rb"^>(>*From )", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Item:
    label: str  # the file, or "file:N" for the Nth message of an mbox
    raw: bytes | None  # None when the file could not be read
    error: str | None = None


def messages(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Item]:
    for path in paths:
        yield from _path(Path(path))


def _path(path: Path) -> Iterator[Item]:
    try:
        if path.is_dir():
            yield from _folder(path)
            return
        yield from _file(path)
    except OSError as exc:
        yield Item(str(path), None, exc.strerror or str(exc))


def _folder(folder: Path) -> Iterator[Item]:
    if any((folder / sub).is_dir() for sub in MAILDIR_SUBDIRS):
        for sub in MAILDIR_SUBDIRS:
            box = folder / sub
            if box.is_dir():
                for entry in sorted(box.iterdir()):
                    if entry.is_file() and not entry.name.startswith("."):
                        yield from _file(entry)
        return
    for root, dirs, files in os.walk(folder, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield from _path(Path(root) / name)


def _file(path: Path) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Item(str(path), None, exc.strerror or str(exc))
        return
    with handle:
        try:
            first = handle.readline()
            if not first.startswith(b"From "):
                yield Item(str(path), first + handle.read())
                return
            yield from _mbox(str(path), first, handle)
        except OSError as exc:
            yield Item(str(path), None, exc.strerror or str(exc))


def _mbox(label: str, first: bytes, handle: Iterable[bytes]) -> Iterator[Item]:
    """Split an mbox, line by line (an mbox of gigabytes is never held whole)."""
    number = 0
    lines: list[bytes] = []
    previous_blank = True
    for line in handle:
        if line.startswith(b"From ") and previous_blank:
            number += 1
            yield Item(f"{label}:{number}", _unescape(lines))
            lines = []
        else:
            lines.append(line)
        previous_blank = line in (b"\n", b"\r\n")
    number += 1
    yield Item(f"{label}:{number}", _unescape(lines))


def _unescape(lines: list[bytes]) -> bytes:
    raw = b"".join(lines)
    if raw.endswith(b"\n\n"):  # the blank line that separates messages in an mbox
        raw = raw[:-1]
    return _FROM_ESCAPE.sub(rb"\1", raw) if b">From " in raw else raw
