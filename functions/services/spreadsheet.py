"""Spreadsheet (XLSX) documents of the exported lists, for operators who open exports in a spreadsheet
program: the same columns and rows as the CSV export, numbers as numbers, text never run as a formula."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Plain decimals only: leading zeros (phones, codes) and long digit strings (documents) stay text
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$")
_FORMULA_START = ("=", "+", "-", "@")


def _value(text: str) -> str | int | Decimal:
    if _NUMBER.match(text):
        return Decimal(text) if "." in text else int(text)
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]  # the CSV export's guard against formulas; XLSX stores it as plain text
    return text


def rows_to_xlsx(rows: Iterable[Sequence[str]], title: str = "export") -> bytes:
    """An XLSX workbook with one sheet: the first row is the header (bold, frozen)."""
    from openpyxl import Workbook  # imported here: only spreadsheet exports need it
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    assert ws is not None
    ws.title = re.sub(r"[\[\]:*?/\\]", "-", title)[:31] or "export"
    for r, row in enumerate(rows, start=1):
        for c, text in enumerate(row, start=1):
            value = text if r == 1 else _value(text)
            cell = ws.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            if r == 1:
                cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_to_xlsx(text: str, title: str = "export") -> bytes:
    """The XLSX form of a CSV export (same header and rows)."""
    return rows_to_xlsx(csv.reader(io.StringIO(text.lstrip("\ufeff"))), title)
