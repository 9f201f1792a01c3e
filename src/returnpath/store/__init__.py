"""Durable state behind the `core.ports.Store` interface, one sub-package per backend."""
