"""The file front: the actions on a workbook file, with no Excel (what the CLI runs).
It makes the FileStore and the progress line and hands them to the actions."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from . import demo as d
from . import layout as L
from .errors import BadArgument, WriteFailed
from .progress import Progress
from .reports.periods import meeting_month
from .reports.pdf import soffice
from .services import actions, team
from .services.actions import MEETING_AUTO, ReportFiles  # noqa: F401  (part of this front's API)
from .services.regrade import RegradeResult
from .services.validate import ValidationReport
from .workbook.builder import build_master
from .workbook.outputs import safe_name_part, write_output
from .store import EVERYTHING, Needs, Read
from .store.urls import is_url
from .store.ledger import FolderLedger
from .reports.merge_report import write_merge_report
from .workbook.team import identity as team_identity, write_person_book
from .workbook.store import FileStore, backup, refuse_if_open_in_excel


def new_book(path: str | Path, demo: bool = False, force: bool = False, n_customers: int = 300) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".xlsm":  # an .xlsx cannot hold the buttons' macros
        raise BadArgument(path, "主工作簿应以 .xlsm 结尾（.xlsx 不能保存按钮所需的宏）",
                          "the master workbook must end in .xlsm (an .xlsx cannot hold the buttons' macros)")
    if path.exists() and not force:
        raise BadArgument(path, "文件已存在，未覆盖（如需覆盖请加 --force）",
                          "file exists; not overwritten (use --force)")
    if not path.parent.is_dir():
        raise BadArgument(path, f"文件夹“{path.parent}”不存在，请先建立该文件夹或换一个位置",
                          f"folder '{path.parent}' does not exist")
    data = settings = None
    if demo:
        data = d.build_data(n_customers=n_customers, n_visits=n_customers * 4,
                            n_receivables=n_customers * 8 // 3)
        settings = d.demo_settings()

    def keep_the_old_one() -> None:  # --force: the replaced book is kept as a backup, never while open
        if path.exists():
            refuse_if_open_in_excel(path)
            backup(path)
    # a full disk, a read-only folder: no half-made book left behind, a clear refusal
    return write_output(path, lambda tmp: build_master(tmp, data, settings), before_replace=keep_the_old_one,
                        failed=WriteFailed)


def run_regrade(path, as_of=None, dry_run=False, operator="") -> RegradeResult:
    with Progress("重新分级") as bar:
        return actions.regrade_book(open_store(path), operator, as_of, dry_run, bar)


def run_validate(path, as_of=None, dry_run=False) -> ValidationReport:
    with Progress("全面校验") as bar:
        return actions.validate_book(open_store(path), as_of, dry_run, bar)


def run_report(path, out=None, as_of=None, pdf=False, month=None) -> ReportFiles:
    store = open_store(path)  # one store: its path is where the outputs go
    return actions.report_book(store, Path(store.path), out, as_of, pdf, month)


def run_form(path, customer_id, out=None, pdf=True) -> list[Path]:
    store = open_store(path)  # one store: its path is where the outputs go
    return actions.form_book(store, Path(store.path), customer_id, out, pdf)


def run_card(path, customer, out=None, pdf=True, as_of=None):
    store = open_store(path)  # one store: its path is where the outputs go
    return actions.card_book(store, Path(store.path), customer, out, pdf, as_of)


def run_import(path, sources, dry_run=False, report_path=None, mapping=None, suggest=None):
    store = open_store(path)
    with Progress("导入") as bar:
        return actions.import_book(store, sources, dry_run, report_path, progress=bar, mapping=mapping,
                                   suggest=suggest)


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
    if pdf and soffice() is None:
        lines.append(actions.PDF_MISSING)
        pdf = False
    outs = run_report(book, out=str(folder), pdf=pdf, month=meeting_month(d.AS_OF))
    lines += ["[生成报表 report（含月度例会材料）]"] + [str(p) for p in outs]
    customers = FileStore(book).load(Needs({L.CUSTOMERS.name: EVERYTHING})).customers
    first = next(c for c in customers if c.status == L.SIGNED)
    forms = run_form(book, first.id, out=str(folder), pdf=pdf)
    lines += ["[客户认定申请表 form]"] + [str(p) for p in forms]
    cards = run_card(book, first.id, out=str(folder), pdf=pdf)
    lines += ["[客户档案卡 card]"] + [str(p) for p in cards]
    return lines


def _sql():
    """The database backend (PRODUCT.md §12), loaded when a database is named — or asked whether a
    store is one (team mode's ledger): SQLAlchemy and Alembic take a quarter of a second to import,
    which a regrade, a validation, a report or an import of a workbook file would otherwise pay at
    its start."""
    from .store import sql
    return sql


# -- team mode (PRODUCT.md §11) --------------------------------------------------------
def ledger_of(store, master: Path, create: bool = False):
    """Where a master keeps team mode's ledger: in its database, or in a folder beside the book."""
    sql = _sql()
    if isinstance(store, sql.SqlStore):
        return sql.SqlLedger(store, create=create)
    return FolderLedger(master, create=create)


def run_distribute(path, out: str | Path, by: str = team.DEFAULT_BY, people=None, store=None) -> team.DistributeResult:
    """分发: one book per person in `out`; the base each got kept beside the master.  `store`:
    the master as the live Excel book (the button), else the file or the database."""
    store = store or open_store(path)
    master = Path(getattr(store, "path", None) or path)  # the live book (the button) names itself by `path`
    folder = Path(out)
    if not folder.is_dir():
        raise BadArgument(folder, f"文件夹“{folder}”不存在，请先建立", f"folder '{folder}' does not exist")
    ledger = ledger_of(store, master, create=True)

    def write_book(person: str, round_no: int, tables: dict, data) -> Path:
        name = f"{master.stem}_{safe_name_part(person)}_{data.as_of:%Y%m%d}.xlsm"
        return write_output(folder / name, lambda tmp: write_person_book(tmp, ledger.master_id, person, round_no,
                                                                          tables, data),
                            book=master, failed=WriteFailed)
    return team.distribute(store, ledger, write_book, by=by, people=people)


def _books(paths) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in (".xlsm", ".xlsx")
                          and not f.name.startswith((".~", "~$")))
        elif p.exists():
            out.append(p)
        else:
            raise BadArgument(p, "找不到要汇总的工作簿，未汇总任何内容", "no such book; nothing collected")
    if not out:
        raise BadArgument(None, "没有可汇总的工作簿（.xlsm）：" + "、".join(map(str, paths)), "no book to collect")
    return out


def run_collect(path, books, prefer_theirs: bool = False, report: str | Path | None = None,
                store=None) -> team.CollectResult:
    """汇总: every returned book merged into the master; the 汇总报告 written beside it."""
    store = store or open_store(path)
    master = Path(getattr(store, "path", None) or path)  # the live book (the button) names itself by `path`
    ledger = ledger_of(store, master)
    if not ledger.exists:
        raise BadArgument(master, "这个主工作簿还没有分发过（找不到分发记录），无法汇总",
                          "this master has never distributed; nothing to collect")
    found = []
    for b in _books(books):
        if b.resolve() == master.resolve():
            continue
        master_id, person, rnd = team_identity(b)
        # opened when its turn comes, dropped after it: fifty books' reads are never held at once
        found.append((team.BookIdentity(master_id, person, rnd), lambda b=b: FileStore(b), str(b)))
    res = team.collect(store, found, ledger, prefer_theirs)
    target = Path(report) if report else master.with_name(f"{master.stem}_汇总报告_{dt.datetime.now():%Y%m%d-%H%M%S}.xlsx")
    res.report_path = write_output(target, lambda tmp: write_merge_report(tmp, res), book=master)
    return res


def run_reassign(path, src: str, dst: str, customers=None) -> team.ReassignResult:
    return team.reassign(open_store(path), src, dst, customers)


# -- the master in a database (PRODUCT.md §12) -------------------------------------------
def open_store(target):
    """A command's BOOK: a workbook file, or a database URL (sqlite:///大客户管理.db)."""
    if is_url(target):
        return _sql().open_database(str(target))
    return FileStore(target)


def db_init(url: str) -> Path:
    store = _sql().open_database(url, create=True)
    store.close()
    return store.path


def db_upgrade(url: str) -> tuple[str | None, str]:
    """`kam-xl db upgrade`: an older database's schema brought to this version (Alembic)."""
    return _sql().upgrade_database(url)


def db_load(url: str, book) -> dict[str, int]:
    """A workbook's data copied into the database: every table replaced by the book's (run it
    again and nothing changes).  One transaction; the book is read a table at a time, each
    table's records let go once written, so the peak is the biggest table's, not the book's."""
    src = FileStore(book, full_reads=True)
    tables = [t for t in L.TABLES.values() if t.name not in (L.SETTINGS.name, L.ISSUES.name)]
    labels = {c.header for c in L.CUSTOMERS.columns}
    counts: dict[str, int] = {}

    def table_rows():
        for t in tables:
            if t is L.TIER_RULES:
                recs = [r.values() for r in src.load(Needs({t.name: EVERYTHING})).rules]
            elif t is L.CUSTOMERS:
                data = src.load(Needs({t.name: Read(rows=True)}))
                recs = [{**c.values(), **{h: v for h, v in data.customer_extra(c).items() if h not in labels}}
                        for c in data.customers]
                del data
            else:
                read = Read(optional=True) if t in L.PROCEDURE_TABLES else EVERYTHING
                recs = [r.values() for r in src.load(Needs({t.name: read})).records_of(t.name) or ()]
            counts[t.name] = len(recs)
            yield t, recs
            del recs
        settings = src.load(Needs({})).settings
        extra = settings.__pydantic_extra__ or {}
        yield L.SETTINGS, [{"key": d.key, "value": getattr(settings, d.field), "description": d.description}
                           for d in L.SETTING_DEFS] + [{"key": k, "value": v} for k, v in extra.items()]

    store = _sql().open_database(url, create=True)
    try:
        store.replace_tables(table_rows())
    finally:
        store.close()
    return counts


def db_export(url: str, out, people=None) -> Path:
    """A complete master workbook (or one person's customers and their rows) from the database."""
    store = _sql().open_database(url)
    wanted = set(people or ())
    data = {}
    ids = None
    for t in L.TABLES.values():
        if t.name in (L.SETTINGS.name, L.ISSUES.name):
            continue
        rows = store.rows(t.name)
        recs = [{**{t.header(k): v for k, v in values.items()}, **extra} for _, values, extra in rows]
        if wanted and t is L.CUSTOMERS:
            recs = [r for r in recs if r.get(L.CUSTOMERS.header("manager")) in wanted]
            ids = {r[L.CUSTOMERS.header("id")] for r in recs}
        data[t.name] = recs
    if ids is not None:
        for t in (L.VISITS, L.RECEIVABLES, *L.PROCEDURE_TABLES):
            data[t.name] = [r for r in data[t.name] if r.get(t.header("customer_id")) in ids]
    s = store.settings()
    settings = {d.key: getattr(s, d.field) for d in L.SETTING_DEFS}
    store.close()
    out = Path(out)
    if out.suffix.lower() != ".xlsm":
        raise BadArgument(out, "导出的主工作簿应以 .xlsm 结尾", "the exported workbook must end in .xlsm")
    return write_output(out, lambda tmp: build_master(tmp, data, settings), failed=WriteFailed)
