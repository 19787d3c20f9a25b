"""重新分级: recompute every customer's tier at the as-of date (PRODUCT.md §3)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from .. import layout as L
from ..domain.receivables import derive_credit
from ..domain.tiering import TierInputs, grade, rules_version, sort_rules, validate_rules
from ..domain.visits import next_visit_due
from ..store import Beside, ChangeSet, Snapshot
from .credit import calculators, write_derived_credit

CUST = L.CUSTOMERS


@dataclass
class GradeChange:
    rid: int
    where: str  # where the user finds the customer (the store says: a sheet and row)
    customer_id: str | None
    name: str | None
    old: str | None
    new: str
    explanation: str


@dataclass
class RegradeResult:
    as_of: dt.date
    changes: ChangeSet
    moves: list[GradeChange] = field(default_factory=list)
    ungraded: list[tuple[str, str | None, str]] = field(default_factory=list)  # (where, customer id, why)
    rule_problems: list[tuple[str, str]] = field(default_factory=list)  # (where, message)
    by_tier: Counter = field(default_factory=Counter)
    visits_due: Counter = field(default_factory=Counter)
    version: str = ""
    tier_rank: dict[str, int] = field(default_factory=dict)
    notices: list = field(default_factory=list)  # what the store found in the book (rows taken in …)
    credit_changes: int = 0  # rows whose 推算信誉 changed
    store_notes: list[str] = field(default_factory=list)  # what the store did besides (formulas renewed)

    @property
    def ups(self) -> int:
        return sum(1 for m in self.moves if m.old and self._rank(m.new) < self._rank(m.old))

    @property
    def downs(self) -> int:
        return sum(1 for m in self.moves if m.old and self._rank(m.new) > self._rank(m.old))

    @property
    def first_grades(self) -> int:
        return sum(1 for m in self.moves if not m.old)

    def _rank(self, tier: str) -> int:
        return self.tier_rank.get(tier, len(self.tier_rank))

    def summary_lines(self) -> list[str]:
        lines = [f"基准日期 {self.as_of:%Y-%m-%d}，规则版本 {self.version}"]
        order = sorted(self.by_tier, key=self._rank)
        lines.append("各等级客户数：" + "，".join(f"{t} {self.by_tier[t]}" for t in order))
        lines.append(f"等级变动 {len(self.moves)} 户：升级 {self.ups}，降级 {self.downs}，首次定级 {self.first_grades}")
        if self.ungraded:
            lines.append(f"无法定级 {len(self.ungraded)} 户（缺少分级所需数据，见下）")
        for where, msg in self.rule_problems:
            lines.append(f"分级规则表 {where}：{msg}")
        lines += [n.line() for n in self.notices]
        lines += self.store_notes
        if self.visits_due:
            lines.append("按拜访频率已到期应拜访：" + "，".join(
                f"{t} {self.visits_due[t]}" for t in sorted(self.visits_due, key=self._rank)))
        return lines


def regrade(data: Snapshot, operator: str, now: dt.datetime | None = None) -> RegradeResult:
    now = now or dt.datetime.now().replace(microsecond=0)
    rules = sort_rules(data.rules)
    res = RegradeResult(as_of=data.as_of, changes=ChangeSet(), version=rules_version(data.rules))
    res.rule_problems = [(data.where(L.TIER_RULES.name, rid, key), msg) for rid, key, msg in validate_rules(data.rules)]
    rank = {t: i for i, t in enumerate(L.TIERS)}
    for r in rules:
        rank.setdefault(r.tier, len(rank))
    res.tier_rank = rank
    visiting: list[tuple[str | None, str]] = []  # (customer id, tier) of tiers with a visit frequency
    frequency: dict = {}  # tier → visit frequency in days (Settings), looked up once per tier
    credits = {}
    for c, graded in zip(data.customers, _all_grades(data)):
        if graded is None:  # a row with neither 客户编号 nor 客户名称: not a customer to grade
            continue
        credit, tier, why = graded
        credits[c.rid] = credit
        if tier is None:
            res.ungraded.append((data.where(CUST.name, c.rid, None), c.id, why))
            continue
        res.by_tier[tier] += 1
        days = frequency.get(tier, frequency)
        if days is frequency:
            days = frequency[tier] = data.settings.visit_days(tier)
        if days is not None:
            visiting.append((c.id, tier))
        if tier == c.tier:
            continue
        res.changes.update(CUST.name, c.rid, "tier", tier)
        res.changes.update(CUST.name, c.rid, "graded_on", data.as_of)
        res.moves.append(GradeChange(c.rid, data.where(CUST.name, c.rid, None), c.id, c.name, c.tier, tier, why))
        res.changes.add(L.GRADE_LOG.name, dict(
            time=now, customer_id=c.id, customer_name=c.name, old_tier=c.tier or "（空）",
            new_tier=tier, reason=why, operator=operator, rules_version=res.version, as_of=data.as_of))
    last_visits = data.last_visits()
    for cid, tier in visiting:
        due = next_visit_due(tier, last_visits.get(cid), data.settings, data.as_of)
        if due is not None and due <= data.as_of:
            res.visits_due[tier] += 1
    # the calculated columns are brought up to date (the rule table may have changed)
    res.changes.refresh |= {CUST.name, L.RECEIVABLES.name}
    res.changes.calculated.update(calculators(data))
    res.credit_changes = write_derived_credit(data, lambda c: credits.get(c.rid), res.changes)
    res.notices = data.all_notices()  # the visits view's rows taken in too (it is read meanwhile)
    res.changes.status = (f"{now:%Y-%m-%d %H:%M} 重新分级：{len(res.moves)} 户等级变动"
                          f"（升 {res.ups} / 降 {res.downs}），无法定级 {len(res.ungraded)} 户")
    return res


# Each customer's grade.  Where the store can compute a part of the action in a second process, the
# second half of the customers is graded there, begun as soon as the customers and their invoices are
# loaded (Needs.beside), while this process grades the first half.
SECOND_HALF = "regrade: the second half of the customers"


def _half(customers: list) -> int:
    return len(customers) // 2


def grades(data: Snapshot, customers: list) -> tuple[list, list]:
    """(the customers' ids as graded, for each customer (the credit derived from its invoices, None
    where none could be; its tier, None where none is found; the explanation where the tier is not
    the one it has or none is found, else None), or None for a row with neither id nor name).  A
    customer is graded on the credit derived from its invoices of the window, else on the value
    entered."""
    rules = sort_rules(data.rules)
    conditions = any(r.extra for r in rules)  # 附加条件 may name any customer column
    wanted = {c.id for c in customers if c.id}
    # the invoices a customer at a time (a database hands them ordered by customer, so only one
    # customer's invoices are held at once)
    derived = {}
    for cid, recs in data.groups(L.RECEIVABLES.name):
        if cid in wanted:
            found = derive_credit(recs, data.as_of, data.settings)
            if found.derived:
                derived[cid] = found
    out = []
    for c in customers:
        if not (c.id or c.name):
            out.append(None)
            continue
        credit = (derived.get(c.id) if c.id else None) or derive_credit([], data.as_of, data.settings, c.credit)
        x = TierInputs(volume=c.volume, credit=credit.credit, margin=c.margin, growth=c.growth,
                       extra=data.customer_extra(c) if conditions else {},
                       credit_source=credit.text if credit.derived else ("录入值" if c.credit else ""))
        result = grade(x, rules, data.settings)
        why = result.explanation if result.tier is None or result.tier != c.tier else None  # (made when shown)
        out.append((credit.credit if credit.derived else None, result.tier, why))
    return [c.id for c in customers], out


def _second_half(data: Snapshot) -> tuple[list, list]:
    return grades(data, data.customers[_half(data.customers):])


BESIDE = (Beside(SECOND_HALF, (CUST.name, L.RECEIVABLES.name), _second_half),)


def _all_grades(data: Snapshot) -> list:
    """grades() of every customer: the second half from the part begun beside where there is one
    (graded here after all when an id was given since it began: a row typed without one)."""
    customers = data.customers
    pending = data.begun.get(SECOND_HALF)
    if pending is None:
        return grades(data, customers)[1]
    half = _half(customers)
    first = grades(data, customers[:half])[1]
    ids, second = pending.result()
    if ids != [c.id for c in customers[half:]]:
        second = grades(data, customers[half:])[1]
    return first + second
