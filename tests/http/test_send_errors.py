"""POST /v1/send: every bad request gets a problem document naming what is wrong, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from returnpath.config import Settings, Size
from returnpath.store.sqlite import SqliteStore

from .conftest import MESSAGE, assert_problem

OK = {"recipients": ["x@example.net"], "mime": MESSAGE}

# (name, body, status, problem type, field)
CASES: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("no recipients", {"mime": MESSAGE}, 400, "invalid-field", "recipients"),
    ("empty recipients", {"recipients": [], "mime": MESSAGE}, 400, "invalid-field", "recipients"),
    (
        "recipients not a list",
        {"recipients": {"x": "x@example.net"}, "mime": MESSAGE},
        400,
        "invalid-field",
        "recipients",
    ),
    (
        "recipients a bad string",
        {"recipients": "x@example.net, y", "mime": MESSAGE},
        400,
        "invalid-address",
        "recipients",
    ),
    ("recipient not a string", {"recipient": ["x@example.net"], "mime": MESSAGE}, 400, "invalid-field", "recipient"),
    (
        "bad recipient",
        {"recipients": ["x@example.net", "nobody"], "mime": MESSAGE},
        400,
        "invalid-address",
        "recipients[1]",
    ),
    ("bad single recipient", {"recipient": "a@b@", "mime": MESSAGE}, 400, "invalid-address", "recipient"),
    (
        "recipient an address literal",
        {"recipients": ["x@example.net", "y@[192.0.2.1]"], "mime": MESSAGE},
        400,
        "invalid-address",
        "recipients[1]",
    ),
    ("bidi override", {"recipient": "a\u202eb@example.net", "mime": MESSAGE}, 400, "invalid-address", "recipient"),
    ("no mime", {"recipients": ["x@example.net"]}, 400, "invalid-field", "mime"),
    ("mime not a string", {**OK, "mime": 42}, 400, "invalid-field", "mime"),
    ("empty mime", {**OK, "mime": "\n"}, 400, "invalid-message", "mime"),
    # Before, these were taken and sent with returnpath's fields on top of a line that is none.
    ("mime is a text", {**OK, "mime": "Hello Jane,\n\nyour order has shipped.\n"}, 400, "invalid-message", "mime"),
    (
        "mime with a line no field",
        {**OK, "mime": "From: a@example.com\nnot a field\n\nx\n"},
        400,
        "invalid-message",
        "mime",
    ),
    ("mime starting folded", {**OK, "mime": " Subject: x\n\nx\n"}, 400, "invalid-message", "mime"),
    ("mime field without name", {**OK, "mime": ": x\n\nx\n"}, 400, "invalid-message", "mime"),
    ("bare CR", {**OK, "mime": "From: a@example.com\r\rSubject: x\n\nbody\n"}, 400, "invalid-message", "mime"),
    ("lone surrogate", {**OK, "mime": "From: a@example.com\n\n\ud800\n"}, 400, "invalid-field", "mime"),
    ("bad From header", {**OK, "mime": "From: someone <not an address>\n\nx\n"}, 400, "invalid-address", "mime"),
    # Receiving servers refuse these at every delivery (core/intake.py, check_from).
    ("mime without From", {**OK, "mime": "Subject: x\n\nx\n"}, 400, "invalid-message", "mime"),
    (
        "mime with two Froms",
        {**OK, "mime": "From: a@example.com\nFrom: b@example.com\n\nx\n"},
        400,
        "invalid-message",
        "mime",
    ),
    (
        "bad from field",
        {"recipients": ["x@example.net"], "from": "not-an-address", "text": "x"},
        400,
        "invalid-address",
        "from",
    ),
    ("unknown field", {**OK, "recipents": ["x@example.net"]}, 400, "invalid-field", "recipents"),
    ("bad envelope", {**OK, "envelope": "no-at-sign"}, 400, "invalid-address", "envelope"),
    ("envelope not a string", {**OK, "envelope": 1}, 400, "invalid-field", "envelope"),
    ("bad trackbounces", {**OK, "trackbounces": "maybe"}, 400, "invalid-option", "trackbounces"),
    ("tags not strings", {**OK, "tags": [1, 2]}, 400, "invalid-option", "tags"),
    # Before, only C0 controls were refused in a tag: these went on to the loops' receivers.
    ("tag with DEL", {**OK, "tags": ["a\x7fb"]}, 400, "invalid-option", "tags"),
    ("tag with a C1 control", {**OK, "tags": ["a\x85b"]}, 400, "invalid-option", "tags"),
    ("tag with a bidi override", {**OK, "tags": ["invoice\u202egpj.exe"]}, 400, "invalid-option", "tags"),
    ("tag with a line separator", {**OK, "tags": ["a\u2028b"]}, 400, "invalid-option", "tags"),
    ("bad maxdelivertime", {**OK, "maxdelivertime": "tomorrow"}, 400, "invalid-option", "maxdelivertime"),
    ("past maxdelivertime", {**OK, "maxdelivertime": "2020-01-01 00:00:00"}, 400, "invalid-option", "maxdelivertime"),
    ("bad dsn notify", {**OK, "dsn": {"notify": ["SOMETIMES"]}}, 400, "invalid-option", "dsn"),
    ("dsn not an object", {**OK, "dsn": 5}, 400, "invalid-option", "dsn"),
    (
        "fields without from",
        {"recipients": ["x@example.net"], "subject": "hi", "text": "x"},
        400,
        "invalid-field",
        "from",
    ),
    (
        "header injection",
        {"recipients": ["x@example.net"], "from": "a@example.com", "subject": "hi\nBcc: y@z.com"},
        400,
        "invalid-field",
        "subject",
    ),
    (
        "attachments without mime",
        {"recipients": ["x@example.net"], "from": "a@example.com", "attachments": [{"name": "a.txt"}]},
        400,
        "invalid-field",
        "attachments",
    ),
    # Beside mime too: dropped in silence, the file would be missing from mail answered 200.
    (
        "attachments with mime",
        {**OK, "attachments": [{"name": "résumé.pdf", "type": "application/pdf", "data": "aGVsbG8="}]},
        400,
        "invalid-field",
        "attachments",
    ),
    (
        "inline images with mime",
        {**OK, "images": [{"name": "logo.png", "data": "aGVsbG8="}]},
        400,
        "invalid-field",
        "images",
    ),
]


@pytest.mark.parametrize(("body", "status", "slug", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_send_requests(
    client: httpx.AsyncClient, store: SqliteStore, body: dict[str, Any], status: int, slug: str, field: str | None
) -> None:
    # json.dumps escapes non-ASCII, so a lone surrogate travels as the "\\ud800" a client would send.
    response = await client.post("/v1/send", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_problem(response, status, slug, field)
    assert (await store.queue_summary())["queued"] == 0


# (name, raw body, content type, status, problem type)
RAW: list[tuple[str, bytes, str, int, str]] = [
    ("not JSON", b"{recipients: ", "application/json", 400, "invalid-body"),
    ("not UTF-8", b'{"recipient": "x@example.net", "mime": "\xff\xfe"}', "application/json", 400, "invalid-body"),
    ("an array", b"[1, 2]", "application/json", 400, "invalid-body"),
    ("NaN", b'{"recipient": NaN}', "application/json", 400, "invalid-body"),
    ("empty body", b"", "application/json", 400, "invalid-body"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "invalid-body"),
    ("a form", b"recipient=x%40example.net", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ("no content type", b'{"recipient": "x@example.net", "mime": "x"}', None, 415, "unsupported-media-type"),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "slug"), [c[1:] for c in RAW], ids=[c[0] for c in RAW])
async def test_bad_bodies(
    client: httpx.AsyncClient, raw: bytes, content_type: str | None, status: int, slug: str
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.post("/v1/send", content=raw, headers=headers)
    assert response.request.headers.get("content-type") == content_type  # none at all, for None
    assert_problem(response, status, slug)


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient, settings: Settings) -> None:
    settings.http.max_body_size = Size(2000)
    big = {"recipient": "x@example.net", "mime": MESSAGE + "x" * 3000}
    assert_problem(await client.post("/v1/send", json=big), 413, "too-large")

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        yield b'{"recipient": "x@example.net", "mime": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    chunked = await client.post("/v1/send", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(chunked, 413, "too-large")


async def test_a_message_over_the_size_limit(client: httpx.AsyncClient, settings: Settings) -> None:
    settings.smtp.submission.max_message_size = Size(100)
    assert_problem(
        await client.post("/v1/send", json={**OK, "mime": MESSAGE + "x" * 200}), 400, "invalid-message", "mime"
    )


async def test_too_many_recipients(client: httpx.AsyncClient, settings: Settings) -> None:
    settings.smtp.submission.max_recipients = 2
    body = {**OK, "recipients": ["a@example.net", "b@example.net", "c@example.net"]}
    assert_problem(await client.post("/v1/send", json=body), 400, "invalid-address", "recipients")


async def test_a_field_given_twice_is_refused_not_half_read(client: httpx.AsyncClient, store: SqliteStore) -> None:
    """RFC 8259 section 4 leaves duplicate names to the parser: Python's keeps the last, other
    parsers (a gateway's, a log's) the first, so what was checked and what is sent may differ.
    Before: the last `mime` was sent, with a 200."""
    first, second = json.dumps(MESSAGE), json.dumps(MESSAGE.replace("hello", "other"))
    raw = f'{{"recipients": ["x@example.net"], "mime": {first}, "mime": {second}}}'.encode()
    response = await client.post("/v1/send", content=raw, headers={"Content-Type": "application/json"})
    doc = assert_problem(response, 400, "invalid-body", "mime")
    assert "twice" in str(doc["detail"])
    nested = b'{"recipients": ["x@example.net"], "mime": "x", "dsn": {"ret": "FULL", "ret": "HDRS"}}'
    response = await client.post("/v1/send", content=nested, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid-body", "dsn.ret")
    assert (await store.queue_summary())["queued"] == 0


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"", "the body is empty"),
        (b"  \r\n", "the body is empty"),
        (b'{"recipients": 1' + b"0" * 5000 + b"}", "a number in the body has more than 4300 digits"),
    ],
    ids=["empty", "blank", "huge number"],
)
async def test_a_body_that_is_no_json_says_why_in_its_words(client: httpx.AsyncClient, raw: bytes, detail: str) -> None:
    """Before: an empty body was 'Expecting value at line 1 column 1', and a number of 5000
    digits told the client to 'use sys.set_int_max_str_digits() to increase the limit'."""
    response = await client.post("/v1/send", content=raw, headers={"Content-Type": "application/json"})
    assert assert_problem(response, 400, "invalid-body")["detail"] == detail
