"""The periods a report covers and the unit a manager reads amounts in — what the fronts and
the services need of the reports without the report builders (and pandas) loaded."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WAN = 10000.0  # a manager reads amounts in 万元 (PRODUCT.md §2); a clerk's lists stay in 元


def to_wan(v):
    """An amount in 万元 (anything that is not a number passes through)."""
    return v / WAN if isinstance(v, (int, float)) and not isinstance(v, bool) else v


@dataclass
class Period:
    start: dt.date
    end: dt.date

    @classmethod
    def year_to_date(cls, as_of: dt.date) -> "Period":
        return cls(dt.date(as_of.year, 1, 1), as_of)

    def __contains__(self, d: dt.date | None) -> bool:
        return d is not None and self.start <= d <= self.end

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"


def month_period(month: str) -> Period:
    """'2026-10' → 2026-10-01 … 2026-10-31."""
    y, m = (int(x) for x in month.split("-"))
    start = dt.date(y, m, 1)
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return Period(start, nxt - dt.timedelta(days=1))


def next_month(p: Period) -> Period:
    return month_period(f"{p.end + dt.timedelta(days=1):%Y-%m}")


def meeting_month(as_of: dt.date) -> str:
    """The month a meeting on the as-of date looks back on: the as-of month when it is its last
    day, else the month before."""
    if (as_of + dt.timedelta(days=1)).day == 1:
        return f"{as_of:%Y-%m}"
    return f"{as_of.replace(day=1) - dt.timedelta(days=1):%Y-%m}"
