"""The customers' and the procedures' checks were made cheaper and cut in parts (the customers' own
checks apart from those that need invoices and visits, so that they run beside the visits' load;
a customer's 认定状态 and survey due judged only where its status asks; an application's approvals
decided once; a record's id and customer checked without a call where both are fine).  Each of
those conditions repeats one the checks themselves make: on random hostile books they must find
what the checks as first written find (`_FirstWritten` holds those checks, as they were)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import defaultdict

import pytest

from kam_xl import layout as L
from kam_xl.domain import approvals
from kam_xl.domain.findings import Related
from kam_xl.domain.models import Certification, Complaint, Customer, Survey, split_names
from kam_xl.domain.names import normalize_name
from kam_xl.domain.procedures import ProcedureChecks, customer_groups, failed_principles, latest
from kam_xl.domain.procedures import _satisfaction, among
from kam_xl.domain.selection import PRINCIPLE_CODES, Checker, duplicate_firsts
from kam_xl.domain.visits import last_completed_by_customer
from tests.unit.test_plain_records import AS_OF, _data, _day, _outcome, _pick, _text

C, CE, SU = L.CUSTOMERS, L.CERTIFICATIONS, L.SURVEYS


def _choices(table: L.TableDef, key: str) -> tuple:
    return table.by_header()[table.header(key)].choices


def _book(seed: int):
    """_data's visits and invoices, with customers of every status, tier, principle and agreement,
    and applications, complaints and surveys that refer to them (and to no one)."""
    x = _data(seed)
    rng = random.Random(seed + 1000)
    known = [c.id for c in x.customers if c.id]
    customers = []
    for c in x.customers:
        fields = {k: _pick(rng, *_choices(C, k), None) for k in
                  ("credit", "financial", "attitude", "confidentiality", "cost_level", "agreement_type")}
        customers.append(c.model_copy(update={
            **fields, "name": _pick(rng, c.name, c.name, "客户 1", "（重复）客户", None),
            "status": _pick(rng, *L.STATUSES, L.APPLYING, *L.CERTIFIED_STATUSES, None),
            "tier": _pick(rng, *L.TIERS, None), "manager": _pick(rng, "张三", "王五", None),
            "agreement_no": _text(rng, "XS-1"), "agreement_expiry": _day(rng)}))
    conform = _choices(CE, "integrity")
    certifications = [Certification(
        rid=i, id=_pick(rng, f"RZ{i:04d}", f"RZ{i:04d}", "RZ0001", None), customer_id=_pick(rng, *known, "C9999", None),
        applied_on=_day(rng), general_date=_day(rng), general_result=_text(rng, "合格"), field_date=_day(rng),
        field_staff=_pick(rng, "张三、李四", "王五、李四", "张三", None), field_result=_text(rng, "合格"),
        **{k: _pick(rng, *conform, None) for k in L.PRINCIPLES},
        dept_approval=_pick(rng, "同意", "同意", "驳回", "赵主任", None), exec_approval=_pick(rng, "同意", "驳回", "钱总", None),
        approved_on=_day(rng), result=_pick(rng, *_choices(CE, "result"), None)) for i in range(150)]
    complaints = [Complaint(
        rid=i, id=_pick(rng, f"TS{i:04d}", f"TS{i:04d}", "TS0002", None), customer_id=_pick(rng, *known, "C9999", None),
        date=_day(rng), level=_pick(rng, *_choices(L.COMPLAINTS, "level"), None), handler=_text(rng, "李四"),
        due=_day(rng), resolved_on=_day(rng), state=_pick(rng, *_choices(L.COMPLAINTS, "state"), None),
        confirmation=_pick(rng, *_choices(L.COMPLAINTS, "confirmation"), None), measures=_text(rng, "返工"))
        for i in range(120)]
    surveys = [Survey(
        rid=i, id=_pick(rng, f"MY{i:04d}", f"MY{i:04d}", "MY0003", None), customer_id=_pick(rng, *known, "C9999", None),
        date=_pick(rng, _day(rng), AS_OF - dt.timedelta(days=rng.randint(100, 900))),
        **{k: _pick(rng, 1.0, 2.0, 3.0, 4.0, 5.0, None) for k in L.SCORE_KEYS})
        for i in range(60)]  # (many a certified customer without a survey, or with an old one)
    return dataclasses.replace(x, customers=customers, certifications=certifications, complaints=complaints,
                               surveys=surveys)


class _FirstProcedures(ProcedureChecks):
    """The applications' and the surveys' passes as first written: every customer's status and survey due
    judged (the checks themselves say nothing of a status they do not concern), approvals decided anew."""

    def certification_rows(self) -> None:
        seen: set[str] = set()
        for cid, mine in customer_groups(self.certifications):
            for a in mine:
                self.each(CE, a)
                self._application(a)
            if cid:
                seen.add(cid)
                for c in self.customers_of(cid):
                    self._status(c, mine)
        for c in self.customers:
            if not c.id or c.id not in seen:
                self._status(c, [])

    def _application(self, a: Certification) -> None:
        i, cid = a.rid, a.customer_id
        c = self.by_id.get(cid)
        if a.field_date or a.field_result or a.field_staff:
            staff = split_names(a.field_staff)
            if len(set(staff)) < 2:
                self.add("CERT-FIELD-STAFF", CE, i, "field_staff", cid, a.field_staff, names="、".join(staff) or "无")
            elif c is not None and c.manager and c.manager not in staff:
                self.add("CERT-FIELD-MANAGER", CE, i, "field_staff", cid, a.field_staff, manager=c.manager)
        decided = a.result in (L.PASSED, L.NOT_PASSED) or approvals.any_decision(a)
        if decided and not a.investigated:
            gaps = [CE.header(k) for k in ("general_date", "general_result", "field_date", "field_staff",
                                          "field_result") if not getattr(a, k)]
            self.add("CERT-INVESTIGATION-INCOMPLETE", CE, i,
                     "general_result" if not a.general_result else "field_result", cid, gaps="、".join(gaps))
        if a.result == L.PASSED:
            missing = approvals.missing_approvals(a)
            for key, who in approvals.APPROVERS:
                if (key, who) in missing:
                    self.add("CERT-APPROVAL-MISSING", CE, i, key, cid, getattr(a, key), who=who,
                             current=getattr(a, key) or "未审批")
            bad = failed_principles(a)
            if bad:
                self.add("CERT-PRINCIPLE", CE, i, [k for k in L.PRINCIPLES if CE.header(k) in bad][0], cid,
                         principles="、".join(bad))
            if a.approved_on is None:
                self.add("CERT-APPROVAL-DATE", CE, i, "approved_on", cid)
        if approvals.out_of_order(a):
            self.add("CERT-APPROVAL-ORDER", CE, i, "dept_approval", cid)

    def survey_rows(self) -> None:
        s = self.settings
        low = []
        seen: set[str] = set()
        for cid, mine in customer_groups(self.surveys):
            for v in mine:
                self.each(SU, v)
                score = v.computed_score()
                if score is None or v.date is None or score >= s.survey_follow_below:
                    continue
                until = v.date + dt.timedelta(days=s.survey_follow_days)
                if self.as_of <= until:
                    continue
                low.append((v, score, until))
            if cid:
                seen.add(cid)
                last = latest(mine)
                customers = self.customers_of(cid)
                for c in customers:
                    self._survey_due(c, last)
                _satisfaction(customers, last, self.satisfaction)
        for c in self.customers:
            if not c.id or c.id not in seen:
                self._survey_due(c, None)
        wanted = {v.customer_id for v, _, _ in low}
        days: dict[str, list[dt.date]] = defaultdict(list)
        for x in among(self._visits, "customer_id", wanted) if low else ():
            d = x.planned_date or x.actual_date
            if d:
                days[x.customer_id].append(d)
        for v, score, until in low:
            if not [d for d in days.get(v.customer_id, ()) if v.date <= d <= until]:
                self.add("SURVEY-LOW-NO-FOLLOWUP", SU, v.rid, "score", v.customer_id, score,
                         below=s.survey_follow_below, date=v.date, days=s.survey_follow_days)


class _FirstWritten(Checker):
    """The customers' checks in one pass, and the procedures with a call for every record's id and customer."""

    def procedures(self) -> None:
        x = self.x
        firsts = {t.name: duplicate_firsts(r or ()) for t, r in (
            (L.CERTIFICATIONS, x.certifications), (L.COMPLAINTS, x.complaints), (L.SURVEYS, x.surveys))}
        checks = _FirstProcedures(self.add, x.customers, x.visits, x.settings, x.as_of, x.certifications,
                                  x.complaints, x.surveys, by_id=self.by_id,
                                  each=lambda table, rec: self._id_and_customer(table, rec, firsts[table.name]))
        checks.run()
        self.satisfaction = checks.satisfaction

    def customers(self) -> None:
        x = self.x
        first_id: dict[str, int] = {}
        first_name: dict[str, int] = {}
        repeated_ids: set[str] = set()
        repeated_names: set[str] = set()
        last_visits = x.last_visits if x.last_visits is not None else last_completed_by_customer(x.visits)
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
                for credit in (False, True):  # every principle (the method now takes them in two parts)
                    self._certification(c, credit)
            if c.status == L.SIGNED:
                self._agreement(c)
            important = c.tier in L.IMPORTANT_TIERS or c.status == L.APPLYING
            need = x.settings.min_staff_important
            staff = set(c.staff_list())
            if important and len(staff) < need:
                why = f"等级为{c.tier}" if c.tier in L.IMPORTANT_TIERS else "正在申请认定"
                self.add("CUST-STAFF-FEW", C, i, "staff", cid, c.staff, why=why, need=need, count=len(staff),
                         names="、".join(sorted(staff)) or "无")
            if c.tier in L.A_TIERS and c.status != L.INACTIVE:
                days = x.settings.visit_days(c.tier)
                last = last_visits.get(cid) if cid else None
                if days and (last is None or (x.as_of - last).days > days):
                    since = f"最近一次已完成拜访为 {last:%Y-%m-%d}" if last else "没有已完成的拜访记录"
                    self.add("CUST-VISIT-OVERDUE", C, i, "tier", cid, tier=c.tier, days=days, since=since)
        by_id: dict[str, list[Customer]] = defaultdict(list)
        by_name: dict[str, list[Customer]] = defaultdict(list)
        for c in x.customers:
            if c.id in repeated_ids:
                by_id[c.id].append(c)
            if c.name and normalize_name(c.name) in repeated_names:
                by_name[normalize_name(c.name)].append(c)
        for cid, cs in by_id.items():
            for c in cs[1:]:
                self.add("CUST-ID-DUP", C, c.rid, "id", cid, cid, rows=Related(C.name, tuple(d.rid for d in cs)))
        for key, cs in by_name.items():
            for c in cs[1:]:
                self.add("CUST-NAME-DUP", C, c.rid, "name", c.id, c.name,
                         rows=Related(C.name, tuple(d.rid for d in cs)))


def _with_satisfaction(x, checker: type):
    ck = checker(x)
    got = _outcome(x, checker)
    ck.run()
    return got, ck.satisfaction


@pytest.mark.parametrize("seed", range(6))
def test_the_customers_and_procedures_checks_find_what_the_first_ones_find(seed):
    fast = _with_satisfaction(_book(seed), Checker)
    rules = {f[0] for f in fast[0][0]}
    # the random book reaches the checks whose conditions were repeated to skip the others
    assert {"CUST-CERT-NO-APPLICATION", "CUST-CERT-NOT-APPROVED", "CUST-SURVEY-DUE", "CERT-APPROVAL-MISSING",
            "CERT-APPROVAL-ORDER", "CUST-VISIT-OVERDUE", "CUST-STAFF-FEW", "CUST-ID-DUP"} <= rules, rules
    assert _with_satisfaction(_book(seed), _FirstWritten) == fast


def test_the_principles_in_two_parts_are_every_principle_once():
    """_certification(credit=False) and (credit=True) together judge each principle once."""
    seen = []

    class Counting(Checker):
        def add(self, rule, *a, **k):
            seen.append(rule)
    c = Customer(rid=0, id="C1", name="甲", status=L.CERTIFIED_STATUSES[0])  # every principle blank
    ck = Counting(_book(0))
    ck._certification(c, credit=False)
    ck._certification(c, credit=True)
    assert sorted(seen) == sorted(PRINCIPLE_CODES)
