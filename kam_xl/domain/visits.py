"""Visit frequency per tier (Settings) and the next visit due date."""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional

from .. import layout as L
from .models import Settings, Visit

DONE = L.DONE


def last_completed(ids: Iterable[Optional[str]], dates: Iterable[Optional[dt.date]],
                   states: Iterable[Optional[str]]) -> dict[str, dt.date]:
    """Customer id → the date of its last completed visit (state 已完成 with an 实际日期),
    from the three columns of the visits table — the one definition, used on records and
    on columns read without records."""
    out: dict[str, dt.date] = {}
    for cid, day, state in zip(ids, dates, states):
        if state == DONE and day is not None and cid:
            best = out.get(cid)
            if best is None or day > best:
                out[cid] = day
    return out


def last_completed_by_customer(visits: Iterable[Visit]) -> dict[str, dt.date]:
    visits = list(visits)
    return last_completed((v.customer_id for v in visits), (v.actual_date for v in visits),
                          (v.state for v in visits))


def last_completed_visit(visits: Iterable[Visit]) -> Optional[dt.date]:
    """The last completed visit of one customer's visits."""
    visits = list(visits)
    one = [True] * len(visits)  # one customer: every visit under the same key
    return last_completed(one, (v.actual_date for v in visits), (v.state for v in visits)).get(True)


def next_visit_due(tier: Optional[str], last_visit: Optional[dt.date], settings: Settings,
                   as_of: dt.date) -> Optional[dt.date]:
    """The date the next visit is due: last completed visit + the tier's frequency.

    A customer of a tier with a frequency but no visit yet is due now (as_of).
    Tiers without a frequency (非大客户, blank) have no due date.
    """
    days = settings.visit_days(tier)
    if days is None:
        return None
    if last_visit is None:
        return as_of
    return last_visit + dt.timedelta(days=days)
