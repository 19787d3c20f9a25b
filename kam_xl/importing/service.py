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

import contextlib
import datetime as dt
import os
import re
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .. import layout as L
from ..domain.names import next_ids, normalize_id, normalize_name
from ..workbook.reading import customer_values, receivable_values, survey_values
from ..domain.receivables import amount_faults, date_faults
from ..domain.values import same_amount
from ..store import ChangeSet, Snapshot
from . import cleaning as cl
from .mapping import guess_text
from .parsing import (MERGED, NEW, PARSE_CHILD, REJECTED, SKIPPED, TABLE_LABEL, FileParse, Outcome, SourceInfo,
                      SourceRow)
from .readers import UnreadableSource, expand_sources
from .sandbox import run_isolated
from ..workbook.outputs import write_csv
from .sheets import CUST_ID, CUST_NAME, LINK_NAME, REF_ID, C, R, V

CO, SU = L.COMPLAINTS, L.SURVEYS


@dataclass
class ImportResult:
    outcomes: list[Outcome] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    changes: ChangeSet = field(default_factory=ChangeSet)
    data_changed: bool = False
    notices: list = field(default_factory=list)  # what the store found in the master book
    suggested: Path | None = None  # --suggest-mapping: where the mapping went (nothing imported)
    mapping: list = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(o.outcome for o in self.outcomes)

    @property
    def has_problems(self) -> bool:
        return bool(self.unreadable) or self.counts[REJECTED] > 0

    def summary_lines(self) -> list[str]:
        if self.suggested is not None:
            return self._suggestion_lines()
        c = self.counts
        lines = [f"源数据 {len(self.outcomes)} 行：新增 {c[NEW]}，合并 {c[MERGED]}，跳过 {c[SKIPPED]}，拒绝 {c[REJECTED]}"]
        for s in self.sources:
            lines.append(f"  {s.file} [{s.sheet}] → {TABLE_LABEL[s.table]}，来源日期 {s.date:%Y-%m-%d}（{s.date_basis}）")
            lines.append("    已识别列：" + "，".join(f"{k}→{v}" for k, v in s.mapped.items()))
            if s.ignored:
                lines.append("    未使用列：" + "，".join(f"{h}（{s.hints[h]}）" if h in s.hints else guess_text(s.table, h)
                                                     for h in s.ignored)
                             + "（如需导入，用 --suggest-mapping 生成映射文件修改后再用 --mapping 导入）")
        for f, why in self.unreadable:
            lines.append(f"  无法读取 {f}：{why}")
        for o in self.outcomes:
            if o.outcome == REJECTED:
                lines.append(f"  拒绝 {o.file} [{o.sheet}] 第{o.row}行：{o.message}")
        lines += [n.line() for n in self.notices]
        if not self.data_changed:
            lines.append("没有需要写入的新数据，工作簿未改动")
        return lines

    def _suggestion_lines(self) -> list[str]:
        cols = [m for m in self.mapping if m.column]
        unknown = [m for m in cols if not m.field]
        sheets_ = {(m.file, m.sheet) for m in self.mapping}
        lines = [f"已写出导入映射（未导入任何内容）：{self.suggested}",
                 f"  {len(sheets_)} 个工作表，{len(cols)} 列：已识别 {len(cols) - len(unknown)} 列，未识别 {len(unknown)} 列"]
        for m in unknown:
            lines.append(f"  未识别 {m.file} [{m.sheet}] {m.column} 列“{m.header}”：{m.reason}")
        for m in self.mapping:
            if not m.column:
                lines.append(f"  {m.file} [{m.sheet}]：{m.reason}")
        for f, why in self.unreadable:
            lines.append(f"  无法读取 {f}：{why}")
        lines.append("在 Excel 中修改“字段”列（留空则不导入该列）后，用 --mapping 该文件 导入")
        return lines

    def write_csv(self, path: Path, book: Path | None = None) -> None:
        """The import report as a CSV (fields a spreadsheet would run as formulas
        neutralised; no more readable than the book)."""
        now = dt.datetime.now().replace(microsecond=0)
        rows = [o.as_row(now) for o in self.outcomes]
        rows += [Outcome(file, "", None, REJECTED, "", None, f"无法读取：{why}").as_row(now)
                 for file, why in self.unreadable]
        write_csv(path, L.IMPORT_LOG.headers, rows, book)


def resolve_code_columns(rows: list[SourceRow], index: "_Index") -> None:
    """A column whose words nobody listed but whose values are the archive's customer codes
    refers to the customer, whatever its header says (PRODUCT.md §7): per source sheet, the
    unknown code-shaped column most of whose values find exactly one customer (80%)."""
    by_info: dict[int, list[SourceRow]] = defaultdict(list)
    for sr in rows:
        if sr.codes:
            by_info[id(sr.info)].append(sr)
    for group in by_info.values():
        info = group[0].info
        best, share = None, 0.0
        for c in info.code_columns:
            vals = [sr.codes[c] for sr in group if c in sr.codes]
            if not vals:
                continue
            hits = sum(1 for v in vals if len(index.find(v, None)[0]) == 1)
            if hits / len(vals) > share:
                best, share = c, hits / len(vals)
        if best is None or share < 0.8:
            continue
        header = info.code_columns[best]
        info.mapped[f"{header}（按内容）"] = REF_ID
        if header in info.ignored:
            info.ignored.remove(header)
        for sr in group:
            if best in sr.codes and not sr.values.get(REF_ID):
                sr.values[REF_ID] = sr.codes[best]


# ---------------------------------------------------------------------------
class _Record:
    """A record being built: current values, where each value came from.

    A workbook row's values are only materialised when a source row merges into
    it (`load`), so 600k existing rows cost an index entry each, not a dict."""
    __slots__ = ("_values", "_load", "origin", "rid", "updates")

    def __init__(self, values: dict[str, Any] | None, origin: dict[str, tuple[dt.date, str]],
                 rid: int | None = None, load: Callable[[], dict[str, Any]] | None = None):
        self._values, self._load = values, load
        self.origin = origin                  # header → (source date, "file[sheet]第n行")
        self.rid = rid  # the workbook record's id, None when new
        self.updates: dict[str, Any] = {}

    @property
    def values(self) -> dict[str, Any]:
        if self._values is None:
            self._values, self._load = self._load(), None
        return self._values


_PREFIXED = re.compile(r"[A-Z]+(\d+)")


class _Index:
    """Customers by id (lost leading zeros tolerated: 00131 == 131), by every legacy code a
    source gave them, by normalised name, and last by the bare number of a prefixed id
    (a legacy 12 finds KH000012 when nothing else does)."""

    def __init__(self):
        self.by_id: dict[str, list[_Record]] = defaultdict(list)
        self.by_number: dict[str, list[_Record]] = defaultdict(list)
        self.by_name: dict[str, list[_Record]] = defaultdict(list)

    def add(self, rec: _Record, cid: str | None, name: str | None):
        self.add_keyed(rec, normalize_id(cid) if cid else None, normalize_name(name) if name else None)

    def add_keyed(self, rec: _Record, key: str | None, name_key: str | None):
        """add, the id and the name given normalised (None for none)."""
        if key is not None:
            same = self.by_id[key]
            if same and any(r is rec for r in same):  # the same code in another form (131, 00131)
                return
            same.append(rec)
            m = _PREFIXED.fullmatch(key)
            if m:
                self.by_number[m[1]].append(rec)
        if name_key is not None:
            self.by_name[name_key].append(rec)

    def find(self, cid: str | None, name: str | None) -> tuple[list[_Record], str]:
        return self.find_keyed(normalize_id(cid) if cid else "", normalize_name(name) if name else None)

    def find_keyed(self, key: str, name_key: str | None) -> tuple[list[_Record], str]:
        """find, the id given normalised ("" for none) and the name too (None for none)."""
        if key and self.by_id.get(key):
            return self.by_id[key], "编号"
        hits = self.by_name.get(name_key) if name_key is not None else None
        if hits:
            return hits, "名称"
        if key.isdigit() and self.by_number.get(key):
            return self.by_number[key], "编号"
        return [], "编号" if key else "名称" if name_key is not None else ""


def _where(sr: SourceRow) -> str:
    return f"{sr.info.file}[{sr.info.sheet}]第{sr.row}行"


def _fmt(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def _merge_into(rec: _Record, sr: SourceRow, skip: set[str]) -> tuple[list[str], list[str]]:
    """Merge a source row's values into a record; returns (the fields it filled, notes on
    every disagreement)."""
    notes: list[str] = []
    filled: list[str] = []
    for h, v in sr.values.items():
        if h in skip:
            continue
        cur = rec.values.get(h)
        if cur is None or cur == "":
            rec.values[h] = v
            rec.origin[h] = (sr.info.date, _where(sr))
            filled.append(h)
            if rec.rid is not None:
                rec.updates[h] = v
            continue
        if _same(cur, v):
            continue
        if rec.rid is not None:
            notes.append(f"{h}：保留工作簿现值“{_fmt(cur)}”，来源值“{_fmt(v)}”未采用")
            continue
        when, where = rec.origin.get(h, (dt.date.min, "?"))
        if sr.info.date >= when:
            notes.append(f"{h}：“{_fmt(cur)}”（{where}）被较新来源覆盖为“{_fmt(v)}”")
            rec.values[h] = v
            rec.origin[h] = (sr.info.date, _where(sr))
        else:
            notes.append(f"{h}：来源值“{_fmt(v)}”较旧，保留较新来源（{where}）的“{_fmt(cur)}”")
    return filled, notes


def _same(a: Any, b: Any) -> bool:
    if a == b:  # the common case, a value the archive already holds (equal is the same on every path below)
        return True
    if isinstance(a, dt.datetime):
        a = a.date()
    if isinstance(b, dt.datetime):
        b = b.date()
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return same_amount(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return cl.nfkc(a) == cl.nfkc(b)
    return a == b


# ---------------------------------------------------------------------------
@dataclass
class ParsedSources:
    """Every source file read and every row cleaned, before any matching."""
    result: ImportResult
    rows_by_table: dict[str, list[SourceRow]]
    mapping: list = field(default_factory=list)  # mapping.Line per source column (--suggest-mapping)

    @property
    def tables(self) -> set[str]:
        """The master tables the sources have rows for (the workbook tables a merge needs)."""
        return {t for t, rows in self.rows_by_table.items() if rows}


def parse_sources(paths: list[Path], progress=None, mapping=None) -> ParsedSources:
    """Read every source file and classify every row of every sheet; data rows are kept
    per master table, the rest are reported.  `mapping` (a mapping file the user edited)
    decides the header, table and columns of the sheets it names.  Each file is read and
    classified in a sandbox child of its own (sandbox.py), PARSERS of them at a time but never
    two of BIG_SOURCE or more; what they give is taken in the files' order."""
    result = ImportResult()
    rows_by_table: dict[str, list[SourceRow]] = defaultdict(list)
    lines: list = []
    files = expand_sources(paths)
    big = [order for order, (path, _) in enumerate(files) if _size(path) >= BIG_SOURCE]
    is_big = set(big)
    alone = threading.Lock()  # held by a big file's child while it reads
    with ThreadPoolExecutor(max(1, min(PARSERS, len(files))), thread_name_prefix="kam-parse") as pool:
        parsing: list = [None] * len(files)
        # the first big file begun at once, the small ones beside it, the other big ones last (each
        # waits for the one before it): no two big files' children at once, no small file kept waiting
        for order in _start_order(len(files), big):
            path, root = files[order]
            parsing[order] = pool.submit(_parse_one, path, root, order, mapping,
                                         alone if order in is_big else contextlib.nullcontext())
        for order, ((path, root), one) in enumerate(zip(files, parsing)):
            try:
                got = one.result()
            except BaseException:  # (an interrupt): the files not begun are not read
                for later in parsing:
                    later.cancel()
                raise
            if isinstance(got, str):
                result.unreadable.append((path.name, got))
                continue
            result.outcomes += got.outcomes
            result.sources += got.sources
            result.unreadable += got.unreadable
            for table, rows in got.rows.items():
                rows_by_table[table].extend(rows)
            lines += got.lines
            if progress:
                progress.update(order + 1, len(files), path.name)
    return ParsedSources(result, rows_by_table, lines)


# source files read at a time, each by its own child: a folder of fifty small files is mostly
# the children's starts, one core each (a big file's child reads its second half in a fork)
PARSERS = min(2, os.cpu_count() or 1)
# a source file this big on disk is read with no other as big beside it: its child may grow to
# its memory cap (sandbox.MEMORY_LIMIT; 100,000 rows of CSV, 6 MB, take 210 MB, a workbook's
# cells several times their packed size), and two such children at once would hold twice what
# either file needs, on a user's machine with Excel open beside it
BIG_SOURCE = 16 << 20


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # (its child says why it cannot be read)


def _start_order(n: int, big: list[int]) -> list[int]:
    """The order the files' reads are begun in: the first big one, every small one, the other big
    ones (what they give is still taken in the files' order)."""
    is_big = set(big)
    return big[:1] + [k for k in range(n) if k not in is_big] + big[1:]


def _parse_one(path: Path, root: Path | None, order: int, mapping, alone) -> FileParse | str:
    """One source file read by its sandbox child: what it gives, or why it could not be read.
    `alone`: held while the child reads (a big file's: no other big file is read meanwhile)."""
    try:
        with alone:
            got = run_isolated(path, root, PARSE_CHILD, (order, mapping))
    except UnreadableSource as e:
        return str(e)
    except Exception as e:  # a reader bug or an exotic file must not stop the others
        return f"读取失败（{type(e).__name__}）"
    if not isinstance(got, FileParse):  # the child answers with a FileParse or why not, nothing else
        return "读取失败（读取程序的结果无法识别）"
    return got


def parse_while_loading(store, paths: list[Path], needs_of: Callable[[Iterable[str]], Any], progress=None,
                        mapping=None) -> tuple[Snapshot, ParsedSources]:
    """The sources read and classified in their sandbox children while this process reads
    the master's customers and rules (what every import needs: needs_of(no tables)); a
    source with visits, invoices, complaints or surveys makes a second read with those
    tables too.  A source's error comes first, as when the two were read one after the other."""
    with ThreadPoolExecutor(1, thread_name_prefix="kam-sources") as pool:
        parsing = pool.submit(parse_sources, paths, progress, mapping)
        first = needs_of(())
        try:
            data = store.load(first)
        except BaseException:
            parsing.result()  # raises the sources' own error, if any, before the book's
            raise
        parsed = parsing.result()
    needs = needs_of(parsed.tables)
    if set(needs.tables) != set(first.tables):
        del data  # the first read goes before the second is made
        data = store.load(needs)
    return data, parsed


# ---------------------------------------------------------------------------
# Merging: match customers, link visits and receivables, resolve, report
def _by_date(rows: list[SourceRow]) -> list[SourceRow]:
    return sorted(rows, key=lambda s: (s.info.date, s.order, s.row))


def _outcome(sr: SourceRow, outcome: str, table: str, record_id: str | None, *messages: str) -> Outcome:
    text = "；".join(m for m in [*sr.notes, *messages] if m)
    return Outcome(sr.info.file, sr.info.sheet, sr.row, outcome, TABLE_LABEL[table], record_id, text)


def _merged_text(how: str, filled: list[str]) -> str:
    return f"按{how}匹配，补充：{'、'.join(filled)}" if filled else f"按{how}匹配，无新信息"


def index_customers(data: Snapshot) -> tuple[_Index, Iterator[str], set[str]]:
    """The workbook's customers by id, legacy number and name; the ids still free."""
    index = _Index()
    for c in data.customers:
        index.add(_Record(None, {}, rid=c.rid, load=lambda c=c: _with_dates(data.customer_extra(c))), c.id, c.name)
    # (the normalised ids are the index's keys so far: every customer with an id was added by it)
    return index, next_ids([c.id for c in data.customers], L.CUSTOMERS.id_prefix), set(index.by_id)


def _with_dates(row: dict[str, Any]) -> dict[str, Any]:
    """A workbook row's values (a copy), its date-times as dates."""
    out = dict(row)
    for h, v in row.items():
        if isinstance(v, dt.datetime):
            out[h] = v.date()
    return out


SKIP_CUSTOMER_COLUMNS = {C.header("tier"), C.header("graded_on"), C.header("suggested_tier")}  # regrade's


def archive_width(codes) -> int | None:
    """The width of the archive's numeric codes when it writes them zero-padded (00131,
    00245 …): the one length of its digit-only codes that start with 0, when no digit-only
    code is longer.  None when the archive has no such convention."""
    digits = [c for c in codes if isinstance(c, str) and c.isdigit()]
    padded = Counter(len(c) for c in digits if c.startswith("0") and len(c) >= 3)
    if not padded:
        return None
    width, n = padded.most_common(1)[0]
    if n * 10 < 9 * sum(padded.values()) or any(len(c) > width for c in digits):
        return None
    return width


def archive_form(cid: str | None, width: int | None) -> str | None:
    """A code in the archive's own form: 131 → 00131 where the archive pads to five digits."""
    if cid and width and cid.isdigit() and len(cid) < width:
        return cid.zfill(width)
    return cid


def match_customers(rows: list[SourceRow], index: _Index, free_ids: Iterator[str], used_ids: set[str],
                    result: ImportResult, existing: Iterable[str] = ()) -> list[_Record]:
    """Source customer rows merged into the customer they match (by id or name), or new;
    a name matching several customers is rejected, never guessed.  Returns the new ones.
    A new customer's code is kept in the archive's own form: where the archive pads its
    codes (00131) and a file lost the zeros (131), the padded form."""
    new: list[_Record] = []
    table = L.CUSTOMERS.name
    width = archive_width([*existing, *(sr.values.get(CUST_ID) for sr in rows)])
    for sr in _by_date(rows):
        cid, name = sr.values.get(CUST_ID), sr.values.get(CUST_NAME)
        if not cid and not name:
            result.outcomes.append(_outcome(sr, REJECTED, table, None, "缺少客户名称和客户编号，无法识别客户"))
            continue
        key = normalize_id(cid) if cid else ""
        name_key = normalize_name(name) if name else None
        hits, how = index.find_keyed(key, name_key)
        if len(hits) > 1:
            result.outcomes.append(_outcome(sr, REJECTED, table, None,
                                            f"客户{how}“{cid if how == '编号' else name}”对应 {len(hits)} 个客户，无法确定合并对象"))
            continue
        if hits:
            rec = hits[0]
            filled, notes = _merge_into(rec, sr, SKIP_CUSTOMER_COLUMNS | {CUST_ID})
            if how == "编号" and name and rec.values.get(CUST_NAME) and \
                    name_key != normalize_name(rec.values[CUST_NAME]):
                notes.append(f"名称“{name}”与按编号匹配到的客户“{rec.values[CUST_NAME]}”不一致，请核对")
            if cid and key != normalize_id(rec.values.get(CUST_ID)):
                index.add(rec, cid, None)  # its legacy code: visits and invoices may name it so
            elif rec.rid is None and cid and len(cid) > len(rec.values.get(CUST_ID) or "") \
                    and cid.startswith("0"):  # the same code with the zeros another file lost
                notes.append(f"客户编号采用档案的原格式“{cid}”（另一来源写作“{rec.values.get(CUST_ID)}”）")
                rec.values[CUST_ID] = cid
            result.outcomes.append(_outcome(sr, MERGED, table, rec.values.get(CUST_ID), _merged_text(how, filled),
                                            *notes))
            continue
        if not name:
            result.outcomes.append(_outcome(sr, REJECTED, table, None,
                                            f"客户编号“{cid}”在工作簿中不存在，且缺少客户名称，无法建档"))
            continue
        values = {h: v for h, v in sr.values.items() if h not in SKIP_CUSTOMER_COLUMNS}
        padded = archive_form(cid, width)
        if padded != cid:
            values[CUST_ID] = padded
            sr.notes.append(f"客户编号“{cid}”按档案的编号格式写作“{padded}”（源文件丢了前导零）")
        if not cid or key in used_ids:
            values[CUST_ID] = next(free_ids)
        new_key = key if values[CUST_ID] == cid else normalize_id(values[CUST_ID])
        used_ids.add(new_key)
        came = (sr.info.date, _where(sr))
        rec = _Record(values, {h: came for h in values})
        new.append(rec)
        index.add_keyed(rec, new_key, name_key)
        if cid and cid != values[CUST_ID]:
            index.add(rec, cid, None)  # the legacy code still finds it (visits, invoices)
        result.outcomes.append(_outcome(sr, NEW, table, values[CUST_ID], "新建客户档案"))
    return new


def link_customer(sr: SourceRow, index: _Index) -> tuple[str | None, str | None]:
    """The customer a visit or an invoice belongs to, by id (lost leading zeros and a
    legacy number tolerated) or by name — never a new one."""
    cid, name = sr.values.get(REF_ID), sr.values.get(LINK_NAME)
    if not cid and not name and sr.codes:
        cols = "、".join(f"“{sr.info.code_columns[c]}”{v}" for c, v in sr.codes.items())
        return None, f"没有客户名称或编号列；未识别的列中的编号（{cols}）不是档案中的客户编号，无法关联客户"
    if not cid and not name:
        return None, "缺少客户编号和客户名称，无法关联客户"
    hits, how = index.find(cid, name)
    if not hits:
        return None, (f"找不到客户（{'编号' if cid else '名称'}：{cid or name}）：拜访、应收、投诉和满意度调查都不会新建客户，"
                      f"请先导入或建立客户档案")
    if len(hits) > 1:
        return None, f"客户{how}“{cid if how == '编号' else name}”对应 {len(hits)} 个客户，无法确定"
    return hits[0].values.get(CUST_ID), None


@dataclass(frozen=True)
class ChildSpec:
    """How one child table (visits, receivables) is imported."""
    table: L.TableDef
    source_key: Callable[[dict[str, Any]], tuple]   # a source row's identity without an id
    record_key: Callable[[Any], tuple]              # the same of a workbook record
    refuse: Callable[[dict[str, Any]], str | None]  # why a linked row cannot be imported
    defaults: Callable[[dict[str, Any]], None] = lambda values: None


def _refuse_visit(v: dict[str, Any]) -> str | None:
    if not (v.get(V.header("actual_date")) or v.get(V.header("planned_date"))):
        return "缺少拜访日期"
    return None


def _refuse_receivable(v: dict[str, Any]) -> str | None:
    amount, paid = v.get(R.header("amount")), v.get(R.header("paid"))
    inv, due = v.get(R.header("invoice_date")), v.get(R.header("due_date"))
    # the validator's rules (domain/receivables.py), in the words of an import
    for rule, _ in amount_faults(amount if isinstance(amount, (int, float)) else None,
                                 paid if isinstance(paid, (int, float)) else None):
        if rule == "RECV-AMOUNT-INVALID":
            return "金额缺失或不大于 0"
        if paid < 0:
            return f"已回款 {_fmt(paid)} 为负数，请核对"
        return f"已回款 {_fmt(paid)} 大于金额 {_fmt(amount)}（多收部分应另行登记），请核对"
    if not (inv or due):
        return "缺少开票日期和到期日"
    if date_faults(inv, due):
        return f"到期日 {_fmt(due)} 早于开票日期 {_fmt(inv)}，请核对"
    return None


def _visit_defaults(v: dict[str, Any]) -> None:
    if not v.get(V.header("state")):
        v[V.header("state")] = L.DONE if v.get(V.header("actual_date")) else L.PENDING


VISIT_SPEC = ChildSpec(
    V, lambda v: (v.get(REF_ID), v.get(V.header("actual_date")) or v.get(V.header("planned_date")),
                  v.get(V.header("method"))),
    lambda r: (r.customer_id, r.actual_date or r.planned_date, r.method), _refuse_visit, _visit_defaults)
RECEIVABLE_SPEC = ChildSpec(
    R, lambda v: (v.get(REF_ID), v.get(R.header("invoice_date")), round(v.get(R.header("amount")) or 0, 2)),
    lambda r: (r.customer_id, r.invoice_date, round(r.amount or 0, 2)), _refuse_receivable)
def _refuse_complaint(v: dict[str, Any]) -> str | None:
    if not v.get(CO.header("date")):
        return "缺少投诉日期"
    if not (v.get(CO.header("content")) or v.get(CO.header("kind"))):
        return "缺少投诉内容和类别"
    return None


def _complaint_defaults(v: dict[str, Any]) -> None:
    if not v.get(CO.header("state")):  # a logged complaint is open until the log says otherwise
        v[CO.header("state")] = L.COMPLAINT_RESOLVED if v.get(CO.header("resolved_on")) else L.COMPLAINT_OPEN[0]


def _refuse_survey(v: dict[str, Any]) -> str | None:
    if not v.get(SU.header("date")):
        return "缺少调查（回访）日期"
    if not any(v.get(SU.header(k)) is not None for k in L.SCORE_KEYS):
        return "没有任何一项评分"
    return None


COMPLAINT_SPEC = ChildSpec(
    CO, lambda v: (v.get(REF_ID), v.get(CO.header("date")), str(v.get(CO.header("content")) or "")[:40]),
    lambda r: (r.customer_id, r.date, str(r.content or "")[:40]), _refuse_complaint, _complaint_defaults)
SURVEY_SPEC = ChildSpec(
    SU, lambda v: (v.get(REF_ID), v.get(SU.header("date")), v.get(SU.header("method"))),
    lambda r: (r.customer_id, r.date, r.method), _refuse_survey)
# complaints and surveys are legacy data too (§7, §10): they link to existing customers and
# never create one — a shop that complained is not a customer, a complainer not a contact
CHILDREN = (VISIT_SPEC, RECEIVABLE_SPEC, COMPLAINT_SPEC, SURVEY_SPEC)


def link_children(spec: ChildSpec, rows: list[SourceRow], records: list, index: _Index,
                  result: ImportResult) -> tuple[list[_Record], list[_Record]]:
    """A child table's source rows linked to their customer, merged into the workbook row
    they repeat (same id, or same customer, date and amount/method) or new.
    Returns (new records, workbook records touched)."""
    tdef, name = spec.table, spec.table.name
    id_col = tdef.headers[0]
    existing: dict[str, _Record] = {}
    keys: dict[tuple, _Record] = {}
    for r in records:  # the workbook's rows, already typed
        rec = _Record(None, {}, rid=r.rid,
                      load=lambda r=r: {c.header: getattr(r, c.key) for c in tdef.columns if not c.formula})
        if r.id:
            existing[normalize_id(r.id)] = rec
        keys[spec.record_key(r)] = rec
    ids = next_ids([r.id for r in records], tdef.id_prefix or "DR")
    new: list[_Record] = []
    for sr in _by_date(rows):
        cid, why = link_customer(sr, index)
        if cid is None:
            result.outcomes.append(_outcome(sr, REJECTED, name, None, why))
            continue
        values = dict(sr.values)
        values.pop(LINK_NAME, None)
        values[REF_ID] = cid
        why = spec.refuse(values)
        if why:
            result.outcomes.append(_outcome(sr, REJECTED, name, None, why))
            continue
        rec = existing.get(normalize_id(values[id_col])) if values.get(id_col) else None
        rec = rec or keys.get(spec.source_key(values))
        if rec is not None:
            filled, notes = _merge_into(rec, sr, {id_col, REF_ID, LINK_NAME})
            text = f"已存在，补充：{'、'.join(filled)}" if filled else "已存在，无新信息"
            result.outcomes.append(_outcome(sr, MERGED, name, rec.values.get(id_col), text, *notes))
            continue
        if not values.get(id_col) or normalize_id(values[id_col]) in existing:
            values[id_col] = next(ids)
        spec.defaults(values)
        came = (sr.info.date, _where(sr))
        rec = _Record(values, {h: came for h in values})
        existing[normalize_id(values[id_col])] = rec
        keys[spec.source_key(values)] = rec
        new.append(rec)
        result.outcomes.append(_outcome(sr, NEW, name, values[id_col], "新增记录"))
    return new, list(existing.values()) + list(keys.values())


def import_report(result: ImportResult, data: Snapshot, appended: dict[str, list[dict]], now: dt.datetime) -> None:
    """The 导入报告 table, the status line and the appended rows with their cached values."""
    result.data_changed = not result.changes.empty or any(appended.values())
    if not result.data_changed:
        return
    _add_cached_values(appended, data)
    for name, rows in appended.items():  # fresh dicts: the change set keeps them as they are
        result.changes.add_many(name, (to_keys(L.TABLES[name], r) for r in rows), owned=True)
    result.changes.replace(L.IMPORT_LOG.name, [o.as_keys(now) for o in result.outcomes] + [
        Outcome(f, "", None, REJECTED, "", None, f"无法读取：{why}").as_keys(now)
        for f, why in result.unreadable], owned=True)
    c = result.counts
    result.changes.status = (f"{now:%Y-%m-%d %H:%M} 导入历史档案：新增 {c[NEW]}，合并 {c[MERGED]}，"
                             f"跳过 {c[SKIPPED]}，拒绝 {c[REJECTED]}，无法读取 {len(result.unreadable)} 个文件")


def merge_sources(data: Snapshot, parsed: ParsedSources, now: dt.datetime | None = None) -> ImportResult:
    """Parsed sources into the workbook: match customers, link visits and receivables,
    collect the changes, write the report."""
    now = now or dt.datetime.now().replace(microsecond=0)
    result, rows_by_table = parsed.result, parsed.rows_by_table
    index, free_ids, used_ids = index_customers(data)
    appended: dict[str, list[dict]] = {}
    new_customers = match_customers(rows_by_table[L.CUSTOMERS.name], index, free_ids, used_ids, result,
                                    (c.id for c in data.customers))
    for spec in CHILDREN:
        rows = rows_by_table.get(spec.table.name)
        if not rows:
            continue  # nothing to import into this table (and the workbook's rows were not loaded)
        resolve_code_columns(rows, index)
        records = data.records_of(spec.table.name)
        if records is None:  # a book made before the table existed
            for sr in rows:
                result.outcomes.append(_outcome(sr, REJECTED, TABLE_LABEL[spec.table.name], None,
                                                f"工作簿中没有“{spec.table.sheet}”表，无法导入（请用新版本建立的主工作簿）"))
            continue
        new, touched = link_children(spec, rows, records, index, result)
        _collect(result.changes, appended, spec.table, new, touched)
    _collect(result.changes, appended, L.CUSTOMERS, new_customers, [r for rs in index.by_id.values() for r in rs]
             + [r for rs in index.by_name.values() for r in rs])
    import_report(result, data, appended, now)
    return result


def to_keys(tdef: L.TableDef, row: dict[str, Any]) -> dict[str, Any]:
    """A row by header → by layout key (a user's own column keeps its label)."""
    keys = _KEYS.get(tdef.name)
    if keys is None:
        keys = _KEYS[tdef.name] = {c.header: c.key for c in tdef.columns}
    return {keys.get(h, h): v for h, v in row.items()}


_KEYS: dict[str, dict[str, str]] = {}


def _collect(changes: ChangeSet, appended: dict[str, list[dict]], tdef: L.TableDef, new_rows: list[_Record],
             touched: list[_Record]) -> None:
    seen = set()
    keys = {c.header: c.key for c in tdef.columns}
    for rec in touched:
        if rec.rid is None or id(rec) in seen or not rec.updates:
            continue
        seen.add(id(rec))
        for h, v in rec.updates.items():
            changes.update(tdef.name, rec.rid, keys.get(h, h), v)
    if new_rows:
        appended.setdefault(tdef.name, []).extend(r.values for r in new_rows)


def _add_cached_values(appended: dict[str, list[dict]], data: Snapshot) -> None:
    """Formula columns of appended rows carry Python-computed cached values."""
    for table, values in ((L.CUSTOMERS.name, lambda rows: customer_values(rows, data.rules, data.settings)),
                          (L.RECEIVABLES.name, lambda rows: receivable_values(rows, data.as_of)),
                          (L.SURVEYS.name, survey_values)):
        rows = appended.get(table)
        if rows:
            for row, extra in zip(rows, _in_two_processes(values, rows, data.parallel)):
                row.update(extra)


CACHED_SPLIT = 20_000  # appended rows from which their cached values are computed in two processes


def _in_two_processes(values: Callable[[list], list], rows: list, fork) -> list:
    """values(rows), each row's own: the second half computed meanwhile in a second process, by
    `fork` (the store's: Snapshot.parallel), where the store offers one."""
    if len(rows) < CACHED_SPLIT or fork is None:
        return values(rows)
    mid = len(rows) // 2
    other = fork(lambda: values(rows[mid:]))
    try:
        first = values(rows[:mid])
    except BaseException:
        other.cancel()
        raise
    return first + other.result()


