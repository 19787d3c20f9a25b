"""The native formulas of the tables' calculated columns (PRODUCT.md §2), shared by the
builder and the file engine.

Every calculated column is an ordinary Excel formula that Excel 2016+, WPS and LibreOffice
Calc evaluate alike: no XLOOKUP / LET / FILTER / IFS, no dynamic or CSE arrays.  The tier
formula (建议等级) reads the TierRules table itself, so editing a rule in Excel regrades
every row at once: per rule it works out pass / fail / unknown for each condition with
arithmetic on the rule columns (IF does not work on arrays without CSE in Excel 2016),
then takes the first rule by 顺序 that does not fail — INDEX(…,0) makes MIN and MATCH see
the array.  附加条件 (free text such as 年采购次数>=12) cannot be read by a formula, so
the conditions are compiled into the formula from the rule table by the builder and by
regrade; the formula checks that the rule table still holds the conditions it was compiled
from and shows 规则已改，请重新分级 when it does not.  The result is exactly
domain.tiering.grade(...) for the same inputs: the tier, 缺<input> (short_error) or
无匹配规则; blank when all four inputs are blank.
"""
from __future__ import annotations

import re
from typing import Iterable

from .. import layout as L
from ..domain.tiering import RuleError, parse_conditions

STALE = "规则已改，请重新分级"
NO_MATCH = "无匹配规则"
BIG, HUGE = 1e9, 1e12
_C, _R, _T = L.CUSTOMERS, L.RECEIVABLES, L.TIER_RULES


def _esc_col(header: str) -> str:
    return re.sub(r"([\[\]#'])", r"'\1", header)


def this_row(table: L.TableDef, key: str) -> str:
    return f"{table.name}[[#This Row],[{_esc_col(table.header(key))}]]"


def column(table: L.TableDef, key: str) -> str:
    return f"{table.name}[{_esc_col(table.header(key))}]"


def structured(table: L.TableDef, col: L.Column, rules=None, headers=None) -> str:
    """The column's formula without '=': Table[[#This Row],[Header]] references."""
    if col.formula == TIER_FORMULA:
        return tier_formula(rules, headers)
    if col.formula == AGING_FORMULA:
        return aging_formula()
    return re.sub(r"\{col:(\w+)\}", lambda m: this_row(table, m[1]), col.formula)


TIER_FORMULA = L.NATIVE_TIER      # layout's markers for the generated formulas
AGING_FORMULA = L.NATIVE_AGING


def _str(s: str) -> str:
    return '"' + str(s).replace('"', '""') + '"'


def _rank(expr: str) -> str:
    """好=4 较好=3 一般=2 差=1, anything else 0 (domain.tiering.CREDIT_RANK + 1)."""
    return "(" + "+".join(f"({expr}={_str(c)})*{i + 1}" for i, c in enumerate(reversed(L.CREDITS))) + ")"


def _num(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


def _operand(name: str, headers: list[str]) -> tuple[str, str] | None:
    """(Excel expression, its 'known' test) of a 附加条件 operand, looked up the way
    domain.tiering._lookup does: 销售占比, a customer column (user columns included), a
    user-defined Settings key; None when it names nothing (the condition is unknown)."""
    def setting(key: str) -> str:
        return f"INDEX({column(L.SETTINGS, 'value')},MATCH({_str(key)},{column(L.SETTINGS, 'key')},0))"
    if name == L.SHARE_OF_SALES:
        sales = setting(L.SETTINGS_BY_FIELD["company_sales"].key)
        v = this_row(_C, "volume")
        return f"IFERROR({v}/{sales},0)", f"IFERROR(ISNUMBER({v})*ISNUMBER({sales})*({sales}<>0),0)"
    if name in headers:
        ref = f"{_C.name}[[#This Row],[{_esc_col(name)}]]"
        return ref, f"({ref}&\"\"<>\"\")"
    if name not in L.SETTINGS_BY_KEY:
        ref = f"IFERROR({setting(name)},\"\")"
        return ref, f"({ref}&\"\"<>\"\")"
    return None


_OPS = {">=": ">=", "≥": ">=", "<=": "<=", "≤": "<=", ">": ">", "<": "<", "=": "=", "!=": "<>", "≠": "<>"}


def _conditions(text: str, headers: list[str]) -> list[tuple[str, str | None, str | None]] | None:
    """[(name, known, passes)] of one rule's 附加条件, in order (known None: the operand names
    nothing, the check is unknown); None when they do not parse (the rule is then
    'unknown': 第N条规则的附加条件)."""
    try:
        conds = parse_conditions(text)
    except RuleError:
        return None
    out = []
    for name, op, value in conds:
        operand = _operand(name, headers)
        if operand is None:
            out.append((name, None, None))
            continue
        expr, known = operand
        if isinstance(value, float):
            out.append((name, f"{known}*ISNUMBER({expr})", f"({expr}{_OPS[op]}{_num(value)})"))
        else:
            out.append((name, known, f"({expr}&\"\"{_OPS[op]}{_str(value)})"))
    return out


def _one_of(x: str, values) -> str:
    """x is one of the values (array constant; x may be a range: element-wise)."""
    return f"ISNUMBER(MATCH({x},{{{','.join(_str(v) for v in values)}}},0))"


def _check(has: str, known: str, passes: str) -> str:
    """+1 when the rule has the check and its input is unknown, -1 when it fails, 0 when
    it passes or the rule has no such check: has*(1-known*(2-passes))."""
    return f"{has}*(1-{known}*(2-{passes}))"


MAX_CHECKS = 13  # 4 inputs + 9 附加条件: keeps key * 3^(checks+1) + HUGE exact in a double


def tier_formula(rules: Iterable | None = None, headers: list[str] | None = None) -> str:
    """The 建议等级 formula (without '='), with the 附加条件 of `rules` (TierRule records in
    table order) compiled in; `headers` are the customer table's (user columns included).

    Each check of a rule (年用量, 回款信誉, 利润率, 增长潜力, then each 附加条件) has a weight,
    3^(n-j) for the j-th: a rule's D sums +weight for each check whose input is unknown and
    -weight for each that fails.  domain.tiering stops at the first check not passed, and
    the sign of D is that check's (the weights below it sum to less than half of it): the
    rule matches when D = 0, stops grading when D > 0 (naming the check whose weight is
    within a factor of 1.5 of D), and fails when D < 0.  The first rule by 顺序 that does not
    fail is the smallest key * 3^(n+1) + D (SUMPRODUCT(MIN(...)): MIN over the rules without
    CSE in Excel and LibreOffice alike); a sentinel with D = 1 stands for 无匹配规则.  The
    answer is one CHOOSE over the labels, 无匹配规则 and the matching rule's 等级.  No MOD
    (Excel's fails on big quotients), no IF over arrays (needs CSE in Excel 2016)."""
    rules = list(rules or [])
    headers = list(headers or _C.headers)
    V, C, M, G = (this_row(_C, k) for k in ("volume", "credit", "margin", "growth"))
    vmin, vmax, mc, mmin, mmax, gr, order, tier, extra = (
        column(_T, k) for k in ("volume_min", "volume_max", "min_credit", "margin_min", "margin_max",
                                "growth", "order", "tier", "extra"))
    credits = list(reversed(L.CREDITS))  # 差 … 好
    pos = f"(ROW({order})-MIN(ROW({order}))+1)"
    v_ok = f"ISNUMBER({V})"
    m_ok = f"ISNUMBER({M})*(ABS(N({M}))<=1)"
    rc = f"IFERROR(MATCH({C},{{{','.join(_str(c) for c in credits)}}},0),0)"
    g_ok = _one_of(G, L.GROWTHS)
    better = ",".join(_str("|" + "|".join(credits[i + 1:]) + "|" if i + 1 < len(credits) else "")
                      for i in range(len(credits)))  # the credits better than each, as |…| text

    def bounds(lo: str, hi: str, x: str, ok: str) -> str:
        has = f"((({lo}<>\"\")+({hi}<>\"\"))>0)"
        inside = f"((({lo}=\"\")+({x}>={lo}))>0)*((({hi}=\"\")+({x}<{hi}))>0)"
        return _check(has, f"({ok})", f"({inside})")

    worse = f"ISNUMBER(SEARCH(\"|\"&{mc}&\"|\",CHOOSE({rc}+1,\"\",{better})))"  # the rule asks for better
    checks = [  # (label, D term) per rule, in domain.tiering's order
        (L.CUSTOMERS.header("volume"), bounds(vmin, vmax, V, v_ok)),
        (L.CUSTOMERS.header("credit"), _check(_one_of(mc, credits), f"({rc}>0)", f"(1-{worse})")),
        (L.CUSTOMERS.header("margin"), bounds(mmin, mmax, M, m_ok)),
        (L.CUSTOMERS.header("growth"), _check(f"({gr}<>\"\")", g_ok, f"ISNUMBER(SEARCH({G},{gr}))")),
    ]
    for r in rules:  # 附加条件, compiled per rule row (by its place in the table)
        if not (r.extra and str(r.extra).strip()):
            continue
        at = f"({pos}={r.row_index + 1})"
        compiled = _conditions(r.extra, headers)
        if compiled is None:
            checks.append((f"第{r.order}条规则的附加条件", at))
            continue
        for name, known, passes in compiled:
            checks.append((name, at if known is None else _check(at, f"({known})", passes)))
    if len(checks) > MAX_CHECKS:
        raise ValueError(f"附加条件太多（{len(checks) - 4} 条），原生公式最多支持 {MAX_CHECKS - 4} 条")
    n = len(checks)
    weights = [3 ** (n - j) for j in range(n)]  # 3^n … 3^1; the sentinel's D is 1
    scale = 3 ** (n + 1)
    d = "(" + "+".join(f"{term}*{w}" for (_, term), w in zip(checks, weights)) + ")"
    key = f"(({order}=\"\")*2E7+({order}<>\"\")*(INT({order})+5000)*1000+{pos})"
    # MOD(D, HUGE) sends a failing rule (D < 0) past every other; the quotients stay far
    # below 2^27, where Excel's MOD gives up
    val = f"{key}*{scale}+MOD({d},{_num(HUGE)})+({tier}=\"\")*{_num(HUGE)}"
    best = f"SUMPRODUCT(MIN({val},{_num(5E7 * scale + 1)}))"
    state = f"MOD({best},{scale})"  # the chosen rule's D
    rule = f"MOD(INT({best}/{scale}),1000)"
    pick = f"1+SUMPRODUCT(--({{{','.join(str(w) for w in weights + [1])}}}>2*{state}))"
    labels = [_str("缺" + x) for x, _ in checks] + [_str(NO_MATCH), f"INDEX({tier},{rule})"]
    blank = f"AND(NOT({v_ok}),{rc}=0,NOT({m_ok}),NOT({g_ok}))"
    guard = _guard(rules, extra)
    return f"IF({guard},IF({blank},\"\",CHOOSE({pick},{','.join(labels)})),{_str(STALE)})"


def _guard(rules: list, extra: str) -> str:
    """The rule table still holds the 附加条件 this formula was compiled from: as many rows
    with one, and each of them (by its place) the same text."""
    texts = [(r.row_index + 1, str(r.extra).strip()) for r in rules if r.extra and str(r.extra).strip()]
    parts = [f"SUMPRODUCT(--(TRIM({extra})<>\"\"))={len(texts)}"]
    parts += [f"TRIM(INDEX({extra},{k}))={_str(t)}" for k, t in texts]
    return parts[0] if len(parts) == 1 else f"AND({','.join(parts)})"


# ---------------------------------------------------------------------------
# Receivables: 未回款, 逾期天数, 账龄
AGING_BOUNDS = (0, 30, 60, 90, 180)  # 未到期 ≤0 < 1-30 ≤ 30 < 31-60 ≤ 60 < … (the labels of L.AGING_BUCKETS)


def aging_formula() -> str:
    out, days = this_row(_R, "outstanding"), this_row(_R, "overdue_days")
    starts = ",".join(["-1E9"] + [str(b + 1) for b in AGING_BOUNDS])
    labels = ",".join(_str(b) for b in L.AGING_BUCKETS[:6])
    return (f'IF({out}="","",IF({out}<=0.005,{_str(L.AGING_BUCKETS[6])},IF({days}="","",'
            f"LOOKUP({days},{{{starts}}},{{{labels}}}))))")
