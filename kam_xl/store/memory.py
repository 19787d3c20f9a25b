"""MemoryStore: the store protocol over plain Python — what domain and service tests run
on (milliseconds, no workbook), and the reference the other stores are compared with.

Its tables are records by layout key (a customer may carry the user's own columns by
their label, for 附加条件); values are already typed.  A record's rid is a counter per
table, ascending in the order records were added.  Settings are held by field name.
"""
from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Iterable

from .. import layout as L
from ..domain.findings import Finding, Placed, place_plainly
from ..domain.models import MODELS, Settings
from ..domain.visits import last_completed_by_customer
from .changes import ChangeSet
from .needs import LAST_VISITS, Needs
from .snapshot import Snapshot, keep_only

RECORD_TABLES = tuple(n for n in MODELS if n != L.SETTINGS.name)


class MemoryStore:
    def __init__(self, tables: dict[str, Iterable[dict[str, Any]]] | None = None,
                 settings: dict[str, Any] | None = None, missing: dict[str, Iterable[str]] | None = None):
        """`tables`: table name → records by layout key; a table not given is absent (the
        §10 tables of an old book) unless it is a main one.  `settings`: by field name.
        `missing`: table → layout keys the store lacks (a book made before a column)."""
        self.rows: dict[str, dict[int, dict[str, Any]]] = {}
        self._next: dict[str, int] = {}
        for name in (L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name, L.TIER_RULES.name,
                     L.GRADE_LOG.name, L.IMPORT_LOG.name):
            self.rows[name] = {}
        for name, recs in (tables or {}).items():
            self.rows[name] = {}
            for r in recs:
                self._add(name, r)
        self.settings: dict[str, Any] = dict(settings or {})
        self.missing = {n: frozenset(keys) for n, keys in (missing or {}).items()}
        self.findings: list[Placed] = []
        self.status: str | None = None
        self.applied: list[ChangeSet] = []

    @classmethod
    def from_snapshot(cls, snap: Snapshot, with_extras: bool = True) -> "MemoryStore":
        """The records another store read (a full read), held in memory: the same action on
        both must give the same result."""
        tables = {}
        for name, recs in snap.records.items():
            if recs is None:
                continue
            rows = []
            for r in recs:
                values = r.values()
                if name == L.CUSTOMERS.name and with_extras and snap.rows_kept:
                    labels = {c.header for c in L.CUSTOMERS.columns}
                    values.update({h: v for h, v in snap.customer_extra(r).items() if h not in labels})
                rows.append(values)
            tables[name] = rows
        tables[L.TIER_RULES.name] = [r.values() for r in snap.rules]
        settings = {k: v for k, v in snap.settings.__dict__.items()}
        settings.update(snap.settings.__pydantic_extra__ or {})
        missing = {n: {c.key for c in L.TABLES[n].columns} - set(keys) for n, keys in snap.fields.items()}
        return cls(tables, settings, {n: k for n, k in missing.items() if k})

    def _add(self, name: str, values: dict[str, Any]) -> int:
        if name != L.CUSTOMERS.name and name in MODELS:  # only customers carry the user's own columns
            unknown = set(values) - set(MODELS[name].model_fields)
            if unknown:
                raise KeyError(f"{name} has no field {', '.join(sorted(unknown))}")
        rid = self._next.get(name, 0)
        self._next[name] = rid + 1
        self.rows.setdefault(name, {})[rid] = dict(values)
        return rid

    # -- the protocol ---------------------------------------------------------------
    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def has_table(self, name: str) -> bool:
        return name in self.rows or name == L.SETTINGS.name

    def records(self, name: str) -> list:
        """The table's records, typed (fresh objects: a snapshot is the action's own)."""
        model = MODELS[name]
        keys = set(model.model_fields)
        out = []
        for rid, values in self.rows.get(name, {}).items():
            fields = {k: v for k, v in values.items() if k in keys and k not in self.missing.get(name, ())}
            out.append(model(rid=rid, **copy.deepcopy(fields)))
        return out

    def load(self, needs: Needs, as_of: dt.date | None = None) -> Snapshot:
        snap = Snapshot()
        known = {k: v for k, v in self.settings.items()}
        snap.settings = Settings(**known)
        snap.rules = self.records(L.TIER_RULES.name) if L.TIER_RULES.name in self.rows else []
        for name, read in needs.tables.items():
            if name not in self.rows:
                if read.optional or name == L.SETTINGS.name:
                    continue
                self.rows[name] = {}
            if name in (L.SETTINGS.name, L.TIER_RULES.name):
                snap.fields[name] = self._fields(name)
                continue
            if read.records or name != L.VISITS.name:
                snap.records[name] = keep_only(snap, name, self.records(name), read.only, read.by)
            snap.fields[name] = self._fields(name)
        snap.fields.setdefault(L.SETTINGS.name, self._fields(L.SETTINGS.name))
        if LAST_VISITS in needs.views:
            snap.views[LAST_VISITS] = last_completed_by_customer(self.records(L.VISITS.name))
        if L.CUSTOMERS.name in needs.tables:
            rows = self.rows[L.CUSTOMERS.name]
            labels = {c.key: c.header for c in L.CUSTOMERS.columns}
            snap.extras = lambda c: {labels.get(k, k): v for k, v in rows.get(c.rid, {}).items()
                                     if k not in self.missing.get(L.CUSTOMERS.name, ())}
        snap.as_of = as_of or snap.settings.as_of or dt.date.today()
        return snap

    def _fields(self, name: str) -> frozenset:
        return frozenset(c.key for c in L.TABLES[name].columns) - self.missing.get(name, frozenset())

    def locate(self, findings: Iterable[Finding]) -> list[Placed]:
        return [place_plainly(f) for f in findings]

    def apply(self, changes: ChangeSet) -> list[str]:
        for name, recs in changes.updates.items():
            rows = self.rows[name]
            for rid, values in recs.items():
                if rid not in rows:
                    raise KeyError(f"{name}: no record {rid}")
                rows[rid].update({k: v for k, v in values.items() if k not in self.missing.get(name, ())})
        for name, rids in changes.removes.items():
            for rid in rids:
                self.rows[name].pop(rid, None)
        for name, recs in changes.adds.items():
            for values in recs:
                self._add(name, values)
        for name, recs in changes.replaces.items():
            self.rows[name] = {}
            for values in recs:
                self._add(name, values)
        if changes.findings is not None:
            self.findings = self.locate(changes.findings)
        # the calculated fields of the records the calculators can see (this store keeps values)
        for name, fn in changes.calculated.items():
            touched = set(changes.updated(name))
            if not touched:
                continue
            recs = [r for r in self.records(name) if r.rid in touched]
            for rid, values in fn(recs).items():
                self.rows[name][rid].update(values)
        if changes.status:
            self.status = changes.status
        changes.calculated = {}
        self.applied.append(changes)
        return []
