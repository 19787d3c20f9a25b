"""The validator's per-record checks were made cheaper (ids and customers checked in one pass of
tests, approvals read once per record, repeated ids found at C speed, the dunning thresholds read
once): on random hostile records they must find what the checks as first written find — the same
findings, dunning levels, derived credit and dunning list (`_Reference` holds those checks)."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from kam_xl import layout as L
from kam_xl.domain import selection
from kam_xl.domain.approvals import missing_approvals, out_of_order
from kam_xl.domain.findings import Related
from kam_xl.domain.models import Customer, Receivable, Settings, Visit
from kam_xl.domain.problems import ID_CODES
from kam_xl.domain.receivables import amount_faults, date_faults, receivable_level
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


class _Reference(Checker):
    """The visit, invoice and id checks as they were written before they were made cheaper."""

    def _id_and_customer(self, table, rec, firsts):
        missing, dup, no_customer, unknown = ID_CODES[table.name]
        i, cid = rec.rid, rec.customer_id
        if not rec.id:
            self.add(missing, table, i, "id", cid)
        else:
            first = firsts.get(rec.id)
            if first is not None and first != i:
                self.add(dup, table, i, "id", cid, rec.id, first=Related(table.name, (first,)))
        if not cid:
            self.add(no_customer, table, i, "customer_id")
        elif cid not in self.customer_ids:
            self.add(unknown, table, i, "customer_id", cid, cid)

    def visits(self):
        firsts = _firsts_one_by_one(self.x.visits)
        for v in self.x.visits:
            i, cid = v.rid, v.customer_id
            self._id_and_customer(L.VISITS, v, firsts)
            if v.state in (L.PENDING, L.APPROVED, L.DONE):
                missing = [k for k in self.PLAN_FIELDS if getattr(v, k) in (None, "")]
                for k in missing:
                    self.add("VISIT-PLAN-INCOMPLETE", L.VISITS, i, k, cid, count=len(missing))
            if v.state in (L.APPROVED, L.DONE):
                for k, who in missing_approvals(v):
                    self.add("VISIT-APPROVAL-MISSING", L.VISITS, i, k, cid, getattr(v, k), state=v.state, who=who,
                             current=getattr(v, k) or "未审批")
            if out_of_order(v):
                self.add("VISIT-APPROVAL-ORDER", L.VISITS, i, "dept_approval", cid)
            if v.state == L.DONE:
                if v.actual_date is None:
                    self.add("VISIT-DONE-INCOMPLETE", L.VISITS, i, "actual_date", cid, what="实际日期")
                elif v.actual_date > self.x.as_of:
                    self.add("VISIT-DATE-FUTURE", L.VISITS, i, "actual_date", cid, v.actual_date)
                if not v.outcome:
                    self.add("VISIT-DONE-INCOMPLETE", L.VISITS, i, "outcome", cid,
                             what="拜访结果（整理拜访笔记、起草拜访报告）")

    def _invoice(self, r, firsts, tally, thresholds=None):
        x, R = self.x, L.RECEIVABLES
        i, cid = r.rid, r.customer_id
        days, level = receivable_level(r, x.settings, x.as_of)
        if x.levels_kept and level != r.dunning_level:
            self.level_changes[i] = level
        if level and cid:
            tally.add(r, days, level)
        self._id_and_customer(R, r, _firsts_one_by_one(x.receivables))
        for rule, key in amount_faults(r.amount, r.paid):
            if key != "amount" or r.amount is not None or self.missing(R, i, "amount", r.amount):
                self.add(rule, R, i, key, cid, getattr(r, key), amount=r.amount)
        if self.missing(R, i, "invoice_date", r.invoice_date):
            self.add("RECV-DATE-MISSING", R, i, "invoice_date", cid, hint="")
        if self.missing(R, i, "due_date", r.due_date):
            self.add("RECV-DATE-MISSING", R, i, "due_date", cid, hint="（按合同账期计算）")
        for rule, key in date_faults(r.invoice_date, r.due_date):
            self.add(rule, R, i, key, cid, due=r.due_date, invoice=r.invoice_date)
        if (r.paid or 0) > 0 and r.paid_date is None:
            self.add("RECV-PAID-DATE-MISSING", R, i, "paid_date", cid)
        if r.paid_date and r.invoice_date and r.paid_date < r.invoice_date:
            self.add("RECV-PAID-DATE-INVALID", R, i, "paid_date", cid)


def _firsts_one_by_one(records) -> dict:
    first: dict = {}
    out: dict = {}
    for r in records:
        if r.id:
            f = first.setdefault(r.id, r.rid)
            if f != r.rid:
                out.setdefault(r.id, f)
    return out


def _outcome(x: Inputs, checker: type = Checker):
    ck = checker(x)
    rep = ck.run()
    return ([(f.rule, f.table, f.rid, f.key, f.message, f.customer_id, f.value, f.related) for f in rep.sorted()],
            ck.level_changes, ck.derived, ck.derived_bad, [d.__dict__ for d in ck.dunning])


@pytest.mark.parametrize("seed", range(6))
def test_the_cheaper_checks_find_what_the_first_ones_find(seed):
    fast = _outcome(_data(seed))
    assert fast[0], "the random book has findings to compare"
    assert _outcome(_data(seed), _Reference) == fast


def test_a_tidy_visit_and_invoice_are_reported_nothing():
    """The random book's tidy records (most of them) come out of the checks without a finding."""
    x = _data(1)
    report = Checker(x).run()
    flagged = {(f.table, f.rid) for f in report.findings}
    tidy_visits = [v for v in x.visits if (L.VISITS.name, v.rid) not in flagged]
    tidy_invoices = [r for r in x.receivables if (L.RECEIVABLES.name, r.rid) not in flagged]
    assert tidy_visits and tidy_invoices
    assert len(tidy_visits) < len(x.visits) and len(tidy_invoices) < len(x.receivables)


def test_a_repeated_id_found_without_going_through_every_record():
    rows = [Visit(rid=i, id=v) for i, v in enumerate(["V1", "V2", None, "", "V1", "V3", "V2"])]
    assert selection.duplicate_firsts(rows) == {"V1": 0, "V2": 1}
    assert selection.duplicate_firsts(rows[:4]) == {}


def test_decisions_worked_out_once_per_pair_are_those_of_each_cell():
    """An approval pair's decisions are kept once worked out: on the second visit with the same
    cells, and for any cell people type (names, blanks, 驳回, numbers), they are each cell's own."""
    from kam_xl.domain.approvals import ALL_AGREED, decisions
    from kam_xl.domain.models import approval
    cells = ["同意", "驳回", "赵主任", " 钱总 ", "", " ", None, "同意 ", 3.0, dt.date(2026, 1, 2)]
    for first in cells:
        for second in cells:
            v = Visit.model_construct(rid=0, dept_approval=first, exec_approval=second)  # any cell, unchecked
            for _ in range(2):
                assert decisions(v) == (approval(first), approval(second))
            assert (missing_approvals(v) == []) == (decisions(v) == ALL_AGREED)


def test_principles_and_scores_of_the_common_record_are_those_of_the_plain_forms():
    """failed_principles and 综合得分 take a short way for the common record (every principle 符合,
    every score given): the same answers as going through each value."""
    from kam_xl.domain.models import Certification, Survey
    from kam_xl.domain.procedures import failed_principles
    rng = random.Random(7)
    for _ in range(500):
        app = Certification(rid=0, **{k: _pick(rng, L.CONFORMS, L.CONFORMS, L.CONFORMS, "不符合", None)
                                      for k in L.PRINCIPLES})
        assert failed_principles(app) == [L.CERTIFICATIONS.header(k) for k in L.PRINCIPLES
                                          if getattr(app, k) != L.CONFORMS]
        survey = Survey(rid=0, **{k: _pick(rng, 1, 3, 4, 5, 5, None) for k in L.SCORE_KEYS})
        given = [getattr(survey, k) for k in L.SCORE_KEYS if getattr(survey, k) is not None]
        assert survey.computed_score() == (round(sum(given) / len(given) * 20, 1) if given else None)
