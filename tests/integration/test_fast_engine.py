"""The fast file engine underneath FileStore: Arrow column reads, the exact end of a
table before an append, in-place cell swaps, the two-thread deflate, the second
read thread and the last-visit view read without a record per visit."""
from __future__ import annotations

import datetime as dt
import gc
import random
import zipfile
import zlib

import openpyxl
import pytest

from kam_xl.domain.models import UnreadField
from kam_xl.errors import TableLayoutUnsupported
from kam_xl import layout as L
from kam_xl.services.actions import REGRADE_NEEDS, regrade_book
from kam_xl.workbook import loader
from kam_xl.workbook.loader import EVERYTHING, LAST_VISITS, Needs
from kam_xl.workbook import engine, rawzip
from kam_xl.workbook.package import col_letter
from kam_xl.workbook.store import FileStore
from kam_xl.workbook.tables import Changes, Formula
from tests.conftest import good_customer, good_visit
from tests.helpers import table_records

AS_OF = dt.date(2026, 10, 31)


def _edit_cells(path, sheet, cells: dict[str, object]) -> None:
    """What a user does in Excel: type values into cells (openpyxl keeps the VBA)."""
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb[sheet]
    for ref, v in cells.items():
        ws[ref] = v
    wb.save(path)


def _cell(tdef: L.TableDef, header: str, excel_row: int) -> str:
    return f"{col_letter(tdef.first_col + tdef.headers.index(header))}{excel_row}"


def test_mixed_cells_in_a_column_read_as_typed_values_or_problems(book_factory):
    """A text typed into a number column, a text date in a date column, a phone typed
    as a number: the column reads as text, and typing reports or understands each."""
    book = book_factory(customers=[good_customer(1), good_customer(2), good_customer(3)])
    C = L.CUSTOMERS
    _edit_cells(book, L.SHEET_CUSTOMERS, {_cell(C, "年用量(元)", 3): "约五十万",
                                            _cell(C, "建档日期", 4): "2026年3月5日",
                                            _cell(C, "联系电话", 2): 13800000000})
    data = FileStore(book).load(Needs({L.CUSTOMERS.name: EVERYTHING}))
    c1, c2, c3 = data.customers
    assert c1.phone == "13800000000"
    assert c2.volume is None and c3.volume == 800000.0
    probs = [p for p in data.problems if p.table == L.CUSTOMERS.name]
    assert [(p.code, p.index, p.column, p.value) for p in probs] == [("CUST-TYPE", 1, "年用量(元)", "约五十万")]
    assert c3.created_on == dt.date(2026, 3, 5)


def test_append_after_a_partial_read_keeps_a_row_filled_only_in_an_unread_column(book_factory):
    """The table's last row has a value only in a column the action did not read: the
    appended row must go below it, not over it."""
    book = book_factory(visits=[good_visit(1), good_visit(2)])
    _edit_cells(book, L.SHEET_VISITS, {_cell(L.VISITS, h, 3): None for h in L.VISITS.headers
                                         if h != "公司领导审批"})
    store = FileStore(book)
    part = store.read([L.VISITS.name], {L.VISITS.name: ["拜访编号"]})[L.VISITS.name]
    assert len(part) == 1 and not part.exact  # only 公司领导审批 is left on row 3: unseen here
    ch = Changes()
    ch.append(L.VISITS.name, [good_visit(3)])
    store.write(ch)
    rows = table_records(book, L.SHEET_VISITS, L.VISITS.name)
    assert [r["拜访编号"] for r in rows] == ["BF000001", None, "BF000003"]
    assert rows[1]["公司领导审批"] == "同意"


def test_cells_are_swapped_in_place_or_the_row_is_rebuilt(book_factory):
    row = b'<row r="7" spans="1:3"><c r="A7" s="3" t="s"><v>1</v></c><c r="B7" s="4"/></row>'
    new = "新".encode()
    # an existing cell: swapped where it is, its style kept, the rest of the row untouched
    assert engine._merge_row(row, 7, {1: "新"}, {}) == (
        b'<row r="7" spans="1:3"><c r="A7" s="3" t="s"><v>1</v></c>'
        b'<c r="B7" s="4" t="inlineStr"><is><t xml:space="preserve">' + new + b'</t></is></c></row>')
    # a cell that does not exist yet: the row is rebuilt in column order, style from <cols>
    assert engine._merge_row(row, 7, {2: 3.5, 0: 2.0}, {2: 8}) == (
        b'<row r="7"><c r="A7" s="3"><v>2</v></c><c r="B7" s="4"/><c r="C7" s="8"><v>3.5</v></c></row>')
    assert engine._merge_row(row, 7, {0: engine.DELETE}, {}) == b'<row r="7"><c r="B7" s="4"/></row>'
    assert engine._merge_row(row, 7, {0: engine.DELETE, 1: engine.DELETE}, {}) is None


def test_big_parts_deflate_on_two_threads_into_one_valid_stream(book_factory, monkeypatch):
    monkeypatch.setattr(rawzip, "BIG_PART", 1000)
    data = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i) for i in range(20000))
    assert zlib.decompress(rawzip._deflate(data), -15) == data
    view = memoryview(data)  # a patched sheet comes in pieces: slices of the old one and new rows
    pieces = [view[:7], b"<new/>", view[7:50000], view[50000:]]
    assert zlib.decompress(rawzip._deflate(pieces), -15) == data[:7] + b"<new/>" + data[7:]
    assert rawzip._crc_size(pieces) == (zlib.crc32(data[:7] + b"<new/>" + data[7:]), len(data) + 6)
    book = book_factory(customers=[good_customer(i) for i in range(1, 60)])
    store = FileStore(book)
    store.read([L.CUSTOMERS.name])
    ch = Changes()
    ch.set(L.CUSTOMERS.name, 5, "备注", "两线程压缩")
    store.write(ch)
    with zipfile.ZipFile(book) as z:
        assert z.testzip() is None
    assert table_records(book, L.SHEET_CUSTOMERS, L.CUSTOMERS.name)[5]["备注"] == "两线程压缩"


def _visits_book(book_factory):
    visits = [good_visit(1, "KH000001", 实际日期=dt.date(2026, 9, 1)),
              good_visit(2, "KH000001", 实际日期=dt.date(2026, 10, 2)),
              good_visit(3, " KH000002 ", 实际日期=dt.datetime(2026, 7, 3, 15, 30)),
              good_visit(4, "KH000002", 状态="已批准", 实际日期=dt.date(2026, 10, 30)),
              good_visit(5, "KH000003", 实际日期=None),
              good_visit(6, "KH000004", 状态="已完成 ", 实际日期=dt.date(2026, 10, 1))]
    return book_factory(customers=[good_customer(i) for i in range(1, 5)], visits=visits)


def test_last_visits_view_matches_the_typed_records(book_factory):
    """The view regrade reads (three typed columns, no record per visit, on a second
    thread) gives what the records give: ids and states trimmed, the day of a date-time."""
    book = _visits_book(book_factory)
    fast = FileStore(book).load(REGRADE_NEEDS, AS_OF)
    with pytest.raises(UnreadField):
        fast.visits  # noqa: B018  (the view was read, not the records)
    slow = FileStore(book, full_reads=True).load(REGRADE_NEEDS, AS_OF)
    assert len(slow.visits) == 6
    assert fast.last_visits() == slow.last_visits() == {
        "KH000001": dt.date(2026, 10, 2), "KH000002": dt.date(2026, 7, 3), "KH000004": dt.date(2026, 10, 1)}


def test_last_visits_view_reads_text_dates_as_the_records_do(book_factory):
    book = _visits_book(book_factory)
    _edit_cells(book, L.SHEET_VISITS, {_cell(L.VISITS, "实际日期", 2): "2026年9月20日"})  # BF000001
    fast = FileStore(book).load(REGRADE_NEEDS, AS_OF)
    slow = FileStore(book, full_reads=True).load(REGRADE_NEEDS, AS_OF)
    assert fast.last_visits() == slow.last_visits()
    assert fast.last_visits()["KH000001"] == dt.date(2026, 10, 2)


def test_reading_on_a_second_thread_gives_what_one_thread_gives(book_factory, monkeypatch):
    book = _visits_book(book_factory)
    together = FileStore(book).load(REGRADE_NEEDS, AS_OF)
    monkeypatch.delattr(FileStore, "concurrent")  # a store that cannot read on two threads
    alone = FileStore(book).load(REGRADE_NEEDS, AS_OF)
    assert [c.id for c in together.customers] == [c.id for c in alone.customers]
    assert together.last_visits() == alone.last_visits()
    res = regrade_book(FileStore(book), "测试", AS_OF, dry_run=True)
    assert sum(res.by_tier.values()) == 4


def test_actions_pause_the_collector_and_restore_it(book_factory, monkeypatch):
    book = book_factory()
    seen = []
    real_load = loader.load
    monkeypatch.setattr(loader, "load", lambda *a, **k: seen.append(gc.isenabled()) or real_load(*a, **k))
    assert gc.isenabled()
    regrade_book(FileStore(book), "测试", AS_OF)
    assert seen == [False] and gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        regrade_book(FileStore(book), "测试", AS_OF, dry_run=True)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collection_before_a_write_frees_the_actions_cycles_not_walking_the_loaded_records(book_factory):
    """What the load made is set aside (frozen) for the session; a cycle the action makes after
    it is still freed before the write; after the session nothing stays frozen."""
    import weakref

    class Cycle:
        pass

    book = book_factory()
    store = FileStore(book)
    with store:
        data = store.load(REGRADE_NEEDS, AS_OF)
        frozen = gc.get_freeze_count()
        assert frozen > len(data.customers)  # the records among them
        garbage = Cycle()
        garbage.me = garbage
        gone = weakref.ref(garbage)
        del garbage
        store.release_before_write()
        assert gone() is None
        assert gc.get_freeze_count() > len(data.customers)  # still set aside (some freed since by refcount)
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_unreadable_sheet_in_the_second_thread_is_a_clear_error(book_factory, tmp_path):
    from kam_xl.errors import TableLayoutUnsupported, WorkbookUnreadable
    book = book_factory()
    pkg = FileStore(book).pkg
    part = pkg.sheets[L.SHEET_VISITS]
    bad = tmp_path / "bad.xlsm"
    with zipfile.ZipFile(book) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, data[: len(data) // 3] if info.filename == part else data)
    with pytest.raises(WorkbookUnreadable):
        regrade_book(FileStore(bad), "测试", AS_OF, dry_run=True)


def test_a_renamed_column_the_action_needs_is_refused_by_name(book_factory):
    book = _visits_book(book_factory)
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.SHEET_VISITS]
    cell = _cell(L.VISITS, "状态", 1)
    ws[cell] = "进度"
    t = ws.tables[L.VISITS.name]
    for col in t.tableColumns:
        if col.name == "状态":
            col.name = "进度"
    wb.save(book)
    # PRODUCT.md §9: a header the action needs either matches after normalising or is refused by name
    with pytest.raises(TableLayoutUnsupported, match="缺少列：状态"):
        FileStore(book).load(REGRADE_NEEDS, AS_OF)


@pytest.mark.parametrize("date1904", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_a_new_row_is_the_cells_cell_text_makes(seed, date1904):
    """A new row's text, number, date and empty styled cells are made on a short way (a head per
    column and style): every cell is still the one cell_text makes, whatever the value and style."""
    rng = random.Random(seed)
    values = ["客户A", "a&b<c>", "\x01控制", "", " 前后空格 ", 3.0, -0.0, 12.5, 1e16, 1.5e-7, float("inf"),
              float("nan"), 7, -3, 10 ** 16, True, False, None, dt.date(2026, 6, 30), dt.datetime(2026, 6, 30, 8, 30), Formula("A1*2", 4.0),
              engine.Styled("红", 9), engine.Restyle(4), engine.Restyle(None), engine.DELETE]
    for _ in range(200):
        cells = {c: rng.choice(values) for c in rng.sample(range(40), rng.randrange(1, 12))}
        styles = {c: rng.choice([None, 0, 3, 12]) for c in range(40) if rng.random() < 0.5}
        expected = []
        for c in sorted(cells):
            v, style = cells[c], styles.get(c)
            if v is engine.DELETE or (v is None and not style):
                continue
            if isinstance(v, engine.Restyle):
                if v.style:
                    expected.append(f'<c r="{engine.col_letter(c)}9" s="{v.style}"/>')
                continue
            expected.append(engine.cell_text(f"{engine.col_letter(c)}9", v, style, date1904))
        got = engine._merge_row(None, 9, cells, styles, date1904)
        assert got == (f'<row r="9">{"".join(expected)}</row>'.encode() if expected else None)


def test_a_master_is_found_touched_exactly_when_the_cells_written_hold_it():
    """The write looks for the shared formulas' masters among the cells it writes without making
    the set of every cell written: the same answer as that set, for cells written and rows moved."""
    from kam_xl.workbook.store import _cells_touched, _masters_touched
    rng = random.Random(4)
    seen = set()
    for _ in range(500):
        masters = {(rng.randrange(1, 30), rng.randrange(0, 8)) for _ in range(rng.randrange(0, 4))}
        rows = {rng.randrange(1, 30): {rng.randrange(0, 8): "x" for _ in range(3)} for _ in range(rng.randrange(0, 5))}
        moves = [(rng.randrange(1, 30), rng.randrange(1, 40), 0, rng.randrange(0, 8))
                 for _ in range(rng.randrange(0, 2))]
        got = _masters_touched(masters, rows, moves)
        assert got == bool(_cells_touched(rows, moves) & masters)
        seen.add(got)
    assert seen == {True, False}  # both answers were asked for
