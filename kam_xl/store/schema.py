"""The database schema of a master (PRODUCT.md §12), made from layout.py with SQLAlchemy Core:
one table per layout table, `rid` the primary key, one column per layout key, and the user's
own columns of a record as JSON text in `_extras`; `kam_meta` holds the data version and the
status line.  Alembic migrations (store/migrations) create and upgrade it: when the layout
gains a column, a new revision adds it (tests/integration/test_database_master.py checks that
the migrations' head equals this metadata)."""
from __future__ import annotations

import sqlalchemy as sa

from .. import layout as L

EXTRAS = "_extras"
TABLES = [t for t in L.TABLES.values() if t.name != L.ISSUES.name] + [L.ISSUES]
# dates are kept as ISO text (the same on both engines, and how a workbook's user reads them)
SQL_TYPES = {L.TEXT: sa.Text, L.ENUM: sa.Text, L.MONEY: sa.Double, L.NUMBER: sa.Double, L.PERCENT: sa.Double,
             L.INT: sa.Integer, L.DATE: sa.Text, L.DATETIME: sa.Text}
RID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid; BIGSERIAL on PostgreSQL

metadata = sa.MetaData()
meta = sa.Table("kam_meta", metadata, sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text))
tables: dict[str, sa.Table] = {
    t.name: sa.Table(t.name, metadata, sa.Column("rid", RID, primary_key=True, autoincrement=True),
                     *(sa.Column(col.key, SQL_TYPES[col.kind]()) for col in t.columns),
                     sa.Column(EXTRAS, sa.Text))
    for t in TABLES}
# the indexes the actions' reads use (migration 0003): a customer's visits and invoices (the
# survey follow-up's visits, the receivables streamed a customer at a time), the last completed
# visit per customer read from the index alone, duplicate ids found by the database
INDEXED = {
    L.CUSTOMERS.name: [("id",)],
    L.VISITS.name: [("customer_id",), ("id",), ("state", "customer_id", "actual_date")],
    L.RECEIVABLES.name: [("customer_id",), ("id",)],
    L.CERTIFICATIONS.name: [("customer_id",)],
    L.COMPLAINTS.name: [("customer_id",)],
    L.SURVEYS.name: [("customer_id",)],
}


def index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table.lower()}_{'_'.join(columns)}"


for _name, _indexes in INDEXED.items():
    for _cols in _indexes:
        sa.Index(index_name(_name, _cols), *(tables[_name].c[c] for c in _cols))

# team mode (§11): the base each person was sent, per round (gzip'd JSON); the ledger's state
# (rounds, the records each person's collects created) is the kam_meta row "team_ledger"
team_bases = sa.Table("kam_team_bases", metadata, sa.Column("person", sa.Text, primary_key=True),
                      sa.Column("round", sa.Integer, primary_key=True), sa.Column("data", sa.LargeBinary))
