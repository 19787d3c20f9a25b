"""The validator lets most records through on a few attribute reads (Checker._plain,
_visit_plain, _invoice_plain): with those predicates turned off every record goes through every
check, and the findings, the dunning levels and the derived credit must be the same."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from kam_xl import layout as L
from kam_xl.domain import selection
from kam_xl.domain.models import Customer, Receivable, Settings, Visit
from kam_xl.domain.selection import Checker, Inputs

AS_OF = dt.date(2026, 6, 30)


def _pick(rng: random.Random, *choices):
    return rng.choice(choices)


def _day(rng: random.Random):
    return _pick(rng, None, AS_OF, AS_OF + dt.timedelta(days=1), AS_OF - dt.timedelta(days=rng.randint(1, 400)),
                 AS_OF + dt.timedelta(days=rng.randint(2, 60)))


def _text(rng: random.Random, filled: str):
    return _pick(rng, filled, filled, filled, None, "")


def _data(seed: int, n: int = 600):
    rng = random.Random(seed)
    customers = [Customer(rid=i, id=_pick(rng, f"C{i:04d}", f"C{i:04d}", f"C{i:04d}", "C0001", None),
                          name=f"客户{i}", status=_pick(rng, *L.STATUSES), tier=_pick(rng, *L.TIERS),
                          staff=_pick(rng, "张三、李四", "张三", None))
                 for i in range(60)]
    known = [f"C{i:04d}" for i in range(60)]
    visits = []
    for i in range(n):
        visits.append(Visit(
            rid=i, id=_pick(rng, f"V{i:05d}", f"V{i:05d}", f"V{i:05d}", "V00003", None, ""),
            customer_id=_pick(rng, *known, "C9999", None, ""),
            state=_pick(rng, *L.VISITS.by_header()["状态"].choices, None),
            planned_date=_pick(rng, AS_OF, AS_OF, None), place=_text(rng, "厂区"), staff=_text(rng, "张三"),
            attendee=_text(rng, "王经理"), purpose=_text(rng, "回访"), content=_text(rng, "交流"),
            expected=_text(rng, "续约"), actual_date=_day(rng), outcome=_text(rng, "达成"),
            dept_approval=_pick(rng, "同意", "同意", "驳回", "赵主任", None, " "),
            exec_approval=_pick(rng, "同意", "同意", "驳回", "钱总", None, " ")))
    receivables = []
    for i in range(n):
        amount = _pick(rng, 1000.0, 1000.0, 500.5, 0.0, -3.0, None)
        paid = _pick(rng, None, 0.0, 1000.0, 250.0, 1000.005, 2000.0, -1.0)
        inv = _day(rng)
        receivables.append(Receivable(
            rid=i, id=_pick(rng, f"R{i:05d}", f"R{i:05d}", f"R{i:05d}", "R00007", None),
            customer_id=_pick(rng, *known, "C9999", None), amount=amount, paid=paid, invoice_date=inv,
            due_date=_pick(rng, None, inv and inv + dt.timedelta(days=30), inv and inv - dt.timedelta(days=3),
                           _day(rng)),
            paid_date=_pick(rng, None, inv, inv and inv - dt.timedelta(days=1), _day(rng)),
            dunning_level=_pick(rng, None, *L.DUNNING_LEVELS)))
    return Inputs(customers=customers, visits=visits, receivables=receivables, rules=[], settings=Settings(),
                  as_of=AS_OF, levels_kept=True)


def _outcome(x: Inputs):
    ck = Checker(x)
    rep = ck.run()
    return ([(f.rule, f.table, f.rid, f.key, f.message, f.customer_id, f.value, f.related) for f in rep.sorted()],
            ck.level_changes, ck.derived, ck.derived_bad, [d.__dict__ for d in ck.dunning])


@pytest.mark.parametrize("seed", range(6))
def test_letting_plain_records_through_finds_the_same(seed, monkeypatch):
    fast = _outcome(_data(seed))
    assert fast[0], "the random book has findings to compare"
    monkeypatch.setattr(Checker, "_plain", lambda self, rec, firsts: False)
    monkeypatch.setattr(Checker, "_visit_plain", lambda self, v, firsts: False)
    monkeypatch.setattr(Checker, "_invoice_plain", staticmethod(lambda r: False))
    assert _outcome(_data(seed)) == fast


def test_most_records_of_a_tidy_book_are_plain():
    """The predicates do let tidy records through (else they would only cost time)."""
    x = _data(1)
    ck = Checker(x)
    plain_visits = [v for v in x.visits if ck._visit_plain(v, {})]
    plain_invoices = [r for r in x.receivables if ck._invoice_plain(r)]
    assert plain_visits and plain_invoices


def test_a_repeated_id_found_without_going_through_every_record():
    rows = [Visit(rid=i, id=v) for i, v in enumerate(["V1", "V2", None, "", "V1", "V3", "V2"])]
    assert selection.duplicate_firsts(rows) == {"V1": 0, "V2": 1}
    assert selection.duplicate_firsts(rows[:4]) == {}
