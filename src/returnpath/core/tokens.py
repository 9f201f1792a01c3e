"""The envelope token: which delivery a returned message answers, and proof that we made it.

Every delivery is sent with its own envelope sender (VERP), `b<token>@<bounce domain>`, where
the token is the delivery id followed by a truncated HMAC-SHA256 of it under the server
secret. The inbound server decodes the local part of a RCPT TO address back into the id and
refuses anything whose MAC does not match, so forged or mangled addresses never get in.

The token is lowercase base32 (Crockford's alphabet), decoded case-insensitively because some
servers change the case of local parts. The local part is 1 + 26 + 16 = 43 characters, well
under the 64 that RFC 5321 allows.
"""

from __future__ import annotations

import hashlib
import hmac

from .ids import ALPHABET, ID_LENGTH, decode_base32, encode_base32, is_id

PREFIX = "b"
MAC_CHARS = 16  # 80 bits of HMAC-SHA256: forging one needs about 2**80 tries
LOCAL_PART_LENGTH = len(PREFIX) + ID_LENGTH + MAC_CHARS


def _mac(secret: bytes, delivery_id: str) -> str:
    digest = hmac.new(secret, delivery_id.encode("ascii"), hashlib.sha256).digest()
    return encode_base32(int.from_bytes(digest[:10], "big"), MAC_CHARS)


def encode(secret: bytes, delivery_id: str) -> str:
    """The local part of the envelope sender for a delivery."""
    if not is_id(delivery_id):
        raise ValueError(f"not a delivery id: {delivery_id!r}")
    return PREFIX + delivery_id + _mac(secret, delivery_id)


def envelope_address(secret: bytes, delivery_id: str, bounce_domain: str) -> str:
    """The whole envelope sender address for a delivery."""
    return f"{encode(secret, delivery_id)}@{bounce_domain}"


def decode(secret: bytes, local_part: str) -> str | None:
    """The delivery id a local part stands for, or None if it is not one of our tokens.

    Case does not matter. Any change to a token makes the MAC check fail.
    """
    text = local_part.lower()
    if len(text) != LOCAL_PART_LENGTH or not text.startswith(PREFIX):
        return None
    body = text[len(PREFIX) :]
    if any(c not in ALPHABET for c in body):
        return None
    delivery_id, mac = body[:ID_LENGTH], body[ID_LENGTH:]
    # Reject non-canonical spellings so that one delivery has exactly one token.
    if encode_base32(decode_base32(delivery_id), ID_LENGTH) != delivery_id:
        return None
    if not hmac.compare_digest(mac, _mac(secret, delivery_id)):
        return None
    return delivery_id
