"""Values of the workbook's formula columns for one typed record, computed with the
same domain functions the cell functions use — written as cached results so a
workbook read without Excel or Python shows them."""
from __future__ import annotations

import datetime as dt
from typing import Any

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
    """未回款, 逾期天数, 账龄 of one typed receivable (blank without an amount)."""
    if r.amount is None:
        return {}
    open_amt = r.open_amount
    return {
        R.header("outstanding"): open_amt,
        R.header("overdue_days"): overdue_days(r.due_date, open_amt, as_of),
        R.header("aging"): aging_bucket(r.due_date, open_amt, as_of),
    }
