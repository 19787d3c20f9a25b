"""Records by id through the file store: the same change set a MemoryStore applies, on a
real book — updates by (table, rid, key), records added, records removed the way Excel
deletes table rows (the rows below move up within the table, cells beside it stay, a
totals row comes up with it) — and every action giving the same result on MemoryStore
as on the file store."""
from __future__ import annotations

import datetime as dt
import zipfile

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from kam_xl import layout as L
from kam_xl.services.actions import REGRADE_NEEDS, VALIDATE_NEEDS, regrade_book, validate_book
from kam_xl.store import EVERYTHING, ChangeSet, Needs, Read
from kam_xl.store.memory import MemoryStore
from kam_xl.workbook.package import col_letter
from kam_xl.workbook.store import FileStore
from tests.conftest import AS_OF, good_visit
from tests.helpers import table_records
from tests.tools import ooxml
from tests.variants import add_rows, parts, rewrite, totals_row

V = L.VISITS
VISITS_NEEDS = Needs({V.name: EVERYTHING})


def _beside(book):
    """A note typed two columns right of the visits table, on every data row."""
    part, _, (c1, r1, c2, r2) = parts(book, V.name)
    rewrite(book, {part: lambda x: add_rows(x, {r: {c2 + 2: f"旁注{r}"} for r in range(r1 + 1, r2 + 1)})})
    return c2 + 2


def _ids(book):
    return [r["拜访编号"] for r in table_records(book, V.sheet, V.name)]


def test_update_add_and_remove_by_record_id(book_factory):
    book = book_factory(visits=[good_visit(i) for i in range(1, 6)])
    note_col = _beside(book)
    store = FileStore(book)
    with store:
        data = store.load(VISITS_NEEDS)
        by_id = {v.id: v.rid for v in data.visits}
        ch = ChangeSet()
        ch.update(V.name, by_id["BF000004"], "outcome", "已签单")
        ch.remove(V.name, by_id["BF000002"])
        ch.remove(V.name, by_id["BF000003"])
        ch.add(V.name, {"id": "BF000009", "customer_id": "KH000001", "method": "电话回访", "state": "草稿"})
        store.apply(ch)
    assert _ids(book) == ["BF000001", "BF000004", "BF000005", "BF000009"]
    rows = {r["拜访编号"]: r for r in table_records(book, V.sheet, V.name)}
    assert rows["BF000004"]["拜访结果"] == "已签单" and rows["BF000005"]["拜访结果"] == "同意续签"
    # the cells beside the table did not move (Excel's 删除表格行 moves only the table's cells)
    ws = openpyxl.load_workbook(book)[V.sheet]
    assert [ws.cell(r, note_col + 1).value for r in range(2, 7)] == [f"旁注{r}" for r in range(2, 7)]
    assert ws.tables[V.name].ref.endswith("5")  # header + 4 records
    # calamine reads the same rows
    cal = CalamineWorkbook.from_path(str(book)).get_sheet_by_name(V.sheet).to_python()
    assert [r[0] for r in cal[1:5]] == ["BF000001", "BF000004", "BF000005", "BF000009"]
    # and the next load numbers the records by their new rows
    again = FileStore(book).load(VISITS_NEEDS)
    assert [(v.id, v.rid) for v in again.visits] == [("BF000001", 0), ("BF000004", 1), ("BF000005", 2),
                                                      ("BF000009", 3)]


def test_removing_records_brings_a_totals_row_up_with_the_table(book_factory):
    book = book_factory(visits=[good_visit(i) for i in range(1, 5)])
    totals_row(V, "id")(book)
    store = FileStore(book)
    with store:
        data = store.load(VISITS_NEEDS)
        ch = ChangeSet()
        ch.remove(V.name, data.visits[0].rid)
        store.apply(ch)
    ws = openpyxl.load_workbook(book)[V.sheet]
    t = ws.tables[V.name]
    assert t.ref.endswith("5") and t.totalsRowCount == 1  # header, 3 records, the totals row
    assert ws["A5"].value == "汇总" and ws["A6"].value is None
    assert _ids(book)[:3] == ["BF000002", "BF000003", "BF000004"]


@pytest.mark.skipif(not ooxml.available(), reason="the Open XML SDK validator is not installed")
def test_a_book_after_removals_validates_clean(book_factory):
    book = book_factory(visits=[good_visit(i) for i in range(1, 7)])
    totals_row(V, "id")(book)
    store = FileStore(book)
    with store:
        data = store.load(VISITS_NEEDS)
        ch = ChangeSet()
        for v in data.visits[1:4]:
            ch.remove(V.name, v.rid)
        store.apply(ch)
    assert ooxml.validate([book]) == {str(book): []}


def test_removing_every_record_leaves_one_empty_row(book_factory):
    book = book_factory(visits=[good_visit(1), good_visit(2)])
    store = FileStore(book)
    with store:
        data = store.load(VISITS_NEEDS)
        ch = ChangeSet()
        for v in data.visits:
            ch.remove(V.name, v.rid)
        store.apply(ch)
    assert _ids(book) == [] and openpyxl.load_workbook(book)[V.sheet].tables[V.name].ref.endswith("2")


def _same_findings(a, b):
    return sorted((f.rule, f.customer_id, f.column) for f in a) == sorted((f.rule, f.customer_id, f.column) for f in b)


def test_every_action_gives_the_same_result_on_memory_and_on_the_book(demo_book):
    """The demo book read whole into a MemoryStore: regrade and validate give the same moves,
    tiers, findings and dunning list on both."""
    snap = FileStore(demo_book, full_reads=True).load(
        Needs({**REGRADE_NEEDS.tables, **VALIDATE_NEEDS.tables, **{n: EVERYTHING for n in REGRADE_NEEDS.tables}}),
        AS_OF)
    memory = MemoryStore.from_snapshot(snap)
    on_book = regrade_book(FileStore(demo_book), "测试", AS_OF, dry_run=True)
    in_memory = regrade_book(memory, "测试", AS_OF, dry_run=True)
    assert [(m.customer_id, m.old, m.new, m.explanation) for m in on_book.moves] == \
        [(m.customer_id, m.old, m.new, m.explanation) for m in in_memory.moves]
    assert on_book.by_tier == in_memory.by_tier and on_book.visits_due == in_memory.visits_due
    v_book = validate_book(FileStore(demo_book), AS_OF, dry_run=True)
    v_mem = validate_book(memory, AS_OF, dry_run=True)
    # the reading layer's findings (bad cells) come from typing a book's cells: memory holds typed values
    typed = {c for c in v_book.report.by_rule() if c.endswith(("-TYPE", "-ENUM")) or c == "CELL-ERROR-VALUE"}
    book_rest = [f for f in v_book.findings if f.rule not in typed]
    assert _same_findings(book_rest, v_mem.findings)
    assert [(d.customer_id, d.level, d.overdue_amount) for d in v_book.dunning] == \
        [(d.customer_id, d.level, d.overdue_amount) for d in v_mem.dunning]
    # and the row a finding names on the book is its record's row
    rows = {(f.rule, f.customer_id, f.column): f.row for f in book_rest}
    assert all(rows[(f.rule, f.customer_id, f.column)] is not None for f in v_mem.findings if f.row is not None)


def test_the_report_and_the_import_give_the_same_on_memory_and_on_the_book(demo_book, tmp_path):
    import pandas as pd
    from kam_xl.reports import service as report_service
    from kam_xl.services.actions import MEETING_NEEDS, import_book, import_needs
    from tests.legacy_files import gbk_visits_csv, xls_2021_archive
    snap = FileStore(demo_book, full_reads=True).load(
        Needs({**{n: EVERYTHING for n in MEETING_NEEDS.tables}, L.CUSTOMERS.name: Read(rows=True)}), AS_OF)
    memory = MemoryStore.from_snapshot(snap)
    on_book = report_service.sections(FileStore(demo_book).load(MEETING_NEEDS, AS_OF), "2026-10")
    in_memory = report_service.sections(memory.load(MEETING_NEEDS, AS_OF), "2026-10")
    assert [s.sheet for s in on_book] == [s.sheet for s in in_memory]
    for a, b in zip(on_book, in_memory):
        pd.testing.assert_frame_equal(a.frame, b.frame, obj=a.sheet)
    folder = tmp_path / "legacy"
    folder.mkdir()
    xls_2021_archive(folder / "2021客户档案.xls")
    gbk_visits_csv(folder / "拜访记录.csv")
    got_book = import_book(FileStore(demo_book), [folder])
    got_memory = import_book(memory, [folder])
    assert [(o.file, o.row, o.outcome, o.record_id) for o in got_book.outcomes] == \
        [(o.file, o.row, o.outcome, o.record_id) for o in got_memory.outcomes]
    names = {c.name for c in FileStore(demo_book).load(Needs({L.CUSTOMERS.name: EVERYTHING})).customers}
    assert names == {r["name"] for r in memory.rows[L.CUSTOMERS.name].values()}
