"""Our signatures, checked by the `standardwebhooks` package as receivers check them."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from returnpath.webhooks import signing

BODY = b"id=d1&type=bounce&mime=caf%C3%A9"
JSON_BODY = '{"id":"d1","description":"Empfänger unbekannt — café"}'.encode()


def test_a_secret_is_whsec_and_24_random_bytes_in_base64() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert signing.new_secret() != secret


def test_the_signature_is_the_one_the_library_computes() -> None:
    secret, ts = signing.new_secret(), 1_800_000_000
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(ts, UTC), BODY.decode())
    assert signing.signature(secret, "msg_1", ts, BODY) == expected


@pytest.mark.parametrize("body", [BODY, JSON_BODY], ids=["form", "json"])
def test_the_library_verifies_our_headers(body: bytes) -> None:
    secret = signing.new_secret()
    headers = signing.headers(secret, "msg_00000001", int(time.time()), body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_00000001"
    Webhook(secret).verify(body, headers, json_parse=False)  # raises if it does not verify


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b"&x=1"),
        lambda h, b: ({**h, "webhook-id": "msg_00000002"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
    ids=["body", "id", "timestamp", "no-signature"],
)
def test_the_library_rejects_a_tampered_request(tamper) -> None:  # type: ignore[no-untyped-def]
    secret = signing.new_secret()
    headers, body = tamper(signing.headers(secret, "msg_00000001", int(time.time()), BODY), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers, json_parse=False)


def test_another_loops_secret_does_not_verify() -> None:
    headers = signing.headers(signing.new_secret(), "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers, json_parse=False)


def test_an_old_timestamp_is_refused_by_receivers() -> None:
    """Each attempt is signed anew with its own time, so a retry hours later still verifies."""
    secret = signing.new_secret()
    headers = signing.headers(secret, "msg_1", int(time.time()) - 3600, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers, json_parse=False)
