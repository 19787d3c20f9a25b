"""The actions, on any Store (file or live Excel).  A macro or a CLI command calls
exactly one of these.  Each action declares what it reads (its Needs, next to it), asks
the store for it, computes with the domain and hands its ChangeSet back to the store in
one step — how the store reads and writes is its own business:

    with store:
        data = store.load(NEEDS)
        result = compute(data)
        store.apply(result.changes)

`store` is anything that keeps the store protocol (store/protocol.py): the file store,
the live Excel book, MemoryStore.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Iterable

from .. import layout as L
from ..domain.names import find_customer
from ..domain.procedures import by_customer, latest_application
from ..errors import BadArgument
from ..importing.mapping import read_mapping, write_mapping
from ..importing.readers import expand_sources
from ..importing.service import ImportResult, merge_sources, parse_sources, parse_while_loading
from ..reports.periods import meeting_month
from ..reports.card import build_card, write_card
from ..reports.forms import write_form
from ..reports.pdf import soffice, to_pdf
from ..store import EVERYTHING, LAST_VISITS, ChangeSet, Needs, Read
from ..store.protocol import Store
from ..workbook.outputs import safe_name_part, write_output
from .checks import refuse_unusable_rules
from .credit import calculators
from .typed_rows import assign_ids
from .regrade import BESIDE as REGRADE_BESIDE, RegradeResult, regrade
from .validate import BESIDE as VALIDATE_BESIDE, ValidationReport, validate

C, V, R = L.CUSTOMERS, L.VISITS, L.RECEIVABLES
PROCEDURES = {n: Read(optional=True) for n in (L.CERTIFICATIONS.name, L.COMPLAINTS.name, L.SURVEYS.name)}


def _where(store) -> object:
    """The book an action runs on, for its messages."""
    return getattr(store, "path", None) or getattr(getattr(store, "book", None), "name", None)


class _Quiet:
    def step(self, text: str) -> None:
        pass


# -- 重新分级 --------------------------------------------------------------------------
# grading, derived credit and visit frequency; of the customers also every column the
# rules' 附加条件 name (user columns included), their rows kept for the conditions
REGRADE_NEEDS = Needs({
    C.name: Read(keys=("id", "name", "volume", "credit", "margin", "growth", "tier", "derived_credit"),
                 conditions=True, rows=True),
    V.name: Read(keys=("customer_id", "actual_date", "state"), records=False),
    R.name: Read(keys=("customer_id", "invoice_date", "amount", "due_date", "paid", "paid_date"),
                 window="invoice_date", stream=True, order="customer_id"),
    L.TIER_RULES.name: EVERYTHING,
}, views=frozenset({LAST_VISITS}), beside=REGRADE_BESIDE)  # the second half of the customers graded beside


def regrade_book(store: Store, operator: str, as_of: dt.date | None = None,
                 dry_run: bool = False, progress=None) -> RegradeResult:
    progress = progress or _Quiet()
    with store:
        progress.step("读取工作簿")
        data = store.load(REGRADE_NEEDS, as_of)
        refuse_unusable_rules(data, _where(store), as_of is not None)
        typed = ChangeSet()
        assign_ids(data, typed)  # typed rows get their ids before grading: the log names them
        progress.step("计算等级")
        res = regrade(data, operator)
        res.changes.merge(typed)
        del data  # the book's records are freed before the write
        if not dry_run:
            progress.step("写入")
            res.store_notes = store.apply(res.changes)
    return res


# -- 全面校验 --------------------------------------------------------------------------
# every column is read and typed (a bad cell anywhere is a finding); the records keep what the
# checks use (smaller records: the 100k book's peak stays under 1 GB)
VALIDATE_NEEDS = Needs({
    C.name: Read(keep=("id", "name", "status", "tier", "staff", "manager", "credit", "financial", "attitude",
                       "volume", "margin", "growth", "derived_credit",
                       "confidentiality", "cost_level", "agreement_type", "agreement_no", "agreement_expiry",
                       "satisfaction")),
    V.name: Read(keep=("id", "customer_id", "state", "planned_date", "place", "staff", "attendee", "purpose",
                       "content", "expected", "outcome", "actual_date", "dept_approval", "exec_approval"),
                 stream=True),
    R.name: Read(keep=("id", "customer_id", "invoice_date", "amount", "due_date", "paid", "paid_date",
                       "dunning_level"), stream=True, order="customer_id"),
    L.TIER_RULES.name: EVERYTHING,
    L.CERTIFICATIONS.name: Read(optional=True, keep=("id", "customer_id", "applied_on", "general_date",
                                                     "general_result", "field_date", "field_staff", "field_result",
                                                     *L.PRINCIPLES, "dept_approval", "exec_approval", "approved_on",
                                                     "result"), stream=True, order="customer_id"),
    L.COMPLAINTS.name: Read(optional=True, keep=("id", "customer_id", "due", "state", "resolved_on", "level",
                                                 "handler", "confirmation")),
    L.SURVEYS.name: Read(optional=True, keep=("id", "customer_id", "date", *L.SCORE_KEYS), stream=True,
                         order="customer_id"),
}, views=frozenset({LAST_VISITS}), beside=VALIDATE_BESIDE)  # the customers' own checks beside the visits' load


def validate_book(store: Store, as_of: dt.date | None = None, dry_run: bool = False,
                  progress=None) -> ValidationReport:
    progress = progress or _Quiet()
    with store:
        progress.step("读取工作簿")
        data = store.load(VALIDATE_NEEDS, as_of)
        typed = ChangeSet()
        assign_ids(data, typed)
        report = validate(data)
        report.changes.merge(typed)
        report.placed = store.locate(report.report.sorted())
        del data
        if not dry_run:
            progress.step("写入")
            store.apply(report.changes)
    return report


# -- 生成报表 --------------------------------------------------------------------------
MEETING_AUTO = "auto"
# the report counts visits by staff, state and planned date; the meeting pack also reads
# visit and payment dates, results, plans — every column
REPORT_NEEDS = Needs({
    C.name: Read(keys=("id", "satisfaction", "name", "tier", "manager", "staff", "status", "volume", "created_on")),
    R.name: Read(keys=("customer_id", "id", "invoice_date", "amount", "due_date", "paid", "paid_date", "collector"),
                 stream=True),
    V.name: Read(keys=("id", "customer_id", "planned_date", "staff", "state"), stream=True),
    L.TIER_RULES.name: EVERYTHING, L.GRADE_LOG.name: EVERYTHING,
    L.CERTIFICATIONS.name: Read(optional=True, keys=("customer_id", "result", "approved_on"), stream=True),
    L.COMPLAINTS.name: Read(optional=True, keys=("id", "customer_id", "date", "state", "resolved_on", "level",
                                                 "handler", "kind", "content", "due")),
    L.SURVEYS.name: Read(optional=True, keys=("customer_id", "date", *L.SCORE_KEYS), stream=True),
})
MEETING_NEEDS = Needs({**{n: EVERYTHING for n in REPORT_NEEDS.tables}, **PROCEDURES}, views=frozenset({LAST_VISITS}))


class ReportFiles(list):
    """The files a report wrote, and what the store found in the book on the way."""

    def __init__(self, paths, notices=()):
        super().__init__(paths)
        self.notices = list(notices)


def report_book(store: Store, book_path: Path, out: str | None = None,
                as_of: dt.date | None = None, pdf: bool = False, month: str | None = None) -> ReportFiles:
    """The management report; with `month` (YYYY-MM, or MEETING_AUTO: the month a meeting on the
    as-of date looks back on) also the monthly meeting pack."""
    # the report's builders (pandas: a fifth of a second to import) are loaded when a report is
    # made, not by every command that imports the actions
    from ..reports.service import build_report, report_needs
    with store:
        # the report's passes over the visits and the invoices begun while the rest loads, where the store can
        data = store.load(report_needs(MEETING_NEEDS if month else REPORT_NEEDS), as_of)
        refuse_unusable_rules(data, _where(store), as_of is not None)
        if month == MEETING_AUTO:
            month = meeting_month(data.as_of)
        return ReportFiles(build_report(data, book_path, out, pdf, month), notices=data.all_notices())


# -- 客户认定申请表 ---------------------------------------------------------------------
FORM_NEEDS = Needs({C.name: EVERYTHING, L.CERTIFICATIONS.name: Read(optional=True)})


def form_book(store: Store, book_path: Path, customer_id: str, out: str | None = None,
              pdf: bool = True) -> list[Path]:
    """The printable 客户认定申请表 of one customer (xlsx, and PDF when LibreOffice is there)."""
    with store:
        data = store.load(FORM_NEEDS)
    customer, why = find_customer(data.customers, customer_id)
    if customer is None:
        raise BadArgument(None, f"{why}（工作簿“{book_path}”）", f"no customer '{customer_id}' in '{book_path}'")
    app = latest_application(by_customer(data.certifications or ()).get(customer.id, []))
    folder = Path(out) if out else Path(book_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = write_output(folder / f"客户认定申请表_{safe_name_part(customer.id or customer.name)}.xlsx",
                        lambda tmp: write_form(tmp, customer, app),
                        book=Path(book_path))
    return with_pdf(path, pdf)


# -- 客户档案卡 -----------------------------------------------------------------------
CARD_NEEDS = Needs({C.name: Read(rows=True), V.name: EVERYTHING, R.name: EVERYTHING, L.TIER_RULES.name: EVERYTHING,
                    L.GRADE_LOG.name: EVERYTHING, **PROCEDURES})


def card_book(store: Store, book_path: Path, customer: str, out: str | None = None,
              pdf: bool = True, as_of: dt.date | None = None) -> "ReportFiles":
    """The printable 客户档案卡 of one customer, by id or name (xlsx, and PDF with LibreOffice)."""
    with store:
        data = store.load(CARD_NEEDS, as_of)
        refuse_unusable_rules(data, _where(store), as_of is not None)  # the card shows the tier and why
    found, why = find_customer(data.customers, customer)
    if found is None:
        raise BadArgument(None, f"{why}（工作簿“{book_path}”）", f"no customer '{customer}' in '{book_path}'")
    card = build_card(data, found)
    folder = Path(out) if out else Path(book_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = write_output(folder / f"客户档案卡_{safe_name_part(found.id or found.name)}.xlsx",
                        lambda tmp: write_card(tmp, card, data.as_of), book=Path(book_path))
    return with_pdf(path, pdf)


PDF_MISSING = ("未安装 LibreOffice（soffice），未生成 PDF（xlsx 已生成）：安装 LibreOffice Calc 后重新运行即可得到 PDF"
               " / LibreOffice is not installed: no PDF written (the xlsx is)")


def with_pdf(path: Path, pdf: bool) -> "ReportFiles":
    """The xlsx, and its PDF when asked for and LibreOffice is there; when it is not, a
    notice says so — never a silent skip."""
    outs = ReportFiles([path])
    if pdf:
        if soffice() is None:
            outs.notices.append(PDF_MISSING)
        else:
            outs.append(to_pdf(path))
    return outs


# -- 导入历史档案 -----------------------------------------------------------------------
def import_needs(sources_have: Iterable[str]) -> Needs:
    """The book's customers and rules; its visits and receivables only when the sources have some."""
    have = set(sources_have)
    return Needs({C.name: Read(rows=True), L.TIER_RULES.name: EVERYTHING,
                  **{n: EVERYTHING for n in (V.name, R.name) if n in have},
                  **{n: Read(optional=True) for n in (L.COMPLAINTS.name, L.SURVEYS.name) if n in have}})


def import_book(store: Store, sources: Iterable[str | Path], dry_run: bool = False,
                report_path: str | None = None, progress=None, mapping: str | Path | None = None,
                suggest: str | Path | None = None) -> ImportResult:
    """导入历史档案.  `mapping`: a mapping file the user edited (its sheets read as it says);
    `suggest`: write the mapping the import would use to this file and import nothing."""
    paths = [Path(s) for s in sources]
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:  # a mistyped name: nothing is read, nothing written (PRODUCT.md §8: exit 2)
        raise BadArgument(None, "找不到要导入的文件或文件夹：" + "、".join(missing) + "，未导入任何内容",
                          "no such import source: " + ", ".join(missing) + "; nothing imported")
    if not expand_sources(paths):
        raise BadArgument(None, "所给的文件夹中没有可导入的文件（支持 xls、xlsx、xlsm、ods、csv、txt、网页表格）："
                          + "、".join(map(str, paths)), "no importable file in " + ", ".join(map(str, paths)))
    plan = read_mapping(Path(mapping)) if mapping else None
    if suggest:
        parsed = parse_sources(paths, progress=progress, mapping=plan)
        result = parsed.result
        result.suggested = write_mapping(Path(suggest), parsed.mapping, book=getattr(store, "path", None))
        result.mapping = parsed.mapping
        return result
    with store:
        data, parsed = parse_while_loading(store, paths, import_needs, progress, plan)
        refuse_unusable_rules(data, _where(store))  # new rows get their tier's cached value
        typed = ChangeSet()
        assign_ids(data, typed)  # before the merge allocates ids for new rows
        result = merge_sources(data, parsed)
        result.changes.calculated.update(calculators(data))  # rows typed under a table: their cached values
        result.changes.merge(typed)
        result.data_changed = result.data_changed or not typed.empty
        result.notices = data.notices
        del data, parsed
        if not dry_run:
            store.apply(result.changes)
    if report_path:  # only once the book holds what it lists (a refused write leaves no report)
        result.write_csv(Path(report_path), book=getattr(store, "path", None))
    return result
