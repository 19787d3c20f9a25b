"""Cell functions for Excel (xlwings @xw.func).  Thin: conversions in the
decorators, logic in kam_xl.cellfuncs and the domain.  The tier rules and
Settings come from the calling workbook's own tables (cached for a moment so a
column of formulas reads them once).  Each function and each argument carries a
Chinese description: xlwings registers them for Excel's function dialog (插入函数)."""
from __future__ import annotations

import time
from typing import Any

import xlwings as xw

from .. import cellfuncs as cf
from .. import layout as L
from ..domain.models import Settings
from ..workbook.reading import coerce_record, read_settings
from .book import XlBook
from ..domain.tiering import default_rules

_CACHE: dict[str, tuple[float, Any]] = {}
_TTL = 2.0


def _book_context(caller) -> tuple[list, Settings]:
    """TierRules and Settings of the caller's workbook; defaults without one."""
    if caller is None:
        return default_rules(), Settings()
    try:
        book = caller.sheet.book
        key = book.fullname
    except Exception:
        return default_rules(), Settings()
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < _TTL:
        return hit[1]
    tables = XlBook(book).read([L.TIER_RULES.name, L.SETTINGS.name])
    rules = [coerce_record(L.TIER_RULES, r, i)[0] for i, r in enumerate(tables[L.TIER_RULES.name].records())]
    settings, _ = read_settings(tables[L.SETTINGS.name].records())
    _CACHE[key] = (time.monotonic(), (rules, settings))
    return rules, settings


@xw.func(category="大客户管理")
@xw.arg("caller", vba="Application.Caller")
@xw.arg("volume", ndim=2, doc="年用量（元），单元格或整列")
@xw.arg("credit", ndim=2, doc="回款信誉：好/较好/一般/差，单元格或整列")
@xw.arg("margin", ndim=2, doc="利润率（0–1 或百分比），单元格或整列")
@xw.arg("growth", ndim=2, doc="增长潜力：高/中/低，单元格或整列")
def KAM_TIER(volume, credit, margin, growth, caller=None):
    """按分级规则表计算客户等级（第一条满足的规则生效）"""
    rules, settings = _book_context(caller)
    return cf.tier(volume, credit, margin, growth, rules, settings)


@xw.func(category="大客户管理")
@xw.arg("caller", vba="Application.Caller")
@xw.arg("volume", ndim=2, doc="年用量（元），单元格或整列")
@xw.arg("credit", ndim=2, doc="回款信誉：好/较好/一般/差，单元格或整列")
@xw.arg("margin", ndim=2, doc="利润率（0–1 或百分比），单元格或整列")
@xw.arg("growth", ndim=2, doc="增长潜力：高/中/低，单元格或整列")
def KAM_TIER_WHY(volume, credit, margin, growth, caller=None):
    """说明分级依据：输入值、命中的规则、以及前面规则未命中的原因"""
    rules, settings = _book_context(caller)
    return cf.tier_why(volume, credit, margin, growth, rules, settings)


@xw.func(category="大客户管理")
@xw.arg("due_date", ndim=2, doc="到期日，单元格或整列")
@xw.arg("outstanding", ndim=2, doc="未回款金额，单元格或整列")
@xw.arg("as_of", doc="基准日期（可省略：取首页的基准日期或今天）")
def KAM_OVERDUE_DAYS(due_date, outstanding, as_of=None):
    """逾期天数：未回款金额超过到期日的天数（已结清或未到期为 0）"""
    return cf.overdue(due_date, outstanding, as_of)


@xw.func(category="大客户管理")
@xw.arg("due_date", ndim=2, doc="到期日，单元格或整列")
@xw.arg("outstanding", ndim=2, doc="未回款金额，单元格或整列")
@xw.arg("as_of", doc="基准日期（可省略：取首页的基准日期或今天）")
def KAM_AGING(due_date, outstanding, as_of=None):
    """账龄分段：未到期 / 1-30天 / 31-60天 / 61-90天 / 91-180天 / 180天以上 / 已结清"""
    return cf.aging(due_date, outstanding, as_of)


@xw.func(category="大客户管理")
@xw.arg("caller", vba="Application.Caller")
@xw.arg("customer_id", ndim=2, doc="客户编号，单元格或整列")
@xw.arg("receivables", ndim=2, doc="应收账款区域（含表头），如 Receivables[#All]")
@xw.arg("as_of", doc="基准日期（可省略：取首页的基准日期或今天）")
def KAM_CREDIT(customer_id, receivables, as_of=None, caller=None):
    """按近 12 个月应收账款推算回款信誉（好/较好/一般/差）；receivables 为含表头的应收区域"""
    _, settings = _book_context(caller)
    return cf.credit(customer_id, receivables, settings, as_of)


@xw.func(category="大客户管理")
@xw.arg("caller", vba="Application.Caller")
@xw.arg("tier", ndim=2, doc="客户等级，单元格或整列")
@xw.arg("last_visit", ndim=2, doc="最近一次已完成拜访的日期，单元格或整列")
@xw.arg("as_of", doc="基准日期（可省略：取首页的基准日期或今天）")
def KAM_NEXT_VISIT(tier, last_visit, as_of=None, caller=None):
    """下次应拜访日期：最近一次已完成拜访 + 该等级的拜访频率（参数表）"""
    _, settings = _book_context(caller)
    return cf.next_visit(tier, last_visit, settings, as_of)
