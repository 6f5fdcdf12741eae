"""A KPI report as CSV or XLSX (XlsxWriter: a real workbook, not hand-written XML)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import xlsxwriter

from callcenter.reports.kpi import KPI_FIELDS
from callcenter.reports.service import KpiReport, ReportRow

__all__ = ["COLUMNS", "to_csv", "to_xlsx"]

COLUMNS = ("group", *KPI_FIELDS)
_RATES = frozenset({"answer_rate", "service_level", "fcr", "repeat_rate", "record_completeness",
                    "satisfied_rate"})


def _lines(report: KpiReport) -> list[ReportRow]:
    return [*report.rows, report.total]


def _value(row: ReportRow, column: str) -> object:
    return row.group if column == "group" else row.figures.get(column)


def to_csv(report: KpiReport) -> str:
    """Header, one line per row, then the total (empty cells for "no data")."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in _lines(report):
        writer.writerow(["" if (v := _value(row, c)) is None else v for c in COLUMNS])
    return out.getvalue()


def to_xlsx(report: KpiReport, *, title: str = "KPI", headers: Sequence[str] = COLUMNS
            ) -> bytes:
    """One sheet: the period in the first line, then the table (rates as percentages)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    sheet.write(0, 0, f"{report.first.isoformat()} .. {report.last.isoformat()}", bold)
    for col, name in enumerate(headers):
        sheet.write(2, col, name, bold)
    for r, row in enumerate(_lines(report), start=3):
        for col, name in enumerate(COLUMNS):
            value = _value(row, name)
            if value is None:
                continue
            if name in _RATES:
                sheet.write_number(r, col, float(value), percent)  # type: ignore[arg-type]
            else:
                sheet.write(r, col, value)
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, len(headers), 12)
    book.close()
    return buffer.getvalue()
