"""The seed's approvals, in one place: a visit plan and a certification are approved by the
department manager, then the company leader (部门经理 → 公司领导); an approval cell holds
同意 / 驳回, or the approver's name, which counts as 同意 (models.approval)."""
from __future__ import annotations

from operator import attrgetter

from .. import layout as L
from .models import approval

# (layout key, who) in the order they approve
APPROVERS = (("dept_approval", "部门经理"), ("exec_approval", "公司领导"))


_CELLS = attrgetter(*(key for key, _ in APPROVERS))
ALL_AGREED = (L.AGREE,) * len(APPROVERS)  # the decisions of a record every approver agreed to
# the approval cells of a table take a few values (同意, 驳回, a few approvers' names, blank):
# their decisions are worked out once per pair, not for each of 400,000 visits
_DECIDED: dict[tuple, tuple] = {}


def decisions(record) -> tuple:
    """Each approver's decision on the record, in order: 同意, 驳回 or None (not decided)."""
    cells = _CELLS(record)
    try:
        got = _DECIDED.get(cells)
    except TypeError:  # a value that cannot be a key (never one the reading layer types)
        return tuple(map(approval, cells))
    if got is None:
        if len(_DECIDED) > 4096:  # a long-lived process (the xlwings server) keeps it bounded
            _DECIDED.clear()
        got = _DECIDED[cells] = tuple(map(approval, cells))
    return got


def known_decisions(record) -> tuple | None:
    """decisions(record) where this pair of approval cells was worked out before, else None."""
    try:
        return _DECIDED.get(_CELLS(record))
    except TypeError:
        return None


def missing_approvals(record, decided: tuple | None = None) -> list[tuple[str, str]]:
    """(key, who) of each approver who has not agreed (驳回 or blank), in order (`decided`: the
    record's decisions when the caller has them)."""
    decided = decisions(record) if decided is None else decided
    if decided == ALL_AGREED:
        return []
    return [(key, who) for (key, who), d in zip(APPROVERS, decided) if d != L.AGREE]


def any_decision(record) -> bool:
    return any(decisions(record))


def out_of_order(record, decided: tuple | None = None) -> bool:
    """The leader decided before the department manager did."""
    first, second = decisions(record) if decided is None else decided
    return bool(second) and not first
