"""Every row problem the CSV validators can report has its words in both languages."""

from __future__ import annotations

import re

import pytest

from callcenter.import_messages import FIELD_NAMES, ROW_MESSAGES, field_name, row_message
from callcenter.imports import (
    MAX_FIELD,
    MERCHANT_COLUMNS,
    TERMINAL_COLUMNS,
    RowCode,
    RowProblem,
    parse_merchants,
    parse_terminals,
    unknown_merchant,
)

M = ",".join(MERCHANT_COLUMNS) + "\n"
T = ",".join(TERMINAL_COLUMNS) + "\n"
GOOD_M = "310115000000001,店,址,区,人,13800138000,08:00-22:00,new\n"
GOOD_T = "LA80001,LANDI A8,310115000000001,2025-03-18,active\n"
HUGE = '"' + "x" * 200_000 + '"'  # beyond the csv module's field limit: unreadable
CJK = re.compile(r"[\u4e00-\u9fff]")

# One CSV per code, the way a user would get it (terminals: "t:" prefix).
CASES: dict[RowCode, str] = {
    RowCode.EMPTY_FILE: "",
    RowCode.UNREADABLE: M + GOOD_M + HUGE + "\n",
    RowCode.MISSING_COLUMNS: "merchant_number,name\n",
    RowCode.UNKNOWN_COLUMNS: M.rstrip("\n") + ",vip\n",
    RowCode.FIELD_COUNT: M + "310115000000001,店\n",
    RowCode.TOO_LONG: M + GOOD_M.replace("址", "址" * (MAX_FIELD + 1)),
    RowCode.EMPTY: M + GOOD_M.replace("店", ""),
    RowCode.MERCHANT_NUMBER: M + GOOD_M.replace("310115000000001", "3101150000000X1"),
    RowCode.DUPLICATE_MERCHANT: M + GOOD_M + GOOD_M,
    RowCode.NO_PHONE: M + GOOD_M.replace("13800138000", ""),
    RowCode.BAD_PHONE: M + GOOD_M.replace("13800138000", "555"),
    RowCode.BUSINESS_HOURS: M + GOOD_M.replace("08:00-22:00", "8点到22点"),
    RowCode.UNKNOWN_TAGS: M + GOOD_M.replace(",new", ",vip"),
    RowCode.SERIAL: "t:" + T + GOOD_T.replace("LA80001", "LA 80001"),
    RowCode.DUPLICATE_SERIAL: "t:" + T + GOOD_T + GOOD_T,
    RowCode.INSTALL_DATE: "t:" + T + GOOD_T.replace("2025-03-18", "18/03/2025"),
    RowCode.UNKNOWN_STATUS: "t:" + T + GOOD_T.replace("active", "broken"),
}


def problems_of(text: str) -> list[RowProblem]:
    if text.startswith("t:"):
        return parse_terminals(text[2:]).errors
    return parse_merchants(text).errors


def test_both_tables_have_every_code_and_nothing_else() -> None:
    assert set(ROW_MESSAGES) == set(RowCode)
    for code, texts in ROW_MESSAGES.items():
        assert set(texts) == {"zh-CN", "en"}, code
        assert CJK.search(texts["zh-CN"]) and not CJK.search(texts["en"]), code


@pytest.mark.parametrize("code", list(RowCode), ids=str)
def test_every_code_the_validators_produce_renders_in_chinese_and_english(
        code: RowCode) -> None:
    if code is RowCode.UNKNOWN_MERCHANT:  # checked against the store by the service
        problems = [unknown_merchant(2, "310115000000009")]
    else:
        problems = problems_of(CASES[code])
    assert code in {p.code for p in problems}, problems
    for problem in problems:
        zh, en = row_message(problem, "zh-CN"), row_message(problem, "en")
        assert CJK.search(zh) and zh != en
        assert "{" not in zh and "{" not in en  # every parameter filled
        for value in problem.params.values():
            assert str(value)[:50] in zh and str(value)[:50] in en
        assert problem.field in FIELD_NAMES
        assert CJK.search(field_name(problem.field, "zh-CN"))


def test_every_code_has_a_case_so_a_new_code_needs_its_words() -> None:
    assert set(CASES) | {RowCode.UNKNOWN_MERCHANT} == set(RowCode)


def test_the_field_names_cover_every_csv_column() -> None:
    assert set(MERCHANT_COLUMNS) | set(TERMINAL_COLUMNS) | {"header", "row"} == set(FIELD_NAMES)
