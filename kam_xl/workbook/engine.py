"""The file engine: fast reads with python-calamine, writes by patching only
the sheet and table parts that changed and copying every other zip member
unchanged (VBA project, drawings, buttons, styles, other sheets).

Within a patched sheet only the rows that change are rewritten; inside those
rows only the cells that change.  New cells take their column's style from the
sheet's <cols> so dates stay dates and amounts keep their format.
"""
from __future__ import annotations

import datetime as dt
import math
import operator
import re
import zipfile
from typing import Any, Callable, Iterable

from python_calamine import CalamineWorkbook

from .. import layout as L
from ..domain.values import to_serial
from .package import Package, TablePart, col_index, col_letter, make_ref, read_package
from .formulas import structured
from .tables import Changes, Formula, Table

DELETE = object()  # sentinel: remove the cell

_ROW_NUMBERED = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(?:/>|>.*?</row>)', re.S)
_CELL = re.compile(rb"<c\b[^>]*?(?:/>|>.*?</c>)", re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_CELL_STYLE = re.compile(rb'\bs="(\d+)"')
_COL = re.compile(rb"<col\b[^>]*?/>")
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# ---------------------------------------------------------------------------
# Reading
CHUNK_ROWS = 20000


def read_tables(path: str, names: Iterable[str], pkg: Package | None = None,
                columns: dict[str, Iterable[str]] | None = None,
                sinks: dict[str, Callable[[list[list[Any]], int], None]] | None = None) -> dict[str, Table]:
    """Read the named Excel Tables (headers + body) of a workbook file.

    Each sheet is streamed once (calamine iter_rows) and only the tables' cells
    are kept — only the wanted columns where `columns` names them — so memory
    follows what the action needs, not the sheet grid.  A table with a sink is
    handed over in chunks (sink(rows, first row index)) and comes back as a shape
    (its row count, no values)."""
    columns = columns or {}
    sinks = sinks or {}
    if pkg is None:
        with zipfile.ZipFile(path) as z:
            pkg = read_package(z)
    wanted = [pkg.tables[n] for n in names if n in pkg.tables]
    by_sheet: dict[str, list[TablePart]] = {}
    for tp in wanted:
        by_sheet.setdefault(tp.sheet, []).append(tp)
    out: dict[str, Table] = {}
    with CalamineWorkbook.from_path(path) as wb:
        for sheet_name, parts in by_sheet.items():
            sheet = wb.get_sheet_by_name(sheet_name)
            start = sheet.start
            col0 = start[1] if start else 0
            readers = [_TableReader(tp, col0, columns.get(tp.name), sinks.get(tp.name)) for tp in parts]
            last = max(rd.r2 for rd in readers)
            if start is not None:
                for r, src in enumerate(sheet.iter_rows()):
                    if r >= last:
                        break
                    for rd in readers:
                        if rd.r1 <= r < rd.r2:
                            rd.add(r, src)
            for rd in readers:
                out[rd.tp.name] = rd.table()
    return out


class _TableReader:
    """Collects one table's body rows while a sheet streams by."""

    def __init__(self, tp: TablePart, col0: int, wanted: Iterable[str] | None, sink=None):
        self.tp = tp
        self.sink = sink
        self.flushed = 0          # rows already handed to the sink
        c1, r1, c2, r2 = tp.bounds
        self.r1, self.r2 = r1, r2  # body rows are 0-based r1..r2-1 (r1 is the 1-based header row)
        self.width = c2 - c1 + 1
        self.a = c1 - col0         # where the table starts within calamine's row lists
        self.headers_all = [str(h) for h in tp.columns]
        keep = list(range(self.width)) if wanted is None else \
            [i for i, h in enumerate(self.headers_all) if h in set(wanted)]
        self.keep = keep
        tdef = L.TABLES.get(tp.name)
        computed = {c.header for c in tdef.columns if c.formula} if tdef else set()
        user = [i for i, h in enumerate(self.headers_all) if h not in computed]
        self.n_user = len(user)
        self.user_pick = (operator.itemgetter(*user) if len(user) > 1 else
                          (lambda row, i=user[0]: (row[i],)) if user else (lambda row: ()))
        self.rows: list[list[Any]] = []
        self.last_filled = -1     # index in self.rows of the last row with a user value

    def add(self, r: int, src: list[Any]) -> None:
        a = self.a
        full = src[a:a + self.width] if a >= 0 else [""] * (-a) + src[:a + self.width]
        n = len(full)
        if n < self.width:
            full = full + [""] * (self.width - n)
        if self.user_pick(full).count("") < self.n_user:  # calamine gives "" for an empty cell
            self.last_filled = self.flushed + len(self.rows)
        if len(self.keep) == self.width:
            self.rows.append([None if v == "" else v for v in full])
        else:
            self.rows.append([None if full[i] == "" else full[i] for i in self.keep])
        if self.sink is not None and len(self.rows) >= CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        self.sink(self.rows, self.flushed)
        self.flushed += len(self.rows)
        self.rows = []

    def table(self) -> Table:
        tp = self.tp
        c1, r1, c2, r2 = tp.bounds
        if self.sink is not None:
            keep_n = max(0, self.last_filled + 1 - self.flushed)
            if self.rows[:keep_n]:
                self.sink(self.rows[:keep_n], self.flushed)
            return Table(tp.name, tp.sheet, list(self.headers_all), [None] * (self.last_filled + 1), r1, c1)
        body = self.rows[: self.last_filled + 1]  # trailing rows without user values are not data
        headers = [self.headers_all[i] for i in self.keep]
        return Table(tp.name, tp.sheet, headers, body, header_row=r1, first_col=c1,
                     offsets={self.headers_all[i]: i for i in self.keep}, all_headers=self.headers_all)


# ---------------------------------------------------------------------------
# Cell XML
def _esc(s: str) -> str:
    s = _ILLEGAL_XML.sub("", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def cell_xml(ref: str, value: Any, style: int | None) -> bytes:
    s = f' s="{style}"' if style else ""
    if value is None:
        return f'<c r="{ref}"{s}/>'.encode()
    if isinstance(value, Formula):
        f = f"<f>{_esc(value.text)}</f>"
        c = value.cached
        if c is None:
            return f'<c r="{ref}"{s}>{f}</c>'.encode()
        if isinstance(c, bool):
            return f'<c r="{ref}"{s} t="b">{f}<v>{int(c)}</v></c>'.encode()
        if isinstance(c, (int, float)):
            return f'<c r="{ref}"{s}>{f}<v>{_num(c)}</v></c>'.encode()
        if isinstance(c, dt.date):
            return f'<c r="{ref}"{s}>{f}<v>{_num(to_serial(c))}</v></c>'.encode()
        return f'<c r="{ref}"{s} t="str">{f}<v>{_esc(str(c))}</v></c>'.encode()
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'.encode()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return f'<c r="{ref}"{s} t="e"><v>#NUM!</v></c>'.encode()
        return f'<c r="{ref}"{s}><v>{_num(value)}</v></c>'.encode()
    if isinstance(value, dt.date):
        return f'<c r="{ref}"{s}><v>{_num(to_serial(value))}</v></c>'.encode()
    text = _esc(str(value))
    return f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'.encode()


def column_styles(sheet_xml: bytes) -> dict[int, int]:
    """0-based column → style index, from <cols>."""
    styles: dict[int, int] = {}
    head = sheet_xml[: sheet_xml.find(b"<sheetData")]
    for tag in _COL.findall(head):
        mn = int(re.search(rb'min="(\d+)"', tag)[1])
        mx = int(re.search(rb'max="(\d+)"', tag)[1])
        st = re.search(rb'style="(\d+)"', tag)
        if st and mx - mn < 1000:
            for c in range(mn - 1, mx):
                styles[c] = int(st[1])
    return styles


def _merge_row(row_xml: bytes | None, rownum: int, cells: dict[int, Any],
               styles: dict[int, int]) -> bytes | None:
    """Apply {col: value|DELETE} to one <row>; None when the row ends up empty."""
    existing: list[tuple[int, bytes]] = []
    row_open = f'<row r="{rownum}">'.encode()
    if row_xml is not None:
        gt = row_xml.find(b">")
        if row_xml[gt - 1:gt + 1] == b"/>":
            row_open = row_xml[:gt - 1] + b">"
        else:
            row_open = row_xml[:gt + 1]
            for m in _CELL.finditer(row_xml, gt + 1):
                ref = _CELL_REF.search(m.group(0), 0, 40)
                existing.append((col_index(ref[1].decode()), m.group(0)))
    by_col = dict(existing)
    for c, v in cells.items():
        if v is DELETE:
            by_col.pop(c, None)
            continue
        old = by_col.get(c)
        style = None
        if old is not None:
            sm = _CELL_STYLE.search(old[: old.find(b">") + 1])
            style = int(sm[1]) if sm else None
        else:
            style = styles.get(c)
        if v is None and old is None and not style:
            continue
        by_col[c] = cell_xml(f"{col_letter(c)}{rownum}", v, style)
    if not by_col:
        return None
    row_open = re.sub(rb'\s+spans="[^"]*"', b"", row_open)
    return row_open + b"".join(by_col[c] for c in sorted(by_col)) + b"</row>"


def patch_sheet(sheet_xml: bytes, row_cells: dict[int, dict[int, Any]],
                new_last: tuple[int, int] | None = None) -> bytes:
    """Rewrite only the rows in row_cells ({excel row: {col: value|DELETE}}).

    Untouched stretches of the sheet are passed to the final join as memoryview
    slices, so a 100 MB sheet is copied once, not once per step."""
    if not row_cells:
        return sheet_xml
    styles = column_styles(sheet_xml)
    sd_open = sheet_xml.find(b"<sheetData")
    sd_gt = sheet_xml.find(b">", sd_open)
    view = memoryview(sheet_xml)
    if sheet_xml[sd_gt - 1:sd_gt + 1] == b"/>":  # <sheetData/>
        head = sheet_xml[:sd_open] + b"<sheetData>"
        body_start = body_end = sd_gt + 1
        tail = b"</sheetData>" + sheet_xml[sd_gt + 1:]
    else:
        body_start, body_end = sd_gt + 1, sheet_xml.rfind(b"</sheetData>")
        head, tail = sheet_xml[:body_start], view[body_end:]
    if new_last is not None:
        head = _fix_dimension(head, *new_last)
    pending = dict(row_cells)
    out: list[Any] = [head]
    pos = body_start
    wanted = sorted(pending)
    wi = 0
    for m in _ROW_NUMBERED.finditer(sheet_xml, body_start, body_end):
        if wi >= len(wanted):
            break
        rn = int(m[1])
        while wi < len(wanted) and wanted[wi] < rn:  # new rows before this one
            out.append(view[pos:m.start()])
            pos = m.start()
            new = _merge_row(None, wanted[wi], pending.pop(wanted[wi]), styles)
            if new:
                out.append(new)
            wi += 1
        if wi < len(wanted) and wanted[wi] == rn:
            out.append(view[pos:m.start()])
            new = _merge_row(m.group(0), rn, pending.pop(rn), styles)
            if new:
                out.append(new)
            pos = m.end()
            wi += 1
    out.append(view[pos:body_end])
    for r in wanted[wi:]:
        new = _merge_row(None, r, pending.pop(r), styles)
        if new:
            out.append(new)
    out.append(tail)
    return b"".join(out)


def _fix_dimension(xml: bytes, last_row: int, last_col: int) -> bytes:
    m = re.search(rb'<dimension ref="([^"]*)"/>', xml[:2000])
    if not m:
        return xml
    ref = m[1].decode()
    first = ref.split(":")[0]
    fm = re.fullmatch(r"([A-Z]+)(\d+)", first)
    if not fm:
        return xml
    new = f'<dimension ref="{first}:{col_letter(max(last_col, 0))}{max(last_row, int(fm[2]))}"/>'.encode()
    return xml[:m.start()] + new + xml[m.end():]


def patch_table_ref(table_xml: bytes, new_ref: str) -> bytes:
    table_xml = re.sub(rb'(<table\b[^>]*?\bref=")[^"]*(")', lambda m: m[1] + new_ref.encode() + m[2],
                       table_xml, count=1)
    return re.sub(rb'(<autoFilter\b[^>]*?\bref=")[^"]*(")', lambda m: m[1] + new_ref.encode() + m[2],
                  table_xml, count=1)


# ---------------------------------------------------------------------------
# Planning a write: Changes → per-sheet row/cell edits and new table refs
def _row_values(tp: TablePart, tdef: L.TableDef | None, headers: list[str], excel_row: int,
                values: dict[str, Any]) -> dict[int, Any]:
    c1 = tp.bounds[0]
    cells: dict[int, Any] = {}
    by_header = tdef.by_header() if tdef is not None else {}
    for i, h in enumerate(headers):
        v = values.get(h)
        col = by_header.get(h)
        # computed columns get their formula; a value given for one is its cached result
        if col is not None and col.formula and not isinstance(v, Formula) and all(
                tdef.header(k) in headers for k in re.findall(r"\{col:(\w+)\}", col.formula)):
            v = Formula(structured(tdef, col), v)
        if v is not None:
            cells[c1 + i] = v
    return cells


def plan(pkg: Package, changes: Changes, tables: dict[str, Table]) -> tuple[
        dict[str, dict[int, dict[int, Any]]], dict[str, str]]:
    """Returns ({sheet part: {row: {col: value}}}, {table part: new ref})."""
    sheet_edits: dict[str, dict[int, dict[int, Any]]] = {}
    new_refs: dict[str, str] = {}
    names = set(changes.updates) | set(changes.appends) | set(changes.replaces)
    for name in names:
        tp = pkg.tables[name]
        c1, r1, c2, r2 = tp.bounds
        t = tables[name]
        headers = t.all_headers
        tdef = L.TABLES.get(name)
        edits = sheet_edits.setdefault(tp.sheet_part, {})
        n_rows = len(t.rows)
        for (ri, header), v in changes.updates.get(name, {}).items():
            edits.setdefault(t.excel_row(ri), {})[c1 + t.offset(header)] = v
        if name in changes.replaces:
            for r in range(r1 + 1, r2 + 1):
                row = edits.setdefault(r, {})
                for c in range(c1, c2 + 1):
                    row[c] = DELETE
            n_rows = 0
        for rows in (changes.replaces.get(name), changes.appends.get(name)):
            for values in rows or ():
                er = r1 + 1 + n_rows
                edits.setdefault(er, {}).update(_row_values(tp, tdef, headers, er, values))
                n_rows += 1
        if name in changes.replaces or changes.appends.get(name):
            last = r1 + max(n_rows, 1)
            new_refs[tp.part] = make_ref(c1, r1, c2, last)
    return sheet_edits, new_refs


# ---------------------------------------------------------------------------
# Home status cell
def status_edit(pkg: Package, text: str) -> tuple[str, dict[int, dict[int, Any]]]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", L.HOME_STATUS_CELL)
    return pkg.sheets[L.SHEET_HOME], {int(m[2]): {col_index(m[1]): text}}


def write_package(src: str, dst: str, replaced: dict[str, bytes]) -> None:
    """Copy the zip at src to dst, swapping the contents of the replaced parts.

    Unchanged members are copied as raw compressed bytes, never re-encoded, so
    the VBA project and everything else stays byte-identical."""
    from .rawzip import copy_with_replacements
    copy_with_replacements(src, dst, replaced)
