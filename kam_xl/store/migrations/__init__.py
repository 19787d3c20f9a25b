"""Alembic migrations of the database schema (store/schema.py).  Run by `kam-xl db init`
and `kam-xl db upgrade`, never by hand-written DDL."""
