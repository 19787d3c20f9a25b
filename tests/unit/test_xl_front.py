"""The xlwings front (XlBook, button macros) against a stand-in implementing exactly
the xlwings calls it makes, loaded from a real master workbook.  Live Excel cannot
run on Linux; this checks everything beneath it gives the same results as the file front."""
from __future__ import annotations

import datetime as dt
import re

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.files import run_regrade, run_validate
from kam_xl.xl import macros
from kam_xl.xl.book import XlBook


class _Rows:
    def __init__(self, n):
        self.count = n


class _Api:
    """Range.api: the two COM calls XlBook makes (cells inserted / deleted, shifting)."""

    def __init__(self, rng):
        self.rng = rng

    def Insert(self, Shift):
        assert Shift == -4121
        self.rng.sheet.shift(self.rng.r1, self.rng.c1, self.rng.c2, self.rng.r2 - self.rng.r1 + 1)

    def Delete(self, Shift):
        assert Shift == -4162
        self.rng.sheet.shift(self.rng.r1, self.rng.c1, self.rng.c2, -(self.rng.r2 - self.rng.r1 + 1))


class Range:
    def __init__(self, sheet, r1, c1, r2=None, c2=None, ndim=None):
        self.sheet, self.r1, self.c1 = sheet, r1, c1
        self.r2, self.c2 = r2 or r1, c2 or c1
        self.ndim = ndim

    @property
    def row(self):
        return self.r1

    @property
    def column(self):
        return self.c1

    @property
    def rows(self):
        return _Rows(self.r2 - self.r1 + 1)

    @property
    def columns(self):
        return _Rows(self.c2 - self.c1 + 1)

    @property
    def api(self):
        return _Api(self)

    def options(self, ndim=None, err_to_str=False):
        return Range(self.sheet, self.r1, self.c1, self.r2, self.c2, ndim=ndim)

    @property
    def value(self):
        g = self.sheet.cells
        rows = [[g.get((r, c)) for c in range(self.c1, self.c2 + 1)] for r in range(self.r1, self.r2 + 1)]
        if self.ndim == 2:
            return rows
        if self.r1 == self.r2 and self.c1 == self.c2:
            return rows[0][0]
        if self.r1 == self.r2:
            return rows[0]
        return rows

    @value.setter
    def value(self, v):
        cells = [(self.r1 + i, self.c1 + j, x) for i, row in enumerate(v) for j, x in enumerate(row)] \
            if isinstance(v, list) else [(self.r1, self.c1, v)]
        for r, c, x in cells:
            calc = self.sheet.calculated(r, c)
            assert calc is None, f"wrote into the calculated column at {(r, c)}"
            self.sheet.cells[(r, c)] = x
        self.sheet.book.writes += 1
        self.sheet.book.cells_written += len(cells)

    @property
    def formula(self):
        calc = self.sheet.calculated(self.r1, self.c1)
        if calc is not None:
            return calc
        v = self.sheet.cells.get((self.r1, self.c1))
        return v if isinstance(v, str) and v.startswith("=") else ""

    @formula.setter
    def formula(self, text):
        """A formula set on a whole table column makes it the calculated column (Excel)."""
        for t in self.sheet.tables.values():
            if t.c1 <= self.c1 <= t.c2 and t.r1 < self.r1 <= t.r2:
                t.calculated[self.c1] = text
                t.fill(t.r1 + 1, t.r2)
        self.sheet.book.writes += 1

    def clear_contents(self):
        for r in range(self.r1, self.r2 + 1):
            for c in range(self.c1, self.c2 + 1):
                self.sheet.cells.pop((r, c), None)


class Table:
    def __init__(self, sheet, name, r1, c1, r2, c2, totals=0, calculated=None):
        self.sheet, self.name = sheet, name
        self.r1, self.c1, self.r2, self.c2 = r1, c1, r2, c2
        self.totals = totals
        self.calculated = calculated or {}  # column → formula Excel fills into new rows

    @property
    def range(self):
        return Range(self.sheet, self.r1, self.c1, self.r2, self.c2)

    @property
    def header_row_range(self):
        return Range(self.sheet, self.r1, self.c1, self.r1, self.c2)

    @property
    def data_body_range(self):
        end = self.r2 - self.totals
        if end <= self.r1:
            return None
        return Range(self.sheet, self.r1 + 1, self.c1, end, self.c2)

    @property
    def totals_row_range(self):
        return Range(self.sheet, self.r2, self.c1, self.r2, self.c2) if self.totals else None

    def resize(self, rng):
        old = self.r2
        self.r1, self.c1, self.r2, self.c2 = rng.r1, rng.c1, rng.r2, rng.c2
        self.fill(old + 1, self.r2)

    def fill(self, first, last):
        for r in range(first, last + 1 - self.totals):
            for c, f in self.calculated.items():
                self.sheet.cells[(r, c)] = f


class Sheet:
    def __init__(self, book, name):
        self.book, self.name, self.cells, self.tables = book, name, {}, {}

    def range(self, a, b=None):
        if isinstance(a, str):
            m = re.fullmatch(r"([A-Z]+)(\d+)", a)
            return Range(self, int(m[2]), openpyxl.utils.column_index_from_string(m[1]))
        if b is None:
            return Range(self, *a)
        return Range(self, a[0], a[1], b[0], b[1])

    def calculated(self, r, c):
        for t in self.tables.values():
            if t.r1 < r <= t.r2 - t.totals and c in t.calculated:
                return t.calculated[c]
        return None

    def shift(self, row, c1, c2, n):
        """Excel's Insert/Delete with shift: cells at or below `row` in c1..c2 move n rows;
        a table the rows are inserted into grows, tables below move."""
        moved = {}
        for (r, c), v in list(self.cells.items()):
            if c1 <= c <= c2 and r >= row:
                del self.cells[(r, c)]
                if n > 0 or r >= row - n:
                    moved[(r + n, c)] = v
        self.cells.update(moved)
        for t in self.tables.values():
            if t.c2 < c1 or t.c1 > c2:
                continue
            if t.r1 < row <= t.r2:  # inside the table (e.g. at its totals row): it grows or shrinks
                t.r2 += n
                if n > 0:
                    t.fill(row, row + n - 1 + t.totals)
            elif t.r1 >= row:
                t.r1 += n
                t.r2 += n


class App:
    def __init__(self):
        self.alerts = []

        class Api:
            UserName = "王经理"
        self.api = Api()

    def alert(self, text, title=""):
        self.alerts.append(text)


class Book:
    """Only what XlBook and the macros use: sheets[...] and app."""

    def __init__(self, path):
        self.fullname = str(path)
        self.app = App()
        self.writes = 0
        self.cells_written = 0
        wb = openpyxl.load_workbook(path)
        self.sheets = {}
        for ws in wb.worksheets:
            sh = Sheet(self, ws.title)
            for row in ws.iter_rows():
                for c in row:
                    if c.value is not None:
                        sh.cells[(c.row, c.column)] = c.value
            for name in ws.tables:
                t = ws.tables[name]
                (c1, r1), (c2, r2) = [openpyxl.utils.cell.coordinate_from_string(x) for x in t.ref.split(":")]
                c1, c2 = openpyxl.utils.column_index_from_string(c1), openpyxl.utils.column_index_from_string(c2)
                calculated = {c1 + i: "=" + col.calculatedColumnFormula.attr_text
                              for i, col in enumerate(t.tableColumns) if col.calculatedColumnFormula is not None}
                sh.tables[name] = Table(sh, name, r1, c1, r2, c2, t.totalsRowCount or 0, calculated)
            self.sheets[ws.title] = sh


def _cached_values(book_path, stand_in):
    """Formula cells hold text in the stand-in; give them the cached values, as Excel would."""
    wb = openpyxl.load_workbook(book_path, data_only=True)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                cur = stand_in.sheets[ws.title].cells.get((c.row, c.column))
                if isinstance(cur, str) and cur.startswith("="):
                    stand_in.sheets[ws.title].cells[(c.row, c.column)] = c.value


@pytest.fixture
def live(demo_book):
    b = Book(demo_book)
    _cached_values(demo_book, b)
    return b


def test_xlbook_reads_the_same_tables_as_the_file_front(live, demo_book):
    from kam_xl.workbook.store import FileStore
    names = ["Customers", "Visits", "Receivables", "TierRules", "Settings"]
    ours = XlBook(live).read(names)
    files = FileStore(demo_book).read(names)
    for n in names:
        assert ours[n].headers == files[n].headers
        assert len(ours[n].rows) == len(files[n].rows), n
        assert ours[n].header_row == files[n].header_row and ours[n].first_col == files[n].first_col


def test_regrade_button_gives_the_same_changes_as_the_cli(live, demo_book):
    text = macros.regrade(book=live)
    file_res = run_regrade(demo_book, operator="x")
    assert f"等级变动 {len(file_res.moves)} 户" in text
    assert live.app.alerts == [text]
    t = XlBook(live).read(["Customers", "GradeLog"])
    tiers = t["Customers"].column("客户等级")
    from kam_xl.workbook.store import FileStore
    assert tiers == FileStore(demo_book).read(["Customers"])["Customers"].column("客户等级")
    log = t["GradeLog"].records()
    assert len(log) == len(file_res.moves) and log[0]["操作人"] == "王经理"
    assert live.sheets[L.SHEET_HOME].cells[(5, 2)].startswith(dt.date.today().strftime("%Y-%m-%d"))


def test_validate_button_replaces_findings_and_fills_dunning(live, demo_book):
    text = macros.validate(book=live)
    rep = run_validate(demo_book)
    assert f"错误 {rep.errors} 项" in text
    issues = XlBook(live).read(["Issues"])["Issues"]
    assert len(issues.rows) == len(rep.findings)
    from kam_xl.workbook.store import FileStore
    levels = XlBook(live).read(["Receivables"])["Receivables"].column("催讨级别")
    assert levels == FileStore(demo_book).read(["Receivables"])["Receivables"].column("催讨级别")
    assert any(levels)
    # a second run with fewer findings shrinks the table
    macros.validate(book=live)
    assert len(XlBook(live).read(["Issues"])["Issues"].rows) == len(rep.findings)


def test_a_book_without_the_tables_gets_a_message_not_a_crash(live):
    del live.sheets[L.SHEET_CUSTOMERS].tables["Customers"]
    text = macros.regrade(book=live)
    assert "不是 kam_xl 主工作簿" in text and live.app.alerts == [text]


def test_import_button_with_files(live, tmp_path):
    from tests import legacy_files as lf
    f = lf.xls_2021_archive(tmp_path / "客户名单.xls")
    text = macros.import_archives(book=live, files=[str(f)])
    assert "新增 3" in text
    names = XlBook(live).read(["Customers"])["Customers"].column("客户名称")
    assert "深圳光明电子有限公司" in names
    assert macros.import_archives(book=live, files=[]) == "未选择文件，未导入。"


# --- the live store under the same habits as the file front (tests/variants.py) --------------
def _gradelog(live):
    sh = live.sheets[L.SHEET_GRADELOG]
    return sh, sh.tables[L.GRADE_LOG.name]


def test_the_stand_in_knows_the_calculated_columns(live):
    t = live.sheets[L.SHEET_CUSTOMERS].tables[L.CUSTOMERS.name]
    assert list(t.calculated.values()) and all(f.startswith("=") for f in t.calculated.values())


def test_live_regrade_grows_the_log_above_its_totals_row_and_keeps_a_note_below(live, demo_book):
    sh, t = _gradelog(live)
    t.r2 += 1
    t.totals = 1
    sh.cells[(t.r2, 1)] = "汇总"
    sh.cells[(t.r2, 2)] = "=SUBTOTAL(103,GradeLog[客户编号])"
    sh.cells[(t.r2 + 2, 1)] = "注：本表只追加"
    text = macros.regrade(book=live)
    moves = run_regrade(demo_book, operator="x").moves
    assert f"等级变动 {len(moves)} 户" in text
    assert t.r2 == 1 + len(moves) + 1  # header, one row per change, the totals row
    assert sh.cells[(t.r2, 1)] == "汇总" and sh.cells[(t.r2, 2)].startswith("=SUBTOTAL")
    assert sh.cells[(t.r2 + 2, 1)] == "注：本表只追加"  # moved down with the table, not overwritten
    log = XlBook(live).read([L.GRADE_LOG.name])[L.GRADE_LOG.name].records()
    assert len(log) == len(moves) and all(r["新等级"] for r in log)


def test_live_writes_only_the_changed_cells(live, demo_book):
    sh = live.sheets[L.SHEET_CUSTOMERS]
    t = sh.tables[L.CUSTOMERS.name]
    note = t.c1 + L.CUSTOMERS.headers.index("备注")
    sh.cells[(t.r1 + 1, note)] = "=B2&\"（重点）\""  # a user's formula in an input column
    live.writes = live.cells_written = 0
    res = services_regrade(live)
    assert sh.cells[(t.r1 + 1, note)] == "=B2&\"（重点）\""  # never rewritten as a value
    n_log = len(res.moves) * len(L.GRADE_LOG.headers)
    # tier + date per change, the log, the status, and 推算信誉 where the receivables changed it
    assert live.cells_written == 2 * len(res.moves) + n_log + 1 + res.credit_changes
    assert live.writes < 2 * len(res.moves) + res.credit_changes + 10  # runs of rows, not one call per cell


def services_regrade(live):
    from kam_xl.services.actions import regrade_book
    return regrade_book(XlBook(live), "王经理")


def test_live_error_values_are_findings_not_a_crash(live):
    sh = live.sheets[L.SHEET_CUSTOMERS]
    t = sh.tables[L.CUSTOMERS.name]
    sh.cells[(t.r1 + 3, t.c1 + L.CUSTOMERS.headers.index("年用量(元)"))] = "#N/A"
    from kam_xl.services.actions import validate_book
    rep = validate_book(XlBook(live))
    found = [f for f in rep.findings if f.rule == "CELL-ERROR-VALUE"]
    assert [(f.sheet, f.row, f.column) for f in found] == [(L.SHEET_CUSTOMERS, t.r1 + 3, "年用量(元)")]


def test_live_import_appends_customers_without_touching_calculated_columns(live, tmp_path):
    from tests import legacy_files as lf
    sh = live.sheets[L.SHEET_CUSTOMERS]
    t = sh.tables[L.CUSTOMERS.name]
    sh.cells[(t.r2 + 1, 1)] = "注：下方为手工备注"
    before = t.r2
    macros.import_archives(book=live, files=[str(lf.xls_2021_archive(tmp_path / "客户名单.xls"))])
    assert t.r2 > before and sh.cells[(t.r2 + 1, 1)] == "注：下方为手工备注"
    calc_col = next(iter(t.calculated))
    assert str(sh.cells[(t.r2, calc_col)]).startswith("=")  # Excel's own fill, not ours


def test_a_bug_in_an_action_reaches_the_user_as_a_message(live, monkeypatch):
    from kam_xl.services import actions as services
    monkeypatch.setattr(services, "regrade_book", lambda *a, **k: 1 / 0)
    text = macros.regrade(book=live)
    assert text.startswith("错误：程序内部错误（ZeroDivisionError") and live.app.alerts == [text]
    assert live.sheets[L.SHEET_HOME].cells[(5, 2)].startswith("错误：")


def test_form_and_report_buttons(live, tmp_path, monkeypatch):
    live.fullname = str(tmp_path / "book.xlsm")
    text = macros.form(book=live, customer_id="KH000001")
    assert text.startswith("客户认定申请表已生成") and (tmp_path / "客户认定申请表_KH000001.xlsx").exists()
    assert "没有编号或名称为“KH999999”的客户" in macros.form(book=live, customer_id="KH999999")
    text = macros.card(book=live, customer="kh000001")  # the card button: by id in any case, or by name
    assert text.startswith("客户档案卡已生成") and (tmp_path / "客户档案卡_KH000001.xlsx").exists()
    text = macros.report(book=live)
    assert "月度例会" in text
    rep = openpyxl.load_workbook(next(tmp_path.glob("大客户管理报表_*.xlsx")))
    assert {"例会-上月总结", "例会-下月计划"} <= set(rep.sheetnames)


def test_the_live_book_applies_the_same_record_actions_as_the_file_store(live, demo_book):
    """Records by id in live Excel (the stand-in): an update, two removals (table rows deleted,
    the rows below moving up) and an addition — the same visits as the file store ends with."""
    from kam_xl.store import EVERYTHING, ChangeSet, Needs
    from kam_xl.workbook.store import FileStore
    needs = Needs({"Visits": EVERYTHING})

    def change(store):
        with store:
            data = store.load(needs)
            ch = ChangeSet()
            ch.update("Visits", data.visits[0].rid, "outcome", "已签单")
            for v in data.visits[1:3]:
                ch.remove("Visits", v.rid)
            ch.add("Visits", {"id": "BF999999", "customer_id": data.visits[0].customer_id, "state": "草稿"})
            store.apply(ch)

    change(XlBook(live))
    change(FileStore(demo_book))
    ours = XlBook(live).read(["Visits"])["Visits"]
    files = FileStore(demo_book).read(["Visits"])["Visits"]
    assert ours.column("拜访编号") == files.column("拜访编号")
    assert ours.column("拜访结果") == files.column("拜访结果") and ours.column("拜访结果")[0] == "已签单"
    assert ours.column("拜访编号")[-1] == "BF999999"


def test_the_team_buttons_distribute_and_collect_through_the_live_book(live, demo_book):
    """分发 and 汇总 on the live master (the stand-in): the books go beside it, a returned change
    comes back into the live book's cells."""
    import openpyxl
    text = macros.distribute(book=live)
    folder = demo_book.with_name(f"{demo_book.stem}_个人工作簿")
    books = sorted(folder.glob("*.xlsm"))
    assert books and "第 1 轮分发" in text and live.app.alerts == [text]
    wb = openpyxl.load_workbook(books[0], keep_vba=True)
    ws = wb["客户档案"]
    heads = [c.value for c in ws[1]]
    cid = ws.cell(2, heads.index("客户编号") + 1).value
    ws.cell(2, heads.index("联系人") + 1).value = "新联系人"
    wb.save(books[0])
    text = macros.collect(book=live, books=[str(books[0])])
    assert "已应用 1" in text, text
    t = XlBook(live).read(["Customers"])["Customers"]
    row = t.column("客户编号").index(cid)
    assert t.column("联系人")[row] == "新联系人"
