"""The cell functions' logic (PRODUCT.md §5), free of xlwings.

Each takes single values or whole columns (2-D lists as xlwings passes them
with ndim=2) and broadcasts; bad input gives a short Chinese text or blank, never
an exception.  kam_xl.xl.udfs wraps these with @xw.func; the headless path calls
the same domain functions through the services.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from .domain.models import Settings, TierRule, to_date, to_number
from .domain.receivables import aging_bucket, derive_credit, overdue_days
from .domain.models import Receivable
from .domain.tiering import TierInputs, grade, sort_rules
from .domain.values import is_blank
from .domain.visits import next_visit_due
from . import layout as L
from .workbook.reading import coerce_record, coerce_value

BAD_DATE = "日期无效"
BAD_NUMBER = "数字无效"


def _is_grid(v: Any) -> bool:
    return isinstance(v, (list, tuple))


def _as_grid(v: Any) -> list[list[Any]]:
    if not _is_grid(v):
        return [[v]]
    if v and _is_grid(v[0]):
        return [list(r) for r in v]
    return [[x] for x in v]  # a 1-D list is a column


def broadcast(fn: Callable[..., Any], *args: Any) -> Any:
    """Apply fn cell by cell; scalars broadcast against column/array arguments."""
    if not any(_is_grid(a) for a in args):
        return fn(*args)
    grids = [_as_grid(a) if _is_grid(a) else None for a in args]
    rows = max(len(g) for g in grids if g is not None)
    cols = max(len(g[0]) if g else 1 for g in grids if g is not None)

    def pick(i: int, r: int, c: int) -> Any:
        g = grids[i]
        if g is None:
            return args[i]
        if not g:
            return None
        row = g[r if len(g) > 1 else 0]
        return row[c if len(row) > 1 else 0] if row else None

    return [[fn(*(pick(i, r, c) for i in range(len(args)))) for c in range(cols)]
            for r in range(rows)]


def _asof(v: Any) -> dt.date:
    d = None if is_blank(v) else to_date(v)
    return d or dt.date.today()


def tier_inputs(volume: Any, credit: Any, margin: Any, growth: Any) -> TierInputs:
    cols = L.CUSTOMERS
    vol, _ = coerce_value(cols.col("volume"), volume)
    mar, _ = coerce_value(cols.col("margin"), margin)
    cr, _ = coerce_value(cols.col("credit"), credit)
    gr, _ = coerce_value(cols.col("growth"), growth)
    if mar is not None and abs(mar) > 1:
        mar = None
    return TierInputs(volume=vol, credit=cr, margin=mar, growth=gr)


def tier(volume, credit, margin, growth, rules: list[TierRule], settings: Settings | None = None) -> Any:
    ordered = sort_rules(rules)

    def one(v, c, m, g):
        if all(is_blank(x) for x in (v, c, m, g)):
            return ""
        res = grade(tier_inputs(v, c, m, g), ordered, settings)
        return res.tier if res.graded else res.short_error()
    return broadcast(one, volume, credit, margin, growth)


def tier_why(volume, credit, margin, growth, rules: list[TierRule], settings: Settings | None = None) -> Any:
    ordered = sort_rules(rules)

    def one(v, c, m, g):
        if all(is_blank(x) for x in (v, c, m, g)):
            return ""
        return grade(tier_inputs(v, c, m, g), ordered, settings).explanation
    return broadcast(one, volume, credit, margin, growth)


def overdue(due, outstanding, as_of=None) -> Any:
    def one(d, o, a):
        if is_blank(o) and is_blank(d):
            return ""
        try:
            out = to_number(o)
        except (TypeError, ValueError):
            return BAD_NUMBER
        try:
            res = overdue_days(to_date(d), out, _asof(a))
        except (TypeError, ValueError):
            return BAD_DATE
        return "" if res is None else res
    return broadcast(one, due, outstanding, as_of)


def aging(due, outstanding, as_of=None) -> Any:
    def one(d, o, a):
        if is_blank(o) and is_blank(d):
            return ""
        try:
            out = to_number(o)
        except (TypeError, ValueError):
            return BAD_NUMBER
        try:
            res = aging_bucket(to_date(d), out, _asof(a))
        except (TypeError, ValueError):
            return BAD_DATE
        return res or ""
    return broadcast(one, due, outstanding, as_of)


def next_visit(tier_value, last_visit, settings: Settings, as_of=None) -> Any:
    def one(t, lv, a):
        if is_blank(t):
            return ""
        try:
            last = None if is_blank(lv) else to_date(lv)
        except (TypeError, ValueError):
            return BAD_DATE
        res = next_visit_due(str(t).strip(), last, settings, _asof(a))
        return res if res is not None else ""
    return broadcast(one, tier_value, last_visit, as_of)


def credit(customer_id, receivables_grid: list[list[Any]], settings: Settings, as_of=None,
           entered=None) -> Any:
    """Payment credit of customer(s) from a receivables range with its header row."""
    grid = _as_grid(receivables_grid)
    if not grid or not grid[0]:
        return "无应收数据"
    headers = [str(h).strip() if h is not None else "" for h in grid[0]]
    needed = [L.RECEIVABLES.header(k) for k in ("customer_id", "invoice_date", "amount", "due_date")]
    if not all(h in headers for h in needed):
        return "应收区域需含表头"
    recs = [coerce_record(L.RECEIVABLES, dict(zip(headers, row)), i)[0] for i, row in enumerate(grid[1:])]
    by_cust: dict[str, list[Receivable]] = {}
    for r in recs:
        if r.customer_id:
            by_cust.setdefault(r.customer_id, []).append(r)

    def one(cid, a, e):
        if is_blank(cid):
            return ""
        res = derive_credit(by_cust.get(str(cid).strip(), []), _asof(a), settings,
                            None if is_blank(e) else str(e).strip())
        return res.credit or "无数据"
    return broadcast(one, customer_id, as_of, entered)
