"""The data folder is private: it holds message bodies, returned mail, the feedback loops'
signing secrets, the envelope-token key and the hashes of API tokens and SMTP passwords.

`returnpath` runs with umask 077, so every folder and file it makes is its owner's alone
(0700, 0600); `init` and `serve` warn about anything in the folder that others may read or
write, which happens when a folder is made by hand or files are copied in.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("returnpath")

UMASK = 0o077
SHOWN = 5  # loose paths named in the warning; the rest are counted


@contextmanager
def restricted() -> Iterator[None]:
    """Make everything this process (and what it starts) creates meanwhile private to its owner."""
    previous = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def loose(folder: Path) -> list[tuple[Path, int]]:
    """The folder and everything below it that its group or others may use, with their modes
    (symbolic links are not followed: their own mode means nothing)."""
    found: list[tuple[Path, int]] = []
    if not folder.exists():
        return found
    for path in [folder, *sorted(folder.rglob("*"))]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # removed meanwhile (a SQLite journal, a rotated log)
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append((path, mode))
    return found


def warn_if_loose(folder: Path) -> list[tuple[Path, int]]:
    """Log one warning naming what in the data folder others may read; returns what it found."""
    found = loose(folder)
    if found:
        named = ", ".join(f"{path} ({stat.filemode(mode)})" for path, mode in found[:SHOWN])
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        log.warning(
            "others may read the data folder, which holds message bodies, secrets and password hashes: "
            "%s%s; make it private with: chmod -R go= %s",
            named,
            more,
            folder,
        )
    return found
