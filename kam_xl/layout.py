"""The one place that knows the master workbook's shape (PRODUCT.md §2).

Sheet names, table names, headers in order, enumerations, number formats and
column widths live here as data.  Nothing else in the code base spells a sheet
name, a header or a cell address.
"""
from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------
# Enumerations
CUSTOMER_TYPES = ("协议大客户", "会员大客户")
CREDITS = ("好", "较好", "一般", "差")  # best first
GROWTHS = ("高", "中", "低")
FINANCIALS = ("强", "中", "弱")
ATTITUDES = ("积极", "一般", "消极")
YES_NO = ("是", "否")
COST_LEVELS = ("符合", "不符合")
STATUSES = ("潜在", "调查中", "申请认定", "已认定", "已签约", "停用")
CERTIFIED_STATUSES = ("已认定", "已签约")
AGREEMENT_TYPES = ("销售协议", "VIP客户协议")
TIERS = ("A1", "A2", "B1", "B2", "C", "D", "非大客户")
IMPORTANT_TIERS = ("A1", "A2")
A_TIERS = ("A1", "A2")
VISIT_METHODS = ("实地拜访", "电话回访", "客户活动", "接待来访")
VISIT_STATES = ("草稿", "待审批", "已批准", "已完成", "已取消")
APPROVALS = ("同意", "驳回")
# an amount within this of zero is settled; two amounts this close are the same (money is
# kept to the fen): the native formulas, the domain, the import and the reports all use it
SETTLED = 0.005
AGING_BUCKETS = ("未到期", "1-30天", "31-60天", "61-90天", "91-180天", "180天以上", "已结清")
OVERDUE_BUCKETS = AGING_BUCKETS[1:6]
# the upper bound (days overdue, inclusive) of 未到期, 1-30天 … 91-180天; beyond the last: 180天以上.
# The domain (receivables.aging_bucket) and the native formula (formulas.aging_formula) both use it
AGING_BOUNDS = (0, 30, 60, 90, 180)
DUNNING_LEVELS = ("1级-电话提醒", "2级-书面催告", "3级-上门催收", "4级-法律途径")
PRINCIPLE_RESULTS = ("符合", "不符合", "待查")
CERT_RESULTS = ("通过", "不通过", "待定")
COMPLAINT_CHANNELS = ("电话", "邮件", "来访", "拜访中", "其他")
COMPLAINT_KINDS = ("产品质量", "交付", "服务", "价格", "账务", "其他")
COMPLAINT_LEVELS = ("一般", "严重", "重大")
COMPLAINT_STATES = ("待处理", "处理中", "已解决", "已关闭")
COMPLAINT_OPEN = COMPLAINT_STATES[:2]
CONFIRMATIONS = ("满意", "基本满意", "不满意")
SURVEY_METHODS = ("电话回访", "问卷", "拜访", "线上")
# the values the rules name (the code spells them through these, never as literals)
PROSPECT, INVESTIGATING, APPLYING, CERTIFIED, SIGNED, INACTIVE = STATUSES
DRAFT, PENDING, APPROVED, DONE, CANCELLED = VISIT_STATES
AGREE, REJECT = APPROVALS
PASSED, NOT_PASSED, UNDECIDED = CERT_RESULTS
CONFORMS = COST_LEVELS[0]  # = PRINCIPLE_RESULTS[0]
YES = YES_NO[0]
CREDIT_BAD, FINANCIAL_WEAK, ATTITUDE_NEGATIVE = CREDITS[-1], FINANCIALS[-1], ATTITUDES[-1]
COMPLAINT_RESOLVED, COMPLAINT_CLOSED = COMPLAINT_STATES[2:]
COMPLAINT_MAJOR = COMPLAINT_LEVELS[-1]
SEVERITIES = ("错误", "警告")
ERROR, WARNING = SEVERITIES

# --------------------------------------------------------------------------
# Column kinds and formats
TEXT, INT, MONEY, PERCENT, DATE, DATETIME, ENUM, NUMBER = (
    "text", "int", "money", "percent", "date", "datetime", "enum", "number")

FORMATS = {
    MONEY: "#,##0.00",
    PERCENT: "0.0%",
    DATE: "yyyy-mm-dd",
    DATETIME: "yyyy-mm-dd hh:mm:ss",
    INT: "0",
    NUMBER: "0",
    TEXT: "@",
}


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    kind: str = TEXT
    choices: tuple[str, ...] = ()
    width: float = 12
    required: bool = False
    # An Excel formula template using {col:KEY} placeholders for the same
    # row's cell address; columns with a formula are computed, not entered.
    formula: str | None = None
    lo: float | None = None
    hi: float | None = None
    # an enumerated column whose drop-down only warns (other values allowed)
    soft_choices: bool = False
    # added after books were in use: a book made before lacks it, and every action
    # still runs there (without what the column adds)
    added: bool = False


@dataclass(frozen=True)
class TableDef:
    name: str
    sheet: str
    columns: tuple[Column, ...]
    first_row: int = 1  # Excel row of the header
    first_col: int = 0  # 0-based column of the first header
    id_key: str | None = None
    id_prefix: str | None = None
    style: str = "Table Style Medium 2"

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def required_headers(self) -> list[str]:
        """The headers every book has (not the columns added since books were in use)."""
        return [c.header for c in self.columns if not c.added]

    def col(self, key: str) -> Column:
        by_key = self.__dict__.get("_by_key")
        if by_key is None:  # frozen: the lookup table is made once, on first use
            by_key = {c.key: c for c in self.columns}
            object.__setattr__(self, "_by_key", by_key)
        return by_key[key]

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def header(self, key: str) -> str:
        names = self.__dict__.get("_header_of")
        if names is None:  # the commonest lookup (rows are made by key): one dict, made once
            names = {c.key: c.header for c in self.columns}
            object.__setattr__(self, "_header_of", names)
        return names[key]

    @property
    def keys(self) -> frozenset[str]:
        self.col(self.columns[0].key)  # makes the lookup table
        return self.__dict__["_by_key"].keys()

    def headers_of(self, keys) -> list[str]:
        return [self.header(k) for k in keys]

    def by_header(self) -> dict[str, Column]:
        return {c.header: c for c in self.columns}

    def row(self, **values) -> dict[str, object]:
        """A row of this table from column keys: row(customer_id="KH1") → {"客户编号": "KH1"}."""
        return {self.header(k): v for k, v in values.items()}


C = Column

# Calculated columns are native Excel formulas (PRODUCT.md §2); these two are generated
# by workbook/formulas.py (the tier formula reads the TierRules table)
NATIVE_TIER = "{native:tier}"
NATIVE_AGING = "{native:aging}"
ASOF_NAME = "KAM_ASOF"  # defined name: 首页 as-of cell

# --------------------------------------------------------------------------
# Sheets
SHEET_HOME = "首页"
SHEET_CUSTOMERS = "客户档案"
SHEET_VISITS = "拜访记录"
SHEET_RECEIVABLES = "应收账款"
SHEET_RULES = "分级规则"
SHEET_GRADELOG = "调级记录"
SHEET_ISSUES = "校验结果"
SHEET_IMPORTLOG = "导入报告"
SHEET_XLWINGS_CONF = "xlwings.conf"

CUSTOMERS = TableDef(
    name="Customers", sheet=SHEET_CUSTOMERS, id_key="id", id_prefix="KH",
    columns=(
        C("客户编号", "id", width=11),
        C("客户名称", "name", width=30, required=True),
        C("客户类型", "customer_type", ENUM, CUSTOMER_TYPES, width=12),
        C("行业", "industry", width=10),
        C("区域", "region", width=8),
        C("客户经理", "manager", width=9),
        C("对接人员", "staff", width=16),
        C("联系人", "contact", width=8),
        C("联系电话", "phone", width=14),
        C("年用量(元)", "volume", MONEY, width=15, lo=0),
        C("利润率", "margin", PERCENT, width=8, lo=-1, hi=1),
        C("回款信誉", "credit", ENUM, CREDITS, width=9),
        C("增长潜力", "growth", ENUM, GROWTHS, width=9),
        C("财务状况", "financial", ENUM, FINANCIALS, width=9),
        C("合作态度", "attitude", ENUM, ATTITUDES, width=9),
        C("保密承诺", "confidentiality", ENUM, YES_NO, width=9),
        C("成本水平", "cost_level", ENUM, COST_LEVELS, width=9),
        C("认定状态", "status", ENUM, STATUSES, width=9),
        C("协议类型", "agreement_type", ENUM, AGREEMENT_TYPES, width=12),
        C("协议编号", "agreement_no", width=14),
        C("协议到期日", "agreement_expiry", DATE, width=11),
        C("客户等级", "tier", ENUM, TIERS, width=9, soft_choices=True),
        C("定级日期", "graded_on", DATE, width=11),
        C("建议等级", "suggested_tier", TEXT, width=9, formula=NATIVE_TIER),
        C("满意度", "satisfaction", NUMBER, width=7, lo=0, hi=100),
        C("建档日期", "created_on", DATE, width=11),
        C("备注", "note", width=24),
        # the credit derived from receivables (§3), written by regrade and validate; blank
        # when the customer has no receivables in the window.  建议等级 grades with it.
        C("推算信誉", "derived_credit", ENUM, CREDITS, width=9, added=True),
    ))

VISITS = TableDef(
    name="Visits", sheet=SHEET_VISITS, id_key="id", id_prefix="BF",
    columns=(
        C("拜访编号", "id", width=11),
        C("客户编号", "customer_id", width=11, required=True),
        C("拜访方式", "method", ENUM, VISIT_METHODS, width=10),
        C("计划日期", "planned_date", DATE, width=11),
        C("实际日期", "actual_date", DATE, width=11),
        C("地点", "place", width=14),
        C("拜访人员", "staff", width=14),
        C("拜访对象", "attendee", width=12),
        C("拜访目的", "purpose", width=18),
        C("拜访内容", "content", width=22),
        C("预期效果", "expected", width=16),
        C("拜访结果", "outcome", width=20),
        C("跟进事项", "follow_up", width=16),
        C("跟进期限", "follow_up_due", DATE, width=11),
        C("状态", "state", ENUM, VISIT_STATES, width=8),
        # 同意/驳回 from the drop-down, or the approver's name (counts as 同意, PRODUCT.md §10.1)
        C("部门经理审批", "dept_approval", ENUM, APPROVALS, width=12, soft_choices=True),
        C("公司领导审批", "exec_approval", ENUM, APPROVALS, width=12, soft_choices=True),
        C("备注", "note", width=20),
    ))

RECEIVABLES = TableDef(
    name="Receivables", sheet=SHEET_RECEIVABLES, id_key="id",
    columns=(
        C("单据号", "id", width=14, required=True),
        C("客户编号", "customer_id", width=11, required=True),
        C("开票日期", "invoice_date", DATE, width=11),
        C("金额", "amount", MONEY, width=14),  # > 0: a domain check
        C("到期日", "due_date", DATE, width=11),
        C("已回款", "paid", MONEY, width=14),  # 0..金额: a domain check
        C("回款日期", "paid_date", DATE, width=11),
        C("未回款", "outstanding", MONEY, width=14,
          formula='IF(ISNUMBER(--{col:amount})*({col:amount}<>""),ROUND(--{col:amount}-IFERROR(--{col:paid},0),2),"")'),
        C("逾期天数", "overdue_days", INT, width=9,
          formula='IF({col:outstanding}="","",IF({col:outstanding}<=' + repr(SETTLED) + ',0,'
                  'IF(ISNUMBER({col:due_date}),MAX(0,' + ASOF_NAME + '-INT({col:due_date})),"")))'),
        C("账龄", "aging", ENUM, AGING_BUCKETS, width=10, formula=NATIVE_AGING),
        C("催收人", "collector", width=9),
        C("催讨级别", "dunning_level", ENUM, DUNNING_LEVELS, width=13),
        C("最近催讨日期", "last_dunning_date", DATE, width=12),
        C("备注", "note", width=20),
    ))

TIER_RULES = TableDef(
    name="TierRules", sheet=SHEET_RULES, style="Table Style Medium 4",
    columns=(
        C("顺序", "order", INT, width=6, required=True),
        C("等级", "tier", width=9, required=True),
        C("年用量下限(含)", "volume_min", MONEY, width=15),
        C("年用量上限(不含)", "volume_max", MONEY, width=15),
        C("最低回款信誉", "min_credit", ENUM, CREDITS, width=12),
        C("利润率下限(含)", "margin_min", PERCENT, width=13),
        C("利润率上限(不含)", "margin_max", PERCENT, width=13),
        C("增长潜力", "growth", width=12),
        C("附加条件", "extra", width=26),
        C("说明", "description", width=70),
    ))

SETTINGS = TableDef(
    name="Settings", sheet=SHEET_RULES, first_col=11, style="Table Style Medium 4",
    columns=(
        C("参数", "key", width=22, required=True),
        C("值", "value", width=12),
        C("说明", "description", width=50),
    ))

GRADE_LOG = TableDef(
    name="GradeLog", sheet=SHEET_GRADELOG, style="Table Style Medium 7",
    columns=(
        C("时间", "time", DATETIME, width=19),
        C("客户编号", "customer_id", width=11),
        C("客户名称", "customer_name", width=28),
        C("原等级", "old_tier", width=8),
        C("新等级", "new_tier", width=8),
        C("依据", "reason", width=90),
        C("操作人", "operator", width=10),
        C("规则版本", "rules_version", width=14),
        # the as-of date the change was graded at: reports count changes by it, never by the clock
        C("基准日期", "as_of", DATE, width=11, added=True),
    ))

ISSUES = TableDef(
    name="Issues", sheet=SHEET_ISSUES, style="Table Style Medium 3",
    columns=(
        C("级别", "severity", ENUM, SEVERITIES, width=7),
        C("工作表", "sheet", width=10),
        C("行号", "row", INT, width=7),
        C("列", "column", width=12),
        C("规则", "rule", width=24),
        C("说明", "message", width=80),
        C("客户编号", "customer_id", width=11),
    ))

IMPORT_LOG = TableDef(
    name="ImportLog", sheet=SHEET_IMPORTLOG, style="Table Style Medium 5",
    columns=(
        C("时间", "time", DATETIME, width=19),
        C("文件", "file", width=30),
        C("工作表", "sheet", width=12),
        C("行号", "row", INT, width=7),
        C("结果", "outcome", width=8),
        C("目标", "target", width=10),
        C("记录编号", "record_id", width=12),
        C("说明", "message", width=80),
    ))

SHEET_CERTIFICATIONS = "认定申请"
SHEET_COMPLAINTS = "客户投诉"
SHEET_SURVEYS = "满意度调查"

PRINCIPLES = ("integrity", "financial", "attitude", "confidentiality", "cost_level")  # the seed's 第5条

CERTIFICATIONS = TableDef(
    name="Certifications", sheet=SHEET_CERTIFICATIONS, id_key="id", id_prefix="RD", style="Table Style Medium 6",
    columns=(
        C("申请编号", "id", width=11),
        C("客户编号", "customer_id", width=11, required=True),
        C("申请日期", "applied_on", DATE, width=11),
        C("申请人", "applicant", width=9),
        C("一般调查日期", "general_date", DATE, width=12),
        C("一般调查结论", "general_result", width=30),
        C("实地调查日期", "field_date", DATE, width=12),
        C("实地调查人员", "field_staff", width=16),
        C("实地调查结论", "field_result", width=30),
        C("交易理由及基本方针", "reason", width=30),
        C("交易商品目录", "products", width=24),
        C("预计年交易金额(元)", "expected_amount", MONEY, width=16, lo=0),
        C("诚信与信用", "integrity", ENUM, PRINCIPLE_RESULTS, width=10),
        C("财务能力", "financial", ENUM, PRINCIPLE_RESULTS, width=9),
        C("合作态度", "attitude", ENUM, PRINCIPLE_RESULTS, width=9),
        C("保密承诺", "confidentiality", ENUM, PRINCIPLE_RESULTS, width=9),
        C("成本水平", "cost_level", ENUM, PRINCIPLE_RESULTS, width=9),
        C("部门经理意见", "dept_approval", ENUM, APPROVALS, width=12, soft_choices=True),
        C("公司领导意见", "exec_approval", ENUM, APPROVALS, width=12, soft_choices=True),
        C("审批日期", "approved_on", DATE, width=11),
        C("认定结果", "result", ENUM, CERT_RESULTS, width=9),
        C("协议类型", "agreement_type", ENUM, AGREEMENT_TYPES, width=12),
        C("协议编号", "agreement_no", width=14),
        C("备注", "note", width=20),
    ))

COMPLAINTS = TableDef(
    name="Complaints", sheet=SHEET_COMPLAINTS, id_key="id", id_prefix="TS", style="Table Style Medium 10",
    columns=(
        C("投诉编号", "id", width=11),
        C("客户编号", "customer_id", width=11, required=True),
        C("投诉日期", "date", DATE, width=11),
        C("投诉渠道", "channel", ENUM, COMPLAINT_CHANNELS, width=9),
        C("投诉类别", "kind", ENUM, COMPLAINT_KINDS, width=9),
        C("投诉内容", "content", width=30),
        C("严重程度", "level", ENUM, COMPLAINT_LEVELS, width=9),
        C("受理人", "receiver", width=9),
        C("处理人", "handler", width=12),
        C("处理措施", "measures", width=26),
        C("处理期限", "due", DATE, width=11),
        C("解决日期", "resolved_on", DATE, width=11),
        C("状态", "state", ENUM, COMPLAINT_STATES, width=8),
        C("客户确认", "confirmation", ENUM, CONFIRMATIONS, width=9),
        C("备注", "note", width=20),
    ))

SCORE_KEYS = ("quality", "delivery", "service", "response", "price")


def _score_formula() -> str:
    """综合得分: each score counts when it is a number from 1 to 5 (its whole part, as the typed
    record reads it); text and other numbers are left out, as the validator reports them."""
    ok = "(ISNUMBER({s})*(N({s})>=1)*(N({s})<=5))"
    count = "+".join(ok.format(s=f"{{col:{k}}}") for k in SCORE_KEYS)
    total = "+".join(f"INT(N({{col:{k}}}))*" + ok.format(s=f"{{col:{k}}}") for k in SCORE_KEYS)
    return f'IF(({count})=0,"",ROUND(({total})/({count})*20,1))'


SURVEYS = TableDef(
    name="Surveys", sheet=SHEET_SURVEYS, id_key="id", id_prefix="MY", style="Table Style Medium 11",
    columns=(
        C("调查编号", "id", width=11),
        C("客户编号", "customer_id", width=11, required=True),
        C("调查日期", "date", DATE, width=11),
        C("调查方式", "method", ENUM, SURVEY_METHODS, width=9),
        C("调查人", "surveyor", width=9),
        C("产品质量", "quality", INT, width=8, lo=1, hi=5),
        C("交付及时", "delivery", INT, width=8, lo=1, hi=5),
        C("服务态度", "service", INT, width=8, lo=1, hi=5),
        C("问题响应", "response", INT, width=8, lo=1, hi=5),
        C("价格", "price", INT, width=7, lo=1, hi=5),
        # the mean of the 1–5 scores given, as 0–100 (blank when none is)
        C("综合得分", "score", NUMBER, width=9, formula=_score_formula()),
        C("意见建议", "suggestions", width=30),
        C("跟进事项", "follow_up", width=24),
    ))

DATA_TABLES = (CUSTOMERS, VISITS, RECEIVABLES)
PROCEDURE_TABLES = (CERTIFICATIONS, COMPLAINTS, SURVEYS)
ALL_TABLES = (CUSTOMERS, VISITS, RECEIVABLES, TIER_RULES, SETTINGS, GRADE_LOG, ISSUES, IMPORT_LOG,
              CERTIFICATIONS, COMPLAINTS, SURVEYS)
TABLES = {t.name: t for t in ALL_TABLES}
SHEET_ORDER = (SHEET_HOME, SHEET_CUSTOMERS, SHEET_VISITS, SHEET_RECEIVABLES, SHEET_CERTIFICATIONS,
               SHEET_COMPLAINTS, SHEET_SURVEYS, SHEET_RULES, SHEET_GRADELOG, SHEET_ISSUES, SHEET_IMPORTLOG,
               SHEET_XLWINGS_CONF)

# Import outcomes (导入报告 结果)
IMPORT_OUTCOMES = ("新增", "合并", "跳过", "拒绝")

# --------------------------------------------------------------------------
# Settings keys (分级规则 sheet, Settings table).  Values are defaults.
SETTING_TEXT, SETTING_DATE, SETTING_INT, SETTING_NUMBER = "text", "date", "int", "number"


@dataclass(frozen=True)
class SettingDef:
    key: str
    field: str
    default: object
    description: str
    text: bool = False  # a text value (names), not a number
    date: bool = False  # a date

    @property
    def kind(self) -> str:
        """How the value is read; the Settings model's field type follows from it."""
        if self.text:
            return SETTING_TEXT
        if self.date:
            return SETTING_DATE
        if isinstance(self.default, int) and not isinstance(self.default, bool):
            return SETTING_INT
        return SETTING_NUMBER


SETTING_DEFS = (
    SettingDef("基准日期", "as_of", None, "分级、账龄、催讨的计算日期；留空表示今天", date=True),
    SettingDef("拜访频率天数_A1", "visit_days_A1", 30, "A1 客户至少每 30 天一次已完成拜访（每月）"),
    SettingDef("拜访频率天数_A2", "visit_days_A2", 60, "A2 客户至少每 60 天一次（每两个月）"),
    SettingDef("拜访频率天数_B1", "visit_days_B1", 90, "B1 客户每季度一次"),
    SettingDef("拜访频率天数_B2", "visit_days_B2", 90, "B2 客户每季度一次"),
    SettingDef("拜访频率天数_C", "visit_days_C", 180, "C 类客户每半年一次"),
    SettingDef("拜访频率天数_D", "visit_days_D", 180, "D 类客户每半年一次"),
    SettingDef("信誉统计月数", "credit_months", 12, "按最近多少个月的应收账款推算回款信誉"),
    SettingDef("信誉好_最低准时率", "credit_good_ontime", 0.9, "回款信誉“好”：准时回款笔数占比不低于此值"),
    SettingDef("信誉好_最长逾期天数", "credit_good_late", 30, "回款信誉“好”：任何一笔逾期不超过此天数"),
    SettingDef("信誉较好_最低准时率", "credit_fair_ontime", 0.75, "回款信誉“较好”：准时率不低于此值"),
    SettingDef("信誉较好_最长逾期天数", "credit_fair_late", 60, "回款信誉“较好”：任何一笔逾期不超过此天数"),
    SettingDef("信誉差_准时率低于", "credit_bad_ontime", 0.5, "准时率低于此值即为“差”"),
    SettingDef("信誉差_逾期超过天数", "credit_bad_late", 90, "任何一笔逾期超过此天数即为“差”"),
    SettingDef("催讨1级_逾期天数", "dunning_1", 1, "逾期达到此天数：1级-电话提醒"),
    SettingDef("催讨2级_逾期天数", "dunning_2", 31, "逾期达到此天数：2级-书面催告"),
    SettingDef("催讨3级_逾期天数", "dunning_3", 61, "逾期达到此天数：3级-上门催收"),
    SettingDef("催讨4级_逾期天数", "dunning_4", 91, "逾期达到此天数：4级-法律途径"),
    SettingDef("协议到期预警天数", "agreement_warn_days", 60, "已签约客户的协议在此天数内到期时给出警告"),
    SettingDef("重要客户最少对接人数", "min_staff_important", 2, "A1/A2 及申请认定客户至少几名不同的对接人员"),
    SettingDef("公司年销售额(元)", "company_sales", None,
               "用于“销售占比”条件（大客户=占公司销售额 5% 以上）；留空则该条件无法计算"),
    SettingDef("备份保留份数", "backups_keep", 10, "每次写入前保留的时间戳备份份数"),
    SettingDef("满意度调查间隔天数_A1", "survey_days_A1", 90, "已认定的 A1 客户至少每 90 天一次满意度调查（或电话回访评分）"),
    SettingDef("满意度调查间隔天数_A2", "survey_days_A2", 180, "A2 客户每半年一次"),
    SettingDef("满意度调查间隔天数_B1", "survey_days_B1", 365, "B1 客户每年一次"),
    SettingDef("满意度调查间隔天数_B2", "survey_days_B2", 365, "B2 客户每年一次"),
    SettingDef("满意度调查间隔天数_C", "survey_days_C", 365, "C 类客户每年一次"),
    SettingDef("满意度调查间隔天数_D", "survey_days_D", 365, "D 类客户每年一次"),
    SettingDef("满意度跟进阈值", "survey_follow_below", 60.0, "综合得分低于此值须安排跟进拜访"),
    SettingDef("满意度跟进天数", "survey_follow_days", 14, "低分调查后多少天内须有跟进拜访计划"),
    SettingDef("公司领导名单", "leaders", None, "公司领导姓名（用“、”分隔）：重大投诉的处理人须有其中一位", text=True),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTING_DEFS}
SETTINGS_BY_FIELD = {s.field: s for s in SETTING_DEFS}

# Special names usable in TierRules 附加条件 besides customer headers.
SHARE_OF_SALES = "销售占比"

# --------------------------------------------------------------------------
# The default tier rule table (PRODUCT.md §3).  Each description says which
# hole of the seed's definitions it closes.
DEFAULT_TIER_RULES = (
    (1, "C", 200000, None, None, None, 0.05, "", "",
     "用量大(≥20万)但利润率<5%：种子中C类“用量较大，但对公司利润贡献率较低”。放在最前，"
     "使低利润大客户不会被评为A级；“较大”取20万，与A2下限一致。"),
    (2, "A1", 500000, None, "好", None, None, "", "",
     "年用量≥50万(含50万)且回款信誉好：种子A一级。“50万元以上”按含50万处理。"),
    (3, "A2", 200000, None, "较好", None, None, "", "",
     "年用量≥20万且回款信誉好或较好：种子A二级为20万–30万、信誉较好；本行同时填补"
     "30万–50万的空档，以及≥50万但信誉仅“较好”的情形（不够A1则降为A2）。"),
    (4, "B1", 50000, None, None, None, None, "高", "",
     "年用量≥5万且增长潜力高：种子B一级为5万–10万、潜力较大；同时填补10万–20万的空档，"
     "以及≥20万但回款信誉一般或差、够不上A级的客户（按潜力归B1）。"),
    (5, "B2", 20000, None, None, None, None, "", "",
     "年用量≥2万的其余客户：种子B二级为2万–5万、潜力较小；同时收纳5万以上但潜力不高、"
     "且不满足以上各行的客户，保证2万以上不出现“无等级”。"),
    (6, "D", None, 20000, None, 0.25, None, "高、中", "",
     "年用量<2万、利润率≥25%且增长潜力高或中：种子D类“用量较小，但利润率较高，有一定发展潜力”。"),
    (7, "非大客户", None, None, None, None, None, "", "",
     "其余客户（年用量<2万且利润率不高或无潜力）：不属于大客户，归入中小客户管理。"),
)

# --------------------------------------------------------------------------
# Home sheet
APP_TITLE = "大客户管理系统 kam_xl"
HOME_ASOF_LABEL_CELL = "A3"
HOME_ASOF_CELL = "B3"
HOME_STATUS_LABEL_CELL = "A5"
HOME_STATUS_CELL = "B5"


@dataclass(frozen=True)
class Button:
    caption: str
    macro: str  # the argument-free VBA Sub in KamButtons.bas
    action: str  # the function in kam_xl.xl.macros
    cell: str
    help: str


BUTTONS = (
    # two rows of three: the whole block fits a 1366×768 screen at 100%
    Button("重新分级", "KamRegrade", "regrade", "A8", "按分级规则表重新计算全部客户等级，变动写入调级记录"),
    Button("全面校验", "KamValidate", "validate", "C8", "检查大客户选择原则、拜访计划与审批、应收账款，结果写入校验结果"),
    Button("生成报表", "KamReport", "report", "E8",
           "生成管理报表（分级分布、账龄、催讨清单、拜访执行、绩效考核）和月度例会材料（上月总结、下月计划）"),
    Button("导入历史档案", "KamImport", "import_archives", "A10", "选择旧的客户档案表格（xls/xlsx/csv），合并导入本工作簿"),
    Button("打印认定申请表", "KamForm", "form", "C10", "输入客户编号或名称，生成该客户的《客户认定申请表》（xlsx 和 PDF，一页 A4，含签字栏）"),
    Button("客户档案卡", "KamCard", "card", "E10",
           "输入客户编号或名称，生成该客户的档案卡（资料、等级依据、拜访、应收、投诉、满意度；xlsx 和 PDF），拜访前打印"),
    Button("分发", "KamDistribute", "distribute", "A12",
           "按客户经理给每人生成一本个人工作簿（只含本人的客户及其拜访、应收、投诉等，附“我的待办”），放在本工作簿旁的“个人工作簿”文件夹"),
    Button("汇总", "KamCollect", "collect", "C12",
           "选择交回的个人工作簿，逐格三方合并回本工作簿：只采用本人改动，冲突保留本表的值并列入汇总报告"),
)

HOME_INSTRUCTIONS = (
    "使用说明：",
    "1. 在“客户档案”“拜访记录”“应收账款”三张表中录入数据，下拉框选择规定的取值。",
    "2. 分级标准在“分级规则”表中修改（自上而下第一条满足的规则生效），参数在右侧“参数”表。",
    "3. 点击“重新分级”更新客户等级；每次变动都记入“调级记录”，可追溯。",
    "4. 点击“全面校验”检查认定条件、协议、对接人员、拜访计划审批、应收账款；问题单元格以红色底纹标出。",
    "5. 点击“生成报表”在本工作簿所在文件夹生成管理报表（xlsx，可选 PDF）。",
    "6. 点击“导入历史档案”选择旧表格，系统自动识别表头、清洗数据并合并，导入结果见“导入报告”。",
    "6a. 大客户认定按种子制度的选择程序：一般调查 → 实地调查 → “认定申请”表登记 → 部门经理、公司领导审批 → 签订协议；"
    "“认定状态”要与认定申请一致（全面校验会检查）。点击“打印认定申请表”输出签字用的申请表。",
    "6b. “客户投诉”记录投诉与处理，“满意度调查”记录调查和电话回访评分（综合得分自动计算）；全面校验把最近一次综合得分写入客户的“满意度”。",
    "6c. 团队使用：点击“分发”给每位客户经理生成一本个人工作簿（只含本人的客户和相关记录，附“我的待办”），"
    "各人离线录入后交回，点击“汇总”选择交回的工作簿逐格合并；两边都改了的格子保留本表的值，列入汇总报告由经理决定。",
    "7. 不需要宏和 Python 的部分：全部表格、下拉框、格式、颜色，以及“建议等级”“未回款”“逾期天数”“账龄”等公式列"
    "（普通 Excel 公式，在 Excel、WPS、LibreOffice 中都会自动计算；修改分级规则表的上下限后立即生效）。",
    "8. 需要宏和 Python 的部分：上面的八个按钮，以及“分级规则”表右侧“分级试算”中的两个单元格函数（KAM_TIER、KAM_TIER_WHY）。",
    "9. 从邮件或网上下载的工作簿，Excel 会阻止宏：关闭工作簿，右键文件 → 属性 → 勾选“解除锁定”→ 确定，"
    "再打开并点击“启用内容”。按钮还需要在本机安装 Python 和本软件（由 IT 按说明书 README 的安装命令安装），"
    "生成 PDF 还需要 LibreOffice。",
    "10. 修改了分级规则的“附加条件”后，“建议等级”列显示“规则已改，请重新分级”，点击“重新分级”即更新。",
    "11. 不打开 Excel 时，同样的操作可用命令行：kam-xl regrade / validate / report / import 工作簿.xlsm",
)

XLWINGS_CONF = (
    ("UDF Modules", "kam_xl.xl.udfs"),
    ("Interpreter_Win", ""),
    ("PYTHONPATH", ""),
    ("Use UDF Server", "False"),
    ("Show Console", "False"),
)

# 分级试算 on the rule sheet, right of the Settings table (nothing under a table)
TRIAL_COL = 15  # column P
TRIAL_TITLE = "分级试算"
TRIAL_NOTE = "在下方输入四项数据，即时显示等级和依据（此处两格使用 Python 单元格函数，需安装 Python 与 xlwings）"
TRIAL_INPUTS = (("年用量(元)", 350000), ("回款信誉", "较好"), ("利润率", 0.08), ("增长潜力", "中"))

# Tier colours (conditional formatting on 客户等级 and 建议等级)
TIER_COLOURS = {
    "A1": "#C6EFCE", "A2": "#E2F0D9", "B1": "#DDEBF7", "B2": "#EDF3FA",
    "C": "#FFF2CC", "D": "#FCE4D6", "非大客户": "#EDEDED",
}
HIGHLIGHT_COLOUR = "#FFC7CE"
HIGHLIGHT_FONT = "#9C0006"
