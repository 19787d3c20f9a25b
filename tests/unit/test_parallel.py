"""A part of an action computed in a second process (workbook/parallel.py): the same result as
computed here, in the same order, and computed here after all when the second process gives
none (killed, out of memory, raised, a result that does not pickle)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from kam_xl.domain.selection import Checker
from kam_xl.workbook import parallel
from tests.unit.test_plain_records import _data

pytestmark = pytest.mark.skipif(not parallel.CAN_FORK, reason="no fork on this system: parts are computed at once")


def test_the_part_is_computed_in_another_process_and_its_result_comes_back():
    here = os.getpid()
    got = parallel.forked(lambda: {"pid": os.getpid(), "rows": [(i, str(i), None) for i in range(50_000)]})
    assert isinstance(got, parallel.Forked)
    result = got.result()
    assert result["pid"] != here
    assert result["rows"] == [(i, str(i), None) for i in range(50_000)]  # more than a pipe holds at once


def _dies_there(here: int, how: str):
    def part():
        if os.getpid() != here:
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "raises":
                raise MemoryError
            if how == "unpicklable":
                return lambda: None
        return ("computed", os.getpid())
    return part


@pytest.mark.parametrize("how", ["killed", "raises", "unpicklable"])
def test_a_part_the_other_process_does_not_give_is_computed_here(how):
    here = os.getpid()
    got = parallel.forked(_dies_there(here, how))
    assert got.result() == ("computed", here)
    with pytest.raises(RuntimeError):
        got.result()  # taken once


def test_a_cancelled_part_leaves_no_process_behind():
    got = parallel.forked(lambda: __import__("time").sleep(60))
    pid = got.pid
    got.cancel()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: no zombie either


def test_without_fork_the_part_is_computed_at_once(monkeypatch):
    monkeypatch.setattr(parallel, "CAN_FORK", False)
    done = []
    got = parallel.forked(lambda: done.append(os.getpid()) or 7)
    assert done == [os.getpid()] and got.result() == 7


def _everything(ck: Checker, rep) -> tuple:
    return ([(f.rule, f.table, f.rid, f.key, f.message, f.customer_id, f.value, f.related) for f in rep.findings],
            ck.level_changes, ck.derived, ck.derived_bad, [d.__dict__ for d in ck.dunning], ck.satisfaction)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("how", [None, "killed"])
def test_checks_run_in_two_processes_find_what_one_finds_in_the_same_order(seed, how, monkeypatch):
    one = Checker(_data(seed))  # every check one after the other, as a run on one always made them
    for step in (one.types, one.receivables, one.customers, one.visits, one.rule_table, one.procedures):
        step()
    expected = _everything(one, one.rep)
    alone = Checker(_data(seed))
    assert _everything(alone, alone.run()) == expected
    assert expected[0] and expected[1] and expected[4], "the random book has findings, levels and dunning"
    used = []

    def beside(fn):
        got = parallel.forked(fn)
        used.append(got)
        return got
    if how == "killed":  # the second process dies in the invoices' checks: they are made here
        here, real = os.getpid(), Checker.receivables

        def receivables(self):
            if os.getpid() != here:
                os.kill(os.getpid(), signal.SIGKILL)
            real(self)
        monkeypatch.setattr(Checker, "receivables", receivables)
    two = Checker(_data(seed))
    assert _everything(two, two.run(beside)) == expected
    assert len(used) == 1 and isinstance(used[0], parallel.Forked)


def test_an_error_in_the_checks_made_here_stops_the_other_process(monkeypatch):
    used = []

    def beside(fn):
        used.append(parallel.forked(lambda: __import__("time").sleep(60) or fn()))
        return used[-1]

    def broken(self):
        raise ValueError("a check's own error")
    monkeypatch.setattr(Checker, "visits", broken)
    with pytest.raises(ValueError):
        Checker(_data(0)).run(beside)
    assert used[0].pid is None  # cancelled: killed and reaped


def test_a_part_that_hangs_there_is_stopped_and_computed_here(monkeypatch):
    """A second process that never answers (a lock another thread held when it was forked)
    never hangs the action: after PATIENCE it is stopped and its part computed here."""
    monkeypatch.setattr(parallel, "PATIENCE", 0.5)
    here = os.getpid()

    def part():
        if os.getpid() != here:
            __import__("time").sleep(60)
        return "computed here"
    got = parallel.forked(part)
    pid = got.pid
    assert got.result() == "computed here"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_interrupted_wait_stops_the_other_process(monkeypatch):
    got = parallel.forked(lambda: __import__("time").sleep(60))
    pid = got.pid

    class Interrupted:
        def register(self, *a):
            pass

        def poll(self, *a):
            raise KeyboardInterrupt
    monkeypatch.setattr(parallel.select, "poll", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        got.result()
    assert got.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_part_does_not_keep_this_processs_outputs_open(tmp_path):
    """A process killed (the import's sandbox child at its time limit) while its part still computes:
    whoever reads its standard output and error to their end is not kept waiting for the part."""
    import subprocess
    import sys
    import time
    pid_file = tmp_path / "part.pid"
    root = str(Path(parallel.__file__).resolve().parents[2])  # the package's, wherever the tests run from
    program = (f"import os, sys, time\nsys.path.insert(0, {root!r})\n"
               "from kam_xl.workbook import parallel\n"
               f"part = parallel.forked(lambda: open({str(pid_file)!r}, 'w').write(str(os.getpid())) and time.sleep(30))\n"
               "print('parent done', flush=True)\n"
               "os._exit(0)\n")  # (not waiting for the part, as a process killed does not)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=60)
    took = time.monotonic() - started
    try:
        assert out.stdout == b"parent done\n"
        assert took < 15, took  # not the part's 30 s
    finally:
        for _ in range(100):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
