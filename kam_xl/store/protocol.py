"""The store protocol: what every store implements whole, and the only way the services
reach data.

    with store:                      # a session (a store may pause work or hold a lock)
        data = store.load(needs)     # a Snapshot of the records the needs ask for
        ...                          # compute with the domain
        store.locate(findings)       # where the user finds each finding (sheet, row, column)
        store.apply(changes)         # the ChangeSet, in one step; notes of what it did besides

Implemented by the file store (workbook/store.py), the live Excel book (xl/book.py) and
MemoryStore (store/memory.py).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Protocol, runtime_checkable

from ..domain.findings import Finding, Placed
from .changes import ChangeSet
from .needs import Needs
from .snapshot import Snapshot


@runtime_checkable
class Store(Protocol):
    def __enter__(self) -> "Store": ...

    def __exit__(self, *exc) -> None: ...

    def load(self, needs: Needs, as_of: dt.date | None = None) -> Snapshot:
        """The records, views and settings the needs ask for, as of a date."""

    def locate(self, findings: Iterable[Finding]) -> list[Placed]:
        """Each finding where the store's user finds it."""

    def apply(self, changes: ChangeSet) -> list[str]:
        """The change set of the last load, in one step.  Returns notes of what the store did
        besides the record actions (a calculated column given its current formula)."""
