"""A real PostgreSQL server for the tests, started by the suite itself.

Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``, or ``pg_ctl`` on PATH):
``initdb`` into a fresh temporary folder (trust authentication, loopback only), ``pg_ctl
start`` on a free port with its socket in that folder, a fresh database per test. As root
(PostgreSQL refuses to run as root) it runs as the ``postgres`` user, else ``nobody``.
Missing, the tests skip with the install command, except under CI (env ``CI`` set), where
they fail: ``.ci/run`` installs the package.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

INSTALL = "apt-get install -y postgresql"


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="ipt-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
            if self.user is None:
                raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._names = itertools.count(1)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def start(self) -> None:
        done = self._run(
            self.bin / "initdb", "-D", self.data, "-U", "ipt", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"
        )
        assert done.returncode == 0, done.stderr
        self._pg_ctl_start()

    def stop(self, mode: str = "fast") -> None:
        self._run(self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self._pg_ctl_start()

    def _pg_ctl_start(self) -> None:
        """Start the server on the cluster made by start(), waiting up to 60 s for it to accept."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        done = self._run(
            self.bin / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.dir / "server.log",
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        assert done.returncode == 0, done.stdout + done.stderr + self.log()

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text()
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://ipt@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"ipt_test_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=ipt dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def missing() -> str | None:
    if binaries() is None:
        return f"PostgreSQL not found: install with {INSTALL}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed: pip install -e '.[test]'"
    return None


def postgres_server() -> Iterator[PostgresServer]:
    """A started server for a test module (skip, or fail under CI, without PostgreSQL)."""
    reason = missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the PostgreSQL tests must run in CI: {reason}")
        pytest.skip(reason)
    server = PostgresServer(binaries())  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.remove()


NewDatabase = Callable[[], str]
