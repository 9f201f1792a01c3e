"""`/v1/domains`: each account adds, sees and removes only its own sending domains; the
records to publish come with a domain; bad names and taken domains are problems."""

from __future__ import annotations

import httpx
import pytest

from returnpath.config import Settings
from returnpath.dkim import records
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.domains import pending_keys, signing_keys

from .conftest import assert_problem, make_account

DOMAINS = "/v1/domains"


@pytest.fixture
async def other_client(base_url: str, store: SqliteStore) -> httpx.AsyncClient:
    other = await make_account(store, "other")
    return httpx.AsyncClient(base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {other.api_token}"})


async def test_add_answers_201_with_the_records_to_publish(
    client: httpx.AsyncClient, store: SqliteStore, settings: Settings, account: NewAccount
) -> None:
    response = await client.post(DOMAINS, json={"domain": "Example.com."})
    assert response.status_code == 201, response.text
    added = response.json()
    assert response.headers["location"] == f"{DOMAINS}/example.com"
    assert added["domain"] == "example.com" and added["account"] == account.account.id
    assert added["bounce_domain"] == settings.bounce_domain.split(".")[0] + ".example.com"
    stored = await store.domain("example.com")
    assert stored is not None and added["selectors"] == {"rsa": stored.rsa_selector, "ed25519": stored.ed25519_selector}
    names = [(r["name"], r["type"]) for r in added["records"]]
    assert names == [
        (f"{stored.rsa_selector}._domainkey.example.com", "TXT"),
        (f"{stored.ed25519_selector}._domainkey.example.com", "TXT"),
        (stored.bounce_domain, "MX"),
        (stored.bounce_domain, "TXT"),
        ("_dmarc.example.com", "TXT"),
    ]
    # The published values carry the keys kept in the store.
    for key, record in zip(await signing_keys(store, settings, stored), added["records"], strict=False):
        assert records.record_problem(key, ["".join(record["value"].split('"')[1::2])]) is None
    assert (await client.get(f"{DOMAINS}/example.com")).json() == added


async def test_the_spf_record_is_the_one_the_cli_prints(client: httpx.AsyncClient, settings: Settings) -> None:
    spf = {"name": f"{settings.bounce_domain.split('.')[0]}.example.com", "type": "TXT"}
    added = (await client.post(DOMAINS, json={"domain": "example.com"})).json()
    assert (
        spf
        | {
            "value": f'"v=spf1 a:{settings.hostname} -all"',
            "purpose": "SPF: this host by name: set [delivery] public_addresses to list the sending addresses "
            "(ip4:/ip6:) instead",
        }
        in added["records"]
    )
    settings.delivery.public_addresses = "198.51.100.7,2001:db8::7"
    shown = (await client.get(f"{DOMAINS}/example.com")).json()
    assert (
        spf
        | {
            "value": '"v=spf1 ip4:198.51.100.7 ip6:2001:db8::7 -all"',
            "purpose": "SPF: the addresses this host sends from",
        }
        in shown["records"]
    )


async def test_an_account_sees_and_removes_only_its_own_domains(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    async with other_client:
        assert (
            await client.post(DOMAINS, json={"domain": "example.com", "bounce_domain": "rp.example.com"})
        ).status_code == 201
        assert (await other_client.post(DOMAINS, json={"domain": "example.org"})).status_code == 201
        mine = (await client.get(DOMAINS)).json()["domains"]
        assert [(d["domain"], d["bounce_domain"]) for d in mine] == [("example.com", "rp.example.com")]
        assert [d["domain"] for d in (await other_client.get(DOMAINS)).json()["domains"]] == ["example.org"]
        assert_problem(await other_client.get(f"{DOMAINS}/example.com"), 404, "not-found")
        assert_problem(await other_client.delete(f"{DOMAINS}/example.com"), 404, "not-found")
        doc = assert_problem(await other_client.post(DOMAINS, json={"domain": "example.com"}), 400, "invalid-input")
        assert doc["detail"] == (
            "the domain example.com belongs to another account: that account must remove it before this one adds it"
        )
        doc = assert_problem(await client.post(DOMAINS, json={"domain": "example.com"}), 400, "invalid-input")
        assert doc["detail"] == (
            "the domain example.com is configured already: its records to publish are shown again by "
            "`returnpath domains show example.com` (GET /v1/domains/example.com)"
        )
        assert (await client.delete(f"{DOMAINS}/example.com")).status_code == 204
        assert (await client.get(DOMAINS)).json() == {"domains": []}
        assert_problem(await client.delete(f"{DOMAINS}/example.com"), 404, "not-found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "domain"),
        ({"domain": "localhost"}, "domain"),
        ({"domain": "exa_mple.com"}, "domain"),
        ({"domain": 42}, "domain"),
        ({"domain": "example.com", "bounce_domain": "not a domain"}, "bounce_domain"),
        ({"domain": "example.com", "selector": "x"}, "selector"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, store: SqliteStore, body: dict[str, object], field: str
) -> None:
    assert_problem(await client.post(DOMAINS, json=body), 400, "invalid-field", field)
    assert await store.dkim_keys("example.com") == []  # no key made for a refused request


async def test_a_token_is_needed(anonymous: httpx.AsyncClient) -> None:
    assert_problem(await anonymous.get(DOMAINS), 401, "unauthorized")
    assert_problem(await anonymous.post(DOMAINS, json={"domain": "example.com"}), 401, "unauthorized")


async def test_rotate_makes_pending_keys_and_lists_their_records(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, store: SqliteStore, settings: Settings
) -> None:
    assert (await client.post(DOMAINS, json={"domain": "example.com"})).status_code == 201
    async with other_client:
        assert_problem(await other_client.post(f"{DOMAINS}/example.com/rotate"), 404, "not-found")
    response = await client.post(f"{DOMAINS}/example.com/rotate")
    assert response.status_code == 200, response.text
    rotated = response.json()
    stored = await store.domain("example.com")
    assert stored is not None and rotated["state"] == "rotating"
    assert rotated["selectors"] == {"rsa": stored.rsa_selector, "ed25519": stored.ed25519_selector}
    assert rotated["pending_selectors"] == {"rsa": stored.rsa_selector + "b", "ed25519": stored.rsa_selector + "be"}
    pending = [r for r in rotated["records"] if r["purpose"].startswith("next DKIM key")]
    for key, record in zip(await pending_keys(store, settings, stored), pending, strict=True):
        assert records.record_problem(key, ["".join(record["value"].split('"')[1::2])]) is None
    assert (await client.get(f"{DOMAINS}/example.com")).json() == rotated
    doc = assert_problem(await client.post(f"{DOMAINS}/example.com/rotate"), 400, "invalid-input")
    assert "is pending already" in doc["detail"]
    assert "GET /v1/domains/example.com" in doc["detail"]  # where an API client finds the records
