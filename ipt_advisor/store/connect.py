"""Opening the database: where it lives, how SQLite is set up, migrations, and what a
failed database call means in words.

* The default is a SQLite file in the user's data folder (``$XDG_DATA_HOME/ipt-advisor``,
  else ``~/.local/share/ipt-advisor``): the folder is created 0o700 and the file 0o600 before
  SQLite first opens it, so health data is never readable by others, whatever the umask.
  SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions.
* SQLite runs in WAL mode (readers never wait for the writer), with a busy timeout (a writer
  waits for another instead of failing at once) and ``synchronous=FULL`` (a stored assessment
  survives a power cut). Write transactions start with ``BEGIN IMMEDIATE``: they take the
  write lock first, so two writers never deadlock on a lock upgrade.
* ``postgresql+psycopg://...`` connects to a clinic's server (psycopg is the ``postgresql``
  extra). Passwords in a URL are never printed (:func:`display_url`).
* The schema is Alembic's: :func:`migrate` brings a database to the newest revision, and
  :func:`check_current` refuses to read one that is older or newer than this tool.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import IptError, Problem

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT = 5.0  # seconds a writer waits for the SQLite write lock before giving up


class StoreError(IptError):
    """The database cannot be opened, or is not an ipt-advisor database of this version."""


class StoreUnavailable(StoreError):
    """A database call failed (locked, full, unreachable); nothing of it was stored."""

    def __init__(self, source: str, reason: str):
        self.reason = reason
        super().__init__([Problem(source, None, "", reason)])


def default_url() -> str:
    """``sqlite:///`` + the default database file in the user's data folder."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return "sqlite:///" + os.path.join(base, "ipt-advisor", "ipt-advisor.db")


def display_url(url: Any) -> str:
    """The URL with any password hidden, for messages and the server's start-up lines."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without what could be a secret
        return str(url).split("@")[-1]


def _sqlite_file(path: str, create: bool, source: str) -> None:
    """Make sure the database file exists owner-only (or refuse a missing one)."""
    if os.path.exists(path):
        if os.stat(path).st_mode & 0o077 and os.stat(path).st_uid == os.getuid():
            os.chmod(path, 0o600)  # holds health data: owner only
        return
    if not create:
        raise StoreError([Problem(source, None, "", "no database here: `ipt-advisor serve --db URL` creates it")])
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(
            [Problem(source, None, "", f"cannot create the database file: {exc.strerror or exc}")]
        ) from None


class WriterLock:
    """Writers of one SQLite file, across processes, one at a time (``flock`` on a file next to
    it, ``PATH-writer.lock``, owner-only).

    SQLite's own busy handler also makes writers wait, but it polls with sleeps growing to
    100 ms, so with several server processes a writer could wait far longer than the writes
    ahead of it took, or, under steady load, lose every retry for ``busy_timeout`` and fail.
    Here a waiting writer polls every millisecond at most, so it follows the writer before
    it almost at once; past ``timeout`` it gives up like SQLite would ("locked"). The file is
    opened once per process (a ``flock`` is shared by everyone holding the same open file,
    so a forked worker must open its own)."""

    def __init__(self, database: str, timeout: float):
        self.path = os.path.abspath(database) + "-writer.lock"
        self.timeout = timeout
        self._fd = -1
        self._pid = -1

    def _open(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> bool:
        """Wait for the lock; False if another process held it for longer than ``timeout``."""
        import fcntl
        import time

        fd = self._open()
        deadline, pause = time.monotonic() + self.timeout, 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def release(self) -> None:
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._pid == os.getpid() and self._fd >= 0:
            os.close(self._fd)
        self._fd, self._pid = -1, -1


def open_engine(
    url: str | None = None, *, create: bool = True, pool_size: int = 8, busy_timeout: float = BUSY_TIMEOUT
) -> Any:
    """A SQLAlchemy engine for ``url`` (default: :func:`default_url`), set up as above.

    ``create`` False refuses a SQLite file that does not exist yet (read-only commands
    such as ``export`` and ``log verify`` must not leave an empty database behind)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = url or default_url()
    source = display_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            [Problem(source, None, "", "not a database URL: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")]
        ) from None
    options: dict[str, Any] = {"hide_parameters": True, "future": True}  # intake data never in messages
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError([Problem(source, None, "", "give the SQLite database a file: sqlite:///PATH")])
        _sqlite_file(parsed.database, create, source)
        options.update(
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
    elif parsed.get_backend_name() == "postgresql":
        options.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    else:
        raise StoreError(
            [
                Problem(
                    source,
                    None,
                    "",
                    f"unsupported database {parsed.get_backend_name()!r}: "
                    "use sqlite:///PATH or postgresql+psycopg://...",
                )
            ]
        )
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ImportError, ModuleNotFoundError) as exc:
        raise StoreError(
            [
                Problem(
                    source,
                    None,
                    "",
                    f"no driver for this database ({exc}): for PostgreSQL install ipt-advisor[postgresql]",
                )
            ]
        ) from None
    if engine.dialect.name == "sqlite":
        _set_up_sqlite(engine, event, busy_timeout)
    return engine


def _set_up_sqlite(engine: Any, event: Any, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN is replaced below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")  # persistent: set once, on the first connection
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get("ipt_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Any) -> None:
    """Bring the database to the newest schema revision (creates it when empty)."""
    from alembic import command

    try:
        with engine.connect() as connection:
            connection.execution_options(ipt_write=True)
            with connection.begin():
                command.upgrade(_alembic_config(connection), "head")
    except Exception as exc:  # noqa: BLE001 - any failure to reach or change the database
        raise unavailable(engine, exc) from None


def check_current(engine: Any) -> None:
    """Refuse a database this version cannot read: empty, older, or from a newer tool."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    source = display_url(engine.url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:  # noqa: BLE001
        raise unavailable(engine, exc) from None
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    if current is None:
        raise StoreError(
            [
                Problem(
                    source,
                    None,
                    "",
                    "not an ipt-advisor database (no schema): `ipt-advisor serve --db URL` creates one",
                )
            ]
        )
    if current != head:
        raise StoreError(
            [
                Problem(
                    source,
                    None,
                    "",
                    f"database schema {current}, this ipt-advisor reads {head}: "
                    "start `ipt-advisor serve --db URL` of the newer version to upgrade it",
                )
            ]
        )


# --------------------------------------------------------------------------- failures in words

_SQLITE_REASONS = (
    ("locked", "the database is locked by another program (still busy after the wait)"),
    ("busy", "the database is locked by another program (still busy after the wait)"),
    ("disk is full", "the disk holding the database is full"),
    ("database or disk is full", "the disk holding the database is full"),
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("unable to open", "the database file cannot be opened"),
    ("disk i/o error", "the disk holding the database failed (I/O error)"),
    ("malformed", "the database file is damaged"),
    ("not a database", "the file is not a database"),
)


def reason(exc: BaseException) -> str:
    """What went wrong, in words a clinician can pass on, without any stored value."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return "the database is busy: no connection became free in time"
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).lower().split("\n")[0]
    module = type(orig).__module__
    if module.startswith("sqlite3") or "sqlite" in module:
        for needle, words in _SQLITE_REASONS:
            if needle in text:
                return words
    if module.startswith("psycopg"):
        sqlstate = getattr(orig, "sqlstate", None) or ""
        if sqlstate == "53100":
            return "the database server's disk is full"
        if sqlstate.startswith("53"):
            return "the database server is out of resources"
        if sqlstate in ("55P03", "40P01") or "lock" in text:
            return "the database is locked by another transaction"
        if (
            sqlstate.startswith("08")
            or isinstance(exc, (OperationalError, InterfaceError))
            and ("connect" in text or "server" in text or "terminat" in text or "closed" in text)
        ):
            return "the database server cannot be reached"
        if sqlstate.startswith("57"):
            return "the database server is shutting down or refused the operation"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "the connection to the database was lost"
    return f"the database refused the operation ({type(orig).__name__})"


def unavailable(engine: Any, exc: BaseException) -> StoreUnavailable:
    """A failed database call as a :class:`StoreUnavailable` naming the database."""
    return StoreUnavailable(display_url(engine.url), reason(exc))
