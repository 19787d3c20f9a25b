"""我的待办 (PRODUCT.md §11): what each customer of a person's book asks of them this week and
next — a visit due by the tier's frequency, follow-ups past 跟进期限, receivables falling due
or overdue (with the dunning level the longest overdue calls for), complaints near their
deadline, a satisfaction survey due.  The book computes it with native formulas
(workbook/todo.py); this is the same computation in Python, the cached values written
with them and the oracle the formulas are tested against."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from .. import layout as L
from .receivables import dunning_level, overdue_days
from .visits import next_visit_due

SOON = 14          # days ahead the list looks (this week and next)
COMPLAINT_SOON = 7  # a complaint whose deadline is this close is listed
VISIT_DUE, VISIT_SOON = "应拜访", "两周内"
SURVEY_DUE = "应调查"
# (header, layout-free key) of the sheet's columns, in order
COLUMNS = (("客户编号", "id"), ("客户名称", "name"), ("客户等级", "tier"), ("最近完成拜访", "last_visit"),
           ("应拜访日期", "visit_due"), ("拜访", "visit_state"), ("跟进逾期(条)", "follow_ups"),
           ("两周内到期应收(笔)", "falling_due"), ("逾期应收(笔)", "overdue"), ("未回款合计", "open_total"),
           ("应催讨级别", "dunning"), ("投诉临近期限(起)", "complaints"),
           ("最近满意度调查", "last_survey"), ("满意度调查", "survey_state"))


@dataclass
class TodoRow:
    values: dict[str, Any]


def todo_rows(customers: Iterable, visits: Iterable, receivables: Iterable, complaints: Iterable,
              surveys: Iterable, settings, as_of: dt.date) -> list[dict[str, Any]]:
    by = lambda recs: _group(recs)  # noqa: E731
    vs, rs, cs, ss = by(visits), by(receivables), by(complaints), by(surveys)
    out = []
    for c in customers:
        if not c.id:
            continue
        mine_v = vs.get(c.id, [])
        done = [v.actual_date for v in mine_v if v.state == L.DONE and v.actual_date]
        last = max(done) if done else None
        due = next_visit_due(c.tier, last, settings, as_of)
        state = "" if due is None else VISIT_DUE if due <= as_of else VISIT_SOON if due <= as_of + dt.timedelta(SOON) else ""
        follow = sum(1 for v in mine_v if v.follow_up and v.follow_up_due and v.follow_up_due < as_of)
        falling = overdue = 0
        total = 0.0
        worst: Optional[int] = None
        for r in rs.get(c.id, []):
            if r.amount is None:
                continue
            open_amt = r.open_amount
            total += open_amt
            if r.due_date and as_of <= r.due_date <= as_of + dt.timedelta(SOON) and open_amt > 0:
                falling += 1
            days = overdue_days(r.due_date, open_amt, as_of)
            if days:
                overdue += 1
                worst = days if worst is None else max(worst, days)
        near = sum(1 for p in cs.get(c.id, []) if p.state in L.COMPLAINT_OPEN and p.due
                   and p.due <= as_of + dt.timedelta(COMPLAINT_SOON))
        dates = [s.date for s in ss.get(c.id, []) if s.date]
        last_s = max(dates) if dates else None
        days_s = settings.survey_days(c.tier)
        s_due = None if days_s is None else (last_s + dt.timedelta(days_s) if last_s else as_of)
        out.append({"id": c.id, "name": c.name or "", "tier": c.tier or "", "last_visit": last or "",
                    "visit_due": due or "", "visit_state": state, "follow_ups": follow, "falling_due": falling,
                    "overdue": overdue, "open_total": round(total, 2),
                    "dunning": dunning_level(worst, settings) or "" if worst else "",
                    "complaints": near, "last_survey": last_s or "",
                    "survey_state": SURVEY_DUE if s_due and s_due <= as_of + dt.timedelta(SOON) else ""})
    return out


def _group(records: Iterable) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records or ():
        if r.customer_id:
            out.setdefault(r.customer_id, []).append(r)
    return out
