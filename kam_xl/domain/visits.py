"""Visit frequency per tier (Settings) and the next visit due date."""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional

from .models import Settings, Visit

DONE = "已完成"


def last_completed_visit(visits: Iterable[Visit]) -> Optional[dt.date]:
    dates = [v.actual_date for v in visits if v.state == DONE and v.actual_date]
    return max(dates) if dates else None


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
