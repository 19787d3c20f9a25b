"""XlBook: the table-level interface over a live Excel workbook (xlwings).

The same read/write contract as the file engine's FileStore, so services,
macros and tests do not care which front they run on.  Only the xlwings calls
listed here are used — the unit tests drive this class with a stand-in that
implements exactly these:

    book.sheets[name]                      sheet.tables[name]
    table.header_row_range.value           table.data_body_range (.value/.row/.column/.rows.count)
    table.range (.row/.column/.rows.count/.columns.count)
    table.resize(range)                    sheet.range((r, c)).value = v
    sheet.range((r1, c1), (r2, c2)).value = rows / .clear_contents()
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from .. import layout as L
from ..errors import NotAMasterWorkbook
from ..workbook.tables import Changes, Formula, Table, is_blank_row


def _value(v: Any) -> Any:
    if isinstance(v, Formula):
        return None  # Excel fills a table's calculated column itself
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return dt.datetime(v.year, v.month, v.day)
    return v


class XlBook:
    def __init__(self, book):
        self.book = book
        self.notices: list = []

    def _table(self, name: str):
        tdef = L.TABLES.get(name)
        sheet_name = tdef.sheet if tdef else None
        try:
            sheet = self.book.sheets[sheet_name]
            return sheet, sheet.tables[name]
        except Exception:
            raise NotAMasterWorkbook(getattr(self.book, "name", ""), f"缺少表格 {name}",
                                     f"missing table {name}") from None

    def read(self, names: Iterable[str], columns: dict[str, Iterable[str]] | None = None) -> dict[str, Table]:
        out = {}
        for name in names:
            sheet, t = self._table(name)
            headers = [str(h) for h in t.header_row_range.value]
            body = t.data_body_range
            rows: list[list[Any]] = []
            if body is not None:
                vals = body.options(ndim=2).value if hasattr(body, "options") else body.value
                rows = [list(r) for r in vals]
                while rows and is_blank_row(name, headers, rows[-1]):
                    rows.pop()
            rng = t.range
            table = Table(name, sheet.name, headers, rows, header_row=rng.row, first_col=rng.column - 1)
            if columns and name in columns:  # same shape as the file front's partial read
                keep = [i for i, h in enumerate(headers) if h in set(columns[name])]
                table = Table(name, sheet.name, [headers[i] for i in keep], [[r[i] for i in keep] for r in rows],
                              header_row=rng.row, first_col=rng.column - 1,
                              offsets={headers[i]: i for i in keep}, all_headers=headers)
            out[name] = table
        return out

    def headers(self, name: str) -> list[str]:
        _, t = self._table(name)
        return [str(h) for h in t.header_row_range.value]

    def read_stream(self, name: str, sink, columns: Iterable[str] | None = None) -> Table:
        """Same contract as the file store: columns to the sink, the shape back."""
        t = self.read([name], {name: columns} if columns is not None else None)[name]
        if t.rows:
            sink([t.column(h) for h in t.headers], 0)
        return t.shape()

    def write(self, changes: Changes) -> None:
        if changes.empty:
            return
        names = set(changes.updates) | set(changes.appends) | set(changes.replaces)
        tables = self.read(names)
        for name, cells in changes.updates.items():
            sheet, _ = self._table(name)
            t = tables[name]
            by_header: dict[str, dict[int, Any]] = {}
            for (ri, header), v in cells.items():
                by_header.setdefault(header, {})[ri] = v
            for header, col_updates in by_header.items():
                col = t.first_col + 1 + t.offset(header)
                if len(col_updates) <= 20:
                    for ri, v in col_updates.items():
                        sheet.range((t.excel_row(ri), col)).value = _value(v)
                    continue
                # many changes in one column: one COM call for the whole column, not one per cell
                values = t.column(header)
                for ri, v in col_updates.items():
                    values[ri] = v
                first, last = t.excel_row(0), t.excel_row(len(values) - 1)
                sheet.range((first, col), (last, col)).value = [[_value(v)] for v in values]
        for name in names:
            if name not in changes.replaces and not changes.appends.get(name):
                continue
            sheet, xt = self._table(name)
            t = tables[name]
            n = len(t.rows)
            if name in changes.replaces:
                if xt.data_body_range is not None:
                    xt.data_body_range.clear_contents()
                n = 0
            new_rows = list(changes.replaces.get(name, [])) + list(changes.appends.get(name, []))
            c1 = t.first_col + 1
            c2 = c1 + len(t.headers) - 1
            if new_rows:
                r1 = t.header_row + 1 + n
                block = [[_value(row.get(h)) for h in t.headers] for row in new_rows]
                sheet.range((r1, c1), (r1 + len(block) - 1, c2)).value = block
            last = t.header_row + max(n + len(new_rows), 1)
            xt.resize(sheet.range((t.header_row, c1), (last, c2)))
        if changes.status:
            self.book.sheets[L.SHEET_HOME].range(L.HOME_STATUS_CELL).value = changes.status
