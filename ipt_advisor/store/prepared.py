"""Core statements compiled once per dialect and run on the driver's own cursor.

SQLAlchemy's ``Connection.execute`` costs 50–130 µs of Python per statement (cache lookup,
execution context, events, result wrapping); storing one assessment runs six statements,
under the write lock, and reading one back two, about a fifth of the web app's CPU per
intake. The hot paths therefore run their statements here: SQLAlchemy still writes the SQL
(compiled once per dialect, so it is the same SQL for SQLite and PostgreSQL), and it runs on
the DBAPI cursor of the same pooled connection, inside the same transaction that
``Store._transaction`` began and commits. Values are plain ``str``/``int``/``None`` (no type
processing needed); driver errors are turned into ``StoreUnavailable`` by the store like
SQLAlchemy's.
"""

from __future__ import annotations

from typing import Any, Iterable


class Prepared:
    """One statement; ``keys`` names the columns of an ``insert()`` without ``values()``."""

    made: "list[Prepared]" = []  # every one, for compile_all

    def __init__(self, statement: Any, keys: Iterable[str] | None = None):
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._compiled: dict[str, Any] = {}
        Prepared.made.append(self)

    @classmethod
    def compile_all(cls, dialect: Any) -> None:
        """Compile every statement for ``dialect`` now (the server does, before its workers
        fork, so that none compiles them again on a clinician's first request)."""
        for prepared in cls.made:
            prepared._for(dialect)

    def _for(self, dialect: Any) -> Any:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.keys)
            self._compiled[dialect.name] = compiled
        return compiled

    def _args(self, compiled: Any, dialect: Any, params: dict[str, Any]) -> Any:
        values = compiled.construct_params(params)
        return [values[name] for name in compiled.positiontup] if dialect.positional else values

    def run(self, cursor: Any, dialect: Any, params: dict[str, Any] | None = None) -> Any:
        compiled = self._for(dialect)
        cursor.execute(compiled.string, self._args(compiled, dialect, params or {}))
        return cursor

    def run_many(self, cursor: Any, dialect: Any, rows: list[dict[str, Any]]) -> None:
        compiled = self._for(dialect)
        cursor.executemany(compiled.string, [self._args(compiled, dialect, row) for row in rows])


def cursor_of(conn: Any) -> Any:
    """A driver cursor on ``conn``'s connection (in its transaction)."""
    return conn.connection.dbapi_connection.cursor()


def mapping(cursor: Any) -> dict[str, Any] | None:
    """The cursor's next row as a dict by column name, or None."""
    row = cursor.fetchone()
    return None if row is None else dict(zip((d[0] for d in cursor.description), row))
