"""Aging, overdue days, dunning levels and credit derivation."""
import datetime as dt

import pytest

from kam_xl.domain.models import Receivable, Settings
from kam_xl.domain.receivables import aging_bucket, derive_credit, dunning_level, overdue_days

D = dt.date
AS_OF = D(2026, 10, 31)
S = Settings()


@pytest.mark.parametrize("due,outstanding,bucket,days", [
    (D(2026, 10, 31), 100.0, "未到期", 0),
    (D(2026, 11, 30), 100.0, "未到期", 0),
    (D(2026, 10, 30), 100.0, "1-30天", 1),
    (D(2026, 10, 1), 100.0, "1-30天", 30),
    (D(2026, 9, 30), 100.0, "31-60天", 31),
    (D(2026, 9, 1), 100.0, "31-60天", 60),
    (D(2026, 8, 31), 100.0, "61-90天", 61),
    (D(2026, 8, 2), 100.0, "61-90天", 90),
    (D(2026, 8, 1), 100.0, "91-180天", 91),
    (D(2026, 5, 4), 100.0, "91-180天", 180),
    (D(2026, 5, 3), 100.0, "180天以上", 181),
    (D(2020, 1, 1), 0.0, "已结清", 0),
])
def test_aging_buckets_and_overdue_days(due, outstanding, bucket, days):
    assert aging_bucket(due, outstanding, AS_OF) == bucket
    assert overdue_days(due, outstanding, AS_OF) == days


@pytest.mark.parametrize("days,level", [
    (0, None), (1, "1级-电话提醒"), (30, "1级-电话提醒"), (31, "2级-书面催告"),
    (60, "2级-书面催告"), (61, "3级-上门催收"), (90, "3级-上门催收"), (91, "4级-法律途径"),
])
def test_dunning_levels_follow_settings_thresholds(days, level):
    assert dunning_level(days, S) == level


def test_dunning_thresholds_are_settings():
    assert dunning_level(20, Settings(dunning_2=15)) == "2级-书面催告"


def rec(inv, due, amount, paid, paid_date=None):
    return Receivable(invoice_date=inv, due_date=due, amount=amount, paid=paid, paid_date=paid_date)


def test_credit_good_when_all_paid_on_time():
    rs = [rec(D(2026, m, 1), D(2026, m, 28), 100, 100, D(2026, m, 20)) for m in range(1, 10)]
    res = derive_credit(rs, AS_OF, S, "差")
    assert res.derived and res.credit == "好" and res.on_time_share == 1.0
    assert "按近12个月9笔应收推算" in res.text


def test_credit_bad_when_anything_over_90_days_overdue():
    rs = [rec(D(2026, 3, 1), D(2026, 4, 1), 100, 0)] + \
         [rec(D(2026, m, 1), D(2026, m, 28), 100, 100, D(2026, m, 2)) for m in range(5, 10)]
    res = derive_credit(rs, AS_OF, S)
    assert res.credit == "差" and res.worst_late_days == (AS_OF - D(2026, 4, 1)).days
    assert res.overdue_amount == 100


def test_credit_fair_between_thresholds():
    # 4 of 5 on time (80%), worst 40 days late → 较好 (≤60, ≥75%)
    rs = [rec(D(2026, m, 1), D(2026, m, 28), 100, 100, D(2026, m, 2)) for m in range(4, 8)]
    rs.append(rec(D(2026, 8, 1), D(2026, 8, 31), 100, 100, D(2026, 10, 10)))
    assert derive_credit(rs, AS_OF, S).credit == "较好"


def test_credit_falls_back_to_entered_value_without_countable_invoices():
    old = [rec(D(2024, 1, 1), D(2024, 2, 1), 100, 0)]            # outside the 12 months
    not_due = [rec(D(2026, 10, 20), D(2026, 11, 20), 100, 0)]    # says nothing yet
    res = derive_credit(old + not_due, AS_OF, S, "较好")
    assert not res.derived and res.credit == "较好" and "使用录入值" in res.text


def test_the_dunning_list_tallied_as_invoices_go_by_equals_the_list_made_from_them_all():
    """The report tallies the dunning list while the invoices stream by and the validator while
    it goes through them a customer at a time (DunningTally, no invoice kept, any order): both
    give the list made from every invoice at once — levels, counts, totals, the most overdue
    invoice (ties: the first) and the order, equal amounts ordered by the customer's first
    overdue invoice."""
    import random

    from kam_xl.domain.receivables import Dunning, DunningTally, dunning, dunning_rank, receivable_level
    rng = random.Random(7)
    invoices = []
    for rid in range(1, 400):
        due = AS_OF - dt.timedelta(days=rng.choice([-10, 0, 5, 5, 40, 75, 120, 200]))
        amount = rng.choice([100.0, 250.5, 1000.0])
        invoices.append(Receivable(rid=rid, id=f"FP{rid:05d}", customer_id=rng.choice(["KH1", "KH2", "KH3", "KH4", None]),
                                   invoice_date=due - dt.timedelta(days=30), due_date=due, amount=amount,
                                   paid=rng.choice([0.0, 0.0, amount / 2, amount])))
    names = {"KH1": "甲", "KH2": "乙", "KH3": "丙"}
    whole = dunning(invoices, names, S, AS_OF).customers
    # independently: every customer's overdue invoices gathered first, then one line each
    groups: dict = {}
    for r in invoices:
        days, level = receivable_level(r, S, AS_OF)
        if level and r.customer_id:
            groups.setdefault(r.customer_id, []).append((r, days, level))
    lines = []
    for cid, items in groups.items():
        worst = max(items, key=lambda t: (dunning_rank(t[2]), t[1]))
        line = Dunning(cid, names.get(cid), worst[2], len(items), round(sum(r.open_amount for r, _, _ in items), 2),
                       worst[1], worst[0].rid)
        lines.append((-dunning_rank(line.level), -line.overdue_amount, min(r.rid for r, _, _ in items), line))
    expected = [line for *_, line in sorted(lines, key=lambda x: x[:3])]
    # a customer at a time (the validator's order), each customer's invoices in row order
    tally = DunningTally()
    for r in sorted(invoices, key=lambda r: r.customer_id or ""):
        days, level = receivable_level(r, S, AS_OF)
        if level and r.customer_id:
            tally.add(r, days, level)
    assert len(whole) == 4 and whole == tally.customers(names.get) == expected
