"""The master workbook built by `new`: sheets, tables, validation, formats, buttons, VBA."""
import subprocess
import sys

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from kam_xl import layout as L
from kam_xl.files import new_book
from tests.helpers import zip_members


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    return new_book(tmp_path_factory.mktemp("new") / "master.xlsm")


def test_every_sheet_and_table_has_the_exact_headers_in_order(blank):
    wb = openpyxl.load_workbook(blank, keep_vba=True)
    assert wb.sheetnames == list(L.SHEET_ORDER)
    for t in L.ALL_TABLES:
        ws = wb[t.sheet]
        assert t.name in ws.tables, t.name
        ref = ws.tables[t.name].ref
        headers = [c.value for c in ws[ref][0]]
        assert headers == t.headers


def test_workbook_is_macro_enabled_with_the_button_macros_and_xlwings(blank):
    members = zip_members(blank)
    ct = members["[Content_Types].xml"].decode()
    assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in ct
    assert "xl/vbaProject.bin" in members
    out = subprocess.run([sys.executable, "-m", "oletools.olevba", "--decode", str(blank)],
                         capture_output=True, text=True).stdout
    for b in L.BUTTONS:
        assert f"Sub {b.macro}()" in out
        assert f'RunPython "import kam_xl.xl.macros as m; m.{b.action}()"' in out
    assert "Function RunPython(" in out  # xlwings.bas
    assert 'XLPy.CallUDF("kam_xl.xl.udfs", "KAM_TIER"' in out  # generated UDF wrappers


def test_buttons_call_existing_argument_free_subs(blank):
    members = zip_members(blank)
    vml = b"".join(v for k, v in members.items() if k.endswith(".vml")).decode()
    for b in L.BUTTONS:
        assert f"[0]!{b.macro}" in vml
        assert b.caption in vml


def test_enumerated_columns_have_dropdowns_and_dates_have_validation(blank):
    wb = openpyxl.load_workbook(blank)
    ws = wb[L.SHEET_CUSTOMERS]
    formulas = {dv.formula1 for dv in ws.data_validations.dataValidation}
    assert '"好,较好,一般,差"' in formulas
    assert '"潜在,调查中,申请认定,已认定,已签约,停用"' in formulas
    types = {dv.type for dv in ws.data_validations.dataValidation}
    assert {"list", "date", "decimal"} <= types


def test_number_formats_frozen_headers_and_conditional_formats(blank):
    wb = openpyxl.load_workbook(blank)
    ws = wb[L.SHEET_CUSTOMERS]
    assert ws.freeze_panes == "C2"
    col = openpyxl.utils.get_column_letter(L.CUSTOMERS.headers.index("年用量(元)") + 1)
    assert ws.column_dimensions[col].width > 10
    assert len(ws.conditional_formatting) >= 2
    rules = [r.formula for cf in ws.conditional_formatting for r in cf.rules if r.formula]
    # the findings highlight reaches 校验结果 through defined names, never a reference to another sheet
    assert any("COUNTIFS" in f[0] and "KAM_ISSUE_SHEET" in f[0] for f in rules)
    wb_names = openpyxl.load_workbook(blank).defined_names
    assert L.SHEET_ISSUES in wb_names["KAM_ISSUE_SHEET"].attr_text


def test_tier_rules_and_settings_are_prefilled_and_documented(blank):
    with CalamineWorkbook.from_path(str(blank), load_tables=True) as wb:
        rules = wb.get_table_by_name("TierRules").to_python()
        settings = wb.get_table_by_name("Settings").to_python()
    assert [r[1] for r in rules] == ["C", "A1", "A2", "B1", "B2", "D", "非大客户"]
    assert all(len(r[-1]) > 20 for r in rules)  # every row says which seed hole it closes
    keys = [r[0] for r in settings]
    assert "拜访频率天数_A1" in keys and "催讨4级_逾期天数" in keys


def test_xlwings_conf_sheet_names_the_udf_module(blank):
    wb = openpyxl.load_workbook(blank)
    ws = wb[L.SHEET_XLWINGS_CONF]
    assert ws["A1"].value == "UDF Modules" and ws["B1"].value == "kam_xl.xl.udfs"


def test_calculated_columns_carry_formulas_and_python_cached_values(demo_book):
    wb = openpyxl.load_workbook(demo_book)
    ws = wb[L.SHEET_RECEIVABLES]
    headers = [c.value for c in ws[1]]
    f = ws.cell(row=2, column=headers.index("账龄") + 1).value
    # native formulas (no Python UDF in any table column), reading the as-of date by its name
    assert f.startswith("=IF(") and "KAM_" not in f
    assert "KAM_ASOF" in ws.cell(row=2, column=headers.index("逾期天数") + 1).value
    assert ws.cell(row=2, column=headers.index("未回款") + 1).value.startswith("=IF(")
    tiers = wb[L.SHEET_CUSTOMERS]
    t = tiers.cell(row=2, column=L.CUSTOMERS.headers.index("建议等级") + 1).value
    assert "TierRules[" in t and "KAM_" not in t
    with CalamineWorkbook.from_path(str(demo_book), load_tables=True) as cw:
        body = cw.get_table_by_name("Receivables").to_python()
    aging = [r[headers.index("账龄")] for r in body]
    assert set(aging) <= set(L.AGING_BUCKETS) and len(set(aging)) == len(L.AGING_BUCKETS)


def test_demo_covers_every_tier_and_aging_bucket(demo_book):
    with CalamineWorkbook.from_path(str(demo_book), load_tables=True) as cw:
        cust = cw.get_table_by_name("Customers")
        tiers = {r[cust.columns.index("建议等级")] for r in cust.to_python()}
        assert len(cust.to_python()) >= 300
        assert len(cw.get_table_by_name("Visits").to_python()) >= 1200
        assert len(cw.get_table_by_name("Receivables").to_python()) >= 800
    assert set(L.TIERS) <= tiers


def test_new_refuses_to_overwrite_without_force(blank):
    from kam_xl.cli import main
    assert main(["new", str(blank)]) == 2


def test_new_with_force_keeps_the_replaced_book_and_respects_excel(tmp_path):
    book = new_book(tmp_path / "b.xlsm")
    before = book.read_bytes()
    (tmp_path / ("~$" + book.name)).write_text("x")
    from kam_xl.cli import main
    assert main(["new", str(book), "--force"]) == 2
    assert book.read_bytes() == before and not list(tmp_path.glob(".~kam_new_*"))
    (tmp_path / ("~$" + book.name)).unlink()
    assert main(["new", str(book), "--force", "--demo"]) == 0
    backups = list((tmp_path / "备份").glob("b_*.xlsm"))
    assert len(backups) == 1 and backups[0].read_bytes() == before


def test_no_conditional_format_points_at_another_sheet(blank):
    """MS-OI29500: in the <conditionalFormatting> block a rule's formula may not refer to
    another sheet (Excel writes such rules only in the x14 extension); checked on the XML."""
    import re
    import zipfile
    with zipfile.ZipFile(blank) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = z.read(name).decode("utf-8")
                for block in re.findall(r"<conditionalFormatting\b.*?</conditionalFormatting>", xml, re.S):
                    for f in re.findall(r"<formula>(.*?)</formula>", block, re.S):
                        assert "!" not in f, (name, f)


def test_every_sheet_prints_as_people_print_it(blank):
    """A4, the header row on every page, a footer with sheet and page; the wide customer table
    spreads over readable pages with its id and name repeated, not 289 pages four columns wide."""
    wb = openpyxl.load_workbook(blank)
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        assert ws.page_setup.paperSize == 9, ws.title
        assert "&P" in (ws.oddFooter.right.text or ""), ws.title
        if ws.title != L.SHEET_HOME:
            assert ws.print_title_rows, ws.title
    cust = wb[L.SHEET_CUSTOMERS]
    assert cust.page_setup.orientation == "landscape"
    assert cust.sheet_properties.pageSetUpPr.fitToPage and cust.page_setup.fitToWidth >= 2
    assert cust.print_title_cols == "$A:$B"
    assert wb[L.SHEET_XLWINGS_CONF].sheet_state == "hidden"


def test_the_home_sheet_says_what_is_there(blank):
    wb = openpyxl.load_workbook(blank)
    text = " ".join(str(c.value) for row in wb[L.SHEET_HOME].iter_rows() for c in row if c.value)
    assert "八个按钮" in text and "pip install" not in text and "四个" not in text
    # the buttons stand in rows of three within columns A–F (a 1366-wide screen shows them all)
    assert all(b.cell[0] in "ACE" for b in L.BUTTONS) and len(L.BUTTONS) == 8


def test_survey_scores_take_1_to_5_only(blank):
    wb = openpyxl.load_workbook(blank)
    ws = wb[L.SURVEYS.sheet]
    col = openpyxl.utils.get_column_letter(L.SURVEYS.headers.index("产品质量") + 1)
    dv = next(d for d in ws.data_validations.dataValidation if str(d.sqref).startswith(f"{col}2"))
    assert (dv.type, dv.operator or "between", dv.formula1, dv.formula2) == ("whole", "between", "1", "5")  # between is the default
