"""Identifiers of messages and deliveries.

An id is a ULID written in lowercase Crockford base32: 26 characters, the first ten the
creation time in milliseconds, the rest 80 random bits. Ids sort by creation time, need no
coordination between nodes and carry no secret.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE = {c: i for i, c in enumerate(ALPHABET)}
# Crockford's base32 reads the look-alike letters as the digits they resemble.
_DECODE.update({"i": 1, "l": 1, "o": 0})

_CANONICAL = frozenset(ALPHABET)

ID_LENGTH = 26


def encode_base32(value: int, length: int) -> str:
    """Encode a non-negative integer as exactly `length` base32 characters."""
    chars = []
    for _ in range(length):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    if value:
        raise ValueError("value does not fit in the given length")
    return "".join(reversed(chars))


def decode_base32(text: str) -> int:
    """Decode base32 case-insensitively; raises ValueError on a character outside it."""
    value = 0
    for char in text.lower():
        digit = _DECODE.get(char)
        if digit is None:
            raise ValueError(f"not a base32 character: {char!r}")
        value = (value << 5) | digit
    return value


def new_id(now: float, randbits: int | None = None) -> str:
    """A new id for something created at `now` (Unix seconds)."""
    millis = int(now * 1000) & ((1 << 48) - 1)
    rand = secrets.randbits(80) if randbits is None else randbits
    return encode_base32((millis << 80) | rand, ID_LENGTH)


def is_id(text: str) -> bool:
    """True when `text` is an id as `new_id` writes it: 26 lowercase base32 characters, 128 bits."""
    return len(text) == ID_LENGTH and text[0] <= "7" and all(c in _CANONICAL for c in text)
