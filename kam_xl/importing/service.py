"""导入历史档案: legacy spreadsheets → one clean archive with visits and
receivables linked, and a report that accounts for every source row.

Rules (PRODUCT.md §7):
- a customer is matched by id (lost leading zeros tolerated) or by normalised
  name; a name matching several customers is rejected, never guessed;
- between sources the most recent one wins per field (the year a file name or
  title states, else its latest record date, else the file time); every
  overridden value is listed;
- the master workbook's own values win over legacy files: imports fill blanks
  and report disagreements, so re-importing the same files changes nothing;
- the workbook is written in one commit, or not at all (--dry-run, or nothing new).
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import layout as L
from ..domain.names import normalize_id, normalize_name
from ..workbook.loader import BookData
from ..workbook.reading import customer_values, receivable_values
from ..workbook.tables import Changes
from . import cleaning as cl
from .headers import HeaderMap, detect, synonyms, title_text
from .readers import SheetGrid, UnreadableSource, expand_sources
from .sandbox import read_isolated

NEW, MERGED, SKIPPED, REJECTED = L.IMPORT_OUTCOMES
C, V, R = L.CUSTOMERS, L.VISITS, L.RECEIVABLES
CUST_ID, CUST_NAME = C.header("id"), C.header("name")
REF_ID = V.header("customer_id")  # the customer reference column of visits and receivables
TABLE_LABEL = {L.CUSTOMERS.name: L.SHEET_CUSTOMERS, L.VISITS.name: L.SHEET_VISITS,
               L.RECEIVABLES.name: L.SHEET_RECEIVABLES}
LINK_NAME = CUST_NAME  # visits/receivables: a customer's name used for linking (not a workbook column)


@dataclass
class Outcome:
    file: str
    sheet: str
    row: int | None
    outcome: str
    target: str = ""
    record_id: str | None = None
    message: str = ""

    def as_row(self, when: dt.datetime) -> dict[str, Any]:
        return L.IMPORT_LOG.row(time=when, file=self.file, sheet=self.sheet, row=self.row, outcome=self.outcome,
                                target=self.target, record_id=self.record_id, message=self.message)


@dataclass
class SourceInfo:
    file: str
    sheet: str
    table: str
    date: dt.date
    date_basis: str
    mapped: dict[str, str]
    ignored: list[str]


@dataclass
class ImportResult:
    outcomes: list[Outcome] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)
    data_changed: bool = False
    notices: list = field(default_factory=list)  # what the store found in the master book

    @property
    def counts(self) -> Counter:
        return Counter(o.outcome for o in self.outcomes)

    @property
    def has_problems(self) -> bool:
        return bool(self.unreadable) or self.counts[REJECTED] > 0

    def summary_lines(self) -> list[str]:
        c = self.counts
        lines = [f"源数据 {len(self.outcomes)} 行：新增 {c[NEW]}，合并 {c[MERGED]}，跳过 {c[SKIPPED]}，拒绝 {c[REJECTED]}"]
        for s in self.sources:
            lines.append(f"  {s.file} [{s.sheet}] → {TABLE_LABEL[s.table]}，来源日期 {s.date:%Y-%m-%d}（{s.date_basis}）")
            lines.append("    已识别列：" + "，".join(f"{k}→{v}" for k, v in s.mapped.items()))
            if s.ignored:
                lines.append("    未使用列：" + "，".join(s.ignored))
        for f, why in self.unreadable:
            lines.append(f"  无法读取 {f}：{why}")
        for o in self.outcomes:
            if o.outcome == REJECTED:
                lines.append(f"  拒绝 {o.file} [{o.sheet}] 第{o.row}行：{o.message}")
        lines += [n.line() for n in self.notices]
        if not self.data_changed:
            lines.append("没有需要写入的新数据，工作簿未改动")
        return lines

    def write_csv(self, path: Path) -> None:
        now = dt.datetime.now().replace(microsecond=0)
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=L.IMPORT_LOG.headers)
            w.writeheader()
            for o in self.outcomes:
                w.writerow(o.as_row(now))
            for file, why in self.unreadable:
                w.writerow(Outcome(file, "", None, REJECTED, "", None, f"无法读取：{why}").as_row(now))


# ---------------------------------------------------------------------------
# Parsing one sheet into typed rows
def _cleaner(table: L.TableDef, header: str) -> Callable[[Any, float], Any]:
    values = synonyms()["values"]
    col = table.by_header().get(header)
    if header == LINK_NAME:
        return lambda v, m: cl.parse_company(v)
    if header in ("联系电话",):
        return lambda v, m: cl.parse_phone(v)
    if header in (C.header("id"), V.header("id"), R.header("id"), C.header("agreement_no"), REF_ID):
        return lambda v, m: cl.parse_id(v)
    if col.kind == L.MONEY:
        return lambda v, m: cl.parse_amount(v, m)
    if col.kind == L.PERCENT:
        return lambda v, m: cl.parse_percent(v)
    if col.kind in (L.DATE, L.DATETIME):
        return lambda v, m: cl.parse_date(v)
    if col.kind == L.ENUM:
        mapping = values.get(header, {})
        return lambda v, m: cl.parse_enum(v, mapping, col.choices)
    if col.kind in (L.NUMBER, L.INT):
        def num(v, m):
            x = cl.parse_amount(v)
            if x is not None and col.hi is not None and not (col.lo or 0) <= x <= col.hi:
                raise ValueError(f"“{v}”超出范围 {col.lo:g}–{col.hi:g}")
            return x
        return num
    return lambda v, m: cl.parse_text(v)


@dataclass
class SourceRow:
    info: SourceInfo
    row: int               # Excel row (1-based)
    values: dict[str, Any]
    notes: list[str]
    order: int             # file order, to keep a stable order among equal dates


def _row_kind(cells: list[Any]) -> str | None:
    texts = [cl.nfkc(v).replace(" ", "") for v in cells if not cl.is_blank(v)]
    if not texts:
        return "空行"
    syn = synonyms()
    if any(t in syn["total_markers"] or re.match(r"^(合计|小计|总计)", t) for t in texts[:4]):
        return "合计行"
    if len(texts) <= 2 and any(m in t for t in texts for m in syn["footer_markers"]):
        return "表尾说明"
    return None


_YEAR = re.compile(r"(?<!\d)(19[89]\d|20\d{2})(?!\d)")


def _source_date(path: Path, title: str, dates: list[dt.date]) -> tuple[dt.date, str]:
    years = [int(y) for y in _YEAR.findall(path.stem + " " + title)]
    if years:
        return dt.date(max(years), 12, 31), f"年份 {max(years)}（文件名/标题）"
    if dates:
        return max(dates), "记录中最晚的日期"
    return dt.datetime.fromtimestamp(path.stat().st_mtime).date(), "文件修改时间"


def parse_grid(grid: SheetGrid, hm: HeaderMap, order: int, result: ImportResult) -> list[SourceRow]:
    table = L.TABLES[hm.table]
    label_file, label_sheet = grid.file.name, grid.sheet
    outcomes_before = len(result.outcomes)
    parsed = []
    for r in range(hm.first_data_row, len(grid.rows)):
        cells = grid.rows[r]
        kind = _row_kind(cells)
        excel_row = r + 1
        if kind:
            if kind != "空行" or any(not cl.is_blank(v) for v in cells):
                result.outcomes.append(Outcome(label_file, label_sheet, excel_row, SKIPPED, TABLE_LABEL[hm.table],
                                               None, kind))
            else:
                result.outcomes.append(Outcome(label_file, label_sheet, excel_row, SKIPPED,
                                               TABLE_LABEL[hm.table], None, "空行"))
            continue
        values, notes = {}, []
        for c, header in hm.columns.items():
            raw = cells[c] if c < len(cells) else None
            try:
                v = _cleaner(table, header)(raw, hm.multipliers.get(c, 1.0))
            except (ValueError, OverflowError) as e:
                notes.append(f"{header}：{e}，未导入该值")
                v = None
            if v is not None:
                values[header] = v
        parsed.append((excel_row, values, notes))
    if not parsed and len(result.outcomes) == outcomes_before:
        result.outcomes.append(Outcome(label_file, label_sheet, None, SKIPPED, TABLE_LABEL[hm.table], None,
                                       "表头之后没有数据行"))
    dates = [v for _, vals, _ in parsed for v in vals.values() if isinstance(v, dt.date)]
    date, basis = _source_date(grid.file, title_text(grid, hm), dates)
    info = SourceInfo(label_file, label_sheet, hm.table, date, basis,
                      {hm.source_headers[c]: t for c, t in hm.columns.items()}, hm.ignored)
    result.sources.append(info)
    return [SourceRow(info, r, v, n, order) for r, v, n in parsed]


# ---------------------------------------------------------------------------
class _Record:
    """A record being built: current values, where each value came from.

    A workbook row's values are only materialised when a source row merges into
    it (`load`), so 600k existing rows cost an index entry each, not a dict."""
    __slots__ = ("_values", "_load", "origin", "existing_index", "updates")

    def __init__(self, values: dict[str, Any] | None, origin: dict[str, tuple[dt.date, str]],
                 existing_index: int | None = None, load: Callable[[], dict[str, Any]] | None = None):
        self._values, self._load = values, load
        self.origin = origin                  # header → (source date, "file[sheet]第n行")
        self.existing_index = existing_index  # row index in the workbook table, None when new
        self.updates: dict[str, Any] = {}

    @property
    def values(self) -> dict[str, Any]:
        if self._values is None:
            self._values, self._load = self._load(), None
        return self._values


class _Index:
    """Customers by id (also by the bare number of a prefixed id, so a legacy 12
    finds KH000012 when that is unambiguous) and by normalised name."""

    def __init__(self):
        self.by_id: dict[str, list[_Record]] = defaultdict(list)
        self.by_number: dict[str, list[_Record]] = defaultdict(list)
        self.by_name: dict[str, list[_Record]] = defaultdict(list)

    def add(self, rec: _Record, cid: str | None, name: str | None):
        if cid:
            key = normalize_id(cid)
            self.by_id[key].append(rec)
            m = re.fullmatch(r"[A-Z]+(\d+)", key)
            if m:
                self.by_number[m[1]].append(rec)
        if name:
            self.by_name[normalize_name(name)].append(rec)

    def find(self, cid: str | None, name: str | None) -> tuple[list[_Record], str]:
        if cid:
            key = normalize_id(cid)
            hits = self.by_id.get(key, []) or (self.by_number.get(key, []) if key.isdigit() else [])
            if hits:
                return hits, "编号"
        if name:
            return self.by_name.get(normalize_name(name), []), "名称"
        return [], ""


def _where(sr: SourceRow) -> str:
    return f"{sr.info.file}[{sr.info.sheet}]第{sr.row}行"


def _fmt(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def _merge_into(rec: _Record, sr: SourceRow, skip: set[str]) -> list[str]:
    """Merge a source row's values into a record; returns notes on every disagreement."""
    notes = []
    for h, v in sr.values.items():
        if h in skip:
            continue
        cur = rec.values.get(h)
        if cur is None or cur == "":
            rec.values[h] = v
            rec.origin[h] = (sr.info.date, _where(sr))
            if rec.existing_index is not None:
                rec.updates[h] = v
            continue
        if _same(cur, v):
            continue
        if rec.existing_index is not None:
            notes.append(f"{h}：保留工作簿现值“{_fmt(cur)}”，来源值“{_fmt(v)}”未采用")
            continue
        when, where = rec.origin.get(h, (dt.date.min, "?"))
        if sr.info.date >= when:
            notes.append(f"{h}：“{_fmt(cur)}”（{where}）被较新来源覆盖为“{_fmt(v)}”")
            rec.values[h] = v
            rec.origin[h] = (sr.info.date, _where(sr))
        else:
            notes.append(f"{h}：来源值“{_fmt(v)}”较旧，保留较新来源（{where}）的“{_fmt(cur)}”")
    return notes


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dt.datetime):
        a = a.date()
    if isinstance(b, dt.datetime):
        b = b.date()
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 0.005
    if isinstance(a, str) and isinstance(b, str):
        return cl.nfkc(a) == cl.nfkc(b)
    return a == b


def _next_ids(existing: list[Any], prefix: str):
    n = 0
    for v in existing:
        m = re.fullmatch(prefix + r"(\d+)", str(v or ""))
        if m:
            n = max(n, int(m[1]))
    while True:
        n += 1
        yield f"{prefix}{n:06d}"


def _as_date(v: Any) -> Any:
    return v.date() if isinstance(v, dt.datetime) else v


# ---------------------------------------------------------------------------
@dataclass
class ParsedSources:
    """Every source file read and every row cleaned, before any matching."""
    result: ImportResult
    rows_by_table: dict[str, list[SourceRow]]

    @property
    def tables(self) -> set[str]:
        """The master tables the sources have rows for (the workbook tables a merge needs)."""
        return {t for t, rows in self.rows_by_table.items() if rows}


def parse_sources(paths: list[Path], progress=None) -> ParsedSources:
    result = ImportResult()
    rows_by_table: dict[str, list[SourceRow]] = defaultdict(list)
    files = expand_sources(paths)
    for order, path in enumerate(files):
        try:
            grids = read_isolated(path)
        except UnreadableSource as e:
            result.unreadable.append((path.name, str(e)))
            continue
        except Exception as e:  # a reader bug or an exotic file must not stop the others
            result.unreadable.append((path.name, f"读取失败（{type(e).__name__}）"))
            continue
        found = False
        for grid in grids:
            hm = detect(grid)
            if hm is None:
                continue
            found = True
            rows_by_table[hm.table].extend(parse_grid(grid, hm, order, result))
        if not found:
            result.unreadable.append((path.name, "没有找到可识别的表头（如 客户名称、单位名称、年用量 等）"))
        if progress:
            progress.update(order + 1, len(files), path.name)
    return ParsedSources(result, rows_by_table)


def merge_sources(data: BookData, parsed: ParsedSources, now: dt.datetime | None = None) -> ImportResult:
    now = now or dt.datetime.now().replace(microsecond=0)
    result, rows_by_table = parsed.result, parsed.rows_by_table
    cust_t = data.tables[L.CUSTOMERS.name]
    index = _Index()
    headers = cust_t.headers
    for c in data.customers:
        row = cust_t.rows[c.row_index]
        rec = _Record(None, {}, existing_index=c.row_index,
                      load=lambda row=row: {h: _as_date(v) for h, v in zip(headers, row)})
        index.add(rec, c.id, c.name)
    new_customers: list[_Record] = []
    cust_ids = _next_ids(cust_t.column(CUST_ID), L.CUSTOMERS.id_prefix)
    used_ids = {normalize_id(v) for v in cust_t.column(CUST_ID) if v}
    skip_cols = {C.header("tier"), C.header("graded_on"), C.header("suggested_tier")}  # tiers come from regrade

    def by_date(rows):
        return sorted(rows, key=lambda s: (s.info.date, s.order, s.row))

    for sr in by_date(rows_by_table[L.CUSTOMERS.name]):
        cid, name = sr.values.get(CUST_ID), sr.values.get(CUST_NAME)
        label = TABLE_LABEL[L.CUSTOMERS.name]
        if not cid and not name:
            result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None,
                                           "缺少客户名称和客户编号，无法识别客户"))
            continue
        hits, how = index.find(cid, name)
        if len(hits) > 1:
            result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None,
                                           f"客户{how}“{cid if how == '编号' else name}”对应 {len(hits)} 个客户，无法确定合并对象"))
            continue
        if hits:
            rec = hits[0]
            notes = _merge_into(rec, sr, skip_cols | {CUST_ID})
            if how == "编号" and name and rec.values.get(CUST_NAME) and \
                    normalize_name(name) != normalize_name(rec.values[CUST_NAME]):
                notes.append(f"名称“{name}”与按编号匹配到的客户“{rec.values['客户名称']}”不一致，请核对")
            result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, MERGED, label,
                                           rec.values.get(CUST_ID), "；".join(sr.notes + notes) or f"按{how}匹配，无新信息"))
            continue
        if not name:
            result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None,
                                           f"客户编号“{cid}”在工作簿中不存在，且缺少客户名称，无法建档"))
            continue
        values = {h: v for h, v in sr.values.items() if h not in skip_cols}
        if not cid or normalize_id(cid) in used_ids:
            values[CUST_ID] = next(cust_ids)
        used_ids.add(normalize_id(values[CUST_ID]))
        rec = _Record(values, {h: (sr.info.date, _where(sr)) for h in values})
        new_customers.append(rec)
        index.add(rec, values[CUST_ID], name)
        if cid and cid != values[CUST_ID]:
            index.add(rec, cid, None)
        result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, NEW, label, values[CUST_ID],
                                       "；".join(sr.notes) or "新建客户档案"))

    def link(sr: SourceRow) -> tuple[str | None, str | None]:
        cid, name = sr.values.get(CUST_ID), sr.values.get(LINK_NAME)
        if not cid and not name:
            return None, "缺少客户编号和客户名称，无法关联客户"
        hits, how = index.find(cid, name)
        if not hits:
            return None, f"找不到客户（{how or '编号/名称'}：{cid or name}），请先导入或建立客户档案"
        if len(hits) > 1:
            return None, f"客户{how}“{cid if how == '编号' else name}”对应 {len(hits)} 个客户，无法确定"
        return hits[0].values.get(CUST_ID), None

    appended: dict[str, list[dict[str, Any]]] = {}
    vh, rh = V.header, R.header
    for tdef, key_fn, required in (
            (V, lambda v: (v.get(REF_ID), v.get(vh("actual_date")) or v.get(vh("planned_date")), v.get(vh("method"))),
             (vh("actual_date"), vh("planned_date"))),
            (R, lambda v: (v.get(REF_ID), v.get(rh("invoice_date")), round(v.get(rh("amount")) or 0, 2)),
             (rh("amount"),))):
        if not rows_by_table.get(tdef.name):
            continue  # nothing to import into this table (and the workbook's rows were not loaded)
        typed_key = {L.VISITS.name: lambda r: (r.customer_id, r.actual_date or r.planned_date, r.method),
                     L.RECEIVABLES.name: lambda r: (r.customer_id, r.invoice_date, round(r.amount or 0, 2))}[tdef.name]
        label = TABLE_LABEL[tdef.name]
        id_col = tdef.headers[0]
        existing: dict[str, _Record] = {}
        keys: dict[tuple, _Record] = {}
        typed = data.visits if tdef is L.VISITS else data.receivables
        for r in typed:  # the workbook's rows, already typed
            rec = _Record(None, {}, existing_index=r.row_index,
                          load=lambda r=r, tdef=tdef: {c.header: getattr(r, c.key) for c in tdef.columns
                                                       if not c.formula})
            if r.id:
                existing[normalize_id(r.id)] = rec
            keys[typed_key(r)] = rec
        ids = _next_ids([r.id for r in typed], tdef.id_prefix or "DR")
        new_rows: list[_Record] = []
        for sr in by_date(rows_by_table[tdef.name]):
            cid, why = link(sr)
            if cid is None:
                result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None, why))
                continue
            values = dict(sr.values)
            values.pop(LINK_NAME, None)
            values[REF_ID] = cid
            if tdef is R and not (values.get(rh("amount")) or 0) > 0:
                result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None,
                                               "; ".join(sr.notes + ["金额缺失或不大于 0"])))
                continue
            if tdef is R and not (values.get(rh("invoice_date")) or values.get(rh("due_date"))):
                result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None,
                                               "; ".join(sr.notes + ["缺少开票日期和到期日"])))
                continue
            if tdef is L.VISITS and not any(values.get(h) for h in required):
                result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, REJECTED, label, None,
                                               "; ".join(sr.notes + ["缺少拜访日期"])))
                continue
            rec = existing.get(normalize_id(values[id_col])) if values.get(id_col) else None
            rec = rec or keys.get(key_fn(values))
            if rec is not None:
                notes = _merge_into(rec, sr, {id_col, REF_ID, LINK_NAME})
                result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, MERGED, label,
                                               rec.values.get(id_col), "；".join(sr.notes + notes) or "已存在，无新信息"))
                continue
            if not values.get(id_col) or normalize_id(values[id_col]) in existing:
                values[id_col] = next(ids)
            if tdef is V and not values.get(vh("state")):
                values[vh("state")] = "已完成" if values.get(vh("actual_date")) else "待审批"
            rec = _Record(values, {h: (sr.info.date, _where(sr)) for h in values})
            existing[normalize_id(values[id_col])] = rec
            keys[key_fn(values)] = rec
            new_rows.append(rec)
            result.outcomes.append(Outcome(sr.info.file, sr.info.sheet, sr.row, NEW, label, values[id_col],
                                           "；".join(sr.notes) or "新增记录"))
        _collect(result.changes, tdef, new_rows, list(existing.values()) + list(keys.values()))
        appended[tdef.name] = [r.values for r in new_rows]
    _collect(result.changes, L.CUSTOMERS, new_customers, [r for rs in index.by_id.values() for r in rs]
             + [r for rs in index.by_name.values() for r in rs])

    result.data_changed = not result.changes.empty
    if result.data_changed:
        _add_cached_values(result.changes, data)
        result.changes.replace(L.IMPORT_LOG.name, [o.as_row(now) for o in result.outcomes] + [
            Outcome(f, "", None, REJECTED, "", None, f"无法读取：{why}").as_row(now) for f, why in result.unreadable])
        c = result.counts
        result.changes.status = (f"{now:%Y-%m-%d %H:%M} 导入历史档案：新增 {c[NEW]}，合并 {c[MERGED]}，"
                                 f"跳过 {c[SKIPPED]}，拒绝 {c[REJECTED]}，无法读取 {len(result.unreadable)} 个文件")
    return result


def _collect(changes: Changes, tdef: L.TableDef, new_rows: list[_Record], touched: list[_Record]) -> None:
    seen = set()
    for rec in touched:
        if rec.existing_index is None or id(rec) in seen or not rec.updates:
            continue
        seen.add(id(rec))
        for h, v in rec.updates.items():
            changes.set(tdef.name, rec.existing_index, h, v)
    if new_rows:
        changes.append(tdef.name, [r.values for r in new_rows])


def _add_cached_values(changes: Changes, data: BookData) -> None:
    """Formula columns of appended rows carry Python-computed cached values."""
    if changes.appends.get(L.CUSTOMERS.name):
        rows = changes.appends[L.CUSTOMERS.name]
        for row, extra in zip(rows, customer_values(rows, data.rules, data.settings)):
            row.update(extra)
    if changes.appends.get(L.RECEIVABLES.name):
        rows = changes.appends[L.RECEIVABLES.name]
        for row, extra in zip(rows, receivable_values(rows, data.as_of)):
            row.update(extra)
