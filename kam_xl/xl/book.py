"""XlBook: the table-level interface over a live Excel workbook (xlwings).

The same read/write contract as the file engine's FileStore, so services, macros and
tests do not care which front they run on — and the same rules: only the cells an
action owns change.  Rows are added the way Excel adds table rows (cells inserted in
the table's columns, shifting whatever lies below down with everything that refers to
it, the totals row included), calculated columns are never written (Excel fills them),
and only the cells that change are written, in contiguous runs to keep COM calls few.

Only the xlwings calls listed here are used — the unit tests drive this class with a
stand-in that implements exactly these:

    book.sheets[name]                      sheet.tables[name]
    table.header_row_range.value           table.data_body_range (.value/.row/.column/.rows.count)
    table.range (.row/.column/.rows.count/.columns.count)
    table.totals_row_range                 table.resize(range)
    sheet.range((r, c)) / sheet.range((r1, c1), (r2, c2))  .value / .formula / .options(ndim=2, err_to_str=True)
    range.api.Insert(Shift=xlShiftDown)    range.api.Delete(Shift=xlShiftUp)
    range.clear_contents()
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from .. import layout as L
from ..domain.values import CellError
from ..errors import NotAMasterWorkbook
from ..workbook.loader import LoadingStore
from ..workbook.tables import Changes, Formula, Notice, Table, is_blank_row

XL_SHIFT_DOWN, XL_SHIFT_UP = -4121, -4162
ERROR_TEXTS = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                         "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"))
LOOK_BELOW = 200  # rows under a table looked at for rows typed outside it


def _value(v: Any) -> Any:
    if isinstance(v, Formula):  # Excel takes a formula written as text starting with "="
        return "=" + v.text
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return dt.datetime(v.year, v.month, v.day)
    return v


def _cell(v: Any) -> Any:
    return CellError(v) if isinstance(v, str) and v in ERROR_TEXTS else v


def _runs(indices: Iterable[int]) -> list[list[int]]:
    """Sorted indices in runs of consecutive numbers."""
    out: list[list[int]] = []
    for i in sorted(indices):
        if out and i == out[-1][-1] + 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _grid(rng) -> list[list[Any]]:
    return rng.options(ndim=2, err_to_str=True).value


class XlBook(LoadingStore):
    def __init__(self, book):
        self.book = book
        self.notices: list[Notice] = []

    def _table(self, name: str):
        tdef = L.TABLES.get(name)
        sheet_name = tdef.sheet if tdef else None
        try:
            sheet = self.book.sheets[sheet_name]
            return sheet, sheet.tables[name]
        except Exception:
            raise NotAMasterWorkbook(getattr(self.book, "name", ""), f"缺少表格 {name}",
                                     f"missing table {name}") from None

    def read(self, names: Iterable[str], columns: dict[str, Iterable[str]] | None = None,
             exact: Iterable[str] = ()) -> dict[str, Table]:
        """The tables as the live book has them (its shape is always exact: `exact` changes nothing)."""
        out = {}
        for name in names:
            sheet, t = self._table(name)
            headers = [str(h) for h in t.header_row_range.value]
            body = t.data_body_range  # Excel's data body: never the header or the totals row
            rows: list[list[Any]] = []
            if body is not None:
                rows = [[_cell(v) for v in r] for r in _grid(body)]
                while rows and is_blank_row(name, headers, rows[-1]):
                    rows.pop()
            rng = t.range
            self._look_below(name, sheet, t, headers)
            table = Table(name, sheet.name, headers, rows, header_row=rng.row, first_col=rng.column - 1)
            if columns and name in columns:  # same shape as the file front's partial read
                keep = [i for i, h in enumerate(headers) if h in set(columns[name])]
                table = Table(name, sheet.name, [headers[i] for i in keep], [[r[i] for i in keep] for r in rows],
                              header_row=rng.row, first_col=rng.column - 1,
                              offsets={headers[i]: i for i in keep}, all_headers=headers)
            out[name] = table
        return out

    def _look_below(self, name: str, sheet, t, headers: list[str]) -> None:
        """Rows typed right under the table (auto-expand off, pasted): Excel's own row
        insertion keeps them, but the action must say they were not read."""
        rng = t.range
        first = rng.row + rng.rows.count
        c1, c2 = rng.column, rng.column + rng.columns.count - 1
        below = _grid(sheet.range((first, c1), (first + LOOK_BELOW - 1, c2)))
        for i, row in enumerate(below):
            if is_blank_row(name, headers, row):
                break
            if sum(v not in (None, "") for v in row) >= 2 and \
                    not any(n.row == first + i and n.sheet == sheet.name for n in self.notices):
                self.notices.append(Notice(
                    "TABLE-ROWS-OUTSIDE", sheet.name, first + i, None,
                    f"第 {first + i} 行在表格 {name} 之外，未被读入：若是数据，请用“表设计”→“调整表格大小”纳入表格",
                    table=name))

    def headers(self, name: str) -> list[str]:
        _, t = self._table(name)
        return [str(h) for h in t.header_row_range.value]

    def has_table(self, name: str) -> bool:
        try:
            self._table(name)
            return True
        except NotAMasterWorkbook:
            return False

    def formulas(self, name: str) -> dict[str, str | None]:
        """The calculated columns' formulas, from each one's first data cell."""
        sheet, t = self._table(name)
        tdef = L.TABLES.get(name)
        headers = self.headers(name)
        body = t.data_body_range
        out: dict[str, str | None] = {}
        for col in (tdef.columns if tdef else ()):
            if col.formula and col.header in headers:
                f = sheet.range((body.row, t.range.column + headers.index(col.header))).formula if body else None
                out[col.header] = f[1:] if isinstance(f, str) and f.startswith("=") else None
        return out

    def read_stream(self, name: str, sink, columns: Iterable[str] | None = None, exact: bool = False) -> Table:
        """Same contract as the file store: columns to the sink, the shape back."""
        t = self.read([name], {name: columns} if columns is not None else None)[name]
        if t.rows:
            sink([t.column(h) for h in t.headers], 0)
        return t.shape()

    # -- writing ----------------------------------------------------------------
    def write(self, changes: Changes) -> None:
        if changes.empty:
            return
        names = changes.tables()
        tables = self.read(names)
        for name, cols in changes.formulas.items():  # Excel makes a whole-column formula the calculated one
            sheet, xt = self._table(name)
            t, body = tables[name], xt.data_body_range
            if body is None:
                continue
            for header, (text, _) in cols.items():
                c = t.first_col + 1 + t.offset(header)
                sheet.range((body.row, c), (body.row + body.rows.count - 1, c)).formula = "=" + text
        for name, cells in changes.updates.items():
            self._update(name, tables[name], cells)
        for name, rows in changes.deletes.items():  # after the updates: they name rows as read
            if rows:
                self._delete(name, tables[name], rows)
                tables[name] = self.read([name])[name]
        for name in names:
            if name in changes.replaces or changes.appends.get(name):
                self._rows(name, tables[name], changes)
        if changes.status:
            self.book.sheets[L.SHEET_HOME].range(L.HOME_STATUS_CELL).value = changes.status

    def _update(self, name: str, t: Table, cells: dict[tuple[int, str], Any]) -> None:
        """Only the changed cells, one COM call per run of consecutive rows in a column."""
        sheet, _ = self._table(name)
        by_header: dict[str, dict[int, Any]] = {}
        for (ri, header), v in cells.items():
            if isinstance(v, Formula):  # a calculated cell's new cached value: live Excel computes it itself
                continue
            by_header.setdefault(header, {})[ri] = v
        for header, col_updates in by_header.items():
            col = t.first_col + 1 + t.offset(header)
            for run in _runs(col_updates):
                first, last = t.excel_row(run[0]), t.excel_row(run[-1])
                if first == last:
                    sheet.range((first, col)).value = _value(col_updates[run[0]])
                else:
                    sheet.range((first, col), (last, col)).value = [[_value(col_updates[i])] for i in run]

    def _delete(self, name: str, t: Table, rows: Iterable[int]) -> None:
        """Table rows deleted the way Excel's 删除表格行 does (the rows below move up within
        the table), from the bottom so the others keep their place."""
        sheet, _ = self._table(name)
        c1 = t.first_col + 1
        c2 = c1 + len(t.all_headers) - 1
        for ri in sorted(set(rows), reverse=True):
            r = t.excel_row(ri)
            sheet.range((r, c1), (r, c2)).api.Delete(Shift=XL_SHIFT_UP)

    def _rows(self, name: str, t: Table, changes: Changes) -> None:
        """A replaced body and appended rows: table rows inserted (or deleted) the way Excel
        does it, then the values written into the user columns only."""
        sheet, xt = self._table(name)
        tdef = L.TABLES.get(name)
        computed = {c.header for c in tdef.columns if c.formula} if tdef else set()
        c1 = t.first_col + 1
        c2 = c1 + len(t.headers) - 1
        body = xt.data_body_range
        body_rows = body.rows.count if body is not None else 0
        n = len(t.rows)
        if name in changes.replaces:
            if body is not None:
                for run in _runs(i for i, h in enumerate(t.headers) if h not in computed):
                    sheet.range((body.row, c1 + run[0]), (body.row + body_rows - 1, c1 + run[-1])).clear_contents()
            n = 0
        new_rows = list(changes.replaces.get(name, [])) + list(changes.appends.get(name, []))
        need = n + len(new_rows)
        first_body = t.header_row + 1
        if need > body_rows:  # new table rows under the last one, above the totals row
            at = first_body + body_rows
            sheet.range((at, c1), (at + need - body_rows - 1, c2)).api.Insert(Shift=XL_SHIFT_DOWN)
            if xt.totals_row_range is None:  # cells inserted under a table are not yet in it
                xt.resize(sheet.range((t.header_row, c1), (first_body + need - 1, c2)))
        elif name in changes.replaces and need < body_rows:  # fewer findings: the table shrinks
            keep = max(need, 1)
            sheet.range((first_body + keep, c1), (first_body + body_rows - 1, c2)).api.Delete(Shift=XL_SHIFT_UP)
        if not new_rows:
            return
        r1 = first_body + n
        for run in _runs(i for i, h in enumerate(t.headers) if h not in computed):
            block = [[_value(row.get(t.headers[i])) if not isinstance(row.get(t.headers[i]), Formula) else None
                      for i in run] for row in new_rows]
            sheet.range((r1, c1 + run[0]), (r1 + len(block) - 1, c1 + run[-1])).value = block
