"""`core.ports.Wakeups` within one process: the callbacks subscribed to each kind of work, called
after a commit of this process that created such work. SQLite's store uses it as it is (other
processes of the node find the work by polling); PostgreSQL's adds LISTEN/NOTIFY to it
(postgresql/postgres_wakeups.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..core.ports import WORK_KINDS, WorkKind

log = logging.getLogger("returnpath.store")


class LocalWakeups:
    """The subscribers of this process, by kind of work."""

    def __init__(self) -> None:
        self.subscribers: dict[WorkKind, list[Callable[[], None]]] = {kind: [] for kind in WORK_KINDS}

    def subscribe(self, kind: WorkKind, callback: Callable[[], None]) -> None:
        """Call `callback` after this process committed work of `kind`."""
        self.subscribers[kind].append(callback)

    def wake(self, kinds: Iterable[WorkKind]) -> None:
        """Call the subscribers of these kinds; one that raises does not keep the others from
        hearing (nor the caller, whose commit is done, from going on)."""
        for kind in kinds:
            for callback in self.subscribers[kind]:
                try:
                    callback()
                except Exception:
                    log.exception("a wake-up subscriber of %s failed", kind)
