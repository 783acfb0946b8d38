"""What an audit keeps on disk while it runs, so an interrupted run can be finished (``--resume``).

In the output folder, all owner-only (0o600):

* ``NAME.partial`` for each output (:class:`PartialFile`): written in whole chunks of whole
  lines, in input order. A write that fails half-way (a full disk) is cut back to the last
  whole line at once, so these files never end in half a line.
* ``.audit-state.json`` (:class:`StateFile`): written when a run starts and replaced
  (temp file, fsync, rename) at every checkpoint. It names what the run is doing — the
  input (path, kind, size and sha256, see :meth:`~ipt_advisor.intake.corpus.Corpus.fingerprint`),
  the rule set (name, version, sha256), the tool version and the decision log — and how far
  it got: how many records are done, the byte length of each ``.partial`` file at that point
  and the summary counters (:meth:`~ipt_advisor.audit.summary.Tally.snapshot`).

A checkpoint is consistent by construction: it is taken between two chunks, after the
``.partial`` files were synced, and (with ``--log``) only once the decision log holds every
decision it counts. Resuming therefore cuts each ``.partial`` file back to the length saved
(dropping anything written after the checkpoint, a cut line included), restores the
counters and skips that many records: every record is written exactly once, and the final
files are byte for byte those of an uninterrupted run.

The state outlives the run: once every output is in place it is saved a last time with
``"phase": "done"``, and stays. A finished folder therefore says which input, rule set and
log made it, and a process killed after it finished but before it exited (the chaos
harness's SIGKILL there, exit -9 and no message) leaves what ``--resume`` needs to say
"finished". Without it, the same command again logged every decision a second time: a
state whose decisions are in the log is never deleted, and a fresh run over a state of the
same run that logged decisions refuses (:func:`refuse_to_log_twice`).
"""

from __future__ import annotations

import fcntl
import json
import os
from typing import Any

from ..core.errors import IptError, OutputError, Problem
from ..core.output import fsync_directory

STATE_NAME = ".audit-state.json"
STATE_VERSION = 1
_OPEN = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_BLOCK = 1 << 20
_replace = os.replace  # one name for putting a finished file in place (tests kill the run there)


class ResumeError(IptError):
    """``--resume`` cannot continue this output folder (nothing to resume, or it belongs to
    another input, rule set, tool version or decision log); or a run without ``--resume``
    would log again decisions that a saved run of the same audit logged already."""


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _cannot_write(path: str, exc: OSError) -> OutputError:
    return OutputError([Problem(path, None, "", f"cannot write: {exc.strerror or exc}")])


def _cannot_resume(path: str, message: str) -> ResumeError:
    return ResumeError([Problem(path, None, "", f"cannot resume: {message}")])


# --------------------------------------------------------------------------- .partial files


class PartialFile:
    """An output written to ``PATH.partial`` and renamed to ``PATH`` by :meth:`commit`.

    ``keep=None`` starts it empty; ``keep=N`` (resuming) keeps its first N bytes, which must
    exist and end with a newline. :attr:`size` is the byte length of the whole lines written.
    """

    def __init__(self, path: str, keep: int | None = None):
        self.path = path
        self.partial = path + ".partial"
        # resuming must find the file it left, unless nothing was written to it yet
        flags = os.O_RDWR | _OPEN | (os.O_CREAT | os.O_TRUNC if keep is None else os.O_CREAT if keep == 0 else 0)
        try:
            self.fd = os.open(self.partial, flags, 0o600)
        except OSError as exc:
            if keep and isinstance(exc, FileNotFoundError):
                raise _cannot_resume(self.partial, "the file is missing") from None
            raise _cannot_write(path, exc) from None
        try:
            os.fchmod(self.fd, 0o600)  # the umask may have removed bits; an existing file may have had more
            self.size = 0 if keep is None else self._keep(keep)
            os.lseek(self.fd, self.size, os.SEEK_SET)
        except OSError as exc:
            os.close(self.fd)
            raise _cannot_write(path, exc) from None
        except ResumeError:
            os.close(self.fd)
            raise

    def _keep(self, keep: int) -> int:
        size = os.fstat(self.fd).st_size
        if size < keep:
            raise _cannot_resume(
                self.partial,
                f"holds {size} bytes, fewer than the {keep} the saved state counts "
                "(was it changed, or did the system crash?)",
            )
        if keep and os.pread(self.fd, 1, keep - 1) != b"\n":
            raise _cannot_resume(self.partial, f"byte {keep} is not the end of a line (was it changed?)")
        os.ftruncate(self.fd, keep)  # drop what came after the checkpoint, a cut line included
        return keep

    def write(self, text: str) -> None:
        """Append ``text`` (whole lines). On failure the file is cut back to its last whole
        line before the error is raised, so it never ends in half a line."""
        # a character UTF-8 cannot encode (a lone surrogate from JSON) becomes "?", not a failed run
        self.write_bytes(text.encode("utf-8", errors="replace"))

    def write_bytes(self, data: bytes) -> None:
        """Append ``data`` (whole lines of UTF-8), cut back on failure as :meth:`write`."""
        try:
            _write_all(self.fd, data)
        except OSError as exc:
            try:
                os.ftruncate(self.fd, self.size)
                os.lseek(self.fd, self.size, os.SEEK_SET)
            except OSError:
                pass  # resuming cuts it back to the saved length anyway
            raise _cannot_write(self.path, exc) from None
        self.size += len(data)

    def count_lines(self) -> int:
        """Lines in the file (it ends with a whole line)."""
        count, offset = 0, 0
        while offset < self.size:
            block = os.pread(self.fd, min(_BLOCK, self.size - offset), offset)
            if not block:
                break
            count += block.count(b"\n")
            offset += len(block)
        return count

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise _cannot_write(self.path, exc) from None

    def close(self) -> None:
        """Sync and close, keep the ``.partial`` name."""
        if self.fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self.fd)
                self.fd = -1

    def commit(self) -> None:
        """Close and rename into place."""
        self.close()
        try:
            _replace(self.partial, self.path)
        except OSError as exc:
            raise _cannot_write(self.path, exc) from None

    def release(self) -> None:
        """Close without syncing, keep the file (an interrupted run)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        self.release()
        try:
            os.unlink(self.partial)
        except OSError:
            pass


# --------------------------------------------------------------------------- .audit-state.json


def identity(corpus: Any, ruleset: Any, tool_version: str, log_path: str | None) -> dict[str, Any]:
    """What a run is: its input, rule set, tool version and decision log."""
    return {
        "state_version": STATE_VERSION,
        "tool_version": tool_version,
        "input": {
            "path": corpus.path,
            "realpath": os.path.realpath(corpus.path),
            "kind": corpus.kind,
            **corpus.fingerprint(),
        },
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256},
        "log": os.path.realpath(log_path) if log_path else None,
    }


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Why a saved run is not this run (empty: it is)."""
    out = []
    if saved["tool_version"] != now["tool_version"]:
        out.append(f"the run was started by ipt-advisor {saved['tool_version']}, this is {now['tool_version']}")
    was, is_ = saved["input"], now["input"]
    if was.get("realpath") != is_["realpath"]:
        out.append(f"the run was started on {was.get('path')}, not {is_['path']}")
    elif any(was.get(k) != v for k, v in is_.items() if k not in ("path", "realpath")):
        out.append(f"{is_['path']} changed since the run started")
    rs_was, rs_is = saved["ruleset"], now["ruleset"]
    if rs_was.get("sha256") != rs_is["sha256"]:
        then, current = (f"{r.get('name')} {r.get('version')}" for r in (rs_was, rs_is))
        if then == current:
            then, current = (f"sha256 {str(r.get('sha256'))[:12]}…" for r in (rs_was, rs_is))
        out.append(f"the rule set changed since the run started ({then} then, {current} now)")
    if saved.get("log") != now["log"]:
        out.append(
            f"the run was started with --log {saved['log']}"
            if saved.get("log")
            else "the run was started without --log"
        )
    return out


class StateFile:
    """``DIR/.audit-state.json``: written whole (temp file, fsync, rename), read back by ``--resume``."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.path = os.path.join(out_dir, STATE_NAME)
        self.temp = self.path + ".tmp"
        self.saved = False  # a state of this run is on disk: it can be resumed

    def load(self) -> dict[str, Any]:
        """The saved state; ``ResumeError`` if there is none or it is not one."""
        try:
            with open(self.path, "rb") as handle:
                state = json.loads(handle.read())
        except FileNotFoundError:
            raise ResumeError(
                [Problem(self.out_dir, None, "", "nothing to resume: no interrupted audit in this folder")]
            ) from None
        except OSError as exc:
            raise _cannot_resume(self.path, f"cannot read: {exc.strerror or exc}") from None
        except ValueError:
            raise _cannot_resume(self.path, "not an audit state (not JSON)") from None
        if not isinstance(state, dict) or state.get("state_version") != STATE_VERSION:
            raise _cannot_resume(self.path, "not an audit state this version of ipt-advisor reads")
        try:
            progress = state["progress"]
            ok = (
                isinstance(state["tool_version"], str)
                and isinstance(state["input"], dict)
                and isinstance(state["ruleset"], dict)
                and isinstance(progress["records"], int)
                and all(isinstance(n, int) and n >= 0 for n in progress["bytes"].values())
                and isinstance(progress["tally"], dict)
            )
        except (KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise _cannot_resume(self.path, "not an audit state (fields missing or of the wrong type)")
        return state

    def peek(self) -> dict[str, Any] | None:
        """The saved state, or None if there is none or it is not one (a run without
        ``--resume`` starts over from such a folder)."""
        try:
            return self.load()
        except ResumeError:
            return None

    def load_prepared(self) -> dict[str, Any] | None:
        """The state a killed checkpoint prepared but never put in place, if whole; else None."""
        try:
            with open(self.temp, "rb") as handle:
                state = json.loads(handle.read())
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict) or state.get("state_version") != STATE_VERSION:
            return None
        return state

    def prepare(self, state: dict[str, Any]) -> None:
        """Write ``state`` to the temp file and sync it; :meth:`commit` puts it in place."""
        data = (json.dumps(state, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8", "replace")
        try:
            try:
                os.unlink(self.temp)  # left by a killed run; O_EXCL below refuses to reuse a file
            except FileNotFoundError:
                pass
            fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN, 0o600)
            try:
                os.fchmod(fd, 0o600)
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            # the prepared state must outlast a power cut before the log append it names is made
            fsync_directory(self.out_dir)
        except OSError as exc:
            self.abandon()
            raise _cannot_write(self.path, exc) from None

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.abandon()
            raise _cannot_write(self.path, exc) from None
        fsync_directory(self.out_dir)
        self.saved = True

    def save(self, state: dict[str, Any]) -> None:
        self.prepare(state)
        self.commit()

    def abandon(self) -> None:
        try:
            os.unlink(self.temp)
        except OSError:
            pass

    def remove(self) -> None:
        """The run is finished (or cannot be resumed): no state any more."""
        self.abandon()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _cannot_write(self.path, exc) from None
        self.saved = False


# --------------------------------------------------------------------------- recovery


def lock_folder(out_dir: str) -> int | None:
    """Hold an exclusive lock on the output folder for this run (two audits writing into one
    folder would mix their outputs). None if the folder does not exist (only ``--resume``
    gets here without one; it then says there is nothing to resume)."""
    try:
        fd = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError([Problem(out_dir, None, "", f"cannot open folder: {exc.strerror or exc}")]) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(
            [
                Problem(
                    out_dir,
                    None,
                    "",
                    "another audit is writing into this folder; wait for it to end, or choose another folder",
                )
            ]
        ) from None
    return fd


def finish_commit(state_file: "StateFile", saved: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A run killed while renaming its finished outputs into place (``saved`` is in phase
    "commit"), or one that had finished ("done"): do the renames left, if any, then mark the
    state done. Returns the run's summary (summary.json)."""
    for name in names:
        path = os.path.join(state_file.out_dir, name)
        if os.path.lexists(path + ".partial"):
            try:
                _replace(path + ".partial", path)
            except OSError as exc:
                raise _cannot_write(path, exc) from None
        elif not os.path.isfile(path):
            raise _cannot_resume(path, "the finished file is missing (was it moved?)")
    fsync_directory(state_file.out_dir)
    try:
        with open(os.path.join(state_file.out_dir, "summary.json"), "rb") as handle:
            summary = json.loads(handle.read())
    except (OSError, ValueError) as exc:
        raise _cannot_resume(state_file.path, f"summary.json cannot be read ({exc})") from None
    if saved.get("phase") != "done":
        state_file.save({**saved, "phase": "done"})
    return summary


def may_have_logged(saved: dict[str, Any], prepared: dict[str, Any] | None) -> bool:
    """Whether decisions of the run ``saved`` describes may be in its decision log: it counts
    an assessed record (a checkpoint is put in place only once the log holds every decision
    it counts), it records decisions logged ahead of it, or a checkpoint killed in its log
    append left ``prepared`` beside it (that append may have reached the log)."""
    if not saved.get("log"):
        return False
    tally = saved["progress"]["tally"]
    try:
        assessed = int(tally["records"]) - int(tally["invalid"]) - int(tally["engine_errors"])
    except (KeyError, TypeError, ValueError):
        return True  # cannot tell: assume they are, a refusal costs less than a decision logged twice
    return (
        assessed > 0
        or bool(saved.get("logged_ahead"))
        or (prepared is not None and isinstance(prepared.get("log_append"), dict))
    )


def refuse_to_log_twice(state_file: "StateFile", run_id: dict[str, Any], log_path: str | None) -> None:
    """A run without ``--resume`` into a folder whose saved state is of this very audit (same
    input, rule set, tool version and log) and whose decisions may be in the log: starting
    over would log them a second time, so refuse (``ResumeError``) and touch nothing. Another
    run's state, a broken one, or one with nothing logged is started over, as before."""
    saved = state_file.peek()
    if saved is None or differences(saved, run_id) or not may_have_logged(saved, state_file.load_prepared()):
        return
    where = state_file.out_dir
    if saved.get("phase") == "done":
        message = (
            f"this audit already finished here and its decisions are in {log_path}; running it again "
            "would log each of them a second time (for a second audit on purpose, use another folder)"
        )
    else:
        message = (
            f"an interrupted run of this audit is here and some of its decisions are in {log_path}; run "
            "the same command with --resume to finish it (starting over would log them a second time)"
        )
    raise ResumeError([Problem(where, None, "", message)])


def recover_log_append(state_file: "StateFile", saved: dict[str, Any], log: Any) -> dict[str, Any]:
    """After a run killed inside a checkpoint's decision-log append (see audit's checkpoint):
    the state prepared for that checkpoint is still beside the saved one. If every entry of
    the append reached the log, that state is put in place (its decisions are logged and
    counted); if only some did, the saved state stays and records how many decisions after
    it are logged already, so the resumed run does not log them again. Returns the state to
    resume from."""
    prepared = state_file.load_prepared()
    if prepared is None or not isinstance(prepared.get("log_append"), dict):
        state_file.abandon()
        return saved
    append = prepared["log_append"]
    try:
        start, count, stamp = int(append["start"]), int(append["entries"]), str(append["time"])
    except (KeyError, TypeError, ValueError):
        state_file.abandon()
        return saved
    with log.locked() as held:
        found = held.entries_from(start, count, stamp) if start <= held.size else 0
        if found == count:
            state_file.commit()  # the prepared state is the truth: put it in place
            return prepared
        if found:
            saved = {**saved, "logged_ahead": saved.get("logged_ahead", 0) + found}
            state_file.save(saved)
        else:
            state_file.abandon()
    return saved
