"""The PostgreSQL fixtures for this folder, until the root conftest.py loads the plugin.

Only the root conftest may declare ``pytest_plugins``; importing the fixtures here makes them
this folder's. Once tests/conftest.py has ``pytest_plugins = ["tests.postgres_fixtures"]``,
delete this file: the fixtures defined here again would override the plugin's for this
folder, and it would start a second session cluster of its own (harmless, but a second).
"""

from tests.postgres_fixtures import pg_cluster, pg_url  # noqa: F401
