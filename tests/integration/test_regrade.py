"""重新分级 on real workbook files."""
import datetime as dt

from python_calamine import CalamineWorkbook

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import run_regrade
from kam_xl.workbook.store import FileStore
from kam_xl.workbook.tables import Changes
from tests.conftest import AS_OF, good_customer, good_receivable
from tests.helpers import add_user_column, table_records, zip_members


def customers(book):
    with CalamineWorkbook.from_path(str(book), load_tables=True) as wb:
        t = wb.get_table_by_name("Customers")
        return [dict(zip(t.columns, r)) for r in t.to_python()]


def test_regrade_changes_only_tier_and_date_and_logs_every_change(demo_book):
    before = customers(demo_book)
    vba = zip_members(demo_book)["xl/vbaProject.bin"]
    res = run_regrade(demo_book, operator="张伟")
    after = customers(demo_book)
    assert len(res.moves) > 10
    moved = set()
    for b, a in zip(before, after):
        for h in L.CUSTOMERS.headers:
            if h in ("客户等级", "定级日期", "推算信誉", "建议等级"):  # 建议等级: its cached value follows 推算信誉
                continue
            assert a[h] == b[h], (b["客户编号"], h)
        if a["客户等级"] != b["客户等级"]:
            moved.add(a["客户编号"])
            assert a["定级日期"] == AS_OF
        else:
            assert a["定级日期"] == b["定级日期"]
    assert moved == {m.customer_id for m in res.moves}
    log = table_records(demo_book, L.SHEET_GRADELOG, "GradeLog")
    assert len(log) == len(res.moves)
    assert {r["客户编号"] for r in log} == moved
    first = log[0]
    assert first["操作人"] == "张伟" and first["规则版本"].startswith("R-")
    assert "命中第" in first["依据"] and "年用量=" in first["依据"]
    assert zip_members(demo_book)["xl/vbaProject.bin"] == vba
    # one answer for credit (PRODUCT.md §2): right after a regrade, 建议等级 and 客户等级 agree on every row
    graded = [a for a in after if a["客户名称"]]
    assert all(a["建议等级"] == a["客户等级"] for a in graded), \
        [(a["客户编号"], a["建议等级"], a["客户等级"], a["推算信誉"]) for a in graded if a["建议等级"] != a["客户等级"]][:5]
    assert any(a["推算信誉"] for a in after) and any(not a["推算信誉"] for a in after)


def test_second_regrade_changes_nothing(demo_book):
    run_regrade(demo_book, operator="x")
    cust_before = customers(demo_book)
    log_before = table_records(demo_book, L.SHEET_GRADELOG, "GradeLog")
    res = run_regrade(demo_book, operator="x")
    assert res.moves == []
    assert customers(demo_book) == cust_before
    assert table_records(demo_book, L.SHEET_GRADELOG, "GradeLog") == log_before


def test_dry_run_writes_nothing(demo_book, capsys):
    before = demo_book.read_bytes()
    assert main(["regrade", str(demo_book), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "试运行" in out and "→" in out
    assert demo_book.read_bytes() == before


def test_editing_a_rule_row_moves_exactly_the_customers_it_affects(demo_book):
    run_regrade(demo_book, operator="x")
    cs = customers(demo_book)
    # raise the A1 volume bound from 50万 to 100万 — in the workbook, like a manager would
    store = FileStore(demo_book)
    rules = store.read(["TierRules"])["TierRules"]
    idx = next(i for i, r in enumerate(rules.records()) if r["等级"] == "A1")
    ch = Changes()
    ch.set("TierRules", idx, "年用量下限(含)", 1000000)
    store.write(ch)
    expected = {c["客户编号"] for c in cs if c["客户等级"] == "A1" and c["年用量(元)"] < 1000000}
    res = run_regrade(demo_book, operator="x")
    assert expected and {m.customer_id for m in res.moves} == expected
    assert all(m.old == "A1" and m.new == "A2" for m in res.moves)


def test_blank_tier_is_graded_and_ungradable_customers_are_reported(book_factory):
    book = book_factory(customers=[good_customer(1, 客户等级=None, 定级日期=None),
                                   good_customer(2, **{"年用量(元)": None})])
    res = run_regrade(book, operator="x")
    assert [(m.customer_id, m.old, m.new) for m in res.moves] == [("KH000001", None, "A1")]
    assert len(res.ungraded) == 1 and "年用量(元)" in res.ungraded[0][2]
    assert customers(book)[1]["客户等级"] == "A1"  # untouched, not guessed


def test_credit_is_derived_from_receivables_and_explained(book_factory):
    late = [good_receivable(i, 开票日期=dt.date(2026, 3, i), 到期日=dt.date(2026, 4, i), 已回款=0.0,
                            回款日期=None) for i in range(1, 4)]
    book = book_factory(customers=[good_customer(1, 回款信誉="好")], receivables=late)
    res = run_regrade(book, operator="x")
    assert res.moves[0].new == "B2"  # 80万 but credit derived 差 → no A tier, growth 中
    assert "回款信誉=差(按近12个月3笔应收推算" in res.moves[0].explanation


def test_user_column_survives_regrade(book_factory):
    book = book_factory(customers=[good_customer(1, 客户等级="B2")])
    add_user_column(book, L.SHEET_CUSTOMERS, "Customers", "大区负责人", ["刘总"])
    run_regrade(book, operator="x")
    row = table_records(book, L.SHEET_CUSTOMERS, "Customers")[0]
    assert row["大区负责人"] == "刘总" and row["客户等级"] == "A1"


# --- the seed's alternative schemes, by editing only the workbook ----------------
def _set_rules(book, rules):
    store = FileStore(book)
    store.write(Changes(replaces={"TierRules": [dict(zip(L.TIER_RULES.headers, r)) for r in rules]}))


def _set_setting(book, key, value):
    store = FileStore(book)
    t = store.read(["Settings"])["Settings"]
    idx = next(i for i, r in enumerate(t.records()) if r["参数"] == key)
    ch = Changes()
    ch.set("Settings", idx, "值", value)
    store.write(ch)


def test_alternative_scheme_abc_by_sales_frequency_and_years(book_factory):
    cs = [good_customer(1, **{"年用量(元)": 12_000_000.0}), good_customer(2, **{"年用量(元)": 5_000_000.0}),
          good_customer(3, **{"年用量(元)": 1_000_000.0}), good_customer(4, **{"年用量(元)": 12_000_000.0}),
          good_customer(5, **{"年用量(元)": 300_000.0})]
    book = book_factory(customers=cs, receivables=[])
    add_user_column(book, L.SHEET_CUSTOMERS, "Customers", "年采购次数", [12, 4, 1, 2, 1])
    add_user_column(book, L.SHEET_CUSTOMERS, "Customers", "合作年限", [10, 3, 1, 12, 1])
    _set_rules(book, [
        (1, "A", 10_000_000, None, None, None, None, "", "年采购次数>=12；合作年限>=10", "A级：年销售额1000万以上、每月采购、合作十年以上"),
        (2, "B", 5_000_000, None, None, None, None, "", "年采购次数>=4；合作年限>=3", "B级：约500万、每季度采购、合作三年"),
        (3, "C", 1_000_000, None, None, None, None, "", "", "C级：约100万"),
        (4, "非大客户", None, None, None, None, None, "", "", "其余"),
    ])
    res = run_regrade(book, operator="x")
    got = {c["客户编号"]: c["客户等级"] for c in customers(book)}
    assert got == {"KH000001": "A", "KH000002": "B", "KH000003": "C", "KH000004": "C", "KH000005": "非大客户"}
    assert not res.rule_problems


def test_alternative_scheme_key_account_share_of_company_sales(book_factory):
    cs = [good_customer(1, **{"年用量(元)": 600_000.0}), good_customer(2, **{"年用量(元)": 400_000.0})]
    book = book_factory(customers=cs, receivables=[])
    _set_setting(book, "公司年销售额(元)", 10_000_000)
    _set_rules(book, [(1, "大客户", None, None, None, None, None, "", "销售占比>0.05", "占公司销售额5%以上"),
                      (2, "非大客户", None, None, None, None, None, "", "", "其余")])
    run_regrade(book, operator="x")
    assert [c["客户等级"] for c in customers(book)] == ["大客户", "非大客户"]


def test_a_broken_rule_row_is_reported_with_its_excel_row(book_factory, capsys):
    book = book_factory()
    _set_rules(book, [(1, "A", 500000, 100000, None, None, None, "很高", "", "上下限颠倒"),
                      (2, "其他", None, None, None, None, None, "", "", "其余")])
    before = book.read_bytes()
    # PRODUCT.md §3: a rule table that cannot be used is refused, each cell named, nothing written
    assert main(["regrade", str(book)]) == 2
    err = capsys.readouterr().err
    assert "单元格 D2（年用量上限(不含)）：年用量上限应大于下限" in err
    assert "单元格 H2（增长潜力）" in err and "很高" in err
    assert book.read_bytes() == before


def test_regrade_turns_the_old_per_row_python_columns_into_native_formulas(book_factory, capsys):
    """A book made before the live columns were native (KAM_TIER / KAM_AGING in every row)."""
    import openpyxl
    from kam_xl.cli import main
    book = book_factory()
    wb = openpyxl.load_workbook(book, keep_vba=True)
    old = {("客户档案", "Customers", "建议等级"): "KAM_TIER(J2,L2,K2,M2)",
           ("应收账款", "Receivables", "账龄"): "KAM_AGING(E2,H2,KAM_ASOF)"}
    for (sheet, table, header), f in old.items():
        ws = wb[sheet]
        t = ws.tables[table]
        col = next(c for c in t.tableColumns if c.name == header)
        col.calculatedColumnFormula.attr_text = f
        j = [c.value for c in ws[1]].index(header) + 1
        ws.cell(2, j).value = "=" + f
    wb.save(book)
    assert main(["regrade", str(book)]) == 0
    assert "已按当前分级规则表更新公式列：建议等级、账龄" in capsys.readouterr().out
    wb = openpyxl.load_workbook(book)
    for (sheet, table, header), f in old.items():
        ws = wb[sheet]
        j = [c.value for c in ws[1]].index(header) + 1
        assert "KAM_" not in ws.cell(2, j).value.replace("KAM_ASOF", "")
        col = next(c for c in ws.tables[table].tableColumns if c.name == header)
        assert "KAM_" not in col.calculatedColumnFormula.attr_text.replace("KAM_ASOF", "")
