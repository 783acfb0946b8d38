"""The web app's database: stored assessments, cases, sign-offs and the decision-log chain.

    store = Store.open("sqlite:///cases.db")     # created and migrated on first use
    new_id, created = store.save(submitted, sha256, decision, tool_version, submission_id)

SQLite (the default, a file in the user's data folder) or PostgreSQL by URL; SQLAlchemy Core
with Alembic migrations shipped in ``migrations/``. See ``connect`` for the set-up,
``cases`` for what is stored, ``chain`` for the log chain.
"""

from .cases import Assessment, Store
from .connect import StoreError, StoreUnavailable, default_url, display_url

__all__ = ["Assessment", "Store", "StoreError", "StoreUnavailable", "default_url", "display_url"]
