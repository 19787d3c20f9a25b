"""Loading a workbook's tables into typed records once, for every action."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import layout as L
from ..domain.visits import DONE, last_completed_visit
from ..domain.models import Customer, Receivable, Settings, TierRule, Visit, coerce_columns, coerce_rows
from ..workbook.tables import Table, TableStore

CORE = (L.CUSTOMERS.name, L.VISITS.name, L.RECEIVABLES.name, L.TIER_RULES.name, L.SETTINGS.name)
PROCEDURES = ((L.CERTIFICATIONS.name, L.CERTIFICATIONS, "certifications"),
              (L.COMPLAINTS.name, L.COMPLAINTS, "complaints"), (L.SURVEYS.name, L.SURVEYS, "surveys"))


def procedure_tables(store: TableStore) -> list[str]:
    """The §10 tables this book has (a book made before them has none)."""
    return [name for name, _, _ in PROCEDURES if store.has_table(name)]


@dataclass
class BookData:
    tables: dict[str, Table]
    customers: list[Customer] = field(default_factory=list)
    _visits: list[Visit] = field(default_factory=list, repr=False)
    _receivables: list[Receivable] = field(default_factory=list, repr=False)
    rules: list[TierRule] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    settings_problems: list[tuple[int, str, str]] = field(default_factory=list)
    # table name → [(row index, header, raw value, message)]
    type_problems: dict[str, list[tuple[int, str, Any, str]]] = field(default_factory=dict)
    as_of: dt.date = field(default_factory=dt.date.today)
    # attribute ("visits", "receivables") → its read, still running on a second thread
    _pending: dict[str, Any] = field(default_factory=dict, repr=False)
    # customer id → date of the last completed visit, when only that was read (load(visits="last"))
    _last_visits: dict[str, dt.date] | None = field(default=None, repr=False)
    notices: list = field(default_factory=list)  # what the store found around the tables
    # the §10 tables (None: the book has none, it was made before they existed)
    certifications: list | None = None
    complaints: list | None = None
    surveys: list | None = None
    formulas: dict[str, dict[str, str | None]] = field(default_factory=dict)  # calculated columns as found

    def settle(self, what: str | None = None) -> None:
        """Wait for the reads still running (or the one of `what`); their errors surface here."""
        for key in [what] if what else list(self._pending):
            pending = self._pending.pop(key, None)
            if pending is not None:
                pending.result()

    @property
    def visits(self) -> list[Visit]:
        self.settle("visits")
        return self._visits

    @visits.setter
    def visits(self, value: list[Visit]) -> None:
        self._visits = value

    @property
    def receivables(self) -> list[Receivable]:
        self.settle("receivables")
        return self._receivables

    @receivables.setter
    def receivables(self, value: list[Receivable]) -> None:
        self._receivables = value

    def last_visits(self) -> dict[str, dt.date]:
        """Customer id → date of the last completed visit."""
        self.settle("visits")
        if self._last_visits is not None:
            return self._last_visits
        out = {}
        for cid, vs in self.visits_by_customer().items():
            last = last_completed_visit(vs)
            if last is not None:
                out[cid] = last
        return out

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
         wait: bool = True, visits: str = "records",
         background: Iterable[str] = (), given: dict[str, Table] | None = None) -> BookData:
    """Read and type the tables; `columns` limits big tables to what the action uses.

    Visits and receivables are typed column by column as they come out of the book and
    only their records are kept.  On a file store the big tables in `background` are
    read one after the other on a second thread while this one reads the rest (the
    parser lets go of the GIL; the live Excel front reads on its own thread only).
    That is faster but holds two sheets' parses at once: regrade asks for it (it keeps
    few columns), the actions that keep every column read one sheet at a time.
    With wait=False the load returns before that thread is done and the first use of
    data.visits / data.receivables waits for it.  visits="last" reads only each
    customer's last completed visit (data.last_visits()), without a record per visit.
    The customers' raw rows are kept (rule conditions may read any column, user columns
    included) unless keep_customer_rows is False.  `given` are tables the action has
    already read; they are not read again."""
    names = list(dict.fromkeys(list(names) + [L.SETTINGS.name]))
    columns = {n: list(c) for n, c in (columns or {}).items()}
    data = BookData(tables=dict(given or {}))
    # big tables are typed as they come out of the book; only their records are kept
    streamed = {L.VISITS.name: (L.VISITS, "visits"), L.RECEIVABLES.name: (L.RECEIVABLES, "receivables"),
                **{name: (tdef, attr) for name, tdef, attr in PROCEDURES}}
    later = [n for n in background if n in names and n in streamed] \
        if getattr(store, "concurrent_reads", False) else []
    futures = []
    if later:
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(1, thread_name_prefix="kam-read")
        other = store.concurrent()  # its own reader: a reader is not shared between threads
        def task(fn, *args, last: bool) -> None:
            try:
                fn(*args)
            finally:
                if last:
                    other.close()  # its file handle is let go before anyone waits on the last read

        for i, name in enumerate(later):
            tdef, attr = streamed[name]
            last = i == len(later) - 1
            if name == L.VISITS.name and visits == "last" and hasattr(other, "read_arrow"):
                fut = pool.submit(task, _read_last_visits, other, data, last=last)
            else:
                fut = pool.submit(task, _stream_typed, other, data, tdef, attr, columns.get(name), last=last)
            data._pending[attr] = fut
            futures.append(fut)
        pool.shutdown(wait=False)
    try:
        rest = [n for n in names if n not in streamed and n not in data.tables]
        if rest:
            data.tables.update(store.read(rest, {n: c for n, c in columns.items() if n in rest}))
        for name in names:
            if name in streamed and name not in later:
                _stream_typed(store, data, *streamed[name], columns.get(name))
    except BaseException:
        for fut in futures:
            fut.cancel() or fut.exception()  # let the second thread finish first
        raise
    if wait:
        data.settle()  # an error of the second thread is this load's error
    for name, tdef, attr in ((L.CUSTOMERS.name, L.CUSTOMERS, "customers"), (L.TIER_RULES.name, L.TIER_RULES, "rules")):
        if name in data.tables:
            t = data.tables[name]
            if t.column_values is not None:
                records, probs = coerce_columns(tdef, t.headers, t.column_values, n_rows=len(t.rows))
                t.column_values = None  # the rows stay; one copy of the values is enough
            else:
                records, probs = coerce_rows(tdef, t.headers, t.rows)
            setattr(data, attr, records)
            data.type_problems[name] = probs
    if not keep_customer_rows and L.CUSTOMERS.name in data.tables:
        data.tables[L.CUSTOMERS.name] = data.tables[L.CUSTOMERS.name].shape()
    if L.SETTINGS.name in data.tables:
        data.settings, data.settings_problems = Settings.from_rows(data.tables[L.SETTINGS.name].records())
    data.as_of = as_of or data.settings.as_of or dt.date.today()
    data.notices = store.notices  # the same list: a read still running may add to it
    data.formulas = {n: store.formulas(n) for n in (L.CUSTOMERS.name, L.RECEIVABLES.name) if n in names}
    return data


def condition_names(rules_table: Table) -> set[str]:
    """Every name the rule table's 附加条件 use (customer columns, Settings keys, 销售占比).
    A condition that does not parse names nothing here; grading reports it."""
    from ..domain.tiering import RuleError, parse_conditions
    rules, _ = coerce_rows(L.TIER_RULES, rules_table.headers, rules_table.rows)
    names: set[str] = set()
    for r in rules:
        try:
            names.update(name for name, _, _ in parse_conditions(r.extra))
        except RuleError:
            pass
    return names


LAST_VISIT_COLUMNS = [L.VISITS.header(k) for k in ("customer_id", "actual_date", "state")]


def _read_last_visits(store, data: BookData) -> None:
    """data._last_visits from three Arrow columns of the visits sheet: the same answer as
    last_completed_visit over typed records (ids and state trimmed, state 已完成, the day
    of 实际日期), without 400k Python records.  Columns that are not plainly text and
    dates (numbers typed as ids, dates typed as text) are typed as records instead, from
    the same columns (the sheet is not read twice)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if not set(LAST_VISIT_COLUMNS) <= set(store.headers(L.VISITS.name)):  # a renamed column
        _stream_typed(store, data, L.VISITS, "visits", LAST_VISIT_COLUMNS)
        return
    batch = store.read_arrow(L.VISITS.name, LAST_VISIT_COLUMNS)
    cid, when, state = (batch.column(h) for h in LAST_VISIT_COLUMNS)
    text = (pa.types.is_string(cid.type) or pa.types.is_large_string(cid.type),
            pa.types.is_string(state.type) or pa.types.is_large_string(state.type) or pa.types.is_null(state.type))
    dates = pa.types.is_timestamp(when.type) or pa.types.is_date(when.type) or pa.types.is_null(when.type)
    if batch.num_rows and not (all(text) and dates):
        from ..workbook.engine import to_python
        data.visits, data.type_problems[L.VISITS.name] = coerce_columns(
            L.VISITS, LAST_VISIT_COLUMNS, [to_python(c) for c in batch.columns])
        return
    data.type_problems[L.VISITS.name] = []
    if not batch.num_rows or pa.types.is_null(when.type) or pa.types.is_null(state.type):
        data._last_visits = {}
        return
    day = pc.cast(when, pa.date32(), safe=False)
    cid = pc.utf8_trim_whitespace(cid)
    state = pc.utf8_trim_whitespace(state)
    done = pc.and_(pc.and_(pc.equal(state, DONE), pc.is_valid(day)),
                   pc.and_(pc.is_valid(cid), pc.not_equal(cid, "")))
    t = pa.table({"c": cid, "d": day}).filter(done.fill_null(False))
    g = t.group_by("c").aggregate([("d", "max")])
    data._last_visits = dict(zip(g.column("c").to_pylist(), g.column("d_max").to_pylist()))
