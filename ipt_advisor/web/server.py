"""Running the app under waitress, and stopping it cleanly.

``run`` binds (``port`` 0 picks a free one), reports the address through ``ready`` (the CLI
prints the first line scripts wait for), then serves until SIGTERM or SIGINT. On either it
stops accepting connections, lets every request already received or being received run to
its response (up to ``grace`` seconds), closes idle keep-alive connections, and returns: an
assessment being stored is finished, never cut off.

The access log (stderr) has method, path without its query string (the token), status and
time only: a request's body (what a clinician typed) is never logged.
"""
from __future__ import annotations

import logging
import signal
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
            line = (f"{time.strftime('%H:%M:%S')} {environ.get('REQUEST_METHOD', '-')} "
                    f"{environ.get('PATH_INFO', '-')} {status[0]} {(time.perf_counter() - started) * 1000:.0f} ms\n")
            with lock:
                try:
                    out.write(line)
                    out.flush()
                except (OSError, ValueError):
                    pass

    return logged


def _busy(channel: Any) -> bool:
    """Whether a connection has a request in progress: being received, queued or answered."""
    return bool(getattr(channel, "request", None) is not None or getattr(channel, "requests", None)
                or getattr(channel, "total_outbufs_len", 0))


def run(app: Any, host: str, port: int, *, threads: int = 8, ready: Callable[[str, int], None] | None = None,
        grace: float = 30.0) -> int:
    """Serve ``app`` until SIGTERM/SIGINT; returns the signal number that stopped it."""
    from waitress import wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is normal under load
    server = create_server(app, host=host, port=port, threads=threads, ident="ipt-advisor",
                           clear_untrusted_proxy_headers=True, channel_timeout=60)
    socket_map = server._map
    stopped: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        server.pull_trigger()  # wake the loop now rather than at its next timeout

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready(str(server.effective_host), int(server.effective_port))
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
