"""Values of the workbook's formula columns, computed in Python with the same
domain functions the cell functions use — written as cached results so a
workbook read without Excel or Python shows them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from .. import layout as L
from ..domain.models import Settings, TierRule, coerce_record
from ..domain.receivables import aging_bucket, overdue_days
from ..domain.tiering import TierInputs, grade, sort_rules

C, R = L.CUSTOMERS, L.RECEIVABLES


def customer_values(rows: list[dict[str, Any]], rules: list[TierRule], settings: Settings) -> list[dict[str, Any]]:
    ordered = sort_rules(rules)
    out = []
    for i, row in enumerate(rows):
        c, _ = coerce_record(C, row, i)
        if c.volume is None and c.credit is None and c.margin is None and c.growth is None:
            out.append({})
            continue
        res = grade(TierInputs(c.volume, c.credit, c.margin, c.growth, extra=row), ordered, settings)
        out.append({C.header("suggested_tier"): res.tier if res.graded else res.short_error()})
    return out


def receivable_values(rows: list[dict[str, Any]], as_of: dt.date) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        r, _ = coerce_record(R, row, i)
        if r.amount is None:
            out.append({})
            continue
        open_amt = r.open_amount
        out.append({
            R.header("outstanding"): open_amt,
            R.header("overdue_days"): overdue_days(r.due_date, open_amt, as_of),
            R.header("aging"): aging_bucket(r.due_date, open_amt, as_of),
        })
    return out


def cached_for(data: dict[str, list[dict[str, Any]]], rules: list[TierRule], settings: Settings,
               as_of: dt.date) -> dict[str, list[dict[str, Any]]]:
    return {
        C.name: customer_values(data.get(C.name, []), rules, settings),
        R.name: receivable_values(data.get(R.name, []), as_of),
    }
