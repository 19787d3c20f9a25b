"""FileStore: the table-level interface over a closed workbook file.

Reads with the fast engine; writes in one commit step — refuse when Excel has
the book open (~$ owner file) or the file changed since it was read, write a
temp file in the same folder, fsync, keep a timestamped backup, rename.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import weakref
import zipfile
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from .. import layout as L
from ..domain.values import CellError
from ..errors import (BackupFailed, ContentInTheWay, FileOperationFailed, KamError, NotAMasterWorkbook,
                      TableLayoutUnsupported, WorkbookChanged, WorkbookLocked, WorkbookNotFound, WorkbookReadOnly,
                      WorkbookUnreadable, WriteFailed)
from . import deflate, engine, scan, visits_view
from .columns import Source as ColumnSource
from .rawzip import BIG_PART as STREAM_PART
from .scan_ahead import Gone, ScanAhead
from .parallel import CAN_FORK, forked
from .loader import LoadingStore
from .reading import read_settings
from .package import Package, col_letter, make_ref, parse_ref, read_package
from .tables import Changes, Notice, Table

BACKUP_DIR = "备份"


def _lock_candidates(path: Path) -> list[Path]:
    """Excel/WPS owner files (~$ + the name; Excel drops the first 2 chars of long names)
    and LibreOffice's .~lock.NAME#."""
    names = {"~$" + path.name, ".~lock." + path.name + "#"}
    if len(path.name) > 2:
        names.add("~$" + path.name[2:])
    return [path.with_name(n) for n in names]


def fingerprint(path: Path) -> tuple[int, int, int, int]:
    """What identifies the version of the book we read: a replaced file has a new inode
    even when its size and time happen to match."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev


SCAN_AHEAD_BYTES = 48 << 20  # the sheets after the first bigger than this in all: a second process looks through them
WRITE_LOCK_WAIT = 30.0  # seconds another kam-xl writer of the same folder may hold the commit step


@contextlib.contextmanager
def commit_lock(path: Path, wait: float = WRITE_LOCK_WAIT):
    """The commit step of every kam-xl writer of this folder, one at a time: the check
    that the book is still the version read and the rename happen under one lock (as
    SQLite's writers do), so a second writer sees the first one's book, never loses it.
    An exclusive flock on the folder itself (no lock file is left behind); where the
    platform or file system has no flock, the step runs unlocked as before."""
    try:
        import fcntl
        fd = os.open(path.parent, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WorkbookLocked(path, "另一个 kam-xl 程序正在写入同一文件夹，请稍后再运行",
                                         "another kam-xl process is writing in this folder; try again later") from None
                time.sleep(0.05)
            except OSError as e:
                if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    break  # a file system without locks
                raise
        yield
    finally:
        os.close(fd)  # closing the descriptor lets go of the lock


def _unreadable(path: Path, e: BaseException) -> WorkbookUnreadable:
    if isinstance(e, scan.SheetTooStrange):
        return WorkbookUnreadable(path, f"工作表内容异常，像是被构造来拖垮程序的文件（{e}），未读取",
                                  f"a sheet looks built to exhaust a reader ({e}); not read")
    if isinstance(e, MemoryError):
        return WorkbookUnreadable(path, "工作簿过大或结构异常，读取时内存不足", "out of memory while reading")
    return WorkbookUnreadable(path, type(e).__name__, str(e)[:200])


class FileStore(LoadingStore):
    def __init__(self, path: str | os.PathLike, backups_keep: int | None = None, full_reads: bool = False):
        """backups_keep: how many timestamped backups to keep; None reads 备份保留份数
        from the workbook's Settings table (default 10).  full_reads: answer every load
        from every column, without the optimised paths (tests compare the two)."""
        given = Path(path)
        # A book opened through a symbolic link is written through to its target (the link
        # stays a link, the backup is of the real book); lock files are looked for beside both.
        self.path = Path(os.path.realpath(given)) if given.is_symlink() else given
        self.link = given if given.is_symlink() else None
        self.full_reads = full_reads
        self._backups_keep = backups_keep
        if self.path.is_dir():
            raise WorkbookNotFound(self.path, "这是一个文件夹，不是工作簿文件：请给出 .xlsm 文件本身的路径",
                                   "this is a folder, not a workbook file; give the .xlsm file itself")
        if not self.path.is_file():
            raise WorkbookNotFound(self.path, "文件不存在", "no such file")
        try:
            with zipfile.ZipFile(self.path) as z:
                self.pkg: Package = read_package(z)
        except PermissionError as e:
            raise FileOperationFailed(self.path, "没有读取权限", str(e)[:200]) from None
        except Exception as e:  # BadZipFile, zlib.error, KeyError, damaged XML …
            raise _unreadable(self.path, e) from None
        self._fp = fingerprint(self.path)
        self._shapes: dict[str, Table] = {}
        self._reader = None  # one fastexcel reader per store: the shared strings are read once
        # shared with concurrent() views: one scan per sheet, one cleaned copy
        self._common = {"scans": {}, "below": {}, "cells": {}, "clean": None, "copies": _Copies(),
                        "lock": threading.Lock(),
                        # sheets being looked through by a second process, tables it reads after them
                        "ahead": {}, "reads": {}, "helpers": []}
        self.notices: list[Notice] = []

    def concurrent(self) -> "FileStore":
        """A view of this store for another thread: its own reader (a reader is not
        shared between threads), the same package, shapes, scans and change detection."""
        other = object.__new__(FileStore)
        other.__dict__.update(self.__dict__)
        other._reader = None
        other._view = True  # its close() leaves what it shares with this store
        return other

    def _fast_reader(self) -> "_SharedReader":
        """This store's fastexcel reader, of the file read now (a cleaned copy made since
        by another thread's look-through is read from then on)."""
        path = self._reading_path()
        reader = self._reader
        if reader is None or reader.path != path:
            reader = self._reader = _SharedReader(path)
        return reader

    def _column_source(self) -> ColumnSource:
        """The shared strings and number formats of the file the reader reads, for reading
        a few columns of a big sheet from its XML (shared with the concurrent views)."""
        clean = self._common["clean"]
        path = clean.name if clean else str(self.path)
        with self._common["lock"]:
            src = self._common.get("source")
            if src is None or src.path != path:
                src = self._common["source"] = ColumnSource(path, self.pkg.date1904)
        return src

    def close(self) -> None:
        """Let go of the reader (and its file handle) before the book is replaced."""
        self._reader = None
        if not self.__dict__.get("_view"):
            self._stop_loading_ahead()
            self._common.pop("source", None)  # the shared strings go with it
            with self._common["lock"]:
                self._stop_scanning_ahead()

    # -- what the tables alone do not show ------------------------------------
    def _scan(self, names: list[str], far: bool = True) -> None:
        """Scan the sheets of these tables once (in parallel): error cells, formulas
        without a result, what lies below each table.  Rows typed directly under a
        table that look like its rows are taken in (its ref grows, in memory, and
        the next write keeps that); error cells make a cleaned copy for the reader.
        far=False: a sheet the helper process looked through for the column reader alone
        (scan.SheetScanner far=False) is not looked through again for cells far beyond
        its tables; by default it is, before a reader that builds the whole grid reads it."""
        self._look_through(names)
        if far:
            self._look_far(names)

    def _look_far(self, names: list[str]) -> None:
        """Cells far beyond the tables looked for on the sheets of these tables where the scan
        did not (a second pass, only when such a sheet is read whole after all: the helper's
        column read could not be used); a trimmed copy for the reader when there are some."""
        common = self._common
        with common["lock"]:
            parts = {self.pkg.tables[n].sheet_part for n in names if n in self.pkg.tables}
            unknown = [p for p in sorted(parts) if p in common["scans"] and common["scans"][p].max_col is None]
            if not unknown:
                return
            try:
                for p in unknown:
                    common["scans"][p].max_col = scan.scan_sheet(
                        str(self.path), p, [t for t in self.pkg.tables.values() if t.sheet_part == p]).max_col
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                raise _unreadable(self.path, e) from None
            if any(self._far(p, common["scans"][p]) for p in unknown):
                self._clean_copy()

    def _look_through(self, names: list[str]) -> None:
        common = self._common
        with common["lock"]:
            wanted = {self.pkg.tables[n].sheet_part for n in names} - set(common["scans"])
            waiting = {p: common["ahead"][p] for p in wanted if p in common["ahead"]}
            begun = common.get("awaiting")
            if begun is not None and set(waiting) & set(begun.parts):  # waited for before prepare() told it
                common.pop("awaiting")                                 # what to read: nothing (it would
                begun.give_reads([])                                   # wait for that before its last sheet)
            # the sheets nobody looks through yet are looked through by this thread outside the lock
            # (the loading thread takes in meanwhile the sheet the helper process has looked through:
            # it does not wait for the customers' sheet looked through here); marked as under way, so
            # that another thread that wants one waits for it rather than looking through it again
            own = {p: futures.Future() for p in sorted(wanted - set(waiting))}
            common["ahead"].update(own)
        if own:
            self._look_through_here(own)
        got = {}
        # looked through by the second process, another thread or this one; waited for outside the
        # lock, so another thread reads what is ready meanwhile
        for p, fut in {**waiting, **own}.items():
            try:
                got[p] = fut.result()
            except Gone:
                pass  # the helper process is gone (killed, out of memory): looked through here
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # the sheet's own problem, as if found here
                raise _unreadable(self.path, e) from None
        with common["lock"]:
            for p in [*waiting, *own]:
                common["ahead"].pop(p, None)
            if not common["ahead"] and not common["reads"] and common["helpers"]:
                self._stop_scanning_ahead()
            parts = sorted(wanted - set(common["scans"]))  # another thread may have taken some in
            if not parts:
                return
            by_part = {p: [t for t in self.pkg.tables.values() if t.sheet_part == p] for p in parts}
            scans = {p: got[p] for p in parts if p in got}
            parts = [p for p in parts if p not in scans]  # (the helper gone before it answered)
            try:
                for p in parts:
                    scans[p] = scan.scan_sheet(str(self.path), p, by_part[p])
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                raise _unreadable(self.path, e) from None
            common["scans"].update(scans)
            sst = None

            def text_of(cell) -> str:
                nonlocal sst
                if cell.kind != "s":
                    return cell.text
                if sst is None:
                    sst = scan.shared_strings(str(self.path))
                try:
                    return sst[int(cell.text)]
                except (ValueError, IndexError):
                    return ""

            for part, sc in scans.items():
                for tp in by_part[part]:
                    self._take_in(tp, sc, text_of)
            if any(sc.errors or self._far(part, sc) for part, sc in scans.items()):
                self._clean_copy()

    def _look_through_here(self, own: dict[str, futures.Future]) -> None:
        """Look through these sheet parts (two at once: their inflating overlaps), each one's scan or
        error set on its future; none left unset, whatever happens (another thread may wait for it)."""
        def one(part: str) -> None:
            try:
                own[part].set_result(scan.scan_sheet(str(self.path), part, [
                    t for t in self.pkg.tables.values() if t.sheet_part == part]))
            except BaseException as e:
                own[part].set_exception(e)
        try:
            if len(own) > 1:
                with ThreadPoolExecutor(2, thread_name_prefix="kam-scan") as pool:
                    list(pool.map(one, own))
            else:
                one(next(iter(own)))
        finally:
            for fut in own.values():
                if not fut.done():  # interrupted before it was looked through
                    fut.set_exception(KeyboardInterrupt())

    def look_ahead(self, names: Iterable[str]) -> None:
        """Start the helper process on the sheets after the first of these tables (in the order they
        will be read) before the action's first read — its interpreter's start and its first scans
        overlap the reading of the rule table here; prepare() then tells it what to read after its
        scans.  Nothing when those sheets are small (prepare looks through them here)."""
        names = [n for n in names if n in self.pkg.tables]
        common = self._common
        with common["lock"]:
            if self.__dict__.get("_view") or common.get("awaiting") is not None:
                return
            parts = self._unscanned_parts(names)
            later = parts[1:]  # the first is wanted at once: looked through here
            if later and self._parts_size(later) >= SCAN_AHEAD_BYTES:
                common["awaiting"] = self._start_helper(later, None)

    def _unscanned_parts(self, names: list[str]) -> list[str]:
        """The sheet parts of these tables, in order, neither looked through nor being looked through."""
        common = self._common
        parts = list(dict.fromkeys(self.pkg.tables[n].sheet_part for n in names))
        return [p for p in parts if p not in common["scans"] and p not in common["ahead"]]

    def _start_helper(self, parts: list[str], reads) -> ScanAhead:
        """A helper process looking through these sheet parts (under the lock); `reads` as ScanAhead's."""
        common = self._common
        helper = ScanAhead(str(self.path), [(p, [t for t in self.pkg.tables.values() if t.sheet_part == p])
                                            for p in parts], reads, self.pkg.date1904)
        common["helpers"].append(helper)
        common["ahead"].update(helper.futures)
        return helper

    def _give_reads(self, helper: ScanAhead, readable: list) -> None:
        """The reads of `readable` ((table, its part, headers)) whose sheets the helper looks through,
        given to it (under the lock)."""
        ahead = [(n, tp, headers) for n, tp, headers in readable if tp.sheet_part in helper.parts]
        helper.give_reads([(n, tp, None if headers is None else list(headers)) for n, tp, headers in ahead])
        for n, tp, headers in ahead:
            self._common["reads"][n] = (helper.reads_done[n], tp.ref, headers)

    def prepare(self, names: Iterable[str], views: Iterable[str] = (),
                reads: dict[str, list[str]] | None = None) -> None:
        """Look through the sheets of these tables ahead of reading them, in the order given
        (the order they will be read).  The first is looked through here; when the others are
        big, a second process looks through them, one after the other, while this one reads
        the sheets already looked through: the scan then costs about one sheet's time instead
        of all of theirs (begun already when look_ahead started it).  Otherwise all are looked
        through here, together (two threads, their inflating overlapping).  After its scans the
        second process also reads, from the XML, what this one would read with the column
        reader: `views` (the visits table when the action asks only for the last-visit view of
        it: view_ahead takes it) and `reads` (table → the few columns an action reads of it:
        the read takes them)."""
        names = [n for n in names if n in self.pkg.tables]
        if not names:
            return
        common = self._common
        wanted = [(n, None) for n in views if n == L.VISITS.name] + list((reads or {}).items())
        readable = []
        for n, headers in wanted:
            tp = self.pkg.tables.get(n)
            cols = len(visits_view.KEYS) if headers is None else len(engine.columns_of(tp, headers)[1]) if tp else 0
            if tp is not None and cols and self._column_source().suits(tp.sheet_part, cols):
                readable.append((n, tp, None if headers is None else tuple(headers)))
        with common["lock"]:
            begun = common.pop("awaiting", None)
            if begun is not None:
                self._give_reads(begun, readable)
            parts = self._unscanned_parts(names)
            later = parts[1:]  # the first is wanted at once: looked through here, meanwhile
            if later and self._parts_size(later) >= SCAN_AHEAD_BYTES and not self.__dict__.get("_view"):
                self._give_reads(self._start_helper(later, None), readable)
                names = [n for n in names if self.pkg.tables[n].sheet_part == parts[0]]
            else:  # (the sheets a helper looks through are not waited for here)
                names = [n for n in names if self.pkg.tables[n].sheet_part not in common["ahead"]]
        self._scan(names)

    def view_ahead(self, name: str) -> tuple[Table, dict] | None:
        """The last-visit view of the visits table read by the helper process (prepare), with the
        table's shape, when it made one and it stands (_read_ahead); None otherwise (the caller
        reads it)."""
        got = self._read_ahead(name, None)
        if got is None:
            return None
        n, is_exact, found = got
        shape = self._shapes[name] = engine.shape_of(self.pkg.tables[name], n, is_exact)
        return shape, found

    def _read_ahead(self, name: str, headers: tuple[str, ...] | None):
        """What the helper process read of this table (prepare) — when it read these columns (None:
        the last-visit view) and what it read stands for what this store would read: the sheet
        looked through here finds no rows to take into the table, no error cells or formulas
        without a value on it, nothing far beyond it.  None otherwise (read here, as before)."""
        common = self._common
        with common["lock"]:
            fut, ref, asked = common["reads"].get(name, (None, None, None))
        if fut is None or asked != headers:
            return None
        try:  # the helper keeps running while the read is wanted (a finished scan does not stop it)
            self._scan([name], far=False)  # as the read would: the sheet's own refusal comes from here
            tp = self.pkg.tables[name]
            sc = common["scans"].get(tp.sheet_part)
            if tp.ref != ref or tp.file_ref or common["cells"].get(name) or sc is None or sc.errors \
                    or self._far(tp.sheet_part, sc):
                return None
            try:
                return fut.result()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # the helper stopped, or met what it cannot read: read here
                return None
        finally:
            with common["lock"]:
                common["reads"].pop(name, None)
                if not common["ahead"] and not common["reads"] and common["helpers"]:
                    self._stop_scanning_ahead()

    def __exit__(self, *exc) -> None:
        try:
            super().__exit__(*exc)  # a read still under way (the visits view) finishes first
        finally:
            if not self.__dict__.get("_view"):
                self._stop_loading_ahead()
                with self._common["lock"]:  # sheets looked through ahead and never read: the helper stops
                    self._stop_scanning_ahead()

    def _parts_size(self, parts: list[str]) -> int:
        try:
            with zipfile.ZipFile(self.path) as z:
                return sum(z.getinfo(p).file_size for p in parts)
        except (KeyError, OSError, zipfile.BadZipFile):
            return 0  # looked through here, where a damaged part is refused clearly

    def _stop_scanning_ahead(self) -> None:
        common = self._common
        for helper in common["helpers"]:
            helper.stop()
        common["helpers"].clear()
        common["ahead"].clear()
        common["reads"].clear()
        common.pop("awaiting", None)

    def _take_in(self, tp, sc, text_of) -> None:
        tdef = L.TABLES.get(tp.name)
        computed = {c.header for c in tdef.columns if c.formula} if tdef else set()
        below = scan.classify_below(tp, sc, computed, text_of)
        self._common["below"][tp.name] = below
        c1, r1, c2, r2 = tp.bounds
        if below.absorb:
            tp.file_ref = tp.file_ref or tp.ref
            tp.ref = make_ref(c1, r1, c2, below.absorb[-1])
            a, b = below.absorb[0], below.absorb[-1]
            rows = f"第 {a} 行" if a == b else f"第 {a}–{b} 行"
            self.notices.append(Notice(
                "TABLE-ROWS-TAKEN-IN", tp.sheet, a, None,
                f"{rows}直接录入在表格 {tp.name} 下方，看起来是表格的数据，已纳入表格（写入时表格范围随之扩大）",
                table=tp.name))
        for rn in below.strays:
            self.notices.append(Notice(
                "TABLE-ROWS-OUTSIDE", tp.sheet, rn, None,
                f"第 {rn} 行在表格 {tp.name} 之外（与表格之间有空行或汇总行），未被读入：若是数据，"
                f"请把它移到表格最后一行的紧下方或用“调整表格大小”纳入表格", table=tp.name))
        cells: dict[tuple[int, int], object] = {}
        body = range(r1 + 1, tp.data_end + 1)
        for (row, col), code in sc.errors.items():
            if row in body and c1 <= col <= c2:
                cells[(row, col)] = CellError(code)
        for row, col in sc.uncached:
            if row in body and c1 <= col <= c2 and tp.columns[col - c1] not in computed:
                cells[(row, col)] = CellError(CellError.NO_VALUE)
        if cells:
            self._common["cells"][tp.name] = cells

    def _clean_copy(self) -> None:
        """A copy of the book with its error cells emptied, for a reader that stops at some
        error values (#SPILL!, #CALC! …); the values come back from the scan."""
        replaced = {}
        with zipfile.ZipFile(self.path) as z:
            for part, sc in self._common["scans"].items():
                far = self._far(part, sc)
                if sc.errors or far:
                    xml = z.read(part)
                    if sc.errors:
                        xml = scan.blank_errors(xml, sc.error_spans)
                    if far:  # a note at XFD1048576 would make the reader allocate the whole grid
                        xml = scan.trim_sheet(xml, *far)
                    replaced[part] = xml
        clean = _PrivateCopy()
        engine.write_package(str(self.path), clean.name, replaced)
        # an older copy stays until the store and its views are gone: another thread's reader
        # may still be reading it (its name, /proc/self/fd/N, must not come to mean another file)
        self._common["copies"].items.append(clean)
        self._common["clean"] = clean
        self._reader = None

    def _far(self, part: str, sc) -> tuple[int, int] | None:
        """(last row, last column) the reader needs on this sheet, when cells lie so far
        beyond the tables (a stray note at XFD1048576) that reading the sheet's whole grid
        would cost gigabytes; None when the sheet is fine as it is."""
        tps = [t for t in self.pkg.tables.values() if t.sheet_part == part]
        if not tps:
            return None
        last_row = max(t.bounds[3] for t in tps)
        last_col = max(t.bounds[2] for t in tps)
        if not sc.max_col and sc.max_row <= last_row * 2 + scan.FAR_ROWS:
            return None
        return last_row, last_col

    def taken_in(self) -> dict[str, list[int]]:
        """Excel rows typed directly under each table and taken into it by this read."""
        return {n: list(b.absorb) for n, b in self._common["below"].items() if b.absorb}

    # -- reading ------------------------------------------------------------
    def require(self, names: Iterable[str], columns: dict[str, list[str]] | None = None) -> None:
        missing = [n for n in names if n not in self.pkg.tables]
        if missing:
            raise NotAMasterWorkbook(self.path, "缺少表格 " + "、".join(missing),
                                     "missing tables " + ", ".join(missing))
        for n in names:
            tp = self.pkg.tables[n]
            if tp.header_rows == 0:
                raise TableLayoutUnsupported(
                    self.path, f"工作表“{tp.sheet}”的表格 {n} 关闭了标题行，请在“表设计”中勾选“标题行”后再运行",
                    f"table {n} on sheet '{tp.sheet}' has its header row switched off; switch it on")
            tdef = L.TABLES.get(n)
            wanted = (columns or {}).get(n)
            need = [h for h in (wanted if wanted is not None else (tdef.required_headers if tdef else []))
                    if h not in tp.columns]
            if need:
                raise TableLayoutUnsupported(
                    self.path, f"工作表“{tp.sheet}”的表格 {n} 缺少列：{'、'.join(need)}"
                    f"（标题可能被改名；现有标题：{'、'.join(tp.typed_columns or tp.columns)}），请恢复这些列标题",
                    f"table {n} on sheet '{tp.sheet}' lacks the columns {', '.join(need)}")

    def read(self, names: Iterable[str],
             columns: dict[str, Iterable[str]] | None = None, exact: Iterable[str] = ()) -> dict[str, Table]:
        names = list(names)
        columns = {n: list(c) for n, c in (columns or {}).items() if n in names}
        self.require(names, columns)
        got = self._read(names, columns, exact=exact)
        for n, t in got.items():
            self._shapes[n] = t.shape()
        if L.SETTINGS.name in got and self._backups_keep is None:
            self._backups_keep = _backups_setting(got[L.SETTINGS.name])  # no second read at write time
        return got

    def _read(self, names: list[str], columns: dict[str, list[str]] | None, sinks=None,
              exact: Iterable[str] = ()) -> dict[str, Table]:
        self._scan(names)
        loaded, ready, exact = {}, {}, set(exact)
        for n in names:
            cols = (columns or {}).get(n)
            got = self._read_ahead(n, tuple(cols)) if cols is not None and n not in exact else None
            if got is not None:
                ready[n] = got
                continue
            got = self._loaded_ahead(n, cols, n in exact)
            if got is not None:
                loaded[n] = got
        try:
            return engine.read_tables(str(self.path), names, self.pkg, columns, sinks,
                                      reader=self._fast_reader(), exact=exact, cells=self._common["cells"],
                                      source=self._column_source(), loaded=loaded, ready=ready)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # the reader's own errors, even a native panic, for damaged parts
            raise _unreadable(self.path, e) from None

    # -- loading ahead ----------------------------------------------------------
    def load_ahead(self, name: str, columns: Iterable[str] | None = None, exact: bool = False) -> None:
        """Start loading a table's cells on a second thread (fastexcel lets go of the GIL)
        while this one types the table read before it.  The read of that table takes the
        result only when it was loaded from the file, the table (rows typed below it taken in
        or not) and the columns it would load now; else, and on any error there, it loads
        them itself (a refusal comes from that read, as without loading ahead)."""
        if self.__dict__.get("_view") or name not in self.pkg.tables or not hasattr(self, "concurrent"):
            return  # (a store that cannot read on two threads reads each table when it is read)
        cols = None if columns is None else tuple(columns)
        common = self._common
        with common["lock"]:
            if common.get("loader") is None:
                common["loader"] = (ThreadPoolExecutor(1, thread_name_prefix="kam-ahead"), self.concurrent())
            pool, view = common["loader"]
            ahead = common.setdefault("loaded_ahead", {})

        def work():
            view._scan([name])  # rows typed below it taken in, error cells found: as the read will
            tp = view.pkg.tables[name]
            reader = view._fast_reader()  # its own: it loads while this store's reads the customers
            got = engine.load_arrow(reader, tp, cols, exact, view._column_source())
            return None if got is None else (tp, reader.path, got)
        ahead[(name, cols, exact)] = pool.submit(work)

    def _reading_path(self) -> str:
        clean = self._common["clean"]
        return clean.name if clean else str(self.path)

    def _loaded_ahead(self, name: str, columns, exact: bool):
        fut = self._common.get("loaded_ahead", {}).pop((name, None if columns is None else tuple(columns), exact),
                                                      None)
        if fut is None:
            return None
        try:
            got = fut.result()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # read again here: a refusal, if any, comes from that read
            return None
        if got is None:
            return None
        tp, path, result = got
        if tp is not self.pkg.tables.get(name) or path != self._reading_path():
            return None
        return result

    def parallel(self, fn):
        """fn computed in a second process beside the action (workbook/parallel.py): the
        threads that loaded ahead (every load taken by now) are let go first, and a view
        still being read is waited for (the fork has no thread to finish it)."""
        self._stop_loading_ahead()
        futures.wait(list(self.pending_reads))
        return forked(fn)

    def fork_beside(self, fn):
        """fn computed in a second process while this one goes on loading (Needs.beside): a fork
        of the records loaded so far; the thread loading the next table goes on here (the fork
        takes nothing of it).  None where no fork can be had (the action computes fn itself)."""
        return forked(fn) if CAN_FORK else None

    def _stop_loading_ahead(self) -> None:
        """Wait for a load still under way (the file is not replaced while it is read)."""
        common = self._common
        with common["lock"]:
            loader = common.pop("loader", None)
            common.pop("loaded_ahead", None)
        if loader is not None:
            pool, view = loader
            pool.shutdown(wait=True, cancel_futures=True)
            view._reader = None

    def headers(self, name: str) -> list[str]:
        self.require([name], {name: []})
        return [str(h) for h in self.pkg.tables[name].columns]

    def has_table(self, name: str) -> bool:
        return name in self.pkg.tables

    def formulas(self, name: str) -> dict[str, str | None]:
        self.require([name], {name: []})
        return dict(self.pkg.tables[name].calculated or {})

    def read_stream(self, name: str, sink, columns: Iterable[str] | None = None, exact: bool = False) -> Table:
        """Hand a big table's columns to sink(columns, first row index); returns its
        shape.  Only the asked-for columns become Python values.  exact: find where the
        data ends from every user-entered column (rows will be appended)."""
        cols = {name: list(columns)} if columns is not None else None
        self.require([name], cols)
        got = self._read([name], cols, {name: sink}, exact=[name] if exact else ())
        self._shapes[name] = got[name]
        return got[name]

    def _shapes_for(self, names: Iterable[str], appended: Iterable[str] = ()) -> dict[str, Table]:
        """Where each table's data ends, for planning a write: from the read the action
        made, else from a one-column read.  A table that gets rows appended needs its
        exact end: every user-entered column is looked at unless the action read them all."""
        appended = set(appended)
        todo = [n for n in names if n not in self._shapes or (n in appended and not self._shapes[n].exact)]
        if todo:
            got = self._read(todo, {n: [str(self.pkg.tables[n].columns[0])] for n in todo},
                             exact=[n for n in todo if n in appended])
            for n, t in got.items():
                self._shapes[n] = t.shape()
        return {n: self._shapes[n] for n in names}

    # -- writing ------------------------------------------------------------
    def check_writable(self) -> None:
        refuse_if_open_in_excel(self.path)
        if self.link is not None:
            refuse_if_open_in_excel(self.link)
        if not self.path.exists() or fingerprint(self.path) != self._fp:
            raise WorkbookChanged(self.path)
        refuse_if_read_only(self.path)

    def write(self, changes: Changes) -> Path | None:
        """Apply changes in one atomic commit.  Returns the backup path.

        Only the cells the action owns change: a table grows only into empty rows (its
        totals row moves down with it); anything else in the way refuses the write."""
        taken_in = {n: tp for n, tp in self.pkg.tables.items() if tp.file_ref and tp.file_ref != tp.ref}
        self.settle_reads()
        self._stop_loading_ahead()
        if changes.empty and not taken_in:
            return None
        self.release_before_write()
        self.check_writable()
        _ = self.backups_keep  # read the setting before the commit step
        names = changes.tables()
        shapes = self._shapes_for(names, [n for n, rows in changes.appends.items() if rows])
        self._reader = None  # the reader's parsed sheets and strings are let go: the write needs the room
        self._common.pop("source", None)
        plan = engine.plan(self.pkg, changes, shapes,
                           {part: sc.max_si + 1 for part, sc in self._common["scans"].items()})
        self._refuse_overwrites(plan)
        for n, tp in taken_in.items():
            plan.refs.setdefault(tp.part, (tp.ref, tp.totals_rows))
        if changes.status and L.SHEET_HOME in self.pkg.sheets:
            part, edit = engine.status_edit(self.pkg, changes.status)
            for r, cells in edit.items():
                plan.edits.setdefault(part, {}).setdefault(r, {}).update(cells)
        typed = {}  # sheet part → [(rows typed under a table, its template row, c1, c2)]
        for n, tp in taken_in.items():
            absorb = self._common["below"].get(n)
            if absorb is None or not absorb.absorb:
                continue
            c1, r1, c2, _ = tp.bounds
            template = r1 + 1 if r1 + 1 < absorb.absorb[0] else None
            typed.setdefault(tp.sheet_part, []).append((absorb.absorb, template, c1, c2))
            plan.edits.setdefault(tp.sheet_part, {})
        begun: list = []  # a part patched in a second process (taken by the zip writer, else stopped)
        try:
            try:
                replaced = self._parts(plan, typed, begun)
            except KamError:
                raise
            except Exception as e:  # a damaged part: refuse before anything is written
                raise _unreadable(self.path, e) from None
            self._commit(replaced)
        finally:
            for pending in begun:
                pending.cancel()  # a part not taken (an error on the way) is stopped; one taken has nothing left
        return self.last_backup

    def _parts(self, plan, typed: dict, begun: list) -> dict[str, object]:
        """The new contents of every part the write changes (bytes, pieces, or pieces made as the
        new book is written); a part patched in a second process is added to `begun`."""
        replaced: dict[str, object] = {}
        jobs: list[tuple[str, bytes, dict, object]] = []  # (part, its XML, rows, last cell): patched below
        with zipfile.ZipFile(self.path) as z:
            for part, rows in plan.edits.items():
                if not rows and part not in typed:
                    continue
                moves = plan.moves.get(part, [])
                sc = self._common["scans"].get(part)
                # a shared formula's master about to be overwritten or moved (unknown: not scanned)
                hit = sc is None or _masters_touched(sc.masters, rows, moves)
                if (part not in typed and not moves and sc is not None and not hit
                        and z.getinfo(part).file_size >= STREAM_PART):
                    # cells changed and rows appended in place: the sheet is patched as it is
                    # read, while the new book is written, never held whole
                    replaced[part] = self._patched(part, rows, self._last_cell(part, plan.refs))
                    continue
                xml = z.read(part)
                for absorbed, template, c1, c2 in typed.get(part, ()):
                    engine.restyle_rows(xml, rows, absorbed, template, c1, c2)
                if hit:  # a shared formula's text is about to go
                    xml = engine.expand_shared(xml, _cells_touched(rows, moves))
                for r, cells in engine.moved_cells(xml, moves).items():
                    mine = rows.setdefault(r, {})
                    for c, v in cells.items():  # a value written there wins; a clearing does not
                        if mine.get(c, engine.DELETE) is engine.DELETE:
                            mine[c] = v
                jobs.append((part, xml, rows, self._last_cell(part, plan.refs)))
            date1904 = self.pkg.date1904
            beside = _patched_beside(jobs, streamed=len(replaced))
            for part, xml, rows, last in jobs:
                if part == beside:
                    pending = forked(functools.partial(_patch_to_hand_over, xml, rows, last, date1904))
                    begun.append(pending)
                    replaced[part] = _when_written(pending)
                else:
                    replaced[part] = engine.patch_sheet_chunks(xml, rows, last, date1904)
            jobs.clear()  # (the XML of the parts made here is let go)
            by_part = {tp.part: tp for tp in self.pkg.tables.values()}
            for part in set(plan.refs) | set(plan.calculated):
                xml = z.read(part)
                if part in plan.calculated:
                    xml = engine.patch_calculated(xml, plan.calculated[part], by_part[part].columns)
                if part in plan.refs:
                    xml = engine.patch_table_ref(xml, *plan.refs[part])
                replaced[part] = xml
            if self.pkg.calc_chain and self.pkg.calc_chain in z.namelist() and any(plan.edits.values()):
                replaced.update(engine.without_calc_chain(z, self.pkg.calc_chain))
        return replaced

    def _patched(self, part: str, rows: dict[int, dict[int, object]], last):
        """The sheet part with these rows patched, as pieces handed to the zip writer while
        the old part is inflated (engine.patch_sheet_stream)."""
        path, date1904 = self.path, self.pkg.date1904

        def pieces():
            try:
                yield from engine.patch_sheet_stream(deflate.Reader(path, part).read, rows, last, date1904)
            except KamError:
                raise
            except Exception as e:  # a damaged part: the new book is not kept
                raise _unreadable(path, e) from None
        return pieces()

    def _refuse_overwrites(self, plan) -> None:
        """Refuse when a growing table would cover a cell that holds something."""
        for name, (rows, c1, c2) in plan.grows.items():
            tp = self.pkg.tables[name]
            sc = self._common["scans"].get(tp.sheet_part)
            if sc is None:
                self._scan([name])
                sc = self._common["scans"][tp.sheet_part]
            hit = {r: sorted(c for c in sc.tail.get(r, {}) if c1 <= c <= c2) for r in rows}
            hit = {r: cs for r, cs in hit.items() if cs}
            if not hit:
                continue
            first = min(hit)
            cells = "、".join(f"{col_letter(c)}{r}" for r in sorted(hit)[:3] for c in hit[r][:4])
            rows_zh = f"第 {first} 行" if len(hit) == 1 else f"第 {first}–{max(hit)} 行"
            raise ContentInTheWay(
                self.path,
                f"工作表“{tp.sheet}”表格 {name} 需要向下扩展，但{rows_zh}已有内容（{cells}）。"
                f"请把{rows_zh}的内容移走，或者把它们纳入表格（移到表格右侧或另一张工作表；或在“表设计”→"
                f"“调整表格大小”中纳入），然后再运行",
                f"sheet '{tp.sheet}': table {name} must grow into "
                f"{'row ' + str(first) if len(hit) == 1 else f'rows {first}-{max(hit)}'}, which hold "
                f"content ({cells}); move it away or take it into the table")

    def _last_cell(self, sheet_part: str, new_refs: dict[str, tuple[str, int]]):
        refs = [new_refs.get(t.part, (t.ref, 0))[0] for t in self.pkg.tables.values() if t.sheet_part == sheet_part]
        if not refs:
            return None
        b = [parse_ref(r) for r in refs]
        return max(x[3] for x in b), max(x[2] for x in b)

    def _commit(self, replaced: dict[str, object]) -> None:
        folder = self.path.parent
        self._remove_stale_temps()
        self.close()  # no handle of ours may stay open on the file being replaced
        try:
            st = self.path.stat()
            fd, tmp = tempfile.mkstemp(prefix=self._temp_prefix(), suffix=".tmp", dir=folder)
        except PermissionError as e:
            raise WorkbookReadOnly(self.path, f"文件夹“{folder}”不可写", str(e)[:200]) from None
        except OSError as e:
            raise WriteFailed(self.path, e.strerror or str(e)[:200], str(e)[:200]) from None
        os.close(fd)
        try:
            engine.write_package(str(self.path), tmp, replaced)
            _keep_identity(tmp, st)
            with commit_lock(self.path):
                self.check_writable()  # under the lock: no other writer can swap the book in between
                self.last_backup = self._backup()
                _swap(tmp, self.path)
                _fsync_dir(folder)
        except BaseException as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(e, KamError):
                raise
            if isinstance(e, PermissionError):
                raise WorkbookReadOnly(self.path, e.strerror or "", str(e)[:200]) from None
            if isinstance(e, (OSError, OverflowError)):
                raise WriteFailed(self.path, getattr(e, "strerror", None) or str(e)[:200], str(e)[:200]) from None
            raise
        # the file on disk is now ours; later writes compare against it
        with zipfile.ZipFile(self.path) as z:
            self.pkg = read_package(z)
        self._fp = fingerprint(self.path)
        self._shapes.clear()
        self._common.update(scans={}, below={}, cells={})

    last_backup: Path | None = None

    def _temp_prefix(self) -> str:
        return f".~kam_{self.path.name}."

    def _remove_stale_temps(self, older_than_s: float = 600) -> None:
        """A write killed half-way leaves its temp file (never the book); tidy those up."""
        for p in self.path.parent.glob(self._temp_prefix() + "*.tmp"):
            try:
                if time.time() - p.stat().st_mtime > older_than_s:
                    p.unlink()
            except OSError:
                pass

    @property
    def backups_keep(self) -> int:
        if self._backups_keep is None:
            try:
                self._backups_keep = _backups_setting(self.read([L.SETTINGS.name])[L.SETTINGS.name])
            except KamError:  # no Settings table: not a master book
                self._backups_keep = 10
        return self._backups_keep

    def _backup(self) -> Path | None:
        return backup(self.path, self.backups_keep)


class _SharedReader:
    """A fastexcel reader used by two threads in turn (the one reading and typing, and the
    one loading the next table ahead): one sheet loaded at a time.  Opened when a sheet is
    first loaded through it: a read that takes its columns from the XML (a few columns of a
    big sheet, the visits view on its own thread) never parses the shared strings into one."""
    __slots__ = ("reader", "path", "lock")

    def __init__(self, path: str):
        self.reader, self.path, self.lock = None, path, threading.Lock()

    def load_sheet(self, *args, **kwargs):
        with self.lock:
            if self.reader is None:
                self.reader = engine.open_reader(self.path)
            return self.reader.load_sheet(*args, **kwargs)


# a sheet part with at least this many rows to patch is made in a second process while this one
# makes the other parts of the write (the import's log of 100,000 rows beside its customers)
BESIDE_ROWS = 2000


def _patched_beside(jobs: list, streamed: int) -> str | None:
    """The part whose patch is made in a second process: the one with the most rows, when it has
    BESIDE_ROWS of them and this process has another part to make meanwhile (patched here or
    streamed into the new book); None otherwise, or where no fork can be had."""
    if not CAN_FORK or len(jobs) + streamed < 2:
        return None
    part, _, rows, _ = max(jobs, key=lambda j: len(j[2]), default=(None, None, {}, None))
    return part if len(rows) >= BESIDE_ROWS else None


def _patch_to_hand_over(xml: bytes, rows: dict, last, date1904: bool) -> list[bytes]:
    """engine.patch_sheet_chunks as bytes that pickle (its untouched stretches are views of the XML)."""
    return [bytes(c) if isinstance(c, memoryview) else c for c in engine.patch_sheet_chunks(xml, rows, last, date1904)]


def _when_written(pending):
    """The pieces of a part made in a second process, asked for when the zip writer reaches the
    part (the parts before it are written meanwhile); made here where the process gives none."""
    yield from pending.result()


def _masters_touched(masters: set[tuple[int, int]], rows: dict[int, dict[int, object]], moves: list) -> bool:
    """Whether a write overwrites or moves a shared formula's master cell: looked up among the
    few masters, not by a set of every cell written (3 million for 100,000 imported rows)."""
    return any(c in rows.get(r, ()) or any(frm == r and c1 <= c <= c2 for frm, _, c1, c2 in moves)
               for r, c in masters)


def _cells_touched(rows: dict[int, dict[int, object]], moves: list) -> set[tuple[int, int]]:
    """Every cell a write overwrites, deletes or moves away."""
    return {(r, c) for r, cells in rows.items() for c in cells} | \
        {(frm, c) for frm, _, c1, c2 in moves for c in range(c1, c2 + 1)}


def _swap(tmp: str, path: Path) -> None:
    """The commit's one visible step (a test pauses here to race two writers)."""
    os.replace(tmp, path)


class _Copies:
    """The cleaned copies a store and its views made, closed when the last of them is gone."""
    __slots__ = ("items", "__weakref__")

    def __init__(self):
        self.items: list[_PrivateCopy] = []
        weakref.finalize(self, _close_all, self.items)


def _close_all(copies: list) -> None:
    for c in copies:
        c.close()


class _PrivateCopy:
    """A temporary file no one else sees and nothing leaves behind, even after kill -9:
    an unnamed file (O_TMPFILE) or one unlinked at once, used through /proc/self/fd.
    Where /proc is missing, a named temp file removed on close."""

    def __init__(self):
        self.fd = None
        tmpdir = tempfile.gettempdir()
        if os.path.isdir("/proc/self/fd"):
            try:
                self.fd = os.open(tmpdir, getattr(os, "O_TMPFILE", 0) | os.O_RDWR, 0o600) \
                    if hasattr(os, "O_TMPFILE") else None
            except OSError:
                self.fd = None
            if self.fd is None:
                fd, name = tempfile.mkstemp(prefix="kam_read_", suffix=".xlsx")
                os.unlink(name)
                self.fd = fd
            self.name = f"/proc/self/fd/{self.fd}"
        else:
            fd, self.name = tempfile.mkstemp(prefix="kam_read_", suffix=".xlsx")
            os.close(fd)

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        elif self.name:
            _remove(self.name)
        self.name = ""


def _backups_setting(settings_table: Table) -> int:
    return max(0, read_settings(settings_table.records())[0].backups_keep)


def backup_name(path: Path) -> re.Pattern:
    """This book's backups, and only this book's: 大客户管理_演示.xlsm's backups are not
    大客户管理.xlsm's (both start with 大客户管理_)."""
    return re.compile(re.escape(path.stem) + r"_\d{8}-\d{6}-\d{6}" + re.escape(path.suffix) + "$")


def backup(path: Path, keep: int = 10) -> Path | None:
    """Keep the current file as 备份/<stem>_<timestamp><suffix>, rotating this book's
    backups to `keep` copies.  A 备份 that cannot take the copy refuses the write."""
    if keep <= 0:
        return None
    bdir = path.parent / BACKUP_DIR
    try:
        if bdir.exists() and not bdir.is_dir():
            raise BackupFailed(path, f"“{bdir}”是一个文件，不是文件夹：请把它改名或移走，程序要在这里保存备份",
                               f"'{bdir}' is a file, not a folder; rename or move it")
        bdir.mkdir(exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        dest = bdir / f"{path.stem}_{stamp}{path.suffix}"
        try:
            os.link(path, dest)  # the old file becomes the backup, no copy
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not os.access(bdir, os.W_OK):
                raise
            shutil.copy2(path, dest)
    except KamError:
        raise
    except OSError as e:
        raise BackupFailed(path, f"无法在备份文件夹“{bdir}”保存备份（{e.strerror or e}）：请检查该文件夹是否可写、磁盘是否已满",
                           f"cannot keep a backup in '{bdir}': {e.strerror or e}") from None
    mine = backup_name(path)
    backups = sorted(p for p in bdir.iterdir() if mine.match(p.name))
    for old in backups[:-keep]:
        try:
            old.unlink()
        except OSError:
            pass
    return dest


def refuse_if_open_in_excel(path: Path) -> None:
    """Excel, WPS and LibreOffice each leave a lock file next to a book they have open."""
    for lock in _lock_candidates(path):
        if lock.exists():
            raise WorkbookLocked(path, f"锁定文件 {lock.name}", f"lock file {lock.name}")


def refuse_if_read_only(path: Path) -> None:
    """A book marked read-only (no write bit: chmod 444, or Windows' read-only attribute)
    is not replaced, even by a user who could replace it (root, the folder's owner)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise WorkbookReadOnly(path, "文件是只读的", "the file is read-only")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WorkbookReadOnly(path, f"文件夹“{folder}”不可写", f"folder '{folder}' is not writable")


def _keep_identity(tmp: str, st: os.stat_result) -> None:
    """The new file gets the old one's permissions and, where allowed, its group
    (mkstemp makes 0600 files: colleagues on a shared folder would lose access)."""
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if hasattr(os, "chown"):
        try:
            os.chown(tmp, -1, st.st_gid)
        except OSError:
            pass


def _remove(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
