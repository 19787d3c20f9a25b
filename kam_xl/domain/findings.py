"""Findings: problems in data, collected, never raised (PRODUCT.md §4).

A `Finding` names a record — (table, rid, field key) — never a sheet, a row or a header:
the store that holds the record places it (`Placed`: the sheet, the Excel row, the
column label and, for a workbook, the link §2 asks for).  A message that names other
records (the rows a duplicate id repeats) carries them as `Related`, which the front
turns into what its user finds them by.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .. import layout as L
from .problems import code

_MARK = "\ue000"  # where a Related list stands in a message until the front places it


@dataclass(frozen=True)
class Related:
    """Other records a message names (a duplicate's first occurrence, its twins)."""
    table: str
    rids: tuple[int, ...]

    def __format__(self, spec: str) -> str:
        return _MARK


@dataclass(frozen=True)
class Finding:
    rule: str          # stable code, e.g. CUST-CREDIT-BAD
    severity: str      # 错误 | 警告
    table: str         # layout table name
    rid: int | None    # the record's store id; None: the table as a whole
    key: str | None    # the field's layout key (None: the record as a whole)
    message: str       # Chinese, says how to fix it (Related lists still marked)
    customer_id: str | None = None
    value: Any = None
    related: Related | None = None
    # a place outside any record (rows the store found beside a table): (sheet, row)
    outside: tuple[str, int | None] | None = None

    def text(self, rows_of: Callable[[str, tuple[int, ...]], str]) -> str:
        """The message with its related records named the way the front names them."""
        if self.related is None or _MARK not in self.message:
            return self.message
        return self.message.replace(_MARK, rows_of(self.related.table, self.related.rids))


@dataclass(frozen=True)
class Placed:
    """A finding where the user finds it: sheet, Excel row, column label."""
    rule: str
    severity: str
    sheet: str
    row: int | None
    column: str | None
    message: str
    customer_id: str | None = None
    value: Any = None

    def as_row(self) -> dict[str, Any]:
        """The 校验结果 row, by layout key."""
        return dict(severity=self.severity, sheet=self.sheet, row=self.row, column=self.column,
                    rule=self.rule, message=self.message, customer_id=self.customer_id)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def label(table: str, key: str | None) -> str | None:
    """A field's column label (its header in layout.py)."""
    tdef = L.TABLES.get(table)
    return tdef.header(key) if tdef is not None and key in tdef.keys else key


def place_plainly(f: Finding) -> Placed:
    """A finding placed without a workbook: the record's id stands for its row."""
    tdef = L.TABLES.get(f.table)
    if f.outside is not None:
        return Placed(f.rule, f.severity, f.outside[0], f.outside[1], None, f.message)
    return Placed(f.rule, f.severity, tdef.sheet if tdef else f.table, f.rid, label(f.table, f.key),
                  f.text(lambda t, rids: "、".join(map(str, rids))), f.customer_id, f.value)


@dataclass
class FindingsReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, rule: str, table: str, rid: int | None, key: str | None, message: str,
            customer_id: str | None = None, value: Any = None, related: Related | None = None,
            outside: tuple[str, int | None] | None = None) -> None:
        """A finding of a registered code (its severity comes from the registry)."""
        self.findings.append(Finding(rule, code(rule).severity, table, rid, key, message, customer_id, value,
                                     related, outside))

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == L.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == L.WARNING)

    @property
    def valid(self) -> bool:
        return self.errors == 0

    def by_rule(self) -> Counter:
        return Counter(f.rule for f in self.findings)

    def sorted(self) -> list[Finding]:
        sheet_order = {s: i for i, s in enumerate(L.SHEET_ORDER)}
        order = {n: sheet_order.get(t.sheet, 99) for n, t in L.TABLES.items()}
        keys = {n: {k: i for i, k in enumerate(t.keys)} for n, t in L.TABLES.items()}
        return sorted(self.findings, key=lambda f: (
            L.SEVERITIES.index(f.severity), order.get(f.table, 99),
            f.rid if f.rid is not None else (f.outside[1] or 0) if f.outside else -1,
            keys.get(f.table, {}).get(f.key, -1), f.rule))
