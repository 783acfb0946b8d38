"""Write files atomically and privately.

Reports and audit outputs hold health data, so every file this tool writes is:

* private — created owner-only (0o600) from the first byte, never widened by the umask;
* atomic — written to a temporary file in the target's directory, flushed to disk, then
  renamed onto the target with ``os.replace``; a reader sees the old file or the new one,
  never half of one;
* clean on failure — the temporary file is removed, an existing target is left untouched,
  and the caller gets an :class:`OutputError` (one Problem: the path and the OS reason),
  not an ``OSError`` with a traceback.
"""

from __future__ import annotations

import os
import stat

from .errors import OutputError, Problem

_MODE = 0o600
_TEMP_ATTEMPTS = 16


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically with mode 0o600.

    A character UTF-8 cannot encode (a lone surrogate smuggled in through JSON) is written
    as ``?`` rather than failing the whole report.
    """
    write_atomic_bytes(path, text.encode("utf-8", errors="replace"))


def write_atomic_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0o600; see the module docstring."""
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    temp: str | None = None
    check_replaceable(target)
    try:
        fd, temp = _create_temp(directory, os.path.basename(target))
        try:
            # The umask may have stripped bits at creation; fix the mode on the open
            # descriptor so the file is exactly owner read/write before any data lands.
            os.fchmod(fd, _MODE)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
        temp = None
        fsync_directory(directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        # `from None`: the user needs the path and the reason, not the chained traceback.
        raise OutputError([Problem(str(target), None, "", f"cannot write: {reason}")]) from None
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass


def check_replaceable(target: str) -> None:
    """Refuse a target that exists and is not a regular file. Renaming over a FIFO, a device or
    a symlink (``-o /dev/stdout`` as root replaced the system's /dev/stdout link) damages what
    was there; writing through it instead would be neither atomic nor private. So neither:
    one line, and the user removes it or picks another name."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError([Problem(target, None, "", f"cannot write: {exc.strerror or exc}")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(
            [
                Problem(
                    target,
                    None,
                    "",
                    "cannot write: it exists and is not a regular file "
                    "(a pipe, a device or a link); remove it or choose another name",
                )
            ]
        )


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """Create a new, empty, owner-only temp file next to the target; return (fd, path).

    O_EXCL makes creation fail rather than reuse a file someone else placed there, and
    O_NOFOLLOW refuses a planted symlink. The name is hidden (leading dot) so a half-written
    report does not show up in a casual directory listing.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_TEMP_ATTEMPTS):
        temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, flags, _MODE), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a unique temporary file in {directory}")


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write fewer bytes than asked; loop until all of it is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_directory(directory: str) -> None:
    """Persist a rename itself; best effort, as some file systems refuse a directory fsync."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_private_dirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and every missing folder above it owner-only (0o700), whatever the
    umask (``os.makedirs`` gives the folders above the last one the default mode, 0o777 under
    umask 000). Raises ``OutputError`` with the reason."""
    target = os.path.abspath(os.fspath(path))
    missing = []
    while not os.path.lexists(target):  # up to the first that exists (a file there: mkdir says so)
        missing.append(target)
        parent = os.path.dirname(target)
        if parent == target:
            break
        target = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # made meanwhile by someone else
        except OSError as exc:
            raise OutputError(
                [Problem(os.fspath(path), None, "", f"cannot create folder: {exc.strerror or exc}")]
            ) from None
