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
import functools
import gc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import layout as L
from ..domain.models import TierRule
from ..errors import TableLayoutUnsupported
from ..domain.tiering import condition_names
from ..domain.visits import last_completed_by_customer
from ..store.changes import ChangeSet
from ..store.needs import EVERYTHING, LAST_VISITS, Needs, Read
from ..store.snapshot import Snapshot
from .parallel import Done
from .reading import coerce_columns, coerce_rows, read_settings
from . import visits_view
from ..domain.findings import Placed
from .apply import cell_changes, place
from .tables import Table

# the tables read column by column, typed as they come out of the book (only their
# records are kept): the big record tables
STREAMED = (L.VISITS.name, L.RECEIVABLES.name, L.CERTIFICATIONS.name, L.COMPLAINTS.name, L.SURVEYS.name)
PROCEDURE_TABLES = (L.CERTIFICATIONS.name, L.COMPLAINTS.name, L.SURVEYS.name)
LOGS = (L.GRADE_LOG.name, L.IMPORT_LOG.name)  # read as rows, typed into records afterwards


@dataclass
class Loaded:
    """What the store keeps of its last load to apply a change set: the Excel tables
    (shapes, where they are), their calculated columns as found, the rows typed under
    them, and the snapshot it handed the action."""
    snapshot: Snapshot
    tables: dict[str, Table] = field(default_factory=dict)
    formulas: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # rows typed directly under a table and taken into it (row indices): made whole by the next write
    taken_in: dict[str, list[int]] = field(default_factory=dict)

    def where(self, table: str, rid: int | None, key: str | None) -> str:
        return where(self.tables, table, rid, key)


def where(tables: dict[str, Table], table: str, rid: int | None, key: str | None) -> str:
    """A record's field as the user finds it: sheet and cell (the row when the field is not
    a column).  Given the tables, not the Loaded: the snapshot holding it must not make a
    reference cycle (its records would wait for the cyclic collector to be freed)."""
    t = tables.get(table)
    tdef = L.TABLES.get(table)
    if t is None or tdef is None:
        return f"“{tdef.sheet if tdef else table}”"
    header = tdef.header(key) if key in tdef.keys else key
    if rid is None:
        return f"工作表“{t.sheet}”"
    if header is None:
        return f"第{t.excel_row(rid)}行"
    return f"工作表“{t.sheet}”单元格 {t.cell_ref(rid, header)}" if header in (t.offsets or {}) \
        else f"工作表“{t.sheet}”第 {t.excel_row(rid)} 行"


def _headers(store, name: str, read: Read, rules: list[TierRule], full: bool) -> list[str] | None:
    """The columns to read of one table (None: all of them)."""
    if full or (read.keys is None and read.keep is None):
        return None
    tdef = L.TABLES[name]
    needed = list(tdef.required_headers if read.keys is None else tdef.headers_of(read.keys))
    have = store.headers(name)
    added = {c.header for c in tdef.columns if c.added}
    missing = [h for h in needed if h not in have and h not in added]
    if missing:  # a renamed or deleted column the action needs: a named refusal, never a silent gap
        raise TableLayoutUnsupported(
            getattr(store, "path", None) or "",
            f"工作表“{tdef.sheet}”的表格 {name} 缺少列：{'、'.join(missing)}（标题可能被改名；现有标题："
            f"{'、'.join(str(h) for h in have)}），请恢复这些列标题",
            f"table {name} on sheet '{tdef.sheet}' lacks the columns {', '.join(missing)}")
    if read.keys is None:
        # every column but a calculated one the records do not keep: its cells are not input (no
        # problem is reported of them, a row is blank or not without them) — validate read and typed
        # 600,000 of them in the 100k book's invoices alone, for nothing
        keep = set(read.keep)
        skip = {c.header for c in tdef.columns if c.formula and c.key not in keep}
        return [h for h in have if h not in skip] if skip & set(have) else None
    wanted = set(needed)
    if read.conditions:
        wanted |= condition_names(rules)  # a condition naming a missing column is the rules' problem
    return [h for h in have if h in wanted]


def _stream(store, name: str, headers: list[str] | None, partial: bool, keep=None, only=None, ids=None,
            by: str = "id", exact: bool = False):
    """A big table typed as its columns come out of the book: (its shape, records, problems)."""
    tdef = L.TABLES[name]
    records: list = []
    problems: list = []
    same: dict[str, Any] = {}
    typed_headers = headers if headers is not None else store.headers(name)

    def sink(columns: list[list[Any]], start: int) -> None:
        recs, probs = coerce_columns(tdef, typed_headers, columns, start, same=same, partial=partial, keep=keep,
                                     only=only, ids=ids, by=by)
        records.extend(recs)
        problems.extend(probs)

    shape = store.read_stream(name, sink, headers, exact=exact)
    return shape, records, problems


def _last_visits_view(store) -> tuple[Table, dict[str, dt.date]]:
    """Each customer's last completed visit from three typed columns of the visits table,
    without a record per visit."""
    found: dict[str, dt.date] = {}
    order = visits_view.in_table_order(store.headers(L.VISITS.name))
    shape = store.read_stream(L.VISITS.name, lambda columns, start: visits_view.fold(found, columns, start, order),
                              order)
    return shape, found


def load(store, needs: Needs, as_of: dt.date | None = None, *, full: bool = False) -> Loaded:
    """Answer an action's needs from a TableStore (file or live Excel).  full=True reads
    everything (the reference the optimised read is tested against)."""
    wanted = {n: r for n, r in needs.tables.items() if not r.optional or store.has_table(n)}
    wanted.setdefault(L.SETTINGS.name, EVERYTHING)
    data = Snapshot()
    out = Loaded(data)
    data.where = functools.partial(where, out.tables)
    tables = out.tables
    # the rule table first: its 附加条件 decide which customer columns are read
    first = [n for n in (L.TIER_RULES.name, L.SETTINGS.name) if n in wanted]
    # a view whose table is not kept as records is read on a second thread when the
    # store can (the parser lets go of the GIL); the rest is read one table at a time
    view_only = [n for n, r in wanted.items() if n == L.VISITS.name and not r.records and not full]
    # the order the sheets are read in (a view last: the helper process reads it after every scan,
    # while the tables the loads wait for are looked through first)
    order = [n for n in wanted if n not in first and n not in STREAMED] \
        + [n for n in STREAMED if n in wanted and n not in view_only] + view_only
    if hasattr(store, "look_ahead"):  # the big sheets after the first looked through meanwhile
        store.look_ahead(order)
    tables.update(store.read(first))
    if L.TIER_RULES.name in tables:
        t = tables[L.TIER_RULES.name]
        data.rules, probs = coerce_rows(L.TIER_RULES, t.headers, t.rows)
        data.problems += probs
    data.settings, probs = read_settings(tables[L.SETTINGS.name].records())
    data.problems += probs
    data.as_of = as_of or data.settings.as_of or dt.date.today()  # (a part begun beside counts from it)
    begin = _beginner(store, needs, data)
    columns = {n: _headers(store, n, r, data.rules, full) for n, r in wanted.items() if n not in first}

    background = None
    pool = None
    if hasattr(store, "prepare"):  # the file's sheets looked through ahead, in the order they are read
        store.prepare(order, views=view_only,
                      reads={n: columns[n] for n in STREAMED if n in wanted and n not in view_only
                             and columns.get(n) is not None and not wanted[n].appends})
    if view_only and hasattr(store, "concurrent"):
        pool = ThreadPoolExecutor(1, thread_name_prefix="kam-read")
        other = store.concurrent()  # its own reader: a reader is not shared between threads
        if hasattr(other, "require"):  # a missing table or column is refused now, not later
            other.require([L.VISITS.name], {L.VISITS.name: visits_view.headers()})

        def read_view():
            try:  # the helper process's view where it could make one and it stands, else read here
                got = other.view_ahead(L.VISITS.name) if hasattr(other, "view_ahead") else None
                return got if got is not None else _last_visits_view(other)
            finally:
                other.close()
        background = pool.submit(read_view)
    try:
        # each big table's cells are loaded on a second thread (its own reader) while the customers are
        # read and typed here, and while the ones before are typed: two tables ahead, so that the loads
        # go on while the 400,000 visits are typed (one ahead, the loading thread stood idle there and
        # the typing then waited for the table after)
        streamed = [n for n in STREAMED if n in wanted and n not in view_only]
        ahead = getattr(store, "load_ahead", None) if not full else None

        def load_next(i: int) -> None:
            if ahead is not None and i < len(streamed):
                ahead(streamed[i], columns.get(streamed[i]), exact=wanted[streamed[i]].appends)
        load_next(0)
        load_next(1)
        rest = [n for n in wanted if n not in first and n not in STREAMED]
        if rest:
            tables.update(store.read(rest, {n: c for n, c in columns.items() if n in rest and c is not None},
                                     exact=[n for n in rest if wanted[n].appends]))
        if L.CUSTOMERS.name in wanted:  # typed now: its cells are let go before the big tables are read
            _type_customers(out, wanted[L.CUSTOMERS.name], columns.get(L.CUSTOMERS.name) is not None, full)
            data.fields[L.CUSTOMERS.name] = _fields(store, tables, L.CUSTOMERS.name)
            begin()
        for name in LOGS:
            if name in wanted:
                t = tables[name]
                data.records[name], _ = coerce_rows(L.TABLES[name], t.headers, t.rows)
        for name in STREAMED:
            if name not in wanted:
                continue
            if name in view_only:
                if background is None:
                    tables[name], data.views[LAST_VISITS] = _last_visits_view(store)
                continue
            load_next(streamed.index(name) + 2)
            keep = None if full else wanted[name].keep
            only = wanted[name].only
            if only is not None:
                data.ids[name] = {}
            shape, records, probs = _stream(store, name, columns.get(name), partial=columns.get(name) is not None,
                                            keep=keep, only=only, ids=data.ids.get(name), by=wanted[name].by,
                                            exact=wanted[name].appends)
            tables[name] = shape
            data.records[name] = records
            data.problems += probs
            data.fields[name] = _fields(store, tables, name)  # (a part begun beside may ask)
            begin()
    except BaseException:
        if background is not None:
            background.cancel() or background.exception()  # the second thread finishes first
        for part in data.begun.values():
            part.cancel()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=False)
    if background is not None:
        # the action computes while the view is still being read: it waits for it when
        # it asks for it, and the store waits for it before writing or closing the session
        def view():
            tables[L.VISITS.name], found = background.result()
            return found
        data.deferred[LAST_VISITS] = view
        store.pending_reads.append(background)
    if LAST_VISITS in needs.views and LAST_VISITS not in data.views and not data.deferred \
            and data.records.get(L.VISITS.name) is not None:
        data.views[LAST_VISITS] = last_completed_by_customer(data.records[L.VISITS.name])
    data.notices = store.notices
    for n in wanted:  # (the tables typed here have theirs already)
        if n not in data.fields:
            data.fields[n] = _fields(store, tables, n)
    out.formulas = {n: store.formulas(n) for n in (L.CUSTOMERS.name, L.RECEIVABLES.name, L.SURVEYS.name)
                    if n in wanted}
    taken = store.taken_in() if hasattr(store, "taken_in") else {}
    out.taken_in = {n: [r - tables[n].header_row - 1 for r in rows] for n, rows in taken.items() if n in tables}
    return out


def _fields(store, tables: dict, name: str) -> frozenset:
    """The layout keys of the table's columns that the book has."""
    have = set(tables[name].all_headers) if name in tables else set(store.headers(name))
    return frozenset(c.key for c in L.TABLES[name].columns if c.header in have)


def _beginner(store, needs: Needs, data: Snapshot):
    """begin(): each part of needs.beside whose tables are all loaded by now started in a
    second process (the store's fork_beside), once; nothing where the store has none."""
    fork = getattr(store, "fork_beside", None) if getattr(store, "parallel", None) is not None else None
    waiting = [b for b in needs.beside if b.name not in data.begun] if fork is not None else []

    def begin() -> None:
        for b in list(waiting):
            if all(data.records.get(n) is not None for n in b.after):
                waiting.remove(b)
                if b.when is not None and not b.when(data):
                    continue
                for name in b.takes:  # (computed here after all where its process gave nothing)
                    if name in data.begun:
                        data.begun[name] = Done(data.begun[name].result())
                part = fork(functools.partial(b.make, data))
                if part is not None:
                    data.begun[b.name] = part
                    store.begun_parts.append(part)
    return begin


def _type_customers(out: Loaded, read: Read, partial: bool, full: bool) -> None:
    data, t = out.snapshot, out.tables[L.CUSTOMERS.name]
    only, ids = read.only, None
    if only is not None:
        ids = data.ids[L.CUSTOMERS.name] = {}
    if t.column_values is not None:
        customers, probs = coerce_columns(L.CUSTOMERS, t.headers, t.column_values, n_rows=len(t.rows),
                                          partial=partial, keep=None if full else read.keep, only=only, ids=ids,
                                          by=read.by)
        t.column_values = None  # the rows stay; one copy of the values is enough
    else:
        customers, probs = coerce_rows(L.CUSTOMERS, t.headers, t.rows, partial=partial,
                                       keep=None if full else read.keep, only=only, ids=ids, by=read.by)
    data.records[L.CUSTOMERS.name] = customers
    data.problems += probs
    if full or read.rows:
        headers, rows = t.headers, t.rows
        data.extras = lambda c: dict(zip(headers, rows[c.rid]))
    else:
        out.tables[L.CUSTOMERS.name] = t.shape()


class LoadingStore:
    """What every TableStore shares: answering needs, and a session (`with store:`)
    during which the cyclic garbage collector is paused — it would otherwise walk the
    hundreds of thousands of live records again and again while they are made and
    written.  Afterwards it is restored (the
    xlwings server is a long-lived process) with everything still alive moved to its
    oldest generation, not walked once more."""

    full_reads = False  # True: every load reads everything (tests compare the two)

    def load(self, needs: Needs, as_of: dt.date | None = None) -> Snapshot:
        """The records the needs ask for; what applying changes will need is kept."""
        self._loaded = load(self, needs, as_of, full=self.full_reads)
        self._loaded.snapshot.parallel = getattr(self, "parallel", None)
        if getattr(self, "_gc_was", False):
            gc.freeze()  # what was read lives on: the collection before the write walks only what came since
        return self._loaded.snapshot

    def apply(self, changes: ChangeSet):
        """Write a change set of the last load in one commit (see workbook/apply.py)."""
        loaded = self.__dict__.get("_loaded")
        if loaded is None:
            raise RuntimeError("apply() before load(): a store applies changes to what it read")
        self.settle_reads()
        cells = cell_changes(changes, loaded)
        self._loaded = loaded = None  # the records may now be freed (before the write: it needs the room)
        self.write(cells)
        return cells.notes

    def locate(self, findings) -> list[Placed]:
        """Each finding on its sheet, Excel row and column (of the last load)."""
        loaded = self.__dict__.get("_loaded")
        tables = loaded.tables if loaded is not None else {}
        return [place(f, tables) for f in findings]

    @property
    def begun_parts(self) -> list:
        """Parts of the needs begun in a second process while loading (Snapshot.begun): the
        ones the action did not take are stopped when the session ends."""
        if "_begun_parts" not in self.__dict__:
            self._begun_parts = []
        return self._begun_parts

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
        # what the store kept of the load for apply() goes with the session: its snapshot holds the
        # store (Snapshot.parallel), a cycle that kept every record until a collection (the xlwings
        # server) or the interpreter's end (1.5 s of it after a 100k report had returned)
        self._loaded = None
        while self.begun_parts:
            self.begun_parts.pop().cancel()  # (nothing to stop for a part taken)
        self.settle_reads(raise_errors=exc[0] is None)
        if getattr(self, "_gc_was", False):
            gc.freeze()
            gc.unfreeze()  # frozen objects come back in the oldest generation
            gc.enable()
        self._gc_was = False

    def release_before_write(self) -> None:
        """Free what the action left in reference cycles (pandas frames, closures) before a
        write that needs the room, when the session paused the collector.  What the load made
        was set aside (gc.freeze) and is not walked: a million records cost the collection
        half a second and it finds no cycle among them."""
        if getattr(self, "_gc_was", False):
            gc.collect()
