"""Team mode (PRODUCT.md §11): distribute, edit the way people edit, collect — three ways,
cell by cell, nothing lost, nothing applied twice, nobody's data leaked."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile

import openpyxl
import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import new_book, run_collect, run_distribute, run_reassign
from kam_xl.services.team import APPLIED, CONFLICT, REFUSED, UNCHANGED
from kam_xl.store import EVERYTHING, Needs, Read
from kam_xl.store.ledger import FolderLedger
from kam_xl.workbook import columns, store as store_mod
from kam_xl.workbook.store import FileStore
from kam_xl.workbook.team import identity
from tests.helpers import table_records
from tests.variants import add_rows, parts, rewrite

C, V = L.CUSTOMERS, L.VISITS
ALL = Needs({**{t.name: EVERYTHING for t in (C, V, L.RECEIVABLES)},
             **{t.name: Read(optional=True) for t in L.PROCEDURE_TABLES}})


@pytest.fixture(scope="module")
def _demo(tmp_path_factory):
    return new_book(tmp_path_factory.mktemp("team") / "大客户管理.xlsm", demo=True, n_customers=60)


@pytest.fixture
def team(_demo, tmp_path):
    master = tmp_path / "大客户管理.xlsm"
    shutil.copy2(_demo, master)
    out = tmp_path / "分发"
    out.mkdir()
    return master, out


def _books(res):
    return {s.person: s.path for s in res.sent}


def _cell(wb, tdef, rec_id, key):
    ws = wb[tdef.sheet]
    heads = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[heads.index(tdef.header(tdef.id_key))].value == rec_id:
            return row[heads.index(tdef.header(key))]
    raise KeyError(rec_id)


def _append(wb, tdef, values: dict):
    """A row typed into the table's next row, the table grown (what Excel does)."""
    ws = wb[tdef.sheet]
    t = ws.tables[tdef.name]
    m = re.fullmatch(r"([A-Z]+)(\d+):([A-Z]+)(\d+)", t.ref)
    r = int(m[4]) + 1
    heads = [c.value for c in ws[1]]
    for k, v in values.items():
        ws.cell(r, heads.index(tdef.header(k)) + 1).value = v
    t.ref = f"{m[1]}{m[2]}:{m[3]}{r}"
    if t.autoFilter is not None:
        t.autoFilter.ref = t.ref


def _delete(wb, tdef, rec_id):
    """A table row deleted (the rows below move up, the table shrinks)."""
    ws = wb[tdef.sheet]
    cell = _cell(wb, tdef, rec_id, tdef.id_key)
    t = ws.tables[tdef.name]
    m = re.fullmatch(r"([A-Z]+)(\d+):([A-Z]+)(\d+)", t.ref)
    ws.delete_rows(cell.row)
    t.ref = f"{m[1]}{m[2]}:{m[3]}{int(m[4]) - 1}"
    if t.autoFilter is not None:
        t.autoFilter.ref = t.ref


def _differing_cells(master, book, person) -> int:
    """An independent count of the cells a returned book changed against its base."""
    from kam_xl.services.team import TEAM_TABLES, fields_of
    from kam_xl.store.merge import same
    base = FolderLedger(master).base(person, 1)
    got = FileStore(book, full_reads=True).load(ALL)
    n = 0
    for tdef in TEAM_TABLES:
        sent = base.get(tdef.name, {})
        returned = got.records_of(tdef.name) or []
        ids = set()
        for r in returned:
            vals = fields_of(r, tdef)
            if r.id in sent:
                ids.add(r.id)
                n += sum(1 for k, v in vals.items() if not same(v, sent[r.id].get(k)))
            else:
                n += max(sum(1 for v in vals.values() if v not in (None, "")), 1)
        n += len(set(sent) - ids)
    return n


def _master(master):
    return FileStore(master, full_reads=True).load(ALL)


def test_distribute_writes_one_book_per_person_with_only_their_data(team):
    master, out = team
    res = run_distribute(master, out)
    data = _master(master)
    people = sorted({c.manager for c in data.customers if c.manager})
    assert sorted(_books(res)) == people
    ledger = FolderLedger(master)
    for person, book in _books(res).items():
        mine = {c.id for c in data.customers if c.manager == person}
        got = FileStore(book, full_reads=True).load(ALL)
        assert {c.id for c in got.customers} == mine
        for t in (V, L.RECEIVABLES, L.CERTIFICATIONS, L.COMPLAINTS, L.SURVEYS):
            rows = got.records_of(t.name)
            assert {r.customer_id for r in rows} <= mine  # nobody else's rows
            assert len(rows) == sum(1 for r in data.records_of(t.name) if r.customer_id in mine and r.id)
        assert identity(book) == (ledger.master_id, person, 1)
        wb = openpyxl.load_workbook(book, keep_vba=True)
        assert wb.sheetnames[1] == "我的待办" and str(wb["我的待办"]["A2"].value).startswith("=")
        assert wb[L.SHEET_RULES].protection.sheet  # the rules are the manager's
        assert ledger.base(person, 1)[C.name].keys() == mine
        assert zipfile.ZipFile(book).read("xl/vbaProject.bin")  # the buttons' macros travel with it
    # every name, phone and id of a customer is in exactly one book
    seen = {}
    for person, book in _books(res).items():
        for c in FileStore(book).load(Needs({C.name: EVERYTHING})).customers:
            assert c.id not in seen
            seen[c.id] = person


@pytest.mark.parametrize("big_sheet_paths", [False, True], ids=["", "big-sheet-paths"])
def test_a_season_of_team_work_loses_nothing_and_applies_nothing_twice(team, capsys, big_sheet_paths, monkeypatch):
    master, out = team
    if big_sheet_paths:  # every sheet read by the column reader and patched as a stream (only big ones are)
        monkeypatch.setattr(columns, "MIN_BYTES", 0)
        monkeypatch.setattr(store_mod, "STREAM_PART", 0)
    books = _books(run_distribute(master, out))
    a, b = sorted(books)[:2]
    data = _master(master)
    a_customers = [c for c in data.customers if c.manager == a]
    b_customers = [c for c in data.customers if c.manager == b]
    a1, a2 = a_customers[0], a_customers[1]
    b1 = b_customers[0]
    b_visit = next(v for v in data.visits if v.customer_id in {c.id for c in b_customers})

    # person A: a phone, a tier (not theirs to change), a new customer with a visit linked to it
    wb = openpyxl.load_workbook(books[a], keep_vba=True)
    _cell(wb, C, a1.id, "phone").value = "13900000001"
    _cell(wb, C, a2.id, "tier").value = "A1" if a2.tier != "A1" else "B2"
    _append(wb, C, {"id": "NEW-1", "name": "苏州新华精工有限公司", "manager": a, "volume": 50000})
    _append(wb, V, {"customer_id": "NEW-1", "method": "实地拜访", "planned_date": dt.date(2026, 11, 20),
                    "state": "草稿", "staff": a})
    wb.save(books[a])
    # … and a visit typed under the visits table without the table grown (WPS, LibreOffice)
    part, _, (c1, r1, c2, r2) = parts(books[a], V.name)
    heads = V.headers
    row = {c1 + heads.index("客户编号"): a1.id, c1 + heads.index("拜访方式"): "电话回访",
           c1 + heads.index("状态"): "草稿", c1 + heads.index("计划日期"): "2026-11-25"}
    rewrite(books[a], {part: lambda x: add_rows(x, {r2 + 1: row})})

    # person B: a phone the manager also changes, a visit deleted (not theirs to delete), a customer deleted
    wb = openpyxl.load_workbook(books[b], keep_vba=True)
    _cell(wb, C, b1.id, "phone").value = "13800000002"
    _delete(wb, V, b_visit.id)
    _delete(wb, C, b_customers[1].id)
    wb.save(books[b])

    # the manager, meanwhile, in the master
    wb = openpyxl.load_workbook(master, keep_vba=True)
    _cell(wb, C, b1.id, "phone").value = "021-88888888"
    wb.save(master)

    expected = sum(_differing_cells(master, books[p], p) for p in books)
    assert main(["collect", str(master), str(out)]) == 1  # conflicts and refusals: exit 1
    text = capsys.readouterr().out
    res = run_collect(master, [out])  # the same books again: nothing new
    counts = res.counts()
    assert counts[APPLIED] == 0 and counts[UNCHANGED] > 0
    # applied + conflicts + refused + unchanged = every cell that differs from the base
    assert sum(counts[o] for o in (APPLIED, CONFLICT, REFUSED, UNCHANGED)) == expected > 10
    after = _master(master)
    cust = {c.id: c for c in after.customers}
    assert cust[a1.id].phone == "13900000001"
    assert cust[a2.id].tier == a2.tier  # refused
    new = [c for c in after.customers if c.name == "苏州新华精工有限公司"]
    assert len(new) == 1 and new[0].id.startswith("KH") and new[0].manager == a  # one, with a master id
    linked = [v for v in after.visits if v.customer_id == new[0].id]
    assert len(linked) == 1 and linked[0].id.startswith("BF")  # the link to the new customer kept
    assert any(v.customer_id == a1.id and v.method == "电话回访" and v.planned_date == dt.date(2026, 11, 25)
               for v in after.visits)  # the row typed under the table
    assert cust[b1.id].phone == "021-88888888"  # conflict: the master's value stays
    assert any(v.id == b_visit.id for v in after.visits)  # not B's to delete
    assert b_customers[1].id in cust  # a customer is never deleted by a collect
    assert f"冲突：{b} 客户档案 {b1.id} 联系电话" in text and f"拒绝：{a} 客户档案 {a2.id} 客户等级" in text
    # every cell that differs from the base is accounted for, once
    report = openpyxl.load_workbook(res.report_path)["汇总报告"]
    assert "已应用 0" in report["A2"].value
    # --prefer theirs: the conflict goes B's way
    res = run_collect(master, [books[b]], prefer_theirs=True)
    assert {c.id: c for c in _master(master).customers}[b1.id].phone == "13800000002"

    # round 2: A deletes the visit A created in round 1 — theirs to delete, nobody changed it
    books2 = _books(run_distribute(master, out, people=[a]))
    wb = openpyxl.load_workbook(books2[a], keep_vba=True)
    _delete(wb, V, linked[0].id)
    wb.save(books2[a])
    res = run_collect(master, [books2[a]])
    assert any(line.outcome == APPLIED and line.record_id == linked[0].id for line in res.lines)
    assert not any(v.id == linked[0].id for v in _master(master).visits)
    # an older round's book still merges against its own base: nothing new in it now
    res = run_collect(master, [books[a]])
    assert res.counts()[APPLIED] == 0


def test_reassigned_customers_are_collected_from_the_book_still_out(team):
    master, out = team
    books = _books(run_distribute(master, out))
    a, b = sorted(books)[:2]
    moved = next(c for c in _master(master).customers if c.manager == a)
    wb = openpyxl.load_workbook(books[a], keep_vba=True)
    _cell(wb, C, moved.id, "contact").value = "新联系人"
    wb.save(books[a])
    run_reassign(master, a, b, [moved.id])
    res = run_collect(master, [books[a]])
    after = {c.id: c for c in _master(master).customers}
    assert after[moved.id].manager == b and after[moved.id].contact == "新联系人"
    assert res.moved == {moved.id: b} and any(f"{moved.id}→{b}" in line for line in res.summary_lines())


def test_a_book_of_another_master_or_not_distributed_is_refused_and_nothing_written(team, tmp_path, capsys):
    master, out = team
    run_distribute(master, out)
    other = tmp_path / "其他" / "别家.xlsm"
    other.parent.mkdir()
    shutil.copy2(master, other)
    shutil.rmtree(other.with_name("别家_分发"), ignore_errors=True)
    out2 = tmp_path / "其他分发"
    out2.mkdir()
    foreign = next(iter(_books(run_distribute(other, out2)).values()))
    before = master.read_bytes()
    assert main(["collect", str(master), str(foreign)]) == 2
    assert "另一个主工作簿" in capsys.readouterr().err
    assert main(["collect", str(master), str(master.with_name("x.xlsm"))]) == 2
    plain = tmp_path / "plain.xlsm"
    shutil.copy2(master, plain)
    assert main(["collect", str(master), str(plain)]) == 2
    assert "不是由“分发”生成" in capsys.readouterr().err
    assert master.read_bytes() == before


def test_collect_before_any_distribute_and_unknown_people_are_clear_refusals(team, capsys):
    master, out = team
    assert main(["collect", str(master), str(out)]) == 2
    assert "还没有分发过" in capsys.readouterr().err
    assert main(["distribute", str(master), "--out", str(out), "--people", "不存在的人"]) == 2
    assert "没有负责的客户" in capsys.readouterr().err
    assert main(["reassign", str(master), "--from", "不存在的人", "--to", "张伟"]) == 2


def test_rows_typed_without_ids_are_numbered_in_the_master_before_they_go_out(team):
    master, out = team
    part, _, (c1, r1, c2, r2) = parts(master, V.name)
    cid = _master(master).customers[0]
    rewrite(master, {part: lambda x: add_rows(x, {r2 + 1: {c1 + 1: cid.id, c1 + V.headers.index("状态"): "草稿"}})})
    res = run_distribute(master, out)
    assert res.master_ids == 1
    ids = [r["拜访编号"] for r in table_records(master, V.sheet, V.name)]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_person_name_is_never_a_path_and_a_lost_table_is_accounted_for(team):
    master, out = team
    wb = openpyxl.load_workbook(master, keep_vba=True)
    ws = wb[C.sheet]
    heads = [c.value for c in ws[1]]
    ws.cell(2, heads.index("客户经理") + 1).value = "../../逃逸/张三"
    wb.save(master)
    books = _books(run_distribute(master, out))
    folder = master.with_name(master.stem + "_分发")
    outside = [p for p in master.parent.rglob("*.json.gz") if folder not in p.parents]
    assert outside == [] and books["../../逃逸/张三"].parent == out  # the book and the base stay in their folders
    # a book returned without its 满意度调查 sheet: its surveys are neither taken nor deleted, and counted
    person = next(p for p in books if p != "../../逃逸/张三")
    wb = openpyxl.load_workbook(books[person], keep_vba=True)
    del wb[L.SURVEYS.sheet]
    wb.save(books[person])
    sent = len(FolderLedger(master).base(person, 1)[L.SURVEYS.name])
    before = len(_master(master).surveys)
    res = run_collect(master, [books[person]])
    assert sent > 0 and res.counts()[REFUSED] == sent == _differing_cells(master, books[person], person)
    assert len(_master(master).surveys) == before


def test_a_master_distributed_in_batches_sends_the_same_books(team, tmp_path, monkeypatch):
    """A big master is read once per batch of people (only that batch's records held): the
    books and bases are the same as from one read; rows without ids are numbered first."""
    from kam_xl.services import team as team_service
    master, out = team
    part, _, (c1, r1, c2, r2) = parts(master, V.name)
    cid = _master(master).customers[0]
    rewrite(master, {part: lambda x: add_rows(x, {r2 + 1: {c1 + 1: cid.id, c1 + V.headers.index("状态"): "草稿"}})})
    other = tmp_path / "批次" / master.name
    other.parent.mkdir()
    shutil.copy2(master, other)
    (tmp_path / "批次分发").mkdir()
    whole = run_distribute(master, out)
    monkeypatch.setattr(team_service, "BATCH_CUSTOMERS", 7)
    assert len(team_service._batches(sorted(_books(whole)), {p: [0] * 6 for p in _books(whole)}, 7)) > 1
    batched = run_distribute(other, tmp_path / "批次分发")
    assert batched.master_ids == whole.master_ids == 1
    assert [(s.person, s.customers, s.rows) for s in batched.sent] == [(s.person, s.customers, s.rows)
                                                                      for s in whole.sent]
    a, b = FolderLedger(master), FolderLedger(other)
    for s in whole.sent:
        assert a.base(s.person, 1) == b.base(s.person, 1)
        mine = FileStore(_books(batched)[s.person], full_reads=True).load(ALL)
        theirs = FileStore(s.path, full_reads=True).load(ALL)
        for t in (C, V, L.RECEIVABLES):
            assert [r.values() for r in mine.records_of(t.name)] == [r.values() for r in theirs.records_of(t.name)]
