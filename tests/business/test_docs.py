"""docs/business-api.md, docs/openapi.yaml and docs/examples agree with the code."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.business.business_protocol import encode_body, parse_webhook, task_payload
from callcenter.business.records import CallRelation, TaskCall
from callcenter.business.web import setup_api
from callcenter.business.wrapup import RECORDS, form_from_json, validate
from callcenter.domain import DeliveryState, Task, TaskKind, TaskStatus

DOCS = Path(__file__).resolve().parents[2] / "docs"
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOCS / name).read_text(encoding="utf-8"))
    return data


def test_openapi_documents_every_api_route_and_nothing_else() -> None:
    app = web.Application()
    setup_api(app)
    routes = {r.resource.canonical for r in app.router.routes()  # type: ignore[union-attr]
              if r.method != "HEAD"}
    spec = (DOCS / "openapi.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^  (/api/\S+):$", spec, flags=re.MULTILINE))
    assert documented == routes


def test_delivery_example_and_schema_match_the_payload_the_code_builds() -> None:
    task = Task(id=1, task_number="RP20261122-0001", kind=TaskKind.REPAIR, status=TaskStatus.NEW,
                merchant_id=1, linked_id="c1", agent_number="8001", terminal_serial="S",
                product_model="M", address="a", site_phone="02150551234",
                business_hours="09:00-21:00", contact_person="p", description="d",
                engineer="", appointment_at=None, cancel_reason="", external_id="",
                delivery_state=DeliveryState.PENDING, version=1, created_at=T0,
                updated_at=T0)
    payload = task_payload(event="task.created", task=task, disposition="repair",
                           department="", merchant_number="102290054110001", merchant_name="n",
                           calls=[TaskCall("c1", "8001", CallRelation.ORIGIN, T0)],
                           complaint=None)
    schema = _load("schemas/task-delivery.schema.json")
    example = _load("examples/task-delivery.json")
    assert set(payload) == set(schema["required"]) == set(schema["properties"]) == set(example)
    assert set(schema["properties"]["task_number"]["pattern"][2:].split(")")[0].split("|")) \
        == {spec.prefix for spec in RECORDS.values()}
    assert encode_body(example)  # canonical JSON of the example encodes


def test_request_examples_are_accepted_by_the_code() -> None:
    # the call's merchant comes from the IVR; validate() needs it named
    wrapup = validate(replace(form_from_json(_load("examples/wrapup.request.json")),
                              merchant_id=1))
    assert wrapup.spec.prefix == "RP"
    event = parse_webhook((DOCS / "examples" / "webhook-event.json").read_bytes())
    assert event.status is TaskStatus.APPOINTED
    request_schema = _load("schemas/wrapup-request.schema.json")
    assert set(request_schema["properties"]["disposition"]["enum"]) == {d.value for d in RECORDS}


def test_the_guide_names_every_disposition_and_error_id() -> None:
    guide = (DOCS / "business-api.md").read_text(encoding="utf-8")
    for disposition in RECORDS:
        assert f"`{disposition.value}`" in guide
    for error_id in ("possible_duplicate", "task_state_conflict", "bad_signature",
                     "unknown_task", "malformed_event", "validation_failed"):
        assert error_id in guide
