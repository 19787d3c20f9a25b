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

import functools
from dataclasses import dataclass

from .. import layout as L
from ..domain.tiering import RuleError, parse_conditions, sort_rules
from .package import col_letter

STALE = "规则已改，请重新分级"
NO_MATCH = "无匹配规则"
_C, _R, _T = L.CUSTOMERS, L.RECEIVABLES, L.TIER_RULES


def _esc_col(header: str) -> str:
    return re.sub(r"([\[\]#'])", r"'\1", header)


def this_row(table: L.TableDef, key: str) -> str:
    return f"{table.name}[[#This Row],[{_esc_col(table.header(key))}]]"


def column(table: L.TableDef, key: str) -> str:
    return f"{table.name}[{_esc_col(table.header(key))}]"


def structured(table: L.TableDef, col: L.Column, rules=None, headers=None, place=None) -> str:
    """The column's formula without '=': Table[[#This Row],[Header]] references."""
    if col.formula == TIER_FORMULA:
        return tier_formula(rules, headers, place)
    if col.formula == AGING_FORMULA:
        return aging_formula()
    return re.sub(r"\{col:(\w+)\}", lambda m: this_row(table, m[1]), col.formula)


TIER_FORMULA = L.NATIVE_TIER      # layout's markers for the generated formulas
AGING_FORMULA = L.NATIVE_AGING


def _str(s: str) -> str:
    return '"' + str(s).replace('"', '""') + '"'


def _num(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


def _operand(name: str, headers: list[str], xv: str) -> tuple[str, str] | None:
    """(Excel expression, its 'known' test) of a 附加条件 operand, looked up the way
    domain.tiering._lookup does: 销售占比, a customer column (user columns included), a
    user-defined Settings key; None when it names nothing (the condition is unknown).
    `xv` is the row's 年用量 as a number (text numbers included)."""
    def setting(key: str) -> str:
        return f"INDEX({column(L.SETTINGS, 'value')},MATCH({_str(key)},{column(L.SETTINGS, 'key')},0))"
    if name == L.SHARE_OF_SALES:
        sales = setting(L.SETTINGS_BY_FIELD["company_sales"].key)
        return f"IFERROR({xv}/{sales},0)", f"IFERROR(ISNUMBER({xv})*ISNUMBER({sales})*({sales}<>0),0)"
    if name in headers:
        ref = f"{_C.name}[[#This Row],[{_esc_col(name)}]]"
        return ref, f"({ref}&\"\"<>\"\")"
    if name not in L.SETTINGS_BY_KEY:
        ref = f"IFERROR({setting(name)},\"\")"
        return ref, f"({ref}&\"\"<>\"\")"
    return None


_OPS = {">=": ">=", "≥": ">=", "<=": "<=", "≤": "<=", ">": ">", "<": "<", "=": "=", "!=": "<>", "≠": "<>"}


def _conditions(text: str, headers: list[str], xv: str) -> list[tuple[str, str | None, str | None]] | None:
    """[(name, known, passes)] of one rule's 附加条件, in order (known None: the operand names
    nothing, the check is unknown); None when they do not parse (the rule is then
    'unknown': 第N条规则的附加条件).  A number compared with a number stored as text
    compares as numbers (VALUE), as the core does."""
    try:
        conds = parse_conditions(text)
    except RuleError:
        return None
    out = []
    for name, op, value in conds:
        operand = _operand(name, headers, xv)
        if operand is None:
            out.append((name, None, None))
            continue
        expr, known = operand
        if isinstance(value, float):
            num = f"VALUE(SUBSTITUTE({expr},\",\",\"\"))"
            out.append((name, f"{known}*ISNUMBER({num})", f"IFERROR(({num}{_OPS[op]}{_num(value)}),0)"))
        else:
            out.append((name, known, f"({expr}&\"\"{_OPS[op]}{_str(value)})"))
    return out


def _one_of(x: str, values) -> str:
    """x is one of the values (x a single value, the values an array constant)."""
    return f"ISNUMBER(MATCH({x},{{{','.join(_str(v) for v in values)}}},0))"


MAX_CHECKS = 13  # checks of one rule: keeps the weights 3^k exact in a double
MAX_LENGTH = 8000  # Excel refuses formulas longer than 8,192 characters


@dataclass(frozen=True)
class RulePlace:
    """Where the TierRules table is in the book: its sheet, header row (Excel, 1-based),
    first column (0-based) and headers in order — the tier formula points at its cells."""
    sheet: str
    header_row: int
    first_col: int
    headers: tuple[str, ...]
    rows: int | None = None  # rows of the table's body (None: as many as there are rules)

    def cell(self, row_index: int, key: str) -> str:
        col = self.first_col + self.headers.index(_T.header(key))
        return f"{_sheet_ref(self.sheet)}!${col_letter(col)}${self.header_row + 1 + row_index}"


DEFAULT_PLACE = RulePlace(_T.sheet, _T.first_row, _T.first_col, tuple(_T.headers))


def _sheet_ref(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


def tier_formula(rules: Iterable | None = None, headers: list[str] | None = None,
                 place: RulePlace | None = None) -> str:
    """The 建议等级 formula (without '='): the rules of the TierRules table (records in table
    order) compiled into one plain formula over the rule table's own cells — no array
    evaluation anywhere, so Excel, WPS, LibreOffice and any formula engine agree.

    Which checks a rule has (a bound filled in, a minimum credit, growth values, each
    附加条件) and the rules' order are compiled in; the values are read from the rule
    cells, so editing a bound or a tier regrades every row at once.  A guard checks that
    the rule table still has the shape the formula was compiled from (rows, 顺序, which
    cells are filled, the 附加条件 texts) and shows 规则已改，请重新分级 when it does not;
    regrade recompiles.

    Per rule, each check j of n gives t_j = 0 (passes), -1 (fails) or +1 (its input is
    unknown: grading stops, 缺<input>), in domain.tiering's order; D = Σ t_j·3^(n-j) is 0
    for a match, negative for a fail and otherwise within a factor 1.5 of the first
    unknown check's weight: CHOOSE(MATCH(D, thresholds, 1), next rule, tier, 缺…) picks.
    Numbers stored as text count as numbers (VALUE), as the core reads them; credit is
    推算信誉 where it is filled, else 回款信誉 (as regrade grades)."""
    rules = list(rules or [])
    headers = list(headers or _C.headers)
    place = place or DEFAULT_PLACE
    V, CR, M, G = (this_row(_C, k) for k in ("volume", "credit", "margin", "growth"))
    derived = _C.header("derived_credit")
    credit = (f"TRIM(IF({_C.name}[[#This Row],[{_esc_col(derived)}]]<>\"\",{_C.name}[[#This Row],"
              f"[{_esc_col(derived)}]],{CR}))" if derived in headers else f"TRIM({CR})")
    grow = f"TRIM({G})"
    # a cell as a number: text through VALUE (numbers stored as text, 1,200, 15%), a number as
    # it is (x/TRUE is x), anything else an error (a blank: 0/FALSE) — "unknown" to the checks
    xv = f"IF(ISTEXT({V}),VALUE(SUBSTITUTE({V},\",\",\"\")),{V}/ISNUMBER({V}))"
    xm = f"IF(ISTEXT({M}),VALUE(SUBSTITUTE({M},\",\",\"\")),{M}/ISNUMBER({M}))"
    credits = list(reversed(L.CREDITS))  # 差 … 好
    clist = "{" + ",".join(_str(c) for c in credits) + "}"
    glist = "{" + ",".join(_str(g) for g in L.GROWTHS) + "}"

    def bounds(x: str, lo: str | None, hi: str | None) -> str:
        parts = ([f"({x}<{lo})"] if lo else []) + ([f"({x}>={hi})"] if hi else [])
        return parts[0] if len(parts) == 1 else f"(({'+'.join(parts)})>0)"

    ordered = sort_rules(rules)
    chain = _str(NO_MATCH)
    for r in reversed(ordered):
        cell = functools.partial(place.cell, r.rid)
        checks: list[tuple[str, str]] = []
        if r.volume_min is not None or r.volume_max is not None:
            cmp = bounds(xv, cell("volume_min") if r.volume_min is not None else None,
                         cell("volume_max") if r.volume_max is not None else None)
            checks.append((_C.header("volume"), f"IFERROR(-{cmp},1)"))
        if r.min_credit in L.CREDITS:
            checks.append((_C.header("credit"),
                           f"IFERROR(-(MATCH({credit},{clist},0)<MATCH({cell('min_credit')},{clist},0)),1)"))
        if r.margin_min is not None or r.margin_max is not None:
            cmp = bounds(xm, cell("margin_min") if r.margin_min is not None else None,
                         cell("margin_max") if r.margin_max is not None else None)
            checks.append((_C.header("margin"), f"IFERROR(-{cmp}/(ABS({xm})<=1),1)"))
        if r.growth_values():
            checks.append((_C.header("growth"), f"IFERROR(-(1-ISNUMBER(SEARCH({grow},{cell('growth')})))"
                                                f"/{_one_of(grow, L.GROWTHS)},1)"))
        if r.extra and str(r.extra).strip():
            compiled = _conditions(r.extra, headers, xv)
            if compiled is None:
                checks.append((f"第{r.order}条规则的附加条件", "1"))
            else:
                checks += [(name, "1" if known is None else f"(1-{known}*(2-{passes}))")
                           for name, known, passes in compiled]
        if len(checks) > MAX_CHECKS:
            raise ValueError(f"第{r.order}条规则的条件太多（{len(checks)} 项），原生公式最多支持 {MAX_CHECKS} 项")
        tier = cell("tier")
        if not checks:
            chain = tier
            continue
        n = len(checks)
        d = "+".join(f"{t}*{3 ** (n - 1 - j)}" if n - 1 - j else t for j, (_, t) in enumerate(checks))
        thresholds = ["-10000000", "0"] + [_num(3 ** k / 2) for k in range(n)]
        labels = [_str("缺" + label) for label, _ in reversed(checks)]
        chain = f"CHOOSE(MATCH({d},{{{','.join(thresholds)}}},1),{chain},{tier},{','.join(labels)})"
    blank = (f"AND(ISERROR({xv}),ISNA(MATCH({credit},{clist},0)),IFERROR(ABS({xm})>1,TRUE),"
             f"ISNA(MATCH({grow},{glist},0)))")
    out = f"IF({_guard(rules, place)},IF({blank},\"\",{chain}),{_str(STALE)})"
    if len(out) + 1 > MAX_LENGTH:
        raise ValueError(f"分级规则编译成的公式太长（{len(out)} 个字符，Excel 最多 8192）：请减少规则行或附加条件")
    return out


def _guard(rules: list, place: RulePlace) -> str:
    """The rule table still has the shape this formula was compiled from: as many rows, and
    in each the same 顺序, the same cells filled (a bound, a valid minimum credit, growth
    values, a tier) and the same 附加条件 text."""
    n_rows = place.rows if place.rows is not None else max((r.rid + 1 for r in rules), default=1)
    parts = [f"ROWS({column(_T, 'order')})={max(n_rows, 1)}"]  # LibreOffice counts a bare table's header
    used = {r.rid for r in rules}
    first = col_letter(place.first_col)
    last = col_letter(place.first_col + len(place.headers) - 1)
    for i in range(n_rows):  # a blank row of the table stays blank (a rule typed there needs a recompile)
        if i not in used:
            row = place.header_row + 1 + i
            parts.append(f"COUNTA({_sheet_ref(place.sheet)}!${first}${row}:${last}${row})=0")
    for r in rules:
        cell = functools.partial(place.cell, r.rid)
        order = cell("order")
        parts.append(f"{order}={_num(r.order)}" if r.order is not None else f"{order}=\"\"")
        bits = [(f"ISNUMBER({cell(k)})", getattr(r, k) is not None)
                for k in ("volume_min", "volume_max", "margin_min", "margin_max")]
        bits += [(_one_of(cell("min_credit"), L.CREDITS), r.min_credit in L.CREDITS),
                 (f"({cell('growth')}<>\"\")", bool(r.growth_values())),
                 (f"({cell('tier')}<>\"\")", bool(r.tier))]
        code = sum(1 << i for i, (_, on) in enumerate(bits) if on)
        parts.append("+".join(f"{b}*{1 << i}" if i else b for i, (b, _) in enumerate(bits)) + f"={code}")
        text = str(r.extra).strip() if r.extra else ""
        parts.append(f"TRIM({cell('extra')})={_str(text)}")
    return f"AND({','.join(parts)})"


# ---------------------------------------------------------------------------
# Receivables: 未回款, 逾期天数, 账龄
AGING_BOUNDS = L.AGING_BOUNDS  # 未到期 ≤0 < 1-30 ≤ 30 < 31-60 ≤ 60 < … (the labels of L.AGING_BUCKETS)


def aging_formula() -> str:
    out, days = this_row(_R, "outstanding"), this_row(_R, "overdue_days")
    starts = ",".join(["-1E9"] + [str(b + 1) for b in AGING_BOUNDS])
    labels = ",".join(_str(b) for b in L.AGING_BUCKETS[:6])
    return (f'IF({out}="","",IF({out}<={L.SETTLED!r},{_str(L.AGING_BUCKETS[6])},IF({days}="","",'
            f"LOOKUP({days},{{{starts}}},{{{labels}}}))))")
