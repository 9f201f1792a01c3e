"""Fuzzing with hypothesis: random command lines and random message data on both SMTP ports
(real servers, one connection per example), and random send requests through the HTTP
payload parser. What must hold whatever comes in:

- every reply is a well-formed SMTP reply, a refusal with an enhanced status code, and the
  session goes on (or ends with a 221/421);
- data is accepted exactly when it is a clean message (CRLF lines only, no NUL, no line over
  998 octets), and then stored as it was sent (the inbound server byte for byte); refused
  data stores nothing;
- the payload parser returns a Submission or a 400 problem naming what is wrong, nothing else.

Bounded so that CI stays fast: a hundred-odd examples each, no deadline (the machine is shared).
"""

from __future__ import annotations

import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from returnpath.config import Settings
from returnpath.core.intake import check_data
from returnpath.core.model import Submission
from returnpath.errors import MessageError
from returnpath.http.payload import CONTENT, OWN, PRESENTATION, submission_from
from returnpath.http.problems import KINDS, Problem
from returnpath.smtp.replies import S500_LINE_TOO_LONG
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from tests.smtp.test_data_reader import stuff
from tests.smtp.test_inbound import tracking_address

from .conftest import RawClient, Server, smtp_from

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REPLY = re.compile(r"^[2-5]\d\d([ -].*)?$")
# A refusal names its reason with an RFC 3463 enhanced status code too.
REFUSAL = re.compile(r"^([45])\d\d[ -]\1\.\d{1,3}\.\d{1,3}( |$)")

COMMANDS = ["HELO", "EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP", "VRFY", "HELP", "AUTH", "BDAT", "QUIT"]
command_lines = st.one_of(
    st.builds(
        lambda verb, arg: verb.encode() + arg,
        st.sampled_from(COMMANDS),
        st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")),
    ),
    st.binary(max_size=1200).map(lambda b: b.replace(b"\n", b"")),
    st.text(max_size=100).map(lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass")),
)
# Pieces of data, weighted towards what ends data, smuggles or breaks lines.
PIECES = [
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b".",
    b"..",
    b"\x00",
    b"a",
    b"text ",
    b"\xc3\xa9",
    b"\xff",
    b"y" * 999,
]
bodies = st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join)


def roomy(settings: Settings) -> None:
    """No connection or rate limit in the way of a hundred connections in a row."""
    for server in (settings.smtp.submission, settings.smtp.inbound):
        server.command_timeout = server.data_timeout = type(server.command_timeout)(30)
        server.max_connections_per_address = server.max_connections = 10_000
    settings.smtp.inbound.messages_per_minute_per_address = 100_000


def well_formed(reply: str) -> bool:
    lines = reply.split("\n")
    return all(REPLY.match(line) and (line[0] in "23" or REFUSAL.match(line)) for line in lines)


def clean(content: bytes) -> bool:
    try:
        check_data(content)
    except MessageError:
        return False
    return True


@FUZZ
@given(line=command_lines)
async def test_command_lines(small: Settings, smtp: Server, line: bytes) -> None:
    if line.split(b" ")[0].upper().startswith(b"STARTTLS"):
        return  # a TLS handshake would follow, not a command
    roomy(small)
    client = await smtp_from(await smtp.once())
    try:
        assert (await client.command("EHLO client.example.com")).startswith("250")
        await client.send(line + b"\r\n")
        reply = await client.reply()
        assert well_formed(reply), (line, reply)
        if reply.startswith("334"):  # an AUTH challenge: give up on it
            assert (await client.command("*")).startswith("501")
        if not reply.startswith(("221", "421")):
            assert await client.command("NOOP") == "250 OK", line
    finally:
        await client.close()


async def begin(client: RawClient, port: str, settings: Settings, account: NewAccount) -> None:
    if port == "submission":
        await client.login(account)
        assert (await client.command("MAIL FROM:<app@example.com>")).startswith("250")
        assert (await client.command("RCPT TO:<someone@example.net>")).startswith("250")
    else:
        await client.command("EHLO mx.example.net")
        assert (await client.command("MAIL FROM:<>")).startswith("250")
        assert (await client.command(f"RCPT TO:<{tracking_address(settings)[1]}>")).startswith("250")
    assert (await client.command("DATA")).startswith("354")


HEADER = b"From: App <app@example.com>\r\nTo: someone@example.net\r\nSubject: fuzz\r\n\r\n"


@FUZZ
@given(body=bodies)
async def test_message_data(
    small: Settings, smtp: Server, account: NewAccount, store: SqliteStore, body: bytes
) -> None:
    roomy(small)
    content = HEADER + body + (b"" if body.endswith(b"\r\n") else b"\r\n")
    before = sum((await store.queue_summary()).values())
    client = await smtp_from(await smtp.once())
    try:
        await begin(client, smtp.name, small, account)
        await client.send(stuff(content))
        reply = await client.reply()
        assert well_formed(reply)
        assert await client.command("NOOP") == "250 OK"  # nothing of the data was a command
    finally:
        await client.close()
    returned = await store.claim_returns("fuzz", 2e9, 2e9 + 60, 10)
    if not clean(content):
        # Refused by the data checks, or already by the reader for a line over its limit.
        assert reply.startswith(("550 5.6.0 ", S500_LINE_TOO_LONG)), (content, reply)
        assert returned == [] and sum((await store.queue_summary()).values()) == before
    elif smtp.name == "inbound":
        assert reply.startswith("250 2.0.0 OK received as "), (content, reply)
        assert [r.raw for r in returned] == [content]  # byte for byte
    else:
        assert reply.startswith("250 2.0.0 OK queued as "), (content, reply)
        assert sum((await store.queue_summary()).values()) == before + 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
mime_texts = st.lists(
    st.sampled_from(["From: a@example.com", "Subject: x", "\r\n", "\n", "\r", ".", "body", "\x00", "é", ":"]),
    max_size=20,
).map("".join)
fields = st.sampled_from([*OWN, *PRESENTATION, *CONTENT, "unknown"])
payloads = st.dictionaries(
    fields,
    st.one_of(
        json_values,
        mime_texts,
        st.lists(st.sampled_from(["someone@example.net", "x", "<a@b.c>", "a@b"]), max_size=3),
    ),
    max_size=6,
)


@FUZZ
@given(payload=payloads)
def test_the_http_payload_parser(payload: dict[str, object]) -> None:
    try:
        result = submission_from(payload, Settings(), time.time())
    except Problem as problem:
        assert problem.status == 400 and problem.slug in KINDS and problem.detail, problem
        return
    assert isinstance(result, Submission)
    check_data(result.mime)  # what is accepted is a clean message
    assert result.recipients
