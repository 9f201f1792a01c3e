"""Fixtures for tests that need a real PostgreSQL: a pytest plugin module.

Loaded from the root conftest.py (``pytest_plugins = ["tests.postgres_fixtures"]``): pytest
only accepts ``pytest_plugins`` there. It provides

* ``pg_cluster`` (session): one private cluster (bench/postgres.py) for the whole session,
  started the first time a test asks for it, stopped and removed at the end. Under
  pytest-xdist (scripts/test) each worker process is a session of its own, so each has its
  own cluster, in its own temporary folder on its own free port: a test that stops its
  server (an outage) takes no other worker's away;
* ``pg_url`` (function): a fresh, empty database in that cluster for one test, dropped
  afterwards; its URL, ``postgresql://returnpath@127.0.0.1:PORT/t_<test>_<random>``.

One database per test keeps tests apart without a new cluster each (initdb and start take
about a second; creating a database from template1 takes a tenth of one).

A missing PostgreSQL is an error, not a skip: the store's tests are what says that the
PostgreSQL backend works, and a CI run that silently skipped them would say it wrongly.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from bench.postgres import PrivateCluster, postgres_available, private_postgres


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    """The session's private PostgreSQL cluster (see bench/postgres.py)."""
    why_not = postgres_available()
    if why_not is not None:
        hint = "" if "install-postgres.sh" in why_not else "\nInstall it (as root): bash bench/install-postgres.sh"
        pytest.fail(f"this test needs a real PostgreSQL server, which cannot run here: {why_not}{hint}", pytrace=False)
    with private_postgres() as cluster:
        yield cluster


def _database_name(test_name: str) -> str:
    """A database name no other test has: the test's name (for whoever reads the server log)
    made an identifier, and a random part. PostgreSQL cuts names at 63 bytes."""
    readable = re.sub(r"[^a-z0-9_]+", "_", test_name.lower()).strip("_")[:40]
    return f"t_{readable}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_url(pg_cluster: PrivateCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new empty database for this test; its URL. Dropped after the test."""
    name = _database_name(request.node.name)
    url = pg_cluster.create_database(name)
    yield url
    # A test that stopped the server (an outage test) and failed before starting it again
    # must not make every later test fail too.
    pg_cluster.start()
    # WITH (FORCE) ends the sessions the test left open (a pool not closed, a crashed relay).
    pg_cluster.drop_database(name)
