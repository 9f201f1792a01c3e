"""A small disk that can be filled: a tmpfs mounted for one test (as root), unmounted after it.

    def test_x(small_disk: SmallDisk) -> None:
        small_disk.fill()          # every byte taken: the next write gets ENOSPC
        ...
        small_disk.free()          # room again

Where mounting is not permitted (not root, no CAP_SYS_ADMIN) the test is skipped and says why.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SIZE = "1m"


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        """Take every free byte with a filler file, so that the next write that needs room fails."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == 28, exc  # ENOSPC
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()


@contextlib.contextmanager
def mounted(path: Path, size: str = SIZE) -> Iterator[SmallDisk]:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {result.stderr.strip() or result.returncode}")
    try:
        yield SmallDisk(path)
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)  # a process still holds a file there


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with mounted(tmp_path / "small-disk") as disk:
        yield disk
