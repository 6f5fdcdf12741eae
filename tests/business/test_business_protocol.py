"""Wire format with the business system: canonical bodies, HMAC, keys, webhook bodies. Pure."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from callcenter.business.business_protocol import (
    WebhookEvent,
    encode_body,
    idempotency_key,
    parse_acknowledgement,
    parse_idempotency_key,
    parse_webhook,
    sign,
    verify,
    webhook_body,
)
from callcenter.business.errors import MalformedEvent
from callcenter.domain import TaskStatus

SECRET = "s3cret"


def test_body_is_canonical_utf8_json() -> None:
    assert encode_body({"b": 1, "a": "维修"}) == '{"a":"维修","b":1}'.encode()
    assert encode_body({"a": "维修", "b": 1}) == encode_body({"b": 1, "a": "维修"})


def test_signature_is_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"task_number":"RP20261122-0001"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == f"sha256={expected}"
    assert verify(SECRET, body, f"sha256={expected}")
    assert not verify(SECRET, body + b" ", f"sha256={expected}")
    assert not verify("other", body, f"sha256={expected}")
    assert not verify(SECRET, body, None)
    assert not verify("", body, sign("", body))  # an empty secret verifies nothing


def test_idempotency_key_is_stable_per_version_and_parses_back() -> None:
    assert idempotency_key("RP20261122-0001", 3) == "RP20261122-0001.v3"
    assert parse_idempotency_key("RP20261122-0001.v3") == ("RP20261122-0001", 3)
    with pytest.raises(ValueError, match="idempotency key"):
        parse_idempotency_key("RP20261122-0001")


def test_webhook_body_round_trips() -> None:
    event = WebhookEvent("bs-1", "RP20261122-0001", TaskStatus.APPOINTED,
                         datetime(2026, 11, 22, 2, 15, tzinfo=UTC), engineer="李工",
                         appointment_at=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    assert parse_webhook(webhook_body(event)) == event


def test_webhook_times_may_carry_any_zone() -> None:
    event = parse_webhook(b'{"event_id":"e","task_number":"RP20261122-0001","status":"done",'
                          b'"occurred_at":"2026-11-22T10:15:00+08:00"}')
    assert event.occurred_at == datetime(2026, 11, 22, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    (b"[1]", "body"),
    (b'{"task_number":"RP20261122-0001","status":"done","occurred_at":"2026-11-22T02:00:00Z"}',
     "event_id"),
    (b'{"event_id":"e","task_number":"RP20261122-0001","status":"new",'
     b'"occurred_at":"2026-11-22T02:00:00Z"}', "status"),
    (b'{"event_id":"e","task_number":"RP20261122-0001","status":"done",'
     b'"occurred_at":"2026-11-22T02:00:00"}', "occurred_at"),
    (b'{"event_id":"e","task_number":"RP20261122-0001","status":"done",'
     b'"occurred_at":"2026-11-22T02:00:00Z","engineer":7}', "engineer"),
])
def test_malformed_webhook_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedEvent) as exc:
        parse_webhook(body)
    assert exc.value.field == field


def test_acknowledgement_reads_the_external_id_when_there_is_one() -> None:
    assert parse_acknowledgement(201, b'{"external_id":"BMS-77"}').external_id == "BMS-77"
    assert parse_acknowledgement(200, b"").external_id == ""
    assert parse_acknowledgement(200, b"<html>").external_id == ""
    assert parse_acknowledgement(409, b"{}").duplicate
