"""The table-level interface every service, macro and UDF talks to.

A `Table` is an Excel Table's headers and data body as Python values.  A
`Changes` object collects what an action wants written — cell updates,
appended rows, a replaced body, a home-sheet status — so that the store can
write it in one commit step.  `TableStore` is the protocol both fronts
implement: the file engine (closed workbook) and the xlwings book (live Excel).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from .. import layout as L
from ..domain.values import is_blank
from .package import col_letter


@dataclass
class Formula:
    """An Excel formula (without the leading '=') with an optional cached value."""
    text: str
    cached: Any = None
    # (si, ref) of a shared formula: the master cell carries the text and the ref it covers,
    # the others (ref None) point at it — how Excel stores a table's calculated column
    share: tuple[int, str | None] | None = None


@dataclass
class Table:
    name: str
    sheet: str
    headers: list[str]
    rows: list[list[Any]]
    header_row: int = 1  # Excel row number of the header
    first_col: int = 0   # 0-based column of the first header
    # header → column offset within the Excel table; differs from the position in
    # `headers` when only some columns were read
    offsets: dict[str, int] | None = None
    all_headers: list[str] | None = None  # every header of the Excel table, in order
    # False when only some of the user-entered columns were read: a last row with
    # values only in the others may be missing, so appending needs a full look first
    exact: bool = True
    # the same values column by column, when the reader had them that way (typing a
    # table goes column by column; this spares transposing the rows back)
    column_values: list[list[Any]] | None = field(default=None, repr=False, compare=False)
    # rows of the Excel table's body, blank rows at its end included (None: as many as read)
    body_rows: int | None = None

    def __post_init__(self):
        self._index = {h: i for i, h in enumerate(self.headers)}
        if self.offsets is None:
            self.offsets = dict(self._index)
        if self.all_headers is None:
            self.all_headers = list(self.headers)

    def offset(self, header: str) -> int:
        return self.offsets[header]

    def __len__(self) -> int:
        return len(self.rows)

    def col_index(self, header: str) -> int:
        return self._index[header]

    def has(self, header: str) -> bool:
        return header in self._index

    def excel_row(self, row_index: int) -> int:
        return self.header_row + 1 + row_index

    def cell_ref(self, row_index: int, header: str | None) -> str:
        """The A1 reference of a cell of this table (第 N 行 when the column is unknown)."""
        row = self.excel_row(row_index)
        if not header or header not in (self.offsets or {}):
            return f"第 {row} 行"
        return f"{col_letter(self.first_col + self.offsets[header])}{row}"

    def column(self, header: str) -> list[Any]:
        i = self._index.get(header)
        if i is None:
            return [None] * len(self.rows)
        return [r[i] if i < len(r) else None for r in self.rows]

    def value(self, row_index: int, header: str) -> Any:
        i = self._index.get(header)
        row = self.rows[row_index]
        return row[i] if i is not None and i < len(row) else None

    def shape(self) -> "Table":
        """The same table's layout and row count, without its values."""
        return Table(self.name, self.sheet, list(self.all_headers), [None] * len(self.rows),
                     self.header_row, self.first_col, exact=self.exact, body_rows=self.body_rows)

    def records(self) -> list[dict[str, Any]]:
        hs = self.headers
        return [dict(zip(hs, r)) for r in self.rows]

    @property
    def definition(self) -> L.TableDef | None:
        return L.TABLES.get(self.name)



@dataclass(frozen=True)
class Notice:
    """Something the store found in the book that the action must tell the user:
    rows typed under a table taken in, rows left outside it, a header matched loosely."""
    code: str
    sheet: str
    row: int | None
    column: str | None
    message: str
    severity: str = L.WARNING
    table: str | None = None  # the table it is about

    def line(self) -> str:
        named = self.message.startswith("第")  # the message names its rows itself
        where = f"“{self.sheet}”" + (f"第{self.row}行" if self.row and not named else "")
        return f"{self.severity}：{where} {self.message}"


@dataclass
class Changes:
    """Everything an action wants written, applied in one commit."""
    updates: dict[str, dict[tuple[int, str], Any]] = field(default_factory=dict)
    appends: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    replaces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: str | None = None  # 首页 last-run status line
    # table → header → (a calculated column's new formula, cached value per row index)
    formulas: dict[str, dict[str, tuple[str, list[Any]]]] = field(default_factory=dict)
    deletes: dict[str, list[int]] = field(default_factory=dict)  # table → row indices deleted
    notes: list[str] = field(default_factory=list)  # what the write does besides (for the user)

    def delete(self, table: str, row_indices: Iterable[int]) -> None:
        """Rows deleted the way Excel deletes table rows: the rows below move up."""
        mine = self.deletes.setdefault(table, [])
        mine.extend(i for i in row_indices if i not in mine)

    def tables(self) -> set[str]:
        return (set(self.updates) | set(self.appends) | set(self.replaces) | set(self.formulas)
                | {t for t, rows in self.deletes.items() if rows})

    def set(self, table: str, row_index: int, header: str, value: Any) -> None:
        self.updates.setdefault(table, {})[(row_index, header)] = value

    def append(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        self.appends.setdefault(table, []).extend(rows)

    def replace(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        self.replaces[table] = list(rows)

    def set_formula(self, table: str, header: str, text: str, cached: list[Any]) -> None:
        """A calculated column gets a new formula in every row (and as the table's own)."""
        self.formulas.setdefault(table, {})[header] = (text, list(cached))

    def merge(self, other: "Changes") -> "Changes":
        """Take in another action step's changes (this one's values win where both set a cell)."""
        for t, cells in other.updates.items():
            mine = self.updates.setdefault(t, {})
            for k, v in cells.items():
                mine.setdefault(k, v)
        for t, rows in other.appends.items():
            self.append(t, rows)
        for t, rows in other.replaces.items():
            self.replaces.setdefault(t, rows)
        for t, cols in other.formulas.items():
            for h, f in cols.items():
                self.formulas.setdefault(t, {}).setdefault(h, f)
        self.status = self.status or other.status
        return self

    @property
    def empty(self) -> bool:
        return not (any(self.updates.values()) or any(self.appends.values()) or self.replaces
                    or self.status or any(self.formulas.values()) or any(self.deletes.values()))


def is_blank_row(table_name: str, headers: list[str], row: list[Any]) -> bool:
    """No user-entered value: computed (formula) columns do not count."""
    tdef = L.TABLES.get(table_name)
    computed = {c.header for c in tdef.columns if c.formula} if tdef else set()
    return all(is_blank(v) for h, v in zip(headers, row) if h not in computed)


class TableStore(Protocol):
    """Read tables out of a workbook and write changes back (both fronts)."""

    def read(self, names: Iterable[str],
             columns: dict[str, Iterable[str]] | None = None, exact: Iterable[str] = ()) -> dict[str, Table]:
        """Tables by name; `columns` limits some tables to the headers an action needs;
        for the tables in `exact` (rows will be appended) where the data ends is found too."""

    def has_table(self, name: str) -> bool:
        """Whether the book has this table."""

    def headers(self, name: str) -> list[str]:
        """Every header of a table, in order."""

    def read_stream(self, name: str, sink, columns: Iterable[str] | None = None, exact: bool = False) -> Table:
        """A big table's columns (in header order, only `columns` where given) handed to
        sink(columns, first row index); its shape back (exact: where the data ends found from
        every user-entered column, for appending)."""

    def write(self, changes: Changes) -> None: ...

    def formulas(self, name: str) -> dict[str, str | None]:
        """A table's calculated columns: header → its formula (None when it cannot tell)."""

    notices: list[Notice]  # what the reads found that the user must hear of
