"""Each customer's last completed visit (the LAST_VISITS view) from three columns of the visits
table, without a record per visit.  One fold, used by the reading thread (loader) and by the
helper process that reads the same view from the sheet's XML while this process reads the other
tables (scan_ahead): there it costs this process neither the seconds of the column reader nor
the interpreter lock the main thread needs meanwhile."""
from __future__ import annotations

from typing import Any

from .. import layout as L
from ..domain.visits import last_completed
from .engine import columns_from_xml
from .package import TablePart
from .reading import typed_columns

KEYS = ("customer_id", "actual_date", "state")


def headers() -> list[str]:
    """The visits table's columns the view reads."""
    return L.VISITS.headers_of(KEYS)


def in_table_order(table_headers: list[str]) -> list[str]:
    """The view's columns in the order the table has them — the order a table reader hands them
    over in (a user may have moved 状态 before 实际日期)."""
    wanted = set(headers())
    return [h for h in table_headers if h in wanted]


def fold(found: dict, columns: list[list[Any]], start: int, order: list[str]) -> None:
    """Take a block of the three columns, as the table reader hands them over (`order`: their
    headers, in_table_order), into `found` (customer id → its last completed visit's date)."""
    typed = dict(zip(order, typed_columns(L.VISITS, order, columns, start)))
    ids, dates, states = (typed[h] for h in headers())
    for cid, day in last_completed(ids, dates, states).items():
        if cid not in found or day > found[cid]:
            found[cid] = day


def from_xml(path: str, tp: TablePart, date1904: bool, chunks=None) -> tuple[int, bool, dict] | None:
    """(rows of data, exact, the view) of the visits table `tp` as it stands in the file, read
    by the column reader — None where the reading thread would read it otherwise (fastexcel:
    a 1904 book, cells the column reader does not type, an empty table, a column missing).
    `chunks`: the sheet's XML as the scan inflates it (engine.load_from_xml)."""
    order = in_table_order([str(h) for h in tp.columns])
    if len(order) != len(KEYS):
        return None
    got = columns_from_xml(path, tp, order, date1904, chunks)
    if got is None:
        return None
    cols, n, is_exact = got
    found: dict = {}
    if n:
        fold(found, cols, 0, order)
    return n, is_exact, found
