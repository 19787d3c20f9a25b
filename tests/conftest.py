"""Shared fixtures: real master workbooks built by the product itself."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from kam_xl import layout as L
from kam_xl.workbook.builder import build_master

AS_OF = dt.date(2026, 10, 31)


def good_customer(i: int = 1, **over: Any) -> dict[str, Any]:
    """A customer that passes every check (an 已签约 A1 account)."""
    row = {
        "客户编号": f"KH{i:06d}", "客户名称": f"上海第{i}精密机械有限公司", "客户类型": "协议大客户",
        "行业": "制造业", "区域": "华东", "客户经理": "周建国", "对接人员": "张伟、李娜",
        "联系人": "王强", "联系电话": "021-55550000", "年用量(元)": 800000.0, "利润率": 0.12,
        "回款信誉": "好", "增长潜力": "中", "财务状况": "强", "合作态度": "积极", "保密承诺": "是",
        "成本水平": "符合", "认定状态": "已签约", "协议类型": "销售协议", "协议编号": f"XS-2025-{i:04d}",
        "协议到期日": dt.date(2027, 12, 31), "客户等级": "A1", "定级日期": dt.date(2026, 1, 5),
        "满意度": 92.0, "建档日期": dt.date(2020, 5, 1),
    }
    row.update(over)
    return row


def good_visit(i: int = 1, customer: str = "KH000001", **over: Any) -> dict[str, Any]:
    row = {
        "拜访编号": f"BF{i:06d}", "客户编号": customer, "拜访方式": "实地拜访",
        "计划日期": dt.date(2026, 10, 10), "实际日期": dt.date(2026, 10, 10), "地点": "客户公司",
        "拜访人员": "张伟", "拜访对象": "王强", "拜访目的": "年度回顾", "拜访内容": "合作情况",
        "预期效果": "续签", "拜访结果": "同意续签", "状态": "已完成", "部门经理审批": "同意",
        "公司领导审批": "同意",
    }
    row.update(over)
    return row


def good_receivable(i: int = 1, customer: str = "KH000001", **over: Any) -> dict[str, Any]:
    row = {
        "单据号": f"FP{i:08d}", "客户编号": customer, "开票日期": dt.date(2026, 8, 1),
        "金额": 100000.0, "到期日": dt.date(2026, 8, 31), "已回款": 100000.0,
        "回款日期": dt.date(2026, 8, 30), "催收人": "张伟",
    }
    row.update(over)
    return row


def approved_applications(customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The 认定申请 a certified customer stands on (PRODUCT.md §10.1): approved for 已认定/已签约,
    investigated and awaiting approval for 申请认定."""
    from kam_xl.demo import application
    stages = {"已认定": "approved", "已签约": "approved", "申请认定": "applied"}
    return [application(i + 1, c, AS_OF, stages[c["认定状态"]])
            for i, c in enumerate(c for c in customers if c.get("认定状态") in stages and c.get("客户编号"))]


def recent_surveys(customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A phone return visit scored this month for each certified customer (92 = its 满意度)."""
    heads = [L.SURVEYS.header(k) for k in L.SCORE_KEYS]
    return [{"调查编号": f"MY{i + 1:06d}", "客户编号": c["客户编号"], "调查日期": dt.date(2026, 10, 12),
             "调查方式": "电话回访", "调查人": "张伟", **dict(zip(heads, (5, 5, 5, 4, 4)))}
            for i, c in enumerate(c for c in customers
                                  if c.get("认定状态") in L.CERTIFIED_STATUSES and c.get("客户编号"))]


def make_book(path: Path, customers=None, visits=None, receivables=None, settings=None,
              rules=None, certifications=None, complaints=None, surveys=None) -> Path:
    customers = customers if customers is not None else [good_customer()]
    data = {
        L.CUSTOMERS.name: customers,
        L.VISITS.name: visits if visits is not None else [good_visit()],
        L.RECEIVABLES.name: receivables if receivables is not None else [good_receivable()],
        L.CERTIFICATIONS.name: certifications if certifications is not None else approved_applications(customers),
        L.COMPLAINTS.name: complaints or [],
        L.SURVEYS.name: surveys if surveys is not None else recent_surveys(customers),
    }
    if rules is not None:
        data[L.TIER_RULES.name] = rules
    s = {"基准日期": AS_OF}
    s.update(settings or {})
    return build_master(path, data, s)


@pytest.fixture
def book_factory(tmp_path):
    counter = iter(range(10_000))

    def make(**kw) -> Path:
        return make_book(tmp_path / f"book{next(counter)}.xlsm", **kw)
    return make


@pytest.fixture(scope="session")
def _demo_master(tmp_path_factory) -> Path:
    from kam_xl.files import new_book
    return new_book(tmp_path_factory.mktemp("demo") / "demo.xlsm", demo=True)


@pytest.fixture
def demo_book(_demo_master, tmp_path) -> Path:
    dst = tmp_path / "demo.xlsm"
    shutil.copy2(_demo_master, dst)
    return dst
