"""Reading a legacy sheet by its structure (PRODUCT.md §7), not by a list of words.

A sheet is first judged as a whole: a hidden sheet (a helper: lists behind drop-downs)
and an instruction sheet (填表说明, 示例, 模板) are skipped.  On a data sheet:

- the header is the row (or pair of rows) of short distinct texts most of which map to
  known fields, followed by rows whose cells type-check against those fields;
- values merged down over a group of rows apply to each of them;
- every row after the header is classified: a data row type-checks as a record of the
  sheet's table (an identity — a plausible name or an id — and cells that read as their
  fields); the others are blank, a repeated header (equal to the header after
  normalising), a total (合计/小计… or a row of sums of the rows above), an example
  (placeholder names such as XX公司), or not data — after the last data row, a footer,
  whatever its words.  Rows above the header are the title block.

Only data rows go on to be merged; every other row is reported as skipped, with its kind.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import layout as L
from . import cleaning as cl
from .headers import (TARGETS, HeaderMap, candidate, header_shape, header_shapes, lookup, norm_header, score, shape,
                      synonyms)
from ..domain.values import NOTHING
from ..workbook import parallel
from ..workbook.package import col_letter
from .readers import SheetGrid, UncachedFormula

C, V, R = L.CUSTOMERS, L.VISITS, L.RECEIVABLES
CUST_ID, CUST_NAME = C.header("id"), C.header("name")
REF_ID = V.header("customer_id")
LINK_NAME = CUST_NAME   # visits/receivables: the customer's name, used for linking only
TERM = "账期(天)"        # receivables: a payment term, for 到期日 = 开票日期 + 账期

DATA = "数据行"
BLANK, TITLE, REPEATED_HEADER, TOTAL = "空行", "标题/说明行", "重复表头", "合计行"
FOOTER, EXAMPLE, NOT_DATA = "表尾", "示例行", "非数据行"
NO_IDENTITY = "缺少身份"  # a row with data but no usable name or code: rejected (exit 1), never skipped
INSTRUCTION_SHEET, HIDDEN_SHEET = "说明/示例工作表", "隐藏工作表"

SCAN_ROWS = 40   # how far down a header is looked for
LOOK_AHEAD = 15  # rows after a candidate header that are type-checked

_INSTRUCTION_NAME = re.compile(r"说明|示例|样例|模板|范例|填表|帮助|instruction|readme|example|template", re.I)
_INSTRUCTION_TEXT = re.compile(r"^(填表|填写|使用|导入)?说明|^示例|^样例")
_TOTAL_WORDS = ("合计", "小计", "总计", "累计", "共计", "总合计", "本页合计", "总额")
_TOTAL_TEXT = re.compile("^(" + "|".join(_TOTAL_WORDS) + ")")
_TOTAL_FIRST = frozenset(w[0] for w in _TOTAL_WORDS)
_LABEL = re.compile(r"^[\u4e00-\u9fffA-Za-z]{1,8}[:：]")        # 导出人：张三 · 打印时间：…
_PLACEHOLDER = re.compile(r"[XＸ×x]{2,}|某某|示例|样例|范例|例如|^例[:：]|\.\.\.|…")
_PENDING = re.compile(r"^(待补充|待补|待定|待填|待查|暂无|暂缺|未知|不详|无名称|TBD|TBC|N/?A|未命名)$", re.I)
_LETTER = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_ID = re.compile(r"[A-Za-z]{0,6}[-_/.]?\d[\dA-Za-z\-_/.]{0,24}")  # KH000012 · 00131 · C-001 · 2019/017
_CODE = re.compile(r"[A-Za-z]{1,4}[-_]?\d{1,12}|0\d{2,11}")  # what an archive's customer code looks like


@dataclass
class SheetRow:
    """One source row after the header, classified."""
    row: int                   # Excel row (1-based)
    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)   # fields refused, with why
    reason: str = ""           # why a row that is not data is not
    no_identity: bool = False  # it holds data (two values or more read) but nothing says whose
    codes: dict[int, str] = field(default_factory=dict)  # code-shaped cells of unknown columns

    def __reduce__(self):
        # from the second process reading a long sheet's second half as its fields (not as objects
        # with their attribute dicts: half the time to pickle and unpickle)
        return SheetRow, (self.row, self.kind, self.values, self.notes, self.reason, self.no_identity, self.codes)


# -- the sheet as a whole ----------------------------------------------------------
def sheet_kind(grid: SheetGrid) -> str | None:
    """HIDDEN_SHEET, INSTRUCTION_SHEET, or None for a sheet that may hold data."""
    if grid.hidden:
        return HIDDEN_SHEET
    if grid.named and _INSTRUCTION_NAME.search(grid.sheet):  # a CSV's "sheet" is its file name
        return INSTRUCTION_SHEET
    for r in grid.rows[:3]:
        first = next((v for v in r if not cl.is_blank(v)), None)
        if isinstance(first, str) and _INSTRUCTION_TEXT.match(cl.nfkc(first).replace(" ", "")):
            return INSTRUCTION_SHEET
    return None


def filled(grid: SheetGrid) -> list[list[Any]]:
    """The sheet's rows with every merged range's value in each of its cells (a 业务员
    merged over five customers belongs to each of the five)."""
    rows = [list(r) for r in grid.rows]
    for r1, c1, r2, c2 in grid.merged:
        if r1 >= len(rows):
            continue
        src = rows[r1]
        v = src[c1] if c1 < len(src) else None
        if v is None:
            continue
        for r in range(r1, min(r2, len(rows) - 1) + 1):
            row = rows[r]
            if len(row) <= c2:
                row.extend([None] * (c2 + 1 - len(row)))
            for c in range(c1, c2 + 1):
                if row[c] is None:
                    row[c] = v
    return rows


# -- the cleaners: a source cell → the target field's value --------------------------
def cleaner(table: L.TableDef, header: str) -> Callable[[Any, float], Any]:
    values = synonyms()["values"]
    col = table.by_header().get(header)
    if header == LINK_NAME and table is not C:
        return lambda v, m: cl.parse_company(v)
    if header == TERM:
        return lambda v, m: parse_term(v)
    if header == C.header("name"):
        return lambda v, m: cl.parse_company(v)
    if header == C.header("phone"):
        return lambda v, m: cl.parse_phone(v)
    if header in (C.header("agreement_no"), REF_ID) or (col is not None and col.key == "id"):
        return lambda v, m: cl.parse_id(v)
    if table is R and header == R.header("due_date"):
        return lambda v, m: parse_due(v)
    if col.kind == L.MONEY:
        def money(v, m):
            x = cl.parse_amount(v, m)
            if x is not None and x < 0:
                raise ValueError(f"金额“{v}”为负数")
            return x
        return money
    if col.kind == L.PERCENT:
        return lambda v, m: cl.parse_percent(v)
    if col.kind in (L.DATE, L.DATETIME):
        return lambda v, m: _date(v)
    if col.kind == L.ENUM:  # a synonym counts only where it names one of this column's choices
        mapping = {k: t for k, t in values.get(header, {}).items() if t in col.choices}
        return lambda v, m: cl.parse_enum(v, mapping, col.choices)
    if col.kind in (L.NUMBER, L.INT):
        def num(v, m):
            x = cl.parse_amount(v)
            if x is not None and col.hi is not None and not (col.lo or 0) <= x <= col.hi:
                raise ValueError(f"“{v}”超出范围 {col.lo:g}–{col.hi:g}")
            return x
        return num
    return lambda v, m: cl.parse_text(v)


def _date(v: Any) -> dt.date | None:
    if cl.is_blank(v):
        return None
    d = cl.parse_legacy_date(v)
    if d is None:
        raise ValueError(f"日期“{v}”无法识别")
    return d


_TERM = re.compile(r"^(?:账期|付款期|信用期|期限)?[:：]?(?:月结)?(\d{1,3})(?:天|日)(?:内)?$")


def parse_term(v: Any) -> int | None:
    """A payment term: 90 · 90天 · 账期90天 · 月结30天 → days."""
    if cl.is_blank(v):
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() and 0 <= v <= 720:
        return int(v)
    m = _TERM.match(cl.nfkc(v).replace(" ", ""))
    if not m:
        raise ValueError(f"账期“{v}”无法识别")
    return int(m[1])


def parse_due(v: Any) -> Any:
    """到期日: a date, or a payment term written where the date belongs (账期90天, 30天) —
    returned as ("term", days) for the row to turn into 开票日期 + 账期."""
    if cl.is_blank(v):
        return None
    try:
        return _date(v)
    except ValueError:
        try:
            return ("term", parse_term(v))
        except ValueError:
            raise ValueError(f"到期日“{v}”既不是日期也不是账期") from None


# -- one row --------------------------------------------------------------------------
def _name_problem(raw: Any, text: str | None) -> tuple[str, str] | None:
    """(kind, reason) when a name cell cannot be a customer's name."""
    if isinstance(raw, (int, float, dt.date)) and not isinstance(raw, bool):
        return NOT_DATA, f"名称“{raw}”是数字或日期"
    if not text:
        return None
    t = cl.nfkc(text).replace(" ", "")
    if _PLACEHOLDER.search(t):
        return EXAMPLE, f"“{text}”是示例/占位名称"
    if _LABEL.match(t) or len(t) < 2 or not _LETTER.search(t):
        return NOT_DATA, f"“{text}”不像客户名称"
    if header_shape(t) in header_shapes():  # (most names are longer than any header: not converted)
        key = norm_header(t)
        if any(key in lookup(table) for table in TARGETS):
            return REPEATED_HEADER, f"“{text}”是表头文字"
    return None


TYPED_KINDS = (L.MONEY, L.PERCENT, L.DATE, L.DATETIME, L.ENUM, L.NUMBER, L.INT)


_READERS: dict[int, tuple] = {}


def _reader(table: L.TableDef, hm: HeaderMap) -> tuple[list[tuple[int, str, Callable, float, bool, dict]], int | None]:
    """Per mapped column (source column, field, its cleaner, the header's unit, typed?, the texts of
    the column cleaned so far), and the source column of the customer's name or None — made once
    per header, not per cell."""
    key = id(hm)
    hit = _READERS.get(key)
    if hit is not None and hit[0] is hm:
        return hit[1]
    by_header = table.by_header()
    out = []
    for c, header in hm.columns.items():
        col = by_header.get(header)
        typed = header in (TERM, C.header("phone")) or (col is not None and col.kind in TYPED_KINDS)
        out.append((c, header, cleaner(table, header), hm.multipliers.get(c, 1.0), typed, {}))
    name_header = CUST_NAME if table is C else LINK_NAME
    got = out, next((c for c, h in hm.columns.items() if h == name_header), None)
    if len(_READERS) > 64:
        _READERS.clear()
    _READERS[key] = (hm, got)
    return got


# a column's texts cleaned once each (a 业务员, 地区 or 回款情况 column repeats a few hundred texts
# down 100,000 rows; the cleaners depend on the text and the header alone): kept up to this many
_CLEANED_KEPT = 4096


EXCEL_CELL_MAX = 32767


# a code (letters and digits, or four digits and more) before a name, with or without a
# separator (a Chinese name's spaces are gone by now): C0103 无锡…, C0103无锡…, 00131/无锡…
_CODE_AND_NAME = re.compile(r"^((?:[A-Za-z]{1,6}[-_]?\d{2,}|\d{4,})[\dA-Za-z\-_]*?)[\s:：、,，/]*([\u4e00-\u9fff].*)$")
_PHONE_IN_TEXT = re.compile(r"(\+?86[-\s]?)?(1[3-9]\d{9}|0\d{2,3}[-\s]?\d{7,8}(?:[-转]\d{1,5})?)")


def _split_fields(table: L.TableDef, values: dict[str, Any], notes: list[str]) -> None:
    """Two fields in one cell, as archives write them: a code and a name ("C0103 无锡华光电器"
    in the name column, with no code column filled) and a contact with a phone ("王经理
    13812345678" in 联系人, with no phone filled)."""
    name_header = CUST_NAME if table is C else LINK_NAME
    id_header = CUST_ID if table is C else REF_ID
    name = values.get(name_header)
    if isinstance(name, str) and not values.get(id_header):
        m = _CODE_AND_NAME.match(name)
        if m and _LETTER.search(m[2]) and _CJK_OR_WORD.search(m[2]):
            values[id_header], values[name_header] = m[1].upper(), m[2].strip()
            notes.append(f"{name_header}“{name}”中的编号 {m[1]} 已单独作为{id_header}")
    if table is C:
        _split_contacts(values, notes)


_CONTACT_SEP = re.compile(r"[;；\n]+|[,，、/](?=\s*[\u4e00-\u9fffA-Za-z])")


_PERSON = re.compile(r"[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z·.\s]{0,11}")


def _one_contact(text: str) -> tuple[str, str | None]:
    """"王经理 13812345678" → ("王经理", "13812345678"); a phone that does not read stays text."""
    m = _PHONE_IN_TEXT.search(text)
    if not m:
        return text.strip(" ,，、:：()（）"), None
    try:
        phone = cl.parse_phone(m[0])
    except ValueError:
        return text.strip(), None
    return (text[: m.start()] + text[m.end():]).strip(" ,，、:：/;；()（）"), phone


def _split_contacts(values: dict[str, Any], notes: list[str]) -> None:
    """联系人 holding a phone (王经理 13812345678), or several contacts (张三 138…；李四 139…):
    the first is the customer's 联系人 and 联系电话, the others are kept in 备注 — never lost."""
    contact_h, phone_h, note_h = C.header("contact"), C.header("phone"), C.header("note")
    contact = values.get(contact_h)
    if not isinstance(contact, str):
        return
    parts = [p.strip() for p in _CONTACT_SEP.split(contact) if p and p.strip()]
    people = [_one_contact(p) for p in parts]
    if len(people) > 1 and not all(_PERSON.fullmatch(name) for name, _ in people):
        people = [_one_contact(contact)]  # one text with a separator inside, not a list of people
    first, phone = people[0] if people else ("", None)
    if len(people) == 1 and phone is None:
        return
    if phone is not None and not values.get(phone_h):
        values[phone_h] = phone
    elif phone is not None and values.get(phone_h) != phone:
        first = f"{first} {phone}".strip()  # a second phone stays with its person
    if first:
        values[contact_h] = first
    else:
        values.pop(contact_h)
    others = [f"{n} {p or ''}".strip() for n, p in people[1:]]
    if others:
        extra = "其他联系人：" + "；".join(others)
        values[note_h] = f"{values[note_h]}；{extra}" if values.get(note_h) else extra
        notes.append(f"联系人“{contact}”有 {len(people)} 位：第一位作为联系人，其余记入{note_h}")
    elif phone is not None:
        notes.append(f"联系人“{contact}”中的电话已单独作为{phone_h}")


_CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]{2,}|[A-Za-z]{3,}")
_UNSEEN = object()


def read_row(table: L.TableDef, hm: HeaderMap, cells: list[Any], excel_row: int) -> SheetRow:
    """Clean a row's cells and say whether it type-checks as a record of the table."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    destroyed: list[str] = []
    typed = failed = 0
    width = len(cells)
    columns, name_col = _reader(table, hm)
    for c, header, clean, unit, is_typed, cleaned in columns:
        raw = cells[c] if c < width else None
        if raw is None:
            continue
        if type(raw) is str:
            v = cleaned.get(raw, _UNSEEN)
            if v is not _UNSEEN:  # a text this column held before, cleaned then
                typed += is_typed
                if v is not None:
                    values[header] = v
                continue
        if cl.is_blank(raw):
            continue
        if type(raw) is UncachedFormula:  # its value is unknown: refused, never blank, never a key
            notes.append(f"{header}：公式“{raw}”没有保存计算结果（文件由不计算公式的程序生成），未导入该值"
                         f"（请在 Excel 或 WPS 中打开该文件、保存后重新导入）")
            destroyed.append(header)
            continue
        typed += is_typed
        try:
            v = clean(raw, unit)
        except cl.DestroyedValue as e:  # refused, and never used to match or merge
            notes.append(f"{header}：{e}，未导入该值（请把源文件中该列设为文本后重新导出）")
            destroyed.append(header)
            continue
        except (ValueError, OverflowError) as e:
            notes.append(f"{header}：{e}，未导入该值")
            failed += is_typed
            continue
        if isinstance(v, str) and len(v) > EXCEL_CELL_MAX:  # Excel would cut it: never store half a value
            notes.append(f"{header}：内容长 {len(v)} 字，超过 Excel 单元格上限 {EXCEL_CELL_MAX} 字，未导入该值"
                         f"（请在源文件中缩短或拆分）")
            continue
        if type(raw) is str and len(cleaned) < _CLEANED_KEPT:
            cleaned[raw] = v
        if v is not None:
            values[header] = v
    _split_fields(table, values, notes)
    row = SheetRow(excel_row, DATA, values, notes)
    name_header = CUST_NAME if table is C else LINK_NAME
    raw_name = cells[name_col] if name_col is not None and name_col < width else None
    id_header = CUST_ID if table is C else REF_ID
    pending = values.get(name_header) and _PENDING.match(cl.nfkc(values[name_header]).replace(" ", ""))
    if pending:  # 待补充: a placeholder, never a customer's name nor a key to match on
        notes.append(f"{name_header}：“{values.pop(name_header)}”是占位文字，不是名称，未导入该值")
    bad = _name_problem(raw_name, values.get(name_header)) if not pending else None
    if bad:
        row.kind, row.reason = bad
        values.pop(name_header, None)
        return row
    if values.get(id_header) is not None and _ID.fullmatch(values[id_header]) is None:
        row.kind, row.reason = NOT_DATA, f"“{values[id_header]}”不像客户编号"
        values.pop(id_header)
    if hm.code_columns and not (values.get(name_header) or values.get(id_header)):
        for c in hm.code_columns:
            v = cells[c] if c < width else None
            if not cl.is_blank(v) and type(v) is not UncachedFormula:
                try:
                    code = cl.parse_id(v)
                except ValueError:
                    continue
                if code and _CODE.fullmatch(code):
                    row.codes[c] = code
    if not (values.get(name_header) or values.get(id_header) or row.codes):
        if row.kind == DATA:
            why = ("编号是没有计算结果的公式" if id_header in destroyed and type(
                       cells[next((c for c, h in hm.columns.items() if h == id_header), 0)]) is UncachedFormula else
                   "名称是没有计算结果的公式" if name_header in destroyed else
                   "编号已被 Excel 破坏" if id_header in destroyed else
                   "名称是占位文字" if pending else "没有客户名称或编号")
            row.kind, row.reason = NOT_DATA, why + "，无法确定是哪个客户"
            row.no_identity = bool(pending) or id_header in destroyed or name_header in destroyed \
                or (typed - failed) >= 2
        return row
    if failed >= 2 and failed * 2 > typed:
        row.kind, row.reason = NOT_DATA, f"{failed}/{typed} 个格子不是其列应有的值"
    return row


def _texts(cells: list[Any], cols) -> list[str]:
    return [norm_header(cells[c]) if c < len(cells) and isinstance(cells[c], str) else "" for c in cols]


class _HeaderRepeat:
    """Whether a row repeats one of the header rows (after normalising): most of the
    header's texts in the same columns.  The first two texts are looked at first, so a
    data row costs two comparisons — of a text normalised once per distinct text of its column
    (a 业务员 or 地区 column repeats a few hundred texts down 100,000 rows)."""

    def __init__(self, header_rows: list[list[Any]], cols: list[int]):
        self.cols = cols
        self.wanted = [_texts(hdr, cols) for hdr in header_rows]
        self.probes = [[(c, w) for c, w in zip(cols, want) if w][:2] for want in self.wanted]
        self.probes = [(want, probe) for want, probe in zip(self.wanted, self.probes) if len(probe) == 2]
        self.shapes = {shape(w) for want, probe in self.probes for c, w in probe}
        self.normalised: dict[str, str] = {}

    def _norm(self, text: str) -> str:
        """norm_header(text) — or "" for a text of a shape no probed header has (a name longer
        than any header), without converting it."""
        got = self.normalised.get(text)
        if got is None:
            got = norm_header(text) if header_shape(text) in self.shapes else ""
            if len(self.normalised) < _NORMALISED_KEPT:  # a column of names repeats none: not kept beyond
                self.normalised[text] = got
        return got

    def __call__(self, cells: list[Any]) -> bool:
        n = len(cells)
        for want, probe in self.probes:
            for c, w in probe:
                if c < n and type(cells[c]) is str and self._norm(cells[c]) == w:
                    break
            else:
                continue
            have = _texts(cells, self.cols)
            pairs = [(a, b) for a, b in zip(have, want) if b]
            if len(pairs) >= 2 and sum(a == b for a, b in pairs) * 10 >= 6 * len(pairs):
                return True
        return False


_NORMALISED_KEPT = 20_000


def _total_text(cells: list[Any]) -> bool:
    """合计, 小计 … in one of the row's first four texts."""
    seen = 0
    for v in cells:
        if isinstance(v, str) and v.strip():
            first = v[0]  # an ideograph other than these begins the text as normalised too: no total
            if not v.isascii() and not ("\u4e00" <= first <= "\u9fff" and first not in _TOTAL_FIRST) \
                    and _TOTAL_TEXT.match(cl.nfkc(v).replace(" ", "")):
                return True
            seen += 1
            if seen == 4:
                break
    return False


# a sheet with this many rows has them read in two processes (the second half in a fork):
# the reading is the row's own; only the totals and the footers below depend on the rows before
SPLIT_ROWS = 10_000


def classify(grid: SheetGrid, hm: HeaderMap, rows: list[list[Any]] | None = None) -> list[SheetRow]:
    """Every row of the sheet other than the header, classified (see the module doc)."""
    table = L.TABLES[hm.table]
    rows = rows if rows is not None else filled(grid)
    off = grid.offset + 1  # a row's index → its sheet row
    money = [c for c, h in hm.columns.items() if (table.by_header().get(h) or L.Column(h, h)).kind == L.MONEY]
    units = {c: hm.multipliers.get(c, 1.0) or 1.0 for c in money}
    out: list[SheetRow] = []
    for r in range(hm.header_rows[0]):
        if any(not cl.is_blank(v) for v in rows[r]):
            out.append(SheetRow(r + off, TITLE, reason="表头上方的标题/说明"))
    looked = _look_at_rows(grid, hm, rows, hm.first_data_row, len(rows))
    sums = {c: 0.0 for c in money}
    for r, row in zip(range(hm.first_data_row, len(rows)), looked):
        if row.kind == TOTAL:
            sums = {c: 0.0 for c in money}
        elif row.kind == NOT_DATA and _sums_above(rows[r], money, sums, units):
            row.kind, row.reason = TOTAL, "各金额等于上方各行之和"
            sums = {c: 0.0 for c in money}
        elif row.kind == DATA:
            for c in money:  # the amount read_row cleaned (the header's unit applied)
                sums[c] += row.values.get(hm.columns[c]) or 0.0
        out.append(row)
    last = max((i for i, x in enumerate(out) if x.kind == DATA), default=-1)
    for x in out[last + 1:]:
        if x.kind == NOT_DATA and not x.no_identity:
            x.kind = FOOTER
            x.reason = f"数据之后的表尾（{x.reason}）"
    for x in out:
        if x.kind == NOT_DATA and x.no_identity:
            x.kind = NO_IDENTITY
    return out


def _look_at_rows(grid: SheetGrid, hm: HeaderMap, rows: list[list[Any]], start: int, end: int) -> list[SheetRow]:
    """Rows start..end each by itself: blank, a repeated header, a total by its text, or
    read_row's reading.  A long sheet's second half is read in a second process meanwhile
    (the same readings, pickled back; computed here where no second process can be had)."""
    if end - start < SPLIT_ROWS:
        return _look(grid, hm, rows, start, end)
    mid = start + (end - start) * 11 // 20  # (this process also unpickles the other half)
    other = parallel.forked(lambda: _look(grid, hm, rows, mid, end))
    try:
        first = _look(grid, hm, rows, start, mid)
    except BaseException:
        other.cancel()
        raise
    return first + other.result()


def _look(grid: SheetGrid, hm: HeaderMap, rows: list[list[Any]], start: int, end: int) -> list[SheetRow]:
    table = L.TABLES[hm.table]
    off = grid.offset + 1
    repeats = _HeaderRepeat([rows[r] for r in hm.header_rows], sorted(hm.columns))
    out: list[SheetRow] = []
    for r in range(start, end):
        cells = rows[r]
        original = grid.rows[r] if r < len(grid.rows) else []
        first = original[0] if original else None
        texted = type(first) is str and first and first[0] not in NOTHING  # (most rows: not blank)
        if not texted and all(cl.is_blank(v) for v in original):
            if any(not cl.is_blank(v) for v in cells):  # only merged values from above
                out.append(SheetRow(r + off, BLANK, reason="只有合并单元格延续的值"))
            else:
                out.append(SheetRow(r + off, BLANK))
        elif repeats(cells):
            out.append(SheetRow(r + off, REPEATED_HEADER, reason="与表头相同（分页重复的表头）"))
        elif _total_text(original):
            out.append(SheetRow(r + off, TOTAL, reason="合计/小计行"))
        else:
            out.append(read_row(table, hm, cells, r + off))
    return out


def _sums_above(cells: list[Any], money: list[int], sums: dict[int, float], units: dict[int, float]) -> bool:
    """Every amount of the row is the sum of the data rows above it (to the fen, in the
    header's unit): a total row without 合计 written in it."""
    hit = False
    for c in money:
        try:
            x = cl.parse_amount(cells[c] if c < len(cells) else None, units[c])
        except ValueError:
            return False
        if x is None:
            continue
        if abs(x - sums[c]) > 0.01 * units[c] or not sums[c]:
            return False
        hit = True
    return hit


# -- finding the header ------------------------------------------------------------------
def short_texts(cells: list[Any], distinct: bool = True) -> bool:
    """A header row: short texts (and, for the row that names the columns, distinct ones)."""
    texts = [v for v in cells if not cl.is_blank(v)]
    if len(texts) < (2 if distinct else 1):
        return False
    words = [v for v in texts if isinstance(v, str) and len(cl.nfkc(v).strip()) <= 30]
    if len(words) * 10 < 7 * len(texts):
        return False
    return not distinct or len({norm_header(v) for v in words}) * 10 >= 8 * len(words)


def find_header(grid: SheetGrid, rows: list[list[Any]] | None = None) -> HeaderMap | None:
    """The header by what a header is: short distinct texts, most of them mapping to one
    table's fields, with rows below that type-check against those fields."""
    rows = rows if rows is not None else filled(grid)
    top = rows[: SCAN_ROWS + LOOK_AHEAD + 2]
    width = max((len(r) for r in top), default=0)
    best: tuple[float, HeaderMap] | None = None
    grouped = {r1 for r1, c1, r2, c2 in grid.merged if c2 > c1 and r1 == r2}  # rows with merged group cells
    seen_kinds: dict[tuple[int, int], str | None] = {}
    for r in range(min(SCAN_ROWS, len(top))):
        if not short_texts(top[r], distinct=False):
            continue
        for hdr_rows in ((r,), (r, r + 1)):
            if hdr_rows[-1] >= len(top) or not short_texts(top[hdr_rows[-1]]):
                continue
            for table in TARGETS:
                if len(hdr_rows) == 2:  # the lower row names columns itself (it is not a first data row)
                    sub = [v for v in top[r + 1] if not cl.is_blank(v)]
                    known = sum(1 for v in sub if isinstance(v, str) and norm_header(v) in lookup(table))
                    if known * 10 < 4 * len(sub):
                        continue
                cols, mult, src = candidate(table, top, hdr_rows, width)
                codes = []
                if table != C.name and not ({CUST_NAME, CUST_ID} & set(cols.values())):
                    codes = _code_shaped(top, hdr_rows[-1] + 1, [c for c in src if c not in cols])
                if not ({CUST_NAME, CUST_ID} & set(cols.values()) or codes):
                    continue
                placed = len(cols) + len(codes)
                if len(cols) < 2 or placed * 10 < 4 * len(src):  # columns known by what they hold count too
                    kinds = _content_kinds(top, hdr_rows[-1] + 1, [c for c in src if c not in cols and c not in codes],
                                           seen_kinds)
                    if len(cols) + len(kinds) < 2 or (placed + len(kinds)) * 10 < 4 * len(src):
                        continue  # most header cells must map to known fields
                hm = HeaderMap(table, hdr_rows, cols, mult, src, [src[c] for c in sorted(src) if c not in cols],
                               codes)
                tdef = L.TABLES[table]
                repeats = _HeaderRepeat([top[i] for i in hdr_rows], sorted(cols))  # a page's header again
                ahead = [read_row(tdef, hm, top[i], i + 1) for i in range(hm.first_data_row,
                                                                          min(len(top), hm.first_data_row + LOOK_AHEAD))
                         if any(not cl.is_blank(v) for v in top[i]) and not repeats(top[i])]
                good = sum(1 for x in ahead if x.kind == DATA)
                value = score(table, cols) + 3.0 * (good / len(ahead) if ahead else 0.0)
                if len(hdr_rows) == 2:  # a group row above the column names belongs to the header
                    value += 0.5 if r in grouped else -0.25
                if ahead and not good:
                    value -= 2.0  # a header nothing under which type-checks (an instruction block)
                if best is None or value > best[0]:
                    best = (value, hm)
    if best is None:
        return None
    _place_by_content(top, best[1])
    return best[1]


# -- a column's meaning from its content -------------------------------------------------
_MONEY_MARK = re.compile(r"[¥￥$元万亿]|RMB|CNY", re.I)
_PHONE_SHAPE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,5})?")
_DATE_MARK = re.compile(r"\d[-/.年]\d|年|月")
CONTENT_LABEL = {"phone": "电话号码", "date": "日期", "money": "金额"}


def _content_kind(values: list[Any]) -> str | None:
    """What most (80%) of a column's cells are: phone numbers, dates or amounts with their
    money mark — forms no other field's values take."""
    n = len(values)
    if n < 3:
        return None

    def most(test) -> bool:
        hits = 0
        for v in values:
            try:
                hits += bool(test(v))
            except (ValueError, OverflowError, TypeError):
                pass
        return hits * 10 >= 8 * n

    if most(lambda v: _PHONE_SHAPE.fullmatch(cl.parse_phone(v) or "")):
        return "phone"
    if most(lambda v: isinstance(v, dt.date) or isinstance(v, str) and _DATE_MARK.search(v)
            and cl.parse_legacy_date(v) is not None):
        return "date"
    if most(lambda v: isinstance(v, str) and _MONEY_MARK.search(v) and cl.parse_amount(v) is not None):
        return "money"
    return None


def _content_kinds(rows: list[list[Any]], first: int, columns: list[int],
                   seen: dict[tuple[int, int], str | None]) -> dict[int, str]:
    """The columns (of those given) whose cells below row `first` say what they are."""
    out = {}
    for c in columns:
        if (first, c) not in seen:
            values = [r[c] for r in rows[first: first + 50] if c < len(r) and not cl.is_blank(r[c])]
            seen[(first, c)] = _content_kind(values)
        if seen[(first, c)]:
            out[c] = seen[(first, c)]
    return out


def _fields_of(table: str, kind: str) -> list[str]:
    tdef = L.TABLES[table]
    if kind == "phone":
        return [C.header("phone")] if tdef is C else []
    kinds = (L.DATE, L.DATETIME) if kind == "date" else (L.MONEY,)
    by_header = tdef.by_header()
    return [h for h in synonyms()["tables"][table] if h in by_header and by_header[h].kind in kinds]


def _place_by_content(rows: list[list[Any]], hm: HeaderMap) -> None:
    """Columns whose words nobody listed, read by what they hold (PRODUCT.md §7).  A column of
    phone numbers goes to the customer's 联系电话 when the header placed none: a phone is
    nothing else.  A column of dates or amounts is only proposed: the report and the mapping
    file say what it holds and which fields it could be, and the clerk decides with
    --mapping — an amount column may be 注册资本 as well as 年用量, and importing it as the
    wrong one would regrade the customer."""
    unknown = [c for c in sorted(hm.source_headers) if c not in hm.columns and c not in hm.code_columns]
    if not unknown:
        return
    kinds = _content_kinds(rows, hm.first_data_row, unknown, {})
    for kind in CONTENT_LABEL:
        cols = [c for c, k in kinds.items() if k == kind]
        free = [f for f in _fields_of(hm.table, kind) if f not in hm.columns.values()]
        if not cols:
            continue
        if kind == "phone" and len(cols) == 1 and len(free) == 1:
            hm.columns[cols[0]] = free[0]
            hm.multipliers[cols[0]] = 1.0
            hm.by_content[cols[0]] = f"按内容：该列是{CONTENT_LABEL[kind]}"
            hm.ignored = [hm.source_headers[c] for c in sorted(hm.source_headers) if c not in hm.columns]
            _READERS.pop(id(hm), None)  # its cleaners were made for the columns before
            continue
        for c in cols:
            hm.hints[c] = f"内容是{CONTENT_LABEL[kind]}" + (f"，可能是：{'、'.join(free)}" if free else "")


def _code_shaped(rows: list[list[Any]], first: int, columns: list[int]) -> list[int]:
    """Unknown columns whose cells below the header are mostly customer-code shaped."""
    out = []
    for c in columns:
        vals = [r[c] for r in rows[first: first + LOOK_AHEAD] if c < len(r) and not cl.is_blank(r[c])]
        if len(vals) < 1:
            continue
        shaped = 0
        for v in vals:
            try:
                code = cl.parse_id(v)
            except ValueError:
                continue
            shaped += bool(code and _CODE.fullmatch(code))
        if shaped * 10 >= 8 * len(vals):
            out.append(c)
    return out


# -- a file of another kind ---------------------------------------------------------------
_MONTH = re.compile(r"^((1[0-2]|[1-9])月(份)?|[一二三四五六七八九十]{1,3}月(份)?|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*)$",
                    re.I)
_FORM_LABEL = re.compile(r"^[\u4e00-\u9fffA-Za-z（）()]{2,12}[:：]?$")
_DOCUMENT_WORDS = re.compile(r"合同|协议书|甲方|乙方|第[一二三四五六七八九十\d]+条|签字|盖章")


def file_kind(grids: list[SheetGrid]) -> str | None:
    """What a file that holds no table of ours is, for the report (PRODUCT.md §7): a plan laid
    out by month, a form with one record per sheet, a contract or other document; None when
    it is none of these."""
    data = [g for g in grids if not g.hidden and any(any(not cl.is_blank(v) for v in r) for r in g.rows)]
    if not data:
        return None
    for g in data:
        for r in g.rows[:SCAN_ROWS]:
            months = sum(1 for v in r if isinstance(v, str) and _MONTH.match(cl.nfkc(v).replace(" ", "")))
            if months >= 6:
                return "按月排列的计划表（如拜访计划、回款计划）"
    texts = [cl.nfkc(v) for g in data for r in g.rows[:200] for v in r if isinstance(v, str) and v.strip()]
    if texts and sum(len(t) >= 40 for t in texts) * 4 >= len(texts) or \
            sum(1 for t in texts if _DOCUMENT_WORDS.search(t)) >= 3 and sum(len(t) >= 40 for t in texts) >= 2:
        return "合同或文书（成段的文字）"

    def form_like(g: SheetGrid) -> bool:
        pairs = 0
        for r in g.rows[:60]:
            cells = [v for v in r if not cl.is_blank(v)]
            if 2 <= len(cells) <= 6 and isinstance(cells[0], str) and _FORM_LABEL.match(cl.nfkc(cells[0]).replace(" ", "")):
                pairs += 1
        return pairs >= 4 and max(len(r) for r in g.rows) <= 8
    if sum(form_like(g) for g in data) * 2 > len(data):
        return "表单（每个工作表一份，如客户档案卡、认定申请表）"
    return None


# -- several tables on one sheet ----------------------------------------------------------
def side_by_side(grid: SheetGrid) -> list[SheetGrid]:
    """Tables laid side by side on one sheet, split at the columns that are blank from top to
    bottom: one grid per table, each keeping the sheet's own column positions (the other
    tables' cells blank) and named after its columns.  A sheet split only when every part has
    a header of its own; otherwise (a spacer column inside one table) the sheet as it is."""
    width = max((len(r) for r in grid.rows[:SCAN_ROWS]), default=0)
    if width < 5:
        return [grid]
    top = grid.rows[: SCAN_ROWS + LOOK_AHEAD]
    gaps = [c for c in range(width) if all(c >= len(r) or cl.is_blank(r[c]) for r in top)]
    gaps = [c for c in gaps if all(c >= len(r) or cl.is_blank(r[c]) for r in grid.rows)]
    if not gaps:
        return [grid]
    full = max(len(r) for r in grid.rows)
    runs, start = [], None
    for c in range(full + 1):
        if c < full and c not in gaps:
            start = c if start is None else start
        elif start is not None:
            runs.append((start, c - 1))
            start = None
    runs = [(a, b) for a, b in runs if b - a >= 1]
    if len(runs) < 2:
        return [grid]
    parts = []
    for a, b in runs:
        rows = [[v if a <= c <= b else None for c, v in enumerate(r[: b + 1])] for r in grid.rows]
        merged = [m for m in grid.merged if a <= m[1] and m[3] <= b]
        name = f"{grid.sheet}（{col_letter(a)}:{col_letter(b)}列）"
        part = SheetGrid(grid.file, name, rows, merged, grid.hidden, grid.named, grid.offset, grid.sheet_name)
        if find_header(part) is None:
            return [grid]
        parts.append(part)
    return parts


def _blank_row(cells: list[Any]) -> bool:
    for v in cells:
        if v is not None and not cl.is_blank(v):
            return False
    return True


def _header_like(cells: list[Any]) -> bool:
    """Short distinct texts, two or more of them words some table's header uses."""
    if not short_texts(cells):
        return False
    for table in TARGETS:
        known = lookup(table)
        if sum(1 for v in cells if isinstance(v, str) and norm_header(v) in known) >= 2:
            return True
    return False


def _part(grid: SheetGrid, a: int, b: int) -> SheetGrid:
    """Rows a..b-1 of a sheet as a grid of their own, knowing where they sit on the sheet."""
    # a merged range whose value cell is in the part applies to the part's rows it covers (one
    # reaching past the part's last row is cut there, not dropped with the value of its rows)
    merged = [(r1 - a, c1, min(r2, b - 1) - a, c2) for r1, c1, r2, c2 in grid.merged if a <= r1 < b]
    last = b
    while last > a + 1 and _blank_row(grid.rows[last - 1]):
        last -= 1
    first = grid.offset + a + 1
    name = f"{grid.sheet}（第{first}–{grid.offset + last}行）"
    return SheetGrid(grid.file, name, grid.rows[a:b], merged, grid.hidden, grid.named, grid.offset + a,
                     grid.sheet_name)


def stacked(grid: SheetGrid) -> list[SheetGrid]:
    """Tables one under another on one sheet (客户 above, a blank row, then 拜访记录): split
    where, after one or more blank rows, a header of a different table begins (within the
    block's first three rows, so a title line above it belongs to it).  Each part keeps its
    rows' sheet numbers.  A header that repeats the one above (a printed page's) is no
    split: the classifier skips it as a repeated header."""
    rows = grid.rows
    starts, gap, seen = [], False, False
    for r, cells in enumerate(rows):
        if _blank_row(cells):
            gap = seen
            continue
        if gap:
            h = next((i for i in range(r, min(r + 3, len(rows))) if _header_like(rows[i])), None)
            if h is not None:
                starts.append((r, h))
        gap, seen = False, True
    if not starts:
        return [grid]
    head = SCAN_ROWS + LOOK_AHEAD + 2  # what finding a header looks at
    ends = [r for r, _ in starts[1:]] + [len(rows)]
    parts: list[list] = [[0, starts[0][0], find_header(_part(grid, 0, min(starts[0][0], head)))]]
    for (a, h), b in zip(starts, ends):
        pa, _, phm = parts[-1]
        if phm is not None:
            above = _part(grid, pa, min(a, pa + head))
            repeat = _HeaderRepeat([filled(above)[r] for r in phm.header_rows], sorted(phm.columns))
            if repeat(rows[h]):  # the same header again: one table
                parts[-1][1] = b
                continue
        hm = find_header(_part(grid, a, min(b, a + head)))
        if hm is None or phm is None:  # no table of its own (or none above): joined, read again
            parts[-1] = [pa, b, find_header(_part(grid, pa, min(b, pa + head)))]
            continue
        parts.append([a, b, hm])
    if len(parts) < 2:
        return [grid]
    return [_part(grid, a, b) for a, b, _ in parts]


def tables_on(grid: SheetGrid) -> list[SheetGrid]:
    """Every table of a data sheet: side by side, then one under another."""
    return [p for part in side_by_side(grid) for p in stacked(part)]
