"""Records a user typed into a table — under it in Excel, WPS or LibreOffice, or inserted
inside it — get an id where it is missing, by the next action that writes (PRODUCT.md §2).
Their calculated fields are the store's to fill (workbook/apply.py: the table's formula,
with the value the change set's calculators give as its cached result)."""
from __future__ import annotations

from .. import layout as L
from ..domain.names import next_ids
from ..store import ChangeSet, Snapshot

ID_TABLES = (L.CUSTOMERS, L.VISITS, L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS)


def assign_ids(data: Snapshot, changes: ChangeSet) -> int:
    """Give every record without an id the next free one (KH000301 …), in the records (so
    the action computes with it) and in the changes.  Returns how many."""
    n = 0
    for tdef in ID_TABLES:
        records = data.records_of(tdef.name)
        if not records or not data.has_field(tdef.name, tdef.id_key):
            continue
        blank = getattr(records, "blank", None)  # a stream asks its store, not every record
        missing = [r for r in (blank(tdef.id_key) if blank else records) if not r.id and _has_identity(tdef, r)]
        if not missing:
            continue
        fresh = next_ids(data.record_ids(tdef.name), tdef.id_prefix)
        patch = getattr(records, "patch", None)  # a stream's later passes give the record with its id
        for r in missing:
            r.id = next(fresh)
            if patch:
                patch(r.rid, tdef.id_key, r.id)
            changes.update(tdef.name, r.rid, tdef.id_key, r.id)
            n += 1
    return n


def _has_identity(tdef: L.TableDef, r) -> bool:
    """A customer needs its name to be numbered; a child row its customer."""
    if tdef is L.CUSTOMERS:
        return bool(getattr(r, "name", None))
    return bool(r.customer_id)
