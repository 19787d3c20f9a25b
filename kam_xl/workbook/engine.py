"""The file engine: fast reads with fastexcel (calamine, Arrow), writes by patching only
the sheet and table parts that changed and copying every other zip member
unchanged (VBA project, drawings, buttons, styles, other sheets).

Within a patched sheet only the rows that change are rewritten; inside those
rows only the cells that change.  New cells take their column's style from the
sheet's <cols> so dates stay dates and amounts keep their format.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .. import layout as L
from ..domain.values import to_serial
from .columns import Source, Unusual
from .rawzip import copy_with_replacements
from .package import Package, TablePart, col_index, col_letter, make_ref, parse_ref, read_package
from .formulas import structured
from .tables import Changes, Formula, Table

DELETE = object()  # sentinel: remove the cell


class Restyle:
    """Keep the cell's value, give it this style (a row typed under a table takes the
    table's number formats: 利润率 0.15 shows as 15%)."""
    __slots__ = ("style",)

    def __init__(self, style: int | None):
        self.style = style


class Styled:
    """A new value written with a given style (not the old cell's)."""
    __slots__ = ("value", "style")

    def __init__(self, value: Any, style: int | None):
        self.value, self.style = value, style


def with_style(cell: bytes, style: int | None) -> bytes:
    """A cell's XML with its style attribute set (or removed)."""
    gt = cell.find(b">")
    head = re.sub(rb'\s+s="\d+"', b"", cell[:gt + 1])
    if style:
        m = re.match(rb'<c\b[^>]*?\br="[A-Z]+\d+"', head)
        cut = m.end() if m else 2
        head = head[:cut] + b' s="%d"' % style + head[cut:]
    return head + cell[gt + 1:]

_CELL = re.compile(rb"<c\b[^>]*?(?:/>|>.*?</c>)", re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_CELL_STYLE = re.compile(rb'\bs="(\d+)"')
_COL = re.compile(rb"<col\b[^>]*?/>")
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# ---------------------------------------------------------------------------
# Reading
ColumnSink = Callable[[list[list[Any]], int], None]  # sink(columns, first row index)


def open_reader(path: str):
    """A fastexcel reader (calamine underneath): the shared strings are read once
    and every later table load reuses them."""
    import logging
    import fastexcel
    # an all-empty column is read as text; fastexcel warns about it, a user needs not hear it
    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    return fastexcel.read_excel(path)


def read_tables(path: str, names: Iterable[str], pkg: Package | None = None,
                columns: dict[str, Iterable[str]] | None = None,
                sinks: dict[str, ColumnSink] | None = None, reader=None,
                exact: Iterable[str] = (),
                cells: dict[str, dict[tuple[int, int], Any]] | None = None,
                source: Source | None = None, loaded: dict[str, tuple] | None = None,
                ready: dict[str, tuple] | None = None) -> dict[str, Table]:
    """Read the named Excel Tables (headers + body) of a workbook file.

    Each table is loaded with fastexcel into Arrow columns — only the table's own
    cells and only the columns `columns` asks for — and they become Python values.
    The data ends at the last row with a user-entered value in the columns read;
    for a table in `exact` every user-entered column is looked at (a shape to
    append to), else the table is marked inexact when some were not.  A table with
    a sink hands its columns over (sink(columns, 0), in the order of its headers)
    and comes back as a shape (its row count, no values).  `cells` are values the
    reader cannot give (error values, formulas without a result), by table and
    (Excel row, 0-based column); they replace what it read there.  `source`: the same
    file for reading a few columns of a big sheet without fastexcel (workbook/columns.py).
    `loaded`: a table's cells already loaded (load_arrow, on another thread) from the same
    file, table and columns.  `ready`: a table's columns already read as _load reads them
    (the column reader, in the helper process: load_from_xml)."""
    columns = columns or {}
    loaded = loaded or {}
    ready = ready or {}
    cells = cells or {}
    sinks = sinks or {}
    exact = set(exact)
    if pkg is None:
        with zipfile.ZipFile(path) as z:
            pkg = read_package(z)
    if reader is None:
        reader = open_reader(path)
    out: dict[str, Table] = {}
    for name in names:
        tp = pkg.tables.get(name)
        if tp is None:
            continue
        headers_all, keep = columns_of(tp, columns.get(name))
        cols, n, is_exact = ready.get(name) or _load(reader, tp, headers_all, keep, name in exact, source,
                                                     loaded.get(name))
        c1, r1 = tp.bounds[0], tp.bounds[1]
        extra = cells.get(name)
        if extra:
            pos = {c1 + i: j for j, i in enumerate(keep)}
            for (row, col), v in extra.items():
                j = pos.get(col)
                if j is not None and r1 < row <= r1 + len(cols[j]):
                    cols[j][row - r1 - 1] = v
        sink = sinks.get(name)
        if sink is not None:
            if n:
                sink(cols, 0)
            out[name] = shape_of(tp, n, is_exact)
            continue
        rows = [list(r) for r in zip(*cols)] if cols else [[] for _ in range(n)]
        out[name] = Table(name, tp.sheet, [headers_all[i] for i in keep], rows, header_row=r1, first_col=c1,
                          offsets={headers_all[i]: i for i in keep}, all_headers=headers_all,
                          exact=is_exact, column_values=cols if len(cols) == len(keep) and n else None,
                          body_rows=tp.data_end - r1)
    return out


def read_arrow(path: str, name: str, pkg: Package, columns: Iterable[str], reader=None):
    """Some columns of one table as an Arrow record batch named by the table's headers,
    cut where its data ends — for summaries computed without Python values per cell."""
    import pyarrow as pa
    tp = pkg.tables[name]
    headers_all, keep = columns_of(tp, columns)
    batch, n, _ = _load_arrow(reader if reader is not None else open_reader(path), tp, headers_all, keep, False)
    if batch is None:
        return pa.RecordBatch.from_pydict({headers_all[i]: pa.nulls(0) for i in keep})
    return pa.RecordBatch.from_arrays([batch.column(j).slice(0, n) for j in range(len(keep))],
                                      names=[headers_all[i] for i in keep])


def shape_of(tp: TablePart, n: int, is_exact: bool) -> Table:
    """A table read into a sink, as read_tables hands it back: its headers and row count, no values."""
    return Table(tp.name, tp.sheet, [str(h) for h in tp.columns], [None] * n, tp.bounds[1], tp.bounds[0],
                 exact=is_exact)


def load_arrow(reader, tp: TablePart, columns: Iterable[str] | None, exact: bool, source: Source | None):
    """What read_tables would load with fastexcel for this table and columns — (Arrow batch,
    rows of data, exact) — or None when it reads them otherwise (none of them, or a few
    columns of a big sheet from its XML): loaded ahead on another thread (fastexcel lets go
    of the GIL) while this one types the table before."""
    headers_all, keep = columns_of(tp, columns)
    if not keep or (source is not None and source.suits(tp.sheet_part, len(keep))):
        return None
    return _load_arrow(reader, tp, headers_all, keep, exact)


def columns_of(tp: TablePart, wanted: Iterable[str] | None) -> tuple[list[str], list[int]]:
    """(every header of the table, positions of the wanted ones — all when None)."""
    headers_all = [str(h) for h in tp.columns]
    if wanted is None:
        return headers_all, list(range(len(headers_all)))
    wanted = set(wanted)
    return headers_all, [i for i, h in enumerate(headers_all) if h in wanted]


def _load(reader, tp: TablePart, headers_all: list[str], keep: list[int],
          exact: bool, source: Source | None = None, loaded: tuple | None = None) -> tuple[list[list[Any]], int, bool]:
    """The kept columns of one table as Python lists, cut after the last row with a
    user-entered value (rows with only computed columns are not data); with `exact`
    all user-entered columns are looked at.  Returns (columns, rows, exact).  A few
    columns of a big sheet are read from its XML (workbook/columns.py) when `source` is given."""
    if loaded is None and source is not None and keep and source.suits(tp.sheet_part, len(keep)):
        got = load_from_xml(tp, headers_all, keep, exact, source)
        if got is not None:
            return got
    batch, n, is_exact = loaded if loaded is not None else _load_arrow(reader, tp, headers_all, keep, exact)
    if batch is None or n == 0:
        return [[None] * n for _ in keep], n, is_exact
    return [to_python(batch.column(j).slice(0, n)) for j in range(len(keep))], n, is_exact


def _user_columns(tp: TablePart, headers_all: list[str], keep: list[int], exact: bool):
    """(the columns whose values decide where the data ends, the columns loaded, exact)."""
    tdef = L.TABLES.get(tp.name)
    computed = {c.header for c in tdef.columns if c.formula} if tdef else set()
    user = [i for i, h in enumerate(headers_all) if h not in computed]
    load_idx = sorted(set(keep) | set(user)) if exact else sorted(keep)
    is_exact = set(user) <= set(load_idx)
    if not set(user) & set(load_idx):
        user = load_idx  # only computed columns asked for: their values decide
    return user, load_idx, is_exact


def load_from_xml(tp: TablePart, headers_all: list[str], keep: list[int], exact: bool,
                  source: Source, chunks=None) -> tuple[list[list[Any]], int, bool] | None:
    """What _load gives, read by the column reader from the sheet's XML — None when it meets
    cells it does not type the way calamine does (fastexcel reads them then) or the table
    has no data rows.  `chunks`: the sheet's XML as another pass inflates it (Source.load)."""
    user, load_idx, is_exact = _user_columns(tp, headers_all, keep, exact)
    n_body = tp.data_end - tp.bounds[1]
    if n_body <= 0:
        return None
    try:
        cols, n = source.load(tp.sheet_part, tp.bounds[0], tp.bounds[1], n_body, keep,
                              [i for i in user if i in load_idx], chunks)
    except Unusual:
        return None
    return cols, n, is_exact


def columns_from_xml(path: str, tp: TablePart, headers: Iterable[str], date1904: bool, chunks=None):
    """(columns, rows of data, exact) of these columns of the table `tp` as the store's column
    reader reads them (load_from_xml) — None where it would read them otherwise (a 1904 book,
    none of them in the table, cells it does not type).  Used by the helper process, which has
    no store (scan_ahead.py)."""
    if date1904:
        return None
    headers_all, keep = columns_of(tp, headers)
    if not keep:
        return None
    return load_from_xml(tp, headers_all, keep, False, Source(path, date1904), chunks)


def _load_arrow(reader, tp: TablePart, headers_all: list[str], keep: list[int], exact: bool):
    """(Arrow batch of the kept columns, rows of data, exact)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    c1, r1, c2, r2 = tp.bounds
    n_body = tp.data_end - r1  # never the totals row
    user, load_idx, is_exact = _user_columns(tp, headers_all, keep, exact)
    if n_body <= 0 or not load_idx:
        return None, 0, is_exact
    letters = ",".join(col_letter(c1 + i) for i in load_idx)
    sheet = reader.load_sheet(tp.sheet, header_row=r1 - 1, use_columns=letters, n_rows=n_body,
                              schema_sample_rows=None, eager=True)
    batch = sheet if isinstance(sheet, pa.RecordBatch) else sheet.to_arrow()
    height = batch.num_rows
    pos = {i: j for j, i in enumerate(load_idx)}
    if batch.num_columns != len(load_idx):
        raise ValueError(f"表格 {tp.name} 的列读取不完整 / table {tp.name}: {batch.num_columns} of "
                         f"{len(load_idx)} columns read")
    filled = None
    for i in user:
        j = pos.get(i)
        if j is None:
            continue
        arr = batch.column(j)
        if pa.types.is_null(arr.type):
            continue
        ok = pc.is_valid(arr)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            # not "": its length cast to a truth value (a Python "" or False handed to pyarrow
            # makes it import pandas, a fifth of a second of every command's start)
            ok = pc.and_kleene(ok, pc.cast(pc.binary_length(arr), pa.bool_()))
        filled = ok if filled is None else pc.or_kleene(filled, ok)
    n = 0
    if filled is not None and height:
        hits = pc.indices_nonzero(filled)  # the rows filled (unknown is not), not through numpy:
        n = hits[len(hits) - 1].as_py() + 1 if len(hits) else 0  # converting loads pandas too
    return batch.select([pos[i] for i in keep]), n, is_exact  # the kept columns, in their order


def to_python(arr) -> list[Any]:
    """An Arrow column as Python values the way a cell reads: text, float, bool,
    datetime — a date when every timestamp of the column is at midnight — or None
    for an empty cell.  Repeated texts and dates are one shared object each."""
    import pyarrow as pa
    import pyarrow.compute as pc
    t = arr.type
    if pa.types.is_null(t):
        return [None] * len(arr)
    if pa.types.is_timestamp(t):
        days = pc.cast(arr, pa.date32())
        if pc.all(pc.equal(pc.cast(days, t), arr)).as_py() is not False:
            arr, t = days, days.type
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if text and len(arr) >= 64 and len(arr.slice(0, 1024).unique()) == min(len(arr), 1024):
        return [v or None for v in arr.to_pylist()]  # ids, names (no repeat in the first rows): nothing to share
    if text or pa.types.is_date(t) or pa.types.is_timestamp(t):
        enc = arr.dictionary_encode()
        values = enc.dictionary.to_pylist()
        if text:
            values = [v if v != "" else None for v in values]
        return [None if k is None else values[k] for k in enc.indices.to_pylist()]
    return arr.to_pylist()


# ---------------------------------------------------------------------------
# Cell XML
_TO_ESCAPE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _esc(s: str) -> str:
    if _TO_ESCAPE.search(s) is None:  # most texts: nothing to do
        return s
    s = _ILLEGAL_XML.sub("", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


class RawCell:
    """A cell's XML moved as it is (a totals row moving down with its table)."""
    __slots__ = ("xml",)

    def __init__(self, xml: bytes):
        self.xml = xml


def cell_xml(ref: str, value: Any, style: int | None, date1904: bool = False) -> bytes:
    if isinstance(value, RawCell):
        return value.xml
    return cell_text(ref, value, style, date1904).encode()


def _plain(open_tag: str, value: Any) -> str:
    """A text cell (a str) or a number cell (a finite number), from its opening `<c r=… s=…`:
    the one place their XML is written (cell_text, and the new rows' short way in _merge_row)."""
    if type(value) is str:
        return f'{open_tag} t="inlineStr"><is><t xml:space="preserve">{_esc(value)}</t></is></c>'
    return f"{open_tag}><v>{_num(value)}</v></c>"


def cell_text(ref: str, value: Any, style: int | None, date1904: bool = False) -> str:
    """A cell's XML as text (new rows are joined as text and encoded once)."""
    kind = type(value)
    if kind is str or kind is float and math.isfinite(value):  # the common cases first
        return _plain(f'<c r="{ref}" s="{style}"' if style else f'<c r="{ref}"', value)
    if isinstance(value, RawCell):
        return value.xml.decode()
    if isinstance(value, Styled):
        value, style = value.value, value.style
    s = f' s="{style}"' if style else ""
    if value is None:
        return f'<c r="{ref}"{s}/>'
    if isinstance(value, Formula):
        if value.share is None:
            f = f"<f>{_esc(value.text)}</f>"
        elif value.share[1] is None:
            f = f'<f t="shared" si="{value.share[0]}"/>'
        else:
            f = f'<f t="shared" ref="{value.share[1]}" si="{value.share[0]}">{_esc(value.text)}</f>'
        c = value.cached
        if c is None:
            return f'<c r="{ref}"{s}>{f}</c>'
        if isinstance(c, bool):
            return f'<c r="{ref}"{s} t="b">{f}<v>{int(c)}</v></c>'
        if isinstance(c, (int, float)):
            return f'<c r="{ref}"{s}>{f}<v>{_num(c)}</v></c>'
        if isinstance(c, dt.date):
            return f'<c r="{ref}"{s}>{f}<v>{_num(to_serial(c, date1904))}</v></c>'
        return f'<c r="{ref}"{s} t="str">{f}<v>{_esc(str(c))}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return f'<c r="{ref}"{s} t="e"><v>#NUM!</v></c>'
        return _plain(f'<c r="{ref}"{s}', value)
    if isinstance(value, dt.date):
        return _plain(f'<c r="{ref}"{s}', to_serial(value, date1904))
    return _plain(f'<c r="{ref}"{s}', str(value))


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


_letters = functools.lru_cache(maxsize=None)(col_letter)
_HEADS: dict[tuple[int, int | None], tuple[str, str]] = {}  # (column, style) → a cell's opening around its row


def _head(c: int, style: int | None) -> tuple[str, str]:
    if len(_HEADS) > 4096:  # a long-lived process writes many books: a bounded cache
        _HEADS.clear()
    got = _HEADS[(c, style)] = (f'<c r="{_letters(c)}', f'" s="{style}"' if style else '"')
    return got


def _merge_row(row_xml: bytes | None, rownum: int, cells: dict[int, Any],
               styles: dict[int, int], date1904: bool = False) -> bytes | None:
    """Apply {col: value|DELETE} to one <row>; None when the row ends up empty.

    Cells that exist are replaced in place (found by their reference); only a row
    that gains or loses cells is taken apart and put back together in column order."""
    if row_xml is None:  # a new row (appended): its cells in column order, as text, encoded once
        out = []
        r = str(rownum)
        for c in sorted(cells):
            v = cells[c]
            kind = type(v)
            # the common cells (a text, a number, a date, an empty styled cell), as cell_text makes them
            if kind is str or kind is int or kind is float and math.isfinite(v) or kind is dt.datetime \
                    or kind is dt.date or v is None:
                style = styles.get(c)
                if v is None and not style:
                    continue
                head = _HEADS.get((c, style))
                if head is None:
                    head = _head(c, style)
                if v is None:
                    out.append(f"{head[0]}{r}{head[1]}/>")
                else:
                    out.append(_plain(f"{head[0]}{r}{head[1]}", v if kind is str or kind is int or kind is float
                                      else to_serial(v, date1904)))
                continue
            if v is DELETE:
                continue
            if isinstance(v, Restyle):
                if v.style:
                    out.append(f'<c r="{_letters(c)}{rownum}" s="{v.style}"/>')
                continue
            style = styles.get(c)
            if v is None and not style:
                continue
            out.append(cell_text(f"{_letters(c)}{rownum}", v, style, date1904))
        return f'<row r="{rownum}">{"".join(out)}</row>'.encode() if out else None
    if row_xml is not None:
        fast = _replace_cells(row_xml, rownum, cells, date1904)
        if fast is not None:
            return fast
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
        if isinstance(v, Restyle):
            if old is not None:
                by_col[c] = with_style(old, v.style)
            elif v.style:
                by_col[c] = f'<c r="{col_letter(c)}{rownum}" s="{v.style}"/>'.encode()
            continue
        style = None
        if old is not None:
            sm = _CELL_STYLE.search(old[: old.find(b">") + 1])
            style = int(sm[1]) if sm else None
        else:
            style = styles.get(c)
        if v is None and old is None and not style:
            continue
        by_col[c] = cell_xml(f"{col_letter(c)}{rownum}", v, style, date1904)
    if not by_col:
        return None
    row_open = re.sub(rb'\s+spans="[^"]*"', b"", row_open)
    return row_open + b"".join(by_col[c] for c in sorted(by_col)) + b"</row>"


def _replace_cells(row_xml: bytes, rownum: int, cells: dict[int, Any],
                   date1904: bool = False) -> bytes | None:
    """Every cell to change already exists in the row: swap them in place, keeping
    each one's style.  None when a cell is missing or is to be deleted."""
    spans: list[tuple[int, int, bytes]] = []
    for c, v in cells.items():
        if v is DELETE:
            return None
        key = f'<c r="{col_letter(c)}{rownum}"'.encode()
        i = row_xml.find(key)
        if i < 0 or row_xml[i + len(key):i + len(key) + 1] not in (b" ", b">", b"/"):
            return None
        gt = row_xml.find(b">", i)
        head = row_xml[i:gt + 1]
        j = gt + 1 if head.endswith(b"/>") else row_xml.find(b"</c>", gt) + 4
        if j < 4:
            return None
        if isinstance(v, Restyle):
            spans.append((i, j, with_style(row_xml[i:j], v.style)))
            continue
        sm = _CELL_STYLE.search(head)
        spans.append((i, j, cell_xml(f"{col_letter(c)}{rownum}", v, int(sm[1]) if sm else None, date1904)))
    spans.sort()
    out, pos = [], 0
    for i, j, new in spans:
        if i < pos:
            return None
        out += [row_xml[pos:i], new]
        pos = j
    out.append(row_xml[pos:])
    return b"".join(out)


_ROW_HEAD = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(/?)>')


class _RowPatcher:
    """Rows of a sheet's <sheetData> with the changed ones swapped in, one stretch of whole
    rows at a time (rows are found by their opening tags alone; the rows in between are
    passed on as memoryview slices, never copied)."""

    def __init__(self, row_cells: dict[int, dict[int, Any]], styles: dict[int, int], date1904: bool):
        self.pending = dict(row_cells)
        self.wanted = sorted(self.pending)
        self.wi = 0
        self.styles = styles
        self.date1904 = date1904

    def _new(self, rn: int, old: bytes | None) -> bytes | None:
        return _merge_row(old, rn, self.pending.pop(rn), self.styles, self.date1904)

    def stretch(self, xml: bytes, start: int, end: int) -> list:
        """xml[start:end] (whole rows) patched, as pieces."""
        out: list[Any] = []
        view = memoryview(xml)
        pos = start
        wanted = self.wanted
        for m in _ROW_HEAD.finditer(xml, start, end):
            if self.wi >= len(wanted):
                break
            rn = int(m[1])
            while self.wi < len(wanted) and wanted[self.wi] < rn:  # new rows before this one
                out.append(view[pos:m.start()])
                pos = m.start()
                new = self._new(wanted[self.wi], None)
                if new:
                    out.append(new)
                self.wi += 1
            if self.wi < len(wanted) and wanted[self.wi] == rn:
                out.append(view[pos:m.start()])
                stop = m.end() if m[2] else xml.find(b"</row>", m.end(), end) + 6
                new = self._new(rn, xml[m.start():stop])
                if new:
                    out.append(new)
                pos = stop
                self.wi += 1
        out.append(view[pos:end])
        return out

    def rest(self) -> list[bytes]:
        """The rows after the sheet's last row (appended rows)."""
        out = []
        for r in self.wanted[self.wi:]:
            new = self._new(r, None)
            if new:
                out.append(new)
        self.wi = len(self.wanted)
        return out


def _split_head(xml: bytes) -> tuple[bytes, int, bool] | None:
    """(the sheet up to and including <sheetData …>, where the rows start, whether it is an
    empty <sheetData/>) — None while the tag is not complete in xml."""
    sd_open = xml.find(b"<sheetData")
    sd_gt = xml.find(b">", sd_open) if sd_open >= 0 else -1
    if sd_gt < 0:
        return None
    if xml[sd_gt - 1:sd_gt + 1] == b"/>":
        return xml[:sd_open] + b"<sheetData>", sd_gt + 1, True
    return xml[:sd_gt + 1], sd_gt + 1, False


def patch_sheet_chunks(sheet_xml: bytes, row_cells: dict[int, dict[int, Any]],
                       new_last: tuple[int, int] | None = None, date1904: bool = False) -> list:
    """The patched sheet as a list of buffers: untouched stretches are memoryview
    slices of sheet_xml, changed rows new bytes.  The zip writer compresses the pieces
    as they are, so a 100 MB sheet is never copied whole."""
    if not row_cells:
        return [sheet_xml]
    head, body_start, empty = _split_head(sheet_xml)
    rows = _RowPatcher(row_cells, column_styles(head), date1904)
    if new_last is not None:
        head = fix_dimension(head, *new_last)
    if empty:
        return [head] + rows.rest() + [b"</sheetData>", memoryview(sheet_xml)[body_start:]]
    body_end = sheet_xml.rfind(b"</sheetData>")
    return [head] + rows.stretch(sheet_xml, body_start, body_end) + rows.rest() + [memoryview(sheet_xml)[body_end:]]


STREAM_CHUNK = 8 << 20


def patch_sheet_stream(read, row_cells: dict[int, dict[int, Any]], new_last: tuple[int, int] | None = None,
                       date1904: bool = False):
    """patch_sheet_chunks for a sheet read piece by piece (read(n) → bytes, b"" at its end):
    the pieces come out as the sheet goes in, so a sheet of hundreds of MB is never held whole."""
    if not row_cells:
        while chunk := read(STREAM_CHUNK):
            yield chunk
        return
    buf = b""
    while True:  # the head: everything up to the rows (<cols> with the column styles is in it)
        chunk = read(STREAM_CHUNK)
        buf += chunk
        split = _split_head(buf)
        if split is not None or not chunk:
            break
    if split is None:
        raise ValueError("no <sheetData> in the sheet")
    head, body_start, empty = split
    rows = _RowPatcher(row_cells, column_styles(head), date1904)
    yield fix_dimension(head, *new_last) if new_last is not None else head
    if empty:
        yield from rows.rest()
        yield b"</sheetData>"
        yield buf[body_start:]
        while chunk:
            chunk = read(STREAM_CHUNK)
            yield chunk
        return
    buf = buf[body_start:]
    while True:
        end = buf.find(b"</sheetData>")
        if end >= 0:
            yield from rows.stretch(buf, 0, end)
            yield from rows.rest()
            yield buf[end:]
            while chunk:
                chunk = read(STREAM_CHUNK)
                yield chunk
            return
        cut = buf.rfind(b"</row>")
        if cut >= 0:
            cut += 6
            yield from rows.stretch(buf, 0, cut)
            buf = buf[cut:]
        if not chunk:
            raise ValueError("the sheet ends inside <sheetData>")
        chunk = read(STREAM_CHUNK)
        buf += chunk


def fix_dimension(xml: bytes, last_row: int, last_col: int) -> bytes:
    """The sheet's <dimension> reaching this row and column (0-based), from its first cell."""
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


def patch_calculated(table_xml: bytes, formulas: dict[str, str], headers: list[str]) -> bytes:
    """Each named column's calculatedColumnFormula (Excel fills it into rows added later)."""
    from xml.sax.saxutils import escape
    out, pos = [], 0
    cols = list(re.finditer(rb"<tableColumn\b([^>]*?)(/>|>(.*?)</tableColumn>)", table_xml, re.S))
    for h, m in zip(headers, cols):
        if h not in formulas:
            continue
        new_f = b"<calculatedColumnFormula>" + escape(formulas[h]).encode() + b"</calculatedColumnFormula>"
        inner = m[3] or b""
        if b"<calculatedColumnFormula" in inner:
            inner = re.sub(rb"<calculatedColumnFormula\b[^>]*>.*?</calculatedColumnFormula>", lambda _: new_f,
                           inner, count=1, flags=re.S)
        else:
            inner = new_f + inner
        out += [table_xml[pos:m.start()], b"<tableColumn" + m[1] + b">" + inner + b"</tableColumn>"]
        pos = m.end()
    out.append(table_xml[pos:])
    return b"".join(out)


def patch_table_ref(table_xml: bytes, new_ref: str, totals_rows: int = 0) -> bytes:
    """The table's ref, and its autoFilter's (which never covers the totals row)."""
    table_xml = re.sub(rb'(<table\b[^>]*?\bref=")[^"]*(")', lambda m: m[1] + new_ref.encode() + m[2],
                       table_xml, count=1)
    c1, r1, c2, r2 = parse_ref(new_ref)
    filter_ref = make_ref(c1, r1, c2, max(r1 + 1, r2 - totals_rows)).encode()
    return re.sub(rb'(<autoFilter\b[^>]*?\bref=")[^"]*(")', lambda m: m[1] + filter_ref + m[2],
                  table_xml, count=1)


# ---------------------------------------------------------------------------
# Planning a write: Changes → per-sheet row/cell edits and new table refs
def _row_maker(tp: TablePart, tdef: L.TableDef | None, headers: list[str]) -> Callable[[dict[str, Any]], dict[int, Any]]:
    """values by header → cells by column, for the new rows of one table: what each column
    takes is worked out once, not per row.  Calculated columns get the table's own formula
    (what Excel fills into a new row), else the layout's; a value given for one is its
    cached result."""
    c1 = tp.bounds[0]
    by_header = tdef.by_header() if tdef is not None else {}
    own = tp.calculated or {}
    plan: list[tuple[str, int, str | None]] = []
    for i, h in enumerate(headers):
        col = by_header.get(h)
        text = None
        if h in own:
            text = own[h]
        elif col is not None and col.formula and col.formula != L.NATIVE_TIER and all(
                tdef.header(k) in headers for k in re.findall(r"\{col:(\w+)\}", col.formula)):
            text = structured(tdef, col)
        plan.append((h, c1 + i, text))

    def make(values: dict[str, Any]) -> dict[int, Any]:
        cells: dict[int, Any] = {}
        get = values.get
        for h, c, text in plan:
            v = get(h)
            if text is not None and not isinstance(v, Formula):
                v = Formula(text, v)
            if v is not None:
                cells[c] = v
        return cells
    return make


@dataclass
class Plan:
    edits: dict[str, dict[int, dict[int, Any]]] = field(default_factory=dict)  # part → row → col → value
    refs: dict[str, tuple[str, int]] = field(default_factory=dict)  # table part → (new ref, totals rows)
    # table name → (rows the table grows into, columns): they must hold nothing but the moving totals row
    grows: dict[str, tuple[range, int, int]] = field(default_factory=dict)
    # sheet part → [(from row, to row, first col, last col)]: totals rows moving with their table
    moves: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)
    calculated: dict[str, dict[str, str]] = field(default_factory=dict)  # table part → header → formula
    next_si: dict[str, int] = field(default_factory=dict)  # sheet part → the next free shared-formula index

    def share(self, part: str, edits: dict[int, dict[int, Any]], col: int, first: int, last: int) -> None:
        """Rows first..last of a column holding the same formula become one shared formula."""
        if last - first < 1:
            return
        cells = [edits.get(r, {}).get(col) for r in range(first, last + 1)]
        if not all(isinstance(f, Formula) and f.text == cells[0].text for f in cells):
            return
        si = self.next_si.get(part, 0)
        self.next_si[part] = si + 1
        cells[0].share = (si, f"{col_letter(col)}{first}:{col_letter(col)}{last}")
        for f in cells[1:]:
            f.share = (si, None)


def plan(pkg: Package, changes: Changes, tables: dict[str, Table], next_si: dict[str, int] | None = None) -> Plan:
    """Which cells of which rows change, and where each table ends afterwards.  Rows are
    appended under the last data row and above the totals row, which moves down (or up)
    with its table.  `next_si`: per sheet part, the first shared-formula index not in use."""
    out = Plan(next_si=dict(next_si or {}))
    for name in changes.tables():
        tp = pkg.tables[name]
        c1, r1, c2, r2 = tp.bounds
        end = tp.data_end
        t = tables[name]
        headers = t.all_headers
        tdef = L.TABLES.get(name)
        edits = out.edits.setdefault(tp.sheet_part, {})
        n_rows = len(t.rows)
        for header, (text, cached) in changes.formulas.get(name, {}).items():
            col = c1 + headers.index(header)
            for r in range(r1 + 1, end + 1):  # every row of the table, blank ones too
                ri = r - r1 - 1
                edits.setdefault(r, {})[col] = Formula(text, cached[ri] if ri < len(cached) else None)
            out.share(tp.sheet_part, edits, col, r1 + 1, end)
            out.calculated.setdefault(tp.part, {})[header] = text
            tp.calculated = {**(tp.calculated or {}), header: text}  # appended rows take it too
        gone = set(changes.deletes.get(name, ()))
        remap = _delete_rows(out, tp, edits, gone) if gone else None
        if gone and changes.formulas.get(name):
            raise ValueError(f"{name}: a column's new formula and deleted rows in one write")
        n_rows -= len([i for i in gone if i < n_rows])
        for (ri, header), v in changes.updates.get(name, {}).items():
            if ri in gone:
                continue
            edits.setdefault(t.excel_row(remap[ri] if remap else ri), {})[c1 + t.offset(header)] = v
        if name not in changes.replaces and not changes.appends.get(name) and not gone:
            continue
        if name in changes.replaces:
            for r in range(r1 + 1, end + 1):
                row = edits.setdefault(r, {})
                for c in range(c1, c2 + 1):
                    row[c] = DELETE
            n_rows = 0
        n_new = n_rows + len(changes.replaces.get(name) or ()) + len(changes.appends.get(name) or ())
        new_end = r1 + max(n_new, 1, end - r1 - len(gone) if name not in changes.replaces else 0)
        if tp.totals_rows and new_end != end:
            old_total, new_total = r2, new_end + 1
            for c in range(c1, c2 + 1):
                edits.setdefault(old_total, {})[c] = DELETE
            out.moves.setdefault(tp.sheet_part, []).append((old_total, new_total, c1, c2))
        first_new = r1 + 1 + n_rows
        make = _row_maker(tp, tdef, headers)
        for rows in (changes.replaces.get(name), changes.appends.get(name)):
            for values in rows or ():
                er = r1 + 1 + n_rows
                cells = make(values)
                if er in edits:
                    edits[er].update(cells)
                else:
                    edits[er] = cells
                n_rows += 1
        for h in (tp.calculated or {}):  # new rows' calculated cells: one shared formula per column
            if h in headers:
                out.share(tp.sheet_part, edits, c1 + headers.index(h), first_new, r1 + n_rows)
        last = new_end + tp.totals_rows
        if last > r2:
            out.grows[name] = (range(r2 + 1, last + 1), c1, c2)
        out.refs[tp.part] = (make_ref(c1, r1, c2, last), tp.totals_rows)
    return out


def _delete_rows(out: Plan, tp: TablePart, edits: dict[int, dict[int, Any]], gone: set[int]) -> dict[int, int]:
    """Rows of a table deleted the way Excel's 删除表格行 does: every row below a deleted
    one moves up within the table's columns (cells beside the table stay), the rows left
    at its end are cleared.  Returns old row index → new row index of the rows kept."""
    c1, r1, c2, _ = tp.bounds
    body = tp.data_end - r1
    remap, shift = {}, 0
    for i in range(body):
        if i in gone:
            shift += 1
            continue
        remap[i] = i - shift
        if shift:
            out.moves.setdefault(tp.sheet_part, []).append((r1 + 1 + i, r1 + 1 + i - shift, c1, c2))
    first = r1 + 1 + min(gone)
    for r in range(first, tp.data_end + 1):  # cleared, then the moving rows land (a value written wins)
        row = edits.setdefault(r, {})
        for c in range(c1, c2 + 1):
            row[c] = DELETE
    return remap


def restyle_rows(sheet_xml: bytes, rows: dict[int, dict[int, Any]], typed: list[int], template: int | None,
                 c1: int, c2: int) -> None:
    """Rows typed under a table take the styles of its first data row (`template`, or the
    sheet's column styles): their values are kept, new values written in those styles."""
    styles = column_styles(sheet_xml)
    if template is not None:
        for c, xml in row_cells_xml(sheet_xml, template, c1, c2).items():
            m = _CELL_STYLE.search(xml[: xml.find(b">") + 1])
            styles[c] = int(m[1]) if m else 0
    for r in typed:
        cells = rows.setdefault(r, {})
        for c in range(c1, c2 + 1):
            style = styles.get(c)
            v = cells.get(c, Restyle(style))
            if v is DELETE or isinstance(v, (Restyle, Styled, RawCell)):
                cells[c] = v
            else:
                cells[c] = Styled(v, style)


def row_cells_xml(sheet_xml: bytes, rownum: int, c1: int, c2: int) -> dict[int, bytes]:
    """The cells of one row within columns c1..c2, as XML."""
    m = re.search(rb'<row\b[^>]*?\br="%d"[^>]*?(/?)>' % rownum, sheet_xml)
    if not m or m[1]:
        return {}
    stop = sheet_xml.find(b"</row>", m.end())
    out = {}
    for cm in _CELL.finditer(sheet_xml, m.end(), stop):
        ref = _CELL_REF.search(cm.group(0), 0, 40)
        c = col_index(ref[1].decode())
        if c1 <= c <= c2:
            out[c] = cm.group(0)
    return out


def moved_cells(sheet_xml: bytes, moves: list[tuple[int, int, int, int]]) -> dict[int, dict[int, Any]]:
    """Edits that put each moving row's cells at their new row (formulas kept as written:
    a totals row's SUBTOTAL refers to its table by name)."""
    edits: dict[int, dict[int, Any]] = {}
    for frm, to, c1, c2 in moves:
        for c, xml in row_cells_xml(sheet_xml, frm, c1, c2).items():
            new = re.sub(rb'\br="[A-Z]+\d+"', f'r="{col_letter(c)}{to}"'.encode(), xml, count=1)
            edits.setdefault(to, {})[c] = RawCell(new)
    return edits


_SHARED_MASTER = re.compile(rb'<f\b([^>]*\bt="shared"[^>]*)>([^<]*)</f>')
_SHARED_DEP = re.compile(rb'<f\b[^>]*\bt="shared"[^>]*/>')
_SI = re.compile(rb'\bsi="(\d+)"')


def expand_shared(sheet_xml: bytes, touched: set[tuple[int, int]]) -> bytes:
    """Shared formulas whose master cell is about to be overwritten, deleted or moved
    become plain formulas in every cell of their group, so no dependent is orphaned
    (openpyxl would read it as '=', LibreOffice show it blank, Excel offer a repair)."""
    from xml.sax.saxutils import unescape
    groups: dict[bytes, tuple[str, str]] = {}  # si → (master ref, formula)
    for m in _SHARED_MASTER.finditer(sheet_xml):
        start = sheet_xml.rfind(b"<c ", 0, m.start())
        ref = _CELL_REF.search(sheet_xml, start, start + 64)
        if ref and (int(ref[2]), col_index(ref[1].decode())) in touched:
            si, span = _SI.search(m[1]), re.search(rb'\bref="([A-Z]+\d+(?::[A-Z]+\d+)?)"', m[1])
            if span:  # every cell of the group overwritten (a column given a new formula): nothing to keep
                a1, b1, a2, b2 = parse_ref(span[1].decode())
                if all((r, c) in touched for r in range(b1, b2 + 1) for c in range(a1, a2 + 1)):
                    continue
            if si:
                groups[si[1]] = (ref[1].decode() + ref[2].decode(), unescape(m[2].decode()))
    if not groups:
        return sheet_xml
    from xml.sax.saxutils import escape
    from openpyxl.formula.translate import Translator  # (0.1 s to import: only when a group is expanded)

    def plain(m: re.Match) -> bytes:
        si = _SI.search(m[0])
        if not si or si[1] not in groups:
            return m[0]
        src = m.string
        start = src.rfind(b"<c ", 0, m.start())
        ref = _CELL_REF.search(src, start, start + 64)
        origin, text = groups[si[1]]
        here = ref[1].decode() + ref[2].decode()
        formula = Translator("=" + text, origin=origin).translate_formula(here)[1:] if here != origin else text
        return b"<f>" + escape(formula).encode() + b"</f>"

    out = _SHARED_MASTER.sub(plain, sheet_xml)
    return _SHARED_DEP.sub(plain, out)


def without_calc_chain(z: zipfile.ZipFile, calc_chain: str) -> dict[str, bytes | None]:
    """Parts that drop xl/calcChain.xml (Excel rebuilds it silently; a stale one makes it
    offer a repair): the part itself, its relationship and its content type."""
    rels_name = "xl/_rels/workbook.xml.rels"
    rels = re.sub(rb'<Relationship\b[^>]*?Target="[^"]*calcChain\.xml"[^>]*?/>', b"", z.read(rels_name))
    types = re.sub(rb'<Override\b[^>]*?PartName="/' + re.escape(calc_chain.encode()) + rb'"[^>]*?/>', b"",
                   z.read("[Content_Types].xml"))
    return {calc_chain: None, rels_name: rels, "[Content_Types].xml": types}


# ---------------------------------------------------------------------------
# Home status cell
def status_edit(pkg: Package, text: str) -> tuple[str, dict[int, dict[int, Any]]]:
    m = re.fullmatch(r"([A-Z]+)(\d+)", L.HOME_STATUS_CELL)
    return pkg.sheets[L.SHEET_HOME], {int(m[2]): {col_index(m[1]): text}}


def write_package(src: str, dst: str, replaced: dict[str, bytes]) -> None:
    """Copy the zip at src to dst, swapping the contents of the replaced parts.

    Unchanged members are copied as raw compressed bytes, never re-encoded, so
    the VBA project and everything else stays byte-identical."""
    copy_with_replacements(src, dst, replaced)
