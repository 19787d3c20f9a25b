"""What an action reads, declared next to the action (every store answers the same needs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

LAST_VISITS = "last completed visit per customer"


@dataclass(frozen=True)
class Read:
    """One table of an action's needs."""
    keys: tuple[str, ...] | None = None  # layout keys of the fields read; None: every field
    conditions: bool = False   # customers: also every field the rule table's 附加条件 name
    rows: bool = False         # customers: keep the user's own columns (Snapshot.customer_extra)
    records: bool = True       # False: only the views are needed (no record per row)
    # the fields the records keep when every field is read (to report every bad cell)
    # but only some are used: None keeps what is read
    keep: tuple[str, ...] | None = None
    optional: bool = False     # read when the store has the table (the §10 tables)
    # records only where the field `by` (the record id unless told) is one of these (the rest
    # are not made into records); the id → rid of every record of the table is in
    # Snapshot.ids — how a collect reads 400,000 visits to edit five, and a distribute one
    # group of people's customers (by="customer_id" for their visits) at a time
    only: frozenset | None = None
    by: str = "id"
    # records will be added to the table: a store that must find where its data ends to append
    # (a workbook) finds it in this read, not in a second one at write time
    appends: bool = False
    # receivables: only the records the credit window can count are needed (an invoice date in
    # the Settings' 信誉统计月数 up to the as-of date); a store may give more, never fewer — a
    # database selects them, a workbook reads its sheet whole anyway
    window: str | None = None
    # the action goes through the records in order and keeps none of them (validate's visits):
    # a store may hand an iterable that reads them as they are used — a database's 4,000,000
    # visits are never all in memory; a workbook, which reads its sheet whole, gives its list
    stream: bool = False
    # a streamed table's records in this field's order (then rid): regrade goes through the
    # receivables a customer at a time.  Snapshot.groups() gives them grouped either way
    order: str | None = None


EVERYTHING = Read()


@dataclass(frozen=True)
class Beside:
    """A part of the action computed from a few of its tables alone (`after`): a store that can
    compute in a second process starts it there as soon as those tables are loaded, while it
    loads the rest (Snapshot.begun[name]); any other store leaves it to the action."""
    name: str
    after: tuple[str, ...]
    make: Callable[[Any], Any]  # the snapshot → the part's result (it reads only `after` and the settings)
    # parts begun before whose results this one takes (Snapshot.begun): in hand before it begins
    # (a second process cannot take another's result)
    takes: tuple[str, ...] = ()
    # whether to begin it, asked of the snapshot once its tables are loaded (None: always)
    when: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class Needs:
    tables: Mapping[str, Read]
    views: frozenset = frozenset()
    beside: tuple[Beside, ...] = ()

    def names(self) -> list[str]:
        return list(self.tables)
