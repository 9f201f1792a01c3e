"""The variables posted for each event: SMTPeter's names, ours on top, in form and JSON bodies."""

from __future__ import annotations

import json

import pytest

from returnpath.core.events import Event, EventKind, log_record
from returnpath.core.feedback import Format
from returnpath.webhooks.payloads import FORM_TYPE, JSON_TYPE, encode, payload

from . import samples
from .receiver import form_fields
from .samples import BOUNCE_MIME, DELIVERY, MESSAGE

COMMON = {"id", "type", "timestamp", "time", "tags"}
# The names of SMTPeter's webhooks (issue 4, "What is sent"), then ours.
SMTPETER = {
    EventKind.DELIVERY: COMMON | {"recipient", "code", "extended", "description"},
    EventKind.FAILURE: COMMON | {"recipient", "action", "state", "code", "extended", "description"},
    EventKind.DEFERRED: COMMON | {"recipient", "action", "state", "code", "extended", "description"},
    EventKind.BOUNCE: COMMON | {"recipient", "envelope", "mailfrom", "rcptto", "mime"},
    EventKind.ABUSE: COMMON | {"recipient", "emailfrom", "mime"},
}
OURS = {
    EventKind.DELIVERY: set(),
    EventKind.FAILURE: {"async", "reason", "hard", "dsn", "command"},
    EventKind.DEFERRED: {"async", "reason", "hard", "dsn", "command"},
    EventKind.BOUNCE: {"kind", "reason"},
    EventKind.ABUSE: {"feedbacktype"},
}


def fields(event: Event) -> dict[str, object]:
    return dict(payload(42, event, samples.mime_of(event)))


@pytest.mark.parametrize(
    "event", [*samples.every_kind(), *samples.dsn_delay(), samples.expired()], ids=lambda e: e.kind.value
)
def test_every_kind_has_exactly_smtpeters_names_and_ours(event: Event) -> None:
    assert set(fields(event)) == SMTPETER[event.kind] | OURS[event.kind] | {"message", "event_id"}


def test_a_delivery() -> None:
    assert fields(samples.delivered()) == {
        "id": DELIVERY,
        "type": "delivery",
        "timestamp": "2027-01-15 08:00:00",
        "time": 1_800_000_000,
        "recipient": "gone@example.net",
        "code": 250,
        "extended": "2.0.0",
        "description": "2.0.0 Ok: queued as 4XyZ",
        "tags": ["welcome", "batch 7"],
        "message": MESSAGE,
        "event_id": 42,
    }


def test_a_refusal_during_smtp_is_a_sync_failure_at_its_step() -> None:
    assert fields(samples.refused()) == {
        "id": DELIVERY,
        "type": "failure",
        "timestamp": "2027-01-15 08:00:00",
        "time": 1_800_000_000,
        "recipient": "gone@example.net",
        "action": "failed",
        "state": "rcpt",
        "code": 550,
        "extended": "5.1.1",
        "description": "5.1.1 <gone@example.net>: Recipient address rejected",
        "async": False,
        "reason": "userunknown",  # the same classifier as a DSN saying this would get
        "hard": True,
        "dsn": False,
        "command": "RCPT",
        "tags": ["welcome", "batch 7"],
        "message": MESSAGE,
        "event_id": 42,
    }


def test_a_failure_that_came_back_has_state_bounce_and_the_reports_fields() -> None:
    failure = next(e for e in samples.dsn_failure() if e.kind is EventKind.FAILURE)
    got = fields(failure)
    assert {
        k: got[k]
        for k in ("action", "state", "code", "extended", "description", "async", "reason", "hard", "dsn", "command")
    } == {
        "action": "failed",
        "state": "bounce",
        "code": 550,
        "extended": "5.1.1",
        "description": "550 5.1.1 no such user",
        "async": True,
        "reason": "userunknown",
        "hard": True,
        "dsn": True,
        "command": "RCPT",
    }


def test_the_retry_window_closing_is_a_soft_failure_with_reason_expired_and_no_code() -> None:
    got = fields(samples.expired())
    assert (got["state"], got["code"], got["extended"], got["reason"], got["hard"]) == (
        "connect",
        None,
        "",
        "expired",
        False,
    )


def test_an_unknown_code_is_null_in_json_as_in_the_logs_and_empty_in_a_form() -> None:
    event = samples.expired()
    assert log_record(7, event)["code"] is None
    assert json.loads(encode(payload(7, event, None), Format.JSON)[1])["code"] is None
    assert form_fields(encode(payload(7, event, None), Format.FORM)[1])["code"] == ""


@pytest.mark.parametrize(
    ("event", "state", "is_async"),
    [
        (samples.deferred(), "rcpt", False),
        (samples.dsn_delay()[1], "bounce", True),
    ],
)
def test_a_deferral_has_the_shape_of_a_failure_with_action_delayed(event: Event, state: str, is_async: bool) -> None:
    got = fields(event)
    assert (got["type"], got["action"], got["state"], got["async"], got["hard"]) == (
        "deferred",
        "delayed",
        state,
        is_async,
        False,
    )


def test_a_bounce_carries_the_complete_returned_message_and_both_envelopes() -> None:
    bounce = samples.dsn_failure()[0]
    got = fields(bounce)
    assert {k: got[k] for k in ("recipient", "envelope", "mailfrom", "rcptto", "mime", "kind", "reason")} == {
        "recipient": "gone@example.net",
        "envelope": "bounces@app.example",
        "mailfrom": "MAILER-DAEMON@mx.example.net",
        "rcptto": f"b{DELIVERY}@bounces.example.test",
        "mime": BOUNCE_MIME.decode(),
        "kind": "dsn",
        "reason": "userunknown",
    }


def test_an_auto_reply_is_a_bounce_of_kind_autoreply() -> None:
    (bounce,) = samples.autoreply()
    assert (fields(bounce)["type"], fields(bounce)["kind"]) == ("bounce", "autoreply")


def test_a_complaint_names_who_complained_and_carries_the_report() -> None:
    abuse = samples.complaint()[1]
    got = fields(abuse)
    assert {k: got[k] for k in ("type", "recipient", "emailfrom", "feedbacktype", "mime")} == {
        "type": "abuse",
        "recipient": "gone@example.net",
        "emailfrom": "complainer@isp.example",
        "feedbacktype": "abuse",
        "mime": BOUNCE_MIME.decode(),
    }


def test_a_returned_message_that_is_not_utf8_is_still_posted() -> None:
    bounce = samples.dsn_failure()[0]
    got = payload(1, bounce, b"Subject: caf\xe9\r\n\r\n\xff")
    assert got["mime"] == "Subject: caf\ufffd\r\n\r\n\ufffd"
    assert json.loads(encode(got, Format.JSON)[1])["mime"] == got["mime"]


# ---- bodies ------------------------------------------------------------------------------------


def test_the_form_body_reads_back_as_php_reads_post_variables() -> None:
    event = samples.refused()
    content_type, body = encode(payload(42, event, None), Format.FORM)
    assert content_type == FORM_TYPE == "application/x-www-form-urlencoded"
    assert b"tags%5B%5D=welcome&tags%5B%5D=batch+7" in body
    got = form_fields(body)
    assert got["tags"] == ["welcome", "batch 7"]  # tags[]=... repeated: an array in PHP
    assert (got["hard"], got["async"], got["code"], got["time"]) == ("1", "0", "550", "1800000000")
    assert got["description"] == "5.1.1 <gone@example.net>: Recipient address rejected"


def test_the_form_body_leaves_out_an_empty_list_as_http_build_query_does() -> None:
    bounce = samples.dsn_failure()[0]
    untagged = Event(
        bounce.kind, bounce.delivery_id, bounce.message_id, bounce.account_id, bounce.time, {**bounce.data, "tags": []}
    )
    _, body = encode(payload(1, untagged, BOUNCE_MIME), Format.FORM)
    assert "tags" not in form_fields(body)
    assert form_fields(body)["mime"] == BOUNCE_MIME.decode()


def test_the_json_body_has_the_same_names_with_json_types() -> None:
    event = samples.dsn_failure()[1]
    content_type, body = encode(payload(42, event, None), Format.JSON)
    assert content_type == JSON_TYPE
    assert json.loads(body) == payload(42, event, None)
    assert json.loads(body)["async"] is True and json.loads(body)["code"] == 550
