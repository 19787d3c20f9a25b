"""The sheets of a big book looked through (workbook/scan.py) by a second process while this
one reads: the scan of a 100,000-customer book's sheets costs seconds of pure Python, which
the reading thread would otherwise wait for, one sheet after another, on a single core.

The helper is a fresh interpreter in isolated mode (-I: no current folder, no PYTHONPATH on
the module path, as the import's sandbox) running only scan.scan_sheet over the parts it is
given, in that order, and answering each as soon as it is done.  Nothing of the caller's
program is imported again (multiprocessing's spawn would run the caller's main script), and no
thread of this process is copied (fork).  If the helper dies or cannot start, the caller
looks through the sheet itself: `Gone`.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

_PROGRAM = """
import pickle, sys
sys.path.insert(0, sys.argv[1])
from kam_xl.workbook import scan
path, jobs, reads, date1904 = pickle.load(sys.stdin.buffer)
out = sys.stdout.buffer


def answer(key, work):
    try:
        got = (True, work())
    except Exception as e:
        try:
            pickle.dumps(e)
            got = (False, e)
        except Exception:
            got = (False, ValueError(f"{type(e).__name__}: {e}"))
    pickle.dump((key, got), out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


for part, tables in jobs:
    answer(part, lambda: scan.scan_sheet(path, part, tables))
if reads:  # after every scan: the loads wait for those
    from kam_xl.workbook import visits_view
    for key, tp, headers in reads:
        answer(("read", key), lambda: visits_view.from_xml(path, tp, date1904) if headers is None
               else visits_view.columns_from_xml(path, tp, headers, date1904))
"""


class Gone(Exception):
    """The helper process stopped before answering (killed, out of memory, could not start)."""


class ScanAhead:
    """One helper process looking through `jobs` ((sheet part, its tables), in order) of the
    book at `path`; `futures[part]` answers each (the scan, the sheet's own error, or Gone).
    After the scans it reads each of `reads` ((key, table part, headers)) from the sheet's XML
    with the column reader: the last-visit view of the visits table when headers is None
    (visits_view.from_xml), else those columns of the table (visits_view.columns_from_xml);
    `reads_done[key]` answers (that result, an error, or Gone)."""

    def __init__(self, path: str, jobs: list[tuple[str, list]], reads: list[tuple[str, object, object]] = (),
                 date1904: bool = False):
        self.futures: dict[str, Future] = {part: Future() for part, _ in jobs}
        self.reads_done: dict[str, Future] = {key: Future() for key, _, _ in reads}
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _PROGRAM, _PACKAGE_ROOT],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
            self.proc.stdin.write(pickle.dumps((path, jobs, list(reads), date1904),
                                               protocol=pickle.HIGHEST_PROTOCOL))
            self.proc.stdin.close()
        except OSError as e:
            self.proc = None
            self._fail_rest(Gone(str(e)))
            return
        self.reader = threading.Thread(target=self._answers, name="kam-scan-ahead", daemon=True)
        self.reader.start()

    def _answers(self) -> None:
        try:
            while True:
                key, (ok, value) = pickle.load(self.proc.stdout)  # our own child's answers
                fut = self.reads_done.get(key[1]) if isinstance(key, tuple) else self.futures.get(key)
                if fut is not None and not fut.done():
                    fut.set_result(value) if ok else fut.set_exception(value)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError):
            pass
        finally:
            self._fail_rest(Gone("the helper process stopped"))
            self.proc.stdout.close()
            self.proc.wait()

    def _fail_rest(self, e: Exception) -> None:
        for fut in [*self.futures.values(), *self.reads_done.values()]:
            if not fut.done():
                fut.set_exception(e)

    def stop(self) -> None:
        """Stop the helper (its answers no longer wanted); the waiting futures get Gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
