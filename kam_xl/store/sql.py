"""The master in a database (PRODUCT.md §12): the store protocol over SQLite (one `.db` file,
no server) or PostgreSQL (a shared server), one schema for both, made from layout.py (one table per layout table, one column per
layout key, `rid` the primary key, the user's own customer columns kept per record as JSON).

Every apply is one transaction; a store whose data changed since it was read refuses to
write (no lost update: a version counter in `kam_meta`, checked and bumped inside the
write transaction).  Migrations: a column the layout gained since the database was made
is added by `migrate` (run by init and by every open).
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from .. import layout as L
from ..domain.findings import Finding, Placed, place_plainly
from ..domain.models import MODELS, Settings
from ..domain.visits import last_completed_by_customer
from ..errors import BadArgument, KamError
from .changes import ChangeSet
from .needs import LAST_VISITS, Needs
from .snapshot import Snapshot, keep_only

SCHEMA_VERSION = 1
TABLES = [t for t in L.TABLES.values() if t.name != L.ISSUES.name] + [L.ISSUES]
SQL_TYPES = {L.TEXT: "TEXT", L.ENUM: "TEXT", L.MONEY: "DOUBLE PRECISION", L.NUMBER: "DOUBLE PRECISION",
             L.PERCENT: "DOUBLE PRECISION",
             L.INT: "INTEGER", L.DATE: "TEXT", L.DATETIME: "TEXT"}
EXTRAS = "_extras"  # the user's own columns of a record, as JSON by label


class DatabaseChanged(KamError):
    zh, en = "数据库在读取后被其他操作修改（另一人的汇总、导入或分级），为防止覆盖他人修改，本次未写入任何内容，请重新运行", \
        "the database changed since it was read; nothing written, run again"


def is_url(text: str | Path) -> bool:
    return str(text).startswith(("sqlite:///", "postgresql://", "postgres://"))


def open_database(url: str, create: bool = False) -> "SqlStore":
    """The store of a database URL: sqlite:///file.db or postgresql://user@host:port/db."""
    if str(url).startswith(("postgresql://", "postgres://")):
        return PgStore(url)
    return SqlStore(url, create=create)


def db_path(url: str) -> Path:
    """sqlite:///大客户管理.db (relative) or sqlite:////data/kam.db (absolute)."""
    if not is_url(url):
        raise BadArgument(url, "数据库地址应写成 sqlite:///文件.db", "a database URL looks like sqlite:///file.db")
    return Path(str(url)[len("sqlite:///"):])


def _to_sql(col: L.Column, v: Any) -> Any:
    if v is None:
        return None
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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqlStore:
    """A master in a SQLite database (PgStore: the same on PostgreSQL).  SQL is written once,
    with `?` placeholders and the upsert both engines speak."""
    RID = "rid INTEGER PRIMARY KEY"

    def __init__(self, url: str, create: bool = False):
        self.url = str(url)
        self.path = self._place()
        self.conn = self._connect(create)
        self.migrate()
        self._version: int | None = None
        self.notices: list = []

    # -- the engine's own ------------------------------------------------------------------
    def _place(self) -> Path:
        return db_path(self.url)

    def _connect(self, create: bool):
        if not create and not self.path.exists():
            raise BadArgument(self.url, f"找不到数据库文件“{self.path}”（先用 kam-xl db init 建立）",
                              f"no database at '{self.path}' (run kam-xl db init first)")
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _x(self, sql: str, params=()):
        return self.conn.execute(sql, params)

    def _many(self, sql: str, rows) -> None:
        self.conn.executemany(sql, rows)

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self._x(f"PRAGMA table_info({_q(table)})")}

    def _begin_read(self) -> None:
        self._x("BEGIN")

    def _begin_write(self) -> None:
        self._x("BEGIN IMMEDIATE")  # the writer's lock: checked, written and bumped as one

    # -- schema ----------------------------------------------------------------------
    def migrate(self) -> None:
        """Create what is missing: the tables, the columns the layout gained, the meta rows."""
        x = self._x
        self._begin_write()
        try:
            x("CREATE TABLE IF NOT EXISTS kam_meta (key TEXT PRIMARY KEY, value TEXT)")
            for t in TABLES:
                cols = ", ".join(f"{_q(col.key)} {SQL_TYPES[col.kind]}" for col in t.columns)
                x(f"CREATE TABLE IF NOT EXISTS {_q(t.name)} ({self.RID}, {cols}, {_q(EXTRAS)} TEXT)")
                have = self._columns(t.name)
                for col in t.columns:  # a column the layout gained since the database was made
                    if col.key not in have:
                        x(f"ALTER TABLE {_q(t.name)} ADD COLUMN {_q(col.key)} {SQL_TYPES[col.kind]}")
            for key, value in (("schema_version", str(SCHEMA_VERSION)), ("data_version", "0")):
                x("INSERT INTO kam_meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
            if not x(f"SELECT 1 FROM {_q(L.TIER_RULES.name)} LIMIT 1").fetchone() and \
                    not x("SELECT 1 FROM kam_meta WHERE key='rules_seeded'").fetchone():
                keys = [col.key for col in L.TIER_RULES.columns]
                for r in L.DEFAULT_TIER_RULES:
                    self._insert(L.TIER_RULES, dict(zip(keys, r)))
                x("INSERT INTO kam_meta VALUES ('rules_seeded', '1')")
            x("COMMIT")
        except BaseException:
            x("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    # -- the protocol ------------------------------------------------------------------
    def __enter__(self) -> "SqlStore":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def has_table(self, name: str) -> bool:
        return name in L.TABLES

    def _meta(self, key: str) -> str | None:
        row = self._x("SELECT value FROM kam_meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def rows(self, name: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        """(rid, values by key, the user's own columns) of a table, in rid order."""
        t = L.TABLES[name]
        cols = [col for col in t.columns]
        sql = f"SELECT rid, {', '.join(_q(col.key) for col in cols)}, {_q(EXTRAS)} FROM {_q(name)} ORDER BY rid"
        out = []
        for row in self._x(sql):
            values = {col.key: _from_sql(col, v) for col, v in zip(cols, row[1:-1])}
            out.append((row[0], values, json.loads(row[-1]) if row[-1] else {}))
        return out

    def records(self, name: str) -> list:
        make = MODELS[name].model_construct  # the values are typed already (_from_sql): no validation per row
        return [make(rid=rid, **values) for rid, values, _ in self.rows(name)]

    def settings(self) -> Settings:
        values: dict[str, Any] = {}
        for _, row, _ in self.rows(L.SETTINGS.name):
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
        self._begin_read()  # one consistent read
        try:
            self._version = int(self._meta("data_version") or 0)
            snap = Snapshot()
            snap.settings = self.settings()
            snap.rules = self.records(L.TIER_RULES.name)
            for name, read in needs.tables.items():
                snap.fields[name] = frozenset(c.key for c in L.TABLES[name].columns)
                if name in (L.SETTINGS.name, L.TIER_RULES.name):
                    continue
                if read.records or name != L.VISITS.name:
                    snap.records[name] = keep_only(snap, name, self.records(name), read.only, read.by)
            snap.fields.setdefault(L.SETTINGS.name, frozenset(c.key for c in L.SETTINGS.columns))
            if LAST_VISITS in needs.views:
                snap.views[LAST_VISITS] = self._last_visits()
            if L.CUSTOMERS.name in needs.tables:
                labels = {c.key: c.header for c in L.CUSTOMERS.columns}
                full = {rid: {**{labels[k]: v for k, v in values.items()}, **extra}
                        for rid, values, extra in self.rows(L.CUSTOMERS.name)}
                snap.extras = lambda c: full.get(c.rid, {})
        finally:
            self._x("COMMIT")
        snap.as_of = as_of or snap.settings.as_of or dt.date.today()
        return snap

    def _last_visits(self) -> dict[str, dt.date]:
        sql = (f"SELECT customer_id, MAX(actual_date) FROM {_q(L.VISITS.name)} WHERE state=? AND actual_date IS NOT NULL"
               f" AND customer_id IS NOT NULL GROUP BY customer_id")
        return {cid: dt.date.fromisoformat(day[:10]) for cid, day in self._x(sql, (L.DONE,))}

    def locate(self, findings: Iterable[Finding]) -> list[Placed]:
        return [place_plainly(f) for f in findings]

    def apply(self, changes: ChangeSet) -> list[str]:
        x = self._x
        self._begin_write()
        try:
            now = int(self._meta("data_version") or 0)
            if self._version is not None and now != self._version:
                raise DatabaseChanged(self.url)
            for name, recs in changes.updates.items():
                t = L.TABLES[name]
                for rid, values in recs.items():
                    self._update(t, rid, values)
            for name, rids in changes.removes.items():
                self._many(f"DELETE FROM {_q(name)} WHERE rid=?", [(r,) for r in rids])
            for name, rows in changes.adds.items():
                for values in rows:
                    self._insert(L.TABLES[name], values)
            for name, rows in changes.replaces.items():
                x(f"DELETE FROM {_q(name)}")
                for values in rows:
                    self._insert(L.TABLES[name], values)
            if changes.findings is not None:
                x(f"DELETE FROM {_q(L.ISSUES.name)}")
                for p in self.locate(changes.findings):
                    self._insert(L.ISSUES, p.as_row())
            for name, fn in changes.calculated.items():  # this store keeps the calculated values
                touched = set(changes.updated(name))
                if touched:
                    recs = [r for r in self.records(name) if r.rid in touched]
                    for rid, values in fn(recs).items():
                        self._update(L.TABLES[name], rid, values)
            if changes.status:
                x("INSERT INTO kam_meta VALUES ('status', ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                  (changes.status,))
            x("UPDATE kam_meta SET value=? WHERE key='data_version'", (str(now + 1),))
            x("COMMIT")
        except BaseException:
            x("ROLLBACK")
            raise
        changes.calculated = {}
        self._version = now + 1
        return []

    def _split(self, t: L.TableDef, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        by_key = {col.key: col for col in t.columns}
        labels = {col.header: col for col in t.columns}
        own, extra = {}, {}
        for k, v in values.items():
            col = by_key.get(k) or labels.get(k)
            if col is not None:
                own[col.key] = _to_sql(col, v)
            elif k != "rid":
                extra[k] = v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v
        return own, extra

    def _insert(self, t: L.TableDef, values: dict[str, Any]) -> None:
        own, extra = self._split(t, values)
        cols = list(own) + [EXTRAS]
        self._x(f"INSERT INTO {_q(t.name)} ({', '.join(_q(k) for k in cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [*own.values(), json.dumps(extra, ensure_ascii=False) if extra else None])

    def _update(self, t: L.TableDef, rid: int, values: dict[str, Any]) -> None:
        own, extra = self._split(t, values)
        if own:
            self._x(f"UPDATE {_q(t.name)} SET {', '.join(f'{_q(k)}=?' for k in own)} WHERE rid=?",
                    [*own.values(), rid])
        if extra:
            row = self._x(f"SELECT {_q(EXTRAS)} FROM {_q(t.name)} WHERE rid=?", (rid,)).fetchone()
            merged = {**(json.loads(row[0]) if row and row[0] else {}), **extra}
            self._x(f"UPDATE {_q(t.name)} SET {_q(EXTRAS)}=? WHERE rid=?", (json.dumps(merged, ensure_ascii=False), rid))


class PgStore(SqlStore):
    """The same master on a PostgreSQL server (postgresql://user@host:port/db): the same
    schema, every apply one transaction that takes the version row FOR UPDATE first."""
    RID = "rid BIGSERIAL PRIMARY KEY"

    def _place(self) -> Path:
        # outputs (reports, the team's ledger) go in the current folder, named after the database
        name = self.url.rsplit("/", 1)[-1].split("?", 1)[0] or "kam"
        return Path.cwd() / f"{name}.pg"

    def _connect(self, create: bool):
        try:
            import psycopg
        except ImportError:  # an optional engine: say what to install
            raise BadArgument(self.url, "使用 PostgreSQL 需要安装 psycopg（pip install 'psycopg[binary]'）",
                              "PostgreSQL needs psycopg: pip install 'psycopg[binary]'") from None
        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.OperationalError as e:
            raise BadArgument(self.url, f"无法连接 PostgreSQL 数据库：{str(e).strip().splitlines()[0]}",
                              f"cannot connect to PostgreSQL: {str(e).strip().splitlines()[0]}") from None

    def _x(self, sql: str, params=()):
        return self.conn.execute(sql.replace("?", "%s"), params)

    def _many(self, sql: str, rows) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def _columns(self, table: str) -> set[str]:
        return {r[0] for r in self._x("SELECT column_name FROM information_schema.columns WHERE table_name=?",
                                      (table,))}

    def _begin_read(self) -> None:
        self._x("BEGIN ISOLATION LEVEL REPEATABLE READ")

    def _begin_write(self) -> None:
        self._x("BEGIN")
        if self._x("SELECT to_regclass('kam_meta')").fetchone()[0] is not None:
            self._x("SELECT value FROM kam_meta WHERE key='data_version' FOR UPDATE")
