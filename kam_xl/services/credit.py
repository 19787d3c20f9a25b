"""推算信誉 (PRODUCT.md §2, §3): the credit derived from a customer's receivables, written
by regrade and validate beside the entered 回款信誉, so that 建议等级 (which grades with it
where it is filled) and regrade give one answer on every row."""
from __future__ import annotations

from .. import layout as L
from ..domain.computed import suggested_tier
from ..domain.models import UnreadField
from ..domain.receivables import CreditResult
from ..domain.tiering import sort_rules
from ..workbook.loader import BookData
from ..workbook.tables import Changes, Formula

C = L.CUSTOMERS
DERIVED = C.header("derived_credit")
SUGGESTED = C.header("suggested_tier")


def write_derived_credit(data: BookData, credits: dict[int, CreditResult], changes: Changes) -> int:
    """Set 推算信誉 where it changed (blank when the customer has no receivables in the
    window), with the 建议等级 cell's cached value made to match.  `credits`: customer row
    index → its derived credit.  A book without the column is left as it is.  Returns
    how many rows changed."""
    t = data.tables.get(C.name)
    if t is None or DERIVED not in (t.offsets or {}):
        return 0
    text = data.formulas.get(C.name, {}).get(SUGGESTED)
    rewritten = SUGGESTED in changes.formulas.get(C.name, {})  # the whole column gets new cached values
    ordered = sort_rules(data.rules)
    conditions = any(r.extra for r in ordered)
    n = 0
    for c in data.customers:
        res = credits.get(c.row_index)
        new = res.credit if res is not None and res.derived else None
        if new == c.derived_credit:
            continue
        c.derived_credit = new
        changes.set(C.name, c.row_index, DERIVED, new)
        n += 1
        if text and not rewritten:
            cached = None
            if not conditions or data.rows_kept:
                try:
                    extra = data.customer_extra(c) if conditions else {}
                    cached = suggested_tier(c, extra, ordered, data.settings)
                except UnreadField:
                    cached = None
            changes.set(C.name, c.row_index, SUGGESTED, Formula(text, cached))
    return n
