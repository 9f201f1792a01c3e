"""The HTTP API: `POST /v1/send`, deliveries, messages, events, OpenAPI; errors as RFC 9457
problem documents. One module per resource; app.py puts them together."""

from .app import HttpServer, create_app, serve_http

__all__ = ["HttpServer", "create_app", "serve_http"]
