"""推算信誉 (PRODUCT.md §2, §3): the credit derived from a customer's receivables, written
by regrade and validate beside the entered 回款信誉, so that 建议等级 (which grades with it
where it is filled) and regrade give one answer on every row.  And the calculators of
the calculated fields (domain/computed.py)."""
from __future__ import annotations

from typing import Callable

from .. import layout as L
from ..domain.computed import calculators
from ..domain.models import Customer
from ..store import ChangeSet, Snapshot

__all__ = ["calculators", "write_derived_credit"]

C = L.CUSTOMERS


def write_derived_credit(data: Snapshot, credit_of: Callable[[Customer], str | None], changes: ChangeSet) -> int:
    """Set 推算信誉 where it changed (blank when the customer has no receivables in the
    window); the store recomputes 建议等级 from it.  `credit_of`: a customer's derived
    credit (None: none derived).  A store without the field is left as it is.  Returns how
    many records changed."""
    if not data.has_field(C.name, "derived_credit"):
        return 0
    n = 0
    for c in data.customers:
        new = credit_of(c)
        if new == c.derived_credit:
            continue
        c.derived_credit = new
        changes.update(C.name, c.rid, "derived_credit", new)
        n += 1
    return n
