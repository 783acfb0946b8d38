"""Alembic migrations of the web app's database, shipped with the package (run by
:func:`ipt_advisor.store.connect.migrate`; ``env.py`` is Alembic's entry point, not a module
to import)."""
