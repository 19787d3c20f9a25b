"""regrade's last-visit view read by the helper process from the visits sheet's XML (FileStore.view_ahead,
workbook/visits_view.py) instead of on a second thread of this one.  The thresholds are lowered here so
ordinary test books take that path.  Every regrade must come out exactly as with the view read here, on
books after ordinary use; where the helper's view would not stand for what this store reads (rows typed
under the visits table taken into it, error cells in it, the helper gone) it is read here instead."""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import openpyxl.utils.cell
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import new_book
from kam_xl.services.actions import REGRADE_NEEDS
from kam_xl.workbook import columns, deflate, scan_ahead, store as store_mod
from kam_xl.workbook.store import FileStore
from tests import variants as V


def typed_visit_under_visits(book: Path) -> None:
    """A completed visit typed directly under the visits table (taken into it): the latest visit of
    KH000003, which only this row says."""
    part, _, (c1, r1, c2, r2) = V.parts(book, L.VISITS.name)
    col = lambda key: V.col_of(L.VISITS, key)  # noqa: E731
    row = {col("id"): "BF900001", col("customer_id"): "KH000003", col("actual_date"): 46150,
           col("state"): L.DONE, col("planned_date"): 46150, col("place"): "客户现场", col("staff"): "张三"}
    V.rewrite(book, {part: lambda x: V.add_rows(x, {r2 + 1: row})})


def error_cell_in_visits(book: Path) -> None:
    part, _, (c1, r1, c2, r2) = V.parts(book, L.VISITS.name)
    ref = f"{V.col_letter(V.col_of(L.VISITS, 'actual_date'))}{r1 + 1}"
    V.rewrite(book, {part: lambda x: V.set_cell(x, ref, f'<c r="{ref}" t="e"><f>1/0</f><v>#DIV/0!</v></c>')})


def odd_first_visit_and_error_in_the_last(book: Path) -> None:
    """The first visit's date written as an ISO date cell (t="d", which the column reader leaves to
    fastexcel: it stops there) and an error cell in the last visit's 状态: the helper's pass that scans
    the sheet while the column reader reads it must still look through the rest of the sheet."""
    part, _, (c1, r1, c2, r2) = V.parts(book, L.VISITS.name)
    first = f"{V.col_letter(V.col_of(L.VISITS, 'actual_date'))}{r1 + 1}"
    last = f"{V.col_letter(V.col_of(L.VISITS, 'state'))}{r2}"
    V.rewrite(book, {part: lambda x: V.set_cell(V.set_cell(x, first, f'<c r="{first}" t="d"><v>2026-05-08</v></c>'),
                                                last, f'<c r="{last}" t="e"><v>#N/A</v></c>')})


def far_note_in_visits(book: Path) -> None:
    """A note typed far right of the visits table, in one of its rows (column XFD): a reader that
    builds the sheet's grid reads a trimmed copy; the column reader, which reads three columns,
    has no use for looking for it."""
    part, _, (c1, r1, c2, r2) = V.parts(book, L.VISITS.name)
    V.rewrite(book, {part: lambda x: V.add_rows(x, {r1 + 2: {16384: "备注：远处的一条笔记"}})})


def far_note_and_typed_visit(book: Path) -> None:
    """The far note, and a visit typed under the table: the helper's view does not stand, the view
    is read here after all — from a copy trimmed of the note, which the helper did not look for."""
    far_note_in_visits(book)
    typed_visit_under_visits(book)


def nothing(book: Path) -> None:
    pass


# variant → whether the helper's view stands (True) or is read here (False)
CASES = [(nothing, True), (V.error_cells, True), (V.typed_rows_under_customers, True),
         (V.note_under(L.VISITS), True), (V.sum_row_under_receivables, True), (V.calc_chain, True),
         (typed_visit_under_visits, False), (error_cell_in_visits, False), (odd_first_visit_and_error_in_the_last, False),
         (far_note_in_visits, True), (far_note_and_typed_visit, False)]


def _spy(monkeypatch, method: str, taken: list) -> None:
    """Record (table, whether it gave something) for each call of FileStore.<method>."""
    real = getattr(FileStore, method)

    def recording(self, table, *more):
        got = real(self, table, *more)
        taken.append((table, got is not None))
        return got
    monkeypatch.setattr(FileStore, method, recording)


def _here_and_ahead(tmp_path: Path, variant, monkeypatch, run) -> list:
    """run(book, folder) on the same lived-in book, its sheets looked through here, then by the helper."""
    return V.both_ways(tmp_path, variant,
                       lambda on: monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0 if on else 1 << 62), run)


def _regrade(book: Path, folder: Path, capsys) -> tuple:
    capsys.readouterr()
    rc = main(["regrade", str(book), "-v", "--as-of", "2026-06-30"])
    got = capsys.readouterr()
    return rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"), V.cells_of(book)


@pytest.mark.parametrize("variant,stands", CASES, ids=[getattr(v, "__name__", "note") for v, _ in CASES])
def test_the_helpers_view_or_the_one_read_here_regrade_the_same(variant, stands, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(columns, "MIN_BYTES", 0)  # the visits sheet is read from its XML either way
    taken: list = []
    _spy(monkeypatch, "view_ahead", taken)
    results = _here_and_ahead(tmp_path, variant, monkeypatch, lambda book, folder: _regrade(book, folder, capsys))
    # the path under test was taken (and only there)
    assert taken == [(L.VISITS.name, False), (L.VISITS.name, stands)]
    here, ahead = results
    assert "Traceback" not in here[2] + ahead[2]
    assert ahead[:3] == here[:3], ahead[2][:3000]
    differ = {k for k in set(ahead[3]) | set(here[3]) if ahead[3].get(k) != here[3].get(k)}
    assert all(k[0] == L.SHEET_HOME or k[0] == L.GRADE_LOG.sheet for k in differ), sorted(differ)[:5]


def test_the_sheet_scanned_in_the_pass_that_reads_the_view_is_looked_through_to_its_end(tmp_path, monkeypatch):
    """The helper scans the visits sheet in the same pass as it reads the view (one inflate): when the
    column reader stops early, the scan still goes on to the last row and finds its error cell."""
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    # the helper inflates in pieces of 1 KB, as it does a big sheet in pieces of 8 MB: the column
    # reader stops in the first, the last row comes many pieces later
    # (deflate.CHUNK: the most inflated bytes handed over at a time — the knob the helper's pass reads)
    small = scan_ahead._PROGRAM.replace("from kam_xl.workbook import deflate, engine, scan, visits_view\n",
                                        "from kam_xl.workbook import deflate, engine, scan, visits_view\n"
                                        "deflate.CHUNK = 1024\n")
    assert small != scan_ahead._PROGRAM
    monkeypatch.setattr(scan_ahead, "_PROGRAM", small)
    book = new_book(tmp_path / "大客户管理.xlsm", demo=True, n_customers=30)  # 120 visits
    odd_first_visit_and_error_in_the_last(book)
    part, _, (c1, r1, c2, r2) = V.parts(book, L.VISITS.name)
    xml = zipfile.ZipFile(book).read(part)
    with monkeypatch.context() as m:  # the knob does cut this sheet into many pieces
        m.setattr(deflate, "CHUNK", 1024)
        assert len(list(deflate.inflated(str(book), part))) > 8
    # the reader stops in its first piece (the first 4 KB and the rows they end): the error cell
    # comes many pieces after it
    assert xml.find(b't="d"') < 4096 < 8 * 4096 < xml.find(b't="e"')
    found = {}
    for ahead in (False, True):
        monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0 if ahead else 1 << 62)
        store = FileStore(book)
        with store:
            data = store.load(REGRADE_NEEDS)
            last = data.last_visits()
            found[ahead] = (store._common["scans"][part].errors, last)
    assert found[True][0] == {V.cell_rc(f"{V.col_letter(V.col_of(L.VISITS, 'state'))}{r2}"): "#N/A"}
    assert found[True] == found[False]


def test_a_visits_sheet_the_scan_refuses_is_the_same_refusal_from_the_pass_that_reads_the_view(tmp_path, capsys,
                                                                                                monkeypatch):
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    outs = []
    for ahead in (False, True):
        folder = tmp_path / ("on" if ahead else "off")
        folder.mkdir()
        book = V.base_book(folder / "大客户管理.xlsm")
        part = V.sheet_part(book, L.VISITS.sheet)
        V.rewrite(book, {part: lambda x: x.replace(b"<sheetData>", b"<sheetData>" + b" " * (300 << 20), 1)})
        before = book.read_bytes()
        monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0 if ahead else 1 << 62)
        capsys.readouterr()
        assert main(["regrade", str(book)]) == 2
        err = capsys.readouterr().err
        assert "异常" in err and "Traceback" not in err
        assert book.read_bytes() == before
        outs.append(err.replace(str(folder), "<folder>"))
    assert outs[0] == outs[1]


def test_the_visit_typed_under_the_table_counts(tmp_path, monkeypatch):
    """The view the store hands over when a row typed under the visits table is taken in: that row's
    visit is KH000003's last one (the helper's view, made without it, is not used)."""
    base = FileStore(V.base_book(tmp_path / "base.xlsm"))
    with base:
        assert "KH000003" not in base.load(REGRADE_NEEDS).last_visits()
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    typed_visit_under_visits(book)
    store = FileStore(book)
    with store:
        data = store.load(REGRADE_NEEDS)
        assert data.last_visits()["KH000003"].isoformat() == "2026-05-08"  # no other visit of it in the book


def test_a_helper_that_dies_before_the_view_leaves_it_to_this_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    # the scans answered, then the helper is killed before the view
    killed = scan_ahead._PROGRAM.replace("def answer_read(key, got):\n",
                                         "def answer_read(key, got):\n    import os\n    os._exit(9)\n")
    assert killed != scan_ahead._PROGRAM
    monkeypatch.setattr(scan_ahead, "_PROGRAM", killed)
    taken: list = []
    _spy(monkeypatch, "view_ahead", taken)
    results = _here_and_ahead(tmp_path, nothing, monkeypatch, lambda book, folder: _regrade(book, folder, capsys))
    assert taken == [(L.VISITS.name, False), (L.VISITS.name, False)]  # read here after the helper died
    here, ahead = results
    assert ahead[:3] == here[:3]


# -- a few columns of a big table, read by the helper (FileStore._read_ahead) -----------------------------
R_COLUMNS = ["单据号", "客户编号", "金额"]


def error_cell_in_receivables(book: Path) -> None:
    part, _, (c1, r1, c2, r2) = V.parts(book, L.RECEIVABLES.name)
    ref = f"{V.col_letter(V.col_of(L.RECEIVABLES, 'amount'))}{r1 + 2}"
    V.rewrite(book, {part: lambda x: V.set_cell(x, ref, f'<c r="{ref}" t="e"><f>1/0</f><v>#DIV/0!</v></c>')})


def typed_invoice_under_receivables(book: Path) -> None:
    part, _, (c1, r1, c2, r2) = V.parts(book, L.RECEIVABLES.name)
    col = lambda key: V.col_of(L.RECEIVABLES, key)  # noqa: E731
    V.rewrite(book, {part: lambda x: V.add_rows(x, {r2 + 1: {col("id"): "FP900001", col("customer_id"): "KH000003",
                                                             col("amount"): 1234.5, col("invoice_date"): 46150}})})


READ_CASES = [(nothing, True), (V.note_under(L.RECEIVABLES), True), (V.typed_rows_under_customers, True),
              (V.sum_row_under_receivables, True), (typed_invoice_under_receivables, False),
              (error_cell_in_receivables, False)]


@pytest.mark.parametrize("variant,stands", READ_CASES, ids=[getattr(v, "__name__", "x") for v, _ in READ_CASES])
def test_columns_the_helper_read_are_the_columns_read_here(variant, stands, tmp_path, monkeypatch):
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    variant(book)
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 1 << 62)
    here = FileStore(book)
    with here:
        here.prepare([L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name], reads={L.RECEIVABLES.name: R_COLUMNS})
        want = here.read([L.RECEIVABLES.name], {L.RECEIVABLES.name: R_COLUMNS})[L.RECEIVABLES.name]
        want_notices = list(here.notices)
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    taken: list = []
    _spy(monkeypatch, "_read_ahead", taken)
    ahead = FileStore(book)
    with ahead:
        ahead.prepare([L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name], reads={L.RECEIVABLES.name: R_COLUMNS})
        got = ahead.read([L.RECEIVABLES.name], {L.RECEIVABLES.name: R_COLUMNS})[L.RECEIVABLES.name]
        assert ahead.notices == want_notices
    assert taken == [(L.RECEIVABLES.name, stands)]
    assert got.rows == want.rows and got.rows
    assert (got.headers, got.header_row, got.first_col, got.exact, got.offsets) == \
        (want.headers, want.header_row, want.first_col, want.exact, want.offsets)


@pytest.mark.parametrize("variant", [nothing, V.error_cells, V.typed_rows_under_customers, V.calc_chain],
                         ids=lambda v: v.__name__)
def test_the_report_is_the_same_with_tables_read_by_the_helper(variant, tmp_path, capsys, monkeypatch):
    """The report reads three columns of 认定申请: with the thresholds lowered the helper reads them.  On the
    book's own date the applications approved this year count in 绩效考核 (新认定客户): a row the helper
    lost or added would change the report."""
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    taken: list = []
    _spy(monkeypatch, "_read_ahead", taken)

    def report(book: Path, folder: Path) -> tuple:
        capsys.readouterr()
        rc = main(["report", str(book), "--out", str(folder / "报表"), "--as-of", "2026-10-31"])
        got = capsys.readouterr()
        [xlsx] = sorted((folder / "报表").glob("*.xlsx"))
        return (rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"),
                V.cells_of(xlsx))
    here, ahead = _here_and_ahead(tmp_path, variant, monkeypatch, report)
    assert (L.CERTIFICATIONS.name, True) in taken  # the helper's columns were taken
    assert ahead[:3] == here[:3]
    assert ahead[3] == here[3]


def visit_columns_moved(book: Path) -> None:
    """状态 moved where 实际日期 was and back (as a user drags columns in Excel): the last-visit view's three
    columns come out of the table in another order than the view names them."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.VISITS.sheet]
    table = ws.tables[L.VISITS.name]
    names = [c.name for c in table.tableColumns]
    a, b = names.index(L.VISITS.header("actual_date")), names.index(L.VISITS.header("state"))
    table.tableColumns[a].name, table.tableColumns[b].name = names[b], names[a]
    for r in range(1, ws.max_row + 1):
        x, y = ws.cell(r, table_col(table, a)), ws.cell(r, table_col(table, b))
        x.value, y.value, x.number_format, y.number_format = y.value, x.value, y.number_format, x.number_format
    wb.save(book)


def table_col(table, i: int) -> int:
    return openpyxl.utils.cell.range_boundaries(table.ref)[0] + i


@pytest.mark.parametrize("ahead", [False, True], ids=["here", "by_the_helper"])
def test_the_last_visits_are_read_whatever_the_order_of_the_columns(ahead, tmp_path, monkeypatch):
    monkeypatch.setattr(columns, "MIN_BYTES", 0)
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0 if ahead else 1 << 62)
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    visit_columns_moved(book)
    reference = FileStore(book, full_reads=True)  # from whole records, typed by their headers
    with reference:
        want = reference.load(REGRADE_NEEDS).last_visits()
    taken: list = []
    _spy(monkeypatch, "view_ahead", taken)
    store = FileStore(book)
    with store:
        got = store.load(REGRADE_NEEDS).last_visits()
    assert taken == [(L.VISITS.name, ahead)]
    assert got == want and want


@pytest.mark.parametrize("variant,trimmed", [(far_note_in_visits, False), (far_note_and_typed_visit, True)])
def test_cells_far_right_of_the_visits_are_looked_for_only_when_the_sheet_is_read_whole(variant, trimmed, tmp_path,
                                                                                        monkeypatch):
    """The helper's pass that reads the view does not look for cells far right of the tables (the
    column reader ignores them).  When its view is used nothing looks for them; when the sheet is
    read here after all, they are looked for first and the reader gets a copy without them."""
    from kam_xl.workbook import scan
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    monkeypatch.setattr(columns, "MIN_BYTES", 0)  # the helper reads the view with the column reader
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    variant(book)
    part = V.parts(book, L.VISITS.name)[0]
    trims, scans = [], []
    real_trim, real_scan = scan.trim_sheet, scan.scan_sheet
    monkeypatch.setattr(scan, "trim_sheet", lambda xml, *a: trims.append(a) or real_trim(xml, *a))
    monkeypatch.setattr(scan, "scan_sheet", lambda path, p, *a: scans.append(p) or real_scan(path, p, *a))
    with FileStore(book) as st:
        data = st.load(REGRADE_NEEDS)
        last = data.last_visits()
    assert scans.count(part) == (1 if trimmed else 0)  # the second pass, only where the sheet is read here
    assert bool(trims) == trimmed
    if trimmed:
        assert trims[0][1] < 16384  # the note's column left out of the reader's copy
    if trimmed:  # read here, the typed visit taken in: it is KH000003's last
        assert last["KH000003"] == dt.date(1899, 12, 30) + dt.timedelta(days=46150)
