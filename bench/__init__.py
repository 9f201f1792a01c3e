"""Benchmarks and the private Postfix they (and some end-to-end tests) compare against.

``bench/relay.py`` and ``bench/postfix.py`` also run as scripts; this file only makes them
importable as ``bench.relay`` and ``bench.postfix`` from the repository root.
"""
