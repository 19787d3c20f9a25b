"""Selection rules, certification, visits and receivables checks (PRODUCT.md §4).

Every check appends findings; nothing raises.  Each message says what is wrong
and how to fix it; codes, severities and message templates are registered in
problems.py.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Callable, Iterable

from .. import layout as L
from .approvals import ALL_AGREED, decisions, known_decisions, missing_approvals, out_of_order
from .findings import FindingsReport, Related
from .models import Customer, Receivable, Settings, TierRule, Visit
from .names import normalize_name
from .problems import ID_CODES, PRINCIPLE_CODES, Problem, code
from .procedures import customer_groups, ProcedureChecks
from .receivables import amount_faults, date_faults, derive_credit, Dunning, DunningTally, receivable_level
from .tiering import validate_rules
from .visits import last_completed_by_customer

C, V, R = L.CUSTOMERS, L.VISITS, L.RECEIVABLES
PLAN_FIELDS = ("planned_date", "place", "staff", "attendee", "purpose", "content", "expected")
_PLAN = attrgetter(*PLAN_FIELDS)
_PLANNED = (L.PENDING, L.APPROVED, L.DONE)  # states whose plan must be complete
_DECIDED = (L.APPROVED, L.DONE)              # states both approvers must have agreed to
_BLANK = (None, "")


@dataclass
class Inputs:
    customers: list[Customer]
    visits: Iterable[Visit]  # gone through once per check that needs them, never indexed
    # gone through once, a customer at a time: a store's stream ordered by customer_id (only one
    # customer's invoices held at once), else a list (sorted here)
    receivables: Iterable[Receivable]
    rules: list[TierRule]
    settings: Settings
    as_of: dt.date
    problems: list[Problem] = field(default_factory=list)  # what reading the tables found
    # customer id → its last completed visit (the store's view); None: made from the visits
    last_visits: dict | None = None
    # the §10 tables; None when the book has no such table (a book made before they existed)
    certifications: list | None = None
    complaints: list | None = None
    surveys: list | None = None
    levels_kept: bool = False  # the receivables have 催讨级别: the levels that change are collected
    # the findings of Checker.customers_alone, made beforehand (beside the loading); None: made here
    customers_alone: list | None = None


def duplicate_firsts(records: Iterable, key: str = "id") -> dict:
    """Value → the row index of its first record, for the values of `key` that more than one
    record has (a store's stream asks its database; a list is gone through)."""
    ask = getattr(records, "duplicates", None)
    if ask is not None:
        return ask(key)
    if isinstance(records, list):  # the common case, no value repeated: found at C speed
        values = [v for v in map(attrgetter(key), records) if v]
        if len(set(values)) == len(values):
            return {}
    first: dict = {}
    out: dict = {}
    for r in records:
        v = getattr(r, key)
        if v:
            f = first.setdefault(v, r.rid)
            if f != r.rid:
                out.setdefault(v, f)
    return out


class Checker:
    def __init__(self, x: Inputs):
        self.x = x
        self.rep = FindingsReport()
        self.by_id = {c.id: c for c in x.customers if c.id}  # a repeated id: its last record
        self.dunning: list[Dunning] = []
        # receivable row index → its 催讨级别, where it differs from the one in the table
        self.level_changes: dict[int, str | None] = {}
        # cells already reported as unreadable: not reported again as "missing"
        self.unreadable = {(p.table, p.index, p.column) for p in x.problems}
        # customer id → the credit derived from its receivables of the window (as regrade grades
        # it; a customer without one is graded on the entered value), and how it was derived
        # where it is 差 (the certification check says why)
        self.derived: dict[str, str] = {}
        self.derived_bad: dict[str, str] = {}
        # customer row index → the latest survey's 综合得分 where the row shows another value
        self.satisfaction: dict[int, float] = {}

    @property
    def customer_ids(self):
        return self.by_id.keys()

    def derived_credit(self, c: Customer) -> str | None:
        """The customer's credit derived from its receivables, None where none could be."""
        return self.derived.get(c.id) if c.id else None

    def missing(self, table: L.TableDef, index: int, key: str, value) -> bool:
        return value in _BLANK and (table.name, index, table.header(key)) not in self.unreadable

    def add(self, rule: str, table: L.TableDef, index: int | None, key: str | None,
            cid: str | None = None, value: Any = None, **fields: Any) -> None:
        """A finding of a registered code, its message made from the code's template."""
        col = table.header(key) if key and key in table.keys else key
        msg = code(rule).message(column=col, value=value, **fields)
        related = next((v for v in fields.values() if isinstance(v, Related)), None)
        self.rep.add(rule, table.name, index if index is not None and index >= 0 else None,
                     key if key in table.keys else None, msg, cid, value, related)

    def run(self, parallel: Callable[[Callable[[], Any]], Any] | None = None,
            made: Callable[[], tuple | None] | None = None) -> FindingsReport:
        """Every check.  parallel(fn), where the caller can, starts fn beside what comes next and
        gives what has result() (fn's result) and cancel(): the checks of the invoices and the
        customers then run beside those of the visits, the rule table and the procedures, which
        need nothing of them.  made(): what invoices_and_customers() gives for these inputs, made
        beforehand (beside the loading of the tables after theirs; None: not made after all) —
        asked for after the visits' checks, while the procedures' are made beside.  The findings
        come in the order of a run on one: what reading found, the invoices' and the customers',
        the visits', the rule table's, the procedures'."""
        if made is not None:
            return self._run_with(parallel, made)
        pending = parallel(self._invoices_and_customers) if parallel is not None else None
        first = self._invoices_and_customers() if pending is None else None
        self.rep = FindingsReport()
        try:
            self.visits()
            self.rule_table()
            self.procedures()
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        rest = self.rep
        if pending is not None:
            first = pending.result()  # (computed here after all when the other process could not)
        return self._joined(first, rest)

    def _run_with(self, parallel, made: Callable[[], tuple | None]) -> FindingsReport:
        pending = parallel(self._procedures_apart) if parallel is not None else None
        try:
            self.rep = FindingsReport()
            self.types()
            read = self.rep.findings
            self.rep = FindingsReport()
            self.visits()
            self.rule_table()
            if pending is None:
                self.procedures()
            rest = self.rep
            first = made()
            if first is None:
                first = self.invoices_and_customers()
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if pending is not None:
            found, self.satisfaction = pending.result()  # (computed here after all when the other process could not)
            rest.findings += found
        return self._joined((read + first[0], *first[1:]), rest)

    def _joined(self, first: tuple, rest: FindingsReport) -> FindingsReport:
        findings, self.dunning, self.level_changes, self.derived, self.derived_bad = first
        rest.findings[:0] = findings
        self.rep = rest
        return rest

    def _procedures_apart(self) -> tuple[list, dict]:
        """The procedures' checks in a report of their own: (their findings, the satisfaction to write)."""
        rep, self.rep = self.rep, FindingsReport()
        try:
            self.procedures()
            return self.rep.findings, self.satisfaction
        finally:
            self.rep = rep

    def _invoices_and_customers(self) -> tuple:
        """The checks of what reading found, then invoices_and_customers()."""
        self.rep = FindingsReport()
        self.types()
        return self.invoices_and_customers(self.rep)

    def invoices_and_customers(self, rep: FindingsReport | None = None) -> tuple:
        """The checks of the invoices (first: the customers' checks use the credit derived from
        them) and the customers, into `rep` (a new report when None); what they found and derived.
        They need the customers, visits and invoices, and what reading those three tables found."""
        self.rep = FindingsReport() if rep is None else rep
        self.receivables()
        self.customers()
        return self.rep.findings, self.dunning, self.level_changes, self.derived, self.derived_bad

    def procedures(self) -> None:
        """认定申请, 客户投诉, 满意度调查 (PRODUCT.md §10)."""
        x = self.x
        firsts = {table.name: duplicate_firsts(records or ()) for table, records in (
            (L.CERTIFICATIONS, x.certifications), (L.COMPLAINTS, x.complaints), (L.SURVEYS, x.surveys))}
        by_id = self.by_id

        def each(table: L.TableDef, rec) -> None:
            found = firsts[table.name]
            rec_id, cid = rec.id, rec.customer_id
            if not (rec_id and cid and rec_id not in found and cid in by_id):  # (the common record: no call)
                self._id_and_customer(table, rec, found)
        checks = ProcedureChecks(self.add, x.customers, x.visits, x.settings, x.as_of, x.certifications,
                                 x.complaints, x.surveys, by_id=by_id, each=each)
        checks.run()
        self.satisfaction = checks.satisfaction

    # -- types and enumerations ---------------------------------------------------
    def types(self) -> None:
        """What reading the tables found: cells of the wrong type or outside their list,
        error values, Settings values that cannot be read."""
        for p in self.x.problems:
            tdef = L.TABLES.get(p.table)
            if tdef is None:
                continue
            key = "value" if tdef is L.SETTINGS else tdef.by_header().get(p.column)
            self.rep.add(p.code, tdef.name, p.index, key.key if hasattr(key, "key") else key, p.message, None,
                         p.value)

    # -- customers ----------------------------------------------------------------
    def customers(self) -> None:
        """Every customer's checks: its own (customers_alone, or their findings made beforehand),
        then those that need its invoices and visits."""
        if self.x.customers_alone is None:
            self.customers_alone()
        else:
            self.rep.findings += self.x.customers_alone
        self.customers_with_history()

    def customers_alone(self) -> None:
        """What the customers' rows tell alone (no invoice, no visit needed: checked while those
        load): ids and names present and not repeated, the principles of a certified customer but
        the payment credit, the agreement of a signed one, the staff of an important one."""
        x = self.x
        # a repeated id or name: the first record's row index by value while going through (the
        # groups are made for the repeated values only: a million customers hold no list each)
        first_id: dict[str, int] = {}
        first_name: dict[str, int] = {}
        repeated_ids: set[str] = set()
        repeated_names: set[str] = set()
        need = x.settings.min_staff_important
        for c in x.customers:
            i, cid = c.rid, c.id
            if not cid:
                self.add("CUST-ID-MISSING", C, i, "id")
            elif first_id.setdefault(cid, i) != i:
                repeated_ids.add(cid)
            if not c.name:
                self.add("CUST-NAME-MISSING", C, i, "name", cid)
            else:
                key = normalize_name(c.name)
                if first_name.setdefault(key, i) != i:
                    repeated_names.add(key)
            if c.status in L.CERTIFIED_STATUSES:
                self._certification(c, credit=False)
            if c.status == L.SIGNED:
                self._agreement(c)
            important = c.tier in L.IMPORTANT_TIERS or c.status == L.APPLYING
            if important:
                staff = set(c.staff_list())
                if len(staff) < need:
                    why = f"等级为{c.tier}" if c.tier in L.IMPORTANT_TIERS else "正在申请认定"
                    self.add("CUST-STAFF-FEW", C, i, "staff", cid, c.staff, why=why, need=need, count=len(staff),
                             names="、".join(sorted(staff)) or "无")
        del first_id, first_name
        by_id: dict[str, list[Customer]] = defaultdict(list)
        by_name: dict[str, list[Customer]] = defaultdict(list)
        if repeated_ids or repeated_names:
            for c in x.customers:
                if c.id in repeated_ids:
                    by_id[c.id].append(c)
                if repeated_names and c.name:
                    key = normalize_name(c.name)
                    if key in repeated_names:
                        by_name[key].append(c)
        for cid, cs in by_id.items():
            rows = Related(C.name, tuple(c.rid for c in cs))
            for c in cs[1:]:
                self.add("CUST-ID-DUP", C, c.rid, "id", cid, cid, rows=rows)
        for key, cs in by_name.items():
            rows = Related(C.name, tuple(c.rid for c in cs))
            for c in cs[1:]:
                self.add("CUST-NAME-DUP", C, c.rid, "name", c.id, c.name, rows=rows)

    def customers_with_history(self) -> None:
        """What the customers' invoices and visits tell: a certified customer's payment credit (as
        derived from its invoices where it can be), an A-tier customer's visit overdue."""
        x = self.x
        last_visits = x.last_visits if x.last_visits is not None else last_completed_by_customer(x.visits)
        for c in x.customers:
            if c.status in L.CERTIFIED_STATUSES:
                self._certification(c, credit=True)
            if c.tier in L.A_TIERS and c.status != L.INACTIVE:
                i, cid = c.rid, c.id
                days = x.settings.visit_days(c.tier)
                last = last_visits.get(cid) if cid else None
                if days and (last is None or (x.as_of - last).days > days):
                    since = f"最近一次已完成拜访为 {last:%Y-%m-%d}" if last else "没有已完成的拜访记录"
                    self.add("CUST-VISIT-OVERDUE", C, i, "tier", cid, tier=c.tier, days=days, since=since)

    GATES = {"CUST-CREDIT-BAD": lambda v: v != L.CREDIT_BAD, "CUST-FINANCE-WEAK": lambda v: v != L.FINANCIAL_WEAK,
             "CUST-ATTITUDE-NEG": lambda v: v != L.ATTITUDE_NEGATIVE, "CUST-CONFIDENTIALITY": lambda v: v == L.YES,
             "CUST-COST": lambda v: v == L.CONFORMS}

    def _certification(self, c: Customer, credit: bool) -> None:
        """The principles a certified customer must meet: the payment credit alone (credit=True),
        or every other one."""
        i, cid, st = c.rid, c.id, c.status
        for name, (key, rule) in PRINCIPLE_CODES.items():
            if (key == "credit") != credit:
                continue
            v = getattr(c, key)
            derived = self.derived_credit(c) if key == "credit" else None
            if derived is not None:  # judged as regrade grades: by the receivables
                v = derived
                if not self.GATES[name](v):
                    how = self.derived_bad.get(cid, "")
                    text = (f"认定状态为“{st}”，但按应收账款推算的回款信誉为“{v}”（{how}）：{rule}；"
                            f"请催收逾期款项，或将认定状态改回“调查中”。")
                    self.add(name, C, i, key, cid, v, text=text)
                continue
            if v is None and (C.name, i, C.header(key)) in self.unreadable:
                continue
            if v is None:
                text = f"认定状态为“{st}”的客户必须填写“{C.header(key)}”：{rule}。"
                self.add(name, C, i, key, cid, text=text)
            elif not self.GATES[name](v):
                text = (f"认定状态为“{st}”，但{C.header(key)}为“{v}”：{rule}；"
                        f"请核实后更正，或将认定状态改回“调查中”。")
                self.add(name, C, i, key, cid, v, text=text)

    def _agreement(self, c: Customer) -> None:
        i, cid, x = c.rid, c.id, self.x
        if not c.agreement_type:
            self.add("CUST-AGREEMENT-MISSING", C, i, "agreement_type", cid, what="注明协议类型（销售协议 或 VIP客户协议）")
        if not c.agreement_no:
            self.add("CUST-AGREEMENT-MISSING", C, i, "agreement_no", cid,
                     what="填写协议编号（与签署的《销售协议》/《VIP客户协议》一致）")
        if c.agreement_expiry is None:
            self.add("CUST-AGREEMENT-EXPIRED", C, i, "agreement_expiry", cid, text="已签约客户须填写协议到期日。")
        elif c.agreement_expiry <= x.as_of:
            self.add("CUST-AGREEMENT-EXPIRED", C, i, "agreement_expiry", cid, c.agreement_expiry,
                     text=f"协议已于 {c.agreement_expiry:%Y-%m-%d} 到期：请续签并更新协议编号和到期日，或调整认定状态。")
        elif (c.agreement_expiry - x.as_of).days < x.settings.agreement_warn_days:
            self.add("CUST-AGREEMENT-EXPIRING", C, i, "agreement_expiry", cid, c.agreement_expiry,
                     days=(c.agreement_expiry - x.as_of).days, expiry=c.agreement_expiry)

    def _id_and_customer(self, table: L.TableDef, rec, firsts: dict) -> None:
        """Record ids unique and present (`firsts`: duplicate_firsts of the table); the customer
        reference filled and known."""
        i, rec_id, cid = rec.rid, rec.id, rec.customer_id
        if rec_id and cid and rec_id not in firsts and cid in self.by_id:
            return  # the common record: its own id, a known customer
        if not rec_id:
            self.add(ID_CODES[table.name][0], table, i, "id", cid)
        elif rec_id in firsts and firsts[rec_id] != i:
            self.add(ID_CODES[table.name][1], table, i, "id", cid, rec_id,
                     first=Related(table.name, (firsts[rec_id],)))
        if not cid:
            self.add(ID_CODES[table.name][2], table, i, "customer_id")
        elif cid not in self.by_id:
            self.add(ID_CODES[table.name][3], table, i, "customer_id", cid, cid)

    # -- visits -------------------------------------------------------------------
    PLAN_FIELDS = PLAN_FIELDS

    def visits(self) -> None:
        x = self.x
        firsts = duplicate_firsts(x.visits)
        by_id, as_of, slow = self.by_id, x.as_of, self._visit
        for v in x.visits:
            # the common visit, with nothing to report, told without a call: its own id and a known
            # customer; its plan complete where its state needs one; both approvers agreed, or (a
            # state not yet decided) no leader before the department; done: dated by the as-of date,
            # with its outcome.  Any other goes through every check (_visit).
            rec_id, cid, state = v.id, v.customer_id, v.state
            if rec_id and cid and rec_id not in firsts and cid in by_id \
                    and (state not in _PLANNED or all(_PLAN(v))):
                decided = known_decisions(v)
                if decided == ALL_AGREED:
                    if state != L.DONE or (v.outcome and (d := v.actual_date) is not None and d <= as_of):
                        continue
                elif decided is not None and state not in _DECIDED and not out_of_order(v, decided):
                    continue
            slow(v, firsts)

    def _visit(self, v: Visit, firsts: dict) -> None:
        i, cid, state = v.rid, v.customer_id, v.state
        self._id_and_customer(V, v, firsts)
        if state in _PLANNED:
            plan = _PLAN(v)
            if not all(plan):
                missing = [k for k, value in zip(PLAN_FIELDS, plan) if value in (None, "")]
                for k in missing:
                    self.add("VISIT-PLAN-INCOMPLETE", V, i, k, cid, count=len(missing))
        decided = decisions(v)
        if state in _DECIDED and decided != ALL_AGREED:
            for k, who in missing_approvals(v, decided):  # 同意, or the approver's name, counts
                val = getattr(v, k)
                self.add("VISIT-APPROVAL-MISSING", V, i, k, cid, val, state=state, who=who,
                         current=val or "未审批")
        if out_of_order(v, decided):
            self.add("VISIT-APPROVAL-ORDER", V, i, "dept_approval", cid)
        if state == L.DONE:
            if v.actual_date is None:
                self.add("VISIT-DONE-INCOMPLETE", V, i, "actual_date", cid, what="实际日期")
            elif v.actual_date > self.x.as_of:
                self.add("VISIT-DATE-FUTURE", V, i, "actual_date", cid, v.actual_date)
            if not v.outcome:
                self.add("VISIT-DONE-INCOMPLETE", V, i, "outcome", cid,
                         what="拜访结果（整理拜访笔记、起草拜访报告）")

    # -- receivables --------------------------------------------------------------
    def receivables(self) -> None:
        """Every invoice's own checks, and a customer at a time: the credit derived from its
        invoices and its dunning line (one pass; a store's stream holds one customer's invoices)."""
        x = self.x
        firsts = duplicate_firsts(x.receivables)
        tally = DunningTally()
        thresholds = x.settings.dunning_thresholds()
        for cid, invoices in customer_groups(x.receivables):
            for r in invoices:
                self._invoice(r, firsts, tally, thresholds)
            if cid:
                self._derive_credit(cid, invoices)
        self.dunning = tally.customers(self._name_of)
        for d in self.dunning:
            self.add("RECV-DUNNING", R, d.worst_index, "dunning_level", d.customer_id, d.level,
                     customer_id=d.customer_id, customer_name=d.customer_name or "", invoices=d.invoices,
                     total=d.overdue_amount, days=d.worst_days)

    def _invoice(self, r: Receivable, firsts: dict, tally: DunningTally, thresholds=None) -> None:
        """One invoice's own checks, its 催讨级别 (where it changes) and its place in the dunning list."""
        x = self.x
        i, cid = r.rid, r.customer_id
        days, level = receivable_level(r, x.settings, x.as_of, thresholds)
        if x.levels_kept and level != r.dunning_level:
            self.level_changes[i] = level
        if level and cid:
            tally.add(r, days, level)
        self._id_and_customer(R, r, firsts)
        for rule, key in amount_faults(r.amount, r.paid):
            if key != "amount" or r.amount is not None or self.missing(R, i, "amount", r.amount):
                self.add(rule, R, i, key, cid, getattr(r, key), amount=r.amount)
        if r.invoice_date in _BLANK and self.missing(R, i, "invoice_date", r.invoice_date):
            self.add("RECV-DATE-MISSING", R, i, "invoice_date", cid, hint="")
        if r.due_date in _BLANK and self.missing(R, i, "due_date", r.due_date):
            self.add("RECV-DATE-MISSING", R, i, "due_date", cid, hint="（按合同账期计算）")
        for rule, key in date_faults(r.invoice_date, r.due_date):
            self.add(rule, R, i, key, cid, due=r.due_date, invoice=r.invoice_date)
        if (r.paid or 0) > 0 and r.paid_date is None:
            self.add("RECV-PAID-DATE-MISSING", R, i, "paid_date", cid)
        if r.paid_date and r.invoice_date and r.paid_date < r.invoice_date:
            self.add("RECV-PAID-DATE-INVALID", R, i, "paid_date", cid)

    def _name_of(self, cid: str) -> str | None:
        c = self.by_id.get(cid)
        return c.name if c is not None else None

    def _derive_credit(self, cid: str, invoices: list[Receivable]) -> None:
        """One customer's credit derived from its invoices, as regrade derives it."""
        found = derive_credit(invoices, self.x.as_of, self.x.settings)
        if found.derived:
            self.derived[cid] = found.credit
            if found.credit == L.CREDIT_BAD:
                self.derived_bad[cid] = found.text

    def rule_table(self) -> None:
        for idx, key, msg in validate_rules(self.x.rules):
            self.add("RULE-TABLE", L.TIER_RULES, idx, key, detail=msg + "；请在分级规则表中更正。")
        orders = [r for r in self.x.rules if r.tier]
        if not orders:
            self.add("RULE-TABLE", L.TIER_RULES, None, None,
                     detail="分级规则表为空：请至少保留一条规则（可用“新建”生成的默认规则）。")
