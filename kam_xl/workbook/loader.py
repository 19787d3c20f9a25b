"""What an action reads, declared next to the action; and the loading that answers it.

An action states its `Needs`: which tables, which of their columns, whether it keeps
the customers' whole rows (rule conditions may name any column), and derived views such
as each customer's last completed visit.  A store answers with `load(needs)` — how is
its business: this module reads big tables column by column as they come out of the
book, types them in the reading layer (reading.py) and keeps only the records; a store
that can read on two threads at once (FileStore) gets a view's table read on the second
thread.  `full=True` answers the same needs from every column of every table, records
for everything and views computed from the records: each action's result on it must
equal its result on the optimised read (tests/integration/test_needs.py).

A record read with only some columns raises UnreadField on any other field; a table or
a view that was not asked for raises too.
"""
from __future__ import annotations

import datetime as dt
import gc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .. import layout as L
from ..domain.models import Customer, Receivable, Settings, TierRule, UnreadField, Visit
from ..domain.problems import Problem
from ..errors import TableLayoutUnsupported
from ..domain.tiering import RuleError, parse_conditions
from ..domain.visits import last_completed, last_completed_by_customer
from .reading import coerce_columns, coerce_rows, read_settings, typed_columns
from .tables import Table

LAST_VISITS = "last completed visit per customer"

# the tables read column by column, typed as they come out of the book (only their
# records are kept): the big record tables
STREAMED = {L.VISITS.name: "visits", L.RECEIVABLES.name: "receivables",
            L.CERTIFICATIONS.name: "certifications", L.COMPLAINTS.name: "complaints",
            L.SURVEYS.name: "surveys"}
PROCEDURE_TABLES = (L.CERTIFICATIONS.name, L.COMPLAINTS.name, L.SURVEYS.name)


@dataclass(frozen=True)
class Read:
    """One table of an action's needs."""
    keys: tuple[str, ...] | None = None  # layout keys of the columns read; None: every column
    conditions: bool = False   # customers: also every column the rule table's 附加条件 name
    rows: bool = False         # customers: keep the whole rows (data.customer_extra)
    records: bool = True       # False: only the views are needed (no record per row)
    # the fields the records keep when every column is read (to report every bad cell)
    # but only some are used: None keeps what is read
    keep: tuple[str, ...] | None = None
    optional: bool = False     # read when the book has the table (the §10 tables)


EVERYTHING = Read()


@dataclass(frozen=True)
class Needs:
    tables: Mapping[str, Read]
    views: frozenset = frozenset()

    def names(self) -> list[str]:
        return list(self.tables)


@dataclass
class BookData:
    """What a load read, typed."""
    tables: dict[str, Table] = field(default_factory=dict)
    customers: list[Customer] = field(default_factory=list)
    rules: list[TierRule] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    problems: list[Problem] = field(default_factory=list)  # cells and parameters that could not be read
    as_of: dt.date = field(default_factory=dt.date.today)
    notices: list = field(default_factory=list)  # what the store found around the tables
    formulas: dict[str, dict[str, str | None]] = field(default_factory=dict)  # calculated columns as found
    # rows typed directly under a table and taken into it (row indices): made whole by the next write
    taken_in: dict[str, list[int]] = field(default_factory=dict)
    # the §10 tables (None: the book has none, it was made before they existed)
    certifications: list | None = None
    complaints: list | None = None
    surveys: list | None = None
    _visits: list | None = field(default=None, repr=False)
    _receivables: list | None = field(default=None, repr=False)
    _views: dict[str, Any] = field(default_factory=dict, repr=False)
    _pending: dict[str, Any] = field(default_factory=dict, repr=False)  # views still read on a second thread
    _rows_kept: bool = field(default=True, repr=False)

    @property
    def visits(self) -> list[Visit]:
        if self._visits is None:
            raise UnreadField("visits were not read as records: add Read() of Visits to the action's needs")
        return self._visits

    @property
    def receivables(self) -> list[Receivable]:
        if self._receivables is None:
            raise UnreadField("receivables were not read: add Receivables to the action's needs")
        return self._receivables

    def last_visits(self) -> dict[str, dt.date]:
        """Customer id → date of the last completed visit."""
        pending = self._pending.pop(LAST_VISITS, None)
        if pending is not None:  # its read error, if any, is this call's
            self.tables[L.VISITS.name], self._views[LAST_VISITS] = pending.result()
        if LAST_VISITS in self._views:
            return self._views[LAST_VISITS]
        return last_completed_by_customer(self.visits)

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

    def records_of(self, name: str) -> list | None:
        """The records read of a table, or None when it was not read as records."""
        return {L.CUSTOMERS.name: self.customers if L.CUSTOMERS.name in self.tables else None,
                L.VISITS.name: self._visits, L.RECEIVABLES.name: self._receivables,
                L.CERTIFICATIONS.name: self.certifications, L.COMPLAINTS.name: self.complaints,
                L.SURVEYS.name: self.surveys}.get(name)

    @property
    def rows_kept(self) -> bool:
        return self._rows_kept

    def customer_extra(self, c: Customer) -> dict[str, Any]:
        """The customer's whole row by header (user columns included), for rule conditions."""
        if not self._rows_kept:
            raise UnreadField("the customers' rows were not kept: declare Read(rows=True) for Customers")
        t = self.tables[L.CUSTOMERS.name]
        return dict(zip(t.headers, t.rows[c.row_index]))


def condition_names(rules: list[TierRule]) -> set[str]:
    """Every name the rule table's 附加条件 use (customer columns, Settings keys, 销售占比).
    A condition that does not parse names nothing here; grading reports it."""
    names: set[str] = set()
    for r in rules:
        try:
            names.update(name for name, _, _ in parse_conditions(r.extra))
        except RuleError:
            pass
    return names


def _headers(store, name: str, read: Read, rules: list[TierRule], full: bool) -> list[str] | None:
    """The columns to read of one table (None: all of them)."""
    if full or read.keys is None:
        return None
    tdef = L.TABLES[name]
    needed = list(tdef.headers_of(read.keys))
    have = store.headers(name)
    added = {c.header for c in tdef.columns if c.added}
    missing = [h for h in needed if h not in have and h not in added]
    if missing:  # a renamed or deleted column the action needs: a named refusal, never a silent gap
        raise TableLayoutUnsupported(
            getattr(store, "path", None) or "",
            f"工作表“{tdef.sheet}”的表格 {name} 缺少列：{'、'.join(missing)}（标题可能被改名；现有标题："
            f"{'、'.join(str(h) for h in have)}），请恢复这些列标题",
            f"table {name} on sheet '{tdef.sheet}' lacks the columns {', '.join(missing)}")
    wanted = set(needed)
    if read.conditions:
        wanted |= condition_names(rules)  # a condition naming a missing column is the rules' problem
    return [h for h in have if h in wanted]


def _stream(store, name: str, headers: list[str] | None, partial: bool, keep=None):
    """A big table typed as its columns come out of the book: (its shape, records, problems)."""
    tdef = L.TABLES[name]
    records: list = []
    problems: list = []
    same: dict[str, Any] = {}
    typed_headers = headers if headers is not None else store.headers(name)

    def sink(columns: list[list[Any]], start: int) -> None:
        recs, probs = coerce_columns(tdef, typed_headers, columns, start, same=same, partial=partial, keep=keep)
        records.extend(recs)
        problems.extend(probs)

    shape = store.read_stream(name, sink, headers)
    return shape, records, problems


VISIT_KEYS = ("customer_id", "actual_date", "state")


def _last_visits_view(store) -> tuple[Table, dict[str, dt.date]]:
    """Each customer's last completed visit from three typed columns of the visits table,
    without a record per visit."""
    headers = L.VISITS.headers_of(VISIT_KEYS)
    found: dict[str, dt.date] = {}

    def sink(columns: list[list[Any]], start: int) -> None:
        ids, dates, states = typed_columns(L.VISITS, headers, columns, start)
        for cid, day in last_completed(ids, dates, states).items():
            if cid not in found or day > found[cid]:
                found[cid] = day

    shape = store.read_stream(L.VISITS.name, sink, headers)
    return shape, found


def load(store, needs: Needs, as_of: dt.date | None = None, *, full: bool = False) -> BookData:
    """Answer an action's needs from a TableStore (file or live Excel).  full=True reads
    everything (the reference the optimised read is tested against)."""
    wanted = {n: r for n, r in needs.tables.items() if not r.optional or store.has_table(n)}
    wanted.setdefault(L.SETTINGS.name, EVERYTHING)
    data = BookData()
    # the rule table first: its 附加条件 decide which customer columns are read
    first = [n for n in (L.TIER_RULES.name, L.SETTINGS.name) if n in wanted]
    data.tables.update(store.read(first))
    if L.TIER_RULES.name in data.tables:
        t = data.tables[L.TIER_RULES.name]
        data.rules, probs = coerce_rows(L.TIER_RULES, t.headers, t.rows)
        data.problems += probs
    data.settings, probs = read_settings(data.tables[L.SETTINGS.name].records())
    data.problems += probs
    columns = {n: _headers(store, n, r, data.rules, full) for n, r in wanted.items() if n not in first}

    # a view whose table is not kept as records is read on a second thread when the
    # store can (the parser lets go of the GIL); the rest is read one table at a time
    view_only = [n for n, r in wanted.items() if n == L.VISITS.name and not r.records and not full]
    background = None
    pool = None
    if view_only and hasattr(store, "concurrent"):
        pool = ThreadPoolExecutor(1, thread_name_prefix="kam-read")
        other = store.concurrent()  # its own reader: a reader is not shared between threads
        if hasattr(other, "require"):  # a missing table or column is refused now, not later
            other.require([L.VISITS.name], {L.VISITS.name: L.VISITS.headers_of(VISIT_KEYS)})

        def read_view():
            try:
                return _last_visits_view(other)
            finally:
                other.close()
        background = pool.submit(read_view)
    try:
        rest = [n for n in wanted if n not in first and n not in STREAMED]
        if rest:
            data.tables.update(store.read(rest, {n: c for n, c in columns.items() if n in rest and c is not None}))
        if L.CUSTOMERS.name in wanted:  # typed now: its cells are let go before the big tables are read
            _type_customers(data, wanted[L.CUSTOMERS.name], columns.get(L.CUSTOMERS.name) is not None, full)
        for name, attr in STREAMED.items():
            if name not in wanted:
                continue
            if name in view_only:
                if background is None:
                    data.tables[name], data._views[LAST_VISITS] = _last_visits_view(store)
                continue
            keep = None if full else wanted[name].keep
            shape, records, probs = _stream(store, name, columns.get(name), partial=columns.get(name) is not None,
                                            keep=keep)
            data.tables[name] = shape
            setattr(data, "_" + attr if attr in ("visits", "receivables") else attr, records)
            data.problems += probs
    except BaseException:
        if background is not None:
            background.cancel() or background.exception()  # the second thread finishes first
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=False)
    if background is not None:
        # the action computes while the view is still being read: it waits for it when
        # it asks for it, and the store waits for it before writing or closing the session
        data._pending[LAST_VISITS] = background
        store.pending_reads.append(background)
    if LAST_VISITS in needs.views and LAST_VISITS not in data._views and not data._pending \
            and data._visits is not None:
        data._views[LAST_VISITS] = last_completed_by_customer(data._visits)
    data.as_of = as_of or data.settings.as_of or dt.date.today()
    data.notices = store.notices
    data.formulas = {n: store.formulas(n) for n in (L.CUSTOMERS.name, L.RECEIVABLES.name, L.SURVEYS.name)
                     if n in wanted}
    taken = store.taken_in() if hasattr(store, "taken_in") else {}
    data.taken_in = {n: [r - data.tables[n].header_row - 1 for r in rows]
                     for n, rows in taken.items() if n in data.tables}
    return data


def _type_customers(data: BookData, read: Read, partial: bool, full: bool) -> None:
    t = data.tables[L.CUSTOMERS.name]
    if t.column_values is not None:
        data.customers, probs = coerce_columns(L.CUSTOMERS, t.headers, t.column_values, n_rows=len(t.rows),
                                               partial=partial, keep=None if full else read.keep)
        t.column_values = None  # the rows stay; one copy of the values is enough
    else:
        data.customers, probs = coerce_rows(L.CUSTOMERS, t.headers, t.rows, partial=partial,
                                            keep=None if full else read.keep)
    data.problems += probs
    if not (full or read.rows):
        data.tables[L.CUSTOMERS.name] = t.shape()
        data._rows_kept = False


class LoadingStore:
    """What every TableStore shares: answering needs, and a session (`with store:`)
    during which the cyclic garbage collector is paused — it would otherwise walk the
    hundreds of thousands of live records again and again while they are made and
    written.  Afterwards it is restored (the
    xlwings server is a long-lived process) with everything still alive moved to its
    oldest generation, not walked once more."""

    full_reads = False  # True: every load reads everything (tests compare the two)

    def load(self, needs: Needs, as_of: dt.date | None = None) -> BookData:
        return load(self, needs, as_of, full=self.full_reads)

    @property
    def pending_reads(self) -> list:
        """Reads this store started on a second thread that may still run."""
        if "_pending_reads" not in self.__dict__:
            self._pending_reads = []
        return self._pending_reads

    def settle_reads(self, raise_errors: bool = True) -> None:
        """Wait for the reads still running (a file is not replaced while being read)."""
        while self.pending_reads:
            fut = self.pending_reads.pop()
            err = fut.exception()
            if err is not None and raise_errors:
                raise err

    def __enter__(self):
        self._gc_was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc) -> None:
        self.settle_reads(raise_errors=exc[0] is None)
        if getattr(self, "_gc_was", False):
            gc.freeze()
            gc.unfreeze()  # frozen objects come back in the oldest generation
            gc.enable()
        self._gc_was = False

    def release_before_write(self) -> None:
        """Free what reading left in reference cycles (pandas frames, closures) before a
        write that needs the room, when the session paused the collector."""
        if getattr(self, "_gc_was", False):
            gc.collect()
