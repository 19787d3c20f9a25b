"""Every problem an action can report, as a typed object with a registered code.

A `Code` is the stable id of one kind of problem (shown in 校验结果 规则), its severity
and the template its message is made from; `CODES` registers them all.  A `Problem` is
one occurrence, found while reading a table (a cell that is not what its column takes)
or by a check; `Finding` (findings.py) is the problem placed on an Excel row.

In the spirit of frictionless-py's errors: a class of problem knows its code and
message template, an occurrence carries only its place and its values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import layout as L

E, W = L.ERROR, L.WARNING


@dataclass(frozen=True)
class Code:
    code: str
    severity: str
    title: str      # what the check is, in a few words (the user guide lists them)
    template: str   # the message, str.format'ted with the occurrence's fields ({column} is its header)

    def message(self, **fields: Any) -> str:
        return self.template.format(**fields)


CODES: dict[str, Code] = {}


def _code(code: str, severity: str, title: str, template: str) -> None:
    if code in CODES:
        raise ValueError(f"problem code {code} registered twice")
    CODES[code] = Code(code, severity, title, template)


def code(name: str) -> Code:
    """The registered code; an unregistered one is a programming error."""
    try:
        return CODES[name]
    except KeyError:
        raise KeyError(f"problem code {name} is not registered in domain/problems.py") from None


# -- cells that are not what their column takes (found while reading) ------------
_code("CELL-ERROR-VALUE", E, "单元格为错误值", "{detail}，请更正。")
# per table: a value of the wrong type, a value outside the column's list
TYPE_CODES: dict[str, tuple[str, str]] = {}
for _t, _p, _what in ((L.CUSTOMERS, "CUST", "客户档案"), (L.VISITS, "VISIT", "拜访记录"),
                      (L.RECEIVABLES, "RECV", "应收账款"), (L.TIER_RULES, "RULE", "分级规则"),
                      (L.CERTIFICATIONS, "CERT", "认定申请"), (L.COMPLAINTS, "COMPLAINT", "客户投诉"),
                      (L.SURVEYS, "SURVEY", "满意度调查")):
    _code(f"{_p}-TYPE", E, f"{_what}：数据类型不符", "{detail}，请更正。")
    _code(f"{_p}-ENUM", E, f"{_what}：不在可选值中", "{detail}，请更正。")
    TYPE_CODES[_t.name] = (f"{_p}-TYPE", f"{_p}-ENUM")
_code("SETTINGS-INVALID", E, "参数值无法识别",
      "参数“{key}”的值“{value}”无法识别，应填写{expect}；改正前重新分级和生成报表不会运行")

# -- ids and customer references of the record tables ------------------------------
# table → (id missing, id duplicated, customer missing, customer unknown)
ID_CODES: dict[str, tuple[str, str, str, str]] = {}
for _t, _p, _sev, _fix, _cust in (
        (L.VISITS, "VISIT", W, "请改为新编号", "请填写所拜访客户的编号"),
        (L.RECEIVABLES, "RECV", E, "同一单据只应登记一次", "请填写该单据所属客户的编号"),
        (L.CERTIFICATIONS, "CERT", W, "请改为新编号", "请填写该申请所属客户的编号"),
        (L.COMPLAINTS, "COMPLAINT", W, "请改为新编号", "请填写该投诉所属客户的编号"),
        (L.SURVEYS, "SURVEY", W, "请改为新编号", "请填写该调查所属客户的编号")):
    _example = f"（如 {_t.id_prefix}000123）" if _t.id_prefix else ""
    _code(f"{_p}-ID-MISSING", _sev, f"{_t.sheet}：编号为空",
          "{column}为空：" + ("请填写发票或单据号。" if _t is L.RECEIVABLES else f"请填写唯一编号{_example}。"))
    _code(f"{_p}-ID-DUP", E, f"{_t.sheet}：编号重复", "{column} {value} 与第 {first} 行重复：" + _fix + "。")
    _code(f"{_p}-CUSTOMER-MISSING", E, f"{_t.sheet}：未填客户编号", "未填写客户编号：" + _cust + "。")
    _code(f"{_p}-CUSTOMER-UNKNOWN", E, f"{_t.sheet}：客户编号不存在",
          "客户编号 {value} 在客户档案中不存在：请更正编号或先在客户档案中建档。")
    ID_CODES[_t.name] = (f"{_p}-ID-MISSING", f"{_p}-ID-DUP", f"{_p}-CUSTOMER-MISSING", f"{_p}-CUSTOMER-UNKNOWN")

# -- customers ---------------------------------------------------------------------
_code("CUST-ID-MISSING", E, "客户编号为空",
      "客户编号为空：请填写客户名称（有名称的行在下次重新分级、全面校验或导入时自动编号），或填写唯一编号（如 KH000123）。")
_code("CUST-NAME-MISSING", E, "客户名称为空", "客户名称为空：请填写客户全称。")
_code("CUST-ID-DUP", E, "客户编号重复",
      "客户编号 {value} 重复（第 {rows} 行）：每个客户编号必须唯一，请改为新编号或合并记录。")
_code("CUST-NAME-DUP", E, "客户名称重复",
      "客户名称“{value}”与第 {rows} 行是同一名称（忽略全半角、空格、括号差异）：请合并为一条客户记录。")
_code("CUST-STAFF-FEW", E, "重要客户对接人员不足",
      "该客户{why}，属重要客户，须有至少 {need} 名不同的对接人员（当前 {count} 名：{names}）；"
      "请在“对接人员”中用“、”分隔补充人员。")
_code("CUST-VISIT-OVERDUE", W, "A 类客户拜访逾期",
      "{tier} 客户应至少每 {days} 天拜访一次，{since}；请安排拜访并在“拜访记录”登记。")
_CERT_MISSING = "认定状态为“{status}”的客户必须填写“{column}”：{rule}。"
_CERT_BAD = "认定状态为“{status}”，但{column}为“{value}”：{rule}；请核实后更正，或将认定状态改回“调查中”。"
# the selection principles (seed 第3条): code → (the rule, what is not allowed / required)
PRINCIPLE_CODES = {
    "CUST-CREDIT-BAD": ("credit", "回款信誉不能为“差”（选择原则：较高诚信度与较好信用）"),
    "CUST-FINANCE-WEAK": ("financial", "财务状况不能为“弱”（选择原则：较强的财务能力）"),
    "CUST-ATTITUDE-NEG": ("attitude", "合作态度不能为“消极”（选择原则：积极的合作态度）"),
    "CUST-CONFIDENTIALITY": ("confidentiality", "须有保密承诺（选择原则：遵守商业与技术保密原则）"),
    "CUST-COST": ("cost_level", "成本水平须“符合”公司要求（选择原则：成本管理与成本水平）"),
}
for _c, (_key, _rule) in PRINCIPLE_CODES.items():
    _code(_c, E, _rule.split("（")[0], "{text}")
_code("CUST-AGREEMENT-MISSING", E, "已签约客户缺少协议信息", "已签约客户须{what}。")
_code("CUST-AGREEMENT-EXPIRED", E, "协议缺少到期日或已到期", "{text}")
_code("CUST-AGREEMENT-EXPIRING", W, "协议即将到期",
      "协议将在 {days} 天后（{expiry:%Y-%m-%d}）到期：请尽快安排续签。")

# -- visits ------------------------------------------------------------------------
_code("VISIT-PLAN-INCOMPLETE", E, "拜访计划不完整",
      "拜访计划须包括时间、地点、人员、拜访对象、目的、内容和预期效果；本条缺少“{column}”"
      "（共缺 {count} 项），请补全后再提交审批。")
_code("VISIT-APPROVAL-MISSING", E, "拜访计划未经审批",
      "状态为“{state}”的拜访计划须经{who}审批同意（当前：{current}）；请补办审批，或把状态改回“待审批”。")
_code("VISIT-APPROVAL-ORDER", W, "审批顺序不符", "拜访计划应先由部门经理审批，再上报公司领导；请补记部门经理审批。")
_code("VISIT-DONE-INCOMPLETE", E, "已完成的拜访缺少记录", "已完成的拜访须填写{what}。")
_code("VISIT-DATE-FUTURE", W, "实际日期在基准日期之后",
      "实际日期 {value:%Y-%m-%d} 晚于基准日期，已完成的拜访不应在未来：请核对日期。")

# -- receivables -------------------------------------------------------------------
_code("RECV-AMOUNT-INVALID", E, "金额无效", "金额须为大于 0 的数字。")
_code("RECV-PAID-RANGE", E, "已回款超出金额",
      "已回款 {value:,.2f} 应在 0 到金额 {amount:,.2f} 之间：请核对回款金额（多收部分应另行登记）。")
_code("RECV-DATE-MISSING", E, "缺少开票日期或到期日", "请填写{column}{hint}。")
_code("RECV-DUE-BEFORE-INVOICE", E, "到期日早于开票日期",
      "到期日 {due:%Y-%m-%d} 早于开票日期 {invoice:%Y-%m-%d}：请更正。")
_code("RECV-PAID-DATE-MISSING", W, "缺少回款日期", "有回款金额但未填写回款日期：请补填，以便准确推算回款信誉。")
_code("RECV-PAID-DATE-INVALID", W, "回款日期早于开票日期", "回款日期早于开票日期：请核对（预收款应单独登记）。")
_code("RECV-DUNNING", W, "逾期应催讨",
      "客户 {customer_id} {customer_name} 逾期 {invoices} 笔，未回 {total:,.2f} 元，最长逾期 {days} 天："
      "建议 {value}（按客户一次性催讨全部逾期款）。")

# -- the rule table ------------------------------------------------------------------
_code("RULE-TABLE", E, "分级规则表有误", "{detail}")

# -- §10: applications, complaints, surveys ------------------------------------------
_code("CERT-FIELD-STAFF", E, "实地调查人数不足",
      "实地调查须由至少 2 人会同进行（大客户经理、主管等），当前：{names}；请补记参加人员。")
_code("CERT-FIELD-MANAGER", W, "实地调查未会同客户经理",
      "实地调查人员中没有该客户的客户经理 {manager}：种子制度要求会同大客户经理、主管调查；请核实并补记。")
_code("CERT-INVESTIGATION-INCOMPLETE", E, "调查未完成即审批",
      "审批或认定前须完成一般调查和实地调查；本申请缺少：{gaps}。")
_code("CERT-APPROVAL-MISSING", E, "认定缺少审批",
      "认定结果为“通过”，但缺少{who}的同意（当前：{current}）；请补办审批，或把认定结果改为“待定”。")
_code("CERT-PRINCIPLE", E, "选择原则未全部符合",
      "认定结果为“通过”，但选择原则“{principles}”未确认为“符合”：五项原则都符合才能认定。")
_code("CERT-APPROVAL-DATE", W, "缺少审批日期", "认定通过的申请请填写审批日期。")
_code("CERT-APPROVAL-ORDER", W, "审批顺序不符", "认定申请应先经部门经理审批，再报公司领导。")
_code("CUST-CERT-NO-APPLICATION", E, "申请认定但没有完成调查的申请",
      "认定状态为“申请认定”，但“认定申请”表中没有该客户一般调查和实地调查都已完成的申请："
      "请先完成调查并填写客户认定申请表，或把认定状态改回“调查中”。")
_code("CUST-CERT-NOT-APPROVED", E, "已认定但没有通过的申请",
      "认定状态为“{value}”须有认定结果“通过”、部门经理和公司领导都同意、五项原则都符合的认定申请；"
      "{why}。请补齐认定申请，或把认定状态改回“申请认定”。")
_code("COMPLAINT-OVERDUE", E, "投诉超过处理期限",
      "投诉已过处理期限 {value:%Y-%m-%d} 仍未解决（状态：{state}）：请立即处理并向客户反馈，解决后填写解决日期和状态。")
_code("COMPLAINT-MAJOR-NO-LEADER", W, "重大投诉无领导参与",
      "重大投诉须有公司领导参与处理{hint}，当前处理人：{handler}。")
_code("COMPLAINT-CLOSED-NO-CONFIRM", W, "投诉关闭无客户确认",
      "投诉已关闭但没有客户确认：请回访客户，记录其对处理结果的确认（满意/基本满意/不满意）。")
_code("COMPLAINT-NO-RESOLVED-DATE", W, "缺少解决日期", "已解决的投诉请填写解决日期。")
_code("CUST-MAJOR-COMPLAINT-OPEN", W, "A 类客户有未解决的重大投诉",
      "{tier} 客户有 {count} 起未解决的重大投诉（{ids}）：请优先处理，并在下次分级评审中考虑。")
_code("SURVEY-LOW-NO-FOLLOWUP", W, "低分调查无跟进",
      "综合得分 {value:g} 低于 {below:g}，但 {date:%Y-%m-%d} 后 {days} 天内没有计划跟进拜访：请在“拜访记录”安排跟进。")
_code("CUST-SURVEY-DUE", W, "满意度调查到期",
      "{tier} 已认定客户应至少每 {days} 天做一次满意度调查或电话回访评分，{since}；请安排调查并在“满意度调查”登记。")

# -- what the store found around the tables (notices) --------------------------------
_code("TABLE-ROWS-TAKEN-IN", W, "表格下方键入的行已纳入表格", "{detail}")
_code("TABLE-ROWS-OUTSIDE", W, "表格外的数据行", "{detail}")


@dataclass(frozen=True)
class Problem:
    """One problem found while reading a table: a cell that is not what its column takes,
    a Settings value that cannot be read.  `index` is the row within the table body."""
    code: str
    table: str
    index: int | None
    column: str | None
    value: Any = None
    message: str = ""
    fields: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def severity(self) -> str:
        return code(self.code).severity


def problem(name: str, table: str, index: int | None, column: str | None, value: Any = None,
            **fields: Any) -> Problem:
    """A problem whose message comes from its code's template."""
    text = code(name).message(column=column, value=value, **fields)
    return Problem(name, table, index, column, value, text, fields)
