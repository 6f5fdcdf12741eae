from __future__ import annotations

from callcenter.import_messages import row_message
from callcenter.imports import RowCode, parse_merchants, parse_terminals

HEADER = "merchant_number,name,address,district,contact_person,phones,business_hours,tags\n"


def test_good_merchant_rows_are_parsed_with_normalised_phones() -> None:
    text = HEADER + ("310115000000001,浦东便利店,上海市浦东新区张杨路500号,浦东新区,王伟,"
                     "\"+86 138-0013-8000;021-5888 1234\",08:00-22:00,high_value\n")
    parsed = parse_merchants(text)
    assert parsed.errors == []
    [(line, m)] = parsed.rows
    assert line == 2
    assert m.phones == ("13800138000", "02158881234")
    assert m.tags == frozenset({"high_value"})


def test_every_bad_merchant_row_is_reported_with_its_line_and_field() -> None:
    text = HEADER + "\n".join([
        "31011500000000,短号商户,地址,区,人,13800138000,09:00-21:00,",       # line 2: 14 digits
        "310115000000002,好商户,地址,区,人,13800138001,09:00-21:00,",         # line 3: good
        "310115000000003,坏电话,地址,区,人,12345,09:00-21:00,",               # line 4: phone
        "310115000000002,重复,地址,区,人,13800138002,09:00-21:00,",           # line 5: duplicate
        "310115000000004,坏标签,地址,区,人,13800138003,09:00-21:00,vip",      # line 6: tag
        "310115000000005,少字段,地址",                                        # line 7: fields
    ]) + "\n"
    parsed = parse_merchants(text)
    assert [(e.line, e.field) for e in parsed.errors] == [
        (2, "merchant_number"), (4, "phones"), (5, "merchant_number"), (6, "tags"), (7, "row")]
    assert [line for line, _ in parsed.rows] == [3]
    assert parsed.errors[2].code is RowCode.DUPLICATE_MERCHANT
    assert parsed.errors[2].params == {"number": "310115000000002", "first_line": 3}
    assert row_message(parsed.errors[2], "en") == "310115000000002 already appears on line 3"


def test_missing_columns_are_a_header_error() -> None:
    parsed = parse_merchants("merchant_number,name\n310115000000001,x\n")
    assert [(e.line, e.field, e.code) for e in parsed.errors] == [
        (1, "header", RowCode.MISSING_COLUMNS)]
    assert "phones" in row_message(parsed.errors[0], "en")


def test_bom_and_blank_lines_are_tolerated() -> None:
    text = "\ufeff" + HEADER + "\n310115000000001,店,址,区,人,13800138000,,\n\n"
    parsed = parse_merchants(text)
    assert parsed.errors == [] and len(parsed.rows) == 1


def test_terminal_rows_reject_duplicate_serial_and_bad_date() -> None:
    text = ("serial,model,merchant_number,install_date,status\n"
            "LA80001,LANDI A8,310115000000001,2025-03-18,active\n"
            "LA80001,LANDI A8,310115000000001,2025-03-18,active\n"
            "PA90001,PAX A920,310115000000001,18/03/2025,active\n"
            "PA90002,PAX A920,310115000000001,,broken\n")
    parsed = parse_terminals(text)
    assert [(e.line, e.field) for e in parsed.errors] == [
        (3, "serial"), (4, "install_date"), (5, "status")]
    assert len(parsed.rows) == 1
