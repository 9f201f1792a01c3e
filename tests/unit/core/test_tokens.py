"""The envelope token codec: round trip, case-insensitive, tamper-evident, short enough."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from returnpath.core import ids, tokens

SECRET = b"a server secret of some length"
any_id = st.builds(
    ids.new_id,
    st.floats(min_value=0, max_value=2**47 / 1000, allow_nan=False),
    st.integers(min_value=0, max_value=2**80 - 1),
)


@given(any_id)
def test_round_trip(delivery_id: str) -> None:
    assert tokens.decode(SECRET, tokens.encode(SECRET, delivery_id)) == delivery_id


@given(any_id)
def test_case_does_not_matter(delivery_id: str) -> None:
    token = tokens.encode(SECRET, delivery_id)
    assert token == token.lower()
    assert tokens.decode(SECRET, token.upper()) == delivery_id


@given(any_id)
def test_local_part_is_well_under_64_characters(delivery_id: str) -> None:
    address = tokens.envelope_address(SECRET, delivery_id, "bounces.example.com")
    local = address.split("@")[0]
    assert len(local) == tokens.LOCAL_PART_LENGTH < 64
    assert local.isascii() and local.isalnum()


@settings(max_examples=300)
@given(any_id, st.data())
def test_any_change_to_a_token_is_rejected(delivery_id: str, data: st.DataObject) -> None:
    token = tokens.encode(SECRET, delivery_id)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from(ids.ALPHABET + "xyz!@-"))
    changed = token[:position] + replacement + token[position + 1 :]
    if changed != token:
        assert tokens.decode(SECRET, changed) is None


@given(any_id, st.text(max_size=5))
def test_truncated_or_extended_tokens_are_rejected(delivery_id: str, extra: str) -> None:
    token = tokens.encode(SECRET, delivery_id)
    assert tokens.decode(SECRET, token[:-1]) is None
    if extra:
        assert tokens.decode(SECRET, token + extra) is None


@given(any_id)
def test_another_secret_rejects_the_token(delivery_id: str) -> None:
    assert tokens.decode(b"another secret entirely", tokens.encode(SECRET, delivery_id)) is None


@given(st.text(max_size=80))
def test_random_local_parts_are_rejected(text: str) -> None:
    assert tokens.decode(SECRET, text) is None


def test_crockford_look_alikes_are_not_a_second_spelling() -> None:
    delivery_id = ids.new_id(1_800_000_000, randbits=1)  # ends in ...01
    token = tokens.encode(SECRET, delivery_id)
    assert "1" in token
    # 'l' decodes to 1 in Crockford's alphabet, but one delivery has one token only.
    assert tokens.decode(SECRET, token.replace("1", "l", 1)) is None


def test_ids_sort_by_time() -> None:
    assert ids.new_id(1000.0) < ids.new_id(1000.001) < ids.new_id(2000.0)
    assert ids.is_id(ids.new_id(1.0)) and not ids.is_id("u" * 26)
    assert not ids.is_id("L" + ids.new_id(1.0)[1:]) and not ids.is_id("z" * 26)
