"""Each action gives the same result on the store's optimised read (the columns its
needs declare, views without records, a second read thread) as on a full read of every
column of every table — the guard against a declaration that forgot a field.  A record
read partly raises on an unread field, never answers None."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kam_xl import layout as L
from kam_xl.domain.models import UnreadField
from kam_xl.files import new_book
from kam_xl.reports import service as report_service
from kam_xl.services import actions
from kam_xl.store import EVERYTHING, Needs, Read
from kam_xl.workbook import columns, store as store_mod
from kam_xl.workbook.store import FileStore
from tests.conftest import good_customer, good_receivable, good_visit
from tests.legacy_files import gbk_visits_csv, utf8_bom_receivables_csv, xls_2021_archive, xlsx_2019_archive

AS_OF = dt.date(2026, 10, 31)
NOW = dt.datetime(2026, 11, 1, 9, 0)


@pytest.fixture(autouse=True, params=["", "big-sheet-paths"])
def _sheet_paths(request, monkeypatch):
    """Each test twice: as it runs on a small book, and with the paths only big sheets take —
    a few columns read from the sheet XML (workbook/columns.py; the full read stays with
    fastexcel, so the two readers are compared through every action) and sheets patched as
    a stream."""
    if request.param:
        monkeypatch.setattr(columns, "MIN_BYTES", 0)
        monkeypatch.setattr(store_mod, "STREAM_PART", 0)


@pytest.fixture(scope="module")
def rich_book(tmp_path_factory):
    """The demo book: every tier, status, state, overdue invoices, §10 tables, and a rule
    whose 附加条件 names a user column the needs do not list."""
    path = new_book(tmp_path_factory.mktemp("needs") / "rich.xlsm", demo=True, n_customers=120)
    return path


def _stores(path):
    return FileStore(path), FileStore(path, full_reads=True)


def _regrade_result(store):
    data = store.load(actions.REGRADE_NEEDS, AS_OF)
    res = actions.regrade(data, "测试", now=NOW)
    return res


def test_regrade_optimised_equals_full(rich_book):
    fast, full = (_regrade_result(s) for s in _stores(rich_book))
    assert fast.changes == full.changes
    assert fast.moves == full.moves and fast.ungraded == full.ungraded
    assert fast.visits_due == full.visits_due and sum(fast.visits_due.values()) > 0
    assert fast.by_tier == full.by_tier


def test_regrade_with_a_condition_on_a_user_column_reads_that_column(book_factory):
    """A rule's 附加条件 naming a column the needs do not list (a user's own column
    would behave the same): the optimised read adds it, the result equals the full read."""
    rules = [{"顺序": 1, "等级": "A1", "年用量下限(元)": 500000, "最低回款信誉": "较好",
              "附加条件": "满意度>=90", "说明": "满意度高的大户"},
             {"顺序": 2, "等级": "C", "年用量下限(元)": 0, "说明": "其余"}]
    book = book_factory(customers=[good_customer(1), good_customer(2, 满意度=70.0)], rules=rules)
    fast, full = (_regrade_result(s) for s in _stores(book))
    assert fast.changes == full.changes
    assert [m.new for m in fast.moves] == ["C"]  # KH000002 (满意度 70) leaves A1


def _validate(store):
    rep = actions.validate(store.load(actions.VALIDATE_NEEDS, AS_OF), now=NOW)
    rep.placed = store.locate(rep.report.sorted())
    return rep


def test_validate_optimised_equals_full(rich_book):
    fast, full = (_validate(s) for s in _stores(rich_book))
    assert fast.findings == full.findings and fast.report.errors > 0
    assert fast.dunning == full.dunning and fast.dunning
    assert fast.changes == full.changes


@pytest.mark.parametrize("month", [None, "2026-10"])
def test_report_optimised_equals_full(rich_book, month):
    needs = actions.MEETING_NEEDS if month else actions.REPORT_NEEDS
    fast, full = (report_service.sections(s.load(needs, AS_OF), month) for s in _stores(rich_book))
    assert [s.sheet for s in fast] == [s.sheet for s in full]
    for a, b in zip(fast, full):
        pd.testing.assert_frame_equal(a.frame, b.frame, obj=a.sheet)


def test_form_optimised_equals_full(rich_book):
    fast, full = (s.load(actions.FORM_NEEDS, AS_OF) for s in _stores(rich_book))
    assert fast.customers == full.customers
    assert fast.certifications == full.certifications and fast.certifications


def test_import_optimised_equals_full(book_factory, tmp_path):
    book = book_factory(customers=[good_customer(1), good_customer(2)], visits=[good_visit(1)],
                        receivables=[good_receivable(1)])
    folder = tmp_path / "legacy"
    folder.mkdir()
    for make, name in ((xlsx_2019_archive, "2019客户档案.xlsx"), (xls_2021_archive, "2021客户档案.xls"),
                       (gbk_visits_csv, "拜访记录.csv"), (utf8_bom_receivables_csv, "应收.csv")):
        make(folder / name)
    parsed = actions.parse_sources([folder])
    fast, full = (actions.merge_sources(s.load(actions.import_needs(parsed.tables)), parsed, now=NOW)
                  for s in _stores(book))
    assert fast.outcomes == full.outcomes and fast.outcomes
    assert fast.changes == full.changes


def test_a_field_the_needs_did_not_read_raises(rich_book):
    data = FileStore(rich_book).load(actions.REGRADE_NEEDS, AS_OF)
    c = data.customers[0]
    full = FileStore(rich_book, full_reads=True).load(actions.REGRADE_NEEDS, AS_OF).customers[0]
    assert (c.id, c.volume, c.credit, c.tier) == (full.id, full.volume, full.credit, full.tier)  # read: answers
    with pytest.raises(UnreadField, match="status"):
        c.status  # noqa: B018  (regrade does not read 认定状态)
    with pytest.raises(UnreadField):
        data.visits  # noqa: B018  (regrade reads the last-visit view, not the visits)
    data = FileStore(rich_book).load(Needs({L.CUSTOMERS.name: Read(keys=("id",))}))
    with pytest.raises(UnreadField):
        data.customer_extra(data.customers[0])  # rows were not kept


def test_a_full_read_has_every_field(rich_book):
    data = FileStore(rich_book, full_reads=True).load(actions.REGRADE_NEEDS, AS_OF)
    c = data.customers[0]
    assert set(c.__dict__) >= set(type(c).model_fields) and c.status is not None
    assert len(data.visits) > 0
    plain = FileStore(rich_book).load(Needs({L.CUSTOMERS.name: EVERYTHING}))
    assert plain.customers == data.customers


def test_validate_reports_a_bad_cell_in_a_column_its_records_do_not_keep(book_factory):
    """Validate keeps only the fields its checks use, but types every column: a bad date
    in 最近催讨日期 or an error value in 备注 is still a finding."""
    import openpyxl
    from kam_xl.workbook.package import col_letter
    book = book_factory(receivables=[good_receivable(1)])
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.SHEET_RECEIVABLES]
    R = L.RECEIVABLES
    ws[f"{col_letter(R.first_col + R.headers.index('最近催讨日期'))}2"] = "上周三"
    wb.save(book)
    rep = _validate(FileStore(book))
    hits = [f for f in rep.findings if f.column == "最近催讨日期"]
    assert hits and hits[0].rule == "RECV-TYPE" and hits[0].row == 2
    assert "last_dunning_date" not in FileStore(book).load(actions.VALIDATE_NEEDS, AS_OF).receivables[0].__dict__


def test_validate_does_not_read_the_calculated_columns_its_records_do_not_keep(book_factory, tmp_path):
    """A calculated column's cells are not input: validate neither reads nor types 未回款, 逾期天数
    and 账龄 (600,000 cells of the 100k book), and junk a user pasted over them is no finding —
    on the optimised read as on the full one, and on the book's records loaded into a database."""
    from kam_xl.files import db_load
    from kam_xl.store.sql import open_database
    import openpyxl
    from kam_xl.workbook import loader
    from kam_xl.workbook.package import col_letter
    # and invoices with findings of their own (a customer unknown, paid more than billed)
    book = book_factory(receivables=[good_receivable(1), good_receivable(2), good_receivable(3, "KH999999"),
                                     good_receivable(4, 已回款=99_999_999.0)])
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.SHEET_RECEIVABLES]
    R = L.RECEIVABLES
    ws[f"{col_letter(R.first_col + R.headers.index(R.header('overdue_days')))}2"] = "三十天"
    ws[f"{col_letter(R.first_col + R.headers.index(R.header('outstanding')))}3"] = "见备注"
    wb.save(book)
    store = FileStore(book)
    read = loader._headers(store, R.name, actions.VALIDATE_NEEDS.tables[R.name], [], False)
    calculated = {c.header for c in R.columns if c.formula}
    assert read and not calculated & set(read)
    assert set(read) | calculated == set(store.headers(R.name))
    reports = [_validate(s) for s in _stores(book)]
    for rep in reports:
        assert not [f for f in rep.findings if f.column in calculated]
    assert [f.message for f in reports[0].findings] == [f.message for f in reports[1].findings]
    url = f"sqlite:///{tmp_path / 'calculated.db'}"
    db_load(url, book)
    in_db = _validate(open_database(url))
    keys = {c.key for c in R.columns if c.formula}
    assert not [f for f in in_db.report.findings if f.table == R.name and f.key in keys]
    assert len(reports[0].report.findings) >= 2
    # (a record's rid is its store's key: a row index in the book, a row id in the database)
    assert [(f.rule, f.table, f.key, f.customer_id) for f in in_db.report.sorted()] == \
        [(f.rule, f.table, f.key, f.customer_id) for f in reports[0].report.sorted()]


def test_records_only_for_some_ids_and_every_id_to_its_record(rich_book, tmp_path):
    """Read(only=…): records for the ids asked, the id → rid of every record — the same on
    the file store (rows typed but not made records), a full read, MemoryStore and SQLite."""
    from kam_xl.files import db_load
    from kam_xl.store.memory import MemoryStore
    from kam_xl.store.sql import open_database
    full = FileStore(rich_book, full_reads=True).load(Needs({L.VISITS.name: EVERYTHING, L.CUSTOMERS.name: EVERYTHING}))
    visits = full.visits
    wanted = frozenset({visits[3].id, visits[-1].id, "BF-NO-SUCH"})
    needs = Needs({L.VISITS.name: Read(keys=("id", "customer_id"), only=wanted),
                   L.CUSTOMERS.name: Read(keys=("id", "manager"), only=frozenset({full.customers[0].id}))})
    memory = MemoryStore.from_snapshot(full)
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    db_load(url, rich_book)
    for store in (FileStore(rich_book), FileStore(rich_book, full_reads=True), memory, open_database(url)):
        got = store.load(needs)
        assert sorted(v.id for v in got.visits) == sorted({visits[3].id, visits[-1].id})
        assert [c.id for c in got.customers] == [full.customers[0].id]
        assert got.record_ids(L.VISITS.name) == {v.id for v in visits if v.id}
        assert len(got.ids[L.CUSTOMERS.name]) == len({c.id for c in full.customers if c.id})
        for v in got.visits:  # the rid of a kept record is the one every id maps to
            assert got.ids[L.VISITS.name][v.id] == v.rid
