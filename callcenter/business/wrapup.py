"""The wrap-up form: what each disposition records, validation, pre-fill and the record diff.

Pure: no I/O, no clock. The agent's decision tree (shared/docs/domain.md) becomes one table,
:data:`RECORDS`: per disposition the kind of business record, its task-number prefix, the status
it starts in and the fields the agent must fill in.

=============  ===========  ======  ========  ==============================================
disposition    kind         prefix  starts    required (besides the merchant)
=============  ===========  ======  ========  ==============================================
consultation   consultation CS      done      — (a caller who is no merchant: call only)
simple_fault   simple_fault SF      done      description
repair         repair       RP      new       address, site_phone, business_hours,
                                              contact_person, product_model, terminal_serial,
                                              description (≤200)
installation   installation IN      new       address, site_phone, business_hours
complaint_1    complaint    CP      done      description, handling, result
complaint_2    complaint    CP      new       description (escalated at once)
tech_support   consultation TS      done      description (transferred live)
forwarded      consultation FW      new       description, department
=============  ===========  ======  ========  ==============================================

Task numbers read ``RP20261122-0001``: prefix, the local (Asia/Shanghai) day, a per-day
sequence. :func:`task_number` and its inverse :func:`parse_task_number` live together here.

Every rule a form breaks is reported at once (:class:`WrapupInvalid` lists them all), naming the
JSON field, so the desktop can mark each input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from callcenter.business.errors import FieldError, WrapupInvalid
from callcenter.business.records import NewComplaint, NewRecord
from callcenter.business.sla import escalation_tier
from callcenter.domain import (
    DESCRIPTION_MAX,
    Call,
    Disposition,
    Merchant,
    MerchantInput,
    Task,
    TaskKind,
    TaskStatus,
    Terminal,
    TerminalStatus,
    normalise_phone,
    validate_business_hours,
)
from callcenter.errors import ValidationError


class DuplicateKey(StrEnum):
    """Which open tasks of the merchant a new record may duplicate."""

    NONE = "none"
    KIND = "kind"  # any open task of the same kind (one installation at a time)
    KIND_AND_TERMINAL = "kind_and_terminal"  # the same terminal's open repair


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """What a disposition records."""

    disposition: Disposition
    kind: TaskKind
    prefix: str
    initial_status: TaskStatus
    required: tuple[str, ...]
    duplicate_key: DuplicateKey = DuplicateKey.NONE
    needs_merchant: bool = True


_REPAIR_FIELDS = ("address", "site_phone", "business_hours", "contact_person", "product_model",
                  "terminal_serial", "description")
_INSTALL_FIELDS = ("address", "site_phone", "business_hours")

RECORDS: dict[Disposition, RecordSpec] = {
    Disposition.CONSULTATION: RecordSpec(Disposition.CONSULTATION, TaskKind.CONSULTATION, "CS",
                                         TaskStatus.DONE, (), needs_merchant=False),
    Disposition.SIMPLE_FAULT: RecordSpec(Disposition.SIMPLE_FAULT, TaskKind.SIMPLE_FAULT, "SF",
                                         TaskStatus.DONE, ("description",)),
    Disposition.REPAIR: RecordSpec(Disposition.REPAIR, TaskKind.REPAIR, "RP", TaskStatus.NEW,
                                   _REPAIR_FIELDS, DuplicateKey.KIND_AND_TERMINAL),
    Disposition.INSTALLATION: RecordSpec(Disposition.INSTALLATION, TaskKind.INSTALLATION, "IN",
                                         TaskStatus.NEW, _INSTALL_FIELDS, DuplicateKey.KIND),
    Disposition.COMPLAINT_1: RecordSpec(Disposition.COMPLAINT_1, TaskKind.COMPLAINT, "CP",
                                        TaskStatus.DONE, ("description", "handling", "result")),
    Disposition.COMPLAINT_2: RecordSpec(Disposition.COMPLAINT_2, TaskKind.COMPLAINT, "CP",
                                        TaskStatus.NEW, ("description",)),
    Disposition.TECH_SUPPORT: RecordSpec(Disposition.TECH_SUPPORT, TaskKind.CONSULTATION, "TS",
                                         TaskStatus.DONE, ("description",)),
    Disposition.FORWARDED: RecordSpec(Disposition.FORWARDED, TaskKind.CONSULTATION, "FW",
                                      TaskStatus.NEW, ("description", "department")),
}

PREFIXES = frozenset(spec.prefix for spec in RECORDS.values())

# What the caller chose in the IVR (ivr.menu_config.INTENTS) suggests a disposition; the agent
# decides. "agent" (asked for a person) and unknown intents suggest nothing.
INTENT_DISPOSITION: dict[str, Disposition] = {
    "consult": Disposition.CONSULTATION,
    "usage": Disposition.CONSULTATION,
    "status": Disposition.CONSULTATION,
    "repair": Disposition.REPAIR,
    "install": Disposition.INSTALLATION,
    "complaint": Disposition.COMPLAINT_1,
}

TEXT_LIMITS: dict[str, int] = {
    "address": 200, "contact_person": 50, "product_model": 64, "terminal_serial": 64,
    "description": DESCRIPTION_MAX, "handling": DESCRIPTION_MAX, "result": DESCRIPTION_MAX,
    "department": 64, "note": DESCRIPTION_MAX, "link_task_number": 32,
}
TEXT_FIELDS = ("address", "site_phone", "business_hours", "contact_person", "product_model",
               "terminal_serial", "description", "handling", "result", "department", "note",
               "link_task_number")
BOOL_FIELDS = ("media_exposure", "new_despite_open", "update_merchant")
AMOUNT_MAX = 1_000_000_000.0
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------- task numbers

_TASK_NUMBER = re.compile(r"^([A-Z]{2})(\d{8})-(\d{4,})$")


def task_number(prefix: str, day: date, seq: int) -> str:
    """``("RP", 2026-11-22, 1)`` → ``RP20261122-0001`` (5 digits from the 10,000th)."""
    if prefix not in PREFIXES or seq < 1:
        raise ValueError(f"bad task number parts {prefix!r} {seq}")
    return f"{counter_key(prefix, day)}-{seq:04d}"


def counter_key(prefix: str, day: date) -> str:
    """The per-day sequence's key: ``RP20261122``."""
    return f"{prefix}{day.year:04d}{day.month:02d}{day.day:02d}"  # strftime: 5x slower


def parse_task_number(text: str) -> tuple[str, date, int]:
    """Inverse of :func:`task_number`; raises ValueError for anything else."""
    match = _TASK_NUMBER.match(text)
    if match is None or match.group(1) not in PREFIXES:
        raise ValueError(f"not a task number: {text!r}")
    raw = match.group(2)
    day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    return match.group(1), day, int(match.group(3))


# --------------------------------------------------------------------------- the form


@dataclass(frozen=True, slots=True)
class WrapupForm:
    """The wrap-up as the desktop sent it (strings as typed; checked by :func:`validate`)."""

    disposition: str
    merchant_id: int | None = None
    address: str = ""
    site_phone: str = ""
    business_hours: str = ""
    contact_person: str = ""
    product_model: str = ""
    terminal_serial: str = ""
    description: str = ""
    handling: str = ""
    result: str = ""
    amount_yuan: float | None = None
    media_exposure: bool = False
    department: str = ""
    note: str = ""
    link_task_number: str = ""
    new_despite_open: bool = False
    update_merchant: bool = False


@dataclass(frozen=True, slots=True)
class Wrapup:
    """A valid wrap-up: normalised values (phone digits, ``HH:MM-HH:MM``), its record spec."""

    spec: RecordSpec
    merchant_id: int | None
    address: str
    site_phone: str
    business_hours: str
    contact_person: str
    product_model: str
    terminal_serial: str
    description: str
    handling: str
    result: str
    amount_yuan: float | None
    media_exposure: bool
    department: str
    note: str
    link_task_number: str
    new_despite_open: bool
    update_merchant: bool

    @property
    def disposition(self) -> Disposition:
        return self.spec.disposition


def form_from_json(data: Any) -> WrapupForm:
    """Read the JSON body of ``POST /api/calls/{linked_id}/wrapup``.

    Raises WrapupInvalid naming every field of the wrong JSON type; unknown keys are refused too
    (a misspelt ``adress`` must not be dropped silently).
    """
    if not isinstance(data, Mapping):
        raise WrapupInvalid([FieldError("body", "expected a JSON object")])
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    known = {"disposition", "merchant_id", "amount_yuan", *TEXT_FIELDS, *BOOL_FIELDS}
    for key in sorted(set(data) - known):
        errors.append(FieldError(str(key), "unknown field"))
    disposition = data.get("disposition")
    if not isinstance(disposition, str):
        errors.append(FieldError("disposition", "required: one of " + ", ".join(RECORDS)))
    else:
        values["disposition"] = disposition
    merchant_id = data.get("merchant_id")
    if merchant_id is not None:
        if isinstance(merchant_id, bool) or not isinstance(merchant_id, int):
            errors.append(FieldError("merchant_id", "expected an integer id"))
        else:
            values["merchant_id"] = merchant_id
    for key in TEXT_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(FieldError(key, "expected a string"))
        else:
            values[key] = value
    for key in BOOL_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            errors.append(FieldError(key, "expected true or false"))
        else:
            values[key] = value
    amount = data.get("amount_yuan")
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int | float | str):
            errors.append(FieldError("amount_yuan", "expected a number of yuan"))
        else:
            try:
                values["amount_yuan"] = float(amount)
            except ValueError:
                errors.append(FieldError("amount_yuan", f"not a number: {amount!r}"))
    if errors:
        raise WrapupInvalid(errors)
    return WrapupForm(**values)


def validate(form: WrapupForm) -> Wrapup:
    """Check every rule of the form's disposition; raise WrapupInvalid listing all failures.

    Does not check what needs the database (the merchant exists, the serial is the merchant's,
    the linked task is open): :func:`check_link` and the service do.
    """
    errors: list[FieldError] = []
    try:
        spec = RECORDS[Disposition(form.disposition)]
    except ValueError:
        raise WrapupInvalid([FieldError(
            "disposition", f"unknown disposition {form.disposition!r}; one of "
            + ", ".join(RECORDS))]) from None
    text = {key: str(getattr(form, key)).strip() for key in TEXT_FIELDS}
    if spec.needs_merchant and form.merchant_id is None:
        errors.append(FieldError("merchant_id", "identify the merchant first"))
    for key in spec.required:
        if not text[key]:
            errors.append(FieldError(key, "required"))
    for key, limit in TEXT_LIMITS.items():
        if len(text[key]) > limit:
            errors.append(FieldError(key, f"at most {limit} characters, got {len(text[key])}"))
    if text["site_phone"]:
        try:
            text["site_phone"] = normalise_phone(text["site_phone"])
        except ValidationError as exc:
            errors.append(FieldError("site_phone", exc.message))
    if text["business_hours"]:
        try:
            text["business_hours"] = validate_business_hours(text["business_hours"])
        except ValidationError as exc:
            errors.append(FieldError("business_hours", exc.message))
    if text["terminal_serial"] and not _SERIAL.match(text["terminal_serial"]):
        errors.append(FieldError("terminal_serial", "letters, digits, '-' and '_' only"))
    if text["link_task_number"]:
        try:
            prefix, _, _ = parse_task_number(text["link_task_number"])
        except ValueError:
            errors.append(FieldError("link_task_number", "not a task number like "
                                                         "RP20261122-0001"))
        else:
            if prefix != spec.prefix:
                errors.append(FieldError("link_task_number",
                                         f"a {spec.disposition.value} call can only be linked "
                                         f"to a {spec.prefix} task"))
    amount = form.amount_yuan
    if amount is not None and (not math.isfinite(amount) or not 0 <= amount <= AMOUNT_MAX):
        errors.append(FieldError("amount_yuan", "a non-negative amount in yuan"))
    if errors:
        raise WrapupInvalid(errors)
    is_complaint = spec.kind is TaskKind.COMPLAINT
    return Wrapup(
        spec=spec, merchant_id=form.merchant_id, address=text["address"],
        site_phone=text["site_phone"], business_hours=text["business_hours"],
        contact_person=text["contact_person"], product_model=text["product_model"],
        terminal_serial=text["terminal_serial"], description=text["description"],
        handling=text["handling"], result=text["result"],
        amount_yuan=amount if is_complaint else None,
        media_exposure=form.media_exposure and is_complaint,
        department=text["department"], note=text["note"],
        link_task_number=text["link_task_number"], new_despite_open=form.new_despite_open,
        update_merchant=form.update_merchant,
    )


def check_terminal(wrapup: Wrapup, merchant_id: int, terminal: Terminal | None) -> None:
    """A serial the store knows must be this merchant's (a typo would send the engineer to
    another shop's terminal). An unknown serial is accepted: the register may be behind."""
    if wrapup.terminal_serial and terminal is not None and terminal.merchant_id != merchant_id:
        raise WrapupInvalid([FieldError("terminal_serial",
                                        f"terminal {wrapup.terminal_serial} belongs to another "
                                        "merchant")])


# --------------------------------------------------------------------------- pre-fill


@dataclass(frozen=True, slots=True)
class Prefill:
    """What the form starts with: the stored record, the IVR's choice, the terminal."""

    suggested_disposition: Disposition | None
    values: dict[str, str]
    terminal_source: str  # "ivr", "only_terminal" or "" (the agent picks one)


def prefill(call: Call, merchant: Merchant | None, terminals: Sequence[Terminal],
            ivr_terminal: str = "") -> Prefill:
    """Pre-fill the form from the merchant record and what the caller told the IVR.

    The terminal is the one keyed in the IVR when known, else the merchant's only working
    terminal. The site phone is the number that called when it is one of the merchant's.
    """
    values = dict.fromkeys(("address", "site_phone", "business_hours", "contact_person",
                            "terminal_serial", "product_model"), "")
    if merchant is not None:
        values["address"] = merchant.address
        values["business_hours"] = merchant.business_hours
        values["contact_person"] = merchant.contact_person
        if call.caller_number in merchant.phones:
            values["site_phone"] = call.caller_number
        elif merchant.phones:
            values["site_phone"] = merchant.phones[0]
    source = ""
    working = [t for t in terminals if t.status != TerminalStatus.REMOVED]
    chosen = next((t for t in terminals if ivr_terminal and t.serial == ivr_terminal), None)
    if chosen is not None:
        source = "ivr"
    elif len(working) == 1:
        chosen, source = working[0], "only_terminal"
    if chosen is not None:
        values["terminal_serial"] = chosen.serial
        values["product_model"] = chosen.model
    return Prefill(INTENT_DISPOSITION.get(call.intent), values, source)


# --------------------------------------------------------------------------- record diff


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A re-verified value that differs from the stored merchant record."""

    field: str
    stored: str
    entered: str


def merchant_changes(merchant: Merchant, wrapup: Wrapup) -> tuple[FieldChange, ...]:
    """What the agent's re-verified values change in the stored record. Blank means "not
    re-verified", never "erase". A site phone not among the merchant's phones is a change."""
    changes: list[FieldChange] = []
    for key in ("address", "contact_person", "business_hours"):
        entered = getattr(wrapup, key)
        stored = getattr(merchant, key)
        if entered and entered != stored:
            changes.append(FieldChange(key, stored, entered))
    if wrapup.site_phone and wrapup.site_phone not in merchant.phones:
        changes.append(FieldChange("site_phone", ", ".join(merchant.phones), wrapup.site_phone))
    return tuple(changes)


def updated_merchant(merchant: Merchant, changes: Sequence[FieldChange]) -> MerchantInput:
    """The merchant record with the confirmed changes applied (the site phone is added to the
    merchant's phones, so the next call from it is recognised)."""
    entered = {c.field: c.entered for c in changes}
    phones = merchant.phones
    if "site_phone" in entered and entered["site_phone"] not in phones:
        phones = (*phones, entered["site_phone"])
    return MerchantInput(
        merchant_number=merchant.merchant_number, name=merchant.name,
        address=entered.get("address", merchant.address), district=merchant.district,
        contact_person=entered.get("contact_person", merchant.contact_person),
        phones=phones, business_hours=entered.get("business_hours", merchant.business_hours),
        tags=merchant.tags,
    )


# --------------------------------------------------------------------------- duplicates


def duplicate_candidates(spec: RecordSpec, terminal_serial: str, open_tasks: Sequence[Task]
                         ) -> list[Task]:
    """The merchant's open tasks a new record of ``spec`` would duplicate."""
    same_kind = [t for t in open_tasks if t.open and t.kind is spec.kind]
    if spec.duplicate_key is DuplicateKey.KIND:
        return same_kind
    if spec.duplicate_key is DuplicateKey.KIND_AND_TERMINAL:
        serial = terminal_serial.upper()
        return [t for t in same_kind if not serial or t.terminal_serial.upper() == serial]
    return []


def check_link(wrapup: Wrapup, merchant_id: int, target: Task) -> None:
    """A call may be linked to an open task of the same merchant and kind."""
    problem = ""
    if target.merchant_id != merchant_id:
        problem = "belongs to another merchant"
    elif target.kind is not wrapup.spec.kind:
        problem = f"is a {target.kind.value} task"
    elif not target.open:
        problem = f"is {target.status.value}; only open tasks can be linked"
    if problem:
        raise WrapupInvalid([FieldError("link_task_number",
                                        f"task {target.task_number} {problem}")])


# --------------------------------------------------------------------------- the new record


def new_record(wrapup: Wrapup, *, task_number: str, merchant_id: int, linked_id: str,
               agent_number: str, delivery_state: str, second_line_at_once: bool,
               at: datetime, actor: str, note: str) -> NewRecord:
    """What a wrap-up that creates a record writes. A complaint goes to its tier at once; a
    class-1 complaint was settled on the phone (closed); a class-2 complaint is the second
    line's ticket — at once when ``second_line_at_once`` (the built-in store: its alerts list
    is where they see it), else when the business system acknowledges the delivery."""
    spec = wrapup.spec
    complaint = None
    if spec.kind is TaskKind.COMPLAINT:
        klass = 2 if wrapup.disposition is Disposition.COMPLAINT_2 else 1
        complaint = NewComplaint(
            complaint_class=klass, description=wrapup.description, handling=wrapup.handling,
            result=wrapup.result, amount_yuan=wrapup.amount_yuan,
            media_exposure=wrapup.media_exposure,
            escalation_tier=int(escalation_tier(klass, wrapup.amount_yuan,
                                                wrapup.media_exposure)),
            closed_at=at if klass == 1 else None,
            second_line_at=at if klass == 2 and second_line_at_once else None)
    return NewRecord(
        task_number=task_number, kind=spec.kind.value, status=spec.initial_status.value,
        merchant_id=merchant_id, linked_id=linked_id, agent_number=agent_number,
        terminal_serial=wrapup.terminal_serial, product_model=wrapup.product_model,
        address=wrapup.address, site_phone=wrapup.site_phone,
        business_hours=wrapup.business_hours, contact_person=wrapup.contact_person,
        description=wrapup.description, disposition=spec.disposition.value,
        department=wrapup.department, delivery_state=delivery_state, at=at, actor=actor,
        note=note, complaint=complaint)
