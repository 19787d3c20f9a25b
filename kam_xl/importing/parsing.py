"""Reading one legacy source file into rows per master table: what the sandbox child runs
(sandbox.py) — the file read by its third-party reader, every sheet's header found and every
row classified and cleaned (sheets.py), every row that is not data accounted for.  Kept apart
from the merge (service.py), so the child, started once per source file, imports only what
reading needs.  Its results cross the sandbox's pipe: FileParse, SourceRow, SourceInfo, Outcome."""
from __future__ import annotations

import datetime as dt
import gc
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import layout as L
from ..domain.values import due_from_term
from . import cleaning as cl
from . import sheets
from .headers import TARGETS, HeaderMap, title_text
from .mapping import sheet_lines, unread_sheet_lines
from .readers import SheetGrid, read_source
from .sandbox import child_main
from .sheets import TERM, R

NEW, MERGED, SKIPPED, REJECTED = L.IMPORT_OUTCOMES
TABLE_LABEL = {t: L.TABLES[t].sheet for t in TARGETS}  # what the report calls the table a row went to


@dataclass
class Outcome:
    file: str
    sheet: str
    row: int | None
    outcome: str
    target: str = ""
    record_id: str | None = None
    message: str = ""

    def as_keys(self, when: dt.datetime) -> dict[str, Any]:
        """The 导入记录 row by layout key (what the import's change set adds)."""
        return dict(time=when, file=self.file, sheet=self.sheet, row=self.row, outcome=self.outcome,
                    target=self.target, record_id=self.record_id, message=self.message)

    def as_row(self, when: dt.datetime) -> dict[str, Any]:
        """The same row by header (the import report's CSV)."""
        return L.IMPORT_LOG.row(**self.as_keys(when))


@dataclass
class SourceInfo:
    file: str
    sheet: str
    table: str
    date: dt.date
    date_basis: str
    mapped: dict[str, str]
    ignored: list[str]
    code_columns: dict[int, str] = field(default_factory=dict)  # unknown columns that may hold customer codes
    hints: dict[str, str] = field(default_factory=dict)  # unplaced header → what its cells seem to be


@dataclass
class Gathered:
    """What reading a file gathers besides its data rows (ImportResult's reading part)."""
    outcomes: list[Outcome] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------
# One sheet → its data rows (sheets.py reads the structure)
@dataclass
class SourceRow:
    info: SourceInfo
    row: int               # Excel row (1-based)
    values: dict[str, Any]
    notes: list[str]       # fields refused, with why
    order: int             # file order, to keep a stable order among equal dates
    codes: dict[int, str] = field(default_factory=dict)  # code-shaped cells of unknown columns

    def __reduce__(self):
        # across the sandbox's pipe as its fields (a hundred thousand rows: 0.7 s less to pickle
        # and unpickle than as objects with their attribute dicts)
        return SourceRow, (self.info, self.row, self.values, self.notes, self.order, self.codes)


_YEAR = re.compile(r"(?<!\d)(19[89]\d|20\d{2})(?!\d)")


def _source_date(path: Path, title: str, dates: list[dt.date], sheet: str = "") -> tuple[dt.date, str]:
    """How recent a source sheet is (the newest source wins a disagreement): a year in the
    sheet's own name, else in its title, else in the file name — a workbook with one sheet
    per year is several sources, each dated by its sheet; then the records' latest date,
    then the file's time."""
    for where, text in (("工作表名", sheet), ("标题", title), ("文件名", path.stem)):
        years = [int(y) for y in _YEAR.findall(text or "")]
        if years:
            return dt.date(max(years), 12, 31), f"年份 {max(years)}（{where}）"
    if dates:
        return max(dates), "记录中最晚的日期"
    return dt.datetime.fromtimestamp(path.stat().st_mtime).date(), "文件修改时间"


def _due_from_term(values: dict[str, Any], notes: list[str]) -> None:
    """到期日 written as a payment term (账期90天 in the due-date column, or a 账期 column):
    到期日 = 开票日期 + 账期."""
    due_h, inv_h = R.header("due_date"), R.header("invoice_date")
    term = values.pop(TERM, None)
    due = values.get(due_h)
    if isinstance(due, tuple):
        term = due[1]
        del values[due_h]
    if term is not None and values.get(due_h) is None:
        if values.get(inv_h):
            values[due_h] = due_from_term(values[inv_h], term)
            notes.append(f"到期日按开票日期 + 账期 {term} 天计算")
        else:
            notes.append(f"到期日：账期 {term} 天，但没有开票日期，无法计算到期日")


def parse_grid(grid: SheetGrid, hm: HeaderMap, order: int, result: Gathered,
               rows: list[list[Any]] | None = None) -> list[SourceRow]:
    """A data sheet's data rows; every other row is reported as skipped with its kind."""
    label = TABLE_LABEL[hm.table]
    file, sheet = grid.file.name, grid.sheet
    classified = sheets.classify(grid, hm, rows)
    data = []
    for x in classified:
        if x.kind == sheets.NO_IDENTITY:  # data the user must fix: rejected (exit 1), not passed over
            result.outcomes.append(Outcome(file, sheet, x.row, REJECTED, label, None,
                                           x.reason + "：请在源文件中补上客户名称或编号后重新导入"
                                           + "".join(f"；{n}" for n in x.notes)))
            continue
        if x.kind != sheets.DATA:
            result.outcomes.append(Outcome(file, sheet, x.row, SKIPPED, label, None,
                                           x.kind + (f"：{x.reason}" if x.reason else "")))
            continue
        if hm.table == L.RECEIVABLES.name:
            _due_from_term(x.values, x.notes)
        data.append(x)
    if not data:
        result.outcomes.append(Outcome(file, sheet, None, SKIPPED, label, None, "表头之后没有数据行"))
    dates = [v for x in data for v in x.values.values() if isinstance(v, dt.date)]
    date, basis = _source_date(grid.file, title_text(grid, hm), dates, grid.sheet_name if grid.named else "")
    info = SourceInfo(file, sheet, hm.table, date, basis,
                      {hm.source_headers[c] + ("（按内容）" if c in hm.by_content else ""): t
                       for c, t in hm.columns.items()}, hm.ignored,
                      {c: hm.source_headers[c] for c in hm.code_columns},
                      {hm.source_headers[c]: h for c, h in hm.hints.items()})
    result.sources.append(info)
    return [SourceRow(info, x.row, x.values, x.notes, order, x.codes) for x in data]


def _skip_sheet(grid: SheetGrid, why: str, result: Gathered) -> None:
    """Every non-blank row of a sheet that is not imported, accounted for."""
    for r, cells in enumerate(grid.rows):
        if any(not cl.is_blank(v) for v in cells):
            result.outcomes.append(Outcome(grid.file.name, grid.sheet, r + 1 + grid.offset, SKIPPED, "", None, why))


@dataclass
class FileParse:
    """One source file read and classified (in the sandbox child): what parse_sources
    gathers from each file, in the files' order."""
    outcomes: list
    sources: list
    unreadable: list
    rows: dict[str, list["SourceRow"]]
    lines: list


PARSE_CHILD = ("import sys\n"
                "sys.path.insert(0, sys.argv[1])\n"
                "from kam_xl.importing.parsing import parse_child\n"
                "parse_child(sys.argv[2])\n")


def parse_child(path: str) -> None:
    """The sandbox child of one source file: read it and classify every row there (the
    parent meanwhile reads the master book); the payload is (its order, the mapping)."""
    def work(p: Path, payload) -> FileParse:
        grids = read_source(p)  # (a third-party reader: the collector stays on while it reads)
        gc.disable()  # the classifying makes no cycles: its 100,000 rows are not walked again and again
        return parse_file(p, grids, *payload)
    child_main(path, work)


def parse_file(path: Path, grids: list[SheetGrid], order: int, mapping=None) -> FileParse:
    """One file's sheets → its data rows per master table, every other row reported."""
    result = Gathered()
    rows_by_table: dict[str, list[SourceRow]] = defaultdict(list)
    lines: list = []
    found = []
    grids = [part for g in grids for part in (sheets.tables_on(g) if sheets.sheet_kind(g) is None else [g])]
    for grid in grids:
        mapped = mapping.names(path.name, grid.sheet) if mapping is not None else None
        kind = sheets.sheet_kind(grid) if mapped is None else None
        if kind is not None:
            found.append((grid, None, None, f"{kind}，未导入"))
            lines += sheet_lines(path.name, grid.sheet, None, f"{kind}，未导入")
            continue
        rows = sheets.filled(grid)
        hm = mapping.header_map(path.name, grid.sheet, rows, grid.offset) if mapped is not None else None
        if hm is None:
            hm = sheets.find_header(grid, rows)
            why = hm.by_content if hm is not None else None
        else:
            why = {c: f"映射文件 {mapping.path.name}" for c in hm.columns}
        found.append((grid, hm, rows, "没有可识别的表头（非数据工作表），未导入"))
        lines += sheet_lines(path.name, grid.sheet, hm, "", why, grid.offset) if hm is not None else \
            unread_sheet_lines(path.name, grid.sheet, rows, "未导入：没有可识别的表头，请在“字段”列填写", grid.offset)
    if not any(hm for _, hm, _, _ in found):
        kind = sheets.file_kind(grids)
        result.unreadable.append((path.name, f"这是{kind}，不是可导入的表格，未导入" if kind else
                                  "没有找到可识别的表头（如 客户名称、单位名称、年用量 等）"))
    else:
        for grid, hm, rows, why in found:
            if hm is None:
                _skip_sheet(grid, why, result)
            else:
                rows_by_table[hm.table].extend(parse_grid(grid, hm, order, result, rows))
    return FileParse(result.outcomes, result.sources, result.unreadable, dict(rows_by_table), lines)
