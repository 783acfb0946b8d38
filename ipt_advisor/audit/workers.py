"""An ordered parallel map over worker processes this module owns, each with its own pipes.

    for results in ordered_map(records, init, run, args, jobs=2):
        ...                                   # one list per chunk, in input order

``jobs`` counts the processes that work: the calling process takes chunks itself between
collecting results, beside ``jobs - 1`` forked workers (see :func:`ordered_map` for why).

Why not ``multiprocessing.Pool`` (what this replaced): its workers share one result queue
guarded by one lock. A worker killed while holding that lock, or half-way through sending a
result, left the pool waiting for ever (``terminate()`` included); guarding against that meant
relying on the pool's private parts. Here every worker has a pipe of its own in each
direction, so a worker that dies damages only its own pipes: the parent sees the end of its
result pipe, raises :class:`~ipt_advisor.core.interrupt.WorkerLost`, and kills the others.

* Workers are forked (they inherit the loaded modules and rule sets), ignore SIGINT and
  SIGTERM (the parent alone decides when to stop, between chunks) and, on Linux, are killed by
  the kernel if the parent dies, even by SIGKILL. Ending a run, early or not, is SIGKILL to
  every worker and a wait for each: nothing a worker holds is worth saving, so nothing can hang.
* The parent never blocks on a worker: it writes chunks without blocking (what a pipe does not
  take now is sent later) and reads a result only when select says its pipe is readable, so
  a worker writing a large result while the parent sends it the next chunk cannot deadlock.
* At most ``WINDOW`` chunks are in flight per worker, so memory does not grow with the input.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import sys
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Generator, Iterable, Iterator

from ..core.errors import Problem
from ..core.interrupt import WorkerLost, signal_name

CHUNK = 64  # records per message to a worker
WINDOW = 4  # chunks in flight per worker
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_HEADER = struct.Struct("<Q")  # a message is its length, then its pickle
_POLL = 0.1  # seconds between two checks of stopped() while waiting
#: Pipe capacity asked for (Linux; the default is 64 KB): a chunk's results (64 decisions of
#: ~5 KB) then cross in one read instead of six, each a wake-up of the parent and a copy.
PIPE_BYTES = 1 << 20


def _never() -> bool:
    return False


def _chunks(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _read_exactly(fd: int, n: int) -> bytes | None:
    """``n`` bytes from ``fd``, or None at the end of the pipe (the writer died)."""
    block = os.read(fd, n)  # mostly all of it at once (PIPE_BYTES): no join, no second copy
    if len(block) == n or not block:
        return block or None
    parts, left = [block], n - len(block)
    while left:
        block = os.read(fd, min(left, 1 << 20))
        if not block:
            return None
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def _roomy(fd: int) -> None:
    """Ask for a pipe of PIPE_BYTES (Linux only; where refused, the default serves)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined, unused-ignore]  # Linux only in typeshed
    except (ImportError, AttributeError, OSError):
        pass


def _read_message(fd: int) -> Any:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --------------------------------------------------------------------------- in a worker


def _long_lived(state: Any) -> Any:
    """Move everything built so far (modules, the loaded rule set and its engine) out of the
    garbage collector's sight: none of it is ever garbage in a worker, yet every full
    collection would walk it again, which cost ~15% of a worker's time."""
    import gc

    gc.collect()
    gc.freeze()
    return state


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this worker if the parent dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _serve(
    inbox: int, outbox: int, init: Callable[..., Any], run: Callable[[Any, Any], Any], args: tuple[Any, ...]
) -> None:
    try:
        state = _long_lived(init(*args))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent as one line
        _write_all(outbox, _frame(("failed", f"{type(exc).__name__}: {exc}")))
        return
    while (chunk := _read_message(inbox)) is not None:
        try:
            reply: tuple[str, Any] = ("ok", [run(state, record) for record in chunk])
        except BaseException as exc:  # noqa: BLE001 - a bug in run(): one line, not a traceback
            reply = ("failed", f"{type(exc).__name__}: {exc}")
        _write_all(outbox, _frame(reply))


def _worker_main(
    inbox: int,
    outbox: int,
    inherited: list[int],
    init: Callable[..., Any],
    run: Callable[[Any, Any], Any],
    args: tuple[Any, ...],
    parent: int,
) -> None:
    """A forked worker's whole life; it never returns into the parent's code."""
    code = 0
    try:
        # SIGINT/SIGTERM were blocked before the fork, so none reached the parent's handlers
        # (inherited until these lines); one sent meanwhile is discarded once ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        _die_with_parent(parent)
        for fd in inherited:  # the parent's ends of other workers' pipes, and its private files
            try:
                os.close(fd)
            except OSError:
                pass
        _serve(inbox, outbox, init, run, args)
    except BaseException:  # noqa: BLE001 - the parent reports a lost worker
        code = 1
    finally:
        os._exit(code)


# --------------------------------------------------------------------------- in the parent


class _Worker:
    def __init__(self, pid: int, to_worker: int, from_worker: int):
        self.pid = pid
        self.to_worker = to_worker  # non-blocking: the parent never waits on a full pipe
        self.from_worker = from_worker
        self.outgoing = bytearray()  # what the pipe did not take yet
        self.in_flight: deque[int] = deque()  # chunk numbers sent, answered in this order
        self.status: int | None = None

    def flush(self) -> None:
        try:
            sent = os.write(self.to_worker, self.outgoing)
        except BlockingIOError:
            return
        except BrokenPipeError:  # it died: the end of its result pipe reports that
            self.outgoing.clear()
            return
        del self.outgoing[:sent]

    def kill(self) -> None:
        if self.status is not None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.reap()

    def reap(self) -> None:
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        self.to_worker = self.from_worker = -1

    def lost(self, where: str, why: str | None = None) -> WorkerLost:
        if why is None:
            self.kill()  # its result pipe ended: it is dead or dying; SIGKILL makes sure
            code = os.waitstatus_to_exitcode(self.status or 0)
            how = f"killed by {signal_name(-code)}" if code < 0 else f"exit {code}"
            why = f"died ({how}; out of memory?)"
        return WorkerLost([Problem(where, None, "", f"worker process {self.pid} {why}")])


#: pids of the workers of the map running now (tests and the chaos harness kill them)
LIVE: list[int] = []


def _spawn(
    jobs: int,
    init: Callable[..., Any],
    run: Callable[[Any, Any], Any],
    args: tuple[Any, ...],
    private_fds: Iterable[int],
) -> list[_Worker]:
    workers: list[_Worker] = []
    parent = os.getpid()
    masked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        for _ in range(jobs):
            inbox, to_worker = os.pipe()
            from_worker, outbox = os.pipe()
            _roomy(from_worker)  # results are the big messages; chunks of raw records are smaller
            inherited = [fd for w in workers for fd in (w.to_worker, w.from_worker)]
            inherited += [to_worker, from_worker, *private_fds]
            pid = os.fork()
            if pid == 0:
                _worker_main(inbox, outbox, inherited, init, run, args, parent)
            os.close(inbox)
            os.close(outbox)
            os.set_blocking(to_worker, False)
            workers.append(_Worker(pid, to_worker, from_worker))
            LIVE.append(pid)
    except BaseException:
        _stop(workers)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, masked)
    return workers


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.kill()
        if worker.pid in LIVE:
            LIVE.remove(worker.pid)


def ordered_map(
    records: Iterable[Any],
    init: Callable[..., Any],
    run: Callable[[Any, Any], Any],
    args: tuple[Any, ...],
    jobs: int,
    chunk: int = CHUNK,
    stopped: Callable[[], bool] = _never,
    where: str = "",
    private_fds: Iterable[int] = (),
) -> Generator[list[Any], None, None]:
    """``run(state, record)`` for every record, results yielded per chunk in input order.

    ``jobs`` processes do the work: this one and ``jobs - 1`` forked workers, each with
    ``state = init(*args)`` built once. This process takes a chunk itself whenever no result
    is waiting and fewer than ``WINDOW`` of its own are unconsumed: a separate, mostly idle
    parent would be a third process on two cores, and every chunk it hands over instead
    costs a pickle each way (measured: 1.68x for two workers and a parent, 1.9x for one
    worker and a working parent; see the README's Performance section). With ``jobs <= 1``
    no worker is forked. Iteration ends early, workers killed, once ``stopped()`` is true;
    it raises ``WorkerLost`` (a problem about ``where``) if a worker dies or fails, and
    whatever ``run`` raises here. ``private_fds`` are closed in the workers (a lock only the
    parent may hold).
    """
    if jobs <= 1:
        yield from _in_process(records, init, run, args, chunk, stopped)
        return
    workers = _spawn(jobs - 1, init, run, args, tuple(private_fds))
    try:
        state = init(*args)  # built before the freeze, as in _in_process, so it is frozen too
        with _frozen():
            yield from _drive(
                workers, _chunks(records, chunk), stopped, where, lambda part: [run(state, r) for r in part]
            )
    finally:
        _stop(workers)


@contextmanager
def _frozen() -> Iterator[None]:
    """As in a worker (see _long_lived), but this process lives on after the run: what is
    frozen now is handed back to the collector at the end (unless someone else froze first)."""
    import gc

    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()


def _in_process(
    records: Iterable[Any],
    init: Callable[..., Any],
    run: Callable[[Any, Any], Any],
    args: tuple[Any, ...],
    chunk: int,
    stopped: Callable[[], bool],
) -> Iterator[list[Any]]:
    state = init(*args)
    with _frozen():
        for part in _chunks(records, chunk):
            if stopped():
                return
            yield [run(state, record) for record in part]


def _drive(
    workers: list[_Worker],
    chunks: Iterator[list[Any]],
    stopped: Callable[[], bool],
    where: str,
    local: Callable[[list[Any]], list[Any]],
) -> Iterator[list[Any]]:
    """Keep every worker up to WINDOW chunks ahead, collect their results, do chunks here
    (``local``) while none is waiting, and yield the results in chunk order."""
    done: dict[int, Any] = {}
    sent = wanted = 0  # chunks handed out (to a worker or done here); the next one to yield
    exhausted = False
    by_fd = {w.from_worker: w for w in workers}
    while True:
        while not exhausted:
            worker = min(workers, key=lambda w: len(w.in_flight))
            if len(worker.in_flight) >= WINDOW:
                break
            part = next(chunks, None)
            if part is None:
                exhausted = True
                break
            worker.outgoing += _frame(part)
            worker.in_flight.append(sent)
            sent += 1
            worker.flush()
        while wanted in done:
            yield done.pop(wanted)
            wanted += 1
        if wanted == sent and exhausted:
            return
        if stopped():
            return
        can_work = not exhausted and len(done) < WINDOW
        writing = [w.to_worker for w in workers if w.outgoing]
        readable, writable, _ = select.select(list(by_fd), writing, [], 0 if can_work else _POLL)
        for fd in writable:
            next(w for w in workers if w.to_worker == fd).flush()
        for fd in readable:
            worker = by_fd[fd]
            message = _read_message(fd)
            if message is None:
                raise worker.lost(where)
            kind, payload = message
            if kind != "ok":
                raise worker.lost(where, f"failed: {payload}")
            done[worker.in_flight.popleft()] = payload
        if can_work and not readable:
            part = next(chunks, None)
            if part is None:
                exhausted = True
            else:
                done[sent] = local(part)
                sent += 1
