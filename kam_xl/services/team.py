"""Team mode (PRODUCT.md §11): 分发 — one book per person with their customers and every
row of those customers; 汇总 — each returned book merged three ways (the base sent, the
book as returned, the master as it is now), cell by cell, keyed by record id; 转交 —
customers moved from one person to another.

Store-agnostic: the master is any Store (a workbook, a database), the returned books are
Stores, the base lives in the master's ledger (store/ledger.py).  The fronts write the
books (a workbook per person) and read their identity; this module decides what goes out
and what comes back.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import layout as L
from ..domain.names import next_ids
from ..errors import BadArgument
from ..store import EVERYTHING, ChangeSet, Needs, Read, Snapshot
from ..store.merge import same
from .typed_rows import assign_ids

C = L.CUSTOMERS
TEAM_TABLES = (L.CUSTOMERS, L.VISITS, L.RECEIVABLES, L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS)
TEAM_NEEDS = Needs({C.name: EVERYTHING, L.VISITS.name: EVERYTHING, L.RECEIVABLES.name: EVERYTHING,
                    L.TIER_RULES.name: EVERYTHING,
                    **{t.name: Read(optional=True) for t in L.PROCEDURE_TABLES}})
# fields the manager or the program keeps: a person's change to them is refused and listed
# a returned book is read whole (it is small): what the person could have changed
BOOK_NEEDS = Needs({C.name: EVERYTHING, L.VISITS.name: EVERYTHING, L.RECEIVABLES.name: EVERYTHING,
                    **{t.name: Read(optional=True) for t in L.PROCEDURE_TABLES}})
MANAGED = {
    C.name: {"tier", "graded_on", "status", "manager", "derived_credit", "satisfaction"},
    L.RECEIVABLES.name: {"dunning_level"},
}
APPLIED, CONFLICT, REFUSED, UNCHANGED = "已应用", "冲突", "拒绝", "未变"
OUTCOMES = (APPLIED, CONFLICT, REFUSED, UNCHANGED)
DEFAULT_BY = C.header("manager")


def merged_keys(tdef: L.TableDef) -> list[str]:
    """The fields a collect compares: every entered field (calculated ones follow)."""
    return [c.key for c in tdef.columns if not c.formula and c.key != tdef.id_key]


def fields_of(record, tdef: L.TableDef) -> dict[str, Any]:
    v = record.values()
    return {k: v.get(k) for k in merged_keys(tdef)}


def by_id(snap: Snapshot, tdef: L.TableDef) -> dict[str, Any]:
    """A table's records by id (the first of a duplicated id; records without one left out)."""
    out: dict[str, Any] = {}
    for r in snap.records_of(tdef.name) or ():
        if r.id and r.id not in out:
            out[r.id] = r
    return out


def _by_key(label: str) -> str:
    for c in C.columns:
        if label in (c.header, c.key):
            return c.key
    raise BadArgument(None, f"客户档案中没有“{label}”列，无法按它分发（可用：客户经理、对接人员、区域…）",
                      f"no customer column '{label}' to distribute by")


# -- 分发 -----------------------------------------------------------------------------
@dataclass
class Sent:
    person: str
    path: Path
    customers: int
    rows: dict[str, int]


@dataclass
class DistributeResult:
    round: int
    sent: list[Sent] = field(default_factory=list)
    unassigned: int = 0  # customers with nobody in the column distributed by
    master_ids: int = 0  # records given an id in the master first

    def summary_lines(self) -> list[str]:
        lines = [f"第 {self.round} 轮分发：{len(self.sent)} 人"]
        for s in self.sent:
            rows = "，".join(f"{L.TABLES[t].sheet} {n}" for t, n in s.rows.items() if n)
            lines.append(f"  {s.person}：客户 {s.customers} 户（{rows}） → {s.path}")
        if self.unassigned:
            lines.append(f"  {self.unassigned} 户客户没有负责人，未分发（在主工作簿中照常保留）")
        return lines


# a master with more customers than this is read once per batch of people of about this many
# customers (every batch reads the store again, holding only its people's records); a smaller
# one is read once — on a workbook the reading machinery, not the records, is most of the peak
BATCH_CUSTOMERS = 250_000


def _batch_needs(customers: frozenset) -> Needs:
    return Needs({C.name: Read(only=customers), L.TIER_RULES.name: EVERYTHING,
                  **{t.name: Read(only=customers, by="customer_id", optional=t in L.PROCEDURE_TABLES)
                     for t in TEAM_TABLES[1:]}})


def _batches(people: list[str], groups: dict[str, list[str]], size: int) -> list[list[str]]:
    out: list[list[str]] = [[]]
    n = 0
    for p in people:
        if out[-1] and n + len(groups[p]) > size:
            out.append([])
            n = 0
        out[-1].append(p)
        n += len(groups[p])
    return out


def distribute(store, ledger, write_book: Callable[..., Path], by: str = DEFAULT_BY,
               people: Iterable[str] | None = None, as_of: dt.date | None = None,
               batch: int | None = None) -> DistributeResult:
    """One book per person: their customers and every row of those customers.  `write_book(person,
    round, records by table, snapshot)` writes it and returns its path (the front's).  A master
    of more than `batch` customers is read again once per batch of people, so that only one
    batch's records are held at a time."""
    key = _by_key(by)
    wanted = [p.strip() for p in people or () if p.strip()]
    with store:
        data = store.load(TEAM_NEEDS, as_of)
        ids = ChangeSet()
        n_ids = assign_ids(data, ids)  # every record goes out with an id: the merge is keyed by it
        groups: dict[str, list[str]] = defaultdict(list)
        unassigned = 0
        for c in data.customers:
            if not c.id:
                continue
            owners = [str(getattr(c, key) or "").strip()]
            if key == "staff":
                owners = c.staff_list()
            owners = [o for o in owners if o]
            if not owners:
                unassigned += 1
            for o in owners:
                groups[o].append(c.id)
        missing = [p for p in wanted if p not in groups]
        if missing:
            raise BadArgument(None, f"以下人员没有负责的客户（按“{C.header(key)}”）：{'、'.join(missing)}",
                              f"nobody with customers by '{key}': {', '.join(missing)}")
        people_out = wanted or sorted(groups)
        day = data.as_of
        if not ids.empty:  # the master holds the new ids before any book carries them
            store.apply(ids)
    size = batch or BATCH_CUSTOMERS
    if len(data.customers) > size:
        data = None  # read again, one batch of people at a time
    round_no = ledger.next_round(people_out, day)
    res = DistributeResult(round_no, unassigned=unassigned, master_ids=n_ids)
    whole = data
    for part in _batches(people_out, groups, size) if whole is None else [people_out]:
        if whole is None:
            with store:
                data = store.load(_batch_needs(frozenset(i for p in part for i in groups[p])), as_of or day)
        # the books are written after the store's session (which may pause the garbage collector
        # for its reads: fifty workbooks written inside it would keep all their garbage)
        by_id = {c.id: c for c in data.customers}
        children = {}  # table → customer id → its rows (grouped once, not once per person)
        for tdef in TEAM_TABLES[1:]:
            recs = data.records_of(tdef.name)
            if recs is not None:
                grouped: dict[str, list] = defaultdict(list)
                for r in recs:
                    if r.id and r.customer_id:
                        grouped[r.customer_id].append(r)
                children[tdef.name] = grouped
        for person in part:
            customers = [by_id[i] for i in groups[person] if i in by_id]
            tables = {C.name: customers}
            for name, grouped in children.items():
                tables[name] = sorted((r for c in customers for r in grouped.get(c.id, ())), key=lambda r: r.rid)
            base = {t: {r.id: fields_of(r, L.TABLES[t]) for r in recs} for t, recs in tables.items()}
            path = write_book(person, round_no, tables, data)
            ledger.save_base(person, round_no, base)
            res.sent.append(Sent(person, path, len(customers), {t: len(r) for t, r in tables.items() if t != C.name}))
        del data, by_id, children
    return res


# -- 汇总 -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BookIdentity:
    """What a distributed book says of itself (its document properties)."""
    master_id: str | None
    person: str | None
    round: int | None


@dataclass
class Line:
    """One entry of the 汇总报告: a cell (or a whole record) and what became of it."""
    person: str
    table: str
    record_id: str | None
    field: str | None
    base: Any
    theirs: Any
    master: Any
    outcome: str
    note: str = ""
    cells: int = 1  # the cells it accounts for (a new record: each field it brings)

    def as_row(self) -> dict[str, Any]:
        tdef = L.TABLES[self.table]
        return {"人员": self.person, "工作表": tdef.sheet, "记录编号": self.record_id,
                "字段": tdef.header(self.field) if self.field in tdef.keys else (self.field or "（整条记录）"),
                "原值": _show(self.base), "返回值": _show(self.theirs), "主工作簿值": _show(self.master),
                "结果": self.outcome, "单元格数": self.cells, "说明": self.note}


def _show(v: Any) -> Any:
    if isinstance(v, dict):
        return "（整条记录）"
    return v


@dataclass
class CollectResult:
    lines: list[Line] = field(default_factory=list)
    changes: ChangeSet = field(default_factory=ChangeSet)
    books: list[tuple[str, int, str]] = field(default_factory=list)  # (person, round, file)
    moved: dict[str, str] = field(default_factory=dict)  # customer id → who has it now
    report_path: Path | None = None  # the 汇总报告 the front wrote

    def counts(self) -> Counter:
        out: Counter = Counter()
        for line in self.lines:
            out[line.outcome] += line.cells
        return out

    def summary_lines(self) -> list[str]:
        c = self.counts()
        total = sum(c.values())
        lines = [f"汇总 {len(self.books)} 本工作簿：与分发时不同的单元格 {total} 个 = 已应用 {c[APPLIED]} + 冲突 {c[CONFLICT]}"
                 f" + 拒绝 {c[REFUSED]} + 未变 {c[UNCHANGED]}"]
        for person, rnd, f in self.books:
            mine = Counter()
            for line in self.lines:
                if line.person == person:
                    mine[line.outcome] += line.cells
            lines.append(f"  {person}（第 {rnd} 轮，{f}）：已应用 {mine[APPLIED]}，冲突 {mine[CONFLICT]}，"
                         f"拒绝 {mine[REFUSED]}，未变 {mine[UNCHANGED]}")
        for line in self.lines:
            if line.outcome in (CONFLICT, REFUSED):
                tdef = L.TABLES[line.table]
                what = tdef.header(line.field) if line.field in tdef.keys else "整条记录"
                lines.append(f"  {line.outcome}：{line.person} {tdef.sheet} {line.record_id or ''} {what}：{line.note}")
        if self.moved:
            lines.append("已转交的客户（按原负责人的工作簿汇总其仍可改动的内容）："
                         + "，".join(f"{k}→{v}" for k, v in sorted(self.moved.items())))
        return lines


def fingerprint(table: str, values: dict[str, Any]) -> str:
    """A new row as returned, for knowing it again when the same book is collected twice."""
    text = json.dumps([table, sorted((k, str(v)) for k, v in values.items() if v not in (None, ""))],
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class _Ids:
    """New master ids, never colliding across the books of one collect."""

    def __init__(self, master: Snapshot):
        self.taken = {t.name: master.record_ids(t.name) for t in TEAM_TABLES}
        self.fresh = {t.name: next_ids(self.taken[t.name], t.id_prefix) for t in TEAM_TABLES if t.id_prefix}

    def new(self, table: str) -> str:
        i = next(self.fresh[table])
        self.taken[table].add(i)
        return i


@dataclass
class _Returned:
    """What one returned book says against its base, before the master is read: the cells
    it changed, the records it added, the records it no longer has — in the book's order."""
    ident: BookIdentity
    name: str
    scope: set[str]                      # the customers sent to the person
    items: dict[str, list] = field(default_factory=dict)   # table → [("edit", id, base, {key: (b, v)}) | ("new", record id, values)]
    gone: dict[str, dict[str, dict]] = field(default_factory=dict)  # table → id sent → its base values
    lost: dict[str, int] = field(default_factory=dict)     # table missing from the book → records sent


def _compare(ident: BookIdentity, name: str, base: dict, theirs: Snapshot) -> _Returned:
    """One book against the base it was sent (no master needed): only what differs is kept."""
    out = _Returned(ident, name, set(base.get(C.name, {})))
    for tdef in TEAM_TABLES:
        t = tdef.name
        sent = base.get(t, {})
        returned = theirs.records_of(t)
        if returned is None:  # the book lost the whole table: nothing of it is taken, nothing deleted
            if sent:
                out.lost[t] = len(sent)
            continue
        keys = merged_keys(tdef)
        seen: set[str] = set()
        items = out.items.setdefault(t, [])
        for r in returned:
            values = fields_of(r, tdef)
            if r.id and r.id in sent and r.id not in seen:
                seen.add(r.id)
                old = sent[r.id]
                diffs = {k: (old.get(k), values.get(k)) for k in keys if not same(old.get(k), values.get(k))}
                if diffs:
                    items.append(("edit", r.id, diffs))
                continue
            items.append(("new", r.id, values))
        gone = {i: old for i, old in sent.items() if i not in seen}
        if gone:
            out.gone[t] = gone
    return out


def _master_needs(returned: list[_Returned]) -> Needs:
    """Only what of the master a merge compares: every customer's id and who has it now, the
    fields some book changed, every entered field of a table some book deleted from (a deletion
    needs the record unchanged) — and of the other tables, records only for the ids some book
    changed or deleted (every id is still read: new ids must not collide)."""
    keys: dict[str, set[str]] = {t.name: {t.id_key} for t in TEAM_TABLES}
    keys[C.name].add("manager")
    touched: dict[str, set[str]] = {t.name: set() for t in TEAM_TABLES}
    adds: set[str] = set()
    for b in returned:
        for t, items in b.items.items():
            for item in items:
                if item[0] == "edit":
                    keys[t].update(item[2])
                    touched[t].add(item[1])
                else:
                    adds.add(t)
        for t, gone in b.gone.items():
            keys[t].update(merged_keys(L.TABLES[t]))
            touched[t].update(gone)
    return Needs({t.name: Read(keys=tuple(sorted(keys[t.name])), optional=t in L.PROCEDURE_TABLES,
                               only=None if t is C else frozenset(touched[t.name]), appends=t.name in adds)
                  for t in TEAM_TABLES})


def collect(store, books: list[tuple[BookIdentity, Any, str]], ledger, prefer_theirs: bool = False) -> CollectResult:
    """Merge each returned book into the master: `books` is [(its identity, its Store or a function
    that opens it, its file name)].  Every book is checked before anything is read or written; each book is compared
    with its base one at a time (only its differences kept), then the master is read — only the
    fields those differences touch — merged and written once."""
    res = CollectResult()
    plans = []
    for ident, book_store, name in books:
        if not ident.master_id or not ident.person or not ident.round:
            raise BadArgument(name, "这不是由“分发”生成的个人工作簿（缺少分发信息），未汇总任何内容",
                              "not a book written by distribute; nothing collected")
        if ident.master_id != ledger.master_id:
            raise BadArgument(name, "这本工作簿不是从本主工作簿分发的（属于另一个主工作簿），未汇总任何内容",
                              "this book was distributed from another master; nothing collected")
        if not ledger.has_base(ident.person, ident.round):
            raise BadArgument(name, f"找不到第 {ident.round} 轮发给 {ident.person} 的原始数据（分发记录可能已被删除），"
                              "未汇总任何内容", f"no base for {ident.person}, round {ident.round}; nothing collected")
        plans.append((ident, book_store, name))
    returned = []
    for ident, book, name in plans:  # one book in memory at a time
        base = ledger.base(ident.person, ident.round)
        book_store = book() if callable(book) else book
        with book_store:
            theirs = book_store.load(BOOK_NEEDS)
        returned.append(_compare(ident, name, base, theirs))
        del theirs, base, book_store
    with store:
        master = store.load(_master_needs(returned))
        ids = _Ids(master)
        index = {t.name: {r.id: r for r in master.records_of(t.name) or () if r.id} for t in TEAM_TABLES}
        managers = {c.id: c.manager for c in master.customers if c.id}
        for book in returned:
            _merge_book(res, book, index, ids, ledger, prefer_theirs)
            res.books.append((book.ident.person, book.ident.round, book.name))
            for cid in book.scope:
                if managers.get(cid) and managers[cid] != book.ident.person:
                    res.moved[cid] = managers[cid]
        # what the merge needed of the master (every id of every table) is let go before the
        # write, which needs the room
        del master, index, ids, managers, returned
        if not res.changes.empty:
            res.changes.status = (f"{dt.datetime.now():%Y-%m-%d %H:%M} 汇总：" + "，".join(
                f"{k} {v}" for k, v in res.counts().items()))
            store.apply(res.changes)
    ledger.commit()
    return res


def _read(record, keys) -> dict[str, Any]:
    """The fields of a master record among `keys` that the master read."""
    v = record.values()
    return {k: v[k] for k in keys if k in v}


def _merge_book(res: CollectResult, book: _Returned, index: dict, ids: _Ids, ledger, prefer_theirs: bool) -> None:
    person = book.ident.person
    scope = set(book.scope)
    idmap: dict[tuple[str, str], str] = {}  # (table, id as returned) → master id, for new rows' links
    for tdef in TEAM_TABLES:
        t = tdef.name
        master = index[t]
        if t in book.lost:
            n = book.lost[t]
            res.lines.append(Line(person, t, None, None, None, None, None, REFUSED,
                                  f"交回的工作簿中没有“{tdef.sheet}”表，该表的 {n} 条记录未汇总也未删除",
                                  cells=n))  # each record missing from the book is accounted for
            continue
        created = ledger.created(person).get(t, {})
        managed = MANAGED.get(t, set())
        for item in book.items.get(t, ()):
            if item[0] == "edit":
                _merge_record(res, person, tdef, item[1], item[2], master.get(item[1]), managed,
                              prefer_theirs, scope)
            else:
                _new_record(res, person, tdef, item[1], item[2], master, created, scope, ids, idmap, ledger,
                            managed)
        for rid_key, old in book.gone.get(t, {}).items():
            m = master.get(rid_key)
            line = Line(person, t, rid_key, None, old, None, _read(m, old) if m is not None else None, "")
            if tdef is C:
                line.outcome, line.note = REFUSED, "客户不能通过汇总删除（请由经理在主工作簿中停用或删除）"
            elif m is None:
                line.outcome, line.note = UNCHANGED, "主工作簿中已没有这条记录"
            elif rid_key not in created.values():
                line.outcome, line.note = CONFLICT, "这条记录不是该人员新增的，删除须经理确认（主工作簿中保留）"
            elif any(not same(line.master.get(k), old.get(k)) for k in old):
                line.outcome, line.note = CONFLICT, "返回的工作簿删除了这条记录，但主工作簿中它已被修改（保留）"
            else:
                line.outcome, line.note = APPLIED, "已删除（该人员新增、此后无人改动）"
                res.changes.remove(t, m.rid)
            res.lines.append(line)


def _merge_record(res: CollectResult, person: str, tdef: L.TableDef, rec_id: str, diffs: dict, master,
                  managed: set, prefer_theirs: bool, scope: set) -> None:
    t = tdef.name
    mvals = _read(master, diffs) if master is not None else None
    for k, (b, v) in diffs.items():
        m = mvals.get(k) if mvals is not None else None
        line = Line(person, t, rec_id, k, b, v, m, "")
        if k in managed:
            line.outcome, line.note = REFUSED, "该字段由经理或程序维护，个人工作簿中的修改不采用"
        elif k == "customer_id" and v not in scope:
            line.outcome, line.note = REFUSED, f"客户 {v} 不是 {person} 负责的客户"
        elif mvals is None:
            line.outcome, line.note = CONFLICT, "主工作簿中这条记录已被删除"
        elif same(m, v):
            line.outcome = UNCHANGED
        elif same(m, b):
            line.outcome = APPLIED
            res.changes.update(t, master.rid, k, v)
        elif prefer_theirs:
            line.outcome, line.note = APPLIED, "两边都改了：按 --prefer theirs 采用返回值"
            res.changes.update(t, master.rid, k, v)
        else:
            line.outcome, line.note = CONFLICT, "分发后主工作簿和返回的工作簿都改了这一格：保留主工作簿的值"
        res.lines.append(line)


def _new_record(res: CollectResult, person: str, tdef: L.TableDef, rec_id: str | None, values: dict, master: dict,
                created: dict, scope: set, ids: _Ids, idmap: dict, ledger, managed: set) -> None:
    t = tdef.name
    given = {k: v for k, v in values.items() if v not in (None, "")}
    if not given and not rec_id:
        return
    fp = fingerprint(t, {**given, "id": rec_id})
    known = created.get(fp)
    if known is not None:  # the same new row, collected before
        if rec_id:
            idmap[(t, rec_id)] = known
        res.lines.append(Line(person, t, known, None, None, given, None, UNCHANGED, "已在上次汇总时新增",
                              cells=max(len(given), 1)))
        return
    if tdef is C and rec_id and rec_id in master:  # someone else's customer copied in: never a second one
        res.lines.append(Line(person, t, rec_id, None, None, given, None, REFUSED,
                              f"客户 {rec_id} 不是 {person} 负责的客户（主工作簿中已有），未采用", cells=max(len(given), 1)))
        return
    if tdef is not C:
        cid = idmap.get((C.name, values.get("customer_id")), values.get("customer_id"))
        if cid not in scope:
            res.lines.append(Line(person, t, rec_id, None, None, given, None, REFUSED,
                                  f"客户 {values.get('customer_id') or '（空）'} 不是 {person} 负责的客户，未采用",
                                  cells=max(len(given), 1)))
            return
        values = {**values, "customer_id": cid}
        given["customer_id"] = cid
    dropped = [k for k in given if k in managed and not (tdef is C and k == "manager" and given[k] == person)]
    if tdef.id_prefix:
        new_id = ids.new(t)
    elif rec_id and rec_id not in ids.taken[t]:  # an invoice keeps its number
        new_id = rec_id
        ids.taken[t].add(new_id)
    else:
        why = "单据号为空" if not rec_id else f"单据号 {rec_id} 在主工作簿中已存在"
        res.lines.append(Line(person, t, rec_id, None, None, given, None, REFUSED, f"{why}：请填写新的单据号",
                              cells=max(len(given), 1)))
        return
    row = {k: v for k, v in values.items() if k not in managed}
    row[tdef.id_key] = new_id
    if tdef is C:
        row["manager"] = values.get("manager") or person
        scope.add(new_id)
    res.changes.add(t, row)
    if rec_id:
        idmap[(t, rec_id)] = new_id
    ledger.remember_created(person, t, fp, new_id)
    kept = len(given) - len(dropped)
    res.lines.append(Line(person, t, new_id, None, None, given, None, APPLIED,
                          "新增记录" + (f"（原编号 {rec_id}）" if rec_id and rec_id != new_id else ""), cells=kept))
    for k in dropped:
        res.lines.append(Line(person, t, new_id, k, None, given[k], None, REFUSED,
                              "该字段由经理或程序维护，新增记录中的值不采用"))


# -- 转交 -----------------------------------------------------------------------------
@dataclass
class ReassignResult:
    moved: list[tuple[str, str | None]] = field(default_factory=list)  # (customer id, name)

    def summary_lines(self, src: str, dst: str) -> list[str]:
        return [f"已将 {len(self.moved)} 户客户从 {src} 转交给 {dst}："
                + "、".join(f"{i} {n or ''}".strip() for i, n in self.moved[:50])
                + ("…" if len(self.moved) > 50 else "")]


def reassign(store, src: str, dst: str, customers: Iterable[str] | None = None) -> ReassignResult:
    wanted = {c.strip() for c in customers or () if c.strip()}
    res = ReassignResult()
    with store:
        data = store.load(Needs({C.name: EVERYTHING}))
        ch = ChangeSet()
        found = set()
        for c in data.customers:
            if c.manager == src and (not wanted or c.id in wanted):
                ch.update(C.name, c.rid, "manager", dst)
                res.moved.append((c.id, c.name))
                found.add(c.id)
        if wanted - found:
            raise BadArgument(None, f"以下客户不存在或不由 {src} 负责：{'、'.join(sorted(wanted - found))}，未转交任何客户",
                              f"not customers of {src}: {', '.join(sorted(wanted - found))}; nothing moved")
        if not res.moved:
            raise BadArgument(None, f"{src} 没有负责的客户，未转交", f"{src} has no customers; nothing moved")
        ch.status = f"{dt.datetime.now():%Y-%m-%d %H:%M} 转交：{len(res.moved)} 户客户 {src} → {dst}"
        store.apply(ch)
    return res
