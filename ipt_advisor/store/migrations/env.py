"""Alembic's entry point: run the migrations on the connection the store hands over
(``config.attributes["connection"]``); there is no alembic.ini and no URL here."""

from alembic import context

from ipt_advisor.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, transaction_per_migration=False
)
with context.begin_transaction():
    context.run_migrations()
