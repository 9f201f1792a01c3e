"""Signing posts the Standard Webhooks way, so receivers can verify them with a library.

Each loop has a secret `whsec_<base64 of 24 random bytes>`. Each request carries

    webhook-id         msg_<post id>: the same on every retry, so receivers can drop
                       duplicates (delivery is at least once)
    webhook-timestamp  the Unix seconds of this attempt (receivers refuse ones too far off)
    webhook-signature  v1,<base64 of HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>

which is what the `standardwebhooks` packages (Python, JavaScript, Go, PHP, ...) verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    encoded = secret.removeprefix(PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one request. With several secrets (a rotation's
    grace period) the signature header holds one signature per secret, space-separated: a
    receiver that knows either verifies it."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, msg_id, timestamp, body) for secret in keys),
    }
