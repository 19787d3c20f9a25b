"""全面校验: findings to 校验结果 (replacing the last run's), 催讨级别 filled,
highlights follow automatically (conditional formats keyed on 校验结果)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .. import layout as L
from ..domain.findings import FindingsReport, Placed, place_plainly
from ..domain.problems import code as problem_code
from ..domain.receivables import Dunning
from ..domain.selection import Checker, Inputs
from ..store import Beside, ChangeSet, Snapshot
from .credit import calculators, write_derived_credit

R = L.RECEIVABLES


@dataclass
class ValidationReport:
    as_of: dt.date
    report: FindingsReport
    dunning: list[Dunning]
    changes: ChangeSet = field(default_factory=ChangeSet)
    credit_changes: int = 0  # rows whose 推算信誉 changed
    placed: list[Placed] | None = None  # the findings where the user finds them (the store places them)

    @property
    def errors(self) -> int:
        return self.report.errors

    @property
    def findings(self) -> list[Placed]:
        """The findings, sorted, on their sheets and rows."""
        if self.placed is None:
            return [place_plainly(f) for f in self.report.sorted()]
        return self.placed

    def summary_lines(self) -> list[str]:
        r = self.report
        lines = [f"基准日期 {self.as_of:%Y-%m-%d}：错误 {r.errors} 项，警告 {r.warnings} 项"
                 + (f"（每一项的行、列和改法见工作表“{L.SHEET_ISSUES}”）" if r.errors or r.warnings else "")]
        counts = r.by_rule()
        for severity in L.SEVERITIES:
            found = sorted(((n, c) for c, n in counts.items() if problem_code(c).severity == severity),
                           key=lambda x: (-x[0], x[1]))
            if found:
                lines.append(f"{severity}：")
                lines += [f"  {problem_code(c).title} {n} 项（{c}）" for n, c in found]
        if self.dunning:
            lines.append(f"逾期客户 {len(self.dunning)} 户（每户按最高级别催讨一次）：")
            for d in self.dunning[:10]:
                lines.append(f"  {d.customer_id} {d.customer_name or ''} {d.level} 未回 {d.overdue_amount:,.0f} 元")
        lines.append("结论：" + ("无错误 / no errors" if r.valid else f"存在 {r.errors} 项错误 / {r.errors} errors"))
        return lines

    def as_json(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(), "errors": self.report.errors,
            "warnings": self.report.warnings, "by_rule": dict(self.report.by_rule()),
            "findings": [f.as_json() for f in self.findings],
            "dunning": [d.__dict__ for d in self.dunning],
        }


def _checker(data: Snapshot, last_visits: bool = True) -> Checker:
    """The checker of the snapshot's tables (last_visits=False: the view made from the visits
    themselves, not asked of the store — a part begun before the load has made it)."""
    return Checker(Inputs(
        customers=data.customers, visits=data.visits, receivables=data.receivables,
        rules=data.rules, settings=data.settings, as_of=data.as_of, problems=data.problems,
        last_visits=data.last_visits() if last_visits else None,
        certifications=data.certifications, complaints=data.complaints, surveys=data.surveys,
        levels_kept=data.has_field(R.name, "dunning_level"), customers_alone=_customers_alone_found(data)))


# The customers' own checks (Checker.customers_alone) need no invoice and no visit: where the store can
# compute a part of the action in a second process, they are made there as soon as the customers are
# loaded, while the visits (the longest load) are read here.
CUSTOMERS_ALONE = "validate: the customers' own checks"


def _customers_alone(data: Snapshot) -> tuple[list, list]:
    """(the customers' ids as checked, the findings of their own checks)."""
    checker = Checker(Inputs(customers=data.customers, visits=(), receivables=(), rules=data.rules,
                             settings=data.settings, as_of=data.as_of, problems=data.problems))
    checker.customers_alone()
    return [c.id for c in data.customers], checker.rep.findings


def _customers_alone_found(data: Snapshot) -> list | None:
    """The findings of the customers' own checks begun beside, where they were and stand: not when an id
    was given since they began (a row typed under the table without 客户编号 is not missing one now)."""
    pending = data.begun.pop(CUSTOMERS_ALONE, None)  # (taken once: a second checker checks here)
    if pending is None:
        return None
    ids, found = pending.result()
    return found if ids == [c.id for c in data.customers] else None


# The checks of the invoices and the customers (Checker.invoices_and_customers) need the customers, visits
# and invoices alone: where the store can, they are made in a second process as soon as those are loaded,
# while the procedures' tables are read and typed here — not after them, beside this process's own checks.
INVOICES_AND_CUSTOMERS = "validate: the invoices' and the customers' checks"


def _without_id(data: Snapshot) -> list[list[int]]:
    """The rows of the customers and the invoices without an id (assign_ids may give them one)."""
    return [[r.rid for r in records if not r.id] for records in (data.customers, data.receivables)]


def _invoices_and_customers(data: Snapshot) -> tuple[list, tuple]:
    """(the rows without an id when they began, what Checker.invoices_and_customers gives)."""
    return _without_id(data), _checker(data, last_visits=False).invoices_and_customers()


def _every_id(data: Snapshot) -> bool:
    """Whether every customer and invoice has its id: else the part is not begun (assign_ids gives them
    one after the load; the checks are made with them then)."""
    return not any(_without_id(data))


def _invoices_and_customers_begun(data: Snapshot):
    """made() for Checker.run: what the part begun beside gives, where it was begun and stands (no row
    of those tables without an id then), else None; None where it was not begun."""
    pending = data.begun.pop(INVOICES_AND_CUSTOMERS, None)
    if pending is None:
        return None

    def made() -> tuple | None:
        without_id, found = pending.result()
        return found if not any(without_id) else None
    return made


BESIDE = (Beside(CUSTOMERS_ALONE, (L.CUSTOMERS.name,), _customers_alone),
          Beside(INVOICES_AND_CUSTOMERS, (L.CUSTOMERS.name, L.VISITS.name, R.name), _invoices_and_customers,
                 takes=(CUSTOMERS_ALONE,), when=_every_id))


def validate(data: Snapshot, now: dt.datetime | None = None) -> ValidationReport:
    now = now or dt.datetime.now().replace(microsecond=0)
    made = _invoices_and_customers_begun(data)
    checker = _checker(data)
    report = checker.run(data.parallel, made)
    for n in data.notices:  # rows typed under a table, taken in or left outside it
        report.add(n.code, n.table or "", None, None, n.message, outside=(n.sheet, n.row))
    out = ValidationReport(data.as_of, report, checker.dunning)
    out.changes.findings = report.sorted()
    for rid, level in checker.level_changes.items():
        out.changes.update(R.name, rid, "dunning_level", level)
    out.credit_changes = write_derived_credit(data, checker.derived_credit, out.changes)
    if data.surveys is not None:  # 满意度 is the latest survey's 综合得分 (validate keeps it so)
        for rid, score in checker.satisfaction.items():
            out.changes.update(L.CUSTOMERS.name, rid, "satisfaction", score)
    out.changes.calculated.update(calculators(data))
    out.changes.status = (f"{now:%Y-%m-%d %H:%M} 全面校验：错误 {report.errors} 项，警告 {report.warnings} 项"
                          f"，逾期客户 {len(checker.dunning)} 户")
    return out
