"""Find the candidate files under some folders: names, sizes and mtimes, nothing opened.

A rescan of an unchanged 100,000-frame library is mostly this walk, so it hands out one
list per folder (`walk_dirs`) rather than one object per file: the scan compares a
folder's files against the catalog with the folder's catalog path computed once.
Symbolic links are reported, never followed; a FIFO, socket or device is reported with
its reason and never opened (opening a FIFO blocks).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from astrocat.ingest.headers import CANDIDATE_ENDINGS, is_candidate, not_regular_reason

SKIP_DIRS = {".git", "__pycache__", ".astrocat", ".Trash", ".Trashes", "@eaDir"}

# one walked file: (name, size, mtime, reject reason or None)
Item = tuple[str, int, float, "str | None"]


@dataclass(slots=True)
class Entry:
    path: str  # absolute
    size: int
    mtime: float
    reason: str | None = None  # set when the entry is rejected before it is opened


def walk_dirs(
    roots: Iterable[Path | str], *, seen_dirs: set[tuple[int, int]] | None = None,
    subdirs_out: list[str] | None = None,
) -> Iterator[tuple[str, list[Item]]]:
    """Yield (absolute folder, its candidate files) for every folder under roots.

    A root that is a file comes as its folder with that one file; a root that is not a
    regular file or folder comes with its reason, whatever its name. A folder reached
    twice (a bind mount) is walked once; `seen_dirs` (device, inode) are not walked.
    With `subdirs_out`, only the roots are listed and their subfolders go there."""
    stack = [os.path.abspath(r) for r in roots]
    explicit = set(stack)
    seen_dirs = set() if seen_dirs is None else seen_dirs
    while stack:
        top = stack.pop()
        try:
            st = os.stat(top)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            name = os.path.basename(top)
            if stat.S_ISREG(st.st_mode):
                if is_candidate(name):
                    yield os.path.dirname(top), [(name, st.st_size, st.st_mtime, None)]
            elif top in explicit or is_candidate(name):
                yield os.path.dirname(top), [(name, 0, 0.0, not_regular_reason(st.st_mode))]
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            it = os.scandir(top)
        except OSError:
            continue
        items, subdirs = list_dir(it)
        if items:
            yield top, items
        if subdirs_out is None:
            stack.extend(sorted(subdirs, reverse=True))
        else:
            subdirs_out.extend(sorted(subdirs))


def split(
    roots: Iterable[Path | str], enough: int = 32,
) -> tuple[list[tuple[str, list[Item]]], list[str], set[tuple[int, int]]]:
    """Prepare a walk shared among processes: list the top of the tree breadth-first
    until at least `enough` folders are left to walk (or none).

    Returns (the folders listed so far, as `walk_dirs` yields them; the folders left, in
    order, to be dealt out in turn, so that each process gets nights from every year;
    the folders listed so far, as seen_dirs for each process's `walk_dirs`, so that a
    bind mount back up the tree is not walked again)."""
    head: list[tuple[str, list[Item]]] = []
    seen: set[tuple[int, int]] = set()
    frontier = [os.path.abspath(r) for r in roots]
    for _level in range(6):
        if len(frontier) >= enough:
            break
        below: list[str] = []
        head.extend(walk_dirs(frontier, seen_dirs=seen, subdirs_out=below))
        frontier = below
    return head, frontier, seen


def list_dir(it: Iterator[os.DirEntry[str]]) -> tuple[list[Item], list[str]]:
    """One folder's candidate files and the subfolders to walk (closes `it`)."""
    subdirs: list[str] = []
    items: list[Item] = []
    add = items.append
    endings = CANDIDATE_ENDINGS
    S_ISREG = stat.S_ISREG
    with it:
        for de in it:
            name = de.name
            try:
                if de.is_symlink():
                    if is_candidate(name):
                        add((name, 0, 0.0, _symlink_reason(de.path)))
                    continue
                if de.is_dir(follow_symlinks=False):
                    if name not in SKIP_DIRS and not name.startswith(".astrocat"):
                        subdirs.append(de.path)
                    continue
                if not name.lower().endswith(endings) or name.startswith(".astrocat-tmp"):
                    continue
                st = de.stat(follow_symlinks=False)
            except OSError as exc:
                add((name, 0, 0.0, os_error_reason(exc, "cannot stat")))
                continue
            if S_ISREG(st.st_mode):
                add((name, st.st_size, st.st_mtime, None))
            else:
                add((name, 0, 0.0, not_regular_reason(st.st_mode)))
    return items, subdirs


def walk(roots: Iterable[Path | str]) -> Iterator[Entry]:
    """Yield every candidate file under roots as an Entry (see `walk_dirs`)."""
    for top, items in walk_dirs(roots):
        for name, size, mtime, reason in items:
            yield Entry(os.path.join(top, name), size, mtime, reason)


def os_error_reason(exc: OSError, action: str) -> str:
    """A reject reason for an OSError: a short sentence, the errno name as the detail."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOENT:
        return "file vanished during the scan"
    if exc.errno == errno.EISDIR:
        return "not a regular file (directory)"
    name = errno.errorcode.get(exc.errno or 0)
    return f"{action} ({name})" if name else action


def _symlink_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop: not followed"
        return "broken symbolic link: not followed"
    return "symbolic link: not followed (scan the folder it points to instead)"
