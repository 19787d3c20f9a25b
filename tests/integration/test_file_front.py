"""The file front: read tables, write changes back preserving everything else, safely."""
import datetime as dt
import os

import openpyxl

from kam_xl.workbook import formulas
import pytest
from python_calamine import CalamineWorkbook

from kam_xl import layout as L
from kam_xl.errors import WorkbookChanged, WorkbookLocked, WorkbookNotFound, WorkbookUnreadable
from kam_xl.workbook.store import BACKUP_DIR, FileStore
from kam_xl.workbook.tables import Changes
from tests.conftest import good_customer
from tests.helpers import add_user_column, table_records, zip_members


def test_read_gives_typed_values_for_every_column(book_factory):
    book = book_factory()
    t = FileStore(book).read(["Customers"])["Customers"]
    assert t.headers == L.CUSTOMERS.headers
    row = t.records()[0]
    assert row["客户编号"] == "KH000001" and row["联系电话"] == "021-55550000"
    assert row["年用量(元)"] == 800000 and row["利润率"] == 0.12
    assert row["协议到期日"] == dt.date(2027, 12, 31) or row["协议到期日"].date() == dt.date(2027, 12, 31)
    assert t.header_row == 1 and t.excel_row(0) == 2


def test_cell_updates_keep_vba_other_parts_and_styles(book_factory):
    book = book_factory(customers=[good_customer(1), good_customer(2)])
    before = zip_members(book)
    store = FileStore(book, backups_keep=3)
    ch = Changes()
    ch.set("Customers", 1, "客户等级", "B2")
    ch.set("Customers", 1, "定级日期", dt.date(2026, 11, 1))
    store.write(ch)
    after = zip_members(book)
    assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {"xl/worksheets/sheet2.xml"}  # only the customer sheet
    wb = openpyxl.load_workbook(book)
    ws = wb[L.SHEET_CUSTOMERS]
    hdr = [c.value for c in ws[1]]
    cell = ws.cell(row=3, column=hdr.index("定级日期") + 1)
    assert cell.value == dt.datetime(2026, 11, 1) and cell.number_format == "yyyy-mm-dd"
    assert ws.cell(row=3, column=hdr.index("客户等级") + 1).value == "B2"
    assert ws.cell(row=2, column=hdr.index("客户等级") + 1).value == "A1"


def test_append_grows_the_table_and_fills_calculated_columns(book_factory):
    book = book_factory()
    store = FileStore(book)
    store.write(Changes(appends={"Receivables": [
        {"单据号": "N1", "客户编号": "KH000001", "开票日期": dt.date(2026, 9, 1), "金额": 5000.0,
         "到期日": dt.date(2026, 10, 1), "已回款": 0.0},
        {"单据号": "N2", "客户编号": "KH000001", "开票日期": dt.date(2026, 9, 2), "金额": 7000.0,
         "到期日": dt.date(2026, 10, 2), "已回款": 7000.0}]}))
    wb = openpyxl.load_workbook(book)
    ws = wb[L.SHEET_RECEIVABLES]
    assert ws.tables["Receivables"].ref == "A1:N4"
    hdr = [c.value for c in ws[1]]
    assert ws.cell(row=4, column=1).value == "N2"
    f = ws.cell(row=4, column=hdr.index("账龄") + 1).value
    assert f == "=" + formulas.aging_formula()  # the table's own calculated-column formula, native
    recs = table_records(book, L.SHEET_RECEIVABLES, "Receivables")
    assert [r["单据号"] for r in recs] == ["FP00000001", "N1", "N2"]


def test_replace_shrinks_and_grows_a_table(book_factory):
    book = book_factory()
    store = FileStore(book)
    rows = [{"级别": "错误", "工作表": "客户档案", "行号": i + 2, "列": "客户名称", "规则": "X", "说明": "说明"}
            for i in range(5)]
    store.write(Changes(replaces={"Issues": rows}))
    assert len(table_records(book, L.SHEET_ISSUES, "Issues")) == 5
    FileStore(book).write(Changes(replaces={"Issues": rows[:2]}))
    wb = openpyxl.load_workbook(book)
    assert wb[L.SHEET_ISSUES].tables["Issues"].ref == "A1:G3"
    assert wb[L.SHEET_ISSUES].cell(row=5, column=1).value is None
    FileStore(book).write(Changes(replaces={"Issues": []}))
    assert openpyxl.load_workbook(book)[L.SHEET_ISSUES].tables["Issues"].ref == "A1:G2"
    assert table_records(book, L.SHEET_ISSUES, "Issues") == []


def test_user_added_columns_and_cells_survive_writes(book_factory):
    book = book_factory(customers=[good_customer(1), good_customer(2)])
    add_user_column(book, L.SHEET_CUSTOMERS, "Customers", "客户评价", ["重点维护", "一般"])
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb[L.SHEET_CUSTOMERS]["AE10"] = "手工备注"
    wb.save(book)
    store = FileStore(book)
    t = store.read(["Customers"])["Customers"]
    assert t.headers[-1] == "客户评价"
    ch = Changes()
    ch.set("Customers", 0, "客户等级", "A2")
    store.write(ch)
    wb = openpyxl.load_workbook(book)
    ws = wb[L.SHEET_CUSTOMERS]
    col = openpyxl.utils.get_column_letter(len(L.CUSTOMERS.headers) + 1)  # right of the layout's columns
    assert ws[f"{col}2"].value == "重点维护" and ws[f"{col}3"].value == "一般" and ws["AE10"].value == "手工备注"


def test_written_book_reads_back_with_calamine_and_openpyxl(book_factory):
    book = book_factory()
    ch = Changes(appends={"GradeLog": [{"时间": dt.datetime(2026, 11, 1, 9, 30), "客户编号": "KH1",
                                        "客户名称": "甲&乙<公司>", "原等级": "A2", "新等级": "A1",
                                        "依据": "x", "操作人": "张伟", "规则版本": "R-1"}]})
    FileStore(book).write(ch)
    with CalamineWorkbook.from_path(str(book), load_tables=True) as cw:
        row = cw.get_table_by_name("GradeLog").to_python()[0]
    assert row[2] == "甲&乙<公司>" and row[0] == dt.datetime(2026, 11, 1, 9, 30)
    assert table_records(book, L.SHEET_GRADELOG, "GradeLog")[0]["客户名称"] == "甲&乙<公司>"


def test_writes_keep_timestamped_backups_rotating(book_factory):
    book = book_factory()
    for i in range(4):
        ch = Changes()
        ch.set("Customers", 0, "备注", f"第{i}次")
        FileStore(book, backups_keep=2).write(ch)
    backups = sorted((book.parent / BACKUP_DIR).glob(f"{book.stem}_*.xlsm"))
    assert len(backups) == 2
    t = FileStore(backups[-1]).read(["Customers"])["Customers"]
    assert t.records()[0]["备注"] == "第2次"  # the state before the last write


def test_excel_owner_file_refuses_every_write(book_factory):
    book = book_factory()
    store = FileStore(book)
    (book.parent / ("~$" + book.name)).write_text("owner")
    before = book.read_bytes()
    ch = Changes()
    ch.set("Customers", 0, "备注", "x")
    with pytest.raises(WorkbookLocked) as e:
        store.write(ch)
    assert "Excel" in e.value.message() and "~$" in e.value.message()
    assert book.read_bytes() == before


def test_book_changed_on_disk_after_reading_is_not_overwritten(book_factory):
    book = book_factory()
    store = FileStore(book)
    store.read(["Customers"])
    # someone saves the book in between (same size, later modification time)
    st = book.stat()
    os.utime(book, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
    ch = Changes()
    ch.set("Customers", 0, "备注", "x")
    with pytest.raises(WorkbookChanged):
        store.write(ch)


@pytest.mark.parametrize("content", [b"", b"not a workbook", b"PK\x03\x04garbage"])
def test_bad_files_give_a_clear_error(tmp_path, content):
    p = tmp_path / "bad.xlsm"
    p.write_bytes(content)
    with pytest.raises(WorkbookUnreadable) as e:
        FileStore(p)
    assert "无法读取工作簿" in e.value.message() and "cannot read workbook" in e.value.message()


def test_missing_file(tmp_path):
    with pytest.raises(WorkbookNotFound):
        FileStore(tmp_path / "none.xlsm")


def test_backup_count_is_a_workbook_setting(book_factory):
    book = book_factory(settings={"备份保留份数": 1})
    for i in range(3):
        ch = Changes()
        ch.set("Customers", 0, "备注", f"第{i}次")
        FileStore(book).write(ch)
    assert len(list((book.parent / BACKUP_DIR).glob(f"{book.stem}_*.xlsm"))) == 1
