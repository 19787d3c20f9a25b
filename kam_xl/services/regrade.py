"""重新分级: recompute every customer's tier at the as-of date (PRODUCT.md §3)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from .. import layout as L
from ..domain.receivables import derive_credit
from ..domain.tiering import TierInputs, TierResult, grade, rules_version, sort_rules, validate_rules
from ..domain.computed import receivable_cells, suggested_tier
from ..domain.visits import next_visit_due
from ..workbook import formulas
from ..workbook.loader import BookData
from ..workbook.tables import Changes
from .credit import DERIVED, write_derived_credit

CUST = L.CUSTOMERS


@dataclass
class GradeChange:
    row_index: int
    excel_row: int
    customer_id: str | None
    name: str | None
    old: str | None
    new: str
    explanation: str


@dataclass
class RegradeResult:
    as_of: dt.date
    changes: Changes
    graded: dict[str, TierResult] = field(default_factory=dict)  # customer row index → result
    moves: list[GradeChange] = field(default_factory=list)
    ungraded: list[tuple[int, str | None, str]] = field(default_factory=list)
    rule_problems: list[tuple[int, str, str]] = field(default_factory=list)  # (Excel row, column, message)
    by_tier: Counter = field(default_factory=Counter)
    visits_due: Counter = field(default_factory=Counter)
    version: str = ""
    tier_rank: dict[str, int] = field(default_factory=dict)
    notices: list = field(default_factory=list)  # what the store found in the book (rows taken in …)
    recompiled: list[str] = field(default_factory=list)  # calculated columns given a new formula
    credit_changes: int = 0  # rows whose 推算信誉 changed

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
        for row, header, msg in self.rule_problems:
            lines.append(f"分级规则表 第{row}行 “{header}”：{msg}")
        lines += [n.line() for n in self.notices]
        if self.recompiled:
            lines.append("已按当前分级规则表更新公式列：" + "、".join(self.recompiled))
        if self.visits_due:
            lines.append("按拜访频率已到期应拜访：" + "，".join(
                f"{t} {self.visits_due[t]}" for t in sorted(self.visits_due, key=self._rank)))
        return lines


def regrade(data: BookData, operator: str, now: dt.datetime | None = None) -> RegradeResult:
    now = now or dt.datetime.now().replace(microsecond=0)
    rules = sort_rules(data.rules)
    res = RegradeResult(as_of=data.as_of, changes=Changes(), version=rules_version(data.rules),
                        notices=list(data.notices))
    rules_table = data.tables[L.TIER_RULES.name]
    res.rule_problems = [(rules_table.excel_row(i), header, msg) for i, header, msg in validate_rules(data.rules)]
    rank = {t: i for i, t in enumerate(L.TIERS)}
    for r in rules:
        rank.setdefault(r.tier, len(rank))
    res.tier_rank = rank
    receivables = data.receivables_by_customer()
    t = data.tables[CUST.name]
    log_rows = []
    visiting: list[tuple[str | None, str]] = []  # (customer id, tier) of tiers with a visit frequency
    frequency: dict = {}  # tier → visit frequency in days (Settings), looked up once per tier
    tier_header, date_header = CUST.header("tier"), CUST.header("graded_on")
    conditions = any(r.extra for r in rules)  # 附加条件 may name any customer column
    credits = {}
    for c in data.customers:
        if not (c.id or c.name):
            continue
        credit = credits[c.row_index] = derive_credit(receivables.get(c.id, []), data.as_of, data.settings, c.credit)
        x = TierInputs(volume=c.volume, credit=credit.credit, margin=c.margin, growth=c.growth,
                       extra=data.customer_extra(c) if conditions else {},
                       credit_source=credit.text if credit.derived else ("录入值" if c.credit else ""))
        result = grade(x, rules, data.settings)
        res.graded[c.row_index] = result
        if not result.graded:
            res.ungraded.append((t.excel_row(c.row_index), c.id, result.explanation))
            continue
        res.by_tier[result.tier] += 1
        days = frequency.get(result.tier, frequency)
        if days is frequency:
            days = frequency[result.tier] = data.settings.visit_days(result.tier)
        if days is not None:
            visiting.append((c.id, result.tier))
        if result.tier == c.tier:
            continue
        res.changes.set(CUST.name, c.row_index, tier_header, result.tier)
        res.changes.set(CUST.name, c.row_index, date_header, data.as_of)
        why = result.explanation
        res.moves.append(GradeChange(c.row_index, t.excel_row(c.row_index), c.id, c.name, c.tier,
                                     result.tier, why))
        log_rows.append(L.GRADE_LOG.row(
            time=now, customer_id=c.id, customer_name=c.name, old_tier=c.tier or "（空）",
            new_tier=result.tier, reason=why, operator=operator, rules_version=res.version, as_of=data.as_of))
    last_visits = data.last_visits()
    for cid, tier in visiting:
        due = next_visit_due(tier, last_visits.get(cid), data.settings, data.as_of)
        if due is not None and due <= data.as_of:
            res.visits_due[tier] += 1
    if log_rows:
        res.changes.append(L.GRADE_LOG.name, log_rows)
    res.recompiled = refresh_formulas(data, res.changes, credits)
    res.credit_changes = write_derived_credit(data, credits, res.changes)
    res.changes.status = (f"{now:%Y-%m-%d %H:%M} 重新分级：{len(res.moves)} 户等级变动"
                          f"（升 {res.ups} / 降 {res.downs}），无法定级 {len(res.ungraded)} 户")
    return res


def refresh_formulas(data: BookData, changes: Changes, credits: dict | None = None) -> list[str]:
    """Calculated columns whose formula is not the one the rule table (and layout) asks for
    get it in every row, with cached values: 建议等级 when the 附加条件 it compiles changed
    (the sheet shows 规则已改，请重新分级 until then), and any column of a book written by an
    older version (per-row Python UDF calls)."""
    done = []
    t = data.tables[CUST.name]
    header = CUST.header("suggested_tier")
    found = data.formulas.get(CUST.name, {})
    if header in t.all_headers and header in found:
        wanted = formulas.tier_formula(data.rules, t.all_headers, rule_place(data))
        if found[header] != wanted:
            ordered = sort_rules(data.rules)
            cached: list = [""] * len(t.rows)
            derived = DERIVED in (t.offsets or {})
            for c in data.customers:
                if derived and credits is not None:  # the value 推算信誉 is about to get
                    res = credits.get(c.row_index)
                    c = c.model_copy(update={"derived_credit": res.credit if res is not None and res.derived else None})
                cached[c.row_index] = suggested_tier(c, data.customer_extra(c), ordered, data.settings)
            changes.set_formula(CUST.name, header, wanted, cached)
            done.append(header)
    rt = data.tables.get(L.RECEIVABLES.name)
    found = data.formulas.get(L.RECEIVABLES.name, {})
    stale = [col for col in L.RECEIVABLES.columns
             if col.formula and col.header in found and found[col.header] != formulas.structured(L.RECEIVABLES, col)]
    if rt is not None and stale:
        cells = [{} for _ in range(len(rt.rows))]
        for r in data.receivables:
            cells[r.row_index] = receivable_cells(r, data.as_of)
        for col in stale:
            changes.set_formula(L.RECEIVABLES.name, col.header, formulas.structured(L.RECEIVABLES, col),
                                [c.get(col.header, "") for c in cells])
            done.append(col.header)
    return done


def rule_place(data: BookData) -> formulas.RulePlace:
    """Where the book's TierRules table is (the tier formula points at its cells)."""
    t = data.tables[L.TIER_RULES.name]
    return formulas.RulePlace(t.sheet, t.header_row, t.first_col, tuple(t.all_headers),
                              t.body_rows if t.body_rows is not None else len(t.rows))
