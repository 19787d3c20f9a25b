"""The import's column mapping, visible and editable (PRODUCT.md §7).

`kam-xl import BOOK SOURCE... --suggest-mapping FILE` writes the mapping the importer would
use — one line per source file, sheet and column: the header as written, the master table
and field it goes to, and why (the header's words, its content, or nothing: left out, with
the closest field as a guess).  A clerk edits the file in Excel (a CSV or an .xlsx) and
`--mapping FILE` imports with it: for every sheet it names, its lines decide the header row,
the table and each column's field; a blank field leaves the column out.  Sheets it does not
name are read as usual.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xlsxwriter

from .. import layout as L
from ..errors import BadArgument
from . import cleaning as cl
from ..workbook.outputs import neutralise, write_csv, write_output
from .headers import TARGETS, HeaderMap, lookup, norm_header, synonyms
from .readers import UnreadableSource, read_source
from ..workbook.package import col_index, col_letter as column_letter
from .sheets import SCAN_ROWS, short_texts

FILE, SHEET, HEADER_ROW, COLUMN, HEADER, TABLE, FIELD, REASON = (
    "文件", "工作表", "表头行", "列", "源表头", "导入到", "字段", "依据")
HEADERS = [FILE, SHEET, HEADER_ROW, COLUMN, HEADER, TABLE, FIELD, REASON]
LEAVE_OUT = ("", "（不导入）", "(不导入)", "不导入", "-")
TABLE_LABELS = {L.TABLES[t].sheet: t for t in TARGETS}


def column_index(letters: str) -> int | None:
    """A column letter a clerk typed (a, AB), or None when it is not one."""
    s = str(letters or "").strip().upper()
    return col_index(s) if s and s.isalpha() and s.isascii() else None


@dataclass
class Line:
    file: str
    sheet: str
    header_row: int | None
    column: str
    header: str
    table: str       # the master table's sheet label (客户档案 …), "" for a sheet not read
    field: str       # the target header, "" when the column is left out
    reason: str

    def as_row(self) -> dict[str, Any]:
        return dict(zip(HEADERS, (self.file, self.sheet, self.header_row, self.column, self.header,
                                  self.table, self.field, self.reason)))


def _guess(table: str, header: str) -> tuple[str | None, float]:
    """The field whose known words come closest to a header nobody listed."""
    key = norm_header(header)
    if not key:
        return None, 0.0
    best, score = None, 0.0
    for word, target in lookup(table).items():
        if not word:
            continue
        r = difflib.SequenceMatcher(None, key, word).ratio()
        if r > score:
            best, score = target, r
    return best, score


def guess_text(table: str, header: str) -> str:
    """An unplaced header with the importer's best guess, for the report."""
    guess, score = _guess(table, header)
    return f"{header}（最接近：{guess}）" if guess and score >= 0.4 else header


def _likely_header(rows: list[list[Any]]) -> tuple[int, dict[int, str]] | None:
    """For a sheet whose header nobody recognised: the first row of short distinct texts."""
    for r, cells in enumerate(rows[:SCAN_ROWS]):
        if short_texts(cells):
            texts = {c: str(v) for c, v in enumerate(cells) if not cl.is_blank(v)}
            if len(texts) >= 2:
                return r, texts
    return None


def unread_sheet_lines(file: str, sheet: str, rows: list[list[Any]], why: str, offset: int = 0) -> list[Line]:
    """A sheet read as nothing: its likeliest header row, each column with the closest field
    as a guess — left out (字段 blank) until the user fills it in."""
    found = _likely_header(rows)
    if found is None:
        return [Line(file, sheet, None, "", "", "", "", why)]
    r, texts = found
    table = max(TARGETS, key=lambda t: sum(_guess(t, h)[1] for h in texts.values()))
    out = []
    for c, text in sorted(texts.items()):
        guess, score = _guess(table, text)
        hint = f"；最接近：{guess}，相似度 {score:.2f}" if guess and score >= 0.4 else ""
        out.append(Line(file, sheet, r + 1 + offset, column_letter(c), text, L.TABLES[table].sheet, "",
                        f"{why}{hint}"))
    return out


def sheet_lines(file: str, sheet: str, hm: HeaderMap | None, why_not: str = "",
                by_content: dict[int, str] | None = None, offset: int = 0) -> list[Line]:
    """The mapping lines of one sheet as the importer reads it (`offset`: the sheet rows
    above the grid, for a table stacked under another)."""
    if hm is None:
        return [Line(file, sheet, None, "", "", "", "", why_not or "没有可识别的表头，未导入")]
    label = L.TABLES[hm.table].sheet
    row = hm.header_rows[-1] + 1 + offset
    out = []
    for c in sorted(hm.source_headers):
        text = hm.source_headers[c]
        target = hm.columns.get(c)
        if target is not None:
            why = (by_content or {}).get(c) or f"表头词语“{text}”"
            out.append(Line(file, sheet, row, column_letter(c), text, label, target, why))
            continue
        guess, score = _guess(hm.table, text)
        why = f"未识别，未导入（{hm.hints[c]}）" if c in hm.hints else \
            f"未识别，未导入（最接近：{guess}，相似度 {score:.2f}）" if guess and score >= 0.4 else "未识别，未导入"
        out.append(Line(file, sheet, row, column_letter(c), text, label, "", why))
    return out


def write_mapping(path: Path, lines: list[Line], book: Path | None = None) -> Path:
    """The mapping as a CSV (UTF-8 with BOM: Excel opens it in Chinese) or an .xlsx."""
    rows = [ln.as_row() for ln in lines]
    if path.suffix.lower() == ".xlsx":
        def write(tmp: Path) -> None:
            wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                                "strings_to_numbers": False})
            ws = wb.add_worksheet("导入映射")
            body = [[neutralise(r[h]) for h in HEADERS] for r in rows] or [[None] * len(HEADERS)]
            ws.add_table(0, 0, len(body), len(HEADERS) - 1, {
                "name": "导入映射", "data": body, "style": "Table Style Medium 2",
                "columns": [{"header": h} for h in HEADERS]})
            for i, w in enumerate((28, 16, 8, 6, 22, 12, 14, 48)):
                ws.set_column(i, i, w)
            ws.freeze_panes(1, 0)
            wb.close()
        return write_output(path, write, book=book)
    return write_csv(path, HEADERS, rows, book)


@dataclass
class SheetMapping:
    table: str
    header_row: int                      # 1-based
    columns: dict[int, str] = field(default_factory=dict)   # source column → target header
    left_out: set[int] = field(default_factory=set)


@dataclass
class Mapping:
    path: Path
    sheets: dict[tuple[str, str], SheetMapping] = field(default_factory=dict)

    def names(self, file: str, sheet: str) -> SheetMapping | None:
        """The mapping of a file's sheet, the names compared as a clerk's edit leaves them
        (full-width brackets and half-width ones alike)."""
        return self.sheets.get((cl.nfkc(file), cl.nfkc(sheet)))

    def header_map(self, file: str, sheet: str, rows: list[list[Any]], offset: int = 0) -> HeaderMap | None:
        """The sheet's header as the mapping says, or None when the mapping does not name it
        (`offset`: the sheet rows above `rows`, for a table stacked under another)."""
        sm = self.names(file, sheet)
        if sm is None or not sm.columns:  # every column left out: the sheet is read as usual
            return None
        r = sm.header_row - 1 - offset
        cells = rows[r] if 0 <= r < len(rows) else []
        src = {c: str(v) for c, v in enumerate(cells) if not cl.is_blank(v)}
        for c in sm.columns:
            src.setdefault(c, column_letter(c))
        mult = {c: cl.unit_of(src[c]) for c in sm.columns}
        return HeaderMap(sm.table, (r,), dict(sm.columns), mult, src,
                         [src[c] for c in sorted(src) if c not in sm.columns])


def read_mapping(path: Path) -> Mapping:
    """A mapping file a clerk edited; a line that cannot be used is refused naming its row."""
    path = Path(path)
    if not path.exists():
        raise BadArgument(path, "找不到映射文件", "no such mapping file")
    try:
        grids = read_source(path)
    except UnreadableSource as e:
        raise BadArgument(path, f"映射文件无法读取：{e}", "the mapping file cannot be read") from None
    rows = grids[0].rows if grids else []
    head = [cl.nfkc(v) if isinstance(v, str) else v for v in (rows[0] if rows else [])]
    missing = [h for h in (FILE, SHEET, HEADER_ROW, COLUMN, TABLE, FIELD) if h not in head]
    if missing:
        raise BadArgument(path, f"映射文件第 1 行缺少列：{'、'.join(missing)}（请用 --suggest-mapping 生成后再修改）",
                          f"the mapping file lacks the columns {', '.join(missing)}")
    at = {h: head.index(h) for h in HEADERS if h in head}
    out = Mapping(path)

    def cell(row, h):
        v = row[at[h]] if at[h] < len(row) else None
        return "" if cl.is_blank(v) else cl.nfkc(v) if isinstance(v, str) else v

    for n, row in enumerate(rows[1:], start=2):
        file, sheet, col = str(cell(row, FILE)), str(cell(row, SHEET)), str(cell(row, COLUMN))
        label, target = str(cell(row, TABLE)), str(cell(row, FIELD))
        if not file and not sheet:
            continue
        if not col:  # a sheet the importer could not read, left as it is
            if label:
                raise BadArgument(path, f"映射文件第 {n} 行：指定了导入到“{label}”，但没有写列（如 A、B）",
                                  f"mapping row {n}: a table without a column")
            continue
        table = TABLE_LABELS.get(label)
        if table is None:
            raise BadArgument(path, f"映射文件第 {n} 行：导入到“{label}”不是可导入的表（可用："
                              f"{'、'.join(TABLE_LABELS)}）", f"mapping row {n}: '{label}' is not a table to import into")
        c = column_index(col)
        if c is None:
            raise BadArgument(path, f"映射文件第 {n} 行：列“{col}”不是列字母（如 A、B、AA）",
                              f"mapping row {n}: '{col}' is not a column letter")
        hr = cell(row, HEADER_ROW)
        try:
            header_row = int(float(hr))
            if header_row < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise BadArgument(path, f"映射文件第 {n} 行：表头行“{hr}”不是行号", f"mapping row {n}: bad header row") from None
        sm = out.sheets.setdefault((cl.nfkc(file), cl.nfkc(sheet)), SheetMapping(table, header_row))
        if sm.table != table or sm.header_row != header_row:
            raise BadArgument(path, f"映射文件第 {n} 行：同一工作表“{file}[{sheet}]”的各行须导入到同一个表、"
                              f"用同一表头行", f"mapping row {n}: one sheet, one table and one header row")
        if target in LEAVE_OUT:
            sm.left_out.add(c)
            continue
        known = set(synonyms()["tables"][table])
        if target not in known:
            close = difflib.get_close_matches(target, sorted(known), n=1)
            raise BadArgument(path, f"映射文件第 {n} 行：字段“{target}”不是“{label}”的字段"
                              + (f"（是不是“{close[0]}”？）" if close else f"（可用：{'、'.join(sorted(known))}）"),
                              f"mapping row {n}: '{target}' is not a field of {table}")
        if target in sm.columns.values():
            raise BadArgument(path, f"映射文件第 {n} 行：字段“{target}”在“{file}[{sheet}]”中出现两次",
                              f"mapping row {n}: field '{target}' mapped twice")
        sm.columns[c] = target
    return out
