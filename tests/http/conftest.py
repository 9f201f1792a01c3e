"""A real uvicorn server on a loopback port, serving the API over the test store, and clients."""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from returnpath.config import Settings
from returnpath.core import credentials, ids
from returnpath.core.model import Account
from returnpath.http import create_app, serve_http
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import Relay
from tests.webhooks.receiver import receiver  # noqa: F401 - a fixture


@functools.cache
def _password_hash(password: str) -> str:
    return credentials.hash_password(password)


async def make_account(store: SqliteStore, name: str) -> NewAccount:
    """An account as accounts.create_account makes it, with the scrypt of its SMTP password
    computed once per run: these tests call the API with the token and never log in over SMTP."""
    now = time.time()
    created = NewAccount(Account(ids.new_id(now), name, name), credentials.new_token(), f"{name}-password")
    await store.create_account(
        created.account, credentials.hash_token(created.api_token), _password_hash(created.smtp_password), now
    )
    return created


@pytest.fixture
async def account(store: SqliteStore) -> NewAccount:
    """The test account."""
    return await make_account(store, "app")


@pytest.fixture
def app(relay: Relay, settings: Settings) -> Starlette:
    return create_app(relay, settings)


@pytest.fixture
async def base_url(app: Starlette, settings: Settings) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = await serve_http(app, settings, sock)
    yield f"http://127.0.0.1:{port}"
    await server.stop()


@pytest.fixture
async def anonymous(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client without a token."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def client(base_url: str, account: NewAccount) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the test account's token."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {account.api_token}"}
    ) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, slug: str, field: str | None = None) -> dict[str, object]:
    """The response is an RFC 9457 problem document of this status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc = response.json()
    assert doc["type"] == f"urn:returnpath:problem:{slug}", doc
    assert doc["status"] == status and doc["title"] and doc["detail"]
    assert doc.get("field") == field, doc
    return doc  # type: ignore[no-any-return]


MESSAGE = "From: App <app@example.com>\nTo: x@example.net\nSubject: hello\n\nline one\nline two\n"
