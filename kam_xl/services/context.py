"""Loading a workbook's tables into typed records once, for every action."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import layout as L
from ..domain.models import Customer, Receivable, Settings, TierRule, Visit, coerce_columns, coerce_rows
from ..workbook.tables import Table, TableStore

CORE = (L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name, L.TIER_RULES.name, L.SETTINGS.name)


@dataclass
class BookData:
    tables: dict[str, Table]
    customers: list[Customer] = field(default_factory=list)
    _visits: list[Visit] = field(default_factory=list, repr=False)
    receivables: list[Receivable] = field(default_factory=list)
    rules: list[TierRule] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    settings_problems: list[tuple[int, str, str]] = field(default_factory=list)
    # table name → [(row index, header, raw value, message)]
    type_problems: dict[str, list[tuple[int, str, Any, str]]] = field(default_factory=dict)
    as_of: dt.date = field(default_factory=dt.date.today)
    # the visits sheet, while a second thread is still reading it (load(wait=False))
    _pending: Any = field(default=None, repr=False)

    @property
    def visits(self) -> list[Visit]:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # the read's error, if any, surfaces here
        return self._visits

    @visits.setter
    def visits(self, value: list[Visit]) -> None:
        self._visits = value

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


def _stream_typed(store: TableStore, data: BookData, tdef: L.TableDef, attr: str,
                  columns: list[str] | None) -> None:
    """Type a big table as its columns come out of the workbook; only its typed
    records and its shape are kept."""
    records: list = []
    problems: list = []
    headers: list[str] = []
    same: dict[str, Any] = {}

    def sink(columns: list[list[Any]], start: int) -> None:
        recs, probs = coerce_columns(tdef, headers, columns, start, same=same)
        records.extend(recs)
        problems.extend(probs)

    all_headers = store.headers(tdef.name)
    wanted = set(columns) if columns is not None else None
    headers.extend(h for h in all_headers if wanted is None or h in wanted)
    data.tables[tdef.name] = store.read_stream(tdef.name, sink, columns)
    setattr(data, attr, records)
    data.type_problems[tdef.name] = problems


def load(store: TableStore, names: Iterable[str] = CORE, as_of: dt.date | None = None,
         columns: dict[str, Iterable[str]] | None = None, keep_customer_rows: bool = True,
         wait: bool = True) -> BookData:
    """Read and type the tables; `columns` limits big tables to what the action uses.

    Visits and receivables are typed column by column as they come out of the book and
    only their records are kept.  On a file store the visits sheet is read on a second
    thread while the others are read here; with wait=False the load returns before that
    read ends and the first use of data.visits waits for it.
    The customers' raw rows are kept (rule conditions may read any column, user columns
    included) unless keep_customer_rows is False."""
    names = list(dict.fromkeys(list(names) + [L.SETTINGS.name]))
    columns = {n: list(c) for n, c in (columns or {}).items()}
    data = BookData(tables={})
    streamed = {L.VISITS.name: (L.VISITS, "visits"), L.RECEIVABLES.name: (L.RECEIVABLES, "receivables")}
    background = None
    if L.VISITS.name in names and getattr(store, "concurrent_reads", False):
        # the biggest sheet is parsed on the second core while this thread reads the rest
        # (the parser lets go of the GIL); the live Excel front reads on its own thread only
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(1, thread_name_prefix="kam-read")
        background = pool.submit(_stream_typed, store.concurrent(), data, *streamed[L.VISITS.name],
                                 columns.get(L.VISITS.name))
        pool.shutdown(wait=False)
    try:
        for name in names:
            if name in streamed and not (background is not None and name == L.VISITS.name):
                _stream_typed(store, data, *streamed[name], columns.get(name))
        rest = [n for n in names if n not in streamed]
        data.tables.update(store.read(rest, {n: c for n, c in columns.items() if n in rest}))
    except BaseException:
        if background is not None:
            background.cancel() or background.exception()  # let the second thread finish first
        raise
    if background is not None:
        data._pending = background
        if wait:
            data.visits  # noqa: B018 — its error, if any, is this load's error
    for name, tdef, attr in ((L.CUSTOMERS.name, L.CUSTOMERS, "customers"), (L.TIER_RULES.name, L.TIER_RULES, "rules")):
        if name in data.tables:
            probs: list = []
            records, probs = coerce_rows(tdef, data.tables[name].headers, data.tables[name].rows)
            setattr(data, attr, records)
            data.type_problems[name] = probs
    if not keep_customer_rows and L.CUSTOMERS.name in data.tables:
        data.tables[L.CUSTOMERS.name] = data.tables[L.CUSTOMERS.name].shape()
    if L.SETTINGS.name in data.tables:
        data.settings, data.settings_problems = Settings.from_rows(data.tables[L.SETTINGS.name].records())
    data.as_of = as_of or data.settings.as_of or dt.date.today()
    return data


def condition_names(store: TableStore) -> set[str]:
    """Every name the rule table's 附加条件 use (customer columns, Settings keys, 销售占比).
    A condition that does not parse names nothing here; grading reports it."""
    from ..domain.tiering import RuleError, parse_conditions
    t = store.read([L.TIER_RULES.name])[L.TIER_RULES.name]
    rules, _ = coerce_rows(L.TIER_RULES, t.headers, t.rows)
    names: set[str] = set()
    for r in rules:
        try:
            names.update(name for name, _, _ in parse_conditions(r.extra))
        except RuleError:
            pass
    return names
