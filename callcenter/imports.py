"""CSV import of merchants and terminals: pure parsing and validation, row by row.

Every bad row is reported with its line number (the header is line 1) and the field at fault;
the caller decides whether anything is written (nothing when a row is bad, unless --skip-bad).

Merchants CSV (UTF-8, optional BOM)::

    merchant_number,name,address,district,contact_person,phones,business_hours,tags
    310115000000001,上海浦东便利店,上海市浦东新区张杨路500号,浦东新区,王伟,13800138000;021-58881234,08:00-22:00,high_value

Terminals CSV::

    serial,model,merchant_number,install_date,status
    LDT8210000001,LANDI A8,310115000000001,2025-03-18,active
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from callcenter.domain import (
    MerchantInput,
    MerchantTag,
    TerminalInput,
    TerminalStatus,
    normalise_phone,
    validate_business_hours,
    validate_merchant_number,
)
from callcenter.errors import ImportRowError, ValidationError

MERCHANT_COLUMNS = ("merchant_number", "name", "address", "district", "contact_person",
                    "phones", "business_hours", "tags")
TERMINAL_COLUMNS = ("serial", "model", "merchant_number", "install_date", "status")
MAX_FIELD = 400

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """Good rows (with their line numbers) and bad rows of one file."""

    rows: list[tuple[int, T]] = field(default_factory=list)
    errors: list[ImportRowError] = field(default_factory=list)


def _reader(text: str, columns: tuple[str, ...], required: tuple[str, ...]
            ) -> tuple[list[tuple[int, dict[str, str]]], list[ImportRowError]]:
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [ImportRowError(1, "header", "the file is empty")]
    except csv.Error as exc:
        return [], [ImportRowError(1, "header", f"unreadable CSV: {exc}")]
    missing = [c for c in required if c not in header]
    unknown = [h for h in header if h not in columns]
    if missing or unknown:
        problem = []
        if missing:
            problem.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problem.append(f"unknown column(s) {', '.join(unknown)}")
        return [], [ImportRowError(1, "header", "; ".join(problem))]
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[ImportRowError] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(ImportRowError(reader.line_num, "row", f"unreadable CSV: {exc}"))
            continue
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            errors.append(ImportRowError(
                line, "row", f"expected {len(header)} fields, got {len(values)}"))
            continue
        record = {h: v.strip() for h, v in zip(header, values, strict=True)}
        too_long = [k for k, v in record.items() if len(v) > MAX_FIELD]
        if too_long:
            errors.append(ImportRowError(line, too_long[0], f"longer than {MAX_FIELD} characters"))
            continue
        rows.append((line, record))
    return rows, errors


def _split(value: str) -> list[str]:
    for sep in ("|", "；", "，", ","):
        value = value.replace(sep, ";")
    return [part.strip() for part in value.split(";") if part.strip()]


def parse_merchants(text: str) -> Parsed[MerchantInput]:
    """Validate every row; a merchant number twice in one file is an error on the later line."""
    raw, errors = _reader(text, MERCHANT_COLUMNS, ("merchant_number", "name", "phones"))
    result: Parsed[MerchantInput] = Parsed(errors=errors)
    seen: dict[str, int] = {}
    for line, rec in raw:
        try:
            number = validate_merchant_number(rec["merchant_number"])
            if number in seen:
                raise ValidationError("merchant_number",
                                      f"{number} already appears on line {seen[number]}")
            if not rec["name"]:
                raise ValidationError("name", "must not be empty")
            phones_raw = _split(rec["phones"])
            if not phones_raw:
                raise ValidationError("phones", "at least one phone number is required")
            phones: list[str] = []
            for p in phones_raw:
                try:
                    normal = normalise_phone(p)
                except ValidationError as exc:
                    raise ValidationError("phones", exc.message) from None
                if normal not in phones:
                    phones.append(normal)
            hours = rec.get("business_hours", "")
            hours = validate_business_hours(hours) if hours else ""
            tags = frozenset(_split(rec.get("tags", "")))
            bad_tags = tags - {t.value for t in MerchantTag}
            if bad_tags:
                raise ValidationError("tags", f"unknown tag(s) {', '.join(sorted(bad_tags))}; "
                                      "allowed: new, high_value")
        except ValidationError as exc:
            result.errors.append(ImportRowError(line, exc.field, exc.message))
            continue
        seen[number] = line
        result.rows.append((line, MerchantInput(
            merchant_number=number, name=rec["name"], address=rec.get("address", ""),
            district=rec.get("district", ""), contact_person=rec.get("contact_person", ""),
            phones=tuple(phones), business_hours=hours, tags=tags,
        )))
    result.errors.sort(key=lambda e: e.line)
    return result


def parse_terminals(text: str) -> Parsed[TerminalInput]:
    """Validate every row; a serial twice in one file is an error on the later line.

    Whether the merchant exists is checked against the store by the caller.
    """
    raw, errors = _reader(text, TERMINAL_COLUMNS, ("serial", "model", "merchant_number"))
    result: Parsed[TerminalInput] = Parsed(errors=errors)
    seen: dict[str, int] = {}
    for line, rec in raw:
        try:
            serial = rec["serial"]
            if not serial or not all(c.isalnum() or c in "-_" for c in serial):
                raise ValidationError("serial", f"letters, digits, - and _ only, got {serial!r}")
            if serial in seen:
                raise ValidationError("serial", f"duplicate serial {serial} (line {seen[serial]})")
            if not rec["model"]:
                raise ValidationError("model", "must not be empty")
            number = validate_merchant_number(rec["merchant_number"])
            installed = None
            if rec.get("install_date"):
                try:
                    installed = date.fromisoformat(rec["install_date"])
                except ValueError:
                    raise ValidationError("install_date",
                                          f"expected YYYY-MM-DD, got {rec['install_date']!r}"
                                          ) from None
            status = rec.get("status") or TerminalStatus.ACTIVE.value
            if status not in {s.value for s in TerminalStatus}:
                raise ValidationError("status", f"unknown status {status!r}")
        except ValidationError as exc:
            result.errors.append(ImportRowError(line, exc.field, exc.message))
            continue
        seen[serial] = line
        result.rows.append((line, TerminalInput(serial=serial, model=rec["model"],
                                                merchant_number=number, install_date=installed,
                                                status=TerminalStatus(status))))
    result.errors.sort(key=lambda e: e.line)
    return result
