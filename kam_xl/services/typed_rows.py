"""Rows a user typed into a table — under it in Excel, WPS or LibreOffice, or inserted
inside it — made whole by the next action that writes the book (PRODUCT.md §2): an id
where it is missing, the calculated columns with their formula and cached value (the
store gives typed rows the column's number formats; validation and highlights already
cover whole columns)."""
from __future__ import annotations

from .. import layout as L
from ..domain.computed import receivable_cells, suggested_tier
from ..domain.models import UnreadField
from ..domain.names import next_ids
from ..domain.tiering import sort_rules
from ..workbook.loader import BookData
from ..workbook.tables import Changes, Formula

ID_TABLES = (L.CUSTOMERS, L.VISITS, L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS)


def assign_ids(data: BookData, changes: Changes) -> int:
    """Give every record without an id the next free one (KH000301 …), in the records (so
    the action computes with it) and in the changes.  Returns how many."""
    n = 0
    for tdef in ID_TABLES:
        records = data.records_of(tdef.name)
        t = data.tables.get(tdef.name)
        header = tdef.header(tdef.id_key)
        if not records or t is None or header not in (t.offsets or {}):
            continue
        missing = [r for r in records if not r.id and _has_identity(tdef, r)]
        if not missing:
            continue
        fresh = next_ids([r.id for r in records], tdef.id_prefix)
        for r in missing:
            r.id = next(fresh)
            changes.set(tdef.name, r.row_index, header, r.id)
            n += 1
    return n


def _has_identity(tdef: L.TableDef, r) -> bool:
    """A customer needs its name to be numbered; a child row its customer."""
    if tdef is L.CUSTOMERS:
        return bool(getattr(r, "name", None))
    return bool(r.customer_id)


def fill_calculated(data: BookData, changes: Changes) -> None:
    """The calculated columns of rows typed under a table: the table's formula, with the
    value the core computes as its cached result (blank when this action did not read
    what the value needs: the next regrade or validate fills it)."""
    for name, rows in data.taken_in.items():
        rewritten = changes.formulas.get(name, {})  # a column given a new formula in every row has them
        found = {h: f for h, f in data.formulas.get(name, {}).items() if f and h not in rewritten}
        if not rows or not found:
            continue
        cached = _cached(data, name, set(rows))
        for ri in rows:
            values = cached.get(ri, {})
            for header, text in found.items():
                changes.set(name, ri, header, Formula(text, values.get(header)))


def _cached(data: BookData, name: str, rows: set[int]) -> dict[int, dict]:
    records = [r for r in (data.records_of(name) or ()) if r.row_index in rows]
    out: dict[int, dict] = {}
    try:
        if name == L.CUSTOMERS.name:
            ordered = sort_rules(data.rules)
            conditions = any(r.extra for r in ordered)
            header = L.CUSTOMERS.header("suggested_tier")
            for c in records:
                if conditions and not data.rows_kept:
                    continue
                extra = data.customer_extra(c) if conditions else {}
                out[c.row_index] = {header: suggested_tier(c, extra, ordered, data.settings)}
        elif name == L.RECEIVABLES.name:
            for r in records:
                out[r.row_index] = receivable_cells(r, data.as_of)
        elif name == L.SURVEYS.name:
            header = L.SURVEYS.header("score")
            for s in records:
                out[s.row_index] = {header: s.computed_score()}
    except UnreadField:  # a field this action did not read: no cached value this time
        return {}
    return out


def make_whole(data: BookData, changes: Changes) -> None:
    """Both steps, for an action that has computed: ids first (call assign_ids before
    computing when the action uses them), then the calculated cells."""
    assign_ids(data, changes)
    fill_calculated(data, changes)
