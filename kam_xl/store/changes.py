"""A change set: the record actions an action hands its store, applied in one step.

In the spirit of Grist's user actions: each change is small and keyed by table, record id
(`rid`, the store's key) and layout key — never a row position, never a header.

- `add(table, values)`: a new record (its rid is the store's to give);
- `update(table, rid, key, value)`: one field of a record;
- `remove(table, rid)`: a record deleted;
- `replace(table, rows)`: the whole body of a table the action owns (the import log);
- `findings`: the findings of a check, replacing the last run's (the store shows them);
- `calculated[table]`: how to compute the calculated fields of that table's records
  (a function of records → {rid: {key: value}}), for a store that keeps their values
  (the file store caches them beside its formulas);
- `refresh`: tables whose calculated fields must be brought up to date everywhere
  (regrade: the rule table may have changed);
- `status`: one line on what the action did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


@dataclass
class ChangeSet:
    adds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updates: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    removes: dict[str, list[int]] = field(default_factory=dict)
    replaces: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    findings: list | None = None
    calculated: dict[str, Callable[[Iterable[Any]], dict[int, dict[str, Any]]]] = field(
        default_factory=dict, compare=False, repr=False)
    refresh: set[str] = field(default_factory=set)
    status: str | None = None

    def add(self, table: str, values: dict[str, Any]) -> None:
        self.adds.setdefault(table, []).append(dict(values))

    def add_many(self, table: str, rows: Iterable[dict[str, Any]], owned: bool = False) -> None:
        """owned: the rows are the change set's from now on (fresh dicts nobody else keeps) —
        not copied, which at 100,000 rows is a copy of every row less at the write's peak."""
        self.adds.setdefault(table, []).extend(rows if owned else (dict(r) for r in rows))

    def update(self, table: str, rid: int, key: str, value: Any) -> None:
        self.updates.setdefault(table, {}).setdefault(rid, {})[key] = value

    def remove(self, table: str, rid: int) -> None:
        mine = self.removes.setdefault(table, [])
        if rid not in mine:
            mine.append(rid)
        self.updates.get(table, {}).pop(rid, None)  # a removed record takes no update

    def replace(self, table: str, rows: Iterable[dict[str, Any]], owned: bool = False) -> None:
        self.replaces[table] = list(rows) if owned else [dict(r) for r in rows]

    def updated(self, table: str) -> dict[int, dict[str, Any]]:
        return self.updates.get(table, {})

    def merge(self, other: "ChangeSet") -> "ChangeSet":
        """Take in another step's changes (this one's values win where both set a field)."""
        for t, recs in other.updates.items():
            mine = self.updates.setdefault(t, {})
            for rid, values in recs.items():
                if rid in self.removes.get(t, ()):
                    continue
                target = mine.setdefault(rid, {})
                for k, v in values.items():
                    target.setdefault(k, v)
        for t, rows in other.adds.items():
            self.add_many(t, rows)
        for t, rids in other.removes.items():
            for rid in rids:
                self.remove(t, rid)
        for t, rows in other.replaces.items():
            self.replaces.setdefault(t, rows)
        for t, fn in other.calculated.items():
            self.calculated.setdefault(t, fn)
        self.refresh |= other.refresh
        if self.findings is None:
            self.findings = other.findings
        self.status = self.status or other.status
        return self

    @property
    def empty(self) -> bool:
        return not (any(self.updates.values()) or any(self.adds.values()) or any(self.removes.values())
                    or self.replaces or self.findings is not None or self.status or self.refresh)

    def count(self) -> int:
        """How many record actions (fields updated, records added or removed)."""
        return (sum(len(v) for recs in self.updates.values() for v in recs.values())
                + sum(map(len, self.adds.values())) + sum(map(len, self.removes.values())))
