"""The seed's approvals, in one place: a visit plan and a certification are approved by the
department manager, then the company leader (部门经理 → 公司领导); an approval cell holds
同意 / 驳回, or the approver's name, which counts as 同意 (models.approval)."""
from __future__ import annotations

from .. import layout as L
from .models import approval

# (layout key, who) in the order they approve
APPROVERS = (("dept_approval", "部门经理"), ("exec_approval", "公司领导"))


def missing_approvals(record) -> list[tuple[str, str]]:
    """(key, who) of each approver who has not agreed (驳回 or blank), in order."""
    return [(key, who) for key, who in APPROVERS if approval(getattr(record, key)) != L.AGREE]


def any_decision(record) -> bool:
    return any(approval(getattr(record, key)) for key, _ in APPROVERS)


def out_of_order(record) -> bool:
    """The leader decided before the department manager did."""
    (first, _), (second, _) = APPROVERS
    return bool(approval(getattr(record, second))) and not approval(getattr(record, first))
