"""The store vocabulary every store shares (PRODUCT.md §11, §12 build on it).

An action declares its `Needs`; a store answers `load(needs)` with a read-only
`Snapshot` of plain records keyed by layout key, each with the store's record id
(`rid`); the action hands back a `ChangeSet` of record actions — add, update, remove,
keyed by (table, rid, layout key) — and the store applies it in one step.  Nothing here
knows of Excel rows, headers or how a store reads fast: that stays inside each store
(the file store and the live Excel store in workbook/ and xl/, `MemoryStore` here).
`diff` and `merge3` compare keyed records three ways (team mode, the import's merge).
"""
from .changes import ChangeSet
from .needs import EVERYTHING, LAST_VISITS, Beside, Needs, Read
from .snapshot import Snapshot

__all__ = ["Beside", "ChangeSet", "EVERYTHING", "LAST_VISITS", "Needs", "Read", "Snapshot"]
