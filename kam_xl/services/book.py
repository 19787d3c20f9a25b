"""The actions, on any TableStore (file or live Excel), and their file-path
entry points used by the CLI.  A macro or CLI command calls exactly one of these."""
from __future__ import annotations

import datetime as dt
import functools
import gc
from pathlib import Path
from typing import Iterable

from .. import layout as L
from ..errors import BadArgument
from ..workbook.store import FileStore, backup, refuse_if_open_in_excel
from ..workbook.tables import Table, TableStore
from . import context
from .regrade import RegradeResult, regrade


def new_book(path: str | Path, demo: bool = False, force: bool = False,
             n_customers: int = 300) -> Path:
    from ..workbook.builder import build_master
    path = Path(path)
    if path.suffix.lower() not in (".xlsm", ".xlsx"):
        raise BadArgument(path, "主工作簿应以 .xlsm 结尾", "the master workbook must end in .xlsm")
    if path.exists() and not force:
        raise BadArgument(path, "文件已存在，未覆盖（如需覆盖请加 --force）",
                          "file exists; not overwritten (use --force)")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = settings = None
    if demo:
        from .. import demo as d
        data = d.build_data(n_customers=n_customers, n_visits=n_customers * 4,
                            n_receivables=n_customers * 8 // 3)
        settings = d.demo_settings()
    tmp = path.with_name(".~kam_new_" + path.name)
    build_master(tmp, data, settings)
    if path.exists():  # --force: the replaced book is kept as a backup, and never while Excel has it open
        try:
            refuse_if_open_in_excel(path)
        except Exception:
            tmp.unlink()
            raise
        backup(path)
    tmp.replace(path)
    return path


def bulk(action):
    """Run an action over a whole book with the cyclic garbage collector paused: it would
    otherwise walk the hundreds of thousands of live records again and again while they
    are made and written (about 15% of a 100k-customer regrade).  Afterwards the
    collector is restored (the xlwings server is a long-lived process) with everything
    still alive moved to its oldest generation, not walked once more.  An action that
    parses with pandas calls collect_cycles() before it writes."""

    @functools.wraps(action)
    def run(*args, **kwargs):
        was = gc.isenabled()
        gc.disable()
        try:
            return action(*args, **kwargs)
        finally:
            if was:
                gc.freeze()
                gc.unfreeze()  # frozen objects come back in the oldest generation
                gc.enable()
    return run


def collect_cycles() -> None:
    """What parsing left in reference cycles (pandas frames, closures), freed before a
    write that needs the room (import: 961 → 832 MB peak; 0.3 s on a 100k book)."""
    gc.collect()


def _store(path, store: TableStore | None) -> TableStore:
    return store if store is not None else FileStore(path)


# regrade reads what grading, credit and visit frequency need from the three big tables;
# of the customers also every column the rules' 附加条件 name (user columns included)
REGRADE_CUSTOMER_KEYS = ("id", "name", "volume", "credit", "margin", "growth", "tier")
REGRADE_COLUMNS = {
    L.VISITS.name: [L.VISITS.header(k) for k in ("customer_id", "actual_date", "state")],
    L.RECEIVABLES.name: [L.RECEIVABLES.header(k) for k in
                         ("customer_id", "invoice_date", "amount", "due_date", "paid", "paid_date")],
}


# the report counts visits by staff, state and planned date
REPORT_COLUMNS = {
    L.VISITS.name: [L.VISITS.header(k) for k in ("id", "customer_id", "planned_date", "staff", "state")],
}


class _Quiet:
    def step(self, text: str) -> None:
        pass


def regrade_columns(store: TableStore, rules: Table) -> dict[str, list[str]]:
    """The columns regrade reads, given the rule table (its 附加条件 may name customer columns)."""
    wanted = {L.CUSTOMERS.header(k) for k in REGRADE_CUSTOMER_KEYS} | context.condition_names(rules)
    return {**REGRADE_COLUMNS,
            L.CUSTOMERS.name: [h for h in store.headers(L.CUSTOMERS.name) if h in wanted]}


def _regrade(store: TableStore, operator: str, as_of, progress) -> RegradeResult:
    progress.step("读取工作簿")
    rule_sheet = store.read([L.TIER_RULES.name, L.SETTINGS.name])  # read once, first: it decides the columns
    data = context.load(store, context.CORE, as_of, columns=regrade_columns(store, rule_sheet[L.TIER_RULES.name]),
                        given=rule_sheet, wait=False, visits="last", background=[L.VISITS.name])
    progress.step("计算等级")
    return regrade(data, operator)  # the book's records are freed before the write


@bulk
def regrade_book(store: TableStore, operator: str, as_of: dt.date | None = None,
                 dry_run: bool = False, progress=None) -> RegradeResult:
    progress = progress or _Quiet()
    res = _regrade(store, operator, as_of, progress)
    if not dry_run:
        progress.step("写入")
        store.write(res.changes)
    return res


def run_regrade(path, as_of=None, dry_run=False, operator="") -> RegradeResult:
    from ..progress import Progress
    with Progress("重新分级") as bar:
        return regrade_book(FileStore(path), operator, as_of, dry_run, bar)


@bulk
def validate_book(store: TableStore, as_of: dt.date | None = None, dry_run: bool = False, progress=None):
    from .validate import validate
    progress = progress or _Quiet()
    progress.step("读取工作簿")
    names = list(context.CORE) + context.procedure_tables(store)
    report = validate(context.load(store, names, as_of, keep_customer_rows=False))
    if not dry_run:
        progress.step("写入")
        store.write(report.changes)
    return report


def run_validate(path, as_of=None, dry_run=False):
    from ..progress import Progress
    with Progress("全面校验") as bar:
        return validate_book(FileStore(path), as_of, dry_run, bar)


@bulk
def report_book(store: TableStore, book_path: Path, out: str | None = None,
                as_of: dt.date | None = None, pdf: bool = False, month: str | None = None) -> list[Path]:
    """The management report; with `month` (YYYY-MM, or MEETING_AUTO: the month a meeting on the
    as-of date looks back on) also the monthly meeting pack."""
    from ..reports.builders import meeting_month
    from ..reports.service import build_report
    names = list(context.CORE) + [L.GRADE_LOG.name] + context.procedure_tables(store)
    columns = REPORT_COLUMNS if not month else {}  # the meeting pack reads visit and payment dates too
    data = context.load(store, names, as_of, columns=columns)
    if month == MEETING_AUTO:
        month = meeting_month(data.as_of)
    return ReportFiles(build_report(data, book_path, out, pdf, month), notices=list(data.notices))


MEETING_AUTO = "auto"


class ReportFiles(list):
    """The files a report wrote, and what the store found in the book on the way."""

    def __init__(self, paths, notices=()):
        super().__init__(paths)
        self.notices = list(notices)


def form_book(store: TableStore, book_path: Path, customer_id: str, out: str | None = None,
              pdf: bool = True) -> list[Path]:
    """The printable 客户认定申请表 of one customer (xlsx, and PDF when LibreOffice is there)."""
    from ..domain.procedures import by_customer, latest_application
    from ..reports.forms import write_form
    from ..reports.pdf import soffice, to_pdf
    from ..reports.writer import write_output
    names = [L.CUSTOMERS.name] + [n for n in (L.CERTIFICATIONS.name,) if store.has_table(n)]
    data = context.load(store, names)
    wanted = str(customer_id).strip()
    customer = next((c for c in data.customers if c.id == wanted), None)
    if customer is None:
        raise BadArgument(book_path, f"客户档案中没有客户编号 {wanted}", f"no customer {wanted}")
    app = latest_application(by_customer(data.certifications or ()).get(customer.id, []))
    folder = Path(out) if out else Path(book_path).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = write_output(folder / f"客户认定申请表_{customer.id}.xlsx", lambda tmp: write_form(tmp, customer, app))
    outs = [path]
    if pdf and soffice() is not None:
        outs.append(to_pdf(path))
    return outs


def run_form(path, customer_id, out=None, pdf=True) -> list[Path]:
    return form_book(FileStore(path), Path(path), customer_id, out, pdf)


def run_report(path, out=None, as_of=None, pdf=False, month=None) -> list[Path]:
    return report_book(FileStore(path), Path(path), out, as_of, pdf, month)


@bulk
def import_book(store: TableStore, sources: Iterable[str | Path], dry_run: bool = False,
                report_path: str | None = None, progress=None):
    from ..importing.service import merge_sources, parse_sources
    parsed = parse_sources([Path(s) for s in sources], progress=progress)
    # the workbook's visits and receivables are loaded only when the sources have some
    names = [L.CUSTOMERS.name, L.TIER_RULES.name] + [n for n in (L.VISITS.name, L.RECEIVABLES.name)
                                                      if n in parsed.tables]
    data = context.load(store, names)
    result = merge_sources(data, parsed)
    result.notices = data.notices
    del data
    del parsed
    collect_cycles()
    if report_path:
        result.write_csv(Path(report_path))
    if not dry_run:
        store.write(result.changes)
    return result


def run_import(path, sources, dry_run=False, report_path=None):
    store = FileStore(path)
    from ..progress import Progress
    with Progress("导入") as bar:
        return import_book(store, sources, dry_run, report_path, progress=bar)


def run_demo(folder: Path, pdf: bool = True) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    book = folder / "大客户管理_演示.xlsm"
    lines = []
    new_book(book, demo=True, force=True)
    lines.append(f"已生成演示主工作簿 / demo workbook: {book}")
    res = run_regrade(book, operator="演示")
    lines += ["[重新分级 regrade]"] + res.summary_lines()
    rep = run_validate(book)
    lines += ["[全面校验 validate]"] + rep.summary_lines()[:12]
    from ..reports.pdf import soffice
    from ..demo import AS_OF
    from ..reports.builders import meeting_month
    outs = run_report(book, out=str(folder), pdf=pdf and soffice() is not None, month=meeting_month(AS_OF))
    lines += ["[生成报表 report（含月度例会材料）]"] + [str(p) for p in outs]
    first = next(c for c in context.load(FileStore(book), [L.CUSTOMERS.name]).customers if c.status == "已签约")
    forms = run_form(book, first.id, out=str(folder), pdf=pdf and soffice() is not None)
    lines += ["[客户认定申请表 form]"] + [str(p) for p in forms]
    return lines
