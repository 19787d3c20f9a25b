"""A read-only snapshot of what an action read: plain records keyed by layout key.

Every store answers `load(needs)` with one.  It carries no Excel table, no header and no
row position: a record's `rid` is its store's key, a finding names (table, rid, key),
and `where` (the store's) says in words where that is for a message.  A view still
being computed by the store (the file store reads one on a second thread) is a
`deferred` function, run on first use.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import layout as L
from ..domain.models import Customer, Receivable, Settings, UnreadField, Visit
from ..domain.procedures import customer_groups
from ..domain.visits import last_completed_by_customer
from .needs import LAST_VISITS


def _nowhere(table: str, rid: int | None, key: str | None) -> str:
    tdef = L.TABLES.get(table)
    label = tdef.header(key) if tdef is not None and key in tdef.keys else (key or "")
    return f"“{tdef.sheet if tdef else table}”记录 {rid}" + (f"（{label}）" if label else "")


@dataclass
class Snapshot:
    records: dict[str, list | None] = field(default_factory=dict)  # table → records (None: not read)
    rules: list = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    problems: list = field(default_factory=list)  # cells and parameters that could not be read
    as_of: dt.date = field(default_factory=dt.date.today)
    notices: list = field(default_factory=list)  # what the store found around its tables
    # table → the layout keys the store holds for it (a book made before a column existed
    # lacks it; every action still runs there, without what the column adds)
    fields: dict[str, frozenset] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict, repr=False)
    # table → {record id: rid} of every record, for a table read with Read(only=…)
    ids: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    deferred: dict[str, Callable[[], Any]] = field(default_factory=dict, repr=False)
    # a customer's user columns by label, for the rules' 附加条件 (None: not kept)
    extras: Callable[[Customer], dict[str, Any]] | None = field(default=None, repr=False)
    # how the store names a record's field in a message (a cell for a workbook)
    where: Callable[[str, int | None, str | None], str] = field(default=_nowhere, repr=False)
    # parallel(fn): fn started beside what the action computes next, where the store can (the file
    # store forks: a second process with the records as they are, none copied); gives what has
    # result() and cancel().  None: everything is computed here, one step after the other.
    parallel: Callable[[Callable[[], Any]], Any] | None = field(default=None, repr=False)
    # Needs.beside's parts the store began while it loaded: name → what has result() and cancel()
    begun: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- records ------------------------------------------------------------------
    def records_of(self, name: str) -> list | None:
        return self.records.get(name)

    def record_ids(self, name: str) -> set[str]:
        """Every record id of a table (also of one whose records were read only for some ids)."""
        if name in self.ids:
            return set(self.ids[name])
        return {r.id for r in self.records.get(name) or () if r.id}

    def has_table(self, name: str) -> bool:
        return name in self.fields

    def has_field(self, table: str, key: str) -> bool:
        return key in self.fields.get(table, ())

    def _required(self, name: str, what: str) -> list:
        recs = self.records.get(name)
        if recs is None:
            raise UnreadField(f"{what} were not read as records: add Read() of {name} to the action's needs")
        return recs

    @property
    def customers(self) -> list[Customer]:
        return self.records.get(L.CUSTOMERS.name) or []

    @property
    def visits(self) -> list[Visit]:
        return self._required(L.VISITS.name, "visits")

    @property
    def receivables(self) -> list[Receivable]:
        return self._required(L.RECEIVABLES.name, "receivables")

    @property
    def certifications(self) -> list | None:
        return self.records.get(L.CERTIFICATIONS.name)

    @property
    def complaints(self) -> list | None:
        return self.records.get(L.COMPLAINTS.name)

    @property
    def surveys(self) -> list | None:
        return self.records.get(L.SURVEYS.name)

    @property
    def grade_log(self) -> list:
        return self.records.get(L.GRADE_LOG.name) or []

    # -- views --------------------------------------------------------------------
    def view(self, name: str) -> Any:
        fn = self.deferred.pop(name, None)
        if fn is not None:  # its error, if any, is this call's
            self.views[name] = fn()
        return self.views[name]

    def all_notices(self) -> list:
        """What the store found around its tables, every view still being read settled first:
        reading one may take rows typed under its table in, and say so."""
        for name in list(self.deferred):
            self.view(name)
        return list(self.notices)

    def last_visits(self) -> dict[str, dt.date]:
        """Customer id → date of the last completed visit."""
        if LAST_VISITS in self.views or LAST_VISITS in self.deferred:
            return self.view(LAST_VISITS)
        return last_completed_by_customer(self.visits)

    def groups(self, name: str):
        """(customer id, its records) for every customer the table's records name: a stream
        the store gives ordered by customer is grouped as it goes (one group held at a time)."""
        return ((cid, recs) for cid, recs in customer_groups(self._required(name, name)) if cid)

    def receivables_by_customer(self) -> dict[str, list[Receivable]]:
        return _by_customer(self.receivables)

    def visits_by_customer(self) -> dict[str, list[Visit]]:
        return _by_customer(self.visits)

    @property
    def rows_kept(self) -> bool:
        return self.extras is not None

    def customer_extra(self, c: Customer) -> dict[str, Any]:
        """The customer's whole record by label (user columns included), for rule conditions."""
        if self.extras is None:
            raise UnreadField("the customers' rows were not kept: declare Read(rows=True) for Customers")
        return self.extras(c)


def keep_only(snap: Snapshot, name: str, records: list, only, by: str = "id") -> list:
    """For a store that reads whole records: keep those whose `by` is in `only`, and every
    id → rid."""
    if only is None:
        return records
    ids: dict[str, int] = {}
    kept = []
    for r in records:
        i = r.id
        if i:
            ids.setdefault(i, r.rid)
        if getattr(r, by) in only:
            kept.append(r)
    snap.ids[name] = ids
    return kept


def _by_customer(records) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records:
        if r.customer_id:
            out.setdefault(r.customer_id, []).append(r)
    return out
