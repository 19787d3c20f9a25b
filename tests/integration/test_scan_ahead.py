"""Big books are looked through by a second process while this one reads (workbook/scan_ahead.py).
The threshold is lowered here so ordinary test books take that path: every action must come out
exactly as with the sheets looked through in-process — the same cells written, the same findings
and notices — on books after ordinary use (error cells, rows typed under a table, a note below,
shared formulas); a helper that dies is replaced by looking through in-process, and a sheet's own
problem found by the helper is the same clear refusal."""
from __future__ import annotations

import pickle
import shutil
import threading
import time
from pathlib import Path

import pytest

from kam_xl.cli import main
from kam_xl.workbook import scan_ahead, store as store_mod
from kam_xl.workbook.store import FileStore
from tests import variants as V

LIVED_IN = [V.error_cells, V.typed_rows_under_customers, V.typed_rows_under_visits, V.note_under(V.L.VISITS),
            V.sum_row_under_receivables, V.shared_formula_in_tier, V.calc_chain]


def _run_all(book: Path, folder: Path, capsys) -> dict:
    out = {}
    for action, args in (("validate", ["validate", str(book), "--json", "--as-of", "2026-06-30"]),
                         ("regrade", ["regrade", str(book), "-v", "--as-of", "2026-06-30"]),
                         ("report", ["report", str(book), "--out", str(folder / "报表"), "--as-of", "2026-06-30"])):
        capsys.readouterr()
        rc = main(args)
        got = capsys.readouterr()
        out[action] = (rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"))
    out["cells"] = V.cells_of(book)
    return out


@pytest.mark.parametrize("variant", LIVED_IN, ids=lambda v: getattr(v, "__name__", "note_under_visits"))
def test_looked_through_by_a_second_process_or_here_the_actions_agree(variant, tmp_path, capsys, monkeypatch):
    real = scan_ahead.ScanAhead.__init__
    started: list = []

    def counting(self, *a, **k):
        started.append(a[1])
        real(self, *a, **k)
    monkeypatch.setattr(scan_ahead.ScanAhead, "__init__", counting)

    def run(book: Path, folder: Path) -> dict:
        started.clear()
        got = _run_all(book, folder, capsys)
        assert bool(started) == (folder.name == "on")  # the path under test was taken (and only there)
        return got
    results = V.both_ways(tmp_path, variant,
                          lambda on: monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0 if on else 1 << 62), run)
    here, ahead = results
    for action in ("validate", "regrade", "report"):
        assert "Traceback" not in here[action][2] + ahead[action][2]
        assert ahead[action] == here[action], (action, ahead[action][2][:3000])
    differ = {k for k in set(ahead["cells"]) | set(here["cells"]) if ahead["cells"].get(k) != here["cells"].get(k)}
    assert all(_timed(k) for k in differ), sorted(differ)[:5]


def _timed(key: tuple[str, str]) -> bool:
    """最近一次运行 on the home sheet and the 调级记录 time column: the time of the run."""
    sheet, coord = key
    log_time = V.col_letter(V.L.GRADE_LOG.first_col)  # its first column: 时间 (a date and time)
    return key == (V.L.SHEET_HOME, V.L.HOME_STATUS_CELL) or (
        sheet == V.L.GRADE_LOG.sheet and V.re.fullmatch(log_time + r"\d+", coord) is not None)


def test_a_helper_that_dies_is_replaced_by_looking_here(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "共享"
    folder.mkdir()
    book = V.base_book(folder / "大客户管理.xlsm")
    V.error_cells(book)
    reference = tmp_path / "reference.xlsm"
    shutil.copy2(book, reference)
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 1 << 62)
    assert main(["validate", str(reference), "--as-of", "2026-06-30"]) in (0, 1)
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    monkeypatch.setattr(scan_ahead, "_PROGRAM", "import os; os._exit(9)")  # killed before answering
    started = []
    real = scan_ahead.ScanAhead.__init__
    monkeypatch.setattr(scan_ahead.ScanAhead, "__init__", lambda self, *a: started.append(a) or real(self, *a))
    assert main(["validate", str(book), "--as-of", "2026-06-30"]) in (0, 1)
    assert started  # the helper was asked, and died
    assert "Traceback" not in capsys.readouterr().err
    assert V.cells_of(book) == V.cells_of(reference)


def test_a_sheets_own_problem_found_by_the_helper_is_the_same_refusal(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "共享"
    folder.mkdir()
    book = V.base_book(folder / "大客户管理.xlsm")
    part = V.sheet_part(book, V.L.CUSTOMERS.sheet)
    V.rewrite(book, {part: lambda x: x.replace(b"<sheetData>", b"<sheetData>" + b" " * (300 << 20), 1)})
    before = book.read_bytes()
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    assert main(["validate", str(book)]) == 2
    err = capsys.readouterr().err
    assert "异常" in err and "Traceback" not in err and "Error: " in err
    assert book.read_bytes() == before


def test_the_helper_stops_with_the_session(tmp_path, monkeypatch):
    """Sheets looked through ahead and never read: the helper does not outlive the action
    (a helper that would take ten minutes is stopped when the session ends)."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    monkeypatch.setattr(scan_ahead, "_PROGRAM", "import time; time.sleep(600)")
    store = FileStore(book)
    with store:
        store.prepare([V.L.CUSTOMERS.name, V.L.VISITS.name, V.L.RECEIVABLES.name])
        helpers = list(store._common["helpers"])
        assert helpers and all(h.proc is not None and h.proc.poll() is None for h in helpers)
    for h in helpers:
        assert h.proc.wait(timeout=30) != 0  # killed, not finished
    assert not store._common["helpers"] and not store._common["ahead"]


def test_the_helper_starts_before_the_rule_table_is_read(tmp_path, monkeypatch):
    """A big book's helper process is started before the first read (the rule table's: its own start
    and its first scans overlap that read), is told what to read once the rules are known, and the
    load comes out as with the sheets looked through here."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    V.typed_rows_under_customers(book)
    from kam_xl.services.actions import REGRADE_NEEDS, VALIDATE_NEEDS
    for needs in (REGRADE_NEEDS, VALIDATE_NEEDS):
        events: list = []
        real_read, real_init, real_give = FileStore.read, scan_ahead.ScanAhead.__init__, scan_ahead.ScanAhead.give_reads

        def read(self, names, *a, **k):
            events.append(("read", tuple(names)))
            return real_read(self, names, *a, **k)

        def init(self, path, jobs, reads=(), date1904=False):
            events.append(("helper", tuple(p for p, _ in jobs), reads is None))
            real_init(self, path, jobs, reads, date1904)

        def give(self, reads):
            events.append(("reads", tuple(k for k, _, _ in reads)))
            real_give(self, reads)
        monkeypatch.setattr(FileStore, "read", read)
        monkeypatch.setattr(scan_ahead.ScanAhead, "__init__", init)
        monkeypatch.setattr(scan_ahead.ScanAhead, "give_reads", give)
        monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
        store = FileStore(book)
        with store:
            ahead = store.load(needs)
            got_ahead = {n: [r.__dict__ for r in rs] for n, rs in ahead.records.items()}
            last_ahead = dict(ahead.last_visits())
        monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 1 << 62)
        with FileStore(book) as here_store:
            here = here_store.load(needs)
            assert {n: [r.__dict__ for r in rs] for n, rs in here.records.items()} == got_ahead
            assert dict(here.last_visits()) == last_ahead
        monkeypatch.undo()
        kinds = [e[0] for e in events]
        helper = events[kinds.index("helper")]
        assert kinds.index("helper") < kinds.index("read")  # begun before the rule table is read
        assert helper[2] and V.sheet_part(book, V.L.CUSTOMERS.sheet) not in helper[1]  # its reads told later
        assert kinds.index("reads") > kinds.index("read")


def test_a_helper_waited_for_before_it_is_told_what_to_read_does_not_hang(tmp_path, monkeypatch):
    """Sheets the helper looks through, read before prepare() told it what to read after its scans
    (it would wait for that before its last sheet): it is told "nothing" and the read goes on."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    names = [V.L.CUSTOMERS.name, V.L.RECEIVABLES.name, V.L.VISITS.name]
    with FileStore(book) as store:
        store.look_ahead(names)
        helper = store._common["awaiting"]
        assert helper.waiting
        got: dict = {}
        reading = threading.Thread(target=lambda: got.update(store.read([V.L.VISITS.name])), daemon=True)
        reading.start()  # the helper's last sheet
        reading.join(timeout=60)
        assert not reading.is_alive(), "the read waited for a helper that waited to be told what to read"
        assert len(got[V.L.VISITS.name].rows) == 2
        assert not helper.waiting and "awaiting" not in store._common


def test_a_helper_gone_before_it_is_told_what_to_read_answers_gone(tmp_path, monkeypatch):
    """A helper that dies before prepare() gives it its reads: every read it was to make is Gone at once
    (read here), the scans too, and the load is the same as without it."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    monkeypatch.setattr(scan_ahead, "_PROGRAM", "import os; os._exit(9)")
    from kam_xl.services.actions import REGRADE_NEEDS
    with FileStore(book) as store:
        store.look_ahead([V.L.CUSTOMERS.name, V.L.RECEIVABLES.name, V.L.VISITS.name])
        helper = store._common["awaiting"]
        helper.proc.wait(timeout=30)
        helper.reader.join(timeout=30)
        helper.give_reads([("Visits", store.pkg.tables["Visits"], None)])
        with pytest.raises(scan_ahead.Gone):
            helper.reads_done["Visits"].result(timeout=30)
        assert all(isinstance(f.exception(timeout=30), scan_ahead.Gone) for f in helper.futures.values())
    monkeypatch.undo()
    monkeypatch.setattr(store_mod, "SCAN_AHEAD_BYTES", 0)
    monkeypatch.setattr(scan_ahead, "_PROGRAM", "import os; os._exit(9)")
    with FileStore(book) as store:
        died = store.load(REGRADE_NEEDS)
        got = {n: [r.__dict__ for r in rs] for n, rs in died.records.items()}
        last = dict(died.last_visits())
    with FileStore(book) as store:
        here = store.load(REGRADE_NEEDS)
        assert {n: [r.__dict__ for r in rs] for n, rs in here.records.items()} == got
        assert dict(here.last_visits()) == last


def test_reads_larger_than_the_pipe_holds_do_not_block_the_caller(tmp_path, monkeypatch):
    """The helper takes what to read only before its last sheet; a message larger than its pipe holds
    (a book of many wide tables) is written on a thread of its own, so prepare() — which gives it under
    the store's lock — goes on at once, and the helper still gets it whole."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    got = tmp_path / "got"
    # a helper busy with its scans for two seconds before it takes what to read
    monkeypatch.setattr(scan_ahead, "_PROGRAM", (
        "import pickle, sys, time\n"
        "pickle.load(sys.stdin.buffer)\n"
        "time.sleep(2)\n"
        f"open({str(got)!r}, 'wb').write(pickle.dumps(len(pickle.load(sys.stdin.buffer))))\n"))
    with FileStore(book) as store:
        tp = store.pkg.tables[V.L.VISITS.name]
        helper = scan_ahead.ScanAhead(str(book), [(tp.sheet_part, [tp])], None)
        reads = [(f"表{i}", tp, [f"很长的列名{i}-{j}" * 20 for j in range(40)]) for i in range(60)]  # ~1.5 MB
        started = time.monotonic()
        helper.give_reads(reads)
        assert time.monotonic() - started < 1.0  # not blocked until the helper takes it
        assert helper.proc.wait(timeout=60) == 0
    assert pickle.loads(got.read_bytes()) == len(reads)


@pytest.mark.parametrize("gone", ["before", "meanwhile"])
def test_reads_the_helper_never_takes_let_go_of_its_pipe(gone, tmp_path, monkeypatch):
    """A helper that stops before it takes what to read (it died, or was stopped) — before it is told, or
    while the message larger than its pipe is being written: its reads answer Gone, and the pipe is
    closed all the same (not left open, with the rest of the message buffered, until the collector)."""
    book = V.base_book(tmp_path / "大客户管理.xlsm")
    monkeypatch.setattr(scan_ahead, "_PROGRAM", "import pickle, sys, time\npickle.load(sys.stdin.buffer)\n"
                        + ("time.sleep(1)\n" if gone == "meanwhile" else ""))
    with FileStore(book) as store:
        tp = store.pkg.tables[V.L.VISITS.name]
        helper = scan_ahead.ScanAhead(str(book), [(tp.sheet_part, [tp])], None)
        if gone == "before":
            assert helper.proc.wait(timeout=60) == 0
            for _ in range(200):  # its answers' end seen
                if helper._ended:
                    break
                time.sleep(0.05)
        reads = [(f"表{i}", tp, [f"很长的列名{i}-{j}" * 20 for j in range(40)]) for i in range(60)]  # ~1.5 MB
        helper.give_reads(reads)
        with pytest.raises(scan_ahead.Gone):
            helper.reads_done["表0"].result(timeout=30)
        for _ in range(200):
            if helper.proc.stdin.closed:
                break
            time.sleep(0.05)
        assert helper.proc.stdin.closed
