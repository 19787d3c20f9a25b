"""FileStore: the table-level interface over a closed workbook file.

Reads with the fast engine; writes in one commit step — refuse when Excel has
the book open (~$ owner file) or the file changed since it was read, write a
temp file in the same folder, fsync, keep a timestamped backup, rename.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

from .. import layout as L
from ..errors import (KamError, NotAMasterWorkbook, WorkbookChanged, WorkbookLocked, WorkbookNotFound,
                      WorkbookUnreadable, WriteFailed)
from . import engine
from .package import Package, read_package
from .tables import Changes, Table

BACKUP_DIR = "备份"


def owner_file(path: Path) -> Path:
    """Excel's lock file: ~$ + the name (Excel drops the first 2 chars of long names)."""
    return path.with_name("~$" + path.name)


def _lock_candidates(path: Path) -> list[Path]:
    names = {"~$" + path.name}
    if len(path.name) > 2:
        names.add("~$" + path.name[2:])
    return [path.with_name(n) for n in names]


def fingerprint(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


class FileStore:
    def __init__(self, path: str | os.PathLike, backups_keep: int | None = None):
        """backups_keep: how many timestamped backups to keep; None reads 备份保留份数
        from the workbook's Settings table (default 10)."""
        self.path = Path(path)
        self._backups_keep = backups_keep
        if not self.path.is_file():
            raise WorkbookNotFound(self.path, "文件不存在", "no such file")
        try:
            with zipfile.ZipFile(self.path) as z:
                self.pkg: Package = read_package(z)
        except Exception as e:  # BadZipFile, zlib.error, KeyError, damaged XML …
            raise WorkbookUnreadable(self.path, type(e).__name__, str(e)[:200]) from None
        self._fp = fingerprint(self.path)
        self._shapes: dict[str, Table] = {}
        self._reader = None  # one fastexcel reader per store: the shared strings are read once

    concurrent_reads = True  # the service layer may read one table on a second thread

    def concurrent(self) -> "FileStore":
        """A view of this store for another thread: its own reader (a reader is not
        shared between threads), the same package, shapes and change detection."""
        other = object.__new__(FileStore)
        other.__dict__.update(self.__dict__)
        other._reader = None
        return other

    def _fast_reader(self):
        if self._reader is None:
            self._reader = engine.open_reader(str(self.path))
        return self._reader

    def close(self) -> None:
        """Let go of the reader (and its file handle) before the book is replaced."""
        self._reader = None

    # -- reading ------------------------------------------------------------
    def require(self, names: Iterable[str]) -> None:
        missing = [n for n in names if n not in self.pkg.tables]
        if missing:
            raise NotAMasterWorkbook(self.path, "缺少表格 " + "、".join(missing),
                                     "missing tables " + ", ".join(missing))

    def read(self, names: Iterable[str],
             columns: dict[str, Iterable[str]] | None = None) -> dict[str, Table]:
        names = list(names)
        self.require(names)
        columns = {n: list(c) for n, c in (columns or {}).items() if n in names}
        got = self._read(names, columns)
        for n, t in got.items():
            self._shapes[n] = t.shape()
        if L.SETTINGS.name in got and self._backups_keep is None:
            self._backups_keep = _backups_setting(got[L.SETTINGS.name])  # no second read at write time
        return got

    def _read(self, names: list[str], columns: dict[str, list[str]] | None, sinks=None,
              exact: Iterable[str] = ()) -> dict[str, Table]:
        try:
            return engine.read_tables(str(self.path), names, self.pkg, columns, sinks,
                                      reader=self._fast_reader(), exact=exact)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # the reader's own errors, even a native panic, for damaged parts
            raise WorkbookUnreadable(self.path, type(e).__name__, str(e)[:200]) from None

    def headers(self, name: str) -> list[str]:
        self.require([name])
        return [str(h) for h in self.pkg.tables[name].columns]

    def read_stream(self, name: str, sink, columns: Iterable[str] | None = None) -> Table:
        """Hand a big table's columns to sink(columns, first row index); returns its
        shape.  Only the asked-for columns become Python values."""
        self.require([name])
        got = self._read([name], {name: list(columns)} if columns is not None else None, {name: sink})
        self._shapes[name] = got[name]
        return got[name]

    def read_arrow(self, name: str, columns: Iterable[str]):
        """Some columns of a table as an Arrow record batch (for summaries that need no
        Python value per cell)."""
        self.require([name])
        try:
            return engine.read_arrow(str(self.path), name, self.pkg, columns, reader=self._fast_reader())
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:
            raise WorkbookUnreadable(self.path, type(e).__name__, str(e)[:200]) from None

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
        if not self.path.exists() or fingerprint(self.path) != self._fp:
            raise WorkbookChanged(self.path)

    def write(self, changes: Changes) -> Path | None:
        """Apply changes in one atomic commit.  Returns the backup path."""
        if changes.empty:
            return None
        self.check_writable()
        _ = self.backups_keep  # read the setting before the commit step
        names = set(changes.updates) | set(changes.appends) | set(changes.replaces)
        shapes = self._shapes_for(names, [n for n, rows in changes.appends.items() if rows])
        sheet_edits, new_refs = engine.plan(self.pkg, changes, shapes)
        if changes.status and L.SHEET_HOME in self.pkg.sheets:
            part, edit = engine.status_edit(self.pkg, changes.status)
            for r, cells in edit.items():
                sheet_edits.setdefault(part, {}).setdefault(r, {}).update(cells)
        replaced: dict[str, bytes] = {}
        try:
            with zipfile.ZipFile(self.path) as z:
                for part, rows in sheet_edits.items():
                    last = self._last_cell(part, new_refs)
                    replaced[part] = engine.patch_sheet_chunks(z.read(part), rows, last)
                for part, ref in new_refs.items():
                    replaced[part] = engine.patch_table_ref(z.read(part), ref)
        except Exception as e:  # a damaged part: refuse before anything is written
            raise WorkbookUnreadable(self.path, type(e).__name__, str(e)[:200]) from None
        self._commit(replaced)
        return self.last_backup

    def _last_cell(self, sheet_part: str, new_refs: dict[str, str]):
        from .package import parse_ref
        refs = [new_refs.get(t.part, t.ref) for t in self.pkg.tables.values() if t.sheet_part == sheet_part]
        if not refs:
            return None
        b = [parse_ref(r) for r in refs]
        return max(x[3] for x in b), max(x[2] for x in b)

    def _commit(self, replaced: dict[str, bytes]) -> None:
        folder = self.path.parent
        self._remove_stale_temps()
        self.close()  # no handle of ours may stay open on the file being replaced
        fd, tmp = tempfile.mkstemp(prefix=self._temp_prefix(), suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            engine.write_package(str(self.path), tmp, replaced)
            self.check_writable()  # last look just before the swap
            self.last_backup = self._backup()
            os.replace(tmp, self.path)
            _fsync_dir(folder)
        except BaseException as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(e, (WorkbookChanged, WorkbookLocked)):
                raise
            if isinstance(e, (OSError, OverflowError)):
                raise WriteFailed(self.path, str(e)[:200], str(e)[:200]) from None
            raise
        # the file on disk is now ours; later writes compare against it
        with zipfile.ZipFile(self.path) as z:
            self.pkg = read_package(z)
        self._fp = fingerprint(self.path)
        self._shapes.clear()

    last_backup: Path | None = None

    def _temp_prefix(self) -> str:
        return f".~kam_{self.path.name}."

    def _remove_stale_temps(self, older_than_s: float = 600) -> None:
        """A write killed half-way leaves its temp file (never the book); tidy those up."""
        import time
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


def _backups_setting(settings_table: Table) -> int:
    from ..domain.models import Settings
    return max(0, Settings.from_rows(settings_table.records())[0].backups_keep)


def backup(path: Path, keep: int = 10) -> Path | None:
    """Keep the current file as 备份/<stem>_<timestamp><suffix>, rotating to `keep` copies."""
    if keep <= 0:
        return None
    bdir = path.parent / BACKUP_DIR
    bdir.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    dest = bdir / f"{path.stem}_{stamp}{path.suffix}"
    try:
        os.link(path, dest)  # the old file becomes the backup, no copy
    except OSError:
        import shutil
        shutil.copy2(path, dest)
    backups = sorted(bdir.glob(f"{path.stem}_*{path.suffix}"))
    for old in backups[:-keep]:
        try:
            old.unlink()
        except OSError:
            pass
    return dest


def refuse_if_open_in_excel(path: Path) -> None:
    for lock in _lock_candidates(path):
        if lock.exists():
            raise WorkbookLocked(path, f"锁定文件 {lock.name}", f"owner file {lock.name}")


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
