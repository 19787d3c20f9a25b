"""Values of the workbook's formula columns for one typed record, computed with the
same domain functions the cell functions use — written as cached results so a
workbook read without Excel or Python shows them."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable

from .. import layout as L
from .models import Settings, TierRule
from .receivables import aging_bucket, overdue_days
from .tiering import TierInputs, grade, sort_rules

C, R = L.CUSTOMERS, L.RECEIVABLES


def suggested_tier(c, extra, ordered: list[TierRule], settings: Settings) -> str:
    """建议等级 of one typed customer (推算信誉 where filled, else the entered credit, as the
    native formula reads them): the tier, 缺<input>, 无匹配规则, or blank when none of the
    four inputs is there."""
    credit = c.grading_credit()
    if c.volume is None and credit is None and c.margin is None and c.growth is None:
        return ""
    res = grade(TierInputs(c.volume, credit, c.margin, c.growth, extra=extra), ordered, settings)
    return res.tier if res.graded else res.short_error()


def receivable_cells(r, as_of: dt.date) -> dict[str, Any]:
    """未回款, 逾期天数, 账龄 of one typed receivable by layout key (blank without an amount)."""
    if r.amount is None:
        return {}
    open_amt = r.open_amount
    return {"outstanding": open_amt, "overdue_days": overdue_days(r.due_date, open_amt, as_of),
            "aging": aging_bucket(r.due_date, open_amt, as_of)}


def calculators(data) -> dict[str, Callable[[Iterable[Any]], dict[int, dict[str, Any]]]]:
    """How the calculated fields of each table are computed, record by record, from what an
    action read (`data`: its snapshot); a store that keeps their values (the file store
    caches them beside its formulas) calls these for the records whose inputs changed.  A
    field the action did not read raises UnreadField: no cached value then."""
    ordered = sort_rules(data.rules)
    conditions = any(r.extra for r in ordered)

    def customers(records) -> dict[int, dict[str, Any]]:
        if conditions and not data.rows_kept:
            return {}
        return {c.rid: {"suggested_tier": suggested_tier(c, data.customer_extra(c) if conditions else {},
                                                         ordered, data.settings)} for c in records}

    def receivables(records) -> dict[int, dict[str, Any]]:
        return {r.rid: receivable_cells(r, data.as_of) for r in records}

    def surveys(records) -> dict[int, dict[str, Any]]:
        return {s.rid: {"score": s.computed_score()} for s in records}

    return {C.name: customers, R.name: receivables, L.SURVEYS.name: surveys}
