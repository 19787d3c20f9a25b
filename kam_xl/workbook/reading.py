"""The reading layer: cells as the user typed them → typed records (PRODUCT.md §2).

Lenient: a cell that is not what its column takes becomes None plus a registered
`Problem`, never an exception, so validation reports every bad cell at once.  Which
values a column takes (its kind, its list, its range) comes from layout.py alone.
Also: the Settings table's rows → Settings, and the cached values the workbook's
formula columns show, for rows about to be written.
"""
from __future__ import annotations

import dataclasses

import datetime as dt
import math
import operator
from typing import Any

from .. import layout as L
from ..domain.computed import receivable_cells, suggested_tier
from ..domain.models import MODELS, RecordShape, Settings, TierRule, clean_text, to_date, to_number
from ..domain.problems import TYPE_CODES, Problem, problem
from ..domain.tiering import sort_rules
from ..domain.values import CellError, is_blank


def coerce_value(col: L.Column, v: Any) -> tuple[Any, str | None]:
    """Turn one cell into the column's type.  Returns (value, problem message)."""
    if is_blank(v):
        return None, None
    if isinstance(v, CellError):
        return None, v.message(col.header)
    try:
        if col.kind in (L.MONEY, L.PERCENT, L.NUMBER):
            x = to_number(v)
            if x is not None and col.kind == L.PERCENT and abs(x) > 1 and col.hi == 1:
                return x, f"“{col.header}”应在 0%–100% 之间，当前为 {v}"
            if x is not None and col.lo is not None and x < col.lo:
                return x, f"“{col.header}”不能小于 {col.lo:g}，当前为 {v}"
            if x is not None and col.hi is not None and x > col.hi:
                return x, f"“{col.header}”不能大于 {col.hi:g}，当前为 {v}"
            return x, None
        if col.kind == L.INT:
            x = to_number(v)
            if x is not None and ((col.lo is not None and x < col.lo) or (col.hi is not None and x > col.hi)):
                return None, f"“{col.header}”应为 {col.lo:g}–{col.hi:g} 的整数，当前为 {v}"
            return (int(x) if x is not None else None), None
        if col.kind == L.DATE:
            return to_date(v), None
        if col.kind == L.DATETIME:
            day = to_date(v)
            return (dt.datetime.combine(day, dt.time()) if day is not None else None), None
        if col.kind == L.ENUM:
            s = clean_text(v)
            if col.choices and s not in col.choices and not col.soft_choices:
                return None, f"“{col.header}”只能填写：{' | '.join(col.choices)}；当前为“{s}”"
            return s, None
        return clean_text(v), None
    except (TypeError, ValueError, OverflowError):
        kind = {L.MONEY: "金额数字", L.PERCENT: "百分比", L.NUMBER: "数字", L.INT: "整数",
                L.DATE: "日期(如 2026-03-05)", L.DATETIME: "日期时间"}.get(col.kind, "文本")
        return None, f"“{col.header}”应为{kind}，当前为“{v}”"


def coerce_record(table: L.TableDef, row: dict[str, Any], index: int):
    """Row of {header: value} → (model, [Problem]); absent columns at their defaults."""
    headers = list(row)
    records, problems = coerce_rows(table, headers, [list(row.values())], start=index, skip_blank=False)
    return records[0], problems


_DATETIME, _DATE = dt.datetime, dt.date


_STR_OR_NONE = frozenset({str, type(None)})
_FLOAT_OR_NONE = frozenset({float, type(None)})
_DATE_OR_NONE = frozenset({_DATE, type(None)})


def _column(col: L.Column, raw: list[Any], problems: list, rows_offset: int,
            same: dict[str, Any] | None = None) -> list[Any]:
    """Convert one column.  The common cell types are handled inline (this runs for
    every cell of 100k-row books); anything else goes through coerce_value."""
    def slow(r: int, v: Any) -> Any:
        val, msg = coerce_value(col, v)
        if msg and not col.formula:  # computed columns are not user input
            problems.append((rows_offset + r, col.header, v, msg))
        if col.kind == L.PERCENT and val is not None and col.hi == 1 and abs(val) > 1:
            return None  # out of range: unknown rather than a guess
        return val

    kind = col.kind
    types = set(map(type, raw))  # a column of one kind of cell (the common case) is mapped at C speed
    if kind == L.TEXT:
        distinct = set(raw)
        if len(distinct) * 10 > len(raw) * 9:  # ids, names: nothing to share (a dict of them costs 10x the strip)
            if types <= _STR_OR_NONE:
                return [(v.strip() or None) if v else None for v in raw]
            return [(v.strip() or None) if type(v) is str else None if v is None else slow(r, v)
                    for r, v in enumerate(raw)]
        # one string object per distinct value: customer ids, places and people repeat across
        # hundreds of thousands of rows
        same = {} if same is None else same
        for v in distinct:
            if type(v) is str and v not in same:
                same[v] = v.strip() or None
        get = same.get
        if types <= _STR_OR_NONE:
            return list(map(get, raw))  # None is never a key: it maps to None
        return [get(v) if type(v) is str else None if v is None else slow(r, v) for r, v in enumerate(raw)]
    if kind == L.ENUM:
        if col.soft_choices or not col.choices:
            return [(v.strip() or None) if type(v) is str else None if v is None else slow(r, v)
                    for r, v in enumerate(raw)]
        canon = {c: c for c in col.choices}  # one shared string object per choice
        if types <= _STR_OR_NONE and all(v in canon for v in set(raw) if v):
            return list(map(canon.get, raw))  # None and "" are not choices: they map to None
        return [canon[v] if v in canon else None if v is None or v == "" else slow(r, v)
                for r, v in enumerate(raw)]
    if kind in (L.MONEY, L.NUMBER):
        if col.lo is None and col.hi is None:
            if types <= _FLOAT_OR_NONE:
                return list(raw)
            return [float(v) if type(v) in (float, int) else None if v is None else slow(r, v)
                    for r, v in enumerate(raw)]
    if kind in (L.MONEY, L.NUMBER, L.PERCENT):  # bounded: a number within bounds goes straight through
        lo = -math.inf if col.lo is None else col.lo
        hi = math.inf if col.hi is None else col.hi
        if kind == L.PERCENT and col.hi == 1:
            lo = max(lo, -1.0)  # beyond ±100% is a problem (coerce_value)
        return [v if type(v) is float and lo <= v <= hi else None if v is None else slow(r, v)
                for r, v in enumerate(raw)]
    if kind == L.INT:  # scores 1–5, counts: numbers in range go straight through
        lo = -math.inf if col.lo is None else col.lo
        hi = math.inf if col.hi is None else col.hi
        return [int(v) if type(v) in (float, int) and lo <= v <= hi and math.isfinite(v) else None if v is None
                else slow(r, v) for r, v in enumerate(raw)]
    if kind == L.DATETIME:  # the logs' times: the time of day kept
        return [v if type(v) is _DATETIME else _DATETIME.combine(v, dt.time()) if type(v) is _DATE
                else None if v is None else slow(r, v) for r, v in enumerate(raw)]
    if kind == L.DATE:
        if types <= _DATE_OR_NONE:
            return list(raw)
        days: dict[Any, _DATE] = {}  # a few hundred distinct days over many rows: one object each
        return [days.setdefault(v, v.date()) if type(v) is _DATETIME else v if type(v) is _DATE
                else None if v is None else slow(r, v) for r, v in enumerate(raw)]
    return [None if v is None else slow(r, v) for r, v in enumerate(raw)]




def construct(model: type, values: dict[str, Any], partial: bool = False):
    """A record from values already typed by the column converters, without pydantic's
    per-call validation.  A partial record (the action read only some columns) holds only
    those: any other field raises UnreadField; a full one has every field, the missing
    ones at their defaults."""
    return RecordShape(model, values, partial).make(values)


def typed_columns(table: L.TableDef, headers: list[str], raw_columns: list[list[Any]],
                  start: int = 0) -> list[list[Any]]:
    """Columns typed the way records are, without making records (for derived views);
    cells that cannot be read are None."""
    by_header = table.by_header()
    return [_column(by_header[h], raw, [], start) for h, raw in zip(headers, raw_columns)]


def coerce_rows(table: L.TableDef, headers: list[str], rows: list[list[Any]], start: int = 0,
                skip_blank: bool = True, same: dict[str, Any] | None = None, partial: bool = False, keep=None,
                only=None, ids: dict | None = None, by: str = "id"):
    """A table body → (models, [(row index, header, raw value, message)]), column by column.
    `same` shares one string object per distinct text value across calls (chunks)."""
    raw = [[row[i] if i < len(row) else None for row in rows] for i in range(len(headers))]
    return coerce_columns(table, headers, raw, start, skip_blank, same, n_rows=len(rows), partial=partial,
                          keep=keep, only=only, ids=ids, by=by)


def coerce_columns(table: L.TableDef, headers: list[str], raw_columns: list[list[Any]], start: int = 0,
                   skip_blank: bool = True, same: dict[str, Any] | None = None, n_rows: int | None = None,
                   partial: bool = False, keep=None, only=None, ids: dict | None = None, by: str = "id"):
    """The same from columns (one list of cell values per header) — how the file
    engine reads a table.  partial: only these columns were read (see construct).
    keep: the layout keys the records hold — every column is still typed (its problems
    reported, its values counted for blank rows), only these are kept.
    only: the values of the field `by` whose rows are made into records (Read.only); every
    row's id → its index goes into `ids`.  Only those rows are typed beyond the two columns:
    the other rows' cells are not looked at (an action that checks cells reads without it)."""
    if only is not None:
        return _coerce_only(table, headers, raw_columns, start, skip_blank, same, partial, keep, only, ids, by)
    problems: list = []
    by_header = table.by_header()
    keys, columns = [], []
    for h, raw in zip(headers, raw_columns):
        col = by_header.get(h)
        if col is None:
            continue
        keys.append(col.key)
        columns.append(_column(col, raw, problems, start, same))
    if n_rows is None:
        n_rows = len(raw_columns[0]) if raw_columns else 0
    computed = {c.key for c in table.columns if c.formula}
    model = MODELS[table.name]
    kept = list(range(len(keys))) if keep is None else [j for j, k in enumerate(keys) if k in set(keep)]
    kept_keys = [keys[j] for j in kept]
    make_row = RecordShape(model, kept_keys, partial or keep is not None).row_maker(kept_keys)
    everything = len(kept) == len(keys)
    pick_kept = (lambda vals: vals) if everything else (
        operator.itemgetter(*kept) if len(kept) > 1 else (lambda vals, j=kept[0] if kept else 0: (vals[j],)))
    out = []
    user_cols = [j for j, k in enumerate(keys) if k not in computed]
    n_user = len(user_cols)
    if n_user > 1:
        pick = operator.itemgetter(*user_cols)
        def blank(vals): return pick(vals).count(None) == n_user
    elif n_user == 1:
        single = user_cols[0]
        def blank(vals): return vals[single] is None
    else:
        def blank(vals): return True
    if skip_blank and any(None not in columns[j] for j in user_cols):
        skip_blank = False  # a column typed in every row (the ids): no row is blank
    blank_rows = set()
    rows_iter = zip(*columns) if columns else iter([()] * n_rows)
    for r, vals in enumerate(rows_iter):
        if skip_blank and blank(vals):
            blank_rows.add(start + r)
            continue
        out.append(make_row(pick_kept(vals), start + r))
    return out, [_problem(table, by_header, *p) for p in problems if p[0] not in blank_rows]


def _coerce_only(table: L.TableDef, headers: list[str], raw_columns: list[list[Any]], start: int, skip_blank: bool,
                 same, partial: bool, keep, only, ids: dict, by: str):
    by_header = table.by_header()
    at = {by_header[h].key: j for j, h in enumerate(headers) if h in by_header}
    if by not in at:
        raise ValueError(f"Read(only=…, by={by!r}) of {table.name}: the field {by} is not read")
    values = _column(by_header[headers[at[by]]], raw_columns[at[by]], [], start, same)
    if table.id_key in at:
        id_values = values if by == table.id_key else \
            _column(by_header[headers[at[table.id_key]]], raw_columns[at[table.id_key]], [], start, same)
        for r, i in enumerate(id_values):
            if i:
                ids.setdefault(i, start + r)
    rows = [r for r, v in enumerate(values) if v in only]
    if not rows:
        return [], []
    sub = [[col[r] if r < len(col) else None for r in rows] for col in raw_columns]
    records, problems = coerce_columns(table, headers, sub, 0, skip_blank, same, n_rows=len(rows),
                                       partial=partial, keep=keep)
    for rec in records:
        rec.rid = start + rows[rec.rid]
    problems = [dataclasses.replace(p, index=start + rows[p.index]) if p.index is not None else p for p in problems]
    return records, problems


def _problem(table: L.TableDef, by_header: dict, index: int, header: str, raw: Any, msg: str) -> Problem:
    """A cell that is not what its column takes, as a registered problem."""
    type_code, enum_code = TYPE_CODES.get(table.name, ("CELL-ERROR-VALUE",) * 2)
    name = ("CELL-ERROR-VALUE" if isinstance(raw, CellError) else
            enum_code if by_header[header].kind == L.ENUM else type_code)
    return problem(name, table.name, index, header, raw, detail=msg)


SETTING_EXPECT = {L.SETTING_TEXT: "文本", L.SETTING_DATE: "日期（如 2026-10-31；留空表示今天）",
                  L.SETTING_INT: "整数（如 30）", L.SETTING_NUMBER: "数字（如 0.9 或 500000）"}


def read_settings(rows: list[dict[str, Any]]) -> tuple[Settings, list[Problem]]:
    """The Settings table's rows ({参数: key, 值: value}) → Settings, and a problem for each
    value that cannot be read (that parameter keeps its default).  Keys that are not
    ours are user-defined parameters, usable in rule conditions."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    key_header, value_header = L.SETTINGS.header("key"), L.SETTINGS.header("value")
    for i, row in enumerate(rows):
        key = clean_text(row.get(key_header))
        if not key:
            continue
        sdef = L.SETTINGS_BY_KEY.get(key)
        raw = row.get(value_header)
        if sdef is None:
            values[key] = raw
            continue
        if raw is None or raw == "":
            continue
        try:
            if sdef.kind == L.SETTING_TEXT:
                v = clean_text(raw)
            elif sdef.kind == L.SETTING_DATE:
                v = to_date(raw)
                if v is None:
                    raise ValueError
            elif sdef.kind == L.SETTING_INT:
                v = int(to_number(raw))
            else:
                v = to_number(raw)
                if v is None:
                    raise ValueError
            values[sdef.field] = v
        except (TypeError, ValueError, OverflowError):
            problems.append(problem("SETTINGS-INVALID", L.SETTINGS.name, i, value_header, raw, key=key,
                                    expect=SETTING_EXPECT[sdef.kind]))
    return Settings(**values), problems


# -- cached values of rows about to be written (builder, import) ----------------------
def customer_values(rows: list[dict[str, Any]], rules: list[TierRule], settings: Settings) -> list[dict[str, Any]]:
    """The cached 建议等级 of new customer rows (by header)."""
    ordered = sort_rules(rules)
    header = L.CUSTOMERS.header("suggested_tier")
    # rows with the same headers (an import's rows from one source) typed together, column by column
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row), []).append(i)
    records: list = [None] * len(rows)
    for headers, members in groups.items():
        typed, _ = coerce_rows(L.CUSTOMERS, list(headers), [list(rows[i].values()) for i in members],
                               skip_blank=False)
        for i, rec in zip(members, typed):
            records[i] = rec
    out = []
    for c, row in zip(records, rows):
        tier = suggested_tier(c, row, ordered, settings)
        out.append({header: tier} if tier else {})
    return out


def receivable_values(rows: list[dict[str, Any]], as_of: dt.date) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        cells = receivable_cells(coerce_record(L.RECEIVABLES, row, i)[0], as_of)
        out.append({L.RECEIVABLES.header(k): v for k, v in cells.items()})
    return out


def survey_values(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    header = L.SURVEYS.header("score")
    for i, row in enumerate(rows):
        score = coerce_record(L.SURVEYS, row, i)[0].computed_score()
        out.append({header: score} if score is not None else {})
    return out


def cached_for(data: dict[str, list[dict[str, Any]]], rules: list[TierRule], settings: Settings,
               as_of: dt.date) -> dict[str, list[dict[str, Any]]]:
    return {
        L.CUSTOMERS.name: customer_values(data.get(L.CUSTOMERS.name, []), rules, settings),
        L.RECEIVABLES.name: receivable_values(data.get(L.RECEIVABLES.name, []), as_of),
        L.SURVEYS.name: survey_values(data.get(L.SURVEYS.name, [])),
    }
