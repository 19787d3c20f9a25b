"""生成报表: every figure traceable to the master workbook, charts on the right ranges, PDF."""
import datetime as dt
import re
import shutil
import subprocess
import zipfile
from collections import defaultdict

import openpyxl
import pandas as pd
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import run_regrade, run_report
from tests.helpers import table_records

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def report(tmp_path_factory, _demo_master):
    d = tmp_path_factory.mktemp("report")
    book = d / "demo.xlsm"
    shutil.copy2(_demo_master, book)
    run_regrade(book, operator="x")
    pdf = shutil.which("soffice") is not None
    outs = run_report(book, out=str(d / "out"), pdf=pdf)
    return book, outs


def section(path, sheet):
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=4)]
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:] if any(v is not None for v in r)]


def as_date(v):
    return v.date() if isinstance(v, dt.datetime) else v


def test_report_is_named_by_the_as_of_date_with_one_sheet_per_section(report):
    _, outs = report
    assert outs[0].name == "大客户管理报表_2026-10-31.xlsx"
    wb = openpyxl.load_workbook(outs[0])
    assert wb.sheetnames == ["概览", "等级分布", "账龄分析", "催讨清单", "拜访执行", "绩效考核", "等级变动", "投诉情况"]
    ws = wb["账龄分析"]
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$4:$4"


def test_tier_distribution_equals_an_independent_count(report):
    book, outs = report
    cust = table_records(book, L.SHEET_CUSTOMERS, "Customers")
    count, vol = defaultdict(int), defaultdict(float)
    for c in cust:
        t = c["客户等级"] or "未定级"
        count[t] += 1
        vol[t] += c["年用量(元)"] or 0
    rows = section(outs[0], "等级分布")
    assert {r["等级"]: r["客户数"] for r in rows} == dict(count)
    for r in rows:  # a manager's overview: in 万元
        assert r["年用量合计(万元)"] * 10000 == pytest.approx(vol[r["等级"]])


def test_aging_by_bucket_and_tier_equals_an_independent_sum(report):
    book, outs = report
    tiers = {c["客户编号"]: c["客户等级"] or "未定级" for c in table_records(book, L.SHEET_CUSTOMERS, "Customers")}
    expected = defaultdict(float)
    for r in table_records(book, L.SHEET_RECEIVABLES, "Receivables"):
        amount, paid = r["金额"], r["已回款"] or 0
        if not amount or amount <= 0 or paid > amount:
            continue
        open_amt = amount - paid
        if open_amt <= 0.005:
            continue
        days = (AS_OF - as_date(r["到期日"])).days
        bucket = ("未到期" if days <= 0 else "1-30天" if days <= 30 else "31-60天" if days <= 60 else
                  "61-90天" if days <= 90 else "91-180天" if days <= 180 else "180天以上")
        expected[(tiers.get(r["客户编号"], "未定级"), bucket)] += open_amt
    rows = section(outs[0], "账龄分析")
    total = 0.0
    for r in rows:
        if r["等级"] == "合计":  # in 万元
            assert r["合计"] * 10000 == pytest.approx(sum(expected.values()))
            continue
        for b in L.AGING_BUCKETS[:-1]:
            assert r[b] * 10000 == pytest.approx(expected[(r["等级"], b)]), (r["等级"], b)
            total += r[b] * 10000
    assert total == pytest.approx(sum(expected.values()))


def test_visit_completion_equals_an_independent_count(report):
    book, outs = report
    planned, done = defaultdict(int), defaultdict(int)
    for v in table_records(book, L.SHEET_VISITS, "Visits"):
        d = as_date(v["计划日期"])
        if v["状态"] not in ("待审批", "已批准", "已完成") or not (dt.date(2026, 1, 1) <= d <= AS_OF):
            continue
        for s in re.split("、", v["拜访人员"]):
            planned[s] += 1
            done[s] += v["状态"] == "已完成"
    rows = section(outs[0], "拜访执行")
    assert {r["人员"]: (r["计划"], r["已完成"]) for r in rows} == {s: (planned[s], done[s]) for s in planned}
    ov = {r["指标"]: r["数值"] for r in section(outs[0], "概览")}
    assert ov["期间拜访计划数"] > 0 and 0 < ov["拜访计划完成率"] <= 1


def test_dunning_list_has_one_line_per_customer(report):
    _, outs = report
    rows = section(outs[0], "催讨清单")
    ids = [r["客户编号"] for r in rows]
    assert len(ids) == len(set(ids)) >= 5
    assert all(r["建议催讨级别"] in L.DUNNING_LEVELS for r in rows)


def test_grade_changes_come_from_the_grade_log(report):
    book, outs = report
    log = table_records(book, L.SHEET_GRADELOG, "GradeLog")
    rows = section(outs[0], "等级变动")
    assert [r["客户编号"] for r in rows] == [r["客户编号"] for r in log] and rows


def test_charts_exist_and_point_at_the_right_ranges(report):
    _, outs = report
    with zipfile.ZipFile(outs[0]) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    refs = [re.findall(r"<c:f>(.*?)</c:f>", c) for c in charts]
    flat = [r for rs in refs for r in rs]
    assert len(charts) == 4
    assert "等级分布!$A$5:$A$11" in flat and "等级分布!$B$5:$B$11" in flat  # 7 tiers
    tiers = len(section(outs[0], "账龄分析")) - 1
    assert f"账龄分析!$B$5:$B${4 + tiers}" in flat  # stacked bars stop before the 合计 row
    assert any(r.startswith("拜访执行!$B$5:$B$") for r in flat)


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice / poppler not installed (.ci/run installs them)")
def test_pdf_has_every_section_title_as_chinese_text(report):
    _, outs = report
    pdf = outs[1]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info)[1])
    xl = openpyxl.load_workbook(outs[0])
    assert pages >= len(xl.sheetnames)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    titles = ["大客户管理概览", "客户等级分布与年用量", "应收账款账龄", "逾期应收催讨清单", "拜访计划执行情况",
              "大客户人员绩效考核指标", "期间内客户等级变动"]
    positions = [text.find(t) for t in titles]
    assert all(p >= 0 for p in positions), dict(zip(titles, positions))
    assert positions == sorted(positions)
    first_page = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "大客户管理概览" in first_page and "回款率" in first_page


def test_report_cli(report, tmp_path):
    book, _ = report
    assert main(["report", str(book), "--out", str(tmp_path / "r.xlsx"), "--as-of", "2026-09-30"]) == 0
    assert (tmp_path / "r.xlsx").exists()
    assert main(["report", str(book), "--out", str(tmp_path / "r.txt")]) == 2


def test_staff_kpis_equal_an_independent_count_per_person_also_with_a_customer_without_id(_demo_master):
    """绩效考核 is computed with numbers for customers and flags for certified and surveyed (fast at a
    million customers); every figure equals the plain count per person over the records — also
    after a customer someone serves lost its 客户编号 (the blank id counts as one customer)."""
    from kam_xl.domain.models import split_names
    from kam_xl.reports import builders as B
    from kam_xl.services import actions
    from kam_xl.workbook.store import FileStore

    def independent(data, period):
        approved = {a.customer_id for a in data.certifications if a.result == L.PASSED and a.approved_on in period}
        surveyed = {s.customer_id for s in data.surveys if s.date in period}
        certified_ids = {c.id for c in data.customers if c.status in L.CERTIFIED_STATUSES}
        out = {}
        people = set()
        for c in data.customers:
            people |= set(c.staff_list()) | ({c.manager} if c.manager else set())
        for p in people:
            served = {c.id for c in data.customers if p in c.staff_list() or c.manager == p}
            mine = [c for c in data.customers if (c.id or c.name) and c.id in served]
            sats = [c.satisfaction for c in mine if c.satisfaction is not None]
            cert = certified_ids & served
            due = [r for r in data.receivables if r.amount and r.amount > 0 and r.collector == p and r.due_date in period]
            handled = [x for x in data.complaints if x.date in period and p in split_names(x.handler)]
            resolved = [x for x in handled if x.state in (L.COMPLAINT_RESOLVED, L.COMPLAINT_CLOSED)]
            out[p] = {"负责客户数": len(mine), "新认定客户": sum(c.id in approved for c in mine),
                      "客户满意度": (sum(sats) / len(sats)) if sats else None,
                      "调查覆盖率": (len(cert & surveyed) / len(cert)) if cert else None,
                      "期间到期应收": sum(r.amount for r in due),
                      "期间回款": sum(min(r.paid or 0.0, r.amount) for r in due),
                      "投诉解决率": len(resolved) / len(handled) if handled else None}
        return out

    for blank_one in (False, True):
        data = FileStore(_demo_master).load(actions.MEETING_NEEDS, AS_OF)
        assert any(x.handler for x in data.complaints)  # the demo book's complaints have handlers
        if blank_one:
            served = next(c for c in data.customers if c.manager and c.status in L.CERTIFIED_STATUSES)
            served.id = None
        period = B.Period.year_to_date(data.as_of)
        got = {r["人员"]: r for r in B.staff_kpis(data, period).to_dict("records")}
        want = independent(data, period)
        assert want and set(want) <= set(got)
        for p, figures in want.items():
            for k, v in figures.items():
                # (a figure with nothing to count is blank: None, or NaN in a column of numbers)
                assert got[p][k] == pytest.approx(v, nan_ok=True) if v is not None else pd.isna(got[p][k]), (p, k)
