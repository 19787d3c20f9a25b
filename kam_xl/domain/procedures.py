"""The seed's other procedures (PRODUCT.md §10): the selection procedure and its
application (认定申请), complaints (客户投诉) and satisfaction surveys (满意度调查) —
their checks, and what they give back to the customer row.  Stdlib + the domain only."""
from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from operator import attrgetter
from typing import Iterable, Optional

from .. import layout as L
from . import approvals
from .findings import Related
from .models import Certification, Complaint, Customer, Settings, Survey, Visit, split_names

C, CE, CO, SU = L.CUSTOMERS, L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS


def latest(records: Iterable, key: str = "date"):
    """The record with the latest date (ties: the lower row wins, as typed later)."""
    best = None
    for r in records:
        d = getattr(r, key)
        if d is not None and (best is None or (d, r.rid) >= (getattr(best, key), best.rid)):
            best = r
    return best


def among(records: Iterable, key: str, values: set) -> Iterable:
    """The records whose `key` is one of `values`: asked of the records where they can answer
    (a database's stream selects them), else filtered while going through them."""
    narrow = getattr(records, "among", None)
    if narrow is not None:
        return narrow(key, values)
    of = attrgetter(key)
    return (r for r in records if of(r) in values)


def by_customer_order(records: Iterable) -> Iterable:
    """Records a customer at a time: a stream the store orders by customer as it is, a list
    sorted (its own order kept within a customer)."""
    if getattr(records, "order", None) == "customer_id":
        return records
    return sorted(records, key=lambda r: r.customer_id or "")


def customer_groups(records: Iterable) -> Iterable[tuple[Optional[str], list]]:
    """(customer id, its records) a customer at a time, the records without a customer among
    them (id None or ""): only one customer's records are held at once."""
    return ((cid, list(group)) for cid, group in itertools.groupby(by_customer_order(records), key=_CUSTOMER_ID))


_CUSTOMER_ID = attrgetter("customer_id")


def by_customer(records: Iterable) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for r in records:
        if r.customer_id:
            out[r.customer_id].append(r)
    return out


def latest_application(apps: list[Certification]) -> Optional[Certification]:
    """The application a customer's status stands on: the latest by 申请日期, else the last row."""
    dated = latest(apps, "applied_on")
    return dated or (max(apps, key=lambda a: a.rid) if apps else None)


def missing_approvals(app: Certification) -> list[str]:
    """Who has not (yet) agreed: 部门经理 / 公司领导 — 驳回 or blank."""
    return [who for _, who in approvals.missing_approvals(app)]


def failed_principles(app: Certification) -> list[str]:
    """The headers of the principles the application does not meet, in the seed's order."""
    cells = _PRINCIPLES(app)
    if cells == _ALL_CONFORM:  # the common application: nothing to list
        return []
    return [CE.header(k) for k, v in zip(L.PRINCIPLES, cells) if v != L.CONFORMS]


_PRINCIPLES = attrgetter(*L.PRINCIPLES)
_JUDGED = frozenset((L.APPLYING, *L.CERTIFIED_STATUSES))  # the 认定状态 judged against the applications
_ALL_CONFORM = (L.CONFORMS,) * len(L.PRINCIPLES)


def approved(app: Certification) -> bool:
    return app.result == L.PASSED and not missing_approvals(app) and not failed_principles(app)


def _satisfaction(customers: list[Customer], last: Optional[Survey], out: dict[int, float]) -> None:
    score = last.computed_score() if last is not None else None
    if score is None:
        return
    for c in customers:
        if c.satisfaction != score:
            out[c.rid] = score


class _CustomersById:
    """The customers of an id: the one (a dict of a million entries, not a list each), or every
    customer of a repeated id."""

    def __init__(self, customers: list[Customer], by_id: dict):
        self.by_id = by_id
        self.twins: dict[str, list[Customer]] = {}
        if len(self.by_id) != sum(1 for c in customers if c.id):
            for c in customers:
                if c.id:
                    self.twins.setdefault(c.id, []).append(c)
            self.twins = {k: v for k, v in self.twins.items() if len(v) > 1}

    def of(self, cid: str) -> list[Customer]:
        twins = self.twins.get(cid)
        if twins is not None:
            return twins
        c = self.by_id.get(cid)
        return [c] if c is not None else []


class ProcedureChecks:
    """Findings of §10, added through the validator's `add` (registered code, table, row index,
    column key, customer id, value, the template's fields)."""

    def __init__(self, add, customers: list[Customer], visits: list[Visit], settings: Settings, as_of: dt.date,
                 certifications: list[Certification] | None, complaints: list[Complaint] | None,
                 surveys: list[Survey] | None, by_id: dict | None = None, each=None):
        self.add, self.as_of, self.settings = add, as_of, settings
        # what the caller checks of every record of the three tables (the validator: ids and the
        # customer reference), called in the same pass as these checks
        self.each = each or (lambda table, rec: None)
        self.customers = customers
        self.by_id = by_id if by_id is not None else {c.id: c for c in customers if c.id}
        self.customers_of = _CustomersById(customers, self.by_id).of
        # customer row index → the latest survey's 综合得分 where the row shows another value
        self.satisfaction: dict[int, float] = {}
        self._visits = visits  # gone through once, for the customers a check asks about
        self.certifications, self.complaints, self.surveys = certifications, complaints, surveys

    def run(self) -> None:
        if self.certifications is not None:
            self.certification_rows()
        if self.complaints is not None:
            self.complaint_rows()
        if self.surveys is not None:
            self.survey_rows()

    # -- 认定申请 -------------------------------------------------------------------
    def certification_rows(self) -> None:
        """The applications a customer at a time (a store's stream holds one customer's): each
        application's own checks, then its customer's 认定状态 against them; the customers
        without any application after."""
        seen: set[str] = set()
        each, application, status, customers_of = self.each, self._application, self._status, self.customers_of
        judged = _JUDGED
        for cid, mine in customer_groups(self.certifications):
            for a in mine:
                each(CE, a)
                application(a)
            if cid:
                seen.add(cid)
                for c in customers_of(cid):
                    if c.status in judged:
                        status(c, mine)
        for c in self.customers:
            if c.status in judged and (not c.id or c.id not in seen):
                status(c, [])

    def _application(self, a: Certification) -> None:
        i, cid = a.rid, a.customer_id
        c = self.by_id.get(cid)
        if a.field_date or a.field_result or a.field_staff:
            staff = split_names(a.field_staff)
            if len(set(staff)) < 2:
                self.add("CERT-FIELD-STAFF", CE, i, "field_staff", cid, a.field_staff,
                         names="、".join(staff) or "无")
            elif c is not None and c.manager and c.manager not in staff:
                self.add("CERT-FIELD-MANAGER", CE, i, "field_staff", cid, a.field_staff, manager=c.manager)
        decisions = approvals.decisions(a)
        decided = a.result in (L.PASSED, L.NOT_PASSED) or any(decisions)
        if decided and not a.investigated:
            gaps = [CE.header(k) for k in ("general_date", "general_result", "field_date", "field_staff",
                                          "field_result") if not getattr(a, k)]
            self.add("CERT-INVESTIGATION-INCOMPLETE", CE, i,
                     "general_result" if not a.general_result else "field_result", cid, gaps="、".join(gaps))
        if a.result == L.PASSED:
            for key, who in approvals.missing_approvals(a, decisions):
                self.add("CERT-APPROVAL-MISSING", CE, i, key, cid, getattr(a, key), who=who,
                         current=getattr(a, key) or "未审批")
            bad = failed_principles(a)
            if bad:
                self.add("CERT-PRINCIPLE", CE, i, [k for k in L.PRINCIPLES if CE.header(k) in bad][0], cid,
                         principles="、".join(bad))
            if a.approved_on is None:
                self.add("CERT-APPROVAL-DATE", CE, i, "approved_on", cid)
        if approvals.out_of_order(a, decisions):
            self.add("CERT-APPROVAL-ORDER", CE, i, "dept_approval", cid)

    def _status(self, c: Customer, mine: list[Certification]) -> None:
        """A customer's 认定状态 against its applications (a status in _JUDGED: any other says nothing)."""
        i, cid, st = c.rid, c.id, c.status
        if st == L.APPLYING and not any(a.investigated for a in mine):
            self.add("CUST-CERT-NO-APPLICATION", C, i, "status", cid, st)
        if st in L.CERTIFIED_STATUSES and not any(approved(a) for a in mine):
            last = latest_application(mine)
            if last is None:
                why = "没有认定申请"
            else:
                gaps = []
                if last.result != L.PASSED:
                    gaps.append(f"认定结果为“{last.result or '空'}”")
                if missing_approvals(last):
                    gaps.append("缺少" + "、".join(missing_approvals(last)) + L.AGREE)
                if failed_principles(last):
                    gaps.append("原则“" + "、".join(failed_principles(last)) + "”未符合")
                at = Related(CE.name, (last.rid,))
                why = f"最近的申请 {last.id or ''}（第 {at} 行）" + "，".join(gaps)
            self.add("CUST-CERT-NOT-APPROVED", C, i, "status", cid, st, why=why,
                     **({"at": at} if last is not None else {}))

    # -- 客户投诉 -------------------------------------------------------------------
    def complaint_rows(self) -> None:
        leaders = self.settings.leader_names()
        open_major: dict[str, list[Complaint]] = defaultdict(list)
        for p in self.complaints:
            self.each(CO, p)
            i, cid = p.rid, p.customer_id
            if p.open and p.due is not None and p.due < self.as_of:
                self.add("COMPLAINT-OVERDUE", CO, i, "due", cid, p.due, state=p.state or "空")
            if p.level == L.COMPLAINT_MAJOR:
                handlers = split_names(p.handler)
                if not any(h in leaders or "领导" in h or h.endswith("总") for h in handlers):
                    hint = "" if leaders else "（参数表“公司领导名单”为空，请填写）"
                    self.add("COMPLAINT-MAJOR-NO-LEADER", CO, i, "handler", cid, p.handler, hint=hint,
                             handler=p.handler or "无")
                if p.open and cid:
                    open_major[cid].append(p)
            if p.state == L.COMPLAINT_CLOSED and not p.confirmation:
                self.add("COMPLAINT-CLOSED-NO-CONFIRM", CO, i, "confirmation", cid)
            if p.state in (L.COMPLAINT_RESOLVED, L.COMPLAINT_CLOSED) and p.resolved_on is None:
                self.add("COMPLAINT-NO-RESOLVED-DATE", CO, i, "resolved_on", cid)
        for cid, items in open_major.items():
            c = self.by_id.get(cid)
            if c is not None and c.tier in L.A_TIERS:
                self.add("CUST-MAJOR-COMPLAINT-OPEN", C, c.rid, "tier", cid, tier=c.tier, count=len(items),
                         ids="、".join(p.id or "?" for p in items))

    # -- 满意度调查 -----------------------------------------------------------------
    def survey_rows(self) -> None:
        """The surveys a customer at a time (a store's stream holds one customer's): low scores
        without a follow-up visit, the customer's survey due, its 满意度 from the latest."""
        s = self.settings
        low = []
        seen: set[str] = set()
        each, survey_due, customers_of, certified = self.each, self._survey_due, self.customers_of, \
            L.CERTIFIED_STATUSES
        below, follow = s.survey_follow_below, dt.timedelta(days=s.survey_follow_days)
        for cid, mine in customer_groups(self.surveys):
            for v in mine:
                each(SU, v)
                score = v.computed_score()
                if score is None or v.date is None or score >= below:
                    continue
                until = v.date + follow
                if self.as_of <= until:
                    continue  # still time to plan the follow-up
                low.append((v, score, until))
            if cid:
                seen.add(cid)
                last = latest(mine)
                customers = customers_of(cid)
                for c in customers:
                    if c.status in certified:
                        survey_due(c, last)
                _satisfaction(customers, last, self.satisfaction)
        for c in self.customers:
            if c.status in certified and (not c.id or c.id not in seen):
                survey_due(c, None)
        wanted = {v.customer_id for v, _, _ in low}
        days: dict[str, list[dt.date]] = defaultdict(list)  # their visits' dates (planned, else actual)
        for x in among(self._visits, "customer_id", wanted) if low else ():
            d = x.planned_date or x.actual_date
            if d:
                days[x.customer_id].append(d)
        for v, score, until in low:
            planned = [d for d in days.get(v.customer_id, ()) if v.date <= d <= until]
            if not planned:
                self.add("SURVEY-LOW-NO-FOLLOWUP", SU, v.rid, "score", v.customer_id, score,
                         below=s.survey_follow_below, date=v.date, days=s.survey_follow_days)

    def _survey_due(self, c: Customer, last: Optional[Survey]) -> None:
        if c.status not in L.CERTIFIED_STATUSES or not c.id:
            return
        days = self.settings.survey_days(c.tier)
        if days and (last is None or (self.as_of - last.date).days > days):
            since = f"最近一次调查为 {last.date:%Y-%m-%d}" if last else "没有满意度调查记录"
            self.add("CUST-SURVEY-DUE", C, c.rid, "satisfaction", c.id, tier=c.tier or "", days=days,
                     since=since)
