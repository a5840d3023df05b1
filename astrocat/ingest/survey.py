"""What changed since the last scan: walk the folders and compare each file's size and
mtime with the catalog's, so that only new and touched files are opened.

On a large library, with a second core, the walk is shared with one forked process: the
top of the tree is listed here, then each process walks and compares every other one of
the folders below it, and the child sends back what it found. Elsewhere (no fork, a small
library, one core) it all runs in this process.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrocat.ingest.child import die_with_parent
from astrocat.ingest.walk import Entry, Item, split, walk_dirs

if TYPE_CHECKING:
    from astrocat.config import Settings

# Below this many cataloged files, a second process costs more than it saves.
PARALLEL_MIN_FILES = 20_000

Known = dict[str, tuple[int, float, str]]  # catalog path -> (size, mtime, frame|missing|reject)


class PathForms:
    """Catalog path (as `Settings.rel` gives it) and location (`Settings.location_of`).

    `rel` tests string prefixes instead of pathlib: a scan asks it for every file it
    sees, and on a rescan of an unchanged library that is most of the work."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.fast = os.sep == "/" and os.altsep is None
        self.base = str(settings.base_dir)
        self.base_prefix = self.base.rstrip("/") + "/"

    def rel(self, path: str) -> str:
        if not self.fast:
            return self.settings.rel(path)
        p = os.path.abspath(path)
        if p.startswith(self.base_prefix):
            return p[len(self.base_prefix) :]
        return "." if p == self.base else p

    def rel_walked(self, path: str) -> str:
        """`rel` of a path `walk` yielded: absolute and normal already (an abspath'd root
        joined with names), so only the prefix is cut."""
        if not self.fast:
            return self.settings.rel(path)
        if path.startswith(self.base_prefix):
            return path[len(self.base_prefix) :]
        return "." if path == self.base else path

    def location(self, path: str) -> str:
        return self.settings.location_of(path)


@dataclass
class Survey:
    """What a walk found, compared with the catalog: only `todo` needs reading."""

    seen: int = 0
    unchanged: int = 0
    waiting: int = 0
    on_record: int = 0  # files walked that the catalog holds as present (a frame or a reject)
    todo: list[tuple[Entry, str, str | None]] = field(default_factory=list)  # entry, catalog path, known as
    seen_paths: list[str] = field(default_factory=list)  # catalog paths of every file walked

    def add(self, other: Survey) -> None:
        self.seen += other.seen
        self.unchanged += other.unchanged
        self.waiting += other.waiting
        self.on_record += other.on_record
        self.todo += other.todo
        self.seen_paths += other.seen_paths


def compare(
    folders: Iterable[tuple[str, list[Item]]], known: Known, forms: PathForms,
    *, full: bool, settle: float, now: float,
) -> Survey:
    """Sort walked files into unchanged (same size and mtime as cataloged), waiting
    (modified within `settle` seconds of `now`, either way) and to read.

    This loop runs once per file of the library on every sync: a folder's catalog path
    is worked out once, and an unchanged file costs a string join and a dict lookup."""
    out = Survey()
    todo, seen_paths, get = out.todo, out.seen_paths, known.get
    unchanged = waiting = on_record = 0
    prefix = ""
    for top, items in folders:
        if forms.fast:
            rel_top = forms.rel_walked(top)
            prefix = "" if rel_top == "." else rel_top if rel_top.endswith("/") else rel_top + "/"
        for name, size, mtime, reason in items:
            rel = prefix + name if forms.fast else forms.rel_walked(os.path.join(top, name))
            seen_paths.append(rel)
            prev = get(rel)
            if prev is not None and prev[2] != "missing":
                on_record += 1
            if prev is not None and not reason:
                if not full and prev[0] == size and prev[1] == mtime and prev[2] != "missing":
                    unchanged += 1
                    continue
            elif prev is not None and prev[2] == "reject":
                unchanged += 1  # a link or unstatable entry already on record
                continue
            if settle > 0 and not reason and abs(now - mtime) < settle:
                waiting += 1  # maybe still being written: neither read nor marked missing
                continue
            todo.append((Entry(os.path.join(top, name), size, mtime, reason), rel, prev[2] if prev else None))
    out.seen, out.unchanged, out.waiting, out.on_record = len(seen_paths), unchanged, waiting, on_record
    return out


def survey(
    roots: list[Path], known: Known, forms: PathForms, *, full: bool, settle: float,
    now: float | None = None, parallel: bool = False,
) -> Survey:
    """Walk roots and `compare` every file with the catalog's record, `known`.

    With `parallel` (where the OS can fork), a child process walks and compares every
    other folder; it sends back what it found, this process does the rest."""
    now = time.time() if now is None else now
    if not (parallel and hasattr(os, "fork")):
        return compare(walk_dirs(roots), known, forms, full=full, settle=settle, now=now)
    head, frontier, seen = split(roots)

    def part(folders: list[str]) -> Survey:
        return compare(walk_dirs(folders, seen_dirs=set(seen)), known, forms, full=full, settle=settle, now=now)

    out = compare(head, known, forms, full=full, settle=settle, now=now)
    try:
        pid, reader = _fork(lambda: _pack(part(frontier[1::2])))
    except OSError:  # no process to be had (EAGAIN, ENOMEM): walk it all here
        out.add(part(frontier))
        return out
    try:
        out.add(part(frontier[0::2]))
        data = _read_all(reader)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(reader)
        status = _reap(pid)
    theirs = _unpack(data) if status == 0 else None
    # None: the child failed (killed, out of memory): its folders are walked here
    out.add(theirs if theirs is not None else part(frontier[1::2]))
    return out


def _pack(s: Survey) -> tuple[Any, ...]:
    # the paths as one string: pickled and unpickled as one object, not 50,000
    return s.seen, s.unchanged, s.waiting, s.on_record, s.todo, "\0".join(s.seen_paths)


def _unpack(data: bytes) -> Survey | None:
    """The child's Survey, or None for a truncated or garbled result."""
    try:
        seen, unchanged, waiting, on_record, todo, paths = pickle.loads(data)
        return Survey(seen, unchanged, waiting, on_record, todo, paths.split("\0") if paths else [])
    except Exception:  # noqa: BLE001 - that part is walked again
        return None


def _fork(work: Callable[[], Any]) -> tuple[int, int]:
    """Run work() in a forked child that sends back its pickled result; (pid, read end)."""
    r, w = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        code = 1
        try:
            os.close(r)
            die_with_parent()
            if os.getppid() == parent:
                data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view):]
                code = 0
        except BaseException:  # noqa: BLE001 - the parent walks this half itself
            pass
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _read_all(reader: int) -> bytes:
    chunks = []
    while chunk := os.read(reader, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _reap(pid: int) -> int:
    """The child's exit code (negative: the signal that ended it)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
