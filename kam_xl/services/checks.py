"""What an action checks before it computes: the tier rules and the Settings it grades
and dates with.  A typo there (50万 as a bound, 很好 as a credit, 下月底 as the as-of
date) must never regrade a customer or date a report: the action refuses, naming each
cell, what it holds and what it should hold (PRODUCT.md §3)."""
from __future__ import annotations

from .. import layout as L
from ..domain.tiering import validate_rules
from ..errors import RulesInvalid
from ..store import Snapshot

AS_OF_KEY = L.SETTINGS_BY_FIELD["as_of"].key
RULE_KEYS = {c.header: c.key for c in L.TIER_RULES.columns}


def unusable_rule_cells(data: Snapshot, as_of_given: bool = False) -> list[tuple[str, str]]:
    """(Chinese, English) for each rule or Settings cell the grading would use that cannot be
    read.  The as-of date given on the command line replaces the one in Settings."""
    out = []
    for p in data.problems:
        if p.table not in (L.TIER_RULES.name, L.SETTINGS.name) or p.index is None:
            continue
        if p.table == L.SETTINGS.name and p.fields.get("key") == AS_OF_KEY and as_of_given:
            continue
        settings = p.table == L.SETTINGS.name
        where = data.where(p.table, p.index, "value" if settings else RULE_KEYS.get(p.column, p.column))
        label = f"（参数“{p.fields['key']}”）" if settings else f"（{p.column}）"
        out.append((f"{where}{label}：{p.message}", f"{where}: '{p.value}' cannot be read"))
    if data.has_table(L.TIER_RULES.name):
        for rid, key, msg in validate_rules(data.rules):
            header = L.TIER_RULES.header(key)
            where = data.where(L.TIER_RULES.name, rid, key)
            out.append((f"{where}（{header}）：{msg}", f"{where} ({header}): the rule table is inconsistent"))
    return out


def refuse_unusable_rules(data: Snapshot, where: object, as_of_given: bool = False) -> None:
    bad = unusable_rule_cells(data, as_of_given)
    if bad:
        shown = bad[:8]
        more = f"；另有 {len(bad) - len(shown)} 处" if len(bad) > len(shown) else ""
        raise RulesInvalid(where, "；".join(zh for zh, _ in shown) + more + "。请改正后再运行（全面校验会列出全部问题）",
                           "; ".join(en for _, en in shown))
