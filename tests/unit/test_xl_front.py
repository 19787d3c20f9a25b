"""The xlwings front (XlBook, button macros) against a stand-in implementing exactly
the xlwings calls it makes, loaded from a real master workbook.  Live Excel cannot
run on Linux; this checks everything beneath it gives the same results as the file front."""
from __future__ import annotations

import datetime as dt
import re

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.services.book import run_regrade, run_validate
from kam_xl.xl import macros
from kam_xl.xl.book import XlBook


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

    def options(self, ndim=None):
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
        if isinstance(v, list):
            for i, row in enumerate(v):
                for j, x in enumerate(row):
                    self.sheet.cells[(self.r1 + i, self.c1 + j)] = x
        else:
            self.sheet.cells[(self.r1, self.c1)] = v
        self.sheet.book.writes += 1

    def clear_contents(self):
        for r in range(self.r1, self.r2 + 1):
            for c in range(self.c1, self.c2 + 1):
                self.sheet.cells.pop((r, c), None)


class Table:
    def __init__(self, sheet, name, r1, c1, r2, c2):
        self.sheet, self.name = sheet, name
        self.r1, self.c1, self.r2, self.c2 = r1, c1, r2, c2

    @property
    def range(self):
        return Range(self.sheet, self.r1, self.c1, self.r2, self.c2)

    @property
    def header_row_range(self):
        r = Range(self.sheet, self.r1, self.c1, self.r1, self.c2)
        return r

    @property
    def data_body_range(self):
        if self.r2 <= self.r1:
            return None
        return Range(self.sheet, self.r1 + 1, self.c1, self.r2, self.c2)

    def resize(self, rng):
        self.r1, self.c1, self.r2, self.c2 = rng.r1, rng.c1, rng.r2, rng.c2


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
                sh.tables[name] = Table(sh, name, r1, openpyxl.utils.column_index_from_string(c1),
                                        r2, openpyxl.utils.column_index_from_string(c2))
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
