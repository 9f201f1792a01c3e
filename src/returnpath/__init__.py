"""returnpath: an outbound mail relay that knows what happened to every message it sent."""

__version__ = "0.2.0.dev0"
