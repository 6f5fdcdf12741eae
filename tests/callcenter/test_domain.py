from __future__ import annotations

import pytest

from callcenter.domain import (
    caller_id_candidates,
    normalise_phone,
    validate_business_hours,
    validate_description,
    validate_merchant_number,
)
from callcenter.errors import ValidationError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("021-5888 1234", "02158881234"),
        ("(0755) 8888-6666", "075588886666"),
        ("862158881234", "02158881234"),
        ("4008000000", "4008000000"),
    ],
)
def test_phone_numbers_normalise_to_one_canonical_form(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "1380013800", "abc13800138000", "10086",
                                 "13800138000\r\nAction: Originate", "00213800"])
def test_malformed_phone_is_rejected(raw: str) -> None:
    with pytest.raises(ValidationError) as err:
        normalise_phone(raw)
    assert err.value.field == "phone"


def test_caller_id_with_injection_gives_no_lookup_key() -> None:
    assert caller_id_candidates('13800138000"\nHANGUP') == []
    assert caller_id_candidates("anonymous") == []
    assert caller_id_candidates("+8613800138000") == ["13800138000"]


@pytest.mark.parametrize("raw", ["12345678901234", "1234567890123456", "12345678901234x",
                                 "１２３４５６７８９０１２３４５"])
def test_merchant_number_must_be_15_ascii_digits(raw: str) -> None:
    with pytest.raises(ValidationError, match="15 digits"):
        validate_merchant_number(raw)


def test_description_longer_than_200_characters_is_rejected() -> None:
    assert validate_description("屏幕不亮" * 50) == "屏幕不亮" * 50
    with pytest.raises(ValidationError) as err:
        validate_description("坏" * 201, "fault_description")
    assert err.value.field == "fault_description"


@pytest.mark.parametrize(("raw", "expected"), [("09:00-21:00", "09:00-21:00"),
                                               ("22:00 - 02:00", "22:00-02:00"),
                                               ("24h", "00:00-24:00")])
def test_business_hours_accept_ranges(raw: str, expected: str) -> None:
    assert validate_business_hours(raw) == expected


def test_business_hours_reject_garbage() -> None:
    with pytest.raises(ValidationError):
        validate_business_hours("9am to 5pm")
