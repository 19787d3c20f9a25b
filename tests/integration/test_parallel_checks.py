"""全面校验 on a workbook file checks the invoices and the customers in a second process (a fork)
beside the visits and the procedures: on the demo book (findings of every kind planted) after
ordinary use, the command's output and every cell it writes are those of the checks run one
after the other, also when the second process dies on the way (its part is then checked here)."""
from __future__ import annotations

import os
import shutil
import signal

import pytest

from kam_xl.cli import main
from kam_xl.domain.selection import Checker
from kam_xl.reports import builders
from kam_xl.workbook import parallel, store as store_mod
from kam_xl.workbook.store import FileStore
from tests import legacy_files as lf, variants as V
from tests.integration.test_scan_ahead import _timed

pytestmark = pytest.mark.skipif(not parallel.CAN_FORK, reason="no fork on this system: checked in one process")


def _validate(book, folder, capsys) -> tuple:
    capsys.readouterr()
    rc = main(["validate", str(book), "--json"])
    got = capsys.readouterr()
    return rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"), V.cells_of(book)


def _processes(m, mode: str) -> list:
    """One process (no parallel offered), or the forks the file store makes, counted."""
    forks: list = []
    if mode == "one":
        m.setattr(FileStore, "parallel", None)
        return forks
    real = parallel.forked

    def counting(fn):
        forks.append(real(fn))
        return forks[-1]
    m.setattr("kam_xl.workbook.store.forked", counting)
    return forks


def _book_for(mode: str, demo_book, tmp_path, variant=None) -> tuple:
    """(a folder of the mode's own, the demo book copied there and lived in as `variant` says)."""
    folder = tmp_path / mode
    folder.mkdir()
    book = shutil.copy2(demo_book, folder / "大客户管理.xlsm")
    if variant is not None:
        variant(book)
    return folder, book


def _second_process(m, mode: str, owner, name: str) -> list:
    """_processes, and owner.name dying in the second process when the mode is "dies"."""
    forks = _processes(m, mode)
    if mode == "dies":
        _dies_in_the_second_process(m, owner, name)
    return forks


def _calls_here(m, owner, name: str, note) -> list:
    """note(*args) of each call of owner.name made in this process (not in a second one), in order."""
    here, real, calls = os.getpid(), getattr(owner, name), []

    def counted(*a, **k):
        if os.getpid() == here:
            calls.append(note(*a, **k))
        return real(*a, **k)
    m.setattr(owner, name, counted)
    return calls


def _dies_in_the_second_process(m, owner, name: str) -> None:
    """owner.name kills the process it runs in when that is the second one."""
    here, real = os.getpid(), getattr(owner, name)

    def dying(*a, **k):
        if os.getpid() != here:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **k)
    m.setattr(owner, name, dying)


@pytest.mark.parametrize("variant", [V.error_cells, V.sum_row_under_receivables, V.typed_rows_under_customers])
@pytest.mark.parametrize("how", ["forked", "dies"])
def test_checked_in_two_processes_or_in_one_validate_writes_the_same(variant, how, demo_book, tmp_path, capsys,
                                                                    monkeypatch):
    results = []
    for mode in ("one", how):
        folder, book = _book_for(mode, demo_book, tmp_path, variant)
        with monkeypatch.context() as m:
            forks = _second_process(m, mode, Checker, "receivables")
            results.append(_validate(book, folder, capsys))
        # the customers' own checks beside the visits' load, the invoices' and customers' beside the procedures'
        # load, the procedures' checks beside the visits'
        assert len(forks) == (0 if mode == "one" else 3)
        assert all(isinstance(f, parallel.Forked) and f.pid is None for f in forks)  # taken, reaped
    one, two = results
    assert "Traceback" not in one[2] + two[2]
    assert one[0] == 1 and '"CUST-' in one[1] and '"RECV-' in one[1] and '"VISIT-' in one[1]  # both parts found
    assert two[:3] == one[:3]
    differ = {k for k in set(one[3]) | set(two[3]) if one[3].get(k) != two[3].get(k)}
    assert all(_timed(k) for k in differ), sorted(differ)[:5]


def _report_cells(book, folder, capsys) -> tuple:
    import openpyxl
    capsys.readouterr()
    rc = main(["report", str(book), "--out", str(folder / "报表"), "--month", "2026-10"])
    got = capsys.readouterr()
    files = sorted((folder / "报表").glob("*.xlsx"))
    cells = {f.name: [list(row) for ws in openpyxl.load_workbook(f, read_only=True)
                      for row in ws.iter_rows(values_only=True)] for f in files}
    return rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"), cells


@pytest.mark.parametrize("how", ["forked", "dies", "fails_here"])
def test_the_report_with_its_passes_beside_is_the_report_made_in_one(how, demo_book, tmp_path, capsys,
                                                                    monkeypatch):
    """生成报表 makes the visits' pass and the invoices' pass (receivables frame, dunning list,
    invoices due in the period) in second processes, begun while the tables after them load: the
    same report and meeting pack, also when those processes die (the passes are made here), and
    a section's own error stops them (no process is left behind)."""
    results = []
    for mode in ("one", how):
        folder, book = _book_for(mode, demo_book, tmp_path)
        with monkeypatch.context() as m:
            forks = _processes(m, mode)
            if mode == "dies":
                _dies_in_the_second_process(m, builders, "_receivables_pass")
                _dies_in_the_second_process(m, builders, "_visits_pass")
            if mode == "fails_here":
                def failing(*a, **k):
                    raise RuntimeError("a section's own error")
                m.setattr(builders, "staff_kpis", failing)
            results.append(_report_cells(book, folder, capsys))
        assert len(forks) == (0 if mode == "one" else 2)
        assert all(f.pid is None for f in forks)  # taken or stopped, and reaped
    one, two = results
    assert one[0] == 0 and "Traceback" not in one[2] + two[2]
    rows = [r for f in one[3].values() for r in f]
    assert len(rows) > 100 and any("工作总结" in str(r[0]) for r in rows)  # the report with the meeting pack
    if how == "fails_here":  # refused as the error it is, nothing written, the second process stopped
        assert two[0] != 0 and "a section's own error" in two[2] and not two[3]
    else:
        assert two == one


def _begun_needs():
    """The report's needs with two parts beside it: one needing the visits alone, one the
    customers and the invoices; each records which tables the snapshot held when it ran."""
    from kam_xl import layout as L
    from kam_xl.services.actions import REPORT_NEEDS
    from kam_xl.store import Beside
    from dataclasses import replace

    def tables_then(data):
        return sorted(n for n, r in data.records.items() if r is not None), len(data.records[L.VISITS.name])
    return replace(REPORT_NEEDS, beside=(Beside("visits", (L.VISITS.name,), tables_then),
                                         Beside("invoices", (L.CUSTOMERS.name, L.RECEIVABLES.name), tables_then)))


def test_a_part_beside_begins_once_its_tables_are_loaded_while_the_rest_loads(demo_book, tmp_path):
    """Needs.beside: the file store forks each part as soon as the tables it names are loaded
    (the later tables not yet there), the action takes its result; a part not taken is stopped
    and reaped when the session ends."""
    from kam_xl import layout as L
    book = shutil.copy2(demo_book, tmp_path / "大客户管理.xlsm")
    store = FileStore(book)
    with store:
        data = store.load(_begun_needs())
        assert set(data.begun) == {"visits", "invoices"}
        parts = dict(data.begun)
        assert all(isinstance(p, parallel.Forked) for p in parts.values())
        tables, visits = data.begun.pop("visits").result()
        # begun after the visits were typed: the invoices and the tables after them were not loaded yet
        assert L.VISITS.name in tables and L.RECEIVABLES.name not in tables and L.SURVEYS.name not in tables
        assert visits == len(data.visits) > 0
        pid = parts["invoices"].pid
        assert pid is not None  # not taken: still there …
    assert parts["invoices"].pid is None and parts["visits"].pid is None  # … until the session ends
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # stopped and reaped


def test_without_a_second_process_no_part_is_begun(demo_book, tmp_path, monkeypatch):
    """A store that offers no second process (parallel None: the database, the live book, no
    fork) begins nothing: the action computes the parts itself."""
    book = shutil.copy2(demo_book, tmp_path / "大客户管理.xlsm")
    monkeypatch.setattr(FileStore, "parallel", None)
    with FileStore(book) as store:
        assert store.load(_begun_needs()).begun == {}


def test_a_load_that_fails_after_a_part_began_stops_it(demo_book, tmp_path, monkeypatch):
    """The load refuses a table after the visits' part began: the load itself stops and reaps that
    process (here outside a session, whose end would stop it too)."""
    from kam_xl import layout as L
    from kam_xl.workbook import loader
    book = shutil.copy2(demo_book, tmp_path / "大客户管理.xlsm")
    real, begun = loader._stream, []

    def failing(store, name, *a, **k):
        if name == L.RECEIVABLES.name:
            begun.extend((part, part.pid) for part in store.begun_parts)
            raise RuntimeError("the invoices cannot be read")
        return real(store, name, *a, **k)
    monkeypatch.setattr(loader, "_stream", failing)
    store = FileStore(book)
    with pytest.raises(RuntimeError, match="cannot be read"):
        store.load(_begun_needs())
    store.close()
    assert len(begun) == 1 and begun[0][1] is not None and begun[0][0].pid is None
    with pytest.raises(ChildProcessError):
        os.waitpid(begun[0][1], os.WNOHANG)


def _imported(book, sources, folder, capsys) -> tuple:
    capsys.readouterr()
    rc = main(["import", str(book), str(sources), "--report", str(folder / "导入报告.csv")])
    got = capsys.readouterr()
    return rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"), V.cells_of(book)


def _import_log_time(key) -> bool:
    """导入记录's 时间 column (its first): the time of the run."""
    sheet, coord = key
    return sheet == V.L.IMPORT_LOG.sheet and V.re.fullmatch(V.col_letter(V.L.IMPORT_LOG.first_col) + r"\d+", coord)


@pytest.mark.parametrize("how", ["forked", "dies"])
def test_a_part_of_a_write_patched_in_a_second_process_is_written_as_here(how, demo_book, tmp_path, capsys,
                                                                          monkeypatch):
    """The write patches its biggest sheet part in a second process while this one makes the others
    (the threshold lowered so that the demo book's parts take that path): regrade, validate and an
    import write every cell as the write made in one process, also when that process dies (the part
    is made here); no process is left behind."""
    sources = lf.old_archive_folder(tmp_path / "旧档案")
    results = []
    for mode in ("one", how):
        folder, book = _book_for(mode, demo_book, tmp_path)
        forks: list = []
        with monkeypatch.context() as m:
            m.setattr(FileStore, "parallel", None)  # (the checks in one process: only the write forks)
            if mode == "one":
                m.setattr(store_mod, "_patched_beside", lambda jobs, streamed: None)
            else:
                m.setattr(store_mod, "BESIDE_ROWS", 1)
                real = parallel.forked

                def counting(fn):
                    forks.append(real(fn))
                    return forks[-1]
                m.setattr(store_mod, "forked", counting)
                if mode == "dies":
                    _dies_in_the_second_process(m, store_mod, "_patch_to_hand_over")
            got = {}
            for action, args in (("regrade", ["regrade", str(book), "-v", "--as-of", "2026-06-30"]),
                                 ("validate", ["validate", str(book), "--json", "--as-of", "2026-06-30"])):
                capsys.readouterr()
                rc = main(args)
                out = capsys.readouterr()
                got[action] = (rc, out.out.replace(str(folder), "<folder>"), out.err.replace(str(folder), "<folder>"))
            got["import"] = _imported(book, sources, folder, capsys)
        results.append(got)
        assert len(forks) == (0 if mode == "one" else 3)  # one part of each write
        assert all(isinstance(f, parallel.Forked) and f.pid is None for f in forks)  # taken, reaped
    one, two = results
    for action in ("regrade", "validate"):
        assert "Traceback" not in one[action][2] + two[action][2]
        assert two[action] == one[action]
    assert one["import"][0] in (0, 1) and two["import"][:3] == one["import"][:3]
    differ = {k for k in set(one["import"][3]) | set(two["import"][3])
              if one["import"][3].get(k) != two["import"][3].get(k)}
    assert differ and all(_timed(k) or _import_log_time(k) for k in differ), sorted(differ)[:5]


def test_a_write_that_fails_after_a_part_began_stops_it(demo_book, tmp_path, monkeypatch):
    """The zip writer fails (the disk full, say) while a part is being patched in a second
    process: the write refuses as before, the book is untouched, and that process is stopped."""
    before = demo_book.read_bytes()
    forks: list = []
    real = parallel.forked

    def counting(fn):
        forks.append(real(fn))
        return forks[-1]
    monkeypatch.setattr(store_mod, "forked", counting)
    monkeypatch.setattr(store_mod, "BESIDE_ROWS", 1)
    monkeypatch.setattr(FileStore, "parallel", None)  # (no part of the action beside: only the write forks)

    def full(src, dst, replaced):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(store_mod.engine, "write_package", full)
    assert main(["regrade", str(demo_book), "--as-of", "2026-06-30"]) != 0
    assert demo_book.read_bytes() == before
    assert len(forks) == 1 and forks[0].pid is None  # stopped and reaped


def _typed_without_ids(book) -> None:
    """Two customers typed under the table without a 客户编号: the action gives them their ids."""
    part, _, (c1, r1, c2, r2) = V.parts(book, V.L.CUSTOMERS.name)
    C = V.L.CUSTOMERS
    rows = {rn: {V.col_of(C, "name"): f"手工补录第{k + 1}有限公司", V.col_of(C, "manager"): "手工经理",
                 V.col_of(C, "volume"): 900000 * (k + 1), V.col_of(C, "margin"): 0.2, V.col_of(C, "credit"): "好",
                 V.col_of(C, "growth"): "高"} for k, rn in enumerate((r2 + 1, r2 + 2))}
    V.rewrite(book, {part: lambda x: V.add_rows(x, rows)})


def _row_without_id_or_name(book) -> None:
    """The last customer's 客户编号 and 客户名称 cleared, its other cells left (a row half deleted):
    not a customer to grade, nor one the action numbers."""
    part, _, (c1, r1, c2, r2) = V.parts(book, V.L.CUSTOMERS.name)
    C = V.L.CUSTOMERS
    refs = [f"{V.col_letter(V.col_of(C, k))}{r2}" for k in ("id", "name")]
    V.rewrite(book, {part: lambda x: V.set_cell(V.set_cell(x, refs[0], ""), refs[1], "")})


@pytest.mark.parametrize("variant", [_typed_without_ids, _row_without_id_or_name, V.typed_rows_under_customers,
                                     V.error_cells, V.shared_formula_in_tier])
@pytest.mark.parametrize("how", ["forked", "dies"])
def test_the_customers_graded_in_two_halves_are_graded_as_in_one(variant, how, demo_book, tmp_path, capsys,
                                                                 monkeypatch):
    """重新分级 grades the second half of the customers in a second process, begun as soon as the
    customers and their invoices are loaded: the same summary, grade log and cells as graded in one
    process — also when that process dies, and when rows typed under the table get their ids only
    after it began (that half is graded here again)."""
    from kam_xl.services import regrade as regrade_mod
    results = []
    for mode in ("one", how):
        folder, book = _book_for(mode, demo_book, tmp_path, variant)
        with monkeypatch.context() as m:
            forks = _second_process(m, mode, regrade_mod, "grades")
            halves = _calls_here(m, regrade_mod, "grades", lambda data, customers: len(customers))
            capsys.readouterr()
            rc = main(["regrade", str(book), "-v", "--as-of", "2026-06-30"])
            got = capsys.readouterr()
            results.append((rc, got.out.replace(str(folder), "<folder>"), got.err.replace(str(folder), "<folder>"),
                            V.cells_of(book)))
        assert len(forks) == (0 if mode == "one" else 1)
        assert all(isinstance(f, parallel.Forked) and f.pid is None for f in forks)  # taken, reaped
        if mode == "one":
            assert len(halves) == 1  # every customer graded here at once
            n = halves[0]
        else:  # the first half here; the second taken from the other process, or graded here after all
            again = how == "dies" or variant is _typed_without_ids  # (ids given since it began)
            assert halves == [n // 2] + ([n - n // 2] if again else [])
    one, two = results
    assert one[0] == 0 and "Traceback" not in one[2] + two[2]
    assert "等级变动" in one[1] and two[:3] == one[:3]
    differ = {k for k in set(one[3]) | set(two[3]) if one[3].get(k) != two[3].get(k)}
    assert all(_timed(k) for k in differ), sorted(differ)[:5]
    if variant is _row_without_id_or_name:  # left as it was: not numbered, not graded, not logged
        _, _, (c1, r1, c2, r2) = V.parts(tmp_path / "one" / "大客户管理.xlsm", V.L.CUSTOMERS.name)
        C = V.L.CUSTOMERS
        for k in ("id", "name"):
            assert (C.sheet, f"{V.col_letter(V.col_of(C, k))}{r2}") not in one[3]
        assert f"第{r2}行" not in one[1]
        line = next(ln for ln in one[1].splitlines() if "各等级客户数" in ln)
        graded = sum(int(x) for x in V.re.findall(r" (\d+)", line.split("：", 1)[1]))
        ungraded = V.re.search(r"无法定级 (\d+) 户", one[1])
        assert graded + (int(ungraded[1]) if ungraded else 0) == r2 - r1 - 1  # every row but that one


@pytest.mark.parametrize("action", ["regrade", "validate", "report"])
def test_the_records_of_an_action_are_let_go_when_it_ends(action, demo_book, tmp_path):
    """A part begun beside holds the snapshot it computes from (its function), and the snapshot holds
    the part: once the part is taken (or stopped) that cycle is broken, so the records are freed when
    the action lets go of them — not kept until a collection runs (the xlwings server lives on) or
    the interpreter's end (a third of a second of freeing after a 100k regrade had returned)."""
    import gc
    import weakref
    from kam_xl.services import actions
    from kam_xl.store import Snapshot
    book = shutil.copy2(demo_book, tmp_path / "大客户管理.xlsm")
    made: list = []
    real_init = Snapshot.__init__

    def init(self, *a, **k):
        real_init(self, *a, **k)
        made.append(weakref.ref(self))
    was = gc.isenabled()
    gc.disable()  # (freed by reference counts alone, not by a collection)
    try:
        Snapshot.__init__ = init
        store = FileStore(book)
        if action == "regrade":
            res = actions.regrade_book(store, "测试")
            assert res.moves is not None
        elif action == "validate":
            res = actions.validate_book(store)
            assert res.report.findings
        else:  # (no write: the store kept what it read for apply() until the session ended)
            res = actions.report_book(store, book, out=str(tmp_path / "报表"), month="2026-10")
            assert res
        assert made and all(r() is None for r in made)
    finally:
        Snapshot.__init__ = real_init
        if was:
            gc.enable()


@pytest.mark.parametrize("variant", [_typed_without_ids, V.typed_rows_under_customers, V.error_cells, None])
@pytest.mark.parametrize("how", ["forked", "dies"])
def test_the_customers_own_checks_made_beside_the_visits_load_find_what_one_process_finds(
        variant, how, demo_book, tmp_path, capsys, monkeypatch):
    """全面校验 makes the customers' own checks (ids, names, principles but the payment credit, agreements,
    staff) in a second process as soon as the customers are loaded, while the visits load here: the same
    output and cells as checked in one process — also when that process dies (checked here after all),
    and when rows typed under the table get their ids only after it began (checked here again: they are
    not missing one)."""
    from kam_xl.services import validate as validate_mod
    results = []
    for mode in ("one", how):
        folder, book = _book_for(mode, demo_book, tmp_path, variant)
        with monkeypatch.context() as m:
            forks = _second_process(m, mode, Checker, "customers_alone")
            made_here = _calls_here(m, Checker, "customers_alone", lambda self: len(self.x.customers))
            taken = []  # what the checker got of the part begun beside: its findings, or None (checks itself)
            real_found = validate_mod._customers_alone_found
            m.setattr(validate_mod, "_customers_alone_found", lambda data: taken.append(real_found(data)) or taken[-1])
            begun = []  # (the part begun, whether the visits were loaded by then)
            real_fork = FileStore.fork_beside
            m.setattr(FileStore, "fork_beside", lambda self, fn: begun.append(
                (fn.func is validate_mod._customers_alone, V.L.VISITS.name in fn.args[0].records))
                or real_fork(self, fn))
            results.append(_validate(book, folder, capsys))
        typed = variant is _typed_without_ids
        # the customers' own checks begun beside; the invoices' and customers' too where every row has its id
        # (the procedures' checks then made in a second process beside the visits'), else made in a second
        # process beside the visits' and the procedures' once the ids are given
        assert len(forks) == (0 if mode == "one" else 2 if typed else 3)
        if mode == "one":
            assert len(made_here) == 1 and not begun  # checked here, once, with the invoices
        else:
            # begun before the visits were loaded; the invoices' and customers' checks after them (taking its
            # result: made here first when it died)
            assert begun == ([(True, False)] if typed else [(True, False), (False, True)])
            # died: checked here after all (the ids given by then); ids given since it began: not taken, checked
            # again with the invoices in the other second process
            assert len(taken) == 1 and (taken[0] is None) == (how == "forked" and typed)
            assert len(made_here) == (1 if how == "dies" else 0)
    one, two = results
    assert "Traceback" not in one[2] + two[2]
    assert '"CUST-' in one[1] and two[:3] == one[:3]
    differ = {k for k in set(one[3]) | set(two[3]) if one[3].get(k) != two[3].get(k)}
    assert all(_timed(k) for k in differ), sorted(differ)[:5]


@pytest.mark.parametrize("variant", [None, V.error_cells, _typed_without_ids])
@pytest.mark.parametrize("how", ["forked", "dies"])
def test_the_invoices_and_customers_checks_made_beside_the_procedures_load_find_what_one_process_finds(
        variant, how, demo_book, tmp_path, capsys, monkeypatch):
    """全面校验 checks the invoices and the customers in a second process as soon as the customers, visits and
    invoices are loaded, while the procedures' tables load here, and then the procedures' rows in a second
    process while the visits are checked here: the same output and cells as checked in one process — also when
    those processes die (checked here after all).  Rows without an id when those tables are loaded (typed under
    the table: they get theirs after the load) are checked with their ids: that part is not begun then."""
    from kam_xl.services import validate as validate_mod
    results = []
    for mode in ("one", how):
        folder, book = _book_for(mode, demo_book, tmp_path, variant)
        with monkeypatch.context() as m:
            forks = _processes(m, mode)
            if mode == "dies":
                _dies_in_the_second_process(m, Checker, "receivables")
                _dies_in_the_second_process(m, Checker, "procedures")
            here = _calls_here(m, Checker, "invoices_and_customers", lambda self, *a: True)
            procedures_here = _calls_here(m, Checker, "procedures", lambda self: True)
            begun = []  # the tables loaded when the invoices' part began
            real_fork = FileStore.fork_beside
            m.setattr(FileStore, "fork_beside", lambda self, fn: (
                fn.func is validate_mod._invoices_and_customers and begun.append(sorted(fn.args[0].records)))
                or real_fork(self, fn))
            results.append(_validate(book, folder, capsys))
        typed = variant is _typed_without_ids
        if mode == "one":
            assert not begun and len(here) == 1 and len(procedures_here) == 1
        elif typed:
            assert not begun  # rows without an id then: checked with the invoices once the ids are given
            # (in a second process beside the visits' and the procedures' here; here after all where it died)
            assert len(here) == (0 if how == "forked" else 1) and len(procedures_here) == 1
        else:
            # begun before the procedures' tables were loaded
            assert begun == [sorted({V.L.CUSTOMERS.name, V.L.VISITS.name, V.L.RECEIVABLES.name})]
            # made in the second processes; here after all where they died
            assert len(here) == (0 if how == "forked" else 1)
            assert len(procedures_here) == (0 if how == "forked" else 1)
        assert all(f.pid is None for f in forks)  # taken, reaped
    one, two = results
    assert "Traceback" not in one[2] + two[2]
    assert '"CUST-' in one[1] and '"RECV-' in one[1] and '"VISIT-' in one[1] and two[:3] == one[:3]
    differ = {k for k in set(one[3]) | set(two[3]) if one[3].get(k) != two[3].get(k)}
    assert all(_timed(k) for k in differ), sorted(differ)[:5]


def test_the_checks_with_the_invoices_part_made_beforehand_come_in_the_order_of_one_run(demo_book, tmp_path,
                                                                                      monkeypatch):
    """Checker.run with the invoices' and customers' checks made beforehand (or not made after all: made here)
    gives the findings, in the same order, and everything else it derives, as the checks run one after the
    other."""
    from kam_xl.services import validate as validate_mod
    from kam_xl.services.actions import VALIDATE_NEEDS
    book = shutil.copy2(demo_book, tmp_path / "大客户管理.xlsm")
    monkeypatch.setattr(FileStore, "parallel", None)  # nothing begun beside: every part made here
    with FileStore(book) as store:
        data = store.load(VALIDATE_NEEDS)

    def outcome(checker, report) -> tuple:
        return (report.findings, checker.dunning, checker.level_changes, checker.derived, checker.derived_bad,
                checker.satisfaction)
    one = validate_mod._checker(data)
    expected = outcome(one, one.run(None))
    assert expected[0] and expected[1] and expected[3]
    for made in (lambda: validate_mod._checker(data, last_visits=False).invoices_and_customers(), lambda: None):
        checker = validate_mod._checker(data)
        assert outcome(checker, checker.run(None, made)) == expected
