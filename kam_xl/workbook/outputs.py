"""Files the actions write beside the book (reports, forms, the import report CSV):
written to a temp file and renamed, never more readable than the book they come
from, and never carrying a live formula from text a user or a legacy file typed."""
from __future__ import annotations

import csv
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import ReportWriteFailed

# OWASP's CSV-injection guidance: a field a spreadsheet would take as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(value: Any) -> Any:
    """A text that Excel, WPS or LibreOffice would run as a formula when the CSV is opened
    (=HYPERLINK(…), +cmd|…, @SUM(…)) gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def output_mode(book: Path | None) -> int:
    """The mode of an output file made from `book`: at most the book's own read and write
    bits (a 0600 book gives 0600 reports); 0644 less the umask without a book."""
    if book is not None:
        try:
            return stat.S_IMODE(os.stat(book).st_mode) & 0o666
        except OSError:
            pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_failure(e: BaseException) -> OSError | None:
    """The OSError behind a failed write (xlsxwriter wraps a full disk in FileCreateError),
    or None when the failure is something else."""
    if isinstance(e, OSError):
        return e
    if type(e).__name__ == "FileCreateError":
        return e.__context__ if isinstance(e.__context__, OSError) else OSError(str(e))
    return None


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+|^\.+')


def safe_name_part(text: object, limit: int = 60) -> str:
    """A customer's id or name as part of a file name: no folder separators, no characters
    Windows refuses, no leading dots (a book's text never chooses where a file goes)."""
    s = _UNSAFE_NAME.sub("_", str(text or "")).strip(" _")
    return s[:limit] or "_"


def write_output(path: Path, write: Callable[[Path], Any], book: Path | None = None,
                 before_replace: Callable[[], Any] | None = None, failed: type = ReportWriteFailed) -> Path:
    """write(tmp) to a temp file beside `path`, then (after before_replace(), e.g. keeping the
    file it replaces as a backup) replace: a full disk or a read-only folder leaves no
    half-written file behind, and a clear refusal (`failed`) instead of an OSError."""
    path = Path(path)
    tmp = path.with_name(".~kam_" + path.name)
    try:
        write(tmp)
        os.chmod(tmp, output_mode(book))
        if before_replace is not None:
            before_replace()
        tmp.replace(path)
    except BaseException as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        cause = write_failure(e)
        if cause is not None:
            raise failed(path, cause.strerror or str(cause)[:200], str(cause)[:200]) from None
        raise
    return path


def write_csv(path: Path, headers: list[str], rows: Iterable[dict[str, Any]], book: Path | None = None) -> Path:
    """A CSV Excel opens as UTF-8 (BOM), every text field neutralised."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=headers)
            w.writeheader()
            for row in rows:
                w.writerow({k: neutralise(v) for k, v in row.items()})
    return write_output(path, write, book)
