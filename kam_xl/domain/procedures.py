"""The seed's other procedures (PRODUCT.md §10): the selection procedure and its
application (认定申请), complaints (客户投诉) and satisfaction surveys (满意度调查) —
their checks, and what they give back to the customer row.  Stdlib + the domain only."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Iterable, Optional

from .. import layout as L
from .models import Certification, Complaint, Customer, Settings, Survey, Visit, approval, split_names

E, W = L.ERROR, L.WARNING
C, CE, CO, SU = L.CUSTOMERS, L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS
APPROVERS = (("dept_approval", "部门经理"), ("exec_approval", "公司领导"))


def latest(records: Iterable, key: str = "date"):
    """The record with the latest date (ties: the lower row wins, as typed later)."""
    best = None
    for r in records:
        d = getattr(r, key)
        if d is not None and (best is None or (d, r.row_index) >= (getattr(best, key), best.row_index)):
            best = r
    return best


def by_customer(records: Iterable) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for r in records:
        if r.customer_id:
            out[r.customer_id].append(r)
    return out


def latest_application(apps: list[Certification]) -> Optional[Certification]:
    """The application a customer's status stands on: the latest by 申请日期, else the last row."""
    dated = latest(apps, "applied_on")
    return dated or (max(apps, key=lambda a: a.row_index) if apps else None)


def missing_approvals(app: Certification) -> list[str]:
    """Who has not (yet) agreed: 部门经理 / 公司领导 — 驳回 or blank."""
    return [who for key, who in APPROVERS if approval(getattr(app, key)) != "同意"]


def failed_principles(app: Certification) -> list[str]:
    return [h for h, v in app.principles().items() if v != "符合"]


def approved(app: Certification) -> bool:
    return app.result == "通过" and not missing_approvals(app) and not failed_principles(app)


def satisfaction_updates(customers: list[Customer], surveys: list[Survey]) -> dict[int, float]:
    """Customer row index → the latest survey's 综合得分 where the row shows another value."""
    latest_by = {cid: latest(s) for cid, s in by_customer(surveys).items()}
    out = {}
    for c in customers:
        s = latest_by.get(c.id) if c.id else None
        score = s.computed_score() if s is not None else None
        if score is not None and c.satisfaction != score:
            out[c.row_index] = score
    return out


class ProcedureChecks:
    """Findings of §10, added through the validator's `add` (rule, severity, table, row index,
    column key, message, customer id, value)."""

    def __init__(self, add, customers: list[Customer], visits: list[Visit], settings: Settings, as_of: dt.date,
                 certifications: list[Certification] | None, complaints: list[Complaint] | None,
                 surveys: list[Survey] | None, header_rows: dict[str, int] | None = None):
        self.add, self.as_of, self.settings = add, as_of, settings
        self._header_rows = header_rows or {}
        self.customers = customers
        self.by_id = {c.id: c for c in customers if c.id}
        self.visits = by_customer(visits)
        self.certifications, self.complaints, self.surveys = certifications, complaints, surveys

    def run(self) -> None:
        if self.certifications is not None:
            self.applications()
            self.status_against_applications()
        if self.complaints is not None:
            self.complaint_rows()
        if self.surveys is not None:
            self.survey_rows()

    # -- 认定申请 -------------------------------------------------------------------
    def applications(self) -> None:
        for a in self.certifications:
            i, cid = a.row_index, a.customer_id
            c = self.by_id.get(cid)
            if a.field_date or a.field_result or a.field_staff:
                staff = split_names(a.field_staff)
                if len(set(staff)) < 2:
                    self.add("CERT-FIELD-STAFF", E, CE, i, "field_staff",
                             f"实地调查须由至少 2 人会同进行（大客户经理、主管等），当前：{'、'.join(staff) or '无'}；"
                             f"请补记参加人员。", cid, a.field_staff)
                elif c is not None and c.manager and c.manager not in staff:
                    self.add("CERT-FIELD-MANAGER", W, CE, i, "field_staff",
                             f"实地调查人员中没有该客户的客户经理 {c.manager}：种子制度要求会同大客户经理、主管调查；"
                             f"请核实并补记。", cid, a.field_staff)
            decided = a.result in ("通过", "不通过") or any(approval(getattr(a, k)) for k, _ in APPROVERS)
            if decided and not a.investigated:
                gaps = [CE.header(k) for k in ("general_date", "general_result", "field_date", "field_staff",
                                              "field_result") if not getattr(a, k)]
                self.add("CERT-INVESTIGATION-INCOMPLETE", E, CE, i, "general_result" if not a.general_result else
                         "field_result", f"审批或认定前须完成一般调查和实地调查；本申请缺少：{'、'.join(gaps)}。", cid)
            if a.result == "通过":
                missing = missing_approvals(a)
                for key, who in APPROVERS:
                    if who in missing:
                        self.add("CERT-APPROVAL-MISSING", E, CE, i, key,
                                 f"认定结果为“通过”，但缺少{who}的同意（当前：{getattr(a, key) or '未审批'}）；"
                                 f"请补办审批，或把认定结果改为“待定”。", cid, getattr(a, key))
                bad = failed_principles(a)
                if bad:
                    self.add("CERT-PRINCIPLE", E, CE, i, [k for k in L.PRINCIPLES if CE.header(k) in bad][0],
                             f"认定结果为“通过”，但选择原则“{'、'.join(bad)}”未确认为“符合”：五项原则都符合才能认定。",
                             cid)
                if a.approved_on is None:
                    self.add("CERT-APPROVAL-DATE", W, CE, i, "approved_on", "认定通过的申请请填写审批日期。", cid)
            if approval(a.exec_approval) and not approval(a.dept_approval):
                self.add("CERT-APPROVAL-ORDER", W, CE, i, "dept_approval",
                         "认定申请应先经部门经理审批，再报公司领导。", cid)

    def status_against_applications(self) -> None:
        apps = by_customer(self.certifications)
        for c in self.customers:
            i, cid, st = c.row_index, c.id, c.status
            mine = apps.get(cid, []) if cid else []
            if st == "申请认定" and not any(a.investigated for a in mine):
                self.add("CUST-CERT-NO-APPLICATION", E, C, i, "status",
                         "认定状态为“申请认定”，但“认定申请”表中没有该客户一般调查和实地调查都已完成的申请："
                         "请先完成调查并填写客户认定申请表，或把认定状态改回“调查中”。", cid, st)
            if st in L.CERTIFIED_STATUSES and not any(approved(a) for a in mine):
                last = latest_application(mine)
                if last is None:
                    why = "没有认定申请"
                else:
                    gaps = []
                    if last.result != "通过":
                        gaps.append(f"认定结果为“{last.result or '空'}”")
                    if missing_approvals(last):
                        gaps.append("缺少" + "、".join(missing_approvals(last)) + "同意")
                    if failed_principles(last):
                        gaps.append("原则“" + "、".join(failed_principles(last)) + "”未符合")
                    why = f"最近的申请 {last.id or ''}（第 {self._row(CE, last)} 行）" + "，".join(gaps)
                self.add("CUST-CERT-NOT-APPROVED", E, C, i, "status",
                         f"认定状态为“{st}”须有认定结果“通过”、部门经理和公司领导都同意、五项原则都符合的认定申请；"
                         f"{why}。请补齐认定申请，或把认定状态改回“申请认定”。", cid, st)

    def _row(self, table: L.TableDef, rec) -> int:
        return self._header_rows.get(table.name, table.first_row) + 1 + rec.row_index

    # -- 客户投诉 -------------------------------------------------------------------
    def complaint_rows(self) -> None:
        leaders = self.settings.leader_names()
        open_major: dict[str, list[Complaint]] = defaultdict(list)
        for p in self.complaints:
            i, cid = p.row_index, p.customer_id
            if p.open and p.due is not None and p.due < self.as_of:
                self.add("COMPLAINT-OVERDUE", E, CO, i, "due",
                         f"投诉已过处理期限 {p.due:%Y-%m-%d} 仍未解决（状态：{p.state or '空'}）：请立即处理并向客户反馈，"
                         f"解决后填写解决日期和状态。", cid, p.due)
            if p.level == "重大":
                handlers = split_names(p.handler)
                if not any(h in leaders or "领导" in h or h.endswith("总") for h in handlers):
                    hint = "" if leaders else "（参数表“公司领导名单”为空，请填写）"
                    self.add("COMPLAINT-MAJOR-NO-LEADER", W, CO, i, "handler",
                             f"重大投诉须有公司领导参与处理{hint}，当前处理人：{p.handler or '无'}。", cid, p.handler)
                if p.open and cid:
                    open_major[cid].append(p)
            if p.state == "已关闭" and not p.confirmation:
                self.add("COMPLAINT-CLOSED-NO-CONFIRM", W, CO, i, "confirmation",
                         "投诉已关闭但没有客户确认：请回访客户，记录其对处理结果的确认（满意/基本满意/不满意）。", cid)
            if p.state in ("已解决", "已关闭") and p.resolved_on is None:
                self.add("COMPLAINT-NO-RESOLVED-DATE", W, CO, i, "resolved_on", "已解决的投诉请填写解决日期。", cid)
        for cid, items in open_major.items():
            c = self.by_id.get(cid)
            if c is not None and c.tier in L.A_TIERS:
                self.add("CUST-MAJOR-COMPLAINT-OPEN", W, C, c.row_index, "tier",
                         f"{c.tier} 客户有 {len(items)} 起未解决的重大投诉（{'、'.join(p.id or '?' for p in items)}）："
                         f"请优先处理，并在下次分级评审中考虑。", cid)

    # -- 满意度调查 -----------------------------------------------------------------
    def survey_rows(self) -> None:
        s = self.settings
        per = by_customer(self.surveys)
        for v in self.surveys:
            score = v.computed_score()
            if score is None or v.date is None or score >= s.survey_follow_below:
                continue
            until = v.date + dt.timedelta(days=s.survey_follow_days)
            if self.as_of <= until:
                continue  # still time to plan the follow-up
            planned = [x for x in self.visits.get(v.customer_id, [])
                       if (x.planned_date or x.actual_date) and v.date <= (x.planned_date or x.actual_date) <= until]
            if not planned:
                self.add("SURVEY-LOW-NO-FOLLOWUP", W, SU, v.row_index, "score",
                         f"综合得分 {score:g} 低于 {s.survey_follow_below:g}，但 {v.date:%Y-%m-%d} 后 "
                         f"{s.survey_follow_days} 天内没有计划跟进拜访：请在“拜访记录”安排跟进。", v.customer_id, score)
        for c in self.customers:
            if c.status not in L.CERTIFIED_STATUSES or not c.id:
                continue
            days = s.survey_days(c.tier)
            last = latest(per.get(c.id, []))
            if days and (last is None or (self.as_of - last.date).days > days):
                since = f"最近一次调查为 {last.date:%Y-%m-%d}" if last else "没有满意度调查记录"
                self.add("CUST-SURVEY-DUE", W, C, c.row_index, "satisfaction",
                         f"{c.tier or ''} 已认定客户应至少每 {days} 天做一次满意度调查或电话回访评分，{since}；"
                         f"请安排调查并在“满意度调查”登记。", c.id)
