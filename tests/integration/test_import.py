"""导入历史档案 on legacy files the tests build (a real BIFF .xls, a GBK CSV, merged headers, bad files)."""
import datetime as dt
import pickle

import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import new_book, run_import
from kam_xl.importing.service import SourceInfo, SourceRow
from tests import legacy_files as lf
from tests.conftest import good_customer
from tests.helpers import table_records


@pytest.fixture
def sources(tmp_path):
    return lf.old_archive_folder(tmp_path / "旧档案")


@pytest.fixture
def bad_files(tmp_path):
    d = tmp_path / "坏文件"
    d.mkdir()
    lf.corrupt_xlsx(d / "损坏.xlsx")
    lf.empty_file(d / "空.csv")
    lf.no_header_xlsx(d / "统计.xlsx")
    lf.encrypted_xlsx(d / "加密.xlsx")
    return d


@pytest.fixture
def empty_book(tmp_path):
    return new_book(tmp_path / "master.xlsm")


def customers(book):
    return {r["客户名称"]: r for r in table_records(book, L.SHEET_CUSTOMERS, "Customers")}


def test_folder_of_old_spreadsheets_becomes_one_clean_archive(empty_book, sources):
    res = run_import(empty_book, [sources])
    cs = customers(empty_book)
    assert set(cs) == {"上海宏达精密机械有限公司", "杭州恒泰化工有限公司", "南京(江北)新材料有限责任公司",
                       "广州(天河)物流有限公司", "深圳光明电子有限公司"}
    hd = cs["上海宏达精密机械有限公司"]
    assert hd["客户编号"] == "12"                      # 12.0 stored as a float → text id
    assert hd["年用量(元)"] == 1200000                 # the 2021 source wins over 2019's 85万
    assert hd["联系电话"] == "021-55550000"            # lost leading zero of a landline
    assert hd["利润率"] == 0.125 and hd["回款信誉"] == "好"
    assert cs["杭州恒泰化工有限公司"]["年用量(元)"] == 325000      # "32.5" in a 万元 column
    assert cs["杭州恒泰化工有限公司"]["联系电话"] == "13812345678"
    assert cs["南京(江北)新材料有限责任公司"]["联系电话"] == "13900001111"  # +86
    assert cs["南京(江北)新材料有限责任公司"]["年用量(元)"] == 42000      # "4.2万" overrides the 万元 unit
    assert cs["深圳光明电子有限公司"]["建档日期"].date() == dt.date(2019, 3, 5)  # 20190305
    assert cs["广州(天河)物流有限公司"]["年用量(元)"] == 120000
    # visits and receivables linked to customers by name
    ids = {c["客户名称"]: c["客户编号"] for c in cs.values()}
    visits = table_records(empty_book, L.SHEET_VISITS, "Visits")
    assert [(v["客户编号"], v["拜访方式"], v["实际日期"].date()) for v in visits] == [
        (ids["上海宏达精密机械有限公司"], "实地拜访", dt.date(2021, 3, 5)),
        (ids["杭州恒泰化工有限公司"], "电话回访", dt.date(2021, 4, 10))]
    recv = table_records(empty_book, L.SHEET_RECEIVABLES, "Receivables")
    assert [(r["单据号"], r["客户编号"], r["金额"]) for r in recv] == [
        ("INV-001", ids["上海宏达精密机械有限公司"], 120000), ("INV-002", ids["南京(江北)新材料有限责任公司"], 35000)]
    # every source row accounted for: the three title rows above the headers are listed too
    assert res.counts == {"新增": 9, "合并": 1, "跳过": 8, "拒绝": 2}
    log = table_records(empty_book, L.SHEET_IMPORTLOG, "ImportLog")
    assert len(log) == 20
    over = next(r for r in log if r["结果"] == "合并")
    assert "被较新来源覆盖" in over["说明"] and "850,000" in over["说明"]
    rejected = {(r["文件"], r["行号"]): r["说明"] for r in log if r["结果"] == "拒绝"}
    assert "找不到客户" in rejected[("拜访.csv", 5)]
    assert "abc" in rejected[("应收.csv", 4)]
    skipped = {(r["文件"], r["行号"]): r["说明"] for r in log if r["结果"] == "跳过"}
    assert skipped[("2019客户档案.xlsx", 9)].startswith("合计行") and skipped[("客户名单.xls", 7)].startswith("合计行")
    assert skipped[("2019客户档案.xlsx", 10)].startswith("表尾")
    assert skipped[("2019客户档案.xlsx", 1)].startswith("标题")


def test_report_says_which_columns_were_mapped_and_ignored(empty_book, sources):
    res = run_import(empty_book, [sources])
    src = {s.file: s for s in res.sources}
    assert src["2019客户档案.xlsx"].mapped["业务情况/年用量（万元）"] == "年用量(元)"
    assert src["2019客户档案.xlsx"].date == dt.date(2019, 12, 31)
    assert src["应收.csv"].date_basis == "记录中最晚的日期"
    lines = "\n".join(res.summary_lines())
    assert "已识别列" in lines


def test_reimporting_the_same_files_changes_nothing(empty_book, sources):
    run_import(empty_book, [sources])
    before = empty_book.read_bytes()
    res = run_import(empty_book, [sources])
    assert res.counts["新增"] == 0 and not res.data_changed
    assert empty_book.read_bytes() == before


def test_existing_workbook_values_win_and_disagreements_are_reported(book_factory, sources):
    book = book_factory(customers=[good_customer(12, 客户编号="KH000012", 客户名称="上海宏达精密机械有限公司",
                                                 联系电话=None, **{"年用量(元)": 900000.0})])
    res = run_import(book, [sources / "2019客户档案.xlsx"])
    hd = customers(book)["上海宏达精密机械有限公司"]
    assert hd["客户编号"] == "KH000012"            # legacy code 12 matched KH000012
    assert hd["年用量(元)"] == 900000               # the workbook's own value kept
    assert hd["联系电话"] == "021-55550000"         # a blank filled
    merged = next(o for o in res.outcomes if o.outcome == "合并")
    assert "保留工作簿现值" in merged.message


def test_unreadable_files_are_reported_while_others_import(empty_book, sources, bad_files, capsys):
    rc = main(["import", str(empty_book), str(sources), str(bad_files)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "加密.xlsx：文件设有密码" in out
    assert "损坏.xlsx：文件已损坏" in out
    assert "空.csv：文件为空" in out
    assert "统计.xlsx：没有找到可识别的表头" in out
    assert len(customers(empty_book)) == 5


def test_dry_run_writes_nothing(empty_book, sources, tmp_path):
    before = empty_book.read_bytes()
    assert main(["import", str(empty_book), str(sources), "--dry-run", "--report", str(tmp_path / "r.csv")]) == 1
    assert empty_book.read_bytes() == before
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "文件,工作表,行号,结果" in text and "客户名单.xls" in text


def test_clean_import_exits_0(empty_book, tmp_path):
    d = tmp_path / "clean"
    d.mkdir()
    lf.xls_2021_archive(d / "客户名单.xls")
    assert main(["import", str(empty_book), str(d)]) == 0


def test_locked_workbook_is_left_untouched(empty_book, sources):
    (empty_book.parent / ("~$" + empty_book.name)).write_text("x")
    before = empty_book.read_bytes()
    assert main(["import", str(empty_book), str(sources)]) == 2
    assert empty_book.read_bytes() == before


def test_ambiguous_name_is_rejected_not_guessed(book_factory, tmp_path):
    book = book_factory(customers=[good_customer(1, 客户名称="深圳光明电子有限公司"),
                                   good_customer(2, 客户名称="深圳 光明电子有限公司")])
    d = tmp_path / "s"
    d.mkdir()
    lf.xls_2021_archive(d / "客户名单.xls")
    res = run_import(book, [d])
    rej = [o for o in res.outcomes if o.outcome == "拒绝"]
    assert len(rej) == 1 and "对应 2 个客户" in rej[0].message


def test_limited_and_limited_liability_companies_are_different(book_factory, tmp_path):
    book = book_factory(customers=[good_customer(1, 客户名称="深圳光明电子有限责任公司")])
    d = tmp_path / "s"
    d.mkdir()
    lf.xls_2021_archive(d / "客户名单.xls")
    run_import(book, [d])
    assert {"深圳光明电子有限责任公司", "深圳光明电子有限公司"} <= set(customers(book))


def test_a_source_row_crosses_the_sandbox_pipe_whole():
    """A source row goes from the sandbox child to the import as its fields (SourceRow.__reduce__):
    every field comes back, the sheet's shared description once for all its rows."""
    info = SourceInfo(file="旧档案.xls", sheet="2019", table=L.CUSTOMERS.name, date=dt.date(2019, 12, 31),
                      date_basis="年份 2019（工作表名）", mapped={"单位名称": "客户名称"}, ignored=["备注"])
    rows = [SourceRow(info, 2, {"客户名称": "杭州第1新材料有限公司", "年用量(元)": 1.5e6}, ["电话：不像电话号码，未导入该值"], 3,
                      {4: "KH000001"}),
            SourceRow(info, 3, {}, [], 3)]
    back = pickle.loads(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == rows and back[0].info is back[1].info
