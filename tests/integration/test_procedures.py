"""The seed's other procedures (PRODUCT.md §10): certification, complaints, satisfaction surveys,
the printable application form and the monthly meeting pack."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.demo import application
from kam_xl.files import run_validate
from tests.conftest import AS_OF, good_customer, good_visit
from tests.helpers import table_records

CE, CO, SU = L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS


def findings(book, rule):
    return [(f.sheet, f.row, f.column, f.message) for f in run_validate(book).findings if f.rule == rule]


def app(customer=None, **over):
    row = application(1, customer or good_customer(), AS_OF, "approved")
    row.update({"部门经理意见": "同意", "公司领导意见": "同意"})
    row.update(over)
    return row


def complaint(i=1, **over):
    row = {"投诉编号": f"TS{i:06d}", "客户编号": "KH000001", "投诉日期": dt.date(2026, 10, 1), "投诉渠道": "电话",
           "投诉类别": "交付", "投诉内容": "交货延迟", "严重程度": "一般", "受理人": "张伟", "处理人": "李娜",
           "处理期限": dt.date(2026, 11, 10), "状态": "处理中"}
    row.update(over)
    return row


def survey(i=1, scores=(4, 4, 5, 5, 4), **over):
    row = {"调查编号": f"MY{i:06d}", "客户编号": "KH000001", "调查日期": dt.date(2026, 10, 15), "调查方式": "电话回访",
           "调查人": "张伟", **dict(zip([SU.header(k) for k in L.SCORE_KEYS], scores))}
    row.update(over)
    return row


def test_a_new_book_has_the_three_procedure_sheets_with_drop_downs_and_formats(tmp_path, book_factory):
    assert main(["new", str(tmp_path / "n.xlsm")]) == 0
    wb = openpyxl.load_workbook(tmp_path / "n.xlsm")
    for t in (CE, CO, SU):
        ws = wb[t.sheet]
        assert list(ws.tables) == [t.name]
        assert [c.value for c in ws[1]][: len(t.headers)] == t.headers
        lists = {dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
        for col in t.columns:
            if col.kind == L.ENUM:
                assert any(all(ch in f for ch in col.choices) for f in lists), (t.name, col.header)
    ws = openpyxl.load_workbook(book_factory(complaints=[complaint()]))[CE.sheet]
    assert ws.cell(2, CE.headers.index("申请日期") + 1).number_format == "yyyy-mm-dd"
    assert ws.cell(2, CE.headers.index("预计年交易金额(元)") + 1).number_format == "#,##0.00"


# -- 认定申请 -------------------------------------------------------------------
def test_applying_for_certification_needs_both_investigations(book_factory):
    c = good_customer(1, 认定状态="申请认定")
    book = book_factory(customers=[c], certifications=[])
    assert [(s, r, col) for s, r, col, _ in findings(book, "CUST-CERT-NO-APPLICATION")] == [(L.SHEET_CUSTOMERS, 2, "认定状态")]
    half = application(1, c, AS_OF, "general")
    book = book_factory(customers=[c], certifications=[half])
    assert findings(book, "CUST-CERT-NO-APPLICATION")
    book = book_factory(customers=[c], certifications=[application(1, c, AS_OF, "applied")])
    assert not findings(book, "CUST-CERT-NO-APPLICATION")


def test_a_certified_customer_needs_an_approved_application_and_the_findings_say_who_is_missing(book_factory):
    book = book_factory(certifications=[app(公司领导意见=None), app(申请编号="RD000002", 申请日期=dt.date(2020, 1, 1))
                                        | {"公司领导意见": "驳回"}])
    got = findings(book, "CERT-APPROVAL-MISSING")
    assert [(s, r, col) for s, r, col, _ in got] == [(CE.sheet, 2, "公司领导意见"), (CE.sheet, 3, "公司领导意见")]
    assert "公司领导" in got[0][3]
    cust = findings(book, "CUST-CERT-NOT-APPROVED")
    assert [(s, r) for s, r, _, _ in cust] == [(L.SHEET_CUSTOMERS, 2)]
    assert "缺少公司领导同意" in cust[0][3] and "RD000001" in cust[0][3]  # the latest application


def test_an_approvers_name_counts_as_agreement(book_factory):
    book = book_factory(certifications=[app(部门经理意见="周建国", 公司领导意见="王总")],
                        visits=[good_visit(1, 部门经理审批="周建国", 公司领导审批="王总"),
                                good_visit(2, 部门经理审批="周建国", 公司领导审批="驳回")])
    assert not findings(book, "CERT-APPROVAL-MISSING") and not findings(book, "CUST-CERT-NOT-APPROVED")
    assert [(s, r, col) for s, r, col, _ in findings(book, "VISIT-APPROVAL-MISSING")] == [(L.SHEET_VISITS, 3, "公司领导审批")]
    assert not findings(book, "VISIT-ENUM")


def test_principles_investigation_and_field_team_are_checked(book_factory):
    book = book_factory(certifications=[
        app(保密承诺="待查"),
        app(申请编号="RD000002", 实地调查日期=None, 实地调查结论=None, 实地调查人员=None),
        app(申请编号="RD000003", 认定结果="待定", 实地调查人员="张伟")])
    assert [(r, col) for _, r, col, _ in findings(book, "CERT-PRINCIPLE")] == [(2, "保密承诺")]
    assert [r for _, r, _, _ in findings(book, "CERT-INVESTIGATION-INCOMPLETE")] == [3]
    assert [(r, col) for _, r, col, _ in findings(book, "CERT-FIELD-STAFF")] == [(4, "实地调查人员")]


# -- 客户投诉 -------------------------------------------------------------------
def test_complaint_rules(book_factory):
    book = book_factory(complaints=[
        complaint(1, 处理期限=dt.date(2026, 10, 20)),                                  # overdue
        complaint(2, 严重程度="重大", 处理人="张伟", 状态="已解决", 解决日期=dt.date(2026, 10, 5)),  # no leader
        complaint(3, 严重程度="重大", 处理人="张伟、王总"),                             # a leader: fine; open on A1
        complaint(4, 状态="已关闭", 解决日期=dt.date(2026, 10, 9))],                   # no confirmation
        settings={"公司领导名单": "王总、李副总"})
    assert [(r, col) for _, r, col, _ in findings(book, "COMPLAINT-OVERDUE")] == [(2, "处理期限")]
    assert [(r, col) for _, r, col, _ in findings(book, "COMPLAINT-MAJOR-NO-LEADER")] == [(3, "处理人")]
    assert [(r, col) for _, r, col, _ in findings(book, "COMPLAINT-CLOSED-NO-CONFIRM")] == [(5, "客户确认")]
    major = findings(book, "CUST-MAJOR-COMPLAINT-OPEN")
    assert [(s, r) for s, r, _, _ in major] == [(L.SHEET_CUSTOMERS, 2)] and "TS000003" in major[0][3]
    assert run_validate(book).errors >= 1


# -- 满意度调查 -----------------------------------------------------------------
def test_satisfaction_is_the_latest_surveys_score_written_by_validate(book_factory):
    book = book_factory(surveys=[survey(1, (2, 2, 3, 3, 2), 调查日期=dt.date(2026, 3, 1)),
                                 survey(2, (4, 4, 5, 5, 4), 调查日期=dt.date(2026, 10, 15))])
    assert main(["validate", str(book)]) in (0, 1)
    assert table_records(book, L.SHEET_CUSTOMERS, L.CUSTOMERS.name)[0]["满意度"] == 88.0
    scores = [r["综合得分"] for r in table_records(book, SU.sheet, SU.name)]
    wb = openpyxl.load_workbook(book, data_only=True)  # the cached values of the native formula
    cached = [r[SU.headers.index("综合得分")].value for r in wb[SU.sheet].iter_rows(min_row=2)]
    assert cached == [48.0, 88.0] and all(str(f).startswith("=IF(((ISNUMBER(") for f in scores)


def test_low_scores_need_a_follow_up_visit_and_certified_customers_a_survey_in_their_interval(book_factory):
    low = survey(1, (2, 2, 2, 3, 2), 调查日期=dt.date(2026, 9, 1))
    book = book_factory(surveys=[low])
    assert [(s, r, col) for s, r, col, _ in findings(book, "SURVEY-LOW-NO-FOLLOWUP")] == [(SU.sheet, 2, "综合得分")]
    follow = good_visit(2, 状态="待审批", 实际日期=None, 计划日期=dt.date(2026, 9, 8), 部门经理审批=None,
                        公司领导审批=None, 拜访结果=None)
    book = book_factory(surveys=[low], visits=[good_visit(1), follow])
    assert not findings(book, "SURVEY-LOW-NO-FOLLOWUP")
    assert not findings(book, "CUST-SURVEY-DUE")  # 60 days ago: within an A1's 90
    book = book_factory(surveys=[survey(1, 调查日期=dt.date(2026, 6, 1))])
    got = findings(book, "CUST-SURVEY-DUE")
    assert [(s, r) for s, r, _, _ in got] == [(L.SHEET_CUSTOMERS, 2)] and "2026-06-01" in got[0][3]
    book = book_factory(surveys=[survey(1)])
    assert not findings(book, "CUST-SURVEY-DUE")


def test_a_score_outside_1_to_5_is_a_finding(book_factory):
    book = book_factory(surveys=[survey(1, (4, 7, 5, 5, 4))])
    got = findings(book, "SURVEY-TYPE")
    assert [(s, r, col) for s, r, col, _ in got] == [(SU.sheet, 2, "交付及时")]


# -- the printed form ----------------------------------------------------------
@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice and poppler are installed by .ci/run")
def test_the_certification_form_is_one_chinese_page_with_the_investigation_and_the_principles(book_factory, tmp_path):
    book = book_factory()
    assert main(["form", str(book), "KH000001", "--out", str(tmp_path / "表")]) == 0
    pdf = tmp_path / "表" / "客户认定申请表_KH000001.pdf"
    assert pdf.exists() and (tmp_path / "表" / "客户认定申请表_KH000001.xlsx").exists()
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    import re
    assert re.search(r"Pages:\s+1\n", info) and "(A4)" in info
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    squeezed = "".join(text.split())
    for needle in ("客户认定申请表", "上海第1精密机械有限公司", "与大客户交易的理由及基本交易方针", "交易商品目录与金额",
                   "调查资料与调查结果", "已取得客户概况与最新年度决算表", "符合大客户选择原则",
                   "诚信与信用", "财务能力", "合作态度", "保密承诺", "成本水平", "部门经理意见", "公司领导意见", "签字"):
        assert needle in squeezed, needle
    assert main(["form", str(book), "KH999999"]) == 2


# -- the monthly meeting pack ----------------------------------------------------
def test_the_meeting_pack_reproduces_from_the_book(demo_book, tmp_path):
    assert main(["report", str(demo_book), "--month", "2026-10", "--out", str(tmp_path)]) == 0
    rep = openpyxl.load_workbook(next(tmp_path.glob("*.xlsx")), data_only=True)
    summary, plan = rep["例会-上月总结"], rep["例会-下月计划"]

    def frame(ws):
        rows = [[c.value for c in r] for r in ws.iter_rows(min_row=4)]
        head = rows[0]
        return [dict(zip(head, r)) for r in rows[1:] if r[0]]
    s = {r["人员"]: r for r in frame(summary)}
    # independently, from the book itself (openpyxl)
    visits = table_records(demo_book, L.SHEET_VISITS, L.VISITS.name)
    oct_ = (dt.datetime(2026, 10, 1), dt.datetime(2026, 10, 31))
    planned = {}
    for v in visits:
        d = v["计划日期"]
        if v["状态"] in ("待审批", "已批准", "已完成") and d and oct_[0] <= d <= oct_[1]:
            for p in str(v["拜访人员"]).replace("，", "、").split("、"):
                planned.setdefault(p, [0, 0])
                planned[p][0] += 1
                planned[p][1] += v["状态"] == "已完成"
    assert {p: [s[p]["计划拜访"], s[p]["完成拜访"]] for p in planned} == planned
    recv = table_records(demo_book, L.SHEET_RECEIVABLES, L.RECEIVABLES.name)
    paid = {}
    for r in recv:
        if r["回款日期"] and oct_[0] <= r["回款日期"] <= oct_[1] and (r["已回款"] or 0) > 0:
            paid[r["催收人"] or "（未填写）"] = paid.get(r["催收人"] or "（未填写）", 0) + min(r["已回款"], r["金额"])
    assert {p: round(s[p]["回款金额(万元)"] * 10000, 2) for p in paid} == {p: round(v, 2) for p, v in paid.items()}
    items = frame(plan)
    assert {r["事项"] for r in items} >= {"应拜访", "应收到期", "未结投诉"}
    open_complaints = [c for c in table_records(demo_book, CO.sheet, CO.name) if c["状态"] in L.COMPLAINT_OPEN]
    assert sum(r["事项"] == "未结投诉" for r in items) == sum(len(str(c["处理人"]).split("、")) for c in open_complaints)
    nov = [r for r in recv if r["到期日"] and dt.datetime(2026, 11, 1) <= r["到期日"] <= dt.datetime(2026, 11, 30)
           and r["金额"] and r["金额"] - (r["已回款"] or 0) > 0.005]
    assert sum(r["事项"] == "应收到期" for r in items) == len(nov)
    kpi = [[c.value for c in r] for r in rep["绩效考核"].iter_rows(min_row=4)]
    assert "投诉解决率" in kpi[0] and "调查覆盖率" in kpi[0]


@pytest.mark.parametrize("rule,data,sheet,row,column", [
    ("CERT-APPROVAL-DATE", {"certifications": [app(审批日期=None)]}, CE.sheet, 2, "审批日期"),
    ("CERT-APPROVAL-ORDER", {"certifications": [app(认定结果="待定", 部门经理意见=None)]}, CE.sheet, 2, "部门经理意见"),
    ("CERT-FIELD-MANAGER", {"certifications": [app(实地调查人员="张伟、李娜")]}, CE.sheet, 2, "实地调查人员"),
    ("CERT-CUSTOMER-UNKNOWN", {"certifications": [app(), app(申请编号="RD000002", 客户编号="KH000404")]},
     CE.sheet, 3, "客户编号"),
    ("COMPLAINT-NO-RESOLVED-DATE", {"complaints": [complaint(状态="已解决")]}, CO.sheet, 2, "解决日期"),
    ("COMPLAINT-CUSTOMER-UNKNOWN", {"complaints": [complaint(客户编号="KH000404")]}, CO.sheet, 2, "客户编号"),
    ("SURVEY-CUSTOMER-UNKNOWN", {"surveys": [survey(1), survey(2, 客户编号="KH000404")]}, SU.sheet, 3, "客户编号"),
    ("SURVEY-ID-DUP", {"surveys": [survey(1), survey(1)]}, SU.sheet, 3, "调查编号"),
])
def test_each_procedure_rule_is_found_where_it_is(book_factory, rule, data, sheet, row, column):
    got = findings(book_factory(**data), rule)
    assert [(s, r, c) for s, r, c, _ in got] == [(sheet, row, column)]
