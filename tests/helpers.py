"""Test helpers: independent readers (openpyxl, zip) and user-style edits."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.worksheet.table import TableColumn


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def sheet_values(path: Path, sheet: str, data_only: bool = False) -> list[list[Any]]:
    wb = openpyxl.load_workbook(path, data_only=data_only)
    return [[c.value for c in row] for row in wb[sheet].iter_rows()]


def table_records(path: Path, sheet: str, table: str, data_only: bool = False) -> list[dict[str, Any]]:
    """Rows of an Excel table read with openpyxl (independent of the product's reader);
    data_only: formula cells by their cached values."""
    wb = openpyxl.load_workbook(path, data_only=data_only)
    ws = wb[sheet]
    ref = ws.tables[table].ref
    rows = [[c.value for c in r] for r in ws[ref]]
    return [dict(zip(rows[0], r)) for r in rows[1:] if any(v is not None for v in r)]


def add_user_column(path: Path, sheet: str, table: str, header: str, values: list[Any]) -> None:
    """What a user does in Excel: type a header right of a table (the table grows) and fill it."""
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb[sheet]
    t = ws.tables[table]
    first, last = t.ref.split(":")
    from openpyxl.utils.cell import coordinate_from_string, column_index_from_string, get_column_letter
    lc, lr = coordinate_from_string(last)
    fc, fr = coordinate_from_string(first)
    new_col = column_index_from_string(lc) + 1
    ws.cell(row=fr, column=new_col, value=header)
    for i, v in enumerate(values):
        ws.cell(row=fr + 1 + i, column=new_col, value=v)
    t.ref = f"{first}:{get_column_letter(new_col)}{lr}"
    t.autoFilter.ref = t.ref
    t.tableColumns.append(TableColumn(id=len(t.tableColumns) + 1, name=header))
    wb.save(path)
