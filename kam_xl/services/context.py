"""Loading a workbook's tables into typed records once, for every action."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import layout as L
from ..domain.models import Customer, Receivable, Settings, TierRule, Visit, coerce_rows
from ..workbook.tables import Table, TableStore

CORE = (L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name, L.TIER_RULES.name, L.SETTINGS.name)


@dataclass
class BookData:
    tables: dict[str, Table]
    customers: list[Customer] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    receivables: list[Receivable] = field(default_factory=list)
    rules: list[TierRule] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    settings_problems: list[tuple[int, str, str]] = field(default_factory=list)
    # table name → [(row index, header, raw value, message)]
    type_problems: dict[str, list[tuple[int, str, Any, str]]] = field(default_factory=dict)
    as_of: dt.date = field(default_factory=dt.date.today)

    def receivables_by_customer(self) -> dict[str, list[Receivable]]:
        out: dict[str, list[Receivable]] = {}
        for r in self.receivables:
            if r.customer_id:
                out.setdefault(r.customer_id, []).append(r)
        return out

    def visits_by_customer(self) -> dict[str, list[Visit]]:
        out: dict[str, list[Visit]] = {}
        for v in self.visits:
            if v.customer_id:
                out.setdefault(v.customer_id, []).append(v)
        return out

    def customer_extra(self, c: Customer) -> dict[str, Any]:
        """The customer's whole row by header (user columns included), for rule conditions."""
        t = self.tables[L.CUSTOMERS.name]
        return dict(zip(t.headers, t.rows[c.row_index]))


def _records(table: Table, tdef: L.TableDef, problems: list) -> list:
    records, probs = coerce_rows(tdef, table.headers, table.rows)
    problems.extend(probs)
    return records


def _type(data: BookData, name: str, tdef: L.TableDef, attr: str) -> None:
    probs: list = []
    setattr(data, attr, _records(data.tables[name], tdef, probs))
    data.type_problems[name] = probs
    if tdef in (L.VISITS, L.RECEIVABLES):
        # the typed records carry everything; the raw cells of the two biggest
        # tables are let go (a 100k-customer book has 600k such rows)
        data.tables[name] = data.tables[name].shape()


def load(store: TableStore, names: Iterable[str] = CORE, as_of: dt.date | None = None,
         columns: dict[str, Iterable[str]] | None = None) -> BookData:
    """Read and type the tables; `columns` limits big tables to what the action uses."""
    names = list(dict.fromkeys(list(names) + [L.SETTINGS.name]))
    columns = columns or {}
    typed = {L.CUSTOMERS.name: (L.CUSTOMERS, "customers"), L.VISITS.name: (L.VISITS, "visits"),
             L.RECEIVABLES.name: (L.RECEIVABLES, "receivables"), L.TIER_RULES.name: (L.TIER_RULES, "rules")}
    data = BookData(tables={})
    # one table at a time: read, type, let the raw cells go — the peak is the
    # biggest table, not the sum of them
    small = [n for n in names if n not in (L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name)]
    big = [n for n in names if n not in small]
    if small:
        data.tables.update(store.read(small, {n: c for n, c in columns.items() if n in small}))
    for name in big:
        data.tables.update(store.read([name], {name: columns[name]} if name in columns else None))
        _type(data, name, *typed[name])
    for name in small:
        if name in typed:
            _type(data, name, *typed[name])
    if L.SETTINGS.name in data.tables:
        data.settings, data.settings_problems = Settings.from_rows(data.tables[L.SETTINGS.name].records())
    data.as_of = as_of or data.settings.as_of or dt.date.today()
    return data
