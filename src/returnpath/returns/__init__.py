"""The returned-mail worker: stored raw message -> verdict -> events (and forwarded copies)."""
