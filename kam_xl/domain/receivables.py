"""Receivables arithmetic: overdue days, aging buckets, dunning levels and the
payment credit (回款信誉) derived from a customer's payment history."""
from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Optional

from .. import layout as L
from .models import Receivable, Settings
from .values import open_of, settled

SETTLED = L.AGING_BUCKETS[-1]
NOT_DUE = L.AGING_BUCKETS[0]


def overdue_days(due: Optional[dt.date], outstanding: Optional[float], as_of: dt.date) -> Optional[int]:
    """Days past due of an open amount; 0 when settled or not yet due; None when unknown."""
    if outstanding is None:
        return None
    if settled(outstanding):
        return 0
    if due is None:
        return None
    return max(0, (as_of - due).days)


def aging_bucket(due: Optional[dt.date], outstanding: Optional[float], as_of: dt.date,
                 days: Optional[int] = None) -> Optional[str]:
    """The 账龄 of an open amount (`days`: its overdue_days, when the caller has them already)."""
    if outstanding is None:
        return None
    if settled(outstanding):
        return SETTLED
    if days is None:
        days = overdue_days(due, outstanding, as_of)
    if days is None:
        return None
    for bound, label in zip(L.AGING_BOUNDS, L.AGING_BUCKETS):
        if days <= bound:
            return label
    return L.AGING_BUCKETS[len(L.AGING_BOUNDS)]


def dunning_level(days: Optional[int], settings: Settings, thresholds=None) -> Optional[str]:
    """The 催讨级别 of so many days overdue (`thresholds`: settings.dunning_thresholds(), when the
    caller has them already)."""
    level = None
    if days is None:
        return None
    for threshold, name in thresholds or settings.dunning_thresholds():
        if days >= threshold:
            level = name
    return level


def dunning_rank(level: Optional[str]) -> int:
    return L.DUNNING_LEVELS.index(level) + 1 if level in L.DUNNING_LEVELS else 0


class CreditResult(NamedTuple):
    """回款信誉 as derived (derive_credit): a tuple, made for every customer of a regrade and a
    validation (a frozen dataclass took three times as long to make)."""
    credit: Optional[str]
    derived: bool
    evaluated: int = 0
    on_time_share: Optional[float] = None
    worst_late_days: int = 0
    overdue_amount: float = 0.0
    text: str = ""


@functools.lru_cache(maxsize=64)
def months_before(d: dt.date, months: int) -> dt.date:
    """The day `months` months before d (the 31st going to a shorter month's last day)."""
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


@functools.lru_cache(maxsize=64)
def _no_credit_data(entered: Optional[str], months: int) -> CreditResult:
    src = "录入值" if entered else "无数据"
    return CreditResult(entered, False, text=f"近{months}个月无到期应收，使用{src}")


def derive_credit(receivables: Iterable[Receivable], as_of: dt.date, settings: Settings,
                  entered: Optional[str] = None) -> CreditResult:
    """回款信誉 from invoices of the trailing window (PRODUCT.md §3).

    An invoice counts once it is due or paid.  It is on time when paid in full
    by its due date; its lateness is days from due date to payment (paid) or to
    the as-of date (still open).  Invoices not yet due and unpaid say nothing.
    Without any countable invoice the entered value is used.
    """
    if not receivables:
        return _no_credit_data(entered, settings.credit_months)
    start = months_before(as_of, settings.credit_months)
    n = on_time = 0
    worst = 0
    overdue_amt = 0.0
    for r in receivables:  # (each field read once: this runs for every invoice of the book)
        invoiced, due, amount = r.invoice_date, r.due_date, r.amount
        if invoiced is None or due is None or amount is None or amount <= 0:
            continue
        if not (start < invoiced <= as_of):
            continue
        open_amt = open_of(amount, r.paid)  # (r.open_amount without the property: every invoice passes here)
        if settled(open_amt):
            paid_on = r.paid_date or due  # paid without a date: assume on time
            late = max(0, (min(paid_on, as_of) - due).days)
        elif due < as_of:
            late = (as_of - due).days
            overdue_amt += open_amt
        else:
            continue  # open and not yet due
        n += 1
        if late > worst:
            worst = late
        if late == 0:
            on_time += 1
    if n == 0:
        return _no_credit_data(entered, settings.credit_months)
    share = on_time / n
    s = settings
    if worst > s.credit_bad_late or share < s.credit_bad_ontime:
        credit = L.CREDIT_BAD
    elif worst <= s.credit_good_late and share >= s.credit_good_ontime:
        credit = "好"
    elif worst <= s.credit_fair_late and share >= s.credit_fair_ontime:
        credit = "较好"
    else:
        credit = "一般"
    text = (f"按近{s.credit_months}个月{n}笔应收推算：准时率{share:.0%}，最长逾期{worst}天"
            + (f"，逾期未回{overdue_amt:,.0f}元" if overdue_amt else ""))
    return CreditResult(credit, True, n, share, worst, round(overdue_amt, 2), text)


@dataclass(frozen=True)
class Dunning:
    """One overdue customer of the dunning list, at its highest level (seed: 按客户一次性催讨)."""
    customer_id: str
    customer_name: Optional[str]
    level: str
    invoices: int
    overdue_amount: float
    worst_days: int
    worst_index: int  # row index (in the receivables table) of the most overdue receivable


@dataclass(frozen=True)
class DunningList:
    customers: list  # list[Dunning], the highest level and the largest amount first
    levels: dict     # receivable row index → its 催讨级别 (None: not overdue)


def amount_faults(amount: Optional[float], paid: Optional[float]) -> list[tuple[str, str]]:
    """What is wrong with a receivable's amounts, as (problem code, field): no positive
    amount; paid outside 0..amount.  The validator reports them, the import refuses a
    legacy row with them, dunning skips a receivable with them."""
    if amount is None or amount <= 0:
        return [("RECV-AMOUNT-INVALID", "amount")]
    if paid is not None and not (0 <= paid <= amount + L.SETTLED):
        return [("RECV-PAID-RANGE", "paid")]
    return []


def date_faults(invoice_date: Optional[dt.date], due_date: Optional[dt.date]) -> list[tuple[str, str]]:
    """A due date before the invoice date, as (problem code, field)."""
    if invoice_date and due_date and due_date < invoice_date:
        return [("RECV-DUE-BEFORE-INVOICE", "due_date")]
    return []


def receivable_level(r: Receivable, settings: Settings, as_of: dt.date,
                     thresholds=None) -> tuple[Optional[int], Optional[str]]:
    """(overdue days, 催讨级别) of one receivable; a row whose amounts do not add up has none."""
    due, amount, paid = r.due_date, r.amount, r.paid
    if due and not amount_faults(amount, paid):
        days = overdue_days(due, open_of(amount, paid), as_of)
        return days, dunning_level(days, settings, thresholds)
    return None, None


def _dunning_order(d: Dunning, first: int) -> tuple:
    """The dunning list's order: the highest level, the largest amount, then the customer whose
    first overdue invoice comes first (`first`: its row index) — the same list however the
    invoices were gone through."""
    return -dunning_rank(d.level), -d.overdue_amount, first


class DunningTally:
    """The dunning list tallied as overdue invoices go by, in any order: per customer only its
    count, the open total, its most overdue invoice (ties: the first seen) and its first — not
    the invoices (two million of them go through a report at 1M customers).  One line per
    customer at the level of its most overdue invoice, with the total still open (seed:
    按客户一次性催讨)."""

    def __init__(self):
        self._by: dict[str, list] = {}  # customer id → [count, total, (rank, days), level, days, rid, first rid]

    def add(self, r: Receivable, days: int, level: str) -> None:
        """An overdue invoice of a customer, at its overdue days and level (receivable_level)."""
        t = self._by.get(r.customer_id)
        key = (dunning_rank(level), days)
        if t is None:
            self._by[r.customer_id] = [1, 0 + r.open_amount, key, level, days, r.rid, r.rid]
            return
        t[0] += 1
        t[1] += r.open_amount
        if key > t[2]:
            t[2], t[3], t[4], t[5] = key, level, days, r.rid
        if r.rid < t[6]:
            t[6] = r.rid

    def customers(self, name_of: Callable[[str], Optional[str]]) -> list[Dunning]:
        """The dunning list, the highest level and the largest amount first (`name_of`: a
        customer id's name)."""
        lines = [(Dunning(cid, name_of(cid), level, n, round(total, 2), days, rid), first)
                 for cid, (n, total, _, level, days, rid, first) in self._by.items()]
        lines.sort(key=lambda x: _dunning_order(*x))
        return [d for d, _ in lines]


def dunning(receivables: Iterable[Receivable], names: dict, settings: Settings, as_of: dt.date) -> DunningList:
    """The dunning list: every receivable's level, and one line per overdue customer at the
    level of its most overdue invoice with the total still open (`names`: customer id → name)."""
    levels: dict[int, Optional[str]] = {}
    tally = DunningTally()
    for r in receivables:
        days, level = receivable_level(r, settings, as_of)
        levels[r.rid] = level
        if level and r.customer_id:
            tally.add(r, days, level)
    return DunningList(tally.customers(names.get), levels)
