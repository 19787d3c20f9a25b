"""Legacy import, third round (first part): headers in Traditional Chinese and English with
units, invoices whose customer column is headed 客户编码, values Excel destroyed refused and
never matched, placeholder names, rows with data but no identity rejected (exit 1), and a
workbook with one sheet per year dated by its sheets.  Fixtures are written by real writers
(openpyxl, the csv module)."""
from __future__ import annotations

import csv
import datetime as dt

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import new_book, run_import
from tests.helpers import table_records

C, R = L.CUSTOMERS, L.RECEIVABLES


def _master_with_k1_k2(folder):
    book = new_book(folder / "master.xlsm")
    run_import(book, [_csv(folder / "客户.csv", [["客户编号", "客户名称"], ["K1", "甲方有限公司"],
                                                ["K2", "乙方有限公司"]])])
    return book


def _customers(book):
    return {r["客户名称"]: r for r in table_records(book, C.sheet, C.name)}


def _csv(path, rows, encoding="utf-8-sig"):
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_a_taiwan_branch_list_in_traditional_chinese_with_units(tmp_path):
    book = new_book(tmp_path / "master.xlsm")
    src = _csv(tmp_path / "台灣分公司客戶.csv", [
        ["客戶名稱", "年用量(萬元)", "聯絡人", "聯絡電話", "回款信譽", "業務員"],
        ["台北精密機械股份有限公司", "120", "陳先生", "02-2345-6789", "較好", "林志明"],
        ["高雄化工股份有限公司", "35.5", "王小姐", "07-3456789", "好", "林志明"]])
    res = run_import(book, [src])
    assert not res.unreadable and res.counts["新增"] == 2, res.summary_lines()
    got = _customers(book)
    taipei = got["台北精密機械股份有限公司"]  # the name as written
    assert taipei["年用量(元)"] == 1_200_000 and taipei["回款信誉"] == "较好" and taipei["客户经理"] == "林志明"
    assert got["高雄化工股份有限公司"]["年用量(元)"] == 355_000


def test_a_foreign_owned_customers_crm_export_in_english(tmp_path):
    book = new_book(tmp_path / "master.xlsm")
    src = tmp_path / "crm_export.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Account Name", "Annual Volume (RMB'000)", "Contact", "Phone", "Region", "Account Owner"])
    ws.append(["Siemens Shanghai Ltd.", 850, "Ms. Li", "021-61234567", "华东", "Zhang Wei"])
    ws.append(["博世（苏州）有限公司", 320, "Mr. Wang", "0512-66778899", "华东", "Zhang Wei"])
    wb.save(src)
    res = run_import(book, [src])
    assert res.counts["新增"] == 2, res.summary_lines()
    got = _customers(book)
    assert got["Siemens Shanghai Ltd."]["年用量(元)"] == 850_000
    assert got["Siemens Shanghai Ltd."]["联系人"] == "Ms. Li" and got["Siemens Shanghai Ltd."]["客户经理"] == "Zhang Wei"


def test_invoices_whose_customer_column_is_headed_customer_code_link(tmp_path):
    book = new_book(tmp_path / "master.xlsm")
    run_import(book, [_csv(tmp_path / "客户.csv", [["客户编号", "客户名称"], ["C0103", "无锡华光电器有限公司"]])])
    src = _csv(tmp_path / "发票.csv", [
        ["客户编码", "发票号码", "开票日期", "价税合计", "到期日"],
        ["C0103", "FP-1", "2026-03-01", "800000", "2026-04-01"],
        ["C0103", "FP-2", "2026-04-01", "800000", "2026-05-01"]])
    res = run_import(book, [src])
    assert res.counts["新增"] == 2 and res.counts["跳过"] == 0, res.summary_lines()
    invoices = table_records(book, R.sheet, R.name)
    assert {r["单据号"] for r in invoices} == {"FP-1", "FP-2"}
    assert {r["客户编号"] for r in invoices} == {"C0103"}


def test_an_invoice_number_excel_destroyed_is_refused_and_never_merges(tmp_path):
    """Two invoices whose 20-digit numbers Excel turned into the same 2.4322E+19: each stays
    its own invoice with its own customer, date and amount; the number is refused, reported."""
    book = _master_with_k1_k2(tmp_path)
    src = tmp_path / "发票.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["单据号", "客户编号", "开票日期", "金额", "到期日"])
    ws.append([2.4322e19, "K1", dt.datetime(2026, 3, 1), 1000, dt.datetime(2026, 4, 1)])
    ws.append([2.4322e19, "K2", dt.datetime(2026, 5, 1), 2000, dt.datetime(2026, 6, 1)])
    ws.append(["2.4322E+19", "K2", dt.datetime(2026, 6, 1), 3000, dt.datetime(2026, 7, 1)])
    wb.save(src)
    res = run_import(book, [src])
    invoices = table_records(book, R.sheet, R.name)
    assert sorted((r["客户编号"], r["金额"]) for r in invoices) == [("K1", 1000), ("K2", 2000), ("K2", 3000)]
    assert not any("E+19" in str(r["单据号"]) or "24322" in str(r["单据号"]) for r in invoices)
    notes = [o.message for o in res.outcomes if o.outcome == "新增"]
    assert len(notes) == 3 and all("原编号已丢失" in m for m in notes), notes
    # re-importing changes nothing
    before = book.read_bytes()
    run_import(book, [src])
    assert sorted((r["客户编号"], r["金额"]) for r in table_records(book, R.sheet, R.name)) == \
        [("K1", 1000), ("K2", 2000), ("K2", 3000)]


def test_placeholder_names_and_rows_without_identity_are_rejected_not_skipped(tmp_path, capsys):
    book = new_book(tmp_path / "master.xlsm")
    src = _csv(tmp_path / "客户.csv", [
        ["客户编号", "客户名称", "年用量", "联系电话", "回款情况"],
        ["", "真实客户有限公司", "30万", "13800000000", "好"],
        ["", "待补充", "50万", "13900000000", "较好"],          # a placeholder, no code
        ["", "", "80万", "13700000000", "好"],                  # data, but whose?
        ["1.23456789012346E+17", "", "20万", "13600000000", "好"],  # a code Excel destroyed
        ["K9", "待定", "10万", "", ""]])                       # a code, and a placeholder name
    assert main(["import", str(book), str(src)]) == 1  # rows the user must fix: exit 1
    out = capsys.readouterr().out
    got = _customers(book)
    assert "待补充" not in got and "待定" not in got and "" not in got
    assert "真实客户有限公司" in got
    rejected = [line for line in out.splitlines() if line.strip().startswith("拒绝")]
    assert len(rejected) == 4, out  # K9 with the name 待定: an unknown code and no name cannot found a customer
    assert any("占位文字" in x for x in rejected) and any("没有客户名称或编号" in x for x in rejected)
    assert any("编号已被 Excel 破坏" in x for x in rejected)
    assert "K9" not in {r["客户编号"] for r in table_records(book, C.sheet, C.name)}


def test_a_workbook_with_one_sheet_per_year_is_dated_by_its_sheets(tmp_path):
    """The 2018 sheet must not overwrite what the 2022 sheet says (the file is named 2018)."""
    book = new_book(tmp_path / "master.xlsm")
    src = tmp_path / "客户档案2018.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2022年"
    ws.append(["客户名称", "年用量", "联系人"])
    ws.append(["年份测试有限公司", 900000, "新联系人"])
    old = wb.create_sheet("2018年")
    old.append(["客户名称", "年用量", "联系人"])
    old.append(["年份测试有限公司", 100000, "旧联系人"])
    wb.save(src)
    res = run_import(book, [src])
    row = _customers(book)["年份测试有限公司"]
    assert row["年用量(元)"] == 900000 and row["联系人"] == "新联系人", res.summary_lines()
    assert any("工作表名" in s.date_basis for s in res.sources)


_code = st.integers(10 ** 15, 10 ** 20)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_code, st.sampled_from(["K1", "K2"]), st.integers(100, 10 ** 6)), min_size=1, max_size=6,
                unique_by=lambda t: (t[1], t[2])))
def test_property_a_row_whose_identity_is_destroyed_never_merges(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("destroyed")
    book = _master_with_k1_k2(folder)
    src = folder / "发票.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["单据号", "客户编号", "开票日期", "金额", "到期日"])
    for code, cust, amount in rows:  # what Excel keeps of a 16–21-digit number: a float
        ws.append([float(code), cust, dt.datetime(2026, 3, 1), amount, dt.datetime(2026, 4, 1)])
    wb.save(src)
    run_import(book, [src])
    got = sorted((r["客户编号"], r["金额"]) for r in table_records(book, R.sheet, R.name))
    assert got == sorted((cust, amount) for _, cust, amount in rows)


# -- complaints and return visits are legacy data too (§7, §10) ------------------------
def _master_with_customers(tmp_path):
    book = new_book(tmp_path / "master.xlsm")
    run_import(book, [_csv(tmp_path / "客户.csv", [["客户编号", "客户名称", "联系人"],
                                                  ["C01", "华光电器有限公司", "周经理"],
                                                  ["C02", "恒泰化工有限公司", "吴经理"]])])
    return book


def test_a_complaint_log_imports_into_complaints_and_never_makes_customers(tmp_path):
    book = _master_with_customers(tmp_path)
    before = _customers(book)
    src = tmp_path / "投诉登记.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["投诉日期", "客户名称", "联系人", "联系电话", "投诉类别", "投诉内容", "处理人", "处理状态"])
    ws.append([dt.datetime(2026, 9, 3), "华光电器有限公司", "刘女士", "13812345678", "产品质量", "到货批次尺寸偏差", "张伟", "处理中"])
    ws.append([dt.datetime(2026, 9, 9), "恒泰化工有限公司", "孙先生", "13987654321", "交付", "交货延迟一周", "李娜", "已解决"])
    ws.append([dt.datetime(2026, 9, 12), "街角五金店", "老王", "13700001111", "价格", "对调价有异议", "张伟", "待处理"])
    wb.save(src)
    res = run_import(book, [src])
    complaints = table_records(book, L.COMPLAINTS.sheet, L.COMPLAINTS.name)
    assert sorted((c["客户编号"], c["投诉内容"]) for c in complaints) == [("C01", "到货批次尺寸偏差"), ("C02", "交货延迟一周")]
    assert {c["状态"] for c in complaints} == {"处理中", "已解决"}
    assert all(str(c["投诉编号"]).startswith("TS") for c in complaints)
    # the shop that complained is no customer, the complainers no contacts
    after = _customers(book)
    assert after == before, [k for k in after if k not in before]
    shop = [o for o in res.outcomes if o.outcome == "拒绝"]
    assert len(shop) == 1 and "找不到客户" in shop[0].message
    assert res.sources[0].table == L.COMPLAINTS.name
    # re-import changes nothing
    run_import(book, [src])
    assert len(table_records(book, L.COMPLAINTS.sheet, L.COMPLAINTS.name)) == 2


def test_a_phone_return_visit_log_imports_into_surveys_with_its_score(tmp_path):
    book = _master_with_customers(tmp_path)
    src = _csv(tmp_path / "电话回访记录.csv", [
        ["回访日期", "客户编码", "回访人", "回访方式", "产品质量", "交付及时", "服务态度", "问题响应", "价格", "客户意见"],
        ["2026-10-08", "C01", "张伟", "电话回访", "5", "4", "5", "4", "3", "希望缩短交期"],
        ["2026-10-09", "C02", "李娜", "电话回访", "3", "3", "4", "", "3", ""]])
    res = run_import(book, [src])
    assert res.counts["新增"] == 2, res.summary_lines()
    surveys = {s["客户编号"]: s for s in table_records(book, L.SURVEYS.sheet, L.SURVEYS.name, data_only=True)}
    assert surveys["C01"]["综合得分"] == 84 and surveys["C02"]["综合得分"] == 65
    assert surveys["C01"]["意见建议"] == "希望缩短交期"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["华光电器有限公司", "恒泰化工有限公司", "某某商店", "街角五金店"]),
                          st.sampled_from(["到货破损", "交期延误", "发票错误"]), st.integers(1, 28)),
                min_size=1, max_size=5))
def test_property_a_complaint_file_never_creates_or_changes_a_customer(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("complaints")
    book = _master_with_customers(folder)
    before = table_records(book, C.sheet, C.name)
    src = _csv(folder / "投诉.csv", [["投诉日期", "投诉单位", "联系人", "投诉内容"]] +
               [[f"2026-09-{d:02d}", who, "某人", what] for who, what, d in rows])
    run_import(book, [src])
    assert table_records(book, C.sheet, C.name) == before


def test_amounts_and_dates_in_every_form_an_office_writes_them(tmp_path):
    book = _master_with_customers(tmp_path)
    src = _csv(tmp_path / "台账.csv", [
        ["客户名称", "年用量", "建档日期"],
        ["千万元测试有限公司", "3千万", "二〇二一年三月五日"],
        ["每年测试有限公司", "12.5万元/年", "民国110年3月5日"],
        ["中文数字测试有限公司", "一百二十万元", "110/03/06"],
        ["日月测试有限公司", "50万", "25/12/2021"],
        ["歧义测试有限公司", "30万", "3/5/2021"]])
    res = run_import(book, [src])
    got = _customers(book)
    assert got["千万元测试有限公司"]["年用量(元)"] == 30_000_000
    assert got["每年测试有限公司"]["年用量(元)"] == 125_000
    assert got["中文数字测试有限公司"]["年用量(元)"] == 1_200_000
    day = lambda name: got[name]["建档日期"].date()  # noqa: E731
    assert day("千万元测试有限公司") == dt.date(2021, 3, 5) and day("每年测试有限公司") == dt.date(2021, 3, 5)
    assert day("中文数字测试有限公司") == dt.date(2021, 3, 6) and day("日月测试有限公司") == dt.date(2021, 12, 25)
    # 3/5/2021: refused and reported on its row, never guessed
    assert got["歧义测试有限公司"]["建档日期"] is None
    note = next(o.message for o in res.outcomes if o.record_id and "歧义" in o.message)
    assert "3/5/2021" in note


def test_two_fields_in_one_cell_are_split(tmp_path):
    """A code and a name in the name column link invoices by the code; a contact and a phone in
    one 联系人及电话 column become both fields."""
    book = new_book(tmp_path / "master.xlsm")
    res = run_import(book, [_csv(tmp_path / "客户.csv", [
        ["客户名称", "联系人及电话", "年用量"],
        ["C0103 无锡华光电器有限公司", "王经理 13812345678", "30万"],
        ["苏州恒泰化工有限公司", "李女士，0512-66778899", "20万"]])])
    got = _customers(book)
    wuxi = got["无锡华光电器有限公司"]
    assert wuxi["客户编号"] == "C0103" and wuxi["联系人"] == "王经理" and wuxi["联系电话"] == "13812345678"
    su = got["苏州恒泰化工有限公司"]
    assert su["联系人"] == "李女士" and su["联系电话"] == "0512-66778899"
    assert any("已单独作为" in o.message for o in res.outcomes)
    # invoices naming "C0103 无锡…" in one cell link to that customer
    inv = _csv(tmp_path / "发票.csv", [["客户", "发票号码", "开票日期", "金额", "到期日"],
                                      ["C0103 无锡华光电器", "FP-9", "2026-03-01", "5000", "2026-04-01"]])
    res = run_import(book, [inv])
    assert res.counts["新增"] == 1, res.summary_lines()
    assert table_records(book, R.sheet, R.name)[0]["客户编号"] == "C0103"


def test_a_formula_saved_without_its_result_is_refused_never_blank_never_a_key(tmp_path):
    """openpyxl writes formulas without calculating them: a cell that reads as empty in every
    reader but holds a formula is an unknown value — refused on its row with the formula named,
    never stored as blank, never used to match (an id that is such a formula links nothing)."""
    book = _master_with_k1_k2(tmp_path)
    src = tmp_path / "客户导出.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户编号", "客户名称", "年用量(万元)", "联系人"])
    ws.append(["K1", "甲方有限公司", "=12*10", "张三"])          # amount: a formula, no cached value
    ws.append(['=CONCATENATE("K","2")', "丙方有限公司", 30, "李四"])  # the id is a formula: never matches K2
    ws.append(["=A3", "=B3", 40, "王五"])                          # no identity but formulas: rejected
    wb.save(src)
    res = run_import(book, [src])
    by_row = {o.row: o for o in res.outcomes}
    assert by_row[2].outcome == "合并" and "公式“=12*10”没有保存计算结果" in by_row[2].message
    assert by_row[3].outcome == "新增" and "公式" in by_row[3].message  # by its name, as a new customer
    assert by_row[4].outcome == "拒绝" and "没有计算结果的公式" in by_row[4].message, by_row[4]
    got = _customers(book)
    assert got["甲方有限公司"]["年用量(元)"] in (None, "")   # never a blank or a guessed value stored
    assert got["乙方有限公司"]["联系人"] in (None, "")        # K2 was not matched by the formula id
    assert got["丙方有限公司"]["客户编号"] not in ("K2", None, "")
    assert res.has_problems


def test_codes_are_kept_in_the_archives_own_form_where_a_file_lost_the_zeros(tmp_path):
    """The archive writes 00131; an Excel export stored the codes as numbers (131, 132).  The
    customers keep the padded form — also 132, which no other file names padded — and a
    visit that says 131 links to 00131."""
    book = new_book(tmp_path / "master.xlsm")
    a = _csv(tmp_path / "档案.csv", [["客户编号", "客户名称", "年用量"], ["00131", "甲方有限公司", "30万"],
                                     ["00245", "丁方有限公司", "10万"]])
    src = tmp_path / "导出.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户编号", "客户名称", "联系人"])
    ws.append([131, "甲方有限公司", "张三"])
    ws.append([132, "乙方有限公司", "李四"])
    wb.save(src)
    later = _csv(tmp_path / "补充.csv", [["客户编号", "客户名称", "年用量"], ["00132", "乙方有限公司", "20万"]])
    visits = tmp_path / "拜访.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户编号", "拜访日期", "拜访方式", "状态"])
    ws.append([131, dt.date(2026, 1, 5), "上门拜访", "已完成"])
    wb.save(visits)
    res = run_import(book, [a, src, later, visits])
    assert not res.has_problems, res.summary_lines()
    got = {r["客户名称"]: r for r in table_records(book, C.sheet, C.name)}
    assert got["甲方有限公司"]["客户编号"] == "00131" and got["甲方有限公司"]["联系人"] == "张三"
    assert got["乙方有限公司"]["客户编号"] == "00132" and got["乙方有限公司"]["年用量(元)"] == 200_000
    assert len(got) == 3  # 00132 from the later file merged into 132 of the export: one customer
    assert [v["客户编号"] for v in table_records(book, L.VISITS.sheet, L.VISITS.name)] == ["00131"]
    assert any("前导零" in o.message for o in res.outcomes)
    assert run_import(book, [a, src, later, visits]).data_changed is False  # re-import changes nothing


def _edit_mapping(path, fields: dict[str, str]):
    """A clerk fills in the 字段 column (by the source header) and saves the CSV."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    for r in rows[1:]:
        if r[head.index("源表头")] in fields:
            r[head.index("字段")] = fields[r[head.index("源表头")]]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)


def test_suggest_mapping_then_import_with_the_mapping_a_clerk_edited(tmp_path, capsys):
    """A file with words nobody listed: --suggest-mapping lists every column with its closest
    field and imports nothing; the clerk fills in 字段 and --mapping imports with it, units
    from the header included.  A typo in the mapping is refused naming its row (exit 2)."""
    book = new_book(tmp_path / "master.xlsm")
    src = _csv(tmp_path / "往来单位.csv", [["往来单位", "年采购额(万元)", "对口人", "手机号码", "随便一列"],
                                          ["甲方有限公司", "30", "张三", "13812345678", "x"],
                                          ["乙方有限公司", "20", "李四", "13912345678", "y"]])
    plan = tmp_path / "映射.csv"
    before = book.read_bytes()
    assert main(["import", str(book), str(src), "--suggest-mapping", str(plan)]) == 0
    assert book.read_bytes() == before  # nothing imported
    out = capsys.readouterr().out
    assert "未识别 5 列" in out and "最接近：客户名称" in out
    with open(plan, encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [ln["列"] for ln in lines] == ["A", "B", "C", "D", "E"] and {ln["导入到"] for ln in lines} == {"客户档案"}
    _edit_mapping(plan, {"往来单位": "客户名称", "年采购额(万元)": "年用量(元)", "对口人": "联系人", "手机号码": "联系电话"})
    assert main(["import", str(book), str(src), "--mapping", str(plan)]) == 0
    got = _customers(book)
    assert got["甲方有限公司"]["年用量(元)"] == 300_000 and got["乙方有限公司"]["联系人"] == "李四"
    assert got["甲方有限公司"]["联系电话"] == "13812345678"
    # the same mapping again: nothing changes
    assert main(["import", str(book), str(src), "--mapping", str(plan)]) == 0
    assert "没有需要写入的新数据" in capsys.readouterr().out
    # a field that does not exist: refused by row, nothing written
    _edit_mapping(plan, {"对口人": "联系仁"})
    before = book.read_bytes()
    assert main(["import", str(book), str(src), "--mapping", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "映射文件第 4 行" in err and "联系仁" in err and "联系人" in err
    assert book.read_bytes() == before


def test_a_suggested_mapping_as_xlsx_lists_what_the_import_recognised(tmp_path):
    book = new_book(tmp_path / "master.xlsm")
    src = _csv(tmp_path / "客户.csv", [["客户名称", "年用量", "奇怪的列"], ["甲方有限公司", "30万", "?"]])
    plan = tmp_path / "映射.xlsx"
    res = run_import(book, [src], suggest=plan)
    assert res.suggested == plan and not any(r["客户名称"] for r in table_records(book, C.sheet, C.name))
    ws = openpyxl.load_workbook(plan)["导入映射"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert [(r[3], r[6]) for r in rows] == [("A", "客户名称"), ("B", "年用量(元)"), ("C", None)]
    assert "表头词语" in rows[0][7] and "未识别" in rows[2][7]
    res = run_import(book, [src], mapping=plan)  # the mapping as suggested imports as the import would
    assert res.counts["新增"] == 1


def test_files_of_another_kind_are_reported_by_name_and_never_make_customers(tmp_path):
    """A visit plan laid out by month, a workbook of forms (one customer per sheet) and a
    contract are each reported by name and kind as not imported; the customer list beside
    them imports."""
    book = new_book(tmp_path / "master.xlsm")
    plan = tmp_path / "2026年拜访计划.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户名称", "负责人"] + [f"{m}月" for m in range(1, 13)])
    ws.append(["丙方有限公司", "张三"] + ["√", None] * 6)
    ws.append(["丁方有限公司", "李四"] + [None, "√"] * 6)
    wb.save(plan)
    forms = tmp_path / "客户档案卡.xlsx"
    wb = openpyxl.Workbook()
    for i, name in enumerate(["戊方有限公司", "己方有限公司"]):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = name[:2]
        for label, value in (("客户名称：", name), ("联系人：", "王五"), ("联系电话：", "13800000000"),
                             ("地址：", "无锡市"), ("年用量：", "30万")):
            ws.append([label, value])
    wb.save(forms)
    contract = tmp_path / "供货合同.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for text in ("供货合同", "甲方：庚方有限公司    乙方：本公司",
                 "第一条 甲方向乙方采购下列产品，数量、单价和交货期以双方盖章确认的订单为准，订单是本合同的组成部分。",
                 "第二条 乙方应按订单约定的时间和地点交货，因乙方原因延迟交货的，每日按货款的千分之一支付违约金。",
                 "第三条 甲方应在收到发票后九十日内付款，逾期付款的，每日按未付金额的千分之一支付违约金。",
                 "甲方签字盖章：            乙方签字盖章："):
        ws.append([text])
    wb.save(contract)
    customers = _csv(tmp_path / "客户.csv", [["客户名称", "年用量"], ["甲方有限公司", "30万"]])
    res = run_import(book, [plan, forms, contract, customers])
    why = dict(res.unreadable)
    assert "按月排列的计划表" in why["2026年拜访计划.xlsx"]
    assert "表单" in why["客户档案卡.xlsx"]
    assert "合同或文书" in why["供货合同.xlsx"]
    assert set(_customers(book)) - {None} == {"甲方有限公司"}
    assert res.has_problems  # the user learns which files were not read (exit 1)


def test_several_contacts_in_one_cell_the_first_is_the_contact_the_others_are_kept(tmp_path):
    book = new_book(tmp_path / "master.xlsm")
    res = run_import(book, [_csv(tmp_path / "客户.csv", [
        ["客户名称", "联系人", "备注"],
        ["甲方有限公司", "张三 13812345678；李四 13912345678、王五", "老客户"],
        ["乙方有限公司", "赵六/钱七", ""],
        ["丙方有限公司", "孙经理（0510-82345678）", ""]])])
    got = _customers(book)
    a = got["甲方有限公司"]
    assert a["联系人"] == "张三" and a["联系电话"] == "13812345678"
    assert a["备注"] == "老客户；其他联系人：李四 13912345678；王五"
    b = got["乙方有限公司"]
    assert b["联系人"] == "赵六" and b["备注"] == "其他联系人：钱七"
    c = got["丙方有限公司"]
    assert c["联系人"] == "孙经理" and c["联系电话"] == "0510-82345678"
    assert sum("其余记入备注" in o.message for o in res.outcomes) == 2
    assert run_import(book, [tmp_path / "客户.csv"]).data_changed is False


def test_two_tables_side_by_side_on_one_sheet_are_both_read(tmp_path):
    """A regional sheet with the customer list on the left and its invoices on the right,
    a blank column between: both import, each into its own table, rows named by the sheet's
    own columns; a blank spacer column inside one table does not split it."""
    book = new_book(tmp_path / "master.xlsm")
    src = tmp_path / "华东区.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "华东"
    ws.append(["客户编号", "客户名称", "年用量(万元)", "联系人", None, "单据号", "客户编号", "开票日期", "金额", "到期日"])
    ws.append(["K1", "甲方有限公司", 30, "张三", None, "FP001", "K1", dt.date(2026, 3, 1), 5000, dt.date(2026, 4, 1)])
    ws.append(["K2", "乙方有限公司", 20, "李四", None, "FP002", "K2", dt.date(2026, 3, 5), 8000, dt.date(2026, 4, 5)])
    ws.append([None, None, None, None, None, "FP003", "K1", dt.date(2026, 3, 9), 1000, dt.date(2026, 4, 9)])
    wb.save(src)
    spaced = _csv(tmp_path / "间隔.csv", [["客户名称", "联系人", "", "年用量", "区域"], ["丙方有限公司", "王五", "", "10万", "华北"]])
    res = run_import(book, [src, spaced])
    assert not res.has_problems, res.summary_lines()
    assert {s.sheet for s in res.sources} == {"华东（A:D列）", "华东（F:J列）", "间隔"}
    got = _customers(book)
    assert got["甲方有限公司"]["年用量(元)"] == 300_000 and got["丙方有限公司"]["区域"] == "华北"
    assert got["丙方有限公司"]["年用量(元)"] == 100_000
    inv = {r["单据号"]: r for r in table_records(book, R.sheet, R.name)}
    assert set(inv) == {"FP001", "FP002", "FP003"} and inv["FP003"]["客户编号"] == "K1"
    assert all(o.sheet.startswith("华东（") for o in res.outcomes if o.file == "华东区.xlsx")


def test_a_column_of_the_archives_customer_codes_links_whatever_its_header(tmp_path):
    """Invoices whose customer column is headed with words nobody listed (往来户代码): its
    values are the archive's customer codes, so it is the customer reference.  A column of
    codes the archive does not have links nothing: those rows are rejected, never guessed."""
    book = _master_with_k1_k2(tmp_path)
    inv = _csv(tmp_path / "发票.csv", [["单据号", "往来户代码", "开票日期", "金额", "到期日"],
                                      ["FP-1", "K1", "2026-03-01", "5000", "2026-04-01"],
                                      ["FP-2", "k2", "2026-03-02", "6000", "2026-04-02"],
                                      ["FP-3", "K1", "2026-03-03", "7000", "2026-04-03"]])
    res = run_import(book, [inv])
    assert res.counts["新增"] == 3 and not res.has_problems, res.summary_lines()
    got = {r["单据号"]: r["客户编号"] for r in table_records(book, R.sheet, R.name)}
    assert got == {"FP-1": "K1", "FP-2": "K2", "FP-3": "K1"}
    assert "往来户代码（按内容）" in res.sources[0].mapped
    other = _csv(tmp_path / "别家发票.csv", [["单据号", "往来户代码", "开票日期", "金额", "到期日"],
                                            ["FP-8", "X900", "2026-03-01", "5000", "2026-04-01"],
                                            ["FP-9", "X901", "2026-03-02", "6000", "2026-04-02"]])
    res = run_import(book, [other])
    assert res.counts["拒绝"] == 2 and "不是档案中的客户编号" in res.outcomes[0].message
    assert len(table_records(book, R.sheet, R.name)) == 3


def _stacked_book(path, customers: int = 2):
    """A regional sheet as a clerk keeps it: the customer list, a blank row, a title line,
    then the visits with their own header — one under the other."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "华东"
    ws.append(["客户编号", "客户名称", "年用量(万元)", "联系人"])
    for i in range(1, customers + 1):
        ws.append([f"K{i}", f"客户{i:03d}有限公司", 10 + i, f"联系人{i}"])
    ws.append([])
    ws.append(["拜访记录"])
    ws.append(["客户编号", "拜访日期", "拜访方式", "拜访人", "拜访内容"])
    ws.append(["K1", dt.date(2026, 3, 1), "上门拜访", "王五", "谈价格"])
    ws.append(["K2", dt.date(2026, 3, 2), "电话", "王五", "回访"])
    wb.save(path)
    return path


def test_two_tables_one_under_the_other_are_both_read_with_their_sheet_rows(tmp_path):
    """Customers above, visits below after a blank row and a title: both tables import (no
    customer lost as a "title row" of the visits), rows are reported by their sheet rows,
    and importing again changes nothing."""
    book = new_book(tmp_path / "master.xlsm")
    src = _stacked_book(tmp_path / "华东区.xlsx")
    res = run_import(book, [src])
    assert not res.has_problems, res.summary_lines()
    assert [(s.sheet, s.table) for s in res.sources] == [("华东（第1–3行）", L.CUSTOMERS.name),
                                                         ("华东（第5–8行）", L.VISITS.name)]
    assert {r["客户编号"]: r["客户名称"] for r in table_records(book, C.sheet, C.name)} == \
        {"K1": "客户001有限公司", "K2": "客户002有限公司"}
    visits = table_records(book, L.VISITS.sheet, L.VISITS.name)
    assert sorted((v["客户编号"], v["拜访方式"]) for v in visits) == [("K1", "实地拜访"), ("K2", "电话回访")]
    rows = {(o.row, o.outcome) for o in res.outcomes}
    assert {(2, "新增"), (3, "新增"), (7, "新增"), (8, "新增"), (4, "跳过"), (5, "跳过")} == rows
    title = next(o for o in res.outcomes if o.row == 5)
    assert title.sheet == "华东（第5–8行）" and "标题" in title.message
    before = book.read_bytes()
    again = run_import(book, [src])
    assert again.counts["新增"] == 0 and book.read_bytes() == before


def test_a_table_stacked_far_below_another_is_found(tmp_path):
    """The lower table starts below where a header is looked for (60 customers first)."""
    book = new_book(tmp_path / "master.xlsm")
    res = run_import(book, [_stacked_book(tmp_path / "华东区.xlsx", customers=60)])
    assert not res.has_problems, res.summary_lines()
    assert len(table_records(book, C.sheet, C.name)) == 60
    assert len(table_records(book, L.VISITS.sheet, L.VISITS.name)) == 2
    assert {o.row for o in res.outcomes if o.target == "拜访记录" and o.outcome == "新增"} == {65, 66}


def test_a_gap_then_the_same_header_again_is_one_table_not_two(tmp_path):
    """A printed export: a blank row and the header repeated at each page, a blank row inside
    the data — one customer table; the repeated header is skipped as such, nobody is lost."""
    book = new_book(tmp_path / "master.xlsm")
    src = _csv(tmp_path / "客户.csv", [["客户名称", "年用量", "联系人"], ["甲方有限公司", "30万", "张三"],
                                      ["", "", ""], ["乙方有限公司", "20万", "李四"], ["", "", ""],
                                      ["客户名称", "年用量", "联系人"], ["丙方有限公司", "10万", "王五"]])
    res = run_import(book, [src])
    assert not res.has_problems, res.summary_lines()
    assert [s.sheet for s in res.sources] == ["客户"]
    assert set(_customers(book)) == {"甲方有限公司", "乙方有限公司", "丙方有限公司"}
    assert any(o.row == 6 and "重复表头" in o.message for o in res.outcomes)


def test_a_mapping_for_the_lower_of_two_stacked_tables_uses_sheet_rows(tmp_path, capsys):
    """--suggest-mapping names each stacked table with its sheet rows and its header's sheet
    row; a clerk's edit of the lower table's fields is applied to that table only."""
    book = new_book(tmp_path / "master.xlsm")
    src = _stacked_book(tmp_path / "华东区.xlsx")
    plan = tmp_path / "映射.csv"
    assert main(["import", str(book), str(src), "--suggest-mapping", str(plan)]) == 0
    with open(plan, encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    assert {(ln["工作表"], ln["表头行"], ln["导入到"]) for ln in lines} == {
        ("华东（第1–3行）", "1", "客户档案"), ("华东（第5–8行）", "6", "拜访记录")}
    _edit_mapping(plan, {"拜访内容": ""})  # the clerk leaves the visit notes out
    assert main(["import", str(book), str(src), "--mapping", str(plan)]) == 0
    visits = table_records(book, L.VISITS.sheet, L.VISITS.name)
    assert len(visits) == 2 and not any(v["拜访内容"] for v in visits)
    assert len(table_records(book, C.sheet, C.name)) == 2


def test_columns_whose_words_nobody_listed_are_read_by_what_they_hold(tmp_path, capsys):
    """A customer list where only 客户名称 is a known word: the sheet is still read (its other
    columns are known by their content).  Phones go to 联系电话 — a phone is nothing else;
    dates and amounts are proposed, not imported (an amount may be 注册资本 as well as 年用量):
    the report and the mapping file say what they hold and which fields they could be, and
    the clerk's mapping imports them."""
    book = new_book(tmp_path / "master.xlsm")
    src = _csv(tmp_path / "往来.csv", [["客户名称", "号码甲", "开户时间", "规模指标", "奇怪"],
                                      ["甲方有限公司", "13812345678", "2019年3月1日", "30万元", "a"],
                                      ["乙方有限公司", "021-55556666", "2020-05-06", "¥120,000", "b"],
                                      ["丙方有限公司", "13912345678", "2021/7/8", "12.5万元/年", "c"]])
    plan = tmp_path / "映射.csv"
    assert main(["import", str(book), str(src), "--suggest-mapping", str(plan)]) == 0
    with open(plan, encoding="utf-8-sig", newline="") as f:
        lines = {ln["源表头"]: ln for ln in csv.DictReader(f)}
    assert lines["号码甲"]["字段"] == "联系电话" and "按内容" in lines["号码甲"]["依据"]
    assert lines["开户时间"]["字段"] == "" and "内容是日期，可能是：协议到期日、建档日期" in lines["开户时间"]["依据"]
    assert lines["规模指标"]["字段"] == "" and "内容是金额，可能是：年用量(元)" in lines["规模指标"]["依据"]
    capsys.readouterr()
    res = run_import(book, [src])
    assert res.counts["新增"] == 3 and not res.has_problems
    assert res.sources[0].mapped == {"客户名称": "客户名称", "号码甲（按内容）": "联系电话"}
    report = "\n".join(res.summary_lines())
    assert "规模指标（内容是金额，可能是：年用量(元)）" in report
    got = _customers(book)
    assert got["乙方有限公司"]["联系电话"] == "021-55556666" and got["甲方有限公司"]["年用量(元)"] is None
    _edit_mapping(plan, {"开户时间": "建档日期", "规模指标": "年用量(元)"})
    assert main(["import", str(book), str(src), "--mapping", str(plan)]) == 0
    got = _customers(book)
    assert [got[n]["年用量(元)"] for n in ("甲方有限公司", "乙方有限公司", "丙方有限公司")] == [300_000, 120_000, 125_000]
    assert got["甲方有限公司"]["建档日期"] == dt.datetime(2019, 3, 1)


def test_a_complaint_logs_phone_column_is_never_a_customers_phone(tmp_path):
    """The complainer's phone, under a header nobody listed, holds phones — but complaints have
    no phone field: it stays out, said so, and no customer gets it."""
    book = _master_with_k1_k2(tmp_path)
    src = _csv(tmp_path / "投诉登记.csv", [["投诉日期", "客户编号", "投诉内容", "来电号码"],
                                          ["2026-03-01", "K1", "包装破损", "13812345678"],
                                          ["2026-03-02", "K2", "交货延迟", "13912345678"],
                                          ["2026-03-03", "K1", "发票错误", "13712345678"]])
    res = run_import(book, [src])
    assert res.sources[0].table == L.COMPLAINTS.name and res.counts["新增"] == 3, res.summary_lines()
    assert "来电号码（内容是电话号码）" in "\n".join(res.summary_lines())
    assert not any(r["联系电话"] for r in table_records(book, C.sheet, C.name))


def test_a_merged_cell_reaching_into_the_table_below_still_fills_the_rows_above(tmp_path):
    """The 客户经理 merged down over the customer list and, by a slip, over the blank row and the
    title of the visits below: each customer still has its manager, and the visits table is
    read as before (the merge does not cross into it)."""
    book = new_book(tmp_path / "master.xlsm")
    src = _stacked_book(tmp_path / "华东区.xlsx", customers=3)
    wb = openpyxl.load_workbook(src)
    ws = wb.active
    ws.insert_cols(5)
    ws["E1"] = "客户经理"
    ws["E2"] = "周主管"
    ws.merge_cells("E2:E6")  # rows 2–4 customers, 5 blank, 6 the visits' title
    wb.save(src)
    res = run_import(book, [src])
    assert not res.has_problems, res.summary_lines()
    got = {r["客户编号"]: r["客户经理"] for r in table_records(book, C.sheet, C.name)}
    assert got == {"K1": "周主管", "K2": "周主管", "K3": "周主管"}
    assert len(table_records(book, L.VISITS.sheet, L.VISITS.name)) == 2
