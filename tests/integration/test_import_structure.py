"""Legacy archives as they really are (PRODUCT.md §7): the importer reads a sheet's
structure, not a list of words.  Every fixture is written here by a real writer
(openpyxl, xlwt, the csv module, LibreOffice for .ods, hand-written HTML)."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
import xlwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kam_xl import layout as L
from kam_xl.files import new_book, run_import
from kam_xl.importing import sheets
from kam_xl.importing.readers import SheetGrid
from kam_xl.importing.service import parse_sources
from tests.helpers import table_records


@pytest.fixture
def empty_book(tmp_path):
    return new_book(tmp_path / "master.xlsm")


def _customers(book):
    return {r["客户名称"]: r for r in table_records(book, L.SHEET_CUSTOMERS, "Customers")}


def _log(book):
    return table_records(book, L.SHEET_IMPORTLOG, "ImportLog")


def regional_workbook(path: Path) -> Path:
    """One sheet per region after a title block; a header repeated at the printed page
    break; 业务员 and 所属区域 merged down over groups; a row of sums without a label; an
    export footer; an instruction sheet with an example row; a hidden list sheet."""
    wb = openpyxl.Workbook()
    guide = wb.active
    guide.title = "填表说明"
    guide.append(["填表说明：每个客户一行，单位名称写全称"])
    guide.append(["单位名称", "业务员", "年用量（万元）", "联系电话"])
    guide.append(["XX有限公司", "张三", 50, "13800000000"])
    east = wb.create_sheet("华东区")
    east.append(["某某集团股份有限公司"])
    east.append(["大客户档案（华东）"])
    east.append(["制表日期：2023-12-31", None, "制表：周建国"])
    east.append([])
    header = ["序号", "单位名称", "业务员", "所属区域", "年用量（万元）", "联系电话", "协议编号"]
    east.append(header)                                                       # row 5
    east.append([1, "苏州恒力精工有限公司", "张伟", "华东", 120, "0512-66668888", None])   # 6
    east.append([2, "无锡天成电子有限公司", None, None, 80, "13912345678", None])          # 7
    east.append([3, "常州新达化工有限公司", None, None, 45.5, "13700001111", "XS-2023-07"])  # 8
    east.merge_cells("C6:C8")
    east.merge_cells("D6:D8")
    east.append(header)                                                       # 9: printed page 2
    east.append([4, "宁波海通物流有限公司", "李娜", "华东", 60, "0574-88889999", None])    # 10
    east.append([5, "杭州XX科技有限公司", "李娜", "华东", 10, None, None])               # 11: placeholder
    east.append([None, None, None, None, 305.5, None, None])                 # 12: sums, no label
    east.append(["导出人：王芳", None, "导出时间：2024-01-02 09:30"])              # 13
    south = wb.create_sheet("华南区")
    south.append(header)
    south.append([1, "广州明珠贸易有限公司", "陈志强", "华南", 75, "020-33334444", None])
    south.append(["合计", None, None, None, 75, None, None])
    lists = wb.create_sheet("下拉选项")
    lists.append(["单位名称", "业务员"])
    lists.append(["不该导入有限公司", "赵六"])
    lists.sheet_state = "hidden"
    wb.save(path)
    return path


REAL = {"苏州恒力精工有限公司", "无锡天成电子有限公司", "常州新达化工有限公司", "宁波海通物流有限公司",
        "广州明珠贸易有限公司"}


def test_only_customer_rows_become_customers_and_every_row_is_accounted_for(empty_book, tmp_path):
    src = regional_workbook(tmp_path / "大客户档案2023.xlsx")
    res = run_import(empty_book, [src])
    cs = _customers(empty_book)
    assert set(cs) == REAL
    # the merged 业务员 / 所属区域 reach every customer of the group
    for name in ("苏州恒力精工有限公司", "无锡天成电子有限公司", "常州新达化工有限公司"):
        assert cs[name]["客户经理"] == "张伟" and cs[name]["区域"] == "华东", name
    kinds = {(o.sheet, o.row): o.message for o in res.outcomes if o.outcome == "跳过"}
    assert kinds[("华东区", 9)].startswith(sheets.REPEATED_HEADER)
    assert kinds[("华东区", 11)].startswith(sheets.EXAMPLE)
    assert kinds[("华东区", 12)].startswith(sheets.TOTAL)
    assert kinds[("华东区", 13)].startswith(sheets.FOOTER)
    assert all(kinds[("华东区", r)].startswith(sheets.TITLE) for r in (1, 2, 3))
    assert kinds[("华南区", 3)].startswith(sheets.TOTAL)
    assert kinds[("填表说明", 3)].startswith(sheets.INSTRUCTION_SHEET)
    assert kinds[("下拉选项", 2)].startswith(sheets.HIDDEN_SHEET)
    # every non-blank source row is in the report exactly once
    wb = openpyxl.load_workbook(src)
    rows = {(ws.title, r) for ws in wb for r in range(1, ws.max_row + 1)
            if any(c.value is not None for c in ws[r])}
    header_rows = {("华东区", 5), ("华南区", 1)}
    reported = [(o.sheet, o.row) for o in res.outcomes]
    assert len(reported) == len(set(reported))
    assert set(reported) | header_rows == rows
    assert set(reported) & header_rows == set()
    # re-import changes nothing
    before = empty_book.read_bytes()
    again = run_import(empty_book, [src])
    assert not again.data_changed and empty_book.read_bytes() == before


def test_header_is_found_by_structure_not_position(tmp_path):
    """A header after a logo line and a 制表 block, with a column the synonyms do not
    know: found by its shape and by the rows under it type-checking."""
    src = regional_workbook(tmp_path / "a.xlsx")
    parsed = parse_sources([src])
    info = {s.sheet: s for s in parsed.result.sources}
    assert set(info) == {"华东区", "华南区"}
    assert "序号" in info["华东区"].ignored


def _archive_for_links(folder: Path) -> None:
    """A customer list with legacy codes, and visits and invoices that name customers by
    code (leading zeros lost), by name, by new words, or not at all."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["客户代码", "单位名称", "业务员", "协议编号"])
    ws.append(["00102", "北京华远机电有限公司", "张伟", None])
    ws.append(["00131", "天津港盛化工有限公司", "李娜", None])
    wb.save(folder / "客户名单.xlsx")
    (folder / "拜访.csv").write_text("\n".join([
        "客户代码,单位名称,拜访日期,方式,拜访人",
        "102,,2023-03-01,客户来访,张伟",
        ",天津港盛化工有限公司,2023-03-02,上门拜访,李娜",
        "00131,,2023-03-03,电话,李娜",
        ",不存在贸易有限公司,2023-03-04,上门拜访,李娜",
        ",北京华远机电有限公司,2023-03-05,微信,张伟",
    ]), encoding="utf-8")
    (folder / "发票.csv").write_text("\n".join([
        "发票号,客户代码,开票日期,金额,到期日,已收金额",
        "F001,00102,2023-01-10,100000,账期90天,0",
        "F002,131,2023-02-01,50000,30天,0",
        "F003,131,2023-02-05,20000,2023-03-05,30000",
        "F004,00102,2023-04-01,10000,2023-03-01,0",
        "F005,999,2023-04-01,10000,2023-05-01,0",
    ]), encoding="utf-8")


def test_visits_and_invoices_link_by_legacy_code_and_never_invent_a_customer(empty_book, tmp_path):
    folder = tmp_path / "legacy"
    folder.mkdir()
    _archive_for_links(folder)
    res = run_import(empty_book, [folder])
    cs = _customers(empty_book)
    assert set(cs) == {"北京华远机电有限公司", "天津港盛化工有限公司"}
    ids = {n: c["客户编号"] for n, c in cs.items()}
    visits = table_records(empty_book, L.SHEET_VISITS, "Visits")
    assert [(v["客户编号"], v["拜访方式"]) for v in visits] == [
        (ids["北京华远机电有限公司"], "接待来访"), (ids["天津港盛化工有限公司"], "实地拜访"),
        (ids["天津港盛化工有限公司"], "电话回访"), (ids["北京华远机电有限公司"], None)]
    recv = {r["单据号"]: r for r in table_records(empty_book, L.SHEET_RECEIVABLES, "Receivables")}
    assert set(recv) == {"F001", "F002"}
    assert recv["F001"]["客户编号"] == ids["北京华远机电有限公司"]
    assert recv["F001"]["到期日"].date() == dt.date(2023, 1, 10) + dt.timedelta(days=90)
    assert recv["F002"]["到期日"].date() == dt.date(2023, 3, 3)
    by_row = {(o.file, o.row): o for o in res.outcomes}
    assert by_row[("拜访.csv", 5)].outcome == "拒绝" and "不会新建客户" in by_row[("拜访.csv", 5)].message
    assert "拜访方式" in by_row[("拜访.csv", 6)].message and "微信" in by_row[("拜访.csv", 6)].message
    assert by_row[("发票.csv", 4)].outcome == "拒绝" and "大于金额" in by_row[("发票.csv", 4)].message
    assert by_row[("发票.csv", 5)].outcome == "拒绝" and "早于开票日期" in by_row[("发票.csv", 5)].message
    assert by_row[("发票.csv", 6)].outcome == "拒绝" and "999" in by_row[("发票.csv", 6)].message
    assert "账期 90 天" in by_row[("发票.csv", 2)].message


def test_the_report_names_filled_and_refused_fields(book_factory, tmp_path):
    from tests.conftest import good_customer
    book = book_factory(customers=[good_customer(1, 协议编号=None, 认定状态="调查中")])
    src = tmp_path / "补充.csv"
    src.write_text("客户名称,协议编号,年采购额,联系电话\n"
                   "上海第1精密机械有限公司,XS-2019-0001,-5000,\n"
                   "上海第1精密机械有限公司,,待定,021-55550000\n", encoding="utf-8")
    res = run_import(book, [src])
    first, second = [o for o in res.outcomes if o.file == "补充.csv"]
    assert first.outcome == "合并" and "补充：协议编号" in first.message
    assert "年用量(元)" in first.message and "负数" in first.message
    assert second.outcome == "合并" and "无新信息" in second.message and "待定" in second.message


def test_unicode_text_html_and_ods_are_read_by_their_content(empty_book, tmp_path):
    folder = tmp_path / "formats"
    folder.mkdir()
    # Excel's "Unicode text": UTF-16 with BOM, tab-separated
    (folder / "客户.txt").write_bytes("单位名称\t业务员\t年用量（万元）\n重庆山城汽配有限公司\t刘洋\t30\n"
                                      .encode("utf-16"))
    # a web page saved as .xls (what many systems export)
    (folder / "导出.xls").write_text(
        '<html><head><meta charset="utf-8"></head><body><table>'
        "<tr><th>客户名称</th><th>客户经理</th><th>年用量(元)</th></tr>"
        '<tr><td>成都蓉城食品有限公司</td><td rowspan="2">孙丽</td><td>200,000</td></tr>'
        "<tr><td>绵阳科创仪器有限公司</td><td>90000</td></tr>"
        "</table></body></html>", encoding="utf-8")
    # LibreOffice's own .ods, written by LibreOffice
    xlsx = tmp_path / "ods_src.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["单位名称", "业务员"])
    wb.active.append(["西安古城建材有限公司", "周平"])
    wb.save(xlsx)
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice:
        subprocess.run([soffice, "--headless", "--convert-to", "ods", "--outdir", str(folder), str(xlsx)],
                       check=True, capture_output=True, timeout=120)
    res = run_import(empty_book, [folder])
    cs = _customers(empty_book)
    assert {"重庆山城汽配有限公司", "成都蓉城食品有限公司", "绵阳科创仪器有限公司"} <= set(cs)
    assert cs["绵阳科创仪器有限公司"]["客户经理"] == "孙丽"  # rowspan = merged down
    assert cs["重庆山城汽配有限公司"]["年用量(元)"] == 300000
    if soffice:
        assert "西安古城建材有限公司" in cs
    assert not res.unreadable


def test_a_old_binary_xls_with_merged_groups(empty_book, tmp_path):
    path = tmp_path / "老档案.xls"
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("客户")
    for j, h in enumerate(["单位名称", "业务员", "所属区域"]):
        ws.write(0, j, h)
    ws.write(1, 0, "郑州中原重工有限公司")
    ws.write(2, 0, "洛阳牡丹轴承有限公司")
    ws.write_merge(1, 2, 1, 1, "马强")
    ws.write_merge(1, 2, 2, 2, "华中")
    wb.save(str(path))
    run_import(empty_book, [path])
    cs = _customers(empty_book)
    assert cs["洛阳牡丹轴承有限公司"]["客户经理"] == "马强" and cs["洛阳牡丹轴承有限公司"]["区域"] == "华中"


# -- the property: a row that does not type-check as a customer is never imported ----------
HEADER = ["单位名称", "客户代码", "年用量（万元）", "联系电话", "建档日期"]
_not_a_name = st.one_of(
    st.none(), st.integers(-10**6, 10**9), st.floats(allow_nan=False, allow_infinity=False),
    st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)),
    st.sampled_from(["导出人：王芳", "打印时间：2024-01-02", "审核：李", "制表人:周建国", "XX有限公司", "××公司",
                     "某某集团", "示例：上海某公司", "单位名称", "客户名称", "合计", "小计：", "—", "1", "注"]),
    st.builds(lambda a, b: f"{a}：{b}", st.sampled_from(["导出人", "备注", "说明", "页码", "来源"]),
              st.text(min_size=0, max_size=8)))
_not_an_id = st.one_of(st.none(), st.sampled_from(["制表人：周建国", "备注", "第1页", "合计", "—", "说明：无"]))
_cell = st.one_of(st.none(), st.text(max_size=10), st.integers(), st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_not_a_name, _not_an_id, _cell, _cell, _cell), min_size=1, max_size=8))
def test_a_row_that_does_not_type_check_as_a_customer_is_never_imported(rows):
    grid = SheetGrid(Path("档案.xlsx"), "客户", [["大客户档案"], HEADER,
                                                 ["上海真实客户有限公司", "KH1", 10, "13800000000", "2020-01-01"],
                                                 *[list(r) for r in rows]])
    hm = sheets.find_header(grid)
    assert hm is not None and hm.table == L.CUSTOMERS.name
    classified = sheets.classify(grid, hm)
    data = [x for x in classified if x.kind == sheets.DATA]
    assert [x.row for x in data] == [3]
    assert len(classified) == len(grid.rows) - 1  # every row but the header, accounted for
