"""Tier rules (PRODUCT.md §3): first matching row of the TierRules table wins.

The rules come from the workbook; nothing here knows the default tiers.  Each
result explains itself: the inputs, the matching row, and why each row above
it did not match.  A rule whose outcome depends on a missing input stops the
evaluation with a "cannot grade" result naming that input — never a guess.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .. import layout as L
from .models import TierRule, Settings, to_number

CREDIT_RANK = {c: i for i, c in enumerate(reversed(L.CREDITS))}  # 差=0 … 好=3

INPUT_LABELS = {"volume": "年用量(元)", "credit": "回款信誉", "margin": "利润率", "growth": "增长潜力"}


@dataclass
class TierInputs:
    volume: Optional[float] = None
    credit: Optional[str] = None
    margin: Optional[float] = None
    growth: Optional[str] = None
    # any other customer column (including user-added ones) by header, for 附加条件
    extra: Mapping[str, Any] = field(default_factory=dict)
    credit_source: str = ""  # how credit was obtained, for the explanation


@dataclass
class TierResult:
    tier: Optional[str]
    rule_order: Optional[int] = None
    missing: tuple[str, ...] = ()
    skipped: list[tuple[TierRule, str]] = field(default_factory=list)  # (rule above, why it did not match)
    inputs: Optional[TierInputs] = None
    rule: Optional[TierRule] = None

    # the texts are made when asked for: a regrade of 100k customers explains only
    # the ones that change
    @property
    def reasons_skipped(self) -> list[str]:
        return [f"第{r.order}条{r.tier}({why})" for r, why in self.skipped]

    @property
    def inputs_text(self) -> str:
        return describe_inputs(self.inputs) if self.inputs is not None else ""

    @property
    def rule_text(self) -> str:
        return describe_rule(self.rule) if self.rule is not None else ""

    @property
    def graded(self) -> bool:
        return self.tier is not None

    @property
    def explanation(self) -> str:
        parts = [f"输入：{self.inputs_text}"]
        if self.tier is None:
            if self.missing:
                parts.append(f"无法定级：缺少或无法识别“{'、'.join(self.missing)}”")
            else:
                parts.append("无法定级：没有任何规则满足（请在分级规则表末尾加一条兜底规则）")
        else:
            parts.append(f"命中第{self.rule_order}条规则 → {self.tier}（{self.rule_text}）")
        if self.skipped:
            parts.append("未命中：" + "；".join(self.reasons_skipped))
        return "。".join(parts)

    def short_error(self) -> str:
        if self.missing:
            return f"缺{'、'.join(self.missing)}"
        return "无匹配规则"


@functools.lru_cache(maxsize=4096)
def _fmt_money(v: float) -> str:
    if v >= 10000 and v % 100 == 0:
        return f"{v / 10000:g}万"
    return f"{v:,.0f}"


@functools.lru_cache(maxsize=4096)
def _fmt_pct(v: float) -> str:
    return f"{v * 100:g}%"


def describe_inputs(x: TierInputs) -> str:
    vol = "空" if x.volume is None else _fmt_money(x.volume)
    mar = "空" if x.margin is None else _fmt_pct(x.margin)
    credit = x.credit or "空"
    if x.credit_source:
        credit += f"({x.credit_source})"
    return f"年用量={vol}，回款信誉={credit}，利润率={mar}，增长潜力={x.growth or '空'}"


def describe_rule(r: TierRule) -> str:
    conds = []
    if r.volume_min is not None:
        conds.append(f"年用量≥{_fmt_money(r.volume_min)}")
    if r.volume_max is not None:
        conds.append(f"年用量<{_fmt_money(r.volume_max)}")
    if r.min_credit:
        allowed = [c for c in L.CREDITS if CREDIT_RANK[c] >= CREDIT_RANK[r.min_credit]]
        conds.append("回款信誉" + "或".join(allowed))
    if r.margin_min is not None:
        conds.append(f"利润率≥{_fmt_pct(r.margin_min)}")
    if r.margin_max is not None:
        conds.append(f"利润率<{_fmt_pct(r.margin_max)}")
    if r.growth_values():
        conds.append("增长潜力" + "或".join(r.growth_values()))
    if r.extra:
        conds.append(str(r.extra))
    return "且".join(conds) if conds else "其余全部"


# ---------------------------------------------------------------------------
# 附加条件: "名称 op 数值" joined by ; ； 且 — name is a customer column header
# (user columns included), a Settings key, or 销售占比 (年用量 / 公司年销售额).
_COND = re.compile(r"^\s*(.+?)\s*(>=|<=|!=|≠|≥|≤|>|<|=)\s*(.+?)\s*$")
_OPS = {
    ">=": lambda a, b: a >= b, "≥": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
    "≤": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "≠": lambda a, b: a != b,
}


class RuleError(ValueError):
    """A tier rule row cannot be understood."""


def parse_conditions(text: str | None) -> tuple[tuple[str, str, Any], ...]:
    if not text or not str(text).strip():
        return ()
    return _parse_conditions(str(text))


@functools.lru_cache(maxsize=256)
def _parse_conditions(text: str) -> tuple[tuple[str, str, Any], ...]:
    out = []
    for part in re.split(r"[;；]|且|并且", str(text)):
        if not part.strip():
            continue
        m = _COND.match(part)
        if not m:
            raise RuleError(f"附加条件“{part.strip()}”看不懂，应写成“列名 >= 数值”")
        name, op, rhs = m.groups()
        try:
            value: Any = to_number(rhs)
        except ValueError:
            value = rhs.strip("\"'“”")
        out.append((name.strip(), op, value))
    return tuple(out)


def condition_names(rules) -> set[str]:
    """Every name the rule table's 附加条件 use (customer columns, Settings keys, 销售占比).
    A condition that does not parse names nothing here; grading reports it."""
    names: set[str] = set()
    for r in rules:
        try:
            names.update(name for name, _, _ in parse_conditions(r.extra))
        except RuleError:
            pass
    return names


def _lookup(name: str, x: TierInputs, settings: Settings | None) -> tuple[bool, Any]:
    """(known, value) of a condition operand."""
    if name == L.SHARE_OF_SALES:
        total = settings.company_sales if settings else None
        if x.volume is None or not total:
            return False, None
        return True, x.volume / total
    if name in x.extra:
        v = x.extra[name]
        if v is None or v == "":
            return False, None
        try:
            return True, to_number(v)
        except ValueError:
            return True, v
    if settings is not None and name in (settings.model_extra or {}):
        try:
            return True, to_number(settings.model_extra[name])
        except ValueError:
            return True, settings.model_extra[name]
    return False, None


def _check_rule(r: TierRule, x: TierInputs, settings: Settings | None):
    """Returns ("match", None) | ("fail", reason) | ("unknown", missing input label)."""
    if r.volume_min is not None or r.volume_max is not None:
        if x.volume is None:
            return "unknown", INPUT_LABELS["volume"]
        if r.volume_min is not None and x.volume < r.volume_min:
            return "fail", f"年用量<{_fmt_money(r.volume_min)}"
        if r.volume_max is not None and x.volume >= r.volume_max:
            return "fail", f"年用量≥{_fmt_money(r.volume_max)}"
    if r.min_credit:
        if x.credit not in CREDIT_RANK:
            return "unknown", INPUT_LABELS["credit"]
        if CREDIT_RANK[x.credit] < CREDIT_RANK[r.min_credit]:
            return "fail", f"回款信誉{x.credit}低于{r.min_credit}"
    if r.margin_min is not None or r.margin_max is not None:
        if x.margin is None:
            return "unknown", INPUT_LABELS["margin"]
        if r.margin_min is not None and x.margin < r.margin_min:
            return "fail", f"利润率<{_fmt_pct(r.margin_min)}"
        if r.margin_max is not None and x.margin >= r.margin_max:
            return "fail", f"利润率≥{_fmt_pct(r.margin_max)}"
    allowed = r.growth_values()
    if allowed:
        if not x.growth:
            return "unknown", INPUT_LABELS["growth"]
        if x.growth not in allowed:
            return "fail", f"增长潜力{x.growth}不在{'/'.join(allowed)}"
    for name, op, value in parse_conditions(r.extra):
        known, actual = _lookup(name, x, settings)
        if not known:
            return "unknown", name
        try:
            ok = _OPS[op](actual, value)
        except TypeError:
            return "unknown", name
        if not ok:
            return "fail", f"{name}={actual:g}不满足{op}{value:g}" if isinstance(actual, float) and isinstance(value, float) else f"{name}不满足{op}{value}"
    return "match", None


def sort_rules(rules: list[TierRule]) -> list[TierRule]:
    return sorted((r for r in rules if r.tier), key=lambda r: (r.order is None, r.order or 0, r.rid))


def grade(x: TierInputs, rules: list[TierRule], settings: Settings | None = None) -> TierResult:
    """First matching rule wins; `rules` must already be sorted (sort_rules)."""
    res = TierResult(tier=None, inputs=x)
    for r in rules:
        try:
            state, why = _check_rule(r, x, settings)
        except RuleError:
            state, why = "unknown", f"第{r.order}条规则的附加条件"
        if state == "match":
            res.tier, res.rule_order, res.rule = r.tier, r.order, r
            return res
        if state == "unknown":
            res.missing = (why,)
            return res
        res.skipped.append((r, why))
    return res


def validate_rules(rules: list[TierRule]) -> list[tuple[int, str, str]]:
    """Problems in the rule table itself: (rule's rid, field key, message)."""
    out = []
    seen = set()
    for r in rules:
        if r.tier and r.order is None:
            out.append((r.rid, "order", f"规则“{r.tier}”缺少顺序号"))
        if r.order is not None and r.order in seen:
            out.append((r.rid, "order", f"顺序号 {r.order} 重复，先后不明确"))
        seen.add(r.order)
        if r.volume_min is not None and r.volume_max is not None and r.volume_min >= r.volume_max:
            out.append((r.rid, "volume_max", "年用量上限应大于下限"))
        if r.margin_min is not None and r.margin_max is not None and r.margin_min >= r.margin_max:
            out.append((r.rid, "margin_max", "利润率上限应大于下限"))
        bad = [g for g in r.growth_values() if g not in L.GROWTHS]
        if bad:
            out.append((r.rid, "growth", f"增长潜力只能是 {'、'.join(L.GROWTHS)}，不认识“{'、'.join(bad)}”"))
        try:
            parse_conditions(r.extra)
        except RuleError as e:
            out.append((r.rid, "extra", str(e)))
    return out


def rules_version(rules: list[TierRule]) -> str:
    """A short stable hash of the rule table's content."""
    payload = [
        [r.order, r.tier, r.volume_min, r.volume_max, r.min_credit, r.margin_min,
         r.margin_max, r.growth, r.extra] for r in sort_rules(rules)
    ]
    return "R-" + hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()[:10]


def default_rules() -> list[TierRule]:
    keys = [c.key for c in L.TIER_RULES.columns]
    return [TierRule(rid=i, **dict(zip(keys, row)))
            for i, row in enumerate(L.DEFAULT_TIER_RULES)]
