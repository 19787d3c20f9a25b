"""Building a new master workbook (.xlsm) from layout.py with xlsxwriter:
tables, drop-downs, number/date validation, formats, conditional formats,
frozen headers, the home sheet with buttons, the xlwings.conf sheet and the
VBA project (KamButtons.bas + xlwings.bas + generated UDF wrappers)."""
from __future__ import annotations

from dataclasses import dataclass

import datetime as dt
import io
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import xlsxwriter
import xlsxwriter.worksheet
from xlsxwriter.sharedstrings import SharedStrings, SharedStringTable
from xlsxwriter.utility import (_datetime_to_excel_datetime, _utf16_len, _utf16_truncate, xl_col_to_name,
                                xl_rowcol_to_cell)

from .. import layout as L
from ..domain.receivables import derive_credit
from ..domain.values import to_serial
from . import vba
from .formulas import structured
from .engine import fix_dimension, patch_table_ref
from .package import make_ref, parse_ref, read_package
from .rawzip import copy_with_replacements
from .reading import cached_for, coerce_record, read_settings
from .todo import SHEET as TODO_SHEET, add_todo_sheet

MAX_ROW = 1048575  # 0-based last row


def _structured(table: L.TableDef, col: L.Column, rules=None) -> str:
    return "=" + structured(table, col, rules)


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "微软雅黑", "font_size": 10, "valign": "vcenter"}
        self.wb = wb
        self.by_kind = {k: wb.add_format({**base, "num_format": f}) for k, f in L.FORMATS.items()}
        self.by_kind[L.ENUM] = wb.add_format(base)
        self.plain = wb.add_format(base)
        self.wrap = wb.add_format({**base, "text_wrap": True, "valign": "top"})
        self.title = wb.add_format({**base, "bold": True, "font_size": 18, "font_color": "#1F4E78"})
        self.label = wb.add_format({**base, "bold": True})
        self.asof = wb.add_format({**base, "bold": True, "num_format": "yyyy-mm-dd", "align": "left"})
        self.note = wb.add_format({**base, "font_color": "#404040"})
        self.status = wb.add_format({**base, "font_color": "#1F4E78", "italic": True})
        self.tier = {t: wb.add_format({"bg_color": c}) for t, c in L.TIER_COLOURS.items()}
        self.overdue = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.due_soon = wb.add_format({"font_color": "#9C5700", "bg_color": "#FFEB9C"})
        self.highlight = wb.add_format({"bg_color": L.HIGHLIGHT_COLOUR, "font_color": L.HIGHLIGHT_FONT,
                                        "border": 1, "border_color": "#C00000"})

    def for_col(self, col: L.Column):
        if col.key in ("description", "reason", "message") and col.width >= 50:
            return self.wrap
        return self.by_kind.get(col.kind, self.plain)


def _cell_value(col: L.Column, v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return v


# A table of this many rows or more has all but its first row written into its sheet by
# _streamed_sheet as the book is finished, not by xlsxwriter, which holds every cell of the
# book until it closes (a 100,000-customer book: 15 million cells, 5 GB).  The first row is
# xlsxwriter's and every streamed cell is written the way xlsxwriter writes that kind of cell
# (tests/unit/test_builder_stream.py builds books both ways and compares them).
STREAM_FROM = 2


@dataclass
class _Streamed:
    """A table whose rows after the first are written by _streamed_sheet."""
    table: L.TableDef
    rows: list[dict[str, Any]]
    cached: list[dict[str, Any]] | None
    first_row: int              # 0-based row of the header
    formats: list               # each column's xlsxwriter format
    placeholders: dict[int, str]  # column index → its shared formula's placeholder


def _add_table(wb, ws, fmts: _Formats, t: L.TableDef, rows: list[dict[str, Any]],
               cached: list[dict[str, Any]] | None = None, rules=None, shared: list | None = None,
               streams: list | None = None):
    """`shared` collects (sheet, placeholder, column letter, first row, last row, formula) of
    calculated columns written as one shared formula each (see _finish); `streams` the
    tables whose later rows _finish writes (STREAM_FROM)."""
    first_row = t.first_row - 1
    stream = (streams is not None and shared is not None and len(rows) >= STREAM_FROM
              and (bool(cached) or not any(c.formula for c in t.columns)))
    all_rows, rows = rows, rows[:1] if stream else rows
    last_row = first_row + max(len(rows), 1)
    last_col = t.first_col + len(t.columns) - 1
    columns = []
    for col in t.columns:
        spec: dict[str, Any] = {"header": col.header, "format": fmts.for_col(col)}
        if col.formula:
            spec["formula"] = _structured(t, col, rules)
        columns.append(spec)
    data = [[_cell_value(c, r.get(c.header)) for c in t.columns] for r in rows]
    for i, col in enumerate(t.columns):
        ws.set_column(t.first_col + i, t.first_col + i, col.width, fmts.for_col(col))
    opts: dict[str, Any] = {"name": t.name, "columns": columns, "style": t.style}
    if data:
        opts["data"] = data
    ws.add_table(first_row, t.first_col, last_row, last_col, opts)
    cached = cached if cached else [{}] if not rows else None  # an empty table's blank row shows ""
    placeholders: dict[int, str] = {}
    if cached:
        # formula cells carry Python-computed cached values, so readers that do
        # not calculate (calamine, viewers, Excel without Python) show them
        for i, col in enumerate(t.columns):
            if not col.formula:
                continue
            formula = _structured(t, col, rules)
            if len(cached) > 1 and shared is not None:
                placeholder = placeholders[i] = f"KAMSHARED{len(shared)}"
                shared.append((t.sheet, placeholder, xl_col_to_name(t.first_col + i), first_row + 2,
                               first_row + 1 + len(cached), formula[1:]))
                formula = "=" + placeholder
            for r, values in enumerate(cached[:len(rows) or 1]):
                ws.write_formula(first_row + 1 + r, t.first_col + i, formula, fmts.for_col(col),
                                 _cached_value(values.get(col.header), wb.date_1904))
    if stream:
        streams.append(_Streamed(t, all_rows, cached, first_row, [fmts.for_col(c) for c in t.columns],
                                 placeholders))
    _validation(ws, t, first_row + 1)
    return first_row, first_row + max(len(all_rows), 1)


def _cached_value(v: Any, date1904: bool) -> Any:
    """A formula cell's cached value as handed to xlsxwriter (blank: "")."""
    if v is None or v == "":
        return ""
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return to_serial(v, date1904)
    return v


def _validation(ws, t: L.TableDef, first_data_row: int):
    for i, col in enumerate(t.columns):
        c = t.first_col + i
        rng = (first_data_row, c, MAX_ROW, c)
        if col.formula:
            continue
        if col.kind == L.ENUM and col.choices:
            ws.data_validation(*rng, {
                "validate": "list", "source": list(col.choices),
                "error_type": "warning" if col.soft_choices else "stop",
                "error_title": "取值不在列表中",
                "error_message": f"“{col.header}”请从下拉列表选择：{'、'.join(col.choices)}",
                "input_title": col.header[:32], "input_message": "从下拉列表选择"})
        elif col.kind in (L.MONEY, L.NUMBER, L.PERCENT):
            lo = col.lo if col.lo is not None else (0 if col.kind == L.MONEY else -1e15)
            hi = col.hi if col.hi is not None else 1e15
            ws.data_validation(*rng, {
                "validate": "decimal", "criteria": "between", "minimum": lo, "maximum": hi,
                "error_title": "请输入数字",
                "error_message": f"“{col.header}”应为数字" + (
                    "，以小数或百分比录入(如 12.5%)" if col.kind == L.PERCENT else
                    f"，范围 {lo:g}–{hi:g}" if col.hi is not None else "，不能为负数")})
        elif col.kind == L.INT:  # the column's own range: a 1–5 score refuses 0 and 7
            lo = int(col.lo) if col.lo is not None else 0
            hi = int(col.hi) if col.hi is not None else 2_000_000_000
            ws.data_validation(*rng, {"validate": "integer", "criteria": "between", "minimum": lo, "maximum": hi,
                                      "error_title": "请输入整数",
                                      "error_message": f"“{col.header}”应为 {lo}–{hi} 的整数" if col.hi is not None
                                      else f"“{col.header}”应为不小于 {lo} 的整数"})
        elif col.kind == L.DATE:
            ws.data_validation(*rng, {
                "validate": "date", "criteria": "between",
                "minimum": dt.date(1990, 1, 1), "maximum": dt.date(2100, 12, 31),
                "error_title": "请输入日期", "error_message": f"“{col.header}”应为日期，如 2026-03-05"})


def _col_letter(t: L.TableDef, key: str) -> str:
    return xl_col_to_name(t.first_col + [c.key for c in t.columns].index(key))


ISSUE_NAMES = ("KAM_ISSUE_SHEET", "KAM_ISSUE_ROW", "KAM_ISSUE_COLUMN")


def _define_issue_names(wb) -> None:
    issue_sheet = f"'{L.SHEET_ISSUES}'"
    for name, key in zip(ISSUE_NAMES, ("sheet", "row", "column")):
        c = _col_letter(L.ISSUES, key)
        wb.define_name(name, f"={issue_sheet}!${c}:${c}")


def _conditional_formats(ws, fmts: _Formats, t: L.TableDef, first_data_row: int):
    # the findings' columns through defined names: a conditional format may not point at
    # another sheet itself (Excel writes such rules only in its x14 extension; MS-OI29500)
    sheet_col, row_col, col_col = ISSUE_NAMES
    first = xl_col_to_name(t.first_col)
    last = xl_col_to_name(t.first_col + len(t.columns) - 1)
    header_ref = f"{first}${t.first_row}"
    # Validation findings highlight their cells; the next run's findings replace them.
    ws.conditional_format(f"{first}{first_data_row + 1}:{last}{MAX_ROW + 1}", {
        "type": "formula",
        "criteria": f'=COUNTIFS({sheet_col},"{t.sheet}",{row_col},ROW(),{col_col},{header_ref})>0',
        "format": fmts.highlight})

    def rng(key: str) -> str:
        c = _col_letter(t, key)
        return f"{c}{first_data_row + 1}:{c}{MAX_ROW + 1}"

    if t is L.CUSTOMERS:
        for key in ("tier", "suggested_tier"):
            for tier, f in fmts.tier.items():
                ws.conditional_format(rng(key), {"type": "cell", "criteria": "==",
                                                 "value": f'"{tier}"', "format": f})
    if t is L.RECEIVABLES:
        c = _col_letter(t, "overdue_days")
        ws.conditional_format(rng("overdue_days"), {"type": "cell", "criteria": ">", "value": 0,
                                                    "format": fmts.overdue})
        for key in ("aging", "dunning_level"):
            ws.conditional_format(rng(key), {
                "type": "formula", "criteria": f'=AND(ISNUMBER(${c}{first_data_row + 1}),${c}{first_data_row + 1}>0)',
                "format": fmts.overdue})
    if t is L.COMPLAINTS:  # open complaints past their deadline
        d, s = _col_letter(t, "due"), _col_letter(t, "state")
        r = first_data_row + 1
        ws.conditional_format(rng("due"), {
            "type": "formula",
            "criteria": f'=AND(ISNUMBER(${d}{r}),${d}{r}<{L.ASOF_NAME},OR(${s}{r}="待处理",${s}{r}="处理中"))',
            "format": fmts.overdue})
    if t is L.SURVEYS:  # low scores
        ws.conditional_format(rng("score"), {"type": "cell", "criteria": "<", "value": 60, "format": fmts.overdue})
    if t is L.VISITS:
        p = _col_letter(t, "planned_date")
        s = _col_letter(t, "state")
        r = first_data_row + 1
        ws.conditional_format(rng("planned_date"), {
            "type": "formula",
            "criteria": f'=AND(ISNUMBER(${p}{r}),${p}{r}<KAM_ASOF,OR(${s}{r}="待审批",${s}{r}="已批准",${s}{r}="草稿"))',
            "format": fmts.due_soon})


PAGE_CHARS = 150  # column width (characters) a landscape A4 page holds at a readable scale


def _print_setup(ws, t: L.TableDef, width: float, key_columns: int) -> None:
    """Every sheet prints as people print it (PRODUCT.md §2): A4, landscape where the table is
    wide, the header row on every page, no gridlines, a footer with sheet name and page; a
    table too wide for one readable page spreads over pages across, its id and name columns
    repeated on each."""
    ws.set_paper(9)
    if width > 100:
        ws.set_landscape()
    wide = max(1, -(-int(width) // PAGE_CHARS))
    ws.fit_to_pages(wide, 0)
    ws.repeat_rows(t.first_row - 1)
    if wide > 1 and key_columns:
        ws.repeat_columns(t.first_col, t.first_col + key_columns - 1)
    ws.hide_gridlines(1)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_footer("&L&A&R第 &P 页，共 &N 页")


def _with_derived_credit(data: dict, settings, as_of: dt.date) -> dict:
    """A new book starts consistent: each customer's 推算信誉 from its receivables (as regrade
    would write it), so 建议等级's cached value is the formula's and the first regrade has
    nothing to rewrite."""
    customers, receivables = data.get(L.CUSTOMERS.name), data.get(L.RECEIVABLES.name)
    header = L.CUSTOMERS.header("derived_credit")
    if not customers or not receivables:
        return data
    by_customer: dict[str, list] = {}
    for i, row in enumerate(receivables):
        r, _ = coerce_record(L.RECEIVABLES, row, i)
        if r.customer_id:
            by_customer.setdefault(r.customer_id, []).append(r)
    rows = []
    for row in customers:
        cid = row.get(L.CUSTOMERS.header("id"))
        if row.get(header) is None and cid in by_customer:
            res = derive_credit(by_customer[cid], as_of, settings, row.get(L.CUSTOMERS.header("credit")))
            if res.derived:
                row = {**row, header: res.credit}
        rows.append(row)
    return {**data, L.CUSTOMERS.name: rows}


def _home(wb, ws, fmts: _Formats, asof_formula: str, asof_value: dt.date):
    ws.set_column(0, 0, 16)
    ws.set_column(1, 9, 14)
    ws.write("A1", L.APP_TITLE, fmts.title)
    ws.write(L.HOME_ASOF_LABEL_CELL, "基准日期", fmts.label)
    # cached value: what the formula gives today, for readers that do not calculate
    ws.write_formula(L.HOME_ASOF_CELL, asof_formula, fmts.asof, to_serial(asof_value, wb.date_1904))
    ws.write(L.HOME_STATUS_LABEL_CELL, "最近一次运行", fmts.label)
    ws.write(L.HOME_STATUS_CELL, "尚未运行", fmts.status)
    for b in L.BUTTONS:
        ws.insert_button(b.cell, {"macro": b.macro, "caption": b.caption, "width": 128, "height": 36,
                                  "description": b.help})
    row = max(int(re.sub(r"[A-Z]+", "", b.cell)) for b in L.BUTTONS) + 2
    for b in L.BUTTONS:
        ws.write(row, 0, b.caption, fmts.label)
        ws.write(row, 1, b.help, fmts.note)
        row += 1
    row += 1
    for line in L.HOME_INSTRUCTIONS:
        ws.write(row, 0, line, fmts.label if line.endswith("：") else fmts.note)
        row += 1
    ws.hide_gridlines(2)
    ws.activate()


@dataclass(frozen=True)
class TeamBook:
    """A person's book of team mode (PRODUCT.md §11): who it is for, which master and round
    it came from (kept as document properties, which Excel, WPS and LibreOffice keep on
    save), and the cached values of its 我的待办 sheet."""
    master_id: str
    person: str
    round: int
    sent_on: dt.date
    todo_rows: tuple = ()


TEAM_PROPERTIES = ("kam_master_id", "kam_person", "kam_round", "kam_sent")


class _Sheet(xlsxwriter.worksheet.Worksheet):
    """xlsxwriter's worksheet, remembering how it prepared each formula text: a table's
    calculated column writes the same structured formula on every row, and xlsxwriter runs
    some thirty regular expressions over each one (most of a big book's build time)."""
    _PREPARED: dict[tuple, str] = {}

    def _prepare_formula(self, formula, expand_future_functions=False):
        key = (formula, expand_future_functions, self.use_future_functions)
        hit = self._PREPARED.get(key)
        if hit is None:
            if len(self._PREPARED) > 4096:  # per-row formulas (A1 references) do not repeat
                self._PREPARED.clear()
            hit = self._PREPARED[key] = super()._prepare_formula(formula, expand_future_functions)
        return hit


def build_master(path: str | Path, data: dict[str, list[dict[str, Any]]] | None = None,
                 settings: dict[str, Any] | None = None, with_vba: bool = True,
                 date1904: bool = False, team: TeamBook | None = None) -> Path:
    """Write a new master workbook.  `data` maps table name → rows ({header: value}).

    Every formula cell carries its cached value, computed by the same domain functions
    the actions use, so readers that do not calculate (calamine, viewers) and Excel,
    which is not made to recalculate on open, show the right values."""
    path = Path(path)
    data = data or {}
    wb = xlsxwriter.Workbook(str(path), {"date_1904": date1904, "strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    fmts = _Formats(wb)
    if with_vba and path.suffix.lower() == ".xlsm":
        wb.add_vba_project(io.BytesIO(vba.vba_project_bin()), is_stream=True)
        wb.set_vba_name("ThisWorkbook")
    sheets = {}
    todo_ws = None
    for name in L.SHEET_ORDER:
        sheets[name] = wb.add_worksheet(name, worksheet_class=_Sheet)
        if team is not None and name == L.SHEET_HOME:
            todo_ws = wb.add_worksheet(TODO_SHEET, worksheet_class=_Sheet)
    if with_vba and path.suffix.lower() == ".xlsm":
        for i, ws in enumerate(sheets.values()):
            ws.set_vba_name(f"Sheet{i + 1}")
        if todo_ws is not None:
            todo_ws.set_vba_name(f"Sheet{len(sheets) + 1}")

    # Settings and tier rules first: the home sheet's as-of cell refers to them.
    rules_ws = sheets[L.SHEET_RULES]
    rule_rows = data.get(L.TIER_RULES.name) or [
        dict(zip(L.TIER_RULES.headers, r)) for r in L.DEFAULT_TIER_RULES]
    _add_table(wb, rules_ws, fmts, L.TIER_RULES, rule_rows)
    _trial_block(rules_ws, fmts)
    settings = settings or {}
    setting_rows = [{"参数": s.key, "值": settings.get(s.key, s.default), "说明": s.description}
                    for s in L.SETTING_DEFS]
    _add_table(wb, rules_ws, fmts, L.SETTINGS, setting_rows)
    rules_ws.freeze_panes(1, 0)
    asof_cell = xl_rowcol_to_cell(L.SETTINGS.first_row, L.SETTINGS.first_col + 1,
                                  row_abs=True, col_abs=True)
    asof_ref = f"'{L.SHEET_RULES}'!{asof_cell}"
    # the as-of value of the Settings table is a date; give that cell a date format
    rules_ws.write(L.SETTINGS.first_row, L.SETTINGS.first_col + 1,
                   _cell_value(None, settings.get("基准日期")) if settings.get("基准日期") else None,
                   fmts.by_kind[L.DATE])
    asof_value = settings.get("基准日期") or dt.date.today()
    if isinstance(asof_value, dt.datetime):
        asof_value = asof_value.date()
    rules = [coerce_record(L.TIER_RULES, r, i)[0] for i, r in enumerate(rule_rows)]
    shared: list = []
    streams: list[_Streamed] = []
    setting_values, _ = read_settings(setting_rows)
    data = _with_derived_credit(data, setting_values, asof_value)
    cached = cached_for(data, rules, setting_values, asof_value)
    _home(wb, sheets[L.SHEET_HOME], fmts, f'=IF({asof_ref}="",TODAY(),{asof_ref})', asof_value)
    home_asof = re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", L.HOME_ASOF_CELL)
    wb.define_name(L.ASOF_NAME, f"='{L.SHEET_HOME}'!{home_asof}")
    _define_issue_names(wb)

    for t in (*L.DATA_TABLES, *L.PROCEDURE_TABLES, L.GRADE_LOG, L.ISSUES, L.IMPORT_LOG):
        ws = sheets[t.sheet]
        first, _ = _add_table(wb, ws, fmts, t, data.get(t.name, []), cached.get(t.name), rules, shared, streams)
        ws.freeze_panes(t.first_row, 2 if t in L.DATA_TABLES + L.PROCEDURE_TABLES else 0)
        if t in L.DATA_TABLES + L.PROCEDURE_TABLES:
            _conditional_formats(ws, fmts, t, first + 1)
        _print_setup(ws, t, sum(c.width for c in t.columns), 2 if t in L.DATA_TABLES + L.PROCEDURE_TABLES else 0)
    _print_setup(rules_ws, L.TIER_RULES, sum(c.width for c in L.TIER_RULES.columns) + 40, 0)
    home = sheets[L.SHEET_HOME]
    home.set_paper(9)
    home.set_portrait()
    home.fit_to_pages(1, 1)
    home.set_footer("&L&A&R第 &P 页，共 &N 页")

    conf = sheets[L.SHEET_XLWINGS_CONF]
    for i, (k, v) in enumerate(L.XLWINGS_CONF):
        conf.write_string(i, 0, k)
        conf.write_string(i, 1, v)
    conf.set_column(0, 0, 18)
    conf.set_column(1, 1, 30)
    conf.hide()  # xlwings reads it hidden too; a user has nothing to do there
    if team is not None:
        add_todo_sheet(wb, todo_ws, fmts, list(team.todo_rows), team.person, team.round, team.sent_on)
        rules_ws.protect()  # the rules and Settings are the manager's: read-only here (no password)
        for prop, value in zip(TEAM_PROPERTIES, (team.master_id, team.person, str(team.round),
                                                 team.sent_on.isoformat())):
            wb.set_custom_property(prop, value)
    wb.set_properties({"title": L.APP_TITLE if team is None else f"{L.APP_TITLE}（{team.person}）",
                       "comments": "kam_xl master workbook" if team is None else "kam_xl personal workbook"})
    wb.close()
    _finish(path, shared, streams, wb)
    return path


def _finish(path: Path, shared: list, streams: list[_Streamed] = (), wb=None) -> None:
    """Three things xlsxwriter cannot write:
    - no recalculation on open: it asks for a full one every time (fullCalcOnLoad) with an old
      calcId (which makes Excel recalculate too); the cached values are right, so the book says
      it was last calculated by a current Excel;
    - each calculated column as one shared formula, the way Excel stores a table column (the
      master cell holds the text, every other cell points at it): a 3,000-character tier
      formula is not repeated in 100,000 cells;
    - a big table's rows without holding them all as cells (STREAM_FROM): they are written
      into the sheet as the book is copied, their texts added to the shared strings."""
    import zipfile
    replaced: dict[str, Any] = {}
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/workbook.xml")
        replaced["xl/workbook.xml"] = re.sub(rb"<calcPr\b[^>]*/>", f'<calcPr calcId="{CALC_ID}"/>'.encode(), xml)
        pkg = read_package(z)
        sheets = pkg.sheets
        by_part: dict[str, list] = {}
        for item in shared:
            by_part.setdefault(sheets[item[0]], []).append(item)
        si_of: dict[str, int] = {}
        for part, items in by_part.items():
            data = z.read(part)
            for si, (_, placeholder, col, first, last, text) in enumerate(items):
                si_of[placeholder] = si
                tag = f"<f>{placeholder}</f>".encode()
                master = f'<f t="shared" ref="{col}{first}:{col}{last}" si="{si}">{escape(text)}</f>'.encode()
                i = data.find(tag)
                data = data[:i] + master + data[i + len(tag):].replace(tag, f'<f t="shared" si="{si}"/>'.encode())
            replaced[part] = data
        if streams:
            strings = _string_table(wb, streams)
            for st in streams:
                part = sheets[st.table.sheet]
                sheet_xml = replaced[part] if part in replaced else z.read(part)
                replaced[part] = _streamed_sheet(sheet_xml, st, si_of, strings, wb.date_1904)
                tp = pkg.tables[st.table.name]
                c1, r1, c2, _ = parse_ref(tp.ref)
                replaced[tp.part] = patch_table_ref(z.read(tp.part), make_ref(c1, r1, c2, r1 + len(st.rows)))
            replaced["xl/sharedStrings.xml"] = _shared_strings_xml(strings)
    tmp = path.with_name(path.name + ".fin")
    copy_with_replacements(str(path), str(tmp), replaced, fsync=False)
    tmp.replace(path)


def _string_table(wb, streams: list[_Streamed]) -> SharedStringTable:
    """xlsxwriter's shared strings with the streamed rows' texts added (and counted), so
    the sheets written later only look them up."""
    table = wb.str_table
    table.string_table = {s: i for i, s in enumerate(table.string_array)}
    add = table._get_shared_string_index
    for st in streams:
        headers = [c.header for i, c in enumerate(st.table.columns) if i not in st.placeholders]
        for row in st.rows[1:]:
            for h in headers:
                v = row.get(h)
                if type(v) is str and v:
                    add(_fit(v))
    return table


def _fit(text: str) -> str:
    """A text as xlsxwriter stores it: cut at Excel's 32,767 characters."""
    return _utf16_truncate(text, MAX_TEXT) if len(text) > MAX_TEXT // 2 and _utf16_len(text) > MAX_TEXT else text


MAX_TEXT = 32767


def _shared_strings_xml(table: SharedStringTable) -> bytes:
    class _Kept(io.StringIO):
        def close(self) -> None:  # xlsxwriter closes its file when done; keep the text
            pass
    table._sort_string_data()
    out = _Kept()
    sst = SharedStrings()
    sst._set_filehandle(out)
    sst.string_table = table
    sst._assemble_xml_file()
    return out.getvalue().encode()


_ERROR_CODES = frozenset(("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"))
STREAM_BATCH = 2000  # rows joined into one piece of the sheet


def _streamed_sheet(sheet_xml: bytes, st: _Streamed, si_of: dict[str, int], strings: SharedStringTable,
                    date1904: bool):
    """The sheet's XML in pieces: as xlsxwriter wrote it (the header row and the first data
    row), with the table's other rows after the first, as xlsxwriter would have written them."""
    end = sheet_xml.rfind(b"</sheetData>")
    last = re.findall(rb'<row r="(\d+)"', sheet_xml[:end])
    if end < 0 or not last or int(last[-1]) != st.first_row + 2:
        raise RuntimeError(f"{st.table.sheet}: the table's first row is not the sheet's last")
    t = st.table
    last_row = st.first_row + 1 + len(st.rows)
    head = fix_dimension(sheet_xml[:end], last_row, t.first_col + len(t.columns) - 1)
    index = strings.string_table
    cols = []
    for i, (col, fmt) in enumerate(zip(t.columns, st.formats)):
        style = f' s="{fmt._get_xf_index()}"' if fmt is not None else ""
        cols.append((col.header, xl_col_to_name(t.first_col + i), style,
                     si_of[st.placeholders[i]] if i in st.placeholders else None))
    spans = f' spans="{t.first_col + 1}:{t.first_col + len(t.columns)}"'

    def cell(ref: str, style: str, v: Any) -> str:
        kind = type(v)
        if kind is str:
            return f'<c r="{ref}"{style} t="s"><v>{index[_fit(v)]}</v></c>' if v else f'<c r="{ref}"{style}/>'
        if v is None:
            return f'<c r="{ref}"{style}/>'
        if kind is bool:
            return f'<c r="{ref}"{style} t="b"><v>{int(v)}</v></c>'
        if kind in (int, float) or isinstance(v, (int, float, Decimal, Fraction)):
            if math.isnan(v) or math.isinf(v):
                raise TypeError("NAN/INF not supported in write_number()")
            return f'<c r="{ref}"{style}><v>{v:.16G}</v></c>'
        if isinstance(v, (dt.date, dt.time, dt.timedelta)):
            return f'<c r="{ref}"{style}><v>{_datetime_to_excel_datetime(v, date1904, False):.16G}</v></c>'
        try:  # what else xlsxwriter takes: anything float() takes (a numpy integer)
            return cell(ref, style, float(v))
        except (TypeError, ValueError):
            raise TypeError(f"Unsupported type {type(v)} in write()") from None

    def formula(ref: str, style: str, si: int, v: Any) -> str:
        v = _cached_value(v, date1904)
        t_attr = ""
        if isinstance(v, bool):
            t_attr, v = ' t="b"', int(v)
        elif isinstance(v, str) and v:
            t_attr = ' t="e"' if v in _ERROR_CODES else ' t="str"'
            v = escape(v)  # as xlsxwriter escapes a formula's cached text
        return f'<c r="{ref}"{style}{t_attr}><f t="shared" si="{si}"/><v>{v}</v></c>'

    def pieces():
        yield head
        for start in range(1, len(st.rows), STREAM_BATCH):
            out = []
            for k in range(start, min(start + STREAM_BATCH, len(st.rows))):
                r = st.first_row + 2 + k
                row = st.rows[k]
                values = st.cached[k] if st.cached else None
                out.append(f'<row r="{r}"{spans}>')
                for header, letter, style, si in cols:
                    ref = f"{letter}{r}"
                    out.append(formula(ref, style, si, values.get(header)) if si is not None
                               else cell(ref, style, _cell_value(None, row.get(header))))
                out.append("</row>")
            yield "".join(out).encode()
        yield sheet_xml[end:]
    return pieces()


CALC_ID = 191029  # Excel 2019 / Microsoft 365's calculation engine


def _trial_block(ws, fmts: _Formats) -> None:
    """分级试算: a manager types the four inputs and sees the tier and its reason live
    (Python cell functions: the only cells of the book that need Python)."""
    c = L.TRIAL_COL
    ws.set_column(c, c, 14)
    ws.set_column(c + 1, c + 1, 60)
    ws.write(0, c, L.TRIAL_TITLE, fmts.label)
    ws.write(1, c, L.TRIAL_NOTE, fmts.note)
    for i, (label, example) in enumerate(L.TRIAL_INPUTS):
        ws.write(2 + i, c, label, fmts.label)
        ws.write(2 + i, c + 1, example, fmts.plain)
    ins = [xl_rowcol_to_cell(2 + i, c + 1) for i in range(len(L.TRIAL_INPUTS))]
    ws.write(2 + len(ins), c, "等级", fmts.label)
    ws.write_formula(2 + len(ins), c + 1, f"=KAM_TIER({','.join(ins)})", fmts.plain, "")
    ws.write(3 + len(ins), c, "依据", fmts.label)
    ws.write_formula(3 + len(ins), c + 1, f"=KAM_TIER_WHY({','.join(ins)})", fmts.wrap, "")
