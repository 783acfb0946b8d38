"""Running the app under waitress, in one or several processes, and stopping it cleanly.

``listen`` binds the socket (``port`` 0 picks a free one); ``run`` serves the app on it until
SIGTERM or SIGINT and reports through ``ready`` once requests are being answered (the CLI then
prints the first line scripts wait for). On either signal a server stops accepting
connections, lets every request already received or being received run to its response (up
to ``grace`` seconds), closes idle keep-alive connections, and returns: an assessment being
stored is finished, never cut off.

With ``workers`` > 1 the parent binds the one socket and forks that many waitress processes
that accept from it (Python runs one thread at a time per process, so one process uses one
core however many threads it has). Everything per launch — the token, the session key, the
loaded rule set — is made before the fork, so every worker accepts the same cookie and CSRF
token; the database pool is emptied before each fork, so no connection is shared between
processes (the store serialises writers across processes: ``store.cases``). The parent only
supervises: it replaces a worker that died, and on SIGTERM/SIGINT tells every worker to stop
and returns once all have answered what they had received.

The access log (stderr) has method, path without its query string (the token), status and
time only: a request's body (what a clinician typed) is never logged.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import select
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable

log = logging.getLogger("ipt_advisor.web")


def access_log(app: Any, stream: Any = None) -> Any:
    """WSGI middleware: one line per request (no query string, no body)."""
    out = stream or sys.stderr
    lock = threading.Lock()

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        status: list[str] = ["-"]

        def remember(code: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        try:
            return app(environ, remember)
        finally:
            line = (
                f"{time.strftime('%H:%M:%S')} {environ.get('REQUEST_METHOD', '-')} "
                f"{environ.get('PATH_INFO', '-')} {status[0]} {(time.perf_counter() - started) * 1000:.0f} ms\n"
            )
            with lock:
                try:
                    out.write(line)
                    out.flush()
                except (OSError, ValueError):
                    pass

    return logged


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (``OSError`` if it cannot be bound)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _busy(channel: Any) -> bool:
    """Whether a connection has a request in progress: being received, queued or answered."""
    return bool(
        getattr(channel, "request", None) is not None
        or getattr(channel, "requests", None)
        or getattr(channel, "total_outbufs_len", 0)
    )


def _balance(server: Any, counts: Any, slot: int) -> None:
    """Let this worker accept a connection only while no other has fewer open.

    Browsers keep a connection open for many requests, so who accepts decides who serves:
    left to the race for ``accept`` a burst of clinicians' connections can all land in one
    worker, and one core does the work of two. Each worker publishes its number of open
    connections in ``counts`` (shared memory, one slot each) whenever waitress asks whether
    to listen; the least busy ones listen (ties all do, so someone always does)."""
    readable = server.readable

    def balanced() -> bool:  # called on every turn of the loop: kept cheap
        listening = bool(readable())  # first: it also closes connections idle too long
        mine = len(server.active_channels)
        if counts[slot] != mine:
            counts[slot] = mine
        return listening and mine <= min(counts)

    server.readable = balanced


def _channel_class() -> Any:
    """waitress's connection, without its busy wait while a response is being made.

    waitress asks to be woken for writing whenever a connection has output buffered, also
    while the request's task is still running. The task then holds the buffer's lock while
    it sends (its own writes flush once ``send_bytes`` are buffered), so the loop's attempt
    finds the lock taken and sends nothing, or, below ``send_bytes``, does not try: the
    socket stays writable, the loop spins, and each turn takes the interpreter lock from
    the threads that make the responses (measured: some 30 turns per request, a tenth of a
    worker's CPU). Here, while a task runs, the loop is not woken for writing unless the
    task is waiting for it (more than ``outbuf_high_watermark`` buffered, waitress's
    back-pressure); waitress pulls its trigger at the end of every task, and then what is
    left is sent as before. A connection about to close is flushed as before."""
    from waitress.channel import HTTPChannel

    class Channel(HTTPChannel):
        def writable(self) -> bool:
            if self.will_close or self.close_when_flushed:
                return True
            buffered = self.total_outbufs_len
            if not buffered:
                return False
            return not self.requests or buffered > self.adj.outbuf_high_watermark

    return Channel


def _serve(
    app: Any,
    sock: socket.socket,
    threads: int,
    grace: float,
    started: Callable[[], None],
    counts: Any = None,
    slot: int = 0,
) -> int:
    """One waitress server on ``sock`` until SIGTERM/SIGINT; the signal number that stopped it."""
    from waitress import wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import create_server

    stopped: list[int] = []
    server: Any = None

    def stop(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        if server is not None:
            server.pull_trigger()  # wake the loop now rather than at its next timeout

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is normal under load
        server = create_server(
            app,
            sockets=[sock],
            threads=threads,
            ident="ipt-advisor",
            clear_untrusted_proxy_headers=True,
            channel_timeout=60,
        )
        server.channel_class = _channel_class()
        socket_map = server._map
        if counts is not None:
            _balance(server, counts, slot)
        started()
        while not stopped:
            wasyncore.loop(timeout=1.0, map=socket_map, count=1)
        # stop accepting; finish what was received or is being received
        wasyncore.dispatcher.close(server)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            channels = [c for c in list(socket_map.values()) if isinstance(c, HTTPChannel)]
            for channel in channels:
                if not _busy(channel):
                    channel.handle_close()
            if not any(_busy(c) for c in channels):
                break
            wasyncore.loop(timeout=0.05, map=socket_map, count=1)
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=max(1.0, deadline - time.monotonic()))
        wasyncore.close_all(socket_map)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return stopped[0] if stopped else 0


def run(
    app: Any,
    sock: socket.socket,
    *,
    threads: int = 8,
    workers: int = 1,
    ready: Callable[[], None] | None = None,
    before_fork: Callable[[], None] | None = None,
    grace: float = 30.0,
) -> tuple[int, bool]:
    """Serve ``app`` on ``sock`` until SIGTERM/SIGINT, in ``workers`` processes of ``threads``
    threads each. ``ready`` is called once every worker answers; ``before_fork`` before each
    worker is forked (to close database connections the parent holds). Returns the signal
    that stopped it and whether every worker finished cleanly."""
    gc.collect()
    gc.freeze()  # the loaded rule set and app, out of the collector's sight (and shared copy-on-write)
    if workers <= 1:
        try:
            return _serve(app, sock, threads, grace, ready or (lambda: None)), True
        finally:
            sock.close()
    try:
        return _Supervisor(app, sock, workers, threads, grace, before_fork).run(ready or (lambda: None))
    finally:
        sock.close()


class _Supervisor:
    """The parent of the worker processes (see the module docstring)."""

    RESPAWN_PAUSE = 1.0  # a worker dying at once again and again is not restarted in a tight loop

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        workers: int,
        threads: int,
        grace: float,
        before_fork: Callable[[], None] | None,
    ):
        self.app, self.sock, self.workers, self.threads, self.grace = app, sock, workers, threads, grace
        self.before_fork = before_fork or (lambda: None)
        self.children: dict[int, tuple[float, int]] = {}  # pid -> (when it started, its slot)
        self.counts = multiprocessing.RawArray("i", workers)  # open connections per worker slot
        self.clean = True
        self.ready_r, self.ready_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.ready_r, self.wake_r, self.wake_w):
            os.set_blocking(fd, False)

    def _spawn(self, slot: int) -> None:
        self.counts[slot] = 0
        self.before_fork()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):  # _serve sets its own
                    signal.signal(sig, signal.SIG_DFL)
                for fd in (self.ready_r, self.wake_r, self.wake_w):
                    os.close(fd)

                def started() -> None:
                    os.write(self.ready_w, b".")

                _serve(self.app, self.sock, self.threads, self.grace, started, self.counts, slot)
                code = 0
            except BaseException as exc:  # noqa: BLE001 - a worker reports and exits; the parent decides
                log.error("worker %d failed: %s", os.getpid(), type(exc).__name__)
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, ValueError):
                        pass
                os._exit(code)
        self.children[pid] = (time.monotonic(), slot)

    def _reap(self) -> list[tuple[int, int, tuple[float, int]]]:
        """The workers that ended since the last call: (pid, exit status, (when it started, slot))."""
        ended = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            began = self.children.pop(pid, None)
            if began is not None:
                self.counts[began[1]] = 2**31 - 1  # a dead worker's slot must not look the least busy
                ended.append((pid, os.waitstatus_to_exitcode(status), began))
        return ended

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal (the wake-up pipe), a ready worker or ``timeout``."""
        try:
            select.select([self.wake_r, self.ready_r], [], [], timeout)
        except InterruptedError:
            pass
        try:
            os.read(self.wake_r, 512)
        except BlockingIOError:
            pass

    def run(self, ready: Callable[[], None]) -> tuple[int, bool]:
        stopped: list[int] = []
        previous = {
            sig: signal.signal(sig, lambda signum, _f: stopped.append(signum))
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)
        old_wakeup = signal.set_wakeup_fd(self.wake_w)
        try:
            for slot in range(self.workers):
                self._spawn(slot)
            started = 0
            while started < self.workers and not stopped:
                self._wait(1.0)
                try:
                    started += len(os.read(self.ready_r, 64))
                except BlockingIOError:
                    pass
                if self._reap():  # a worker that cannot start: stop, do not loop
                    log.error("a worker process failed to start")
                    self.clean = False
                    stopped.append(signal.SIGTERM)
            if not stopped:
                ready()
            while not stopped:
                self._wait(1.0)
                for pid, code, (began, slot) in self._reap():
                    log.error("worker %d ended unexpectedly (exit %d); starting another", pid, code)
                    if time.monotonic() - began < self.RESPAWN_PAUSE:
                        time.sleep(self.RESPAWN_PAUSE)
                    self._spawn(slot)
            self._stop_all()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in (self.ready_r, self.ready_w, self.wake_r, self.wake_w):
                os.close(fd)
        return stopped[0], self.clean

    def _stop_all(self) -> None:
        """SIGTERM to every worker; wait for each to answer what it received (then SIGKILL)."""
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.grace + 5.0
        while self.children and time.monotonic() < deadline:
            for _pid, code, _began in self._reap():
                self.clean = self.clean and code == 0
            if self.children:
                self._wait(0.1)
        for pid in list(self.children):
            log.error("worker %d did not stop in time; killed", pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.clean = False
        self.children.clear()
