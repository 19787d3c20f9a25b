"""A change set of record actions → the cell changes of one workbook (both fronts).

The store read the tables; it knows which Excel row holds which record (a record's rid
is its row within the table body, as read), which column holds which layout key, which
columns are calculated (a formula of the table, with a cached value the core computes)
and where findings go.  This is the record → row mapping, in one place:

- an update of a field → that cell; of a calculated field → its formula, the value cached;
- a record whose inputs changed, or typed under its table, gets its calculated cells'
  cached values anew (from the change set's calculators);
- `refresh`: a calculated column whose formula is not the one the rule table and layout
  ask for gets it in every row, with cached values;
- an added record → a row appended under the table; a removed one → its row deleted the
  way Excel deletes a table row (the rows below move up within the table);
- findings → the 校验结果 table, each row number a link to the cell (PRODUCT.md §2).
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from .. import layout as L
from ..domain.findings import Finding, Placed, label
from ..domain.models import UnreadField
from ..store.changes import ChangeSet
from . import formulas
from .tables import Changes, Formula, Table

C = L.CUSTOMERS
# the fields 建议等级 grades with (its formula reads the rule table; these are its row inputs)
TIER_INPUTS = frozenset({"volume", "credit", "margin", "growth", "derived_credit"})


def inputs_of(tdef: L.TableDef, col: L.Column) -> frozenset:
    if col.formula == formulas.TIER_FORMULA:
        return TIER_INPUTS
    if col.formula == formulas.AGING_FORMULA:
        return frozenset({"outstanding", "due_date", "overdue_days", "amount", "paid"})
    return frozenset(re.findall(r"\{col:(\w+)\}", col.formula or ""))


def rows_of(tables: dict[str, Table], table: str, rids: Iterable[int]) -> str:
    t = tables.get(table)
    return "、".join(str(t.excel_row(r) if t is not None else r) for r in rids)


def place(f: Finding, tables: dict[str, Table]) -> Placed:
    """A finding on its sheet (as the book names it now), its Excel row and column label."""
    if f.outside is not None:
        return Placed(f.rule, f.severity, f.outside[0], f.outside[1], None, f.message)
    tdef = L.TABLES.get(f.table)
    t = tables.get(f.table)
    sheet = tdef.sheet if tdef is not None else f.table  # the layout's name: 校验结果 filters by it
    row = t.excel_row(f.rid) if t is not None and f.rid is not None else None
    return Placed(f.rule, f.severity, sheet, row, label(f.table, f.key),
                  f.text(lambda tb, rids: rows_of(tables, tb, rids)), f.customer_id, f.value)


def linked(p: Placed, tables: dict[str, Table]) -> dict[str, Any]:
    """A finding's 校验结果 row by header, its 行号 a HYPERLINK formula whose value is the row
    number (so the highlight and a filter on 行号 work as before) jumping to the cell."""
    row = L.ISSUES.row(**p.as_row())
    header, n = L.ISSUES.header("row"), p.row
    if not isinstance(n, int) or not p.sheet:
        return row
    table = next((tables[t.name] for t in L.TABLES.values() if t.sheet == p.sheet and t.name in tables), None)
    actual = table.sheet if table is not None else p.sheet  # a user may have renamed the sheet
    cell = table.cell_ref(n - table.header_row - 1, p.column) \
        if table is not None and p.column in (table.offsets or {}) else f"A{n}"
    # a sheet name is the user's text: quoted for the reference, then for the string literal
    target = f"'{actual.replace(chr(39), chr(39) * 2)}'!{cell}".replace('"', '""')
    return {**row, header: Formula(f'HYPERLINK("#{target}",{n})', n)}


def _by_header(tdef: L.TableDef, t: Table | None, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records' values by header; fields whose column the book lacks are left out."""
    have = set(t.all_headers) if t is not None else None
    headers = {c.key: c.header for c in tdef.columns if have is None or c.header in have}
    labels = {c.key for c in tdef.columns}
    out = []
    for values in rows:
        row = {}
        for k, v in values.items():
            h = headers.get(k)
            if h is not None:
                row[h] = v
            elif k not in labels and (have is None or k in have):  # a user's own column, by its label
                row[k] = v
        out.append(row)
    return out


def _calculate(changes: ChangeSet, name: str, records: list) -> dict[int, dict[str, Any]]:
    fn = changes.calculated.get(name)
    if fn is None or not records:
        return {}
    try:
        return fn(records)
    except UnreadField:  # a field this action did not read: no cached value this time
        return {}


def cell_changes(changes: ChangeSet, loaded) -> Changes:
    """The cell changes of `changes` on the book `loaded` (workbook/loader.Loaded) read."""
    tables: dict[str, Table] = loaded.tables
    snap = loaded.snapshot
    out = Changes(status=changes.status)
    refreshed: dict[str, set[str]] = {}
    for name in changes.refresh:
        refreshed[name] = _refresh(changes, loaded, name, out)
    for name, recs in changes.updates.items():
        tdef, t = L.TABLES[name], tables.get(name)
        if t is None:
            continue
        found = {h: f for h, f in loaded.formulas.get(name, {}).items() if f}
        for rid, values in recs.items():
            for key, v in values.items():
                header = tdef.header(key)
                if header not in t.all_headers:
                    if tdef.column(key).added:  # a book made before the column: without it
                        continue
                    raise KeyError(f"{name}.{key} is not a column of the book's table")
                if header in found and not isinstance(v, Formula):
                    v = Formula(found[header], v)
                out.set(name, rid, header, v)
    # records whose calculated cells need their cached values again: inputs changed, or
    # typed under the table (the formula is written there too)
    for name, found_all in loaded.formulas.items():
        tdef, t = L.TABLES[name], tables.get(name)
        found = {h: f for h, f in found_all.items() if f and h not in refreshed.get(name, ())
                 and h not in out.formulas.get(name, {})}
        if t is None or not found:
            continue
        cols = [c for c in tdef.columns if c.header in found]
        inputs = frozenset().union(*(inputs_of(tdef, c) for c in cols))
        stale = {rid for rid, values in changes.updated(name).items() if inputs & set(values)}
        typed = set(loaded.taken_in.get(name, ()))
        if not (stale or typed):
            continue
        records = [r for r in (snap.records_of(name) or ()) if r.rid in stale or r.rid in typed]
        cached = _calculate(changes, name, records)
        for rid in sorted(stale | typed):
            values = cached.get(rid, {})
            for c in cols:
                if rid in typed or inputs_of(tdef, c) & set(changes.updated(name).get(rid, {})):
                    out.set(name, rid, c.header, Formula(found[c.header], values.get(c.key)))
    for name, rids in changes.removes.items():
        if rids:
            out.delete(name, rids)
    for name, rows in changes.adds.items():
        tdef = L.TABLES[name]
        out.append(name, _by_header(tdef, tables.get(name), rows))
    for name, rows in changes.replaces.items():
        tdef = L.TABLES[name]
        out.replace(name, _by_header(tdef, tables.get(name), rows))
    if changes.findings is not None:
        out.replace(L.ISSUES.name, [linked(place(f, tables), tables) for f in changes.findings])
    changes.calculated = {}  # the calculators hold the records: let them go before the write
    out.notes = refresh_note(out)
    return out


def _refresh(changes: ChangeSet, loaded, name: str, out: Changes) -> set[str]:
    """Calculated columns of `name` whose formula is not the one the rule table (and layout)
    asks for get it in every row, with cached values: 建议等级 when the 附加条件 it compiles
    changed (the sheet shows 规则已改，请重新分级 until then), and any column of a book written
    by an older version (per-row Python UDF calls)."""
    done: set[str] = set()
    t = loaded.tables.get(name)
    found = loaded.formulas.get(name, {})
    if t is None:
        return done
    tdef = L.TABLES[name]
    wanted = {}
    for col in tdef.columns:
        if not col.formula or col.header not in found or col.header not in t.all_headers:
            continue
        if col.formula == formulas.TIER_FORMULA:
            text = formulas.tier_formula(loaded.snapshot.rules, t.all_headers, rule_place(loaded.tables))
        else:
            text = formulas.structured(tdef, col)
        if found[col.header] != text:
            wanted[col] = text
    if not wanted:
        return done
    records = loaded.snapshot.records_of(name) or []
    cached = _calculate(changes, name, records)
    n_rows = len(t.rows)
    for col, text in wanted.items():
        values: list[Any] = [""] * n_rows
        for r in records:
            if 0 <= r.rid < n_rows:
                values[r.rid] = cached.get(r.rid, {}).get(col.key, "")
        out.set_formula(name, col.header, text, values)
        done.add(col.header)
    return done


def refresh_note(changes: Changes) -> list[str]:
    cols = [h for t in (C.name, L.RECEIVABLES.name) for h in changes.formulas.get(t, {})]
    return ["已按当前分级规则表更新公式列：" + "、".join(cols)] if cols else []


def rule_place(tables: dict[str, Table]) -> formulas.RulePlace:
    """Where the book's TierRules table is (the tier formula points at its cells)."""
    t = tables[L.TIER_RULES.name]
    return formulas.RulePlace(t.sheet, t.header_row, t.first_col, tuple(t.all_headers),
                              t.body_rows if t.body_rows is not None else len(t.rows))
