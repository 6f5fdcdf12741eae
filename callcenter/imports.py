"""CSV import of merchants and terminals: pure parsing and validation, row by row.

Every bad row is reported with its line number (the header is line 1), the field at fault and
a stable :class:`RowCode` with its parameters: data, not text. The words are the edge's
(``callcenter.import_messages`` renders them in zh-CN and English for the admin console and
in English for the CLI). The caller decides whether anything is written (nothing when a row
is bad, unless --skip-bad).

Merchants CSV (UTF-8, optional BOM)::

    merchant_number,name,address,district,contact_person,phones,business_hours,tags
    310115000000001,上海浦东便利店,上海市浦东新区张杨路500号,浦东新区,王伟,13800138000;021-58881234,08:00-22:00,high_value

Terminals CSV::

    serial,model,merchant_number,install_date,status
    LDT8210000001,LANDI A8,310115000000001,2025-03-18,active
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
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
from callcenter.errors import ValidationError

__all__ = ["MAX_FIELD", "MERCHANT_COLUMNS", "TERMINAL_COLUMNS", "Parsed", "RowCode",
           "RowProblem", "parse_merchants", "parse_terminals", "unknown_merchant"]

MERCHANT_COLUMNS = ("merchant_number", "name", "address", "district", "contact_person",
                    "phones", "business_hours", "tags")
TERMINAL_COLUMNS = ("serial", "model", "merchant_number", "install_date", "status")
MAX_FIELD = 400

T = TypeVar("T")


class RowCode(StrEnum):
    """Why a row (or the header, line 1) is bad; part of the API (``/api/admin/import``).

    The parameters each code carries are listed beside it; every code has a text in both
    languages in ``callcenter.import_messages`` (a test walks them all).
    """

    EMPTY_FILE = "empty_file"                          # -
    UNREADABLE = "unreadable_csv"                      # detail (the csv module's words)
    MISSING_COLUMNS = "missing_columns"                # columns
    UNKNOWN_COLUMNS = "unknown_columns"                # columns
    FIELD_COUNT = "field_count"                        # expected, got
    TOO_LONG = "too_long"                              # limit
    EMPTY = "empty"                                    # -
    MERCHANT_NUMBER = "merchant_number_format"         # value
    DUPLICATE_MERCHANT = "duplicate_merchant"          # number, first_line
    NO_PHONE = "phone_missing"                         # -
    BAD_PHONE = "phone_invalid"                        # value
    BUSINESS_HOURS = "business_hours_format"           # value
    UNKNOWN_TAGS = "unknown_tags"                      # tags, allowed
    SERIAL = "serial_format"                           # value
    DUPLICATE_SERIAL = "duplicate_serial"              # serial, first_line
    INSTALL_DATE = "install_date_format"               # value
    UNKNOWN_STATUS = "unknown_status"                  # value, allowed
    UNKNOWN_MERCHANT = "unknown_merchant"              # number (checked against the store)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad row: its line, the field at fault (``header``, ``row`` or a column), the code
    and the code's parameters (strings and numbers, ready for a text template)."""

    line: int
    field: str
    code: RowCode
    params: Mapping[str, str | int] = dataclasses.field(default_factory=dict)  # "field" is ours


class _Bad(Exception):
    """Stops the checks of one row (never leaves this module)."""

    def __init__(self, field_name: str, code: RowCode, **params: str | int) -> None:
        super().__init__(code.value)
        self.field = field_name
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """Good rows (with their line numbers) and bad rows of one file."""

    rows: list[tuple[int, T]] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)


def unknown_merchant(line: int, number: str) -> RowProblem:
    """A terminal row naming a merchant the store does not have (the service checks)."""
    return RowProblem(line, "merchant_number", RowCode.UNKNOWN_MERCHANT, {"number": number})


def _reader(text: str, columns: tuple[str, ...], required: tuple[str, ...]
            ) -> tuple[list[tuple[int, dict[str, str]]], list[RowProblem]]:
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [RowProblem(1, "header", RowCode.EMPTY_FILE)]
    except csv.Error as exc:
        return [], [RowProblem(1, "header", RowCode.UNREADABLE, {"detail": str(exc)})]
    missing = [c for c in required if c not in header]
    unknown = [h for h in header if h not in columns]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(RowProblem(1, "header", RowCode.MISSING_COLUMNS,
                                       {"columns": ", ".join(missing)}))
        if unknown:
            problems.append(RowProblem(1, "header", RowCode.UNKNOWN_COLUMNS,
                                       {"columns": ", ".join(unknown)}))
        return [], problems
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[RowProblem] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowProblem(reader.line_num, "row", RowCode.UNREADABLE,
                                     {"detail": str(exc)}))
            continue
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            errors.append(RowProblem(line, "row", RowCode.FIELD_COUNT,
                                     {"expected": len(header), "got": len(values)}))
            continue
        record = {h: v.strip() for h, v in zip(header, values, strict=True)}
        too_long = [k for k, v in record.items() if len(v) > MAX_FIELD]
        if too_long:
            errors.append(RowProblem(line, too_long[0], RowCode.TOO_LONG, {"limit": MAX_FIELD}))
            continue
        rows.append((line, record))
    return rows, errors


def _split(value: str) -> list[str]:
    for sep in ("|", "；", "，", ","):
        value = value.replace(sep, ";")
    return [part.strip() for part in value.split(";") if part.strip()]


def _merchant_number(value: str) -> str:
    try:
        return validate_merchant_number(value)
    except ValidationError:
        raise _Bad("merchant_number", RowCode.MERCHANT_NUMBER, value=value) from None


def parse_merchants(text: str) -> Parsed[MerchantInput]:
    """Validate every row; a merchant number twice in one file is an error on the later line."""
    raw, errors = _reader(text, MERCHANT_COLUMNS, ("merchant_number", "name", "phones"))
    result: Parsed[MerchantInput] = Parsed(errors=errors)
    seen: dict[str, int] = {}
    for line, rec in raw:
        try:
            number = _merchant_number(rec["merchant_number"])
            if number in seen:
                raise _Bad("merchant_number", RowCode.DUPLICATE_MERCHANT, number=number,
                           first_line=seen[number])
            if not rec["name"]:
                raise _Bad("name", RowCode.EMPTY)
            phones_raw = _split(rec["phones"])
            if not phones_raw:
                raise _Bad("phones", RowCode.NO_PHONE)
            phones: list[str] = []
            for p in phones_raw:
                try:
                    normal = normalise_phone(p)
                except ValidationError:
                    raise _Bad("phones", RowCode.BAD_PHONE, value=p) from None
                if normal not in phones:
                    phones.append(normal)
            hours = rec.get("business_hours", "")
            try:
                hours = validate_business_hours(hours) if hours else ""
            except ValidationError:
                raise _Bad("business_hours", RowCode.BUSINESS_HOURS, value=hours) from None
            tags = frozenset(_split(rec.get("tags", "")))
            allowed = sorted(t.value for t in MerchantTag)
            bad_tags = tags - set(allowed)
            if bad_tags:
                raise _Bad("tags", RowCode.UNKNOWN_TAGS, tags=", ".join(sorted(bad_tags)),
                           allowed=", ".join(allowed))
        except _Bad as bad:
            result.errors.append(RowProblem(line, bad.field, bad.code, bad.params))
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

    Whether the merchant exists is checked against the store by the caller
    (:func:`unknown_merchant`).
    """
    raw, errors = _reader(text, TERMINAL_COLUMNS, ("serial", "model", "merchant_number"))
    result: Parsed[TerminalInput] = Parsed(errors=errors)
    seen: dict[str, int] = {}
    for line, rec in raw:
        try:
            serial = rec["serial"]
            if not serial or not all(c.isalnum() or c in "-_" for c in serial):
                raise _Bad("serial", RowCode.SERIAL, value=serial)
            if serial in seen:
                raise _Bad("serial", RowCode.DUPLICATE_SERIAL, serial=serial,
                           first_line=seen[serial])
            if not rec["model"]:
                raise _Bad("model", RowCode.EMPTY)
            number = _merchant_number(rec["merchant_number"])
            installed = None
            if rec.get("install_date"):
                try:
                    installed = date.fromisoformat(rec["install_date"])
                except ValueError:
                    raise _Bad("install_date", RowCode.INSTALL_DATE,
                               value=rec["install_date"]) from None
            status = rec.get("status") or TerminalStatus.ACTIVE.value
            allowed = [s.value for s in TerminalStatus]
            if status not in allowed:
                raise _Bad("status", RowCode.UNKNOWN_STATUS, value=status,
                           allowed=", ".join(allowed))
        except _Bad as bad:
            result.errors.append(RowProblem(line, bad.field, bad.code, bad.params))
            continue
        seen[serial] = line
        result.rows.append((line, TerminalInput(serial=serial, model=rec["model"],
                                                merchant_number=number, install_date=installed,
                                                status=TerminalStatus(status))))
    result.errors.sort(key=lambda e: e.line)
    return result
