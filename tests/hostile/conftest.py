"""The hostile suite runs real servers as the end-to-end tests do: the same fixtures."""

from tests.delivery.sinks import module_sink, sink  # noqa: F401
from tests.e2e.conftest import make_module_server, make_server, pytest_runtest_makereport  # noqa: F401
