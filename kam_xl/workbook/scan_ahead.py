"""The sheets of a big book looked through (workbook/scan.py) by a second process while this
one reads: the scan of a 100,000-customer book's sheets costs seconds of pure Python, which
the reading thread would otherwise wait for, one sheet after another, on a single core.

The helper is a fresh interpreter in isolated mode (-I: no current folder, no PYTHONPATH on
the module path, as the import's sandbox) running only scan.scan_sheet over the parts it is
given, in that order, and answering each as soon as it is done; then reading what it is asked
to read with the column reader (the last sheet's read in the same pass as its scan: one inflate
of a 300 MB visits sheet instead of two).  Nothing of the caller's
program is imported again (multiprocessing's spawn would run the caller's main script), and no
thread of this process is copied (fork).  If the helper dies or cannot start, the caller
looks through the sheet itself: `Gone`.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from concurrent.futures import Future, InvalidStateError
from pathlib import Path

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

_PROGRAM = """
import pickle, sys
sys.path.insert(0, sys.argv[1])
from kam_xl.workbook import deflate, engine, scan, visits_view
path, jobs, date1904 = pickle.load(sys.stdin.buffer)
out = sys.stdout.buffer
asked = []


def reads():
    # what to read after the scans comes in a second message, when the caller knows it (it may
    # still be reading the rule table when the scans begin); none when it closes the pipe instead
    if not asked:
        try:
            asked.append(pickle.load(sys.stdin.buffer))
        except Exception:
            asked.append([])
    return asked[0]


def outcome(work):
    try:
        return True, work()
    except Exception as e:
        try:
            pickle.dumps(e)
            return False, e
        except Exception:
            return False, ValueError(f"{type(e).__name__}: {e}")


def answer(key, got):
    pickle.dump((key, got), out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def answer_read(key, got):
    answer(("read", key), got)


def read(tp, headers, chunks=None):
    if headers is None:
        return visits_view.from_xml(path, tp, date1904, chunks)
    return engine.columns_from_xml(path, tp, headers, date1904, chunks)


def scan_and_read(part, tables, key, tp, headers):
    # one inflate of the sheet for both: the scan takes each piece the column reader is given (cells
    # far right of the tables are not looked for: the column reader ignores them; a read of the
    # whole grid looks for them first, FileStore._scan)
    scanner = scan.SheetScanner(part, tables, far=False)
    failed = []

    def pieces():
        for chunk in deflate.inflated(path, part):
            try:
                scanner.feed(chunk)
            except Exception as e:
                failed.append(e)
                raise
            yield chunk
    fed = pieces()

    def rest_and_result():
        for _ in fed:  # what the reader left (it stops at what it cannot type) is still scanned
            pass
        return scanner.result()
    got = outcome(lambda: read(tp, headers, fed))
    scanned = outcome(rest_and_result) if not failed else (False, failed[0])
    if not scanned[0] and got[0]:
        got = scanned  # a sheet the scan refuses is not read either
    answer(part, scanned)
    answer_read(key, got)


# the last sheet looked through, when something is read of it, is scanned and read in one pass
# (nothing waits behind it); every other read comes after all the scans (the loads wait for those)
last = jobs[-1][0] if jobs else None
fused = None
for part, tables in jobs:
    if part == last:
        fused = next((r for r in reads() if r[1].sheet_part == last), None)
    if fused is not None and part == last:
        scan_and_read(part, tables, *fused)
    else:
        answer(part, outcome(lambda: scan.scan_sheet(path, part, tables)))
for key, tp, headers in reads():
    if fused is None or key != fused[0]:
        answer_read(key, outcome(lambda: read(tp, headers)))
"""


class Gone(Exception):
    """The helper process stopped before answering (killed, out of memory, could not start)."""


class ScanAhead:
    """One helper process looking through `jobs` ((sheet part, its tables), in order) of the
    book at `path`; `futures[part]` answers each (the scan, the sheet's own error, or Gone).
    After the scans it reads each of `reads` ((key, table part, headers)) from the sheet's XML
    with the column reader: the last-visit view of the visits table when headers is None
    (visits_view.from_xml), else those columns of the table (engine.columns_from_xml);
    `reads_done[key]` answers (that result, an error, or Gone).  reads=None: they are given
    later (give_reads), when the caller knows them — the process starts and looks through the
    sheets meanwhile (its interpreter's start and the first scans overlap the caller's first
    reads); it waits for them before the last sheet, which it scans and reads in one pass."""

    def __init__(self, path: str, jobs: list[tuple[str, list]], reads: list[tuple[str, object, object]] | None = (),
                 date1904: bool = False):
        self.futures: dict[str, Future] = {part: Future() for part, _ in jobs}
        self.parts = [part for part, _ in jobs]
        self.reads_done: dict[str, Future] = {}
        self.waiting = reads is None  # for give_reads
        self._lock = threading.Lock()
        self._ended = False
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _PROGRAM, _PACKAGE_ROOT],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
            self.proc.stdin.write(pickle.dumps((path, jobs, date1904), protocol=pickle.HIGHEST_PROTOCOL))
            self.proc.stdin.flush()
        except OSError as e:
            self.proc = None
            self._ended = True
            self._fail_rest(Gone(str(e)))
            return
        self.reader = threading.Thread(target=self._answers, name="kam-scan-ahead", daemon=True)
        self.reader.start()
        if reads is not None:
            self.give_reads(reads)

    def give_reads(self, reads: list[tuple[str, object, object]]) -> None:
        """What to read after the scans ((key, table part, headers)); given once (an empty list:
        nothing — the helper then finishes its scans and stops)."""
        self.waiting = False
        with self._lock:  # (a helper already gone answers nothing: Gone at once)
            for key, _, _ in reads:
                self.reads_done[key] = fut = Future()
                if self._ended:
                    fut.set_exception(Gone("the helper process stopped"))
            if self.proc is None:
                return
            if self._ended:  # nothing more to tell it: its pipe is let go
                try:
                    self.proc.stdin.close()
                except (OSError, ValueError):
                    pass
                return
        data = pickle.dumps(list(reads), protocol=pickle.HIGHEST_PROTOCOL)
        threading.Thread(target=self._send, args=(data,), name="kam-scan-ahead-reads", daemon=True).start()

    def _send(self, data: bytes) -> None:
        """The reads written to the helper's pipe on a thread of their own: the helper takes them only
        before its last sheet, and a message larger than the pipe holds (a book of many wide tables)
        would otherwise block the caller — who holds the store's lock — until then."""
        try:
            self.proc.stdin.write(data)
        except (OSError, ValueError) as e:  # it died or was stopped meanwhile (its pipe is closed)
            self._fail_rest(Gone(str(e)))
        finally:  # let go of the pipe either way (what a broken pipe left buffered is dropped with it)
            try:
                self.proc.stdin.close()
            except (OSError, ValueError):
                pass

    def _answers(self) -> None:
        try:
            while True:
                key, (ok, value) = pickle.load(self.proc.stdout)  # our own child's answers
                with self._lock:
                    fut = self.reads_done.get(key[1]) if isinstance(key, tuple) else self.futures.get(key)
                if fut is not None and not fut.done():
                    try:
                        fut.set_result(value) if ok else fut.set_exception(value)
                    except InvalidStateError:  # given up on meanwhile (its pipe broke)
                        pass
        except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError):
            pass
        finally:
            with self._lock:
                self._ended = True
            self._fail_rest(Gone("the helper process stopped"))
            self.proc.stdout.close()
            self.proc.wait()

    def _fail_rest(self, e: Exception) -> None:
        with self._lock:
            waiting = [*self.futures.values(), *self.reads_done.values()]
        for fut in waiting:
            if not fut.done():
                try:
                    fut.set_exception(e)
                except InvalidStateError:  # answered meanwhile by the other thread
                    pass

    def stop(self) -> None:
        """Stop the helper (its answers no longer wanted); the waiting futures get Gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None and self.waiting:  # never given its reads: the pipe is let go
            self.waiting = False
            try:
                self.proc.stdin.close()
            except OSError:
                pass
