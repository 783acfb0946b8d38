"""Stopping a long run cleanly on SIGINT (Ctrl-C) or SIGTERM (``kill``, a service manager).

    with StopSignals() as stop:
        for chunk in work:
            ...                      # whole units of work only
            if stop.requested():
                break                # save what is done, then raise Interrupted(stop.signum, ...)

While the block runs, the first SIGINT or SIGTERM only *records* the request: the signal
never lands in the middle of a write, so a batch stops between two whole chunks, with its
progress saved. A second signal of the same kind gets the default action back and ends the
process at once (the last saved progress still stands).

Exit codes follow the shell convention, 128 + the signal number: 130 for SIGINT, 143 for
SIGTERM (:func:`exit_code`).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from .errors import IptError, Problem

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(IptError):
    """A run stopped on a signal; what was done is kept for ``--resume``."""

    def __init__(self, signum: int, problems: list[Problem]):
        self.signum = signum
        super().__init__(problems)


class WorkerLost(IptError):
    """A worker process died under a run (killed by the system, e.g. out of memory); what was
    done is kept for ``--resume``."""


def exit_code(signum: int) -> int:
    """128 + the signal number, as a shell reports a process ended by that signal."""
    return 128 + signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """Turns SIGINT and SIGTERM into a stop request for the duration of a ``with`` block.

    Outside the main thread (where Python cannot install handlers) it does nothing and
    :meth:`requested` stays false."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        # the next one of the same kind is not asked twice: it stops the process now
        signal.signal(signum, signal.SIG_DFL)

    def requested(self) -> bool:
        return self.signum is not None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
