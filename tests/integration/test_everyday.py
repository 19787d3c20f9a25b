"""What users hit every day (issue: a typo never regrades a customer, no internal error,
typed rows made whole, live equals regrade, messages right)."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from tests.conftest import good_customer
from tests.helpers import table_records


def _edit_table_cell(book, tdef, match: dict, header: str, value) -> str:
    """What a user does in Excel: type into one cell of a table row; returns the cell."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[tdef.sheet]
    t = ws.tables[tdef.name]
    rows = list(ws[t.ref])
    heads = [c.value for c in rows[0]]
    for r in rows[1:]:
        rec = dict(zip(heads, (c.value for c in r)))
        if all(rec.get(k) == v for k, v in match.items()):
            cell = r[heads.index(header)]
            cell.value = value
            wb.save(book)
            return cell.coordinate
    raise AssertionError(f"no row {match}")


def _customers(n=8):
    out = []
    for i in range(1, n + 1):
        out.append(good_customer(i, **{"年用量(元)": 20_000 * i, "回款信誉": "好", "客户等级": None}))
    return out


@pytest.mark.parametrize("header,typo,should", [
    ("年用量下限(含)", "50万", "数字"),
    ("最低回款信誉", "很好", "好"),
])
def test_a_typo_in_the_rule_table_never_regrades(book_factory, capsys, header, typo, should):
    book = book_factory(customers=_customers())
    assert main(["regrade", str(book)]) == 0
    graded = {r["客户编号"]: r["客户等级"] for r in table_records(book, L.CUSTOMERS.sheet, L.CUSTOMERS.name)}
    cell = _edit_table_cell(book, L.TIER_RULES, {"等级": "A1"}, header, typo)
    before = book.read_bytes()
    capsys.readouterr()
    for args in (["regrade", str(book)], ["regrade", str(book), "--dry-run"], ["report", str(book)]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert cell in err and typo in err and should in err and header in err, err
        assert "Error:" in err and "Traceback" not in err
        assert book.read_bytes() == before
    assert not list(book.parent.glob("大客户管理报表*"))
    # validate runs and lists the cell as an error
    assert main(["validate", str(book)]) == 1
    issues = table_records(book, L.ISSUES.sheet, L.ISSUES.name)
    hit = [i for i in issues if i["工作表"] == L.TIER_RULES.sheet and typo in (i["说明"] or "")]
    assert hit and hit[0]["级别"] == "错误"
    after = {r["客户编号"]: r["客户等级"] for r in table_records(book, L.CUSTOMERS.sheet, L.CUSTOMERS.name)}
    assert after == graded
    assert len(table_records(book, L.GRADE_LOG.sheet, L.GRADE_LOG.name)) == len(graded)


def test_an_unreadable_as_of_date_never_dates_anything(book_factory, capsys):
    book = book_factory(customers=_customers())
    cell = _edit_table_cell(book, L.SETTINGS, {"参数": "基准日期"}, "值", "下月底")
    before = book.read_bytes()
    assert main(["regrade", str(book)]) == 2
    err = capsys.readouterr().err
    assert cell in err and "下月底" in err and "日期" in err and "基准日期" in err
    assert book.read_bytes() == before
    assert main(["validate", str(book)]) == 1
    issues = table_records(book, L.ISSUES.sheet, L.ISSUES.name)
    text = " ".join(i["说明"] or "" for i in issues)
    assert "下月底" in text and "None" not in text
    # an as-of date given on the command line replaces the one in Settings
    assert main(["regrade", str(book), "--as-of", "2026-10-31"]) == 0


# -- a renamed column is a named refusal in every action --------------------------------
import re  # noqa: E402
import shutil  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

from kam_xl.errors import KamError  # noqa: E402
from kam_xl.services import actions  # noqa: E402
from kam_xl.workbook.loader import Needs  # noqa: E402
from kam_xl.workbook.package import read_package  # noqa: E402
from kam_xl.workbook.store import FileStore  # noqa: E402

ACTION_NEEDS = {
    "regrade": actions.REGRADE_NEEDS, "validate": actions.VALIDATE_NEEDS, "report": actions.REPORT_NEEDS,
    "meeting": actions.MEETING_NEEDS, "form": actions.FORM_NEEDS,
    "import": actions.import_needs({L.VISITS.name, L.RECEIVABLES.name}),
}


def _needed(needs: Needs) -> set[tuple[str, str]]:
    """(table, header) an action cannot run without, from its own declaration."""
    out = set()
    for name, read in {**needs.tables, L.SETTINGS.name: actions.EVERYTHING}.items():
        tdef = L.TABLES[name]
        added = {c.header for c in tdef.columns if c.added}  # a book made before them runs without them
        out |= {(name, h) for h in (tdef.headers_of(read.keys) if read.keys is not None else tdef.headers)
                if h not in added}
    return out


NEEDED = {a: _needed(n) for a, n in ACTION_NEEDS.items()}
CASES = sorted(set().union(*NEEDED.values()))


@pytest.fixture(scope="module")
def small_master(tmp_path_factory):
    from tests.conftest import make_book
    return make_book(tmp_path_factory.mktemp("rename") / "master.xlsm")


def _rename_column(book: Path, table: str, header: str, new: str) -> None:
    """The table's column renamed as Excel does (its tableColumn and its header cell)."""
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    tp = pkg.tables[table]
    esc = header.replace("&", "&amp;")
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            if info.filename == tp.part:
                data, n = re.subn(rb'(<tableColumn\b[^>]*\bname=")' + re.escape(esc.encode()) + rb'"',
                                  rb"\g<1>" + new.encode() + b'"', data)
                assert n == 1
            z.writestr(info, data)


@pytest.mark.parametrize("table,header", CASES, ids=[f"{t}-{h}" for t, h in CASES])
def test_a_renamed_column_is_a_named_refusal_in_every_action(small_master, tmp_path, table, header):
    book = tmp_path / "book.xlsm"
    shutil.copy2(small_master, book)
    _rename_column(book, table, header, header + "（改）")
    for action, needed in NEEDED.items():
        if (table, header) not in needed:
            continue
        with pytest.raises(KamError) as e:
            FileStore(book).load(ACTION_NEEDS[action])
        msg = str(e.value)
        assert header in msg and "缺少列" in msg and "Error:" in msg, (action, msg)


def test_a_column_renamed_in_excel_is_refused_by_name_by_every_command(book_factory, tmp_path, capsys):
    book = book_factory()
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.CUSTOMERS.sheet]
    t = ws.tables[L.CUSTOMERS.name]
    first = ws[t.ref.split(":")[0]]
    for cell in ws[first.row]:
        if cell.value == "利润率":
            cell.value = "毛利率"
    for col in t.tableColumns:
        if col.name == "利润率":
            col.name = "毛利率"
    wb.save(book)
    src = tmp_path / "a.csv"
    src.write_text("客户名称,年用量(元)\n改名测试有限公司,300000\n", encoding="utf-8")
    before = book.read_bytes()
    for args in (["regrade", str(book)], ["validate", str(book)],
                 ["form", str(book), "KH000001", "--no-pdf", "--out", str(tmp_path)],
                 ["import", str(book), str(src)]):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "利润率" in err and "缺少列" in err and "内部错误" not in err and "UnreadField" not in err, err
    assert book.read_bytes() == before
    # the report does not read 利润率: it runs
    assert main(["report", str(book), "--out", str(tmp_path)]) == 0


# -- rows typed under a table become full rows ----------------------------------------
def _type_under(book: Path, tdef, rows: list[dict]) -> list[int]:
    """What LibreOffice or WPS leave when a user types rows under a table: plain cells,
    default style, outside the table's ref."""
    from tests import variants as V
    part, _, (c1, r1, c2, r2) = V.parts(book, tdef.name)
    cells = {}
    import datetime as dt
    serial = lambda v: (v - dt.date(1899, 12, 30)).days if isinstance(v, dt.date) else v  # noqa: E731
    for k, row in enumerate(rows):
        cells[r2 + 1 + k] = {V.col_of(tdef, key): serial(v) for key, v in row.items()}
    V.rewrite(book, {part: lambda x: V.add_rows(x, cells)})
    return list(cells)


@pytest.mark.parametrize("action", ["regrade", "validate", "import"])
def test_rows_typed_under_tables_are_made_whole(book_factory, tmp_path, action):
    import datetime as dt
    from tests.conftest import AS_OF
    book = book_factory(customers=_customers(3))
    cust_rows = _type_under(book, L.CUSTOMERS, [
        {"name": "新录入一号有限公司", "volume": 600000, "margin": 0.15, "credit": "好", "growth": "高"},
        {"name": "新录入二号有限公司", "volume": 30000, "margin": 0.3, "credit": "一般", "growth": "中"}])
    recv_rows = _type_under(book, L.RECEIVABLES, [
        {"id": "FP-TYPED-1", "customer_id": "KH000001", "invoice_date": AS_OF - dt.timedelta(days=200),
         "amount": 50000, "due_date": AS_OF - dt.timedelta(days=122), "paid": 0}])
    survey_rows = _type_under(book, L.SURVEYS, [
        {"customer_id": "KH000002", "date": AS_OF - dt.timedelta(days=3),
         **{k: 4 for k in L.SCORE_KEYS}}])
    args = {"regrade": ["regrade", str(book)], "validate": ["validate", str(book)],
            "import": ["import", str(book), str(_one_customer_csv(tmp_path))]}[action]
    assert main(args) in (0, 1)
    wb = openpyxl.load_workbook(book)
    values = openpyxl.load_workbook(book, data_only=True)

    def cell(tdef, row, key, wbk=wb):
        ws = wb[tdef.sheet]  # the table's header row, from the book with formulas
        first = ws[wb[tdef.sheet].tables[tdef.name].ref.split(":")[0]]
        heads = [c.value for c in ws[first.row]]
        return wbk[tdef.sheet].cell(row, heads.index(tdef.header(key)) + 1)

    ids = [cell(L.CUSTOMERS, r, "id").value for r in cust_rows]
    assert ids == ["KH000004", "KH000005"]
    for r, want in zip(cust_rows, ("A1", "B2")):
        f = cell(L.CUSTOMERS, r, "suggested_tier")
        assert str(f.value).startswith("="), f.value
        assert cell(L.CUSTOMERS, r, "suggested_tier", values).value == want
        assert "%" in cell(L.CUSTOMERS, r, "margin").number_format  # 0.15 shows as 15%
    assert "#,##0" in cell(L.CUSTOMERS, cust_rows[0], "volume").number_format
    r = recv_rows[0]
    if action == "import":  # an import of customers does not read the receivables (the next regrade does)
        return
    assert str(cell(L.RECEIVABLES, r, "outstanding").value).startswith("=")
    assert cell(L.RECEIVABLES, r, "outstanding", values).value == 50000
    assert cell(L.RECEIVABLES, r, "overdue_days", values).value == 122
    assert cell(L.RECEIVABLES, r, "aging", values).value == "91-180天"
    if action == "validate":  # validate reads the surveys: the typed one gets its id and 综合得分
        s = survey_rows[0]
        assert str(cell(L.SURVEYS, s, "id").value).startswith("MY")
        assert str(cell(L.SURVEYS, s, "score").value).startswith("=")
        assert cell(L.SURVEYS, s, "score", values).value == 80
    # the rows are in the tables now
    recs = table_records(book, L.CUSTOMERS.sheet, L.CUSTOMERS.name)
    assert {"新录入一号有限公司", "新录入二号有限公司"} <= {x["客户名称"] for x in recs}


def _one_customer_csv(folder: Path) -> Path:
    p = folder / "一个客户.csv"
    p.write_text("客户名称,年用量(元)\n导入同时有限公司,300000\n", encoding="utf-8")
    return p


# -- messages and the command line (PRODUCT.md §8) ------------------------------------
def test_argument_errors_are_chinese_and_english(capsys):
    assert main(["regrade"]) == 2
    err = capsys.readouterr().err
    assert "错误：参数不正确：缺少参数" in err and "Error: the following arguments are required" in err
    assert main(["regrade", "x.xlsm", "--as-of", "下月底"]) == 2
    err = capsys.readouterr().err
    assert "参数 --as-of 的值不正确" in err and "YYYY-MM-DD" in err
    assert main(["frobnicate"]) == 2
    assert "无效" in capsys.readouterr().err


def test_a_folder_given_as_the_book_is_called_a_folder(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "文件夹" in err and "folder" in err and "文件不存在" not in err


def test_new_refuses_an_xlsx_and_a_folder_that_is_not_there(tmp_path, capsys):
    assert main(["new", str(tmp_path / "x.xlsx")]) == 2
    assert ".xlsm" in capsys.readouterr().err and not (tmp_path / "x.xlsx").exists()
    target = tmp_path / "nonexistent" / "dir" / "a.xlsm"
    assert main(["new", str(target)]) == 2
    assert "不存在" in capsys.readouterr().err
    assert not (tmp_path / "nonexistent").exists()


def test_import_sources_that_are_not_there_or_empty_are_refused(book_factory, tmp_path, capsys):
    book = book_factory()
    before = book.read_bytes()
    assert main(["import", str(book), str(tmp_path / "没有这个文件.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "找不到要导入的文件" in err and "没有这个文件.xlsx" in err
    empty = tmp_path / "空文件夹"
    empty.mkdir()
    assert main(["import", str(book), str(empty)]) == 2
    assert "没有可导入的文件" in capsys.readouterr().err
    assert book.read_bytes() == before


def test_a_corrupt_xls_is_called_a_damaged_excel_file(book_factory, tmp_path):
    from kam_xl.files import run_import
    book = book_factory()
    bad = tmp_path / "旧档案.xls"
    bad.write_bytes(b"\x00\x01garbage\x00" * 100)
    res = run_import(book, [bad])
    why = dict(res.unreadable)["旧档案.xls"]
    assert "不是有效的 Excel 文件" in why and "CSV" not in why


def test_form_finds_a_customer_by_id_in_any_case_or_by_name(book_factory, tmp_path, capsys):
    book = book_factory(customers=_customers(2))
    name = table_records(book, L.CUSTOMERS.sheet, L.CUSTOMERS.name)[1]["客户名称"]
    for who in ("kh000002", name, " KH000002 "):
        assert main(["form", str(book), who, "--no-pdf", "--out", str(tmp_path)]) == 0, who
    assert (tmp_path / "客户认定申请表_KH000002.xlsx").exists()
    capsys.readouterr()
    assert main(["form", str(book), "不存在的客户", "--no-pdf", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "没有编号或名称为“不存在的客户”的客户" in err and "参数错误：" in err


def test_without_libreoffice_pdf_parts_say_so(book_factory, tmp_path, capsys, monkeypatch):
    book = book_factory()
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on the path
    assert main(["form", str(book), "KH000001", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "未安装 LibreOffice" in out and "未生成 PDF" in out
    assert not list(tmp_path.glob("*.pdf"))


def test_the_validate_summary_groups_by_severity_with_titles(book_factory, capsys):
    book = book_factory(customers=[good_customer(1, 保密承诺="否")])
    assert main(["validate", str(book)]) == 1
    out = capsys.readouterr().out
    assert "错误：" in out and "校验结果" in out
    assert "须有保密承诺 1 项（CUST-CONFIDENTIALITY）" in out
    assert "\n  CUST-CONFIDENTIALITY: 1" not in out


def test_a_notice_names_its_rows_once(book_factory, capsys):
    book = book_factory(customers=_customers(2))
    _type_under(book, L.CUSTOMERS, [{"name": "行号测试有限公司", "volume": 100000, "credit": "好"}])
    assert main(["regrade", str(book)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "直接录入" in x)
    assert line.count("第") == 1, line


# -- the customer card (PRODUCT.md §6) ------------------------------------------------
def test_the_customer_card_holds_what_a_specialist_prints_before_a_visit(demo_book, tmp_path, capsys):
    from kam_xl.workbook.store import FileStore
    from kam_xl.workbook.loader import Needs, EVERYTHING
    custs = FileStore(demo_book).load(Needs({L.CUSTOMERS.name: EVERYTHING})).customers
    c = next(x for x in custs if x.status == L.SIGNED)
    out = tmp_path / "卡"
    assert main(["card", str(demo_book), c.name, "--out", str(out), "--no-pdf"]) == 0
    card = out / f"客户档案卡_{c.id}.xlsx"
    wb = openpyxl.load_workbook(card)
    ws = wb.active
    text = "\n".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None)
    for part in ("客户档案卡", c.name, "等级与依据", "命中第", "最近拜访", "跟进事项", "应收账款", "催讨级别", "客户投诉",
                 "满意度调查", "等级变动", "推算信誉"):
        assert part in text, part
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "portrait"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 2
    # the same card by id, in lower case; an unknown customer is refused by name
    assert main(["card", str(demo_book), c.id.lower(), "--out", str(out), "--no-pdf"]) == 0
    capsys.readouterr()
    assert main(["card", str(demo_book), "没有这个客户", "--out", str(out), "--no-pdf"]) == 2
    assert "没有编号或名称为“没有这个客户”的客户" in capsys.readouterr().err


def test_a_late_invoice_moves_derived_credit_tier_and_the_live_column_together(book_factory):
    """One answer for credit (§2): the receivables say 差 → regrade writes 推算信誉 差, grades with
    it, and the 建议等级 cell's cached value (what every reader shows) agrees with 客户等级."""
    from tests.conftest import good_receivable
    book = book_factory(customers=[good_customer(1, **{"年用量(元)": 600000.0, "回款信誉": "好"})],
                        receivables=[good_receivable(1)])
    assert main(["regrade", str(book)]) == 0
    row = table_records(book, L.CUSTOMERS.sheet, L.CUSTOMERS.name, data_only=True)[0]
    assert (row["推算信誉"], row["客户等级"], row["建议等级"]) == ("好", "A1", "A1")
    from kam_xl.workbook.store import FileStore
    from kam_xl.workbook.tables import Changes
    ch = Changes()
    ch.set(L.RECEIVABLES.name, 0, "已回款", 0.0)  # the customer stopped paying: 61 days overdue at the as-of date
    ch.set(L.RECEIVABLES.name, 0, "回款日期", None)
    ch.set(L.RECEIVABLES.name, 0, "到期日", dt.date(2026, 6, 1))
    FileStore(book).write(ch)
    assert main(["regrade", str(book)]) == 0
    row = table_records(book, L.CUSTOMERS.sheet, L.CUSTOMERS.name, data_only=True)[0]
    assert row["推算信誉"] == "差" and row["客户等级"] == row["建议等级"] and row["客户等级"] not in ("A1", "A2")
    assert main(["validate", str(book)]) == 1  # an 已签约/已认定 customer with 差 credit is a finding
