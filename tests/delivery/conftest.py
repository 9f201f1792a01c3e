"""Fixtures of the delivery tests: the sinks (see sinks.py) that stand in for remote servers."""

from .sinks import sink, sink_tls_context, tls_sink  # noqa: F401 - fixtures
