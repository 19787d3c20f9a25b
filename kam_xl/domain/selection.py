"""Selection rules, certification, visits and receivables checks (PRODUCT.md §4).

Every check appends findings; nothing raises.  Each message says what is wrong
and how to fix it.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .. import layout as L
from .findings import FindingsReport
from .models import Customer, Receivable, Settings, TierRule, Visit, approval
from .procedures import ProcedureChecks
from .values import CellError
from .names import normalize_name
from .receivables import dunning_level, dunning_rank, overdue_days
from .tiering import validate_rules
from .visits import last_completed_visit

E, W = L.ERROR, L.WARNING
C, V, R = L.CUSTOMERS, L.VISITS, L.RECEIVABLES


@dataclass
class Inputs:
    customers: list[Customer]
    visits: list[Visit]
    receivables: list[Receivable]
    rules: list[TierRule]
    settings: Settings
    as_of: dt.date
    header_rows: dict[str, int]  # table name → Excel row of its header
    type_problems: dict[str, list[tuple[int, str, Any, str]]] = field(default_factory=dict)
    settings_problems: list[tuple[int, str, str]] = field(default_factory=list)
    # the §10 tables; None when the book has no such table (a book made before they existed)
    certifications: list | None = None
    complaints: list | None = None
    surveys: list | None = None


@dataclass
class Dunning:
    customer_id: str
    customer_name: str | None
    level: str
    invoices: int
    overdue_amount: float
    worst_days: int
    worst_row: int  # Excel row of the most overdue receivable


class Checker:
    def __init__(self, x: Inputs):
        self.x = x
        self.rep = FindingsReport()
        self.customer_ids = {c.id for c in x.customers if c.id}
        self.dunning: list[Dunning] = []
        self.dunning_levels: dict[int, str | None] = {}  # receivable row index → level
        # cells already reported as unreadable: not reported again as "missing"
        self.unreadable = {(t, i, h) for t, probs in x.type_problems.items() for i, h, _, _ in probs}

    def missing(self, table: L.TableDef, index: int, key: str, value) -> bool:
        return value in (None, "") and (table.name, index, table.header(key)) not in self.unreadable

    def row(self, table: L.TableDef, index: int) -> int:
        return self.x.header_rows.get(table.name, 1) + 1 + index

    def add(self, rule: str, sev: str, table: L.TableDef, index: int, key: str | None, msg: str,
            cid: str | None = None, value: Any = None) -> None:
        col = table.header(key) if key and key in {c.key for c in table.columns} else key
        self.rep.add(rule, sev, table.sheet, self.row(table, index) if index >= 0 else None,
                     col, msg, cid, value)

    def run(self) -> FindingsReport:
        self.types()
        self.customers()
        self.visits()
        self.receivables()
        self.rule_table()
        self.procedures()
        return self.rep

    def procedures(self) -> None:
        """认定申请, 客户投诉, 满意度调查 (PRODUCT.md §10)."""
        x = self.x
        for table, prefix, records, what in (
                (L.CERTIFICATIONS, "CERT", x.certifications, "申请"), (L.COMPLAINTS, "COMPLAINT", x.complaints, "投诉"),
                (L.SURVEYS, "SURVEY", x.surveys, "调查")):
            seen: dict[str, int] = {}
            for rec in records or ():
                self._id_and_customer(table, prefix, rec, seen, W,
                                      f"{table.header('id')}为空：请填写唯一编号（如 {table.id_prefix}000123）。",
                                      "请改为新编号", f"请填写该{what}所属客户的编号")
        ProcedureChecks(self.add, x.customers, x.visits, x.settings, x.as_of, x.certifications, x.complaints,
                        x.surveys, x.header_rows).run()

    # -- types and enumerations ---------------------------------------------------
    def types(self) -> None:
        prefix = {C.name: ("CUST", C), V.name: ("VISIT", V), R.name: ("RECV", R),
                  L.TIER_RULES.name: ("RULE", L.TIER_RULES), L.CERTIFICATIONS.name: ("CERT", L.CERTIFICATIONS),
                  L.COMPLAINTS.name: ("COMPLAINT", L.COMPLAINTS), L.SURVEYS.name: ("SURVEY", L.SURVEYS)}
        for tname, probs in self.x.type_problems.items():
            if tname not in prefix:
                continue
            p, tdef = prefix[tname]
            for idx, header, raw, msg in probs:
                code = ("CELL-ERROR-VALUE" if isinstance(raw, CellError) else
                        f"{p}-ENUM" if tdef.by_header()[header].kind == L.ENUM else f"{p}-TYPE")
                self.rep.add(code, E, tdef.sheet, self.row(tdef, idx), header,
                             msg + "，请更正。", None, raw)
        for idx, key, msg in self.x.settings_problems:
            self.rep.add("SETTINGS-INVALID", E, L.SETTINGS.sheet, self.row(L.SETTINGS, idx), "值", msg)

    # -- customers ----------------------------------------------------------------
    def customers(self) -> None:
        x = self.x
        by_id: dict[str, list[Customer]] = defaultdict(list)
        by_name: dict[str, list[Customer]] = defaultdict(list)
        visits = defaultdict(list)
        for v in x.visits:
            if v.customer_id:
                visits[v.customer_id].append(v)
        for c in x.customers:
            i, cid = c.row_index, c.id
            if not cid:
                self.add("CUST-ID-MISSING", E, C, i, "id", "客户编号为空：请填写唯一编号（如 KH000123），导入时会自动编号。")
            else:
                by_id[cid].append(c)
            if not c.name:
                self.add("CUST-NAME-MISSING", E, C, i, "name", "客户名称为空：请填写客户全称。", cid)
            else:
                by_name[normalize_name(c.name)].append(c)
            if c.status in L.CERTIFIED_STATUSES:
                self._certification(c)
            if c.status == "已签约":
                self._agreement(c)
            important = c.tier in L.IMPORTANT_TIERS or c.status == "申请认定"
            need = x.settings.min_staff_important
            staff = set(c.staff_list())
            if important and len(staff) < need:
                why = f"等级为{c.tier}" if c.tier in L.IMPORTANT_TIERS else "正在申请认定"
                self.add("CUST-STAFF-FEW", E, C, i, "staff",
                         f"该客户{why}，属重要客户，须有至少 {need} 名不同的对接人员（当前 {len(staff)} 名："
                         f"{'、'.join(sorted(staff)) or '无'}）；请在“对接人员”中用“、”分隔补充人员。", cid, c.staff)
            if c.tier in L.A_TIERS and c.status != "停用":
                days = x.settings.visit_days(c.tier)
                last = last_completed_visit(visits.get(cid, [])) if cid else None
                if days and (last is None or (x.as_of - last).days > days):
                    since = f"最近一次已完成拜访为 {last:%Y-%m-%d}" if last else "没有已完成的拜访记录"
                    self.add("CUST-VISIT-OVERDUE", W, C, i, "tier",
                             f"{c.tier} 客户应至少每 {days} 天拜访一次，{since}；请安排拜访并在“拜访记录”登记。", cid)
        for cid, cs in by_id.items():
            if len(cs) > 1:
                rows = "、".join(str(self.row(C, c.row_index)) for c in cs)
                for c in cs[1:]:
                    self.add("CUST-ID-DUP", E, C, c.row_index, "id",
                             f"客户编号 {cid} 重复（第 {rows} 行）：每个客户编号必须唯一，请改为新编号或合并记录。", cid, cid)
        for key, cs in by_name.items():
            if len(cs) > 1:
                rows = "、".join(str(self.row(C, c.row_index)) for c in cs)
                for c in cs[1:]:
                    self.add("CUST-NAME-DUP", E, C, c.row_index, "name",
                             f"客户名称“{c.name}”与第 {rows} 行是同一名称（忽略全半角、空格、括号差异）："
                             f"请合并为一条客户记录。", c.id, c.name)

    def _certification(self, c: Customer) -> None:
        i, cid, st = c.row_index, c.id, c.status
        gates = (
            ("credit", "CUST-CREDIT-BAD", lambda v: v != "差", "回款信誉不能为“差”（选择原则：较高诚信度与较好信用）"),
            ("financial", "CUST-FINANCE-WEAK", lambda v: v != "弱", "财务状况不能为“弱”（选择原则：较强的财务能力）"),
            ("attitude", "CUST-ATTITUDE-NEG", lambda v: v != "消极", "合作态度不能为“消极”（选择原则：积极的合作态度）"),
            ("confidentiality", "CUST-CONFIDENTIALITY", lambda v: v == "是", "须有保密承诺（选择原则：遵守商业与技术保密原则）"),
            ("cost_level", "CUST-COST", lambda v: v == "符合", "成本水平须“符合”公司要求（选择原则：成本管理与成本水平）"),
        )
        for key, code, ok, rule in gates:
            v = getattr(c, key)
            if v is None and (C.name, i, C.header(key)) in self.unreadable:
                continue
            if v is None:
                self.add(code, E, C, i, key, f"认定状态为“{st}”的客户必须填写“{C.header(key)}”：{rule}。", cid)
            elif not ok(v):
                self.add(code, E, C, i, key,
                         f"认定状态为“{st}”，但{C.header(key)}为“{v}”：{rule}；请核实后更正，或将认定状态改回“调查中”。",
                         cid, v)

    def _agreement(self, c: Customer) -> None:
        i, cid, x = c.row_index, c.id, self.x
        if not c.agreement_type:
            self.add("CUST-AGREEMENT-MISSING", E, C, i, "agreement_type",
                     "已签约客户须注明协议类型（销售协议 或 VIP客户协议）。", cid)
        if not c.agreement_no:
            self.add("CUST-AGREEMENT-MISSING", E, C, i, "agreement_no",
                     "已签约客户须填写协议编号（与签署的《销售协议》/《VIP客户协议》一致）。", cid)
        if c.agreement_expiry is None:
            self.add("CUST-AGREEMENT-EXPIRED", E, C, i, "agreement_expiry", "已签约客户须填写协议到期日。", cid)
        elif c.agreement_expiry <= x.as_of:
            self.add("CUST-AGREEMENT-EXPIRED", E, C, i, "agreement_expiry",
                     f"协议已于 {c.agreement_expiry:%Y-%m-%d} 到期：请续签并更新协议编号和到期日，或调整认定状态。",
                     cid, c.agreement_expiry)
        elif (c.agreement_expiry - x.as_of).days < x.settings.agreement_warn_days:
            days = (c.agreement_expiry - x.as_of).days
            self.add("CUST-AGREEMENT-EXPIRING", W, C, i, "agreement_expiry",
                     f"协议将在 {days} 天后（{c.agreement_expiry:%Y-%m-%d}）到期：请尽快安排续签。", cid,
                     c.agreement_expiry)

    def _id_and_customer(self, table: L.TableDef, prefix: str, rec, seen: dict[str, int], missing_sev: str,
                         missing_msg: str, dup_fix: str, customer_fix: str) -> None:
        """Record ids unique and present; the customer reference filled and known."""
        i, cid, label = rec.row_index, rec.customer_id, table.header("id")
        if not rec.id:
            self.add(f"{prefix}-ID-MISSING", missing_sev, table, i, "id", missing_msg, cid)
        elif rec.id in seen:
            self.add(f"{prefix}-ID-DUP", E, table, i, "id",
                     f"{label} {rec.id} 与第 {self.row(table, seen[rec.id])} 行重复：{dup_fix}。", cid, rec.id)
        else:
            seen[rec.id] = i
        if not cid:
            self.add(f"{prefix}-CUSTOMER-MISSING", E, table, i, "customer_id", f"未填写客户编号：{customer_fix}。")
        elif cid not in self.customer_ids:
            self.add(f"{prefix}-CUSTOMER-UNKNOWN", E, table, i, "customer_id",
                     f"客户编号 {cid} 在客户档案中不存在：请更正编号或先在客户档案中建档。", cid, cid)

    # -- visits -------------------------------------------------------------------
    PLAN_FIELDS = ("planned_date", "place", "staff", "attendee", "purpose", "content", "expected")

    def visits(self) -> None:
        seen: dict[str, int] = {}
        for v in self.x.visits:
            i, cid = v.row_index, v.customer_id
            self._id_and_customer(V, "VISIT", v, seen, W, "拜访编号为空：请填写唯一编号（如 BF000123）。",
                                  "请改为新编号", "请填写所拜访客户的编号")
            state = v.state
            if state in ("待审批", "已批准", "已完成"):
                missing = [V.header(k) for k in self.PLAN_FIELDS if getattr(v, k) in (None, "")]
                for k in self.PLAN_FIELDS:
                    if getattr(v, k) in (None, ""):
                        self.add("VISIT-PLAN-INCOMPLETE", E, V, i, k,
                                 f"拜访计划须包括时间、地点、人员、拜访对象、目的、内容和预期效果；本条缺少“{V.header(k)}”"
                                 f"（共缺 {len(missing)} 项），请补全后再提交审批。", cid)
            if state in ("已批准", "已完成"):
                for k, who in (("dept_approval", "部门经理"), ("exec_approval", "公司领导")):
                    val = getattr(v, k)
                    if approval(val) != "同意":  # 同意, or the approver's name
                        self.add("VISIT-APPROVAL-MISSING", E, V, i, k,
                                 f"状态为“{state}”的拜访计划须经{who}审批同意（当前：{val or '未审批'}）；"
                                 f"请补办审批，或把状态改回“待审批”。", cid, val)
            if v.exec_approval and not v.dept_approval:
                self.add("VISIT-APPROVAL-ORDER", W, V, i, "dept_approval",
                         "拜访计划应先由部门经理审批，再上报公司领导；请补记部门经理审批。", cid)
            if state == "已完成":
                if v.actual_date is None:
                    self.add("VISIT-DONE-INCOMPLETE", E, V, i, "actual_date",
                             "已完成的拜访须填写实际日期。", cid)
                elif v.actual_date > self.x.as_of:
                    self.add("VISIT-DATE-FUTURE", W, V, i, "actual_date",
                             f"实际日期 {v.actual_date:%Y-%m-%d} 晚于基准日期，已完成的拜访不应在未来：请核对日期。",
                             cid, v.actual_date)
                if not v.outcome:
                    self.add("VISIT-DONE-INCOMPLETE", E, V, i, "outcome",
                             "已完成的拜访须填写拜访结果（整理拜访笔记、起草拜访报告）。", cid)

    # -- receivables --------------------------------------------------------------
    def receivables(self) -> None:
        x = self.x
        seen: dict[str, int] = {}
        names = {c.id: c.name for c in x.customers if c.id}
        per_customer: dict[str, list[tuple[Receivable, int, str]]] = defaultdict(list)
        for r in x.receivables:
            i, cid = r.row_index, r.customer_id
            self._id_and_customer(R, "RECV", r, seen, E, "单据号为空：请填写发票或单据号。",
                                  "同一单据只应登记一次", "请填写该单据所属客户的编号")
            if (r.amount is None and self.missing(R, i, "amount", r.amount)) or (r.amount is not None and r.amount <= 0):
                self.add("RECV-AMOUNT-INVALID", E, R, i, "amount", "金额须为大于 0 的数字。", cid, r.amount)
            elif r.paid is not None and not (0 <= r.paid <= r.amount + 0.005):
                self.add("RECV-PAID-RANGE", E, R, i, "paid",
                         f"已回款 {r.paid:,.2f} 应在 0 到金额 {r.amount:,.2f} 之间：请核对回款金额（多收部分应另行登记）。",
                         cid, r.paid)
            if self.missing(R, i, "invoice_date", r.invoice_date):
                self.add("RECV-DATE-MISSING", E, R, i, "invoice_date", "请填写开票日期。", cid)
            if self.missing(R, i, "due_date", r.due_date):
                self.add("RECV-DATE-MISSING", E, R, i, "due_date", "请填写到期日（按合同账期计算）。", cid)
            if r.invoice_date and r.due_date and r.due_date < r.invoice_date:
                self.add("RECV-DUE-BEFORE-INVOICE", E, R, i, "due_date",
                         f"到期日 {r.due_date:%Y-%m-%d} 早于开票日期 {r.invoice_date:%Y-%m-%d}：请更正。", cid)
            if (r.paid or 0) > 0 and r.paid_date is None:
                self.add("RECV-PAID-DATE-MISSING", W, R, i, "paid_date",
                         "有回款金额但未填写回款日期：请补填，以便准确推算回款信誉。", cid)
            if r.paid_date and r.invoice_date and r.paid_date < r.invoice_date:
                self.add("RECV-PAID-DATE-INVALID", W, R, i, "paid_date",
                         "回款日期早于开票日期：请核对（预收款应单独登记）。", cid)
            level = None
            if r.amount and r.amount > 0 and r.due_date and (r.paid is None or r.paid <= r.amount + 0.005):
                days = overdue_days(r.due_date, r.open_amount, x.as_of)
                level = dunning_level(days, x.settings)
                if level and cid:
                    per_customer[cid].append((r, days, level))
            self.dunning_levels[i] = level
        for cid, items in per_customer.items():
            worst = max(items, key=lambda t: (dunning_rank(t[2]), t[1]))
            total = round(sum(r.open_amount for r, _, _ in items), 2)
            d = Dunning(cid, names.get(cid), worst[2], len(items), total, worst[1], self.row(R, worst[0].row_index))
            self.dunning.append(d)
            self.add("RECV-DUNNING", W, R, worst[0].row_index, "dunning_level",
                     f"客户 {cid} {d.customer_name or ''} 逾期 {d.invoices} 笔，未回 {total:,.2f} 元，最长逾期 {d.worst_days} 天："
                     f"建议 {d.level}（按客户一次性催讨全部逾期款）。", cid, d.level)
        self.dunning.sort(key=lambda d: (-dunning_rank(d.level), -d.overdue_amount))

    def rule_table(self) -> None:
        for idx, header, msg in validate_rules(self.x.rules):
            self.rep.add("RULE-TABLE", E, L.TIER_RULES.sheet, self.row(L.TIER_RULES, idx), header,
                         msg + "；请在分级规则表中更正。")
        orders = [r for r in self.x.rules if r.tier]
        if not orders:
            self.rep.add("RULE-TABLE", E, L.TIER_RULES.sheet, None, None,
                         "分级规则表为空：请至少保留一条规则（可用“新建”生成的默认规则）。")
