"""推算信誉 (PRODUCT.md §2, §3): the credit derived from a customer's receivables, written
by regrade and validate beside the entered 回款信誉, so that 建议等级 (which grades with it
where it is filled) and regrade give one answer on every row.  And the calculators of
the calculated fields (domain/computed.py)."""
from __future__ import annotations

from .. import layout as L
from ..domain.computed import calculators
from ..domain.receivables import CreditResult
from ..store import ChangeSet, Snapshot

__all__ = ["calculators", "derived_credits", "write_derived_credit"]

C = L.CUSTOMERS


def derived_credits(credits: dict[int, CreditResult]) -> dict[int, str | None]:
    """Customer rid → its derived credit, None where none was derived."""
    return {rid: res.credit if res.derived else None for rid, res in credits.items()}


def write_derived_credit(data: Snapshot, credits: dict[int, str | None], changes: ChangeSet) -> int:
    """Set 推算信誉 where it changed (blank when the customer has no receivables in the
    window); the store recomputes 建议等级 from it.  `credits`: customer rid → its derived
    credit (None: none derived).  A store without the field is left as it is.  Returns how
    many records changed."""
    if not data.has_field(C.name, "derived_credit"):
        return 0
    n = 0
    for c in data.customers:
        new = credits.get(c.rid)
        if new == c.derived_credit:
            continue
        c.derived_credit = new
        changes.update(C.name, c.rid, "derived_credit", new)
        n += 1
    return n
