"""Each big table's cells are loaded on a second thread while the one before is typed
(FileStore.load_ahead): every action must come out exactly as when each table is loaded when
it is read — the same cells written, the same findings and notices — on books after ordinary
use; a load ahead that fails, or that no read takes, changes nothing and does not outlive
the session."""
from __future__ import annotations

import gc
import shutil
import threading
import time

import pytest

from kam_xl.cli import main
from kam_xl.workbook import engine
from kam_xl.workbook.store import FileStore
from tests import variants as V
from tests.integration.test_scan_ahead import LIVED_IN, _run_all, _timed


def _counting(monkeypatch) -> list:
    """The results of loads ahead that a read took."""
    taken = []
    real = FileStore._loaded_ahead

    def counting(self, *a, **k):
        got = real(self, *a, **k)
        if got is not None:
            taken.append(a[0])
        return got
    monkeypatch.setattr(FileStore, "_loaded_ahead", counting)
    return taken


@pytest.mark.parametrize("variant", LIVED_IN, ids=lambda v: getattr(v, "__name__", "note_under_visits"))
def test_loaded_ahead_or_when_read_the_actions_agree(variant, tmp_path, capsys, monkeypatch):
    results = []
    for ahead in (False, True):
        folder = tmp_path / ("ahead" if ahead else "when_read")
        folder.mkdir()
        book = V.base_book(folder / "大客户管理.xlsm")
        variant(book)
        with monkeypatch.context() as m:
            if not ahead:
                m.setattr(FileStore, "load_ahead", lambda self, *a, **k: None)
            taken = _counting(m)
            results.append(_run_all(book, folder, capsys))
        # the path under test was taken: validate types visits and invoices from loads ahead
        assert (V.L.VISITS.name in taken and V.L.RECEIVABLES.name in taken) == ahead, taken
    when_read, ahead = results
    for action in ("validate", "regrade", "report"):
        assert "Traceback" not in when_read[action][2] + ahead[action][2]
        assert ahead[action] == when_read[action], (action, ahead[action][2][:3000])
    differ = {k for k in set(ahead["cells"]) | set(when_read["cells"])
              if ahead["cells"].get(k) != when_read["cells"].get(k)}
    assert all(_timed(k) for k in differ), sorted(differ)[:5]


def test_a_load_ahead_that_fails_is_loaded_again_when_read(tmp_path, capsys, monkeypatch):
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    V.error_cells(book)
    reference = tmp_path / "reference.xlsm"
    shutil.copy2(book, reference)
    monkeypatch.setattr(FileStore, "load_ahead", lambda self, *a, **k: None)
    assert main(["validate", str(reference), "--as-of", "2026-06-30", "--json"]) in (0, 1)
    expected = capsys.readouterr().out
    monkeypatch.undo()
    asked = []

    def failing(*a, **k):
        asked.append(a[1].name)
        raise MemoryError("simulated")
    monkeypatch.setattr(engine, "load_arrow", failing)
    taken = _counting(monkeypatch)
    assert main(["validate", str(book), "--as-of", "2026-06-30", "--json"]) in (0, 1)
    got = capsys.readouterr()
    assert V.L.VISITS.name in asked and not taken  # asked ahead, failed, loaded again
    assert "Traceback" not in got.err
    assert got.out == expected
    assert V.cells_of(book) == V.cells_of(reference)


def test_a_load_ahead_no_read_takes_ends_with_the_session(tmp_path):
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    store = FileStore(book)
    before = {t for t in threading.enumerate() if t.name.startswith("kam-ahead")}
    with store:
        store.load_ahead(V.L.VISITS.name)
        store.load_ahead(V.L.RECEIVABLES.name, [V.L.RECEIVABLES.header("id")])
        assert store._common["loaded_ahead"]
    assert store._common.get("loader") is None and not store._common.get("loaded_ahead")
    left = {t for t in threading.enumerate() if t.name.startswith("kam-ahead")} - before
    assert not any(t.is_alive() for t in left)


def test_a_cleaned_copy_made_by_the_loading_thread_outlives_it(tmp_path):
    """Error cells found while loading ahead make the cleaned copy on that thread; when the
    loading thread is let go (before a write), the copy stays for this one's reads."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    V.error_cells(book)  # in the invoices' sheet too
    store = FileStore(book)
    with store:
        store.load_ahead(V.L.RECEIVABLES.name)
        for fut in store._common["loaded_ahead"].values():
            fut.result()
        assert store._common["clean"] is not None  # made there
        store._stop_loading_ahead()
        gc.collect()
        clean = store._common["clean"]
        got = store.read([V.L.RECEIVABLES.name])  # looked through already: read from that copy
        assert store._common["clean"] is clean and got[V.L.RECEIVABLES.name].rows
        assert store.read([V.L.CUSTOMERS.name])[V.L.CUSTOMERS.name].rows  # another copy made here


def test_the_first_table_ahead_loads_on_its_own_reader_while_the_customers_are_read(tmp_path, monkeypatch):
    """The visits (validate reads every column of them: the longest load) begin loading on the loading
    thread's own reader while the customers' cells are loaded here, not after: two readers, each used by
    one thread only, and the records are those of loading each table when it is read."""
    from kam_xl.services.actions import VALIDATE_NEEDS
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    V.typed_rows_under_customers(book)
    events: list = []
    real = engine._load_arrow
    lock = threading.Lock()

    def load(reader, tp, *a, **k):
        with lock:
            events.append(("begin", tp.name, threading.current_thread().name, id(reader)))
        try:
            return real(reader, tp, *a, **k)
        finally:
            with lock:
                events.append(("end", tp.name, threading.current_thread().name, id(reader)))
    monkeypatch.setattr(engine, "_load_arrow", load)
    asked: list = []
    real_ahead, real_read = FileStore.load_ahead, FileStore.read
    monkeypatch.setattr(FileStore, "load_ahead", lambda self, name, *a, **k: asked.append(("ahead", name)) or
                        real_ahead(self, name, *a, **k))
    monkeypatch.setattr(FileStore, "read", lambda self, names, *a, **k: asked.append(("read", tuple(names))) or
                        real_read(self, names, *a, **k))
    with FileStore(book) as store:
        data = store.load(VALIDATE_NEEDS)
        got = {n: [r.__dict__ for r in rs] for n, rs in data.records.items()}
    # the visits asked for on the loading thread before the customers are read here
    assert asked.index(("ahead", V.L.VISITS.name)) < asked.index(("read", (V.L.CUSTOMERS.name,)))
    assert any(e[:3] == ("begin", V.L.VISITS.name, "kam-ahead_0") for e in events)
    readers = {e[2]: set() for e in events}
    for e in events:
        readers[e[2]].add(e[3])
    threads = [t for t in readers if t != "MainThread"]
    assert threads and all(not (readers[t] & readers["MainThread"]) for t in threads)  # a reader of its own
    monkeypatch.undo()
    with FileStore(book, full_reads=False) as store:
        store.load_ahead = None  # each table loaded when it is read
        here = store.load(VALIDATE_NEEDS)
        assert {n: [r.__dict__ for r in rs] for n, rs in here.records.items()} == got


def _part(store: FileStore, name: str) -> str:
    return store.pkg.tables[name].sheet_part


def _started(target, args: tuple, until, name: str | None = None) -> threading.Thread:
    """A thread running target(*args), once until() holds (or ten seconds passed)."""
    thread = threading.Thread(target=target, args=args, name=name)
    thread.start()
    deadline = time.monotonic() + 10
    while not until() and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread


def test_a_sheet_looked_through_elsewhere_is_taken_in_while_this_thread_looks_through_another(tmp_path, monkeypatch):
    """The loading thread takes in the visits' sheet (looked through by the helper process, or here by
    it) while the main thread is still looking through the customers' sheet: the scan is made outside
    the store's lock, so that the longest load does not wait for another sheet's scan."""
    from kam_xl.workbook import scan
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    real = scan.scan_sheet
    visits_done = threading.Event()
    waited: list = []

    def scan_sheet(path, part, tables):
        if tables and tables[0].name == V.L.CUSTOMERS.name:
            waited.append(visits_done.wait(10))  # the customers' scan goes on until the visits are taken in
        return real(path, part, tables)
    monkeypatch.setattr(scan, "scan_sheet", scan_sheet)
    with FileStore(book) as store:
        # the customers' scan under way on another thread
        here = _started(store._scan, ([V.L.CUSTOMERS.name],),
                        lambda: _part(store, V.L.CUSTOMERS.name) in store._common["ahead"])
        view = store.concurrent()
        view._scan([V.L.VISITS.name])
        assert _part(store, V.L.VISITS.name) in store._common["scans"]
        visits_done.set()
        here.join(20)
        assert waited == [True]  # taken in while the customers' sheet was still being looked through
        assert _part(store, V.L.CUSTOMERS.name) in store._common["scans"]


def test_a_sheet_being_looked_through_is_waited_for_not_looked_through_again(tmp_path, monkeypatch):
    """Two threads that want the same sheet: the second waits for the first one's scan (one scan),
    and both go on with what it found — a refusal too."""
    from concurrent import futures
    from kam_xl.workbook import scan
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    real = scan.scan_sheet
    calls: list = []
    go = threading.Event()
    waits: list = []  # (the thread that waits for a scan under way, whether that scan had been let go on)

    class Watched(futures.Future):
        def result(self, timeout=None):
            waits.append((threading.current_thread().name, go.is_set()))
            return super().result(timeout)
    monkeypatch.setattr(futures, "Future", Watched)

    def scan_sheet(path, part, tables):
        calls.append(part)
        go.wait(10)
        return real(path, part, tables)
    monkeypatch.setattr(scan, "scan_sheet", scan_sheet)
    with FileStore(book) as store:
        first = _started(store._scan, ([V.L.VISITS.name],), lambda: calls)
        second = _started(store.concurrent()._scan, ([V.L.VISITS.name],), lambda: ("second", False) in waits,
                          name="second")
        go.set()
        first.join(20)
        second.join(20)
        assert ("second", False) in waits  # it waited for the first one's scan, still under way
        assert calls == [_part(store, V.L.VISITS.name)]
        assert _part(store, V.L.VISITS.name) in store._common["scans"] and not store._common["ahead"]

    def refusing(path, part, tables):
        calls.append(part)
        go.wait(10)
        raise scan.SheetTooStrange(f"{part}: 300 MB without a row")
    monkeypatch.setattr(scan, "scan_sheet", refusing)
    calls.clear()
    go.clear()
    waits.clear()
    errors: list = []

    def scan_of(store):
        try:
            store._scan([V.L.VISITS.name])
        except Exception as e:  # noqa: BLE001 — the refusal each thread meets
            errors.append(e)
    with FileStore(book) as store:
        first = _started(scan_of, (store,), lambda: calls)
        second = _started(scan_of, (store.concurrent(),), lambda: ("second", False) in waits, name="second")
        go.set()
        first.join(20)
        second.join(20)
    assert ("second", False) in waits
    assert len(calls) == 1 and len(errors) == 2
    assert all(type(e).__name__ == "WorkbookUnreadable" and "拖垮" in str(e) for e in errors)
