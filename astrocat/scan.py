"""Walk folders, skip unchanged files, hash, normalise, upsert, record rejects.

A scan never modifies, moves or deletes a file. A file whose size and mtime are
unchanged since the last scan is not opened, which makes a rescan of an
unchanged 10,000-frame library a matter of `stat` calls.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from . import catalog
from .config import Settings
from .headers import HeaderError, is_candidate, read_header
from .normalize import normalize
from .sessions import session_id

BATCH = 500
SKIP_DIRS = {".git", "__pycache__", ".astrocat", ".Trash", ".Trashes", "@eaDir"}


@dataclass
class ScanResult:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    duplicates: int = 0
    rejected: int = 0
    seen: int = 0
    elapsed_s: float = 0.0
    rejects: list[dict[str, str]] = field(default_factory=list)
    duplicate_paths: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
            "missing": self.missing, "duplicates": self.duplicates, "rejected": self.rejected,
            "files_seen": self.seen, "elapsed_s": round(self.elapsed_s, 3),
            "rejects": self.rejects, "duplicate_paths": self.duplicate_paths,
        }


@dataclass
class Entry:
    path: str  # absolute
    size: int
    mtime: float
    reason: str | None = None  # set when the entry is rejected before it is opened


def walk(roots: Iterable[Path]) -> Iterator[Entry]:
    """Yield candidate files under roots; symlinks are reported, never followed."""
    stack = [os.path.abspath(r) for r in roots]
    seen_dirs: set[tuple[int, int]] = set()
    while stack:
        top = stack.pop()
        try:
            st = os.stat(top)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            if is_candidate(os.path.basename(top)):
                yield Entry(top, st.st_size, st.st_mtime)
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            it = os.scandir(top)
        except OSError:
            continue
        subdirs = []
        with it:
            for de in it:
                name = de.name
                try:
                    if de.is_symlink():
                        if is_candidate(name):
                            yield Entry(de.path, 0, 0.0, reason=_symlink_reason(de.path))
                        continue
                    if de.is_dir(follow_symlinks=False):
                        if name not in SKIP_DIRS and not name.startswith(".astrocat"):
                            subdirs.append(de.path)
                        continue
                    if not is_candidate(name) or name.startswith(".astrocat-tmp"):
                        continue
                    st = de.stat(follow_symlinks=False)
                except OSError as exc:
                    yield Entry(de.path, 0, 0.0, reason=f"cannot stat: {exc.strerror or exc}")
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield Entry(de.path, st.st_size, st.st_mtime)
        stack.extend(sorted(subdirs, reverse=True))


def _symlink_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == 40:
            return "symbolic link loop: not followed"
        return "broken symbolic link: not followed"
    return "symbolic link: not followed (scan the folder it points to instead)"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_entry(entry: Entry, settings: Settings) -> tuple[dict[str, Any] | None, str | None]:
    """(frame row, None) or (None, reject reason). Never raises."""
    rel = settings.rel(entry.path)
    if entry.reason:
        return None, entry.reason
    if entry.size == 0:
        return None, "empty file (0 bytes)"
    try:
        result = read_header(entry.path, want_hash=True)
    except HeaderError as exc:
        return None, str(exc)
    except PermissionError:
        return None, "permission denied"
    except OSError as exc:
        return None, f"read error: {exc.strerror or exc}"
    except Exception as exc:  # a scan never stops for one bad file
        return None, f"unreadable header: {type(exc).__name__}: {exc}"
    header = result.header
    try:
        fields, problems = normalize(
            header.values, rel, settings.normalize_settings(), header.comments, header.history
        )
    except Exception as exc:  # normalisation bugs must not lose the file either
        fields, problems = {"frame_type": "unknown"}, [f"normalisation failed: {exc}"]
    problems = header.problems + [f"duplicate keyword {k}: {len(v)} values, first kept" for k, v in header.duplicates.items()] + problems
    row = {
        **fields,
        "path": rel,
        "size": entry.size,
        "mtime": entry.mtime,
        "sha256": result.sha256,
        "session_id": session_id(
            fields.get("night"), fields.get("camera"), fields.get("telescope"), fields.get("focal_length_mm")
        ),
        "location": settings.location_of(entry.path),
        "problems": problems,
        "scanned_at": _now(),
        "header_json": json.dumps(header.as_json_dict(), ensure_ascii=False, default=str),
    }
    return row, None


ProgressFn = Callable[[int, int, str], None]


def scan(
    db: sqlite_utils.Database,
    settings: Settings,
    roots: list[Path] | None = None,
    progress: ProgressFn | None = None,
) -> ScanResult:
    """Scan roots (default: quarantine and library) into the catalog."""
    started = time.perf_counter()
    roots = roots or [settings.quarantine, settings.library]
    result = ScanResult()
    known = catalog.known_files(db)
    entries = list(walk([r for r in roots if os.path.exists(r)]))
    result.seen = len(entries)
    seen_rel: set[str] = set()
    todo: list[tuple[Entry, str, str | None]] = []
    for e in entries:
        rel = settings.rel(e.path)
        seen_rel.add(rel)
        prev = known.get(rel)
        if prev and prev[2] != "missing" and prev[0] == e.size and prev[1] == e.mtime and not e.reason:
            result.unchanged += 1
            continue
        if prev and prev[2] == "reject" and e.reason:
            result.unchanged += 1  # a link or unstatable entry already on record
            continue
        todo.append((e, rel, prev[2] if prev else None))

    affected_sessions: set[str] = set()
    changed_paths = [rel for _, rel, kind in todo if kind == "frame" or kind == "missing"]
    affected_sessions |= catalog.session_ids_for_paths(db, changed_paths)
    new_hashes: dict[str, str] = {}
    frames: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    done = 0

    def flush() -> None:
        with db.conn:
            catalog.upsert_frames(db, frames)
            catalog.forget_rejects(db, [f["path"] for f in frames])
            catalog.record_rejects(db, rejects)
        frames.clear()
        rejects.clear()

    for e, rel, kind in todo:
        row, reason = read_entry(e, settings)
        done += 1
        if progress:
            progress(done, len(todo), rel)
        if reason is not None:
            result.rejected += 1
            result.rejects.append({"path": rel, "reason": reason})
            rejects.append({"path": rel, "size": e.size, "mtime": e.mtime, "reason": reason, "scanned_at": _now()})
        else:
            assert row is not None
            if kind in ("frame", "missing"):
                result.changed += 1
            else:
                result.new += 1
            frames.append(row)
            if row["sha256"]:
                new_hashes[rel] = row["sha256"]
            if row["session_id"]:
                affected_sessions.add(row["session_id"])
        if len(frames) + len(rejects) >= BATCH:
            flush()
    flush()

    # files cataloged under the scanned roots that are gone now
    abs_roots = [os.path.abspath(r) for r in roots]
    rel_roots = [settings.rel(r).rstrip("/") + "/" for r in abs_roots]
    gone = [
        p for p, (_, _, kind) in known.items()
        if kind != "missing" and p not in seen_rel and any(p.startswith(r) for r in rel_roots)
    ]
    if gone:
        affected_sessions |= catalog.session_ids_for_paths(db, gone)
        with db.conn:
            catalog.mark_missing(db, gone)
        result.missing = len(gone)

    if new_hashes:
        result.duplicate_paths = _duplicates_of(db, new_hashes)
        result.duplicates = len(result.duplicate_paths)
    if affected_sessions or gone or new_hashes:
        with db.conn:
            catalog.refresh_sessions(db, affected_sessions)
            catalog.refresh_targets(db)
    result.elapsed_s = time.perf_counter() - started
    return result


def _duplicates_of(db: sqlite_utils.Database, new_hashes: dict[str, str]) -> list[dict[str, Any]]:
    """New or changed files whose content is also cataloged at another path."""
    out = []
    hashes = sorted(set(new_hashes.values()))
    for i in range(0, len(hashes), 500):
        chunk = hashes[i : i + 500]
        q = (
            "SELECT sha256, json_group_array(path) FROM frames WHERE location != 'missing' AND "
            f"sha256 IN ({','.join('?' * len(chunk))}) GROUP BY sha256 HAVING COUNT(*) > 1"
        )
        for sha, paths in db.execute(q, chunk):
            paths = sorted(json.loads(paths))
            for p in paths:
                if new_hashes.get(p) == sha:
                    out.append({"path": p, "sha256": sha, "same_as": [x for x in paths if x != p]})
    return out
