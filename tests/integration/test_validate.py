"""全面校验: one small workbook per rule with exactly that violation."""
import datetime as dt
import json

import pytest

from kam_xl import demo
from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import run_validate
from tests.conftest import good_customer, good_receivable, good_visit
from tests.helpers import table_records, zip_members

D = dt.date
C2 = good_customer(2, 客户名称="杭州第2新材料有限公司")


def cust(**over):
    return {"customers": [good_customer(1, **over)]}


CASES = [
    # (rule, data, sheet, excel row, column)
    # the entered 回款信誉 is judged when the customer has no receivables in the window …
    ("CUST-CREDIT-BAD", {**cust(回款信誉="差"), "receivables": []}, "客户档案", 2, "回款信誉"),
    # … and the credit derived from them when it has (an invoice 122 days overdue: 差), as regrade grades
    ("CUST-CREDIT-BAD", {**cust(回款信誉="好"), "receivables": [
        good_receivable(1, 开票日期=dt.date(2026, 5, 1), 到期日=dt.date(2026, 7, 1), 已回款=0, 回款日期=None)]},
     "客户档案", 2, "回款信誉"),
    ("CUST-FINANCE-WEAK", cust(财务状况="弱"), "客户档案", 2, "财务状况"),
    ("CUST-ATTITUDE-NEG", cust(合作态度="消极"), "客户档案", 2, "合作态度"),
    ("CUST-CONFIDENTIALITY", cust(保密承诺="否"), "客户档案", 2, "保密承诺"),
    ("CUST-COST", cust(成本水平="不符合"), "客户档案", 2, "成本水平"),
    ("CUST-AGREEMENT-MISSING", cust(协议编号=None), "客户档案", 2, "协议编号"),
    ("CUST-AGREEMENT-MISSING", cust(协议类型=None), "客户档案", 2, "协议类型"),
    ("CUST-AGREEMENT-EXPIRED", cust(协议到期日=D(2026, 10, 1)), "客户档案", 2, "协议到期日"),
    ("CUST-AGREEMENT-EXPIRING", cust(协议到期日=D(2026, 12, 1)), "客户档案", 2, "协议到期日"),
    ("CUST-STAFF-FEW", cust(对接人员="张伟"), "客户档案", 2, "对接人员"),
    ("CUST-STAFF-FEW", cust(对接人员="张伟;张伟", 客户等级="B1", 认定状态="申请认定"), "客户档案", 2, "对接人员"),
    ("CUST-VISIT-OVERDUE", {"visits": [good_visit(实际日期=D(2026, 9, 1), 计划日期=D(2026, 9, 1))]},
     "客户档案", 2, "客户等级"),
    ("CUST-ENUM", cust(回款信誉="优"), "客户档案", 2, "回款信誉"),
    ("CUST-TYPE", cust(**{"年用量(元)": "很多"}), "客户档案", 2, "年用量(元)"),
    ("CUST-TYPE", cust(利润率=1.5), "客户档案", 2, "利润率"),
    ("CUST-ID-DUP", {"customers": [good_customer(1), dict(C2, 客户编号="KH000001")]}, "客户档案", 3, "客户编号"),
    # a row with a name and no id is numbered by validate (§2); one with neither stays a finding
    ("CUST-ID-MISSING", {"customers": [good_customer(1), dict(C2, 客户编号=None, 客户名称=None)]}, "客户档案", 3,
     "客户编号"),
    ("CUST-NAME-MISSING", cust(客户名称=None), "客户档案", 2, "客户名称"),
    ("CUST-NAME-DUP", {"customers": [good_customer(1), good_customer(2, 客户名称="上海 第1精密机械有限公司")]},
     "客户档案", 3, "客户名称"),
    ("VISIT-PLAN-INCOMPLETE", {"visits": [good_visit(), good_visit(2, 状态="待审批", 实际日期=None, 拜访结果=None,
                                                                  预期效果=None, 部门经理审批=None, 公司领导审批=None)]},
     "拜访记录", 3, "预期效果"),
    ("VISIT-APPROVAL-MISSING", {"visits": [good_visit(), good_visit(2, 状态="已批准", 公司领导审批=None,
                                                                   实际日期=None, 拜访结果=None)]},
     "拜访记录", 3, "公司领导审批"),
    ("VISIT-APPROVAL-MISSING", {"visits": [good_visit(部门经理审批="驳回")]}, "拜访记录", 2, "部门经理审批"),
    ("VISIT-DONE-INCOMPLETE", {"visits": [good_visit(拜访结果=None)]}, "拜访记录", 2, "拜访结果"),
    ("VISIT-DONE-INCOMPLETE", {"visits": [good_visit(实际日期=None)]}, "拜访记录", 2, "实际日期"),
    ("VISIT-CUSTOMER-UNKNOWN", {"visits": [good_visit(), good_visit(2, customer="KH000099")]}, "拜访记录", 3, "客户编号"),
    ("VISIT-ID-DUP", {"visits": [good_visit(), good_visit(1)]}, "拜访记录", 3, "拜访编号"),
    ("VISIT-ENUM", {"visits": [good_visit(拜访方式="上门")]}, "拜访记录", 2, "拜访方式"),
    ("RECV-AMOUNT-INVALID", {"receivables": [good_receivable(金额=0.0, 已回款=0.0)]}, "应收账款", 2, "金额"),
    ("RECV-PAID-RANGE", {"receivables": [good_receivable(已回款=120000.0)]}, "应收账款", 2, "已回款"),
    ("RECV-PAID-RANGE", {"receivables": [good_receivable(已回款=-1.0)]}, "应收账款", 2, "已回款"),
    ("RECV-DUE-BEFORE-INVOICE", {"receivables": [good_receivable(到期日=D(2026, 7, 1))]}, "应收账款", 2, "到期日"),
    ("RECV-CUSTOMER-UNKNOWN", {"receivables": [good_receivable(customer="KH000777")]}, "应收账款", 2, "客户编号"),
    ("RECV-ID-DUP", {"receivables": [good_receivable(1), good_receivable(1)]}, "应收账款", 3, "单据号"),
    ("RECV-DATE-MISSING", {"receivables": [good_receivable(开票日期=None)]}, "应收账款", 2, "开票日期"),
    ("RECV-TYPE", {"receivables": [good_receivable(到期日="下个月")]}, "应收账款", 2, "到期日"),
    ("RECV-PAID-DATE-MISSING", {"receivables": [good_receivable(回款日期=None)]}, "应收账款", 2, "回款日期"),
]


def test_a_clean_workbook_has_no_findings_and_exits_0(book_factory, capsys):
    book = book_factory()
    assert main(["validate", str(book)]) == 0
    assert "错误 0 项，警告 0 项" in capsys.readouterr().out
    assert table_records(book, L.SHEET_ISSUES, "Issues") == []


@pytest.mark.parametrize("rule,data,sheet,row,column", CASES, ids=[c[0] + f"-{i}" for i, c in enumerate(CASES)])
def test_each_rule_is_found_where_it_is(book_factory, rule, data, sheet, row, column):
    book = book_factory(**data)
    rep = run_validate(book)
    found = [f for f in rep.findings if f.rule == rule]
    assert found, [f.rule for f in rep.findings]
    assert (found[0].sheet, found[0].row, found[0].column) == (sheet, row, column)
    other = {f.rule for f in rep.findings} - {rule}
    # (a customer without an id has no 认定申请 to stand on: CUST-CERT-NOT-APPROVED follows)
    allowed = {"CUST-STAFF-FEW", "RECV-DUNNING", "CUST-VISIT-OVERDUE", "VISIT-PLAN-INCOMPLETE",
               "CUST-CERT-NOT-APPROVED"} | ({"CUST-NAME-MISSING"} if rule == "CUST-ID-MISSING" else set()) \
        | ({"CUST-CREDIT-BAD"} if rule.startswith("RECV-") else set())  # a bad invoice makes the derived credit 差
    assert other <= allowed, other
    issues = table_records(book, L.SHEET_ISSUES, "Issues", data_only=True)
    assert any(r["规则"] == rule and r["行号"] == row and r["列"] == column and r["说明"] for r in issues)
    # the 行号 is a link to the very cell
    links = [r["行号"] for r in table_records(book, L.SHEET_ISSUES, "Issues") if r["规则"] == rule]
    assert any(str(x).startswith(f'=HYPERLINK("#\'{sheet}\'!') and str(x).endswith(f"{row}\",{row})")
               for x in links), links


def test_dunning_fills_levels_and_lists_each_customer_once(book_factory):
    rs = [good_receivable(1, 到期日=D(2026, 10, 20), 已回款=0.0, 回款日期=None),   # 11 days
          good_receivable(2, 到期日=D(2026, 7, 1), 已回款=50000.0),               # 122 days, half open
          good_receivable(3, 到期日=D(2026, 12, 1), 已回款=0.0, 回款日期=None)]    # not due
    book = book_factory(receivables=rs)
    before = zip_members(book)
    rep = run_validate(book)
    assert len(rep.dunning) == 1
    d = rep.dunning[0]
    assert (d.customer_id, d.level, d.invoices, d.overdue_amount, d.worst_days) == \
        ("KH000001", "4级-法律途径", 2, 150000.0, 122)
    recs = table_records(book, L.SHEET_RECEIVABLES, "Receivables")
    assert [r["催讨级别"] for r in recs] == ["1级-电话提醒", "4级-法律途径", None]
    after = zip_members(book)
    changed = {k for k in before if before[k] != after[k]}
    import zipfile
    from kam_xl.workbook.package import read_package
    with zipfile.ZipFile(book) as z:
        pkg = read_package(z)
    # the receivables (催讨级别), the findings sheet and table, the home status — nothing else (the
    # customer's 推算信誉, 差 for 122 days overdue, was right from the start: the book was built so)
    assert changed == {pkg.sheets[L.SHEET_RECEIVABLES], pkg.sheets[L.SHEET_ISSUES], pkg.tables["Issues"].part,
                       pkg.sheets[L.SHEET_HOME]}, changed
    assert table_records(book, L.SHEET_CUSTOMERS, "Customers")[0]["推算信誉"] == "差"


def test_next_clean_run_replaces_previous_findings(book_factory):
    book = book_factory(customers=[good_customer(1, 回款信誉="差")], receivables=[])  # the entered credit counts
    assert main(["validate", str(book)]) == 1
    assert len(table_records(book, L.SHEET_ISSUES, "Issues")) == 1
    from kam_xl.workbook.store import FileStore
    from kam_xl.workbook.tables import Changes
    ch = Changes()
    ch.set("Customers", 0, "回款信誉", "好")
    FileStore(book).write(ch)
    assert main(["validate", str(book)]) == 0
    assert table_records(book, L.SHEET_ISSUES, "Issues") == []


def test_json_output_for_scripts(book_factory, capsys):
    book = book_factory(customers=[good_customer(1, 保密承诺="否")])
    assert main(["validate", str(book), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == 1 and out["findings"][0]["rule"] == "CUST-CONFIDENTIALITY"
    assert out["findings"][0]["row"] == 2 and out["findings"][0]["column"] == "保密承诺"


def test_demo_planted_violations_are_all_found(demo_book):
    demo.build_data()  # PLANTED lists what the demo planted
    rep = run_validate(demo_book)
    found = {(f.rule, f.customer_id) for f in rep.findings}
    from kam_xl.workbook.store import FileStore
    t = FileStore(demo_book).read(["Visits", "Receivables", "Certifications", "Complaints", "Surveys"])
    ids = {name: {r[0]: r[1] for r in tab.rows} for name, tab in t.items()}  # record id → customer id
    for rule, table, rid in demo.PLANTED:
        cid = rid if table == "Customers" else ids[table][rid]
        assert (rule, cid) in found, (rule, table, rid)
