"""A request h11 cannot parse is refused before it reaches the API — by uvicorn, which would
answer in plain text — with the API's own problem document (http/guard.py). If uvicorn stops
calling `send_400_response`, these tests fail."""

from __future__ import annotations

import asyncio
import json

import pytest

HEADS = [
    b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS, ids=["not-a-number", "negative", "two-lengths", "no-colon"])
async def test_a_malformed_request_gets_a_problem_document(base_url: str, head: bytes) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    answer = await asyncio.wait_for(reader.read(), 10)  # the server answers and closes
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in headers and b"Connection: close" in headers
    problem = json.loads(body)
    assert problem["type"] == "urn:returnpath:problem:malformed-request" and problem["status"] == 400
    assert problem["detail"].startswith("the request is not valid HTTP/1.1")
