"""`serve`'s supervisor goes on while the database is away: a worker that dies meanwhile is
restarted (its leases run out instead of being released), and the node does not stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.postgres import PrivateCluster

from returnpath.config import Settings
from returnpath.node import supervisor as app
from returnpath.store.postgresql import PostgresStore


async def test_a_worker_that_dies_while_the_database_is_away_is_restarted(
    settings: Settings, pg_cluster: PrivateCluster, pg_url: str
) -> None:
    store = PostgresStore(pg_url, node="node-1")
    await store.open()
    supervisor = app.Supervisor(settings, Path(settings.base) / "returnpath.toml")
    supervisor.workers = [worker := app.Worker(0)]
    worker.owner = "node-1/abc-0-0"
    worker.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])
    worker.process.wait()
    try:
        pg_cluster.stop()
        try:
            await supervisor.watch(store)  # release fails: the database is away
        finally:
            pg_cluster.start()
        assert worker.restarts == 1 and worker.restart_at is not None
        assert not supervisor.stopping.is_set() and supervisor.gave_up == ""
    finally:
        await store.close()
