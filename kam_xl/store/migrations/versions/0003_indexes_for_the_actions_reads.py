"""indexes for the actions' reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 08:30:00

A customer's visits and invoices by index (the survey follow-up's visits, the receivables
streamed a customer at a time), the last completed visit per customer from an index alone,
duplicate ids grouped by the database.  The same list as schema.INDEXED at this revision
(a migration keeps its own copy: a later change to the schema is a later revision).
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

INDEXED = {
    "Customers": [("id",)],
    "Visits": [("customer_id",), ("id",), ("state", "customer_id", "actual_date")],
    "Receivables": [("customer_id",), ("id",)],
    "Certifications": [("customer_id",)],
    "Complaints": [("customer_id",)],
    "Surveys": [("customer_id",)],
}


def index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table.lower()}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, indexes in INDEXED.items():
        for columns in indexes:
            op.create_index(index_name(table, columns), table, list(columns))


def downgrade() -> None:
    for table, indexes in INDEXED.items():
        for columns in indexes:
            op.drop_index(index_name(table, columns), table_name=table)
