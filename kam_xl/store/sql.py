"""The master in a database (PRODUCT.md §12): the store protocol over SQLite (one `.db` file,
no server) or PostgreSQL (a shared server), on SQLAlchemy Core, one schema for both made from
layout.py (store/schema.py) and created and upgraded by Alembic migrations (store/migrations).

Every apply is one transaction; a store whose data changed since it was read refuses to
write (no lost update: a version counter in `kam_meta`, checked and bumped inside the
write transaction — SQLite's write lock taken at BEGIN IMMEDIATE, PostgreSQL's version row
taken FOR UPDATE).  A load is one consistent read and selects what the action's needs
declare: the columns read, the records of `Read(only=…)` (with every id's rid), the last
completed visit per customer as an aggregate.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import math
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from .. import layout as L
from ..domain.findings import Finding, Placed, place_plainly
from ..domain.models import MODELS, RecordShape, Settings
from ..domain.receivables import months_before
from ..domain.tiering import condition_names
from ..errors import BadArgument, KamError
from .changes import ChangeSet
from .needs import LAST_VISITS, Needs, Read
from .ledger import MemoryLedger, pack_base, unpack_base
from .schema import EXTRAS, meta, tables, team_bases
from .snapshot import Snapshot
from .urls import is_url

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "kam_alembic_version"
SAME_LIMIT = 20000  # distinct values of a column remembered while reading it (one object each)
IN_LIMIT = 1000  # an `only` set up to this size becomes WHERE … IN; a bigger one is filtered as rows stream


class DatabaseChanged(KamError):
    zh, en = "数据库在读取后被其他操作修改（另一人的汇总、导入或分级），为防止覆盖他人修改，本次未写入任何内容，请重新运行", \
        "the database changed since it was read; nothing written, run again"


class DatabaseFailed(KamError):
    zh, en = "数据库操作失败（连接中断或服务器出错），本次未写入任何内容", \
        "the database failed (connection lost or server error); nothing written"


def open_database(url: str, create: bool = False, check: bool = True) -> "SqlStore":
    """The store of a database URL: sqlite:///file.db or postgresql://user@host:port/db.
    check=False: open whatever schema revision it has (to upgrade it)."""
    cls = PgStore if str(url).startswith(("postgresql://", "postgres://")) else SqlStore
    return cls(url, create=create, check=check)


def upgrade_database(url: str) -> tuple[str | None, str]:
    """`kam-xl db upgrade`: the schema brought to this version's head; (from, to) revisions."""
    store = open_database(url, check=False)
    try:
        return store.upgrade()
    finally:
        store.close()


def db_path(url: str) -> Path:
    """sqlite:///大客户管理.db (relative) or sqlite:////data/kam.db (absolute)."""
    if not is_url(url):
        raise BadArgument(url, "数据库地址应写成 sqlite:///文件.db", "a database URL looks like sqlite:///file.db")
    return Path(str(url)[len("sqlite:///"):])


_COLUMNS_BY_NAME: dict[str, dict[str, L.Column]] = {}


_PLAIN = frozenset({str, float, int, bool})


def _to_sql(col: L.Column, v: Any) -> Any:
    if v is None or type(v) in _PLAIN:
        return v
    if col.kind == L.DATETIME and isinstance(v, dt.date):
        return (v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time())).isoformat(sep=" ")
    if col.kind == L.DATE and isinstance(v, dt.date):
        return (v.date() if isinstance(v, dt.datetime) else v).isoformat()
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def _from_sql(col: L.Column, v: Any) -> Any:
    if v is None:
        return None
    if col.kind == L.DATE:
        return dt.date.fromisoformat(v[:10]) if isinstance(v, str) else v
    if col.kind == L.DATETIME:
        return dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    if col.kind == L.INT and isinstance(v, float):
        return int(v)
    return v


def _alembic(conn) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


SCRIPTS = ScriptDirectory.from_config(_alembic(None))
HEAD = SCRIPTS.get_current_head()


def _known(rev: str) -> bool:
    try:
        return SCRIPTS.get_revision(rev) is not None
    except Exception:  # alembic's "no such revision"
        return False


class SqlStore:
    """A master in a SQLite database (PgStore: the same on PostgreSQL)."""

    def __init__(self, url: str, create: bool = False, check: bool = True):
        self.url = str(url)
        self.path = self._place()
        self.engine = self._engine(create)
        self._version: int | None = None
        self._held: tuple | None = None  # (connection, transaction) a streamed load left open
        self._gc_was = False  # the cyclic collector was on when the action began (paused for it)
        self.notices: list = []
        try:
            if create:
                self.upgrade()
            elif check:
                self._check_revision()
        except BaseException:
            self.engine.dispose()
            raise

    # -- the engine's own ------------------------------------------------------------------
    def _place(self) -> Path:
        return db_path(self.url)

    def _engine(self, create: bool) -> sa.Engine:
        if not create and not self.path.exists():
            raise BadArgument(self.url, f"找不到数据库文件“{self.path}”（先用 kam-xl db init 建立）",
                              f"no database at '{self.path}' (run kam-xl db init first)")
        engine = sa.create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):  # the transactions are ours, not the driver's
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):  # a writer takes the write lock when it begins: checked, written, bumped as one
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop("write", False) else "BEGIN")
        return engine

    def _reading(self) -> sa.Connection:
        return self.engine.connect()

    def _writing(self) -> sa.Connection:
        conn = self.engine.connect()
        conn.info["write"] = True
        return conn

    def _lock_version(self, conn: sa.Connection) -> None:
        """Nothing more on SQLite: BEGIN IMMEDIATE holds the write lock."""

    # -- schema: Alembic ----------------------------------------------------------------
    def _revision(self, conn) -> str | None:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()

    def _check_revision(self) -> None:
        with self._reading() as conn:
            rev = self._revision(conn)
            legacy = rev is None and sa.inspect(conn).has_table("kam_meta")
        if rev == HEAD:
            return
        if rev is None and not legacy:
            raise BadArgument(self.url, "这不是大客户管理的数据库（没有数据表），请先用 kam-xl db init 建立",
                              "not a kam-xl database (no tables): run kam-xl db init first")
        if rev is not None and not _known(rev):
            raise BadArgument(self.url, f"数据库由更新版本的程序建立（结构版本 {rev}，本程序只认识到 {HEAD}），"
                              "请先升级本程序再使用这个数据库，未读取也未写入任何内容",
                              f"the database was made by a newer version (schema {rev}; this one knows up to {HEAD}): "
                              "upgrade the program first")
        raise BadArgument(self.url, f"数据库结构是旧版本（{rev or '最初版本'}，当前程序为 {HEAD}），请先运行 "
                          f"kam-xl db upgrade {self.url} 升级（升级前建议备份数据库）",
                          f"the database schema is older ({rev or 'unversioned'}; this version needs {HEAD}): "
                          f"run kam-xl db upgrade first")

    def upgrade(self) -> tuple[str | None, str]:
        """Bring the schema to head with the migrations (a database made before migrations is
        taken as their first revision, which is the same schema); seed the meta rows and the
        default tier rules of a new database."""
        with self._writing() as conn, conn.begin():
            before = self._revision(conn)
            cfg = _alembic(conn)
            if before is None and sa.inspect(conn).has_table("kam_meta"):
                command.stamp(cfg, "0001")
                before = "0001（未记录版本）"
            command.upgrade(cfg, "head")
            for key, value in (("schema_version", HEAD), ("data_version", "0")):
                have = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
                if have is None:
                    conn.execute(meta.insert().values(key=key, value=value))
                elif key == "schema_version":
                    conn.execute(meta.update().where(meta.c.key == key).values(value=value))
            rules = tables[L.TIER_RULES.name]
            seeded = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_seeded")).first()
            if seeded is None and conn.execute(sa.select(rules.c.rid).limit(1)).first() is None:
                keys = [col.key for col in L.TIER_RULES.columns]
                for r in L.DEFAULT_TIER_RULES:
                    self._insert(conn, L.TIER_RULES, dict(zip(keys, r)))
            if seeded is None:
                conn.execute(meta.insert().values(key="rules_seeded", value="1"))
        return before, HEAD

    def close(self) -> None:
        self._release()
        self.engine.dispose()

    # -- the protocol ------------------------------------------------------------------
    def __enter__(self) -> "SqlStore":
        # an action holds millions of records that make no reference cycle: the cyclic collector
        # would go through all of them again and again as more are made (at 1M customers a
        # third of validate's time), so it pauses for the action, as the workbook's session does
        self._gc_was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc) -> None:
        self._release()
        if self._gc_was:
            gc.freeze()
            gc.unfreeze()  # what the action made goes to the oldest generation, uncollected now
            gc.enable()
        self._gc_was = False
        return None

    def has_table(self, name: str) -> bool:
        return name in L.TABLES

    @staticmethod
    def _meta(conn, key: str) -> str | None:
        row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
        return row[0] if row else None

    def _select(self, conn, name: str, keys: list[str] | None = None, extras: bool = True, where=None,
                order: str | None = None):
        """(rid, values by key, the user's own columns) of a table's records, in rid order (or
        `order`'s, then rid's)."""
        t, tdef = tables[name], L.TABLES[name]
        cols = [c for c in tdef.columns if keys is None or c.key in keys]
        q = sa.select(t.c.rid, *(t.c[c.key] for c in cols), *((t.c[EXTRAS],) if extras else ()))
        if where is not None:
            q = q.where(where)
        # one object per distinct value of a column (a state, a person, a date read from its
        # text), as a workbook's shared strings give: 400,000 visits do not hold 400,000 copies
        # of "已完成"; a column of distinct values (ids, notes) stops being remembered
        keys = [c.key for c in cols]
        n = len(cols)
        texts = [[c.key, {}] for c in cols if c.kind in (L.TEXT, L.ENUM)]
        dated = [[c.key, {}, c] for c in cols if c.kind in (L.DATE, L.DATETIME, L.INT)]
        ordering = (self._sort_key(t.c[order]), t.c.rid) if order else (t.c.rid,)
        result = conn.execute(q.order_by(*ordering).execution_options(stream_results=True, yield_per=5000))
        for count, row in enumerate(result, 1):
            values = dict(zip(keys, row[1:1 + n]))
            for k, memo in texts:
                v = values[k]
                if v is not None:
                    values[k] = memo.setdefault(v, v)
            for k, memo, col in dated:
                v = values[k]
                if v is not None:
                    got = memo.get(v)
                    if got is None:
                        got = memo[v] = _from_sql(col, v)
                    values[k] = got
            if count % 5000 == 0:  # columns of distinct values are no longer remembered
                texts = [x for x in texts if len(x[1]) <= SAME_LIMIT]
                for x in dated:
                    if len(x[1]) > SAME_LIMIT:
                        x[1].clear()
            extra = json.loads(row[-1]) if extras and row[-1] else {}
            yield row[0], values, extra

    @staticmethod
    def _sort_key(column: sa.Column):
        """A whole table in a column's order: SQLite reads it in one scan and sorts (`+col` keeps
        it off the column's index, which would fetch every row out of order — slower by half at
        200,000 invoices); PostgreSQL's planner makes the choice itself."""
        return sa.literal_column(f'+"{column.name}"')

    def rows(self, name: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        with self._reading() as conn, conn.begin():
            return list(self._select(conn, name))

    def records(self, name: str) -> list:
        with self._reading() as conn, conn.begin():
            return self._records(conn, name, Read())

    def _records(self, conn, name: str, read: Read, ids: dict | None = None, snap: Snapshot | None = None) -> list:
        """The records of a table as the needs read it: the columns declared (a partial record
        raises on any other field), the ids of `only` (every id → rid into `ids`)."""
        tdef, t = L.TABLES[name], tables[name]
        # a database's columns are typed: no cell to report, so a read of every field for its
        # bad cells (validate's) selects only the fields its records keep
        wanted = read.keys if read.keys is not None else read.keep
        keys = None if wanted is None else list(dict.fromkeys((*wanted, *(
            (read.by,) if read.only is not None else ()))))
        shape = RecordShape(MODELS[name], keys or [c.key for c in tdef.columns], keys is not None)
        where = None
        only = read.only
        if only is not None:
            ids_q = sa.select(t.c.id, t.c.rid).where(t.c.id.is_not(None)).order_by(t.c.rid)
            for i, rid in conn.execute(ids_q):
                ids.setdefault(i, rid)
            if len(only) <= IN_LIMIT:
                present = [v for v in only if v is not None]
                where = t.c[read.by].in_(present) if None not in only else sa.or_(
                    t.c[read.by].in_(present), t.c[read.by].is_(None))
        inside = _window(t, read, snap)
        if inside is not None:
            where = inside if where is None else sa.and_(where, inside)
        out = []
        for rid, values, _ in self._select(conn, name, keys, extras=False, where=where):
            if only is not None and values.get(read.by) not in only:
                continue
            values["rid"] = rid
            out.append(shape.make(values))
        return out

    def settings(self, conn=None) -> Settings:
        if conn is None:
            with self._reading() as conn, conn.begin():
                return self.settings(conn)
        values: dict[str, Any] = {}
        for _, row, _ in self._select(conn, L.SETTINGS.name):
            key, raw = row.get("key"), row.get("value")
            if not key or raw in (None, ""):
                continue
            d = L.SETTINGS_BY_KEY.get(key)
            if d is None:
                values[key] = raw
            elif d.kind == L.SETTING_DATE:
                values[d.field] = dt.date.fromisoformat(str(raw)[:10])
            elif d.kind == L.SETTING_INT:
                values[d.field] = int(float(raw))
            elif d.kind == L.SETTING_NUMBER:
                values[d.field] = float(raw)
            else:
                values[d.field] = str(raw)
        return Settings(**values)

    def load(self, needs: Needs, as_of: dt.date | None = None) -> Snapshot:
        self._release()
        streamed = any(r.stream for r in needs.tables.values())
        try:
            if not streamed:
                with self._reading() as conn, conn.begin():  # one consistent read
                    return self._load(conn, needs, as_of)
            # a table handed as a stream is read on this same transaction as it is gone
            # through: the connection stays open (and its snapshot consistent) until the
            # store writes, loads again or closes
            conn = self._reading()
            self._held = (conn, conn.begin())
            return self._load(conn, needs, as_of)
        except sa.exc.DBAPIError as e:
            self._release()
            raise DatabaseFailed(self.url, _first_line(e), _first_line(e)) from None
        except BaseException:
            self._release()
            raise

    def _connection(self, name: str = "") -> sa.Connection:
        """The read transaction a streamed load holds."""
        if self._held is None:
            raise RuntimeError(f"{name} was handed as a stream and its read has ended (store written or closed)")
        return self._held[0]

    def _release(self) -> None:
        """The read transaction a streamed load left open, ended."""
        held, self._held = self._held, None
        if held is not None:
            conn, trans = held
            try:
                trans.rollback()
            finally:
                conn.close()

    def _load(self, conn, needs: Needs, as_of: dt.date | None) -> Snapshot:
        self._version = int(self._meta(conn, "data_version") or 0)
        snap = Snapshot()
        snap.settings = self.settings(conn)
        snap.as_of = as_of or snap.settings.as_of or dt.date.today()
        snap.rules = self._records(conn, L.TIER_RULES.name, Read())
        for name, read in needs.tables.items():
            snap.fields[name] = frozenset(c.key for c in L.TABLES[name].columns)
            if name in (L.SETTINGS.name, L.TIER_RULES.name):
                continue
            if read.stream and read.only is None:
                snap.records[name] = _Stream(self, name, read, _window(tables[name], read, snap))
            elif read.records or name != L.VISITS.name:
                if read.only is not None:
                    snap.ids[name] = {}
                snap.records[name] = self._records(conn, name, read, snap.ids.get(name), snap)
        snap.fields.setdefault(L.SETTINGS.name, frozenset(c.key for c in L.SETTINGS.columns))
        if LAST_VISITS in needs.views:
            snap.views[LAST_VISITS] = self._last_visits(conn)
        read = needs.tables.get(L.CUSTOMERS.name)
        if read is not None and (read.rows or read.conditions or read.keys is None):
            snap.extras = self._customer_rows(conn, read, snap.rules)
        return snap

    def _customer_rows(self, conn, read: Read, rules: list):
        """Customer → its whole record by label (user columns included), built when asked: the
        rows are kept as the database gives them (a tuple and the user columns' JSON text), not
        as a dict each.  Unless the rows were asked for whole (a card, an export, an import),
        only what the rules' 附加条件 name is kept (the suggested tier and regrade use it)."""
        t = tables[L.CUSTOMERS.name]
        if read.rows and read.keys is None:  # whole rows: the records hold every field, add the user's
            labels = {c.key: c.header for c in L.CUSTOMERS.columns}
            own = {rid: text for rid, text in conn.execute(
                sa.select(t.c.rid, t.c[EXTRAS]).where(t.c[EXTRAS].is_not(None)))}

            def whole_row(c) -> dict[str, Any]:
                out = {labels[k]: v for k, v in c.__dict__.items() if k in labels}
                text = own.get(c.rid)
                if text:
                    out.update(json.loads(text))
                return out
            return whole_row
        names = condition_names(rules)
        cols = [c for c in L.CUSTOMERS.columns if c.header in names]
        user = bool(names - {c.header for c in L.CUSTOMERS.columns})
        if not cols and not user:
            return lambda c: {}
        q = sa.select(t.c.rid, *(t.c[c.key] for c in cols), *((t.c[EXTRAS],) if user else ()))
        kept = {row[0]: row[1:] for row in conn.execute(q)}
        n = len(cols)

        def row_of(c) -> dict[str, Any]:
            raw = kept.get(c.rid)
            if raw is None:
                return {}
            out = {col.header: _from_sql(col, v) for col, v in zip(cols, raw[:n])}
            if user and raw[n]:
                out.update(json.loads(raw[n]))
            return out
        return row_of

    def _last_visits(self, conn) -> dict[str, dt.date]:
        v = tables[L.VISITS.name]
        q = (sa.select(v.c.customer_id, sa.func.max(v.c.actual_date))
             .where(v.c.state == L.DONE, v.c.actual_date.is_not(None), v.c.customer_id.is_not(None))
             .group_by(v.c.customer_id))
        return {cid: dt.date.fromisoformat(day[:10]) for cid, day in conn.execute(q)}

    def locate(self, findings: Iterable[Finding]) -> list[Placed]:
        return [place_plainly(f) for f in findings]

    def apply(self, changes: ChangeSet) -> list[str]:
        self._release()
        if self._gc_was:
            gc.collect()  # what the computing left in cycles (pandas frames), freed before the write
        try:
            with self._writing() as conn, conn.begin():  # one transaction: all of it or nothing
                now = self._apply(conn, changes)
        except sa.exc.DBAPIError as e:
            raise DatabaseFailed(self.url, _first_line(e), _first_line(e)) from None
        changes.calculated = {}
        self._version = now + 1
        return []

    def replace_tables(self, tables_rows) -> None:
        """Tables replaced whole, in one transaction (`kam-xl db load`): `tables_rows` yields
        (table, its rows) one table at a time, so only one table's rows are held at once."""
        try:
            with self._writing() as conn, conn.begin():
                self._lock_version(conn)
                now = int(self._meta(conn, "data_version") or 0)
                for tdef, rows in tables_rows:
                    conn.execute(tables[tdef.name].delete())
                    for i in range(0, len(rows), 20000):  # the statement's parameter rows in slices
                        self._insert_many(conn, tdef, rows[i:i + 20000])
                conn.execute(meta.update().where(meta.c.key == "data_version").values(value=str(now + 1)))
        except sa.exc.DBAPIError as e:
            raise DatabaseFailed(self.url, _first_line(e), _first_line(e)) from None
        self._version = None

    def _apply(self, conn, changes: ChangeSet) -> int:
        self._lock_version(conn)
        now = int(self._meta(conn, "data_version") or 0)
        if self._version is not None and now != self._version:
            raise DatabaseChanged(self.url)
        for name, recs in changes.updates.items():
            self._update_many(conn, L.TABLES[name], recs)
        for name, rids in changes.removes.items():
            if rids:
                t = tables[name]
                conn.execute(t.delete().where(t.c.rid == sa.bindparam("r")), [{"r": r} for r in rids])
        for name, rows in changes.adds.items():
            self._insert_many(conn, L.TABLES[name], rows)
        for name, rows in changes.replaces.items():
            conn.execute(tables[name].delete())
            self._insert_many(conn, L.TABLES[name], rows)
        if changes.findings is not None:
            conn.execute(tables[L.ISSUES.name].delete())
            found = changes.findings
            for i in range(0, len(found), 20000):  # a slice at a time: 127,000 findings of a 1M master
                self._insert_many(conn, L.ISSUES, [p.as_row() for p in self.locate(found[i:i + 20000])])
        for name, fn in changes.calculated.items():  # this store keeps the calculated values
            touched = sorted(set(changes.updated(name)))
            tdef, t = L.TABLES[name], tables[name]
            shape = RecordShape(MODELS[name], [c.key for c in tdef.columns], False)
            for i in range(0, len(touched), IN_LIMIT):  # the records changed, a slice at a time
                recs = []
                for rid, values, _ in self._select(conn, name, extras=False,
                                                   where=t.c.rid.in_(touched[i:i + IN_LIMIT])):
                    values["rid"] = rid
                    recs.append(shape.make(values))
                self._update_many(conn, tdef, fn(recs))
        if changes.status:
            self._set_meta(conn, "status", changes.status)
        conn.execute(meta.update().where(meta.c.key == "data_version").values(value=str(now + 1)))
        return now

    def _set_meta(self, conn, key: str, value: str) -> None:
        if conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount == 0:
            conn.execute(meta.insert().values(key=key, value=value))

    @staticmethod
    def _split(t: L.TableDef, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        named = _COLUMNS_BY_NAME.get(t.name)
        if named is None:  # a layout column by its key or its header
            named = _COLUMNS_BY_NAME[t.name] = {**{c.header: c for c in t.columns}, **{c.key: c for c in t.columns}}
        own, extra = {}, {}
        for k, v in values.items():
            col = named.get(k)
            if col is not None:
                own[col.key] = _to_sql(col, v)
            elif k != "rid":
                extra[k] = v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v
        return own, extra

    def _row(self, t: L.TableDef, values: dict[str, Any]) -> dict[str, Any]:
        own, extra = self._split(t, values)
        row = {c.key: None for c in t.columns}
        row.update(own)
        row[EXTRAS] = json.dumps(extra, ensure_ascii=False) if extra else None
        return row

    def _insert(self, conn, t: L.TableDef, values: dict[str, Any]) -> None:
        conn.execute(tables[t.name].insert().values(**self._row(t, values)))

    def _insert_many(self, conn, t: L.TableDef, rows) -> None:
        """One statement, many parameter sets, given to the driver as tuples (SQLAlchemy's
        per-row parameter processing cost more than the insert itself)."""
        if not rows:
            return
        keys = [c.key for c in t.columns]
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (f'INSERT INTO "{t.name}" ({", ".join(f"{chr(34)}{k}{chr(34)}" for k in (*keys, EXTRAS))}) '
               f'VALUES ({", ".join([mark] * (len(keys) + 1))})')
        conn.exec_driver_sql(sql, list(self._tuples(t, keys, rows)))

    def _tuples(self, t: L.TableDef, keys: list[str], rows) -> Iterable[tuple]:
        """Each row's layout columns in `keys` order, then the user's own columns as JSON."""
        split = self._split
        for values in rows:
            own, extra = split(t, values)
            yield (*(own.get(k) for k in keys), json.dumps(extra, ensure_ascii=False) if extra else None)

    def _update_many(self, conn, t: L.TableDef, recs: dict[int, dict[str, Any]]) -> None:
        """Many records' fields: one UPDATE per set of fields changed, executed for every record
        that changes those (a regrade's 100,000 tiers are one statement, many parameter sets)."""
        table = tables[t.name]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for rid, values in recs.items():
            own, extra = self._split(t, values)
            if extra:
                self._update(conn, t, rid, {k: v for k, v in values.items() if k not in own})
            if own:
                groups.setdefault(tuple(sorted(own)), []).append({"_rid": rid, **{f"v_{k}": v for k, v in own.items()}})
        for keys, params in groups.items():
            stmt = table.update().where(table.c.rid == sa.bindparam("_rid")).values(
                {k: sa.bindparam(f"v_{k}") for k in keys})
            conn.execute(stmt, params)

    def _update(self, conn, t: L.TableDef, rid: int, values: dict[str, Any]) -> None:
        table = tables[t.name]
        own, extra = self._split(t, values)
        if own:
            conn.execute(table.update().where(table.c.rid == rid).values(**own))
        if extra:
            row = conn.execute(sa.select(table.c[EXTRAS]).where(table.c.rid == rid)).first()
            merged = {**(json.loads(row[0]) if row and row[0] else {}), **extra}
            conn.execute(table.update().where(table.c.rid == rid).values(
                {EXTRAS: json.dumps(merged, ensure_ascii=False)}))


def _window(t: sa.Table, read: Read, snap: Snapshot | None):
    """The credit window of Read(window=…), as derive_credit counts it, or None."""
    if read.window is None or snap is None:
        return None
    start = months_before(snap.as_of, snap.settings.credit_months)
    day = t.c[read.window]
    return sa.and_(day > start.isoformat(), day <= snap.as_of.isoformat())


class _Stream:
    """A table's records read as they are gone through (Read(stream=True)), on the read
    transaction of the load that handed it out: every pass reads the same snapshot."""

    def __init__(self, store: SqlStore, name: str, read: Read, where=None):
        self.store, self.name, self.where, self.order = store, name, where, read.order
        self.keys = None if read.keys is None and read.keep is None else list(read.keys or read.keep)
        self.patched: dict[int, dict[str, Any]] = {}  # what the action set on a record (an id it assigned)

    def __iter__(self):
        return self._records(self.where)

    def _records(self, where):
        conn = self.store._connection(self.name)
        tdef = L.TABLES[self.name]
        shape = RecordShape(MODELS[self.name], self.keys or [c.key for c in tdef.columns], self.keys is not None)
        patched = self.patched
        for rid, values, _ in self.store._select(conn, self.name, self.keys, extras=False, where=where,
                                                 order=self.order):
            values["rid"] = rid
            if patched and rid in patched:
                values.update(patched[rid])
            yield shape.make(values)

    def _and(self, cond):
        return cond if self.where is None else sa.and_(self.where, cond)

    def blank(self, key: str):
        """The records whose `key` is empty (selected by the database, not gone through)."""
        c = tables[self.name].c[key]
        return self._records(self._and(sa.or_(c.is_(None), c == "")))

    def among(self, key: str, values) -> Iterable:
        """The records whose `key` is one of `values` (selected IN slices of the values)."""
        wanted = sorted(v for v in values if v is not None)
        c = tables[self.name].c[key]
        for i in range(0, len(wanted), IN_LIMIT):
            yield from self._records(self._and(c.in_(wanted[i:i + IN_LIMIT])))

    def duplicates(self, key: str) -> dict:
        """Value → the rid of its first record, for the values of `key` more than one record
        has (grouped by the database, on its index: not a dict of 4,000,000 ids)."""
        t = tables[self.name]
        c = t.c[key]
        q = (sa.select(c, sa.func.min(t.c.rid)).where(self._and(sa.and_(c.is_not(None), c != "")))
             .group_by(c).having(sa.func.count() > 1))
        return {v: rid for v, rid in self.store._connection().execute(q)}

    def patch(self, rid: int, key: str, value: Any) -> None:
        """A field the action set on a record: every later pass gives the record with it."""
        self.patched.setdefault(rid, {})[key] = value


class PgStore(SqlStore):
    """The same master on a PostgreSQL server (postgresql://user@host:port/db) through psycopg 3:
    a load is one REPEATABLE READ transaction, every apply takes the version row FOR UPDATE first."""

    def _place(self) -> Path:
        # outputs (reports, the team's ledger) go in the current folder, named after the database
        name = self.url.rsplit("/", 1)[-1].split("?", 1)[0] or "kam"
        return Path.cwd() / f"{name}.pg"

    def _engine(self, create: bool) -> sa.Engine:
        try:
            import psycopg  # noqa: F401  (the driver SQLAlchemy uses: say what to install)
        except ImportError:
            raise BadArgument(self.url, "使用 PostgreSQL 需要安装 psycopg（pip install 'psycopg[binary]'）",
                              "PostgreSQL needs psycopg: pip install 'psycopg[binary]'") from None
        url = "postgresql+psycopg://" + self.url.split("://", 1)[1]
        try:
            engine = sa.create_engine(url, pool_pre_ping=True)
            with engine.connect():
                pass
        except (sa.exc.DBAPIError, sa.exc.ArgumentError) as e:
            raise BadArgument(self.url, f"无法连接 PostgreSQL 数据库：{_first_line(e)}",
                              f"cannot connect to PostgreSQL: {_first_line(e)}") from None
        return engine

    def _reading(self) -> sa.Connection:
        return self.engine.connect().execution_options(isolation_level="REPEATABLE READ")

    def _writing(self) -> sa.Connection:
        return self.engine.connect()

    def _lock_version(self, conn: sa.Connection) -> None:
        conn.execute(sa.select(meta.c.value).where(meta.c.key == "data_version").with_for_update())

    @staticmethod
    def _sort_key(column: sa.Column):
        return column

    def _insert_many(self, conn, t: L.TableDef, rows) -> None:
        """Rows added with COPY … FROM STDIN on the transaction's own connection (PostgreSQL's bulk
        load: an import's 100,000 log rows, a load's 400,000 visits), not a statement per row."""
        if not rows:
            return
        keys = [c.key for c in t.columns]
        columns = ", ".join(f'"{k}"' for k in (*keys, EXTRAS))
        # COPY reads text: a whole number held as a float (3.0) goes to an integer column as 3,
        # as the server's own cast of a parameter would make it (a NaN or infinity is left for
        # the server to refuse)
        ints = [i for i, c in enumerate(t.columns) if c.kind == L.INT]
        import psycopg
        try:
            with conn.connection.driver_connection.cursor() as cur:
                with cur.copy(f'COPY "{t.name}" ({columns}) FROM STDIN') as copy:
                    for row in self._tuples(t, keys, rows):
                        if ints and any(type(row[i]) is float and math.isfinite(row[i]) for i in ints):
                            row = list(row)
                            for i in ints:
                                if type(row[i]) is float and math.isfinite(row[i]):
                                    row[i] = int(row[i] + (0.5 if row[i] >= 0 else -0.5))
                        copy.write_row(row)
        except psycopg.Error as e:  # the driver's own cursor: SQLAlchemy does not wrap its errors
            raise DatabaseFailed(self.url, _first_line(e), _first_line(e)) from None


class SqlLedger(MemoryLedger):
    """Team mode's ledger of a database master, in the database itself (the kam_meta row
    "team_ledger" and the kam_team_bases table): a manager collecting on another machine than
    the one that distributed finds the bases."""

    def __init__(self, store: SqlStore, create: bool = False):
        self.store = store
        with store._reading() as conn, conn.begin():
            raw = store._meta(conn, "team_ledger")
        self._open(raw, create)

    def save_base(self, person: str, round_no: int, tables_: dict) -> None:
        data = pack_base(person, round_no, tables_)
        with self.store._writing() as conn, conn.begin():
            conn.execute(team_bases.delete().where(team_bases.c.person == person, team_bases.c.round == round_no))
            conn.execute(team_bases.insert().values(person=person, round=round_no, data=data))

    def _row(self, person: str, round_no: int):
        with self.store._reading() as conn, conn.begin():
            return conn.execute(sa.select(team_bases.c.data).where(
                team_bases.c.person == person, team_bases.c.round == round_no)).first()

    def has_base(self, person: str, round_no: int) -> bool:
        return self._row(person, round_no) is not None

    def base(self, person: str, round_no: int) -> dict | None:
        row = self._row(person, round_no)
        return unpack_base(row[0]) if row is not None else None

    def _save_state(self) -> None:
        with self.store._writing() as conn, conn.begin():
            self.store._set_meta(conn, "team_ledger", json.dumps(self.state, ensure_ascii=False))


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__
