"""Three-way building blocks over keyed records (PRODUCT.md §11 uses them; so can the
import's newest-source-wins merge).

Records are compared as {key: {field: value}} — the key is whatever identifies a record
across copies (a customer's 客户编号, a visit's 拜访编号), fields are layout keys.  Two
values are the same when equal, or both amounts within layout.SETTLED, or both blank
(None and "" alike), or the same day (a date and a midnight datetime).

- `diff(base, other)`: what `other` did to `base` — records added, removed, and per record
  the fields changed (old, new).
- `merge3(base, ours, theirs)`: both sides' changes together.  A field changed on one side
  only takes that side's value; changed alike on both, that value; changed differently,
  a `Conflict` (the merged record keeps `ours` until someone decides).  A record removed
  on one side and changed on the other is a conflict too (kept, with the change); added
  on both sides with different values, a conflict per field.  Nothing is lost silently:
  every value that is not in the result is in a conflict.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping

from .. import layout as L

Records = Mapping[Hashable, Mapping[str, Any]]
REMOVED = "（已删除）"  # how a removed record shows in a conflict


def same(a: Any, b: Any) -> bool:
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, dt.datetime) and not isinstance(b, dt.datetime) and isinstance(b, dt.date):
        return a == dt.datetime.combine(b, dt.time())
    if isinstance(b, dt.datetime) and not isinstance(a, dt.datetime) and isinstance(a, dt.date):
        return b == dt.datetime.combine(a, dt.time())
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return abs(float(a) - float(b)) < L.SETTLED
    return a == b


@dataclass
class Diff:
    added: dict = field(default_factory=dict)     # key → record
    removed: dict = field(default_factory=dict)   # key → the base record
    changed: dict = field(default_factory=dict)   # key → {field: (old, new)}

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _fields_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {f: (old.get(f), new.get(f)) for f in dict.fromkeys([*old, *new])
            if not same(old.get(f), new.get(f))}


def diff(base: Records, other: Records) -> Diff:
    out = Diff()
    for k, rec in other.items():
        if k not in base:
            out.added[k] = dict(rec)
        else:
            changed = _fields_changed(base[k], rec)
            if changed:
                out.changed[k] = changed
    for k, rec in base.items():
        if k not in other:
            out.removed[k] = dict(rec)
    return out


@dataclass(frozen=True)
class Conflict:
    key: Hashable
    field: str | None   # None: the record as a whole (removed on one side, changed on the other)
    base: Any
    ours: Any
    theirs: Any


@dataclass
class Merged:
    records: dict = field(default_factory=dict)   # key → merged record
    conflicts: list[Conflict] = field(default_factory=list)
    # what each side brought, for the merge report
    from_ours: Diff = field(default_factory=Diff)
    from_theirs: Diff = field(default_factory=Diff)


def merge3(base: Records, ours: Records, theirs: Records) -> Merged:
    a, b = diff(base, ours), diff(base, theirs)
    out = Merged(from_ours=a, from_theirs=b)
    keys = list(dict.fromkeys([*base, *ours, *theirs]))
    for k in keys:
        in_base, in_ours, in_theirs = k in base, k in ours, k in theirs
        if not in_base:  # added on one side or both
            if in_ours and in_theirs:
                rec = dict(ours[k])
                for f, (mine, other) in _fields_changed(ours[k], theirs[k]).items():
                    if mine in (None, ""):
                        rec[f] = other
                    elif other not in (None, ""):
                        out.conflicts.append(Conflict(k, f, None, mine, other))
                out.records[k] = rec
            else:
                out.records[k] = dict(ours[k] if in_ours else theirs[k])
            continue
        if not in_ours or not in_theirs:  # removed on one side (or both)
            if not in_ours and not in_theirs:
                continue  # removed on both sides
            kept = ours if in_ours else theirs
            side_changed = k in (a.changed if in_ours else b.changed)
            if side_changed:  # removed by one, changed by the other: kept, and asked about
                out.records[k] = dict(kept[k])
                out.conflicts.append(Conflict(k, None, dict(base[k]),
                                              REMOVED if not in_ours else dict(ours[k]),
                                              REMOVED if not in_theirs else dict(theirs[k])))
            continue  # removed by one, untouched by the other: removed
        rec = dict(base[k])
        mine, other = a.changed.get(k, {}), b.changed.get(k, {})
        for f in dict.fromkeys([*mine, *other]):
            if f in mine and f in other:
                if same(mine[f][1], other[f][1]):
                    rec[f] = mine[f][1]
                else:
                    rec[f] = mine[f][1]
                    out.conflicts.append(Conflict(k, f, base[k].get(f), mine[f][1], other[f][1]))
            elif f in mine:
                rec[f] = mine[f][1]
            else:
                rec[f] = other[f][1]
        out.records[k] = rec
    return out
