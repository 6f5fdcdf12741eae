"""The words of a CSV import's row report, in Chinese (zh-CN) and English.

``callcenter.imports`` reports a bad row as data (line, field, :class:`RowCode`, parameters);
this table is where it becomes text: the admin console renders it in the page's language,
the CLI (``callcenter merchants import`` / ``terminals import``) in English. Every code has
both languages (``tests/callcenter/test_import_messages.py`` walks them all).
"""

from __future__ import annotations

from typing import Final

from callcenter.imports import RowCode, RowProblem

__all__ = ["FIELD_NAMES", "ROW_MESSAGES", "field_name", "row_message"]

ROW_MESSAGES: Final[dict[RowCode, dict[str, str]]] = {
    RowCode.EMPTY_FILE: {"zh-CN": "文件为空", "en": "the file is empty"},
    RowCode.UNREADABLE: {"zh-CN": "无法读取的 CSV：{detail}", "en": "unreadable CSV: {detail}"},
    RowCode.MISSING_COLUMNS: {"zh-CN": "缺少列：{columns}", "en": "missing column(s) {columns}"},
    RowCode.UNKNOWN_COLUMNS: {"zh-CN": "无法识别的列：{columns}",
                              "en": "unknown column(s) {columns}"},
    RowCode.FIELD_COUNT: {"zh-CN": "应有 {expected} 个字段，实际 {got} 个",
                          "en": "expected {expected} fields, got {got}"},
    RowCode.TOO_LONG: {"zh-CN": "超过 {limit} 个字符", "en": "longer than {limit} characters"},
    RowCode.EMPTY: {"zh-CN": "不能为空", "en": "must not be empty"},
    RowCode.MERCHANT_NUMBER: {"zh-CN": "商户号须为 15 位数字，实际为“{value}”",
                              "en": "a merchant number is exactly 15 digits, got '{value}'"},
    RowCode.DUPLICATE_MERCHANT: {"zh-CN": "商户号 {number} 已在第 {first_line} 行出现",
                                 "en": "{number} already appears on line {first_line}"},
    RowCode.NO_PHONE: {"zh-CN": "至少需要一个电话号码",
                       "en": "at least one phone number is required"},
    RowCode.BAD_PHONE: {"zh-CN": "不是有效的手机、固话或服务号码：“{value}”",
                        "en": "not a valid mobile, landline or service number: '{value}'"},
    RowCode.BUSINESS_HOURS: {"zh-CN": "格式应为 HH:MM-HH:MM，实际为“{value}”",
                             "en": "expected HH:MM-HH:MM, got '{value}'"},
    RowCode.UNKNOWN_TAGS: {"zh-CN": "未知标签：{tags}；可用：{allowed}",
                           "en": "unknown tag(s) {tags}; allowed: {allowed}"},
    RowCode.SERIAL: {"zh-CN": "只能包含字母、数字、- 和 _，实际为“{value}”",
                     "en": "letters, digits, - and _ only, got '{value}'"},
    RowCode.DUPLICATE_SERIAL: {"zh-CN": "序列号 {serial} 重复（第 {first_line} 行）",
                               "en": "duplicate serial {serial} (line {first_line})"},
    RowCode.INSTALL_DATE: {"zh-CN": "日期格式应为 YYYY-MM-DD，实际为“{value}”",
                           "en": "expected YYYY-MM-DD, got '{value}'"},
    RowCode.UNKNOWN_STATUS: {"zh-CN": "未知状态“{value}”；可用：{allowed}",
                             "en": "unknown status '{value}'; allowed: {allowed}"},
    RowCode.UNKNOWN_MERCHANT: {"zh-CN": "商户 {number} 不存在（请先导入商户）",
                               "en": "unknown merchant {number}"},
}

FIELD_NAMES: Final[dict[str, dict[str, str]]] = {
    "header": {"zh-CN": "表头", "en": "header"},
    "row": {"zh-CN": "整行", "en": "row"},
    "merchant_number": {"zh-CN": "商户号", "en": "merchant number"},
    "name": {"zh-CN": "商户名称", "en": "name"},
    "address": {"zh-CN": "地址", "en": "address"},
    "district": {"zh-CN": "区县", "en": "district"},
    "contact_person": {"zh-CN": "联系人", "en": "contact person"},
    "phones": {"zh-CN": "电话", "en": "phones"},
    "business_hours": {"zh-CN": "营业时间", "en": "business hours"},
    "tags": {"zh-CN": "标签", "en": "tags"},
    "serial": {"zh-CN": "机具序列号", "en": "serial"},
    "model": {"zh-CN": "型号", "en": "model"},
    "install_date": {"zh-CN": "装机日期", "en": "install date"},
    "status": {"zh-CN": "状态", "en": "status"},
}
"""The fields a row problem names (the CSV columns, ``header``, ``row``)."""


def row_message(problem: RowProblem, locale: str) -> str:
    """The problem in ``locale`` (``zh-CN`` or ``en``; anything else gets English).

    Raises KeyError when a code lacks the locale or the template a parameter: a bug the
    walking test catches, never a user's input."""
    texts = ROW_MESSAGES[problem.code]
    return texts["zh-CN" if locale == "zh-CN" else "en"].format(**problem.params)


def field_name(field: str, locale: str) -> str:
    """The field's name in ``locale`` (the column's own name when the table lacks it)."""
    return FIELD_NAMES.get(field, {}).get("zh-CN" if locale == "zh-CN" else "en", field)
