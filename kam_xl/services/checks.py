"""What an action checks before it computes: the tier rules and the Settings it grades
and dates with.  A typo there (50万 as a bound, 很好 as a credit, 下月底 as the as-of
date) must never regrade a customer or date a report: the action refuses, naming each
cell, what it holds and what it should hold (PRODUCT.md §3)."""
from __future__ import annotations

from .. import layout as L
from ..domain.tiering import validate_rules
from ..errors import RulesInvalid
from ..workbook.loader import BookData

AS_OF_KEY = L.SETTINGS_BY_FIELD["as_of"].key


def unusable_rule_cells(data: BookData, as_of_given: bool = False) -> list[tuple[str, str]]:
    """(Chinese, English) for each rule or Settings cell the grading would use that cannot be
    read.  The as-of date given on the command line replaces the one in Settings."""
    out = []
    for p in data.problems:
        if p.table not in (L.TIER_RULES.name, L.SETTINGS.name) or p.index is None:
            continue
        if p.table == L.SETTINGS.name and p.fields.get("key") == AS_OF_KEY and as_of_given:
            continue
        t = data.tables[p.table]
        cell = t.cell_ref(p.index, p.column)
        label = f"（参数“{p.fields['key']}”）" if p.table == L.SETTINGS.name else f"（{p.column}）"
        out.append((f"工作表“{t.sheet}”单元格 {cell}{label}：{p.message}",
                    f"sheet '{t.sheet}' cell {cell}: '{p.value}' cannot be read"))
    if L.TIER_RULES.name in data.tables:
        t = data.tables[L.TIER_RULES.name]
        for index, header, msg in validate_rules(data.rules):
            cell = t.cell_ref(index, header)
            out.append((f"工作表“{t.sheet}”单元格 {cell}（{header}）：{msg}",
                        f"sheet '{t.sheet}' cell {cell} ({header}): the rule table is inconsistent"))
    return out


def refuse_unusable_rules(data: BookData, where: object, as_of_given: bool = False) -> None:
    bad = unusable_rule_cells(data, as_of_given)
    if bad:
        shown = bad[:8]
        more = f"；另有 {len(bad) - len(shown)} 处" if len(bad) > len(shown) else ""
        raise RulesInvalid(where, "；".join(zh for zh, _ in shown) + more + "。请改正后再运行（全面校验会列出全部问题）",
                           "; ".join(en for _, en in shown))
