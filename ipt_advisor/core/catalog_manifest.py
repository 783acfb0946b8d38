"""The list of files a rule catalog holds, so ``rules doc`` never deletes a file a user put there.

``rules doc -o site`` replaces the folder as a whole. Telling "a page of the last catalog" from
"a file of the user's" by name or suffix fails for a user's own ``notes.html`` or ``graph.svg``,
so the catalog's marker file lists every file it wrote with its sha256 (the format of
``sha256sum``)::

    This directory is an ipt-advisor rule catalog. ...
    <64 hex>  index.html
    <64 hex>  rules/R-01.html

Before a catalog is replaced, every entry of the folder must be a regular file on that list
with the same content, or a folder on the path of one: anything else (a file added, a file
edited, a symbolic link, a folder of one's own) is named, and the run refuses.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

HEADER = (
    "This directory is an ipt-advisor rule catalog. `ipt-advisor rules doc` replaces\n"
    "it as a whole each time it runs, and refuses to while it holds a file not listed\n"
    "below or changed since (sha256, path): keep your own files elsewhere.\n\n"
)
_LINE = re.compile(r"([0-9a-f]{64})  (\S.*)")
_BLOCK = 1 << 20


def manifest_text(files: dict[str, bytes]) -> str:
    """The marker file's text for a catalog of ``files`` (path -> content), sorted by path."""
    return HEADER + "".join(f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items()))


def read_manifest(text: str) -> dict[str, str]:
    """path -> sha256 for every file a marker lists (none for a marker of an older version)."""
    return {m.group(2): m.group(1) for m in map(_LINE.fullmatch, text.splitlines()) if m}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def unlisted(target: Path, listed: dict[str, str], marker: str) -> list[str]:
    """Relative paths under ``target`` that are not what the catalog wrote: files not on the
    list or changed since, anything not a regular file or folder, folders no listed file is in."""
    folders = {str(Path(p).parent) for p in listed} - {"."}
    folders |= {str(parent) for p in folders for parent in Path(p).parents} - {"."}
    out: list[str] = []
    for root, dirs, names in os.walk(target):
        for name in sorted(dirs + names):
            full = os.path.join(root, name)
            relative = Path(os.path.relpath(full, target)).as_posix()
            if relative == marker:
                continue
            mode = os.lstat(full).st_mode
            if stat.S_ISDIR(mode):
                if relative not in folders:
                    out.append(relative + "/")
                    dirs.remove(name)  # all of it is the user's; one name says so
            elif not stat.S_ISREG(mode) or relative not in listed or listed[relative] != _sha256(full):
                out.append(relative)
    return sorted(out)
