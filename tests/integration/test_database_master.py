"""The master in a database (PRODUCT.md §12), SQLite and a real PostgreSQL server alike: the
same actions as on the workbook give the same results; load is idempotent; export writes a
master workbook back; every apply is one transaction and a write after someone else's is
refused (no lost update)."""
from __future__ import annotations

import shutil

import pytest

from kam_xl import layout as L
from kam_xl.cli import main
from kam_xl.files import db_export, db_load, run_collect, run_distribute, run_regrade, run_validate
from kam_xl.store import EVERYTHING, ChangeSet, Needs
from kam_xl.store.sql import DatabaseChanged, open_database
from kam_xl.workbook.store import FileStore
from tests.conftest import AS_OF
from tests.tools import pg

SqlStore = open_database

ALL = Needs({t.name: EVERYTHING for t in (L.CUSTOMERS, L.VISITS, L.RECEIVABLES, L.TIER_RULES, *L.PROCEDURE_TABLES)})


@pytest.fixture(scope="module")
def pg_server():
    if not pg.available():
        pytest.skip("PostgreSQL (initdb, pg_ctl) or psycopg not installed (.ci/run)")
    server = pg.Server().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, demo_book, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a server database's outputs go in the current folder
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / '大客户管理.db'}"
    else:
        url = request.getfixturevalue("pg_server").new_database()
    assert main(["db", "init", url]) == 0
    assert main(["db", "load", url, str(demo_book)]) == 0
    return url


def _same_records(a, b):
    for t in (L.CUSTOMERS, L.VISITS, L.RECEIVABLES, *L.PROCEDURE_TABLES):
        ra = [r.values() for r in a.records_of(t.name)]
        rb = [r.values() for r in b.records_of(t.name)]
        assert ra == rb, t.name


def test_a_loaded_database_holds_the_book_and_loading_again_changes_nothing(db, demo_book):
    book = FileStore(demo_book, full_reads=True).load(ALL, AS_OF)
    sql = SqlStore(db).load(ALL, AS_OF)
    _same_records(book, sql)
    assert sql.settings == book.settings and [r.values() for r in sql.rules] == [r.values() for r in book.rules]
    db_load(db, demo_book)
    _same_records(book, SqlStore(db).load(ALL, AS_OF))


def test_regrade_and_validate_on_the_database_equal_the_workbook(db, demo_book):
    """The book's file store grades the second half of the customers in a second process begun while
    it loads; a database begins nothing and grades every customer here: the same moves and tiers."""
    from kam_xl.services import actions, regrade as regrade_mod
    from kam_xl.workbook import parallel
    with FileStore(demo_book) as book_store:
        begun = set(book_store.load(actions.REGRADE_NEEDS, AS_OF).begun)
    assert begun == ({regrade_mod.SECOND_HALF} if parallel.CAN_FORK else set())
    with SqlStore(db) as db_store:
        assert db_store.load(actions.REGRADE_NEEDS, AS_OF).begun == {}
    on_book = run_regrade(demo_book, as_of=AS_OF, operator="测试")
    on_db = run_regrade(db, as_of=AS_OF, operator="测试")
    assert [(m.customer_id, m.old, m.new) for m in on_book.moves] == [(m.customer_id, m.old, m.new) for m in on_db.moves]
    assert on_book.by_tier == on_db.by_tier
    tiers = {c.id: c.tier for c in SqlStore(db).load(ALL).customers}
    assert tiers == {c.id: c.tier for c in FileStore(demo_book).load(ALL).customers}
    log = SqlStore(db).records(L.GRADE_LOG.name)
    assert len(log) >= len(on_db.moves) > 0
    v_book, v_db = run_validate(demo_book, as_of=AS_OF), run_validate(db, as_of=AS_OF)
    typed = {f.rule for f in v_book.findings if f.rule.endswith(("-TYPE", "-ENUM")) or f.rule == "CELL-ERROR-VALUE"}
    assert sorted((f.rule, f.customer_id) for f in v_book.findings if f.rule not in typed) == \
        sorted((f.rule, f.customer_id) for f in v_db.findings)
    assert len(SqlStore(db).rows(L.ISSUES.name)) == len(v_db.findings)


def test_export_writes_a_master_workbook_the_file_store_reads_back(db, tmp_path):
    out = tmp_path / "导出.xlsm"
    assert main(["export", db, str(out)]) == 0
    _same_records(SqlStore(db).load(ALL, AS_OF), FileStore(out, full_reads=True).load(ALL, AS_OF))
    person = SqlStore(db).load(ALL).customers[0].manager
    one = db_export(db, tmp_path / "一人.xlsm", people=[person])
    got = FileStore(one).load(ALL)
    assert got.customers and {c.manager for c in got.customers} == {person}
    assert {v.customer_id for v in got.visits} <= {c.id for c in got.customers}


def test_a_write_after_someone_elses_is_refused_and_nothing_is_half_written(db):
    a, b = SqlStore(db), SqlStore(db)
    da, db_ = a.load(ALL), b.load(ALL)
    ch = ChangeSet()
    ch.update(L.CUSTOMERS.name, da.customers[0].rid, "phone", "13900000000")
    a.apply(ch)
    ch2 = ChangeSet()
    ch2.update(L.CUSTOMERS.name, db_.customers[1].rid, "phone", "13800000000")
    ch2.add(L.VISITS.name, {"id": "BF999999", "customer_id": db_.customers[1].id})
    with pytest.raises(DatabaseChanged):
        b.apply(ch2)
    after = SqlStore(db).load(ALL)
    assert after.customers[0].phone == "13900000000" and after.customers[1].phone != "13800000000"
    assert not any(v.id == "BF999999" for v in after.visits)


def test_team_mode_on_the_database(db, tmp_path, monkeypatch):
    """The bases live in the database: the manager collects from another folder (another
    machine, for a server) than the one that distributed."""
    import openpyxl

    from kam_xl.store.sql import SqlLedger
    out = tmp_path / "分发"
    out.mkdir()
    books = {s.person: s.path for s in run_distribute(db, out).sent}
    assert not list(tmp_path.glob("*_分发"))  # nothing beside the database
    ledger = SqlLedger(SqlStore(db))
    assert all(ledger.has_base(p, 1) for p in books)
    elsewhere = tmp_path / "经理的电脑"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    person, book = next(iter(books.items()))
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb["客户档案"]
    heads = [c.value for c in ws[1]]
    cid = ws.cell(2, heads.index("客户编号") + 1).value
    ws.cell(2, heads.index("联系人") + 1).value = "数据库联系人"
    wb.save(book)
    res = run_collect(db, [book])
    assert res.counts()["已应用"] == 1
    assert {c.id: c.contact for c in SqlStore(db).load(ALL).customers}[cid] == "数据库联系人"


def test_a_missing_database_is_a_clear_refusal(tmp_path, capsys):
    assert main(["regrade", f"sqlite:///{tmp_path / 'nope.db'}"]) == 2
    assert "找不到数据库文件" in capsys.readouterr().err
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_migrations_make_exactly_the_schema_of_layout(db):
    """Alembic's head equals the schema made from layout.py: a column added to the layout
    without a migration fails here."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kam_xl.store.schema import metadata
    from kam_xl.store.sql import HEAD, VERSION_TABLE
    store = SqlStore(db)
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,
                                                     "compare_type": True})
        assert ctx.get_current_revision() == HEAD
        diffs = compare_metadata(ctx, metadata)
        assert sa.inspect(conn).has_table(L.CUSTOMERS.name)
    store.close()
    assert diffs == [], diffs


def test_an_older_database_is_refused_until_upgraded(tmp_path, demo_book, capsys):
    """A database made by the previous version (revision 0001: no team tables) and one made
    before migrations existed (no version recorded): each refused by name until `db upgrade`."""
    import sqlite3

    import sqlalchemy as sa
    from alembic import command

    from kam_xl.store.sql import VERSION_TABLE, _alembic
    for case in ("0001", "unversioned"):
        url = f"sqlite:///{tmp_path / f'旧{case}.db'}"
        assert main(["db", "init", url]) == 0
        assert main(["db", "load", url, str(demo_book)]) == 0
        engine = sa.create_engine(url)
        with engine.begin() as conn:  # back to what the older version made
            command.downgrade(_alembic(conn), "0001")
        engine.dispose()
        if case == "unversioned":
            with sqlite3.connect(tmp_path / f"旧{case}.db") as c:
                c.execute(f"DROP TABLE {VERSION_TABLE}")
        capsys.readouterr()
        assert main(["regrade", url]) == 2
        err = capsys.readouterr().err
        assert "旧版本" in err and "kam-xl db upgrade" in err and "older" in err
        assert main(["db", "upgrade", url]) == 0
        assert "升级到" in capsys.readouterr().out
        assert main(["db", "upgrade", url]) == 0 and "已是最新版本" in capsys.readouterr().out
        assert main(["regrade", url]) in (0, 1)
        assert main(["distribute", url, "--out", str(tmp_path)]) == 0  # the team tables are there now


def test_a_file_that_is_no_kam_database_and_a_server_that_is_not_there(tmp_path, capsys):
    import sqlite3
    other = tmp_path / "别的.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    assert main(["validate", f"sqlite:///{other}"]) == 2
    assert "不是大客户管理的数据库" in capsys.readouterr().err
    assert main(["validate", "postgresql://nobody@127.0.0.1:1/kam"]) == 2
    err = capsys.readouterr().err
    assert "无法连接 PostgreSQL" in err and "cannot connect" in err and "Traceback" not in err


def test_two_imports_at_once_in_real_processes_lose_nothing(db, tmp_path):
    """Two `kam-xl import` processes on the same database at the same moment: each applies
    whole or is refused whole (DatabaseChanged, exit 2) — never half, never a lost update."""
    import subprocess
    import sys
    from tests.integration.test_import_round3 import _csv
    sources = []
    for k in range(2):
        sources.append(_csv(tmp_path / f"新客户{k}.csv", [["客户名称", "年用量"]] +
                            [[f"并发{k}号{i}有限公司", "30万"] for i in range(40)]))
    procs = [subprocess.Popen([sys.executable, "-m", "kam_xl.cli", "import", db, str(src)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for src in sources]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    names = {c.name for c in SqlStore(db).load(ALL).customers}
    for k, (code, err) in enumerate(results):
        mine = {f"并发{k}号{i}有限公司" for i in range(40)}
        if code == 0:
            assert mine <= names
        else:
            assert code == 2 and "数据库在读取后被其他操作修改" in err, err
            assert not (mine & names)  # nothing of a refused import
    assert any(code == 0 for code, _ in results)


def test_an_import_killed_in_the_middle_of_its_write_leaves_nothing(pg_server, demo_book, tmp_path, monkeypatch):
    """A real process killed while its transaction has written rows: the server rolls it back.
    The test holds a lock on the import log the import replaces last, so the import waits there
    with its new customers written but not committed; it is killed with SIGKILL."""
    import signal
    import subprocess
    import sys
    import time

    import psycopg

    from tests.integration.test_import_round3 import _csv
    monkeypatch.chdir(tmp_path)
    url = pg_server.new_database()
    assert main(["db", "init", url]) == 0
    assert main(["db", "load", url, str(demo_book)]) == 0
    before = {c.name for c in SqlStore(url).load(ALL).customers}
    src = _csv(tmp_path / "新客户.csv", [["客户名称", "年用量"]] + [[f"中断{i}有限公司", "30万"] for i in range(50)])
    with psycopg.connect(url) as holder:
        holder.execute(f'LOCK TABLE "{L.IMPORT_LOG.name}" IN ACCESS EXCLUSIVE MODE')
        proc = subprocess.Popen([sys.executable, "-m", "kam_xl.cli", "import", url, str(src)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with psycopg.connect(url, autocommit=True) as watch:
            for _ in range(600):  # until the import waits on the lock, its customers inserted
                waiting = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type='Lock' "
                                        "AND datname=current_database()").fetchone()[0]
                if waiting or proc.poll() is not None:
                    break
                time.sleep(0.1)
            assert waiting, proc.stderr.read() if proc.poll() is not None else "the import never waited"
            stuck = watch.execute("SELECT query FROM pg_stat_activity WHERE wait_event_type='Lock' "
                                  "AND datname=current_database()").fetchone()[0]
            assert stuck.startswith("DELETE"), stuck  # its write under way: the rows before it are in
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        holder.rollback()
    after = {c.name for c in SqlStore(url).load(ALL).customers}
    assert after == before  # none of its rows
    assert main(["import", url, str(src)]) == 0  # and the same import, run again, applies whole
    assert {f"中断{i}有限公司" for i in range(50)} <= {c.name for c in SqlStore(url).load(ALL).customers}


def test_a_database_of_a_newer_version_is_refused_not_called_older(tmp_path, capsys):
    import sqlalchemy as sa

    from kam_xl.store.sql import VERSION_TABLE
    url = f"sqlite:///{tmp_path / '新.db'}"
    assert main(["db", "init", url]) == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num='9999'"))
    engine.dispose()
    capsys.readouterr()
    assert main(["validate", url]) == 2
    err = capsys.readouterr().err
    assert "更新版本的程序" in err and "newer version" in err


def test_the_databases_narrow_reads_give_what_whole_reads_give(db):
    """The database selects what an action's needs declare — the credit window's receivables
    for regrade, the fields validate keeps, only the columns the rules' 附加条件 name — and
    the results equal those of reading every table whole, a condition on a user's own
    column and on a layout column included."""
    import datetime as dt
    import json

    import sqlalchemy as sa

    from kam_xl.services import actions
    from kam_xl.store.schema import EXTRAS, tables

    store = SqlStore(db)
    cust, rules = tables[L.CUSTOMERS.name], tables[L.TIER_RULES.name]
    with store.engine.begin() as conn:
        conn.execute(rules.update().where(rules.c.tier == "A1").values(extra="集团客户=是；满意度>=60"))
        rids = [r for (r,) in conn.execute(sa.select(cust.c.rid).order_by(cust.c.rid))]
        conn.execute(cust.update().where(cust.c.rid == sa.bindparam("r")).values({EXTRAS: sa.bindparam("x")}),
                     [{"r": r, "x": json.dumps({"集团客户": "是" if i % 2 else "否"}, ensure_ascii=False)}
                      for i, r in enumerate(rids)])
    whole = Needs({**{n: EVERYTHING for n in actions.REGRADE_NEEDS.tables},
                   L.CUSTOMERS.name: EVERYTHING.__class__(rows=True)}, views=actions.REGRADE_NEEDS.views)
    now = dt.datetime(2026, 11, 1, 9, 0)
    narrow = SqlStore(db).load(actions.REGRADE_NEEDS, AS_OF)
    full = SqlStore(db).load(whole, AS_OF)
    assert sum(1 for _ in narrow.receivables) < len(full.receivables)  # the window: older invoices not read
    assert [r.customer_id for r in narrow.receivables] == sorted(r.customer_id for r in narrow.receivables)
    a, b = actions.regrade(narrow, "测试", now=now), actions.regrade(full, "测试", now=now)
    assert a.changes == b.changes and a.moves == b.moves and a.by_tier == b.by_tier
    left = {m.customer_id for m in a.moves if m.old == "A1"}
    no = {c.id for c in full.customers if c.tier == "A1" and full.customer_extra(c)["集团客户"] == "否"}
    assert no and no <= left  # every A1 the condition excludes leaves A1
    assert all(narrow.customer_extra(c)["集团客户"] == full.customer_extra(c)["集团客户"] for c in narrow.customers)
    streamed_store = SqlStore(db)
    streamed = streamed_store.load(actions.VALIDATE_NEEDS, AS_OF)
    assert not isinstance(streamed.visits, list)  # validate's visits: read as they are gone through
    assert [v.rid for v in streamed.visits] == [v.rid for v in streamed.visits] == \
        [v.rid for v in full_store_visits(db)]  # every pass the same records, in order
    v_narrow = actions.validate(streamed, now=now)
    streamed_store.close()
    with pytest.raises(RuntimeError, match="stream"):
        list(streamed.visits)  # never read after its transaction ended
    v_full = actions.validate(SqlStore(db).load(Needs({n: EVERYTHING for n in actions.VALIDATE_NEEDS.tables}), AS_OF),
                              now=now)
    assert v_narrow.findings == v_full.findings and v_narrow.changes == v_full.changes


def full_store_visits(url):
    return SqlStore(url).load(Needs({L.VISITS.name: EVERYTHING}), AS_OF).visits


def test_the_report_from_the_databases_streamed_visits_equals_the_whole_read(db, demo_book):
    """The report goes through the visits and the invoices as streams (never all in memory; the
    invoices once, for their frame and the dunning list): its figures equal those of the tables
    read whole.  Its needs name the passes a file store begins in second processes while loading
    (report_needs): a database begins none, the sections make them, and the figures equal those
    the book's own file store gives with its passes begun beside."""
    import pandas as pd

    from kam_xl.reports import builders, service as report_service
    from kam_xl.services import actions
    from kam_xl.workbook import parallel

    store = SqlStore(db)
    streamed = store.load(report_service.report_needs(actions.REPORT_NEEDS), AS_OF)
    assert not isinstance(streamed.visits, list) and not isinstance(streamed.receivables, list)
    assert streamed.begun == {}
    fast = report_service.sections(streamed, None)
    store.close()
    whole = Needs({**{n: EVERYTHING for n in actions.REPORT_NEEDS.tables}})
    full = report_service.sections(SqlStore(db).load(whole, AS_OF), None)
    with FileStore(demo_book) as book_store:
        in_book = book_store.load(report_service.report_needs(actions.REPORT_NEEDS), AS_OF)
        assert set(in_book.begun) == ({b.name for b in builders.BESIDE} if parallel.CAN_FORK else set())
        from_book = report_service.sections(in_book, None)
    assert [s.sheet for s in fast] == [s.sheet for s in full] == [s.sheet for s in from_book]
    for a, b, c in zip(fast, full, from_book):
        pd.testing.assert_frame_equal(a.frame, b.frame, obj=a.sheet)
        pd.testing.assert_frame_equal(a.frame, c.frame, obj=a.sheet)


def test_a_visit_without_an_id_in_the_database_gets_one_and_is_not_reported_missing(db):
    """A visit row someone put in the database without its 拜访编号: validate (which streams the
    visits) numbers it as on a workbook, every later pass sees the number, and it is stored."""
    import sqlalchemy as sa

    from kam_xl.store.schema import tables

    store = SqlStore(db)
    v = tables[L.VISITS.name]
    with store.engine.begin() as conn:
        rid = conn.execute(sa.select(sa.func.min(v.c.rid))).scalar()
        conn.execute(v.update().where(v.c.rid == rid).values(id=None))
    report = run_validate(db, as_of=AS_OF)
    assert not [f for f in report.findings if f.rule == "VISIT-ID-MISSING"]
    visits = {r.rid: r.id for r in SqlStore(db).load(Needs({L.VISITS.name: EVERYTHING}), AS_OF).visits}
    assert visits[rid] and visits[rid].startswith("BF") and list(visits.values()).count(visits[rid]) == 1


def test_an_import_onto_a_customer_without_an_id_gives_the_same_master_on_every_store(tmp_path, monkeypatch, request):
    """A customer whose 客户编号 a user cleared, then a legacy list naming it with a code: the
    import numbers it first and merges the list into it — the same records on the workbook,
    SQLite and PostgreSQL (the merge sees the number the import just gave, on every store)."""
    import csv

    import openpyxl

    from kam_xl.files import new_book, run_import

    monkeypatch.chdir(tmp_path)
    book = new_book(tmp_path / "master.xlsm")
    src = tmp_path / "客户.csv"
    with open(src, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([["客户编号", "客户名称", "联系人"], ["K1", "甲方有限公司", "张三"],
                                 ["K2", "乙方有限公司", "李四"]])
    run_import(book, [src])
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb[L.CUSTOMERS.sheet]
    head = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2) if r[head.index("客户名称")].value == "乙方有限公司")
    row[head.index("客户编号")].value = None
    wb.save(book)
    legacy = tmp_path / "旧档案.csv"
    with open(legacy, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([["客户编码", "单位名称", "电话"], ["C0103", "乙方有限公司", "13812345678"]])
    urls = [f"sqlite:///{tmp_path / 'a.db'}"]
    if pg.available():
        urls.append(request.getfixturevalue("pg_server").new_database())
    results = {}
    for target in urls:
        assert main(["db", "init", target]) == 0 and main(["db", "load", target, str(book)]) == 0
    for target in [*urls, str(book)]:  # the book last: the databases were loaded from it as it was
        res = run_import(target, [legacy])
        recs = SqlStore(target).load(ALL).customers if target != str(book) else FileStore(book).load(ALL).customers
        results[target] = (res.counts, sorted((c.id, c.name, c.phone, c.contact) for c in recs))
    first = results[str(book)]
    assert all(r == first for r in results.values()), results
    yi = [(cid, phone, contact) for cid, name, phone, contact in first[1] if name == "乙方有限公司"]
    assert len(yi) == 1 and yi[0][0] and yi[0][1:] == ("13812345678", "李四")  # numbered, merged, kept


def test_validate_going_through_invoices_a_customer_at_a_time_equals_validate_on_whole_lists(db):
    """Validate goes through the database's receivables as a stream ordered by customer (one
    customer's invoices held at once) and finds repeated ids by asking the database.  Its
    findings, dunning list and changes equal those of the same tables read whole, in row order
    — also for an invoice id repeated by a later row whose customer sorts first (the later row
    is the repeat, whatever order the invoices were gone through in) and a repeated visit id."""
    import dataclasses

    import sqlalchemy as sa

    from kam_xl.services import actions
    from kam_xl.services.validate import validate
    from kam_xl.store.schema import tables

    store = SqlStore(db)
    r, v = tables[L.RECEIVABLES.name], tables[L.VISITS.name]
    with store.engine.begin() as conn:
        rows = conn.execute(sa.select(r.c.rid, r.c.id, r.c.customer_id).order_by(r.c.rid)).all()
        first = max(rows[:20], key=lambda x: x.customer_id)
        later = next(x for x in rows if x.rid > first.rid and x.customer_id < first.customer_id)
        conn.execute(r.update().where(r.c.rid == later.rid).values(id=first.id))
        vrows = conn.execute(sa.select(v.c.rid, v.c.id).order_by(v.c.rid).limit(5)).all()
        conn.execute(v.update().where(v.c.rid == vrows[4].rid).values(id=vrows[1].id))
    streamed = store.load(actions.VALIDATE_NEEDS, AS_OF)
    assert not isinstance(streamed.receivables, list) and streamed.receivables.order == "customer_id"
    fast = validate(streamed)
    store.close()
    whole = Needs({n: dataclasses.replace(read, stream=False, order=None)
                   for n, read in actions.VALIDATE_NEEDS.tables.items()}, views=actions.VALIDATE_NEEDS.views)
    full_store = SqlStore(db)
    full = validate(full_store.load(whole, AS_OF))
    full_store.close()

    def seen(report):
        return [(f.rule, f.table, f.rid, f.key, f.message) for f in report.report.sorted()]
    assert seen(fast) == seen(full)
    assert fast.dunning == full.dunning and fast.dunning
    assert fast.changes.updates == full.changes.updates
    dups = [f for f in fast.report.findings if f.rule == "RECV-ID-DUP"]
    assert [(f.rid, f.related.rids) for f in dups] == [(later.rid, (first.rid,))]
    vdups = [f for f in fast.report.findings if f.rule == "VISIT-ID-DUP"]
    assert [(f.rid, f.related.rids) for f in vdups] == [(vrows[4].rid, (vrows[1].rid,))]


def test_rows_added_in_bulk_keep_their_values_on_every_engine(db):
    """Rows are added in bulk (PostgreSQL: COPY … FROM STDIN): text with tabs, quotes, line breaks
    and backslashes, a user's own column, dates, amounts, and a whole number held as a float in an
    integer column (a score typed 4.0) come back as they went in."""
    store = SqlStore(db)
    store.load(Needs({L.SURVEYS.name: EVERYTHING}), AS_OF)
    changes = ChangeSet()
    tricky = 'a\tb "c" \\N d\\e\nf，意见'
    changes.add(L.SURVEYS.name, {"id": "MY99999901", "customer_id": "KH000001", "date": AS_OF,
                                 "quality": 4.0, "delivery": 5, "service": None, "suggestions": tricky,
                                 "回访人备注": "电话\t回访"})
    store.apply(changes)
    store.close()
    back = [r for r in SqlStore(db).rows(L.SURVEYS.name) if r[1]["id"] == "MY99999901"]
    assert len(back) == 1
    _, values, extra = back[0]
    assert (values["quality"], values["delivery"], values["service"]) == (4, 5, None)
    assert type(values["quality"]) is int
    assert values["suggestions"] == tricky and values["date"] == AS_OF
    assert extra == {"回访人备注": "电话\t回访"}


def test_rows_the_server_refuses_in_bulk_are_a_clear_refusal_and_nothing_is_written(pg_server, demo_book,
                                                                                      tmp_path, monkeypatch):
    """PostgreSQL refuses a text holding a NUL character (a legacy file can carry one) whether it
    comes as a parameter or through COPY: the bulk path says so as every other database failure
    does (DatabaseFailed: Chinese + English, no driver traceback) and the rows added before it
    in the same write are not kept."""
    from kam_xl.store.sql import DatabaseFailed

    monkeypatch.chdir(tmp_path)
    url = pg_server.new_database()
    assert main(["db", "init", url]) == 0
    assert main(["db", "load", url, str(demo_book)]) == 0
    store = SqlStore(url)
    before = len(store.rows(L.SURVEYS.name)), len(store.rows(L.COMPLAINTS.name))
    store.load(Needs({L.SURVEYS.name: EVERYTHING}), AS_OF)
    changes = ChangeSet()
    changes.add(L.COMPLAINTS.name, {"id": "TS99999901", "customer_id": "KH000001", "date": AS_OF})
    changes.add(L.SURVEYS.name, {"id": "MY99999901", "customer_id": "KH000001", "date": AS_OF,
                                 "suggestions": "意见\x00"})
    with pytest.raises(DatabaseFailed) as e:
        store.apply(changes)
    assert "数据库操作失败" in e.value.zh and "nothing written" in e.value.en
    store.close()
    store = SqlStore(url)
    assert (len(store.rows(L.SURVEYS.name)), len(store.rows(L.COMPLAINTS.name))) == before
    store.close()
