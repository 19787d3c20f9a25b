"""Alembic's environment: the connection is the store's (passed in the config's attributes),
the target is the schema made from layout.py."""
from alembic import context

from kam_xl.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("kam_xl migrations run through kam-xl db init / db upgrade (a connection is passed in)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  version_table="kam_alembic_version")
with context.begin_transaction():
    context.run_migrations()
