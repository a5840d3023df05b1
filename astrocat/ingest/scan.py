"""Walk folders, skip unchanged files, hash, normalise, upsert, record rejects.

A scan never modifies, moves or deletes a file. A file whose size and mtime are
unchanged since the last scan is not opened, which makes a rescan of an
unchanged 10,000-frame library a matter of `stat` calls. A file modified less
than `[scan] settle_s` seconds ago may still be being written: it is left for
the next run. FIFOs, sockets and devices are recorded as rejects, never opened.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrocat.catalog.counts import present
from astrocat.progress import ProgressFn
from astrocat.clock import utc_now
from astrocat import catalog
from astrocat.catalog import changes
from astrocat.config import Settings
from astrocat.ingest.headers import HeaderError, read_header
from astrocat.ingest.child import die_with_parent
from astrocat.ingest.survey import PARALLEL_MIN_FILES, PathForms, survey
from astrocat.ingest.walk import Entry, os_error_reason
from astrocat.rules.normalize import Settings as NormalizeSettings
from astrocat.rules.naming import original_name
from astrocat.rules.normalize import normalize
from astrocat.rules.sessions import session_id

if TYPE_CHECKING:
    import sqlite_utils

BATCH = 500
# Below this many files to read, worker processes cost more than they save.
POOL_MIN_FILES = 200
# Or this many bytes to hash: 20 large frames are seconds of sha256, worth every core
POOL_MIN_BYTES = 64 << 20
POOL_CHUNK = 32
POOL_CHUNK_BYTES = 16 << 20  # a chunk of files handed to a worker holds about this much


@dataclass
class ScanResult:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    duplicates: int = 0
    rejected: int = 0
    waiting: int = 0  # modified too recently: left for the next run
    seen: int = 0
    elapsed_s: float = 0.0
    rejects: list[dict[str, str]] = field(default_factory=list)
    duplicate_paths: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
            "missing": self.missing, "duplicates": self.duplicates, "rejected": self.rejected,
            "waiting": self.waiting, "files_seen": self.seen, "elapsed_s": round(self.elapsed_s, 3),
            "rejects": self.rejects, "duplicate_paths": self.duplicate_paths,
        }


def read_entry(entry: Entry, settings: Settings) -> tuple[dict[str, Any] | None, str | None]:
    """(frame row, None) or (None, reject reason). Never raises."""
    return _read(entry, PathForms(settings), settings.normalize_settings())


def _read(
    entry: Entry, paths: PathForms, nsettings: NormalizeSettings
) -> tuple[dict[str, Any] | None, str | None]:
    rel = paths.rel(entry.path)
    if entry.reason:
        return None, entry.reason
    if entry.size == 0:
        return None, "empty file (0 bytes)"
    try:
        result = read_header(entry.path, want_hash=True)
    except HeaderError as exc:
        return None, str(exc)  # already a short sentence
    except OSError as exc:
        return None, os_error_reason(exc, "read error")
    except Exception as exc:  # a scan never stops for one bad file; the reason stays one short line
        return None, f"unreadable header ({type(exc).__name__})"
    header = result.header
    try:
        fields, problems = normalize(header.values, rel, nsettings, header.comments, header.history)
    except Exception as exc:  # normalisation bugs must not lose the file either
        fields, problems = {"frame_type": "unknown"}, [f"normalisation failed ({type(exc).__name__})"]
    problems = header.problems + [f"duplicate keyword {k}: {len(v)} values, first kept" for k, v in header.duplicates.items()] + problems
    row = {
        **fields,
        "path": rel,
        "original_name": original_name(rel),
        "size": entry.size,
        "mtime": entry.mtime,
        "sha256": result.sha256,
        "session_id": _session_id(
            fields.get("night"), fields.get("camera"), fields.get("telescope"), fields.get("focal_length_mm")
        ),
        "location": paths.location(entry.path),
        "problems": problems,
        "scanned_at": utc_now(),
        "header_json": _header_json(header.as_json_dict()),
    }
    return row, None


# Per-file costs a scan need not pay every time: one encoder (json.dumps builds one per
# call), and session ids, which a night's frames share (session_id is a pure function).
_header_json = json.JSONEncoder(ensure_ascii=False, default=str).encode
_session_id = functools.lru_cache(maxsize=4096)(session_id)


# --- reading many files: in worker processes when there are enough -----------------

# What reading one file gives the scan loop: (upsert parameters, sha256, session id, None)
# for a frame, (None, None, None, reason) for a reject. Small and cheap to pickle.
Read = tuple[list[Any] | None, str | None, str | None, str | None]


def _read_for_catalog(entry: Entry, paths: PathForms, nsettings: NormalizeSettings) -> Read:
    row, reason = _read(entry, paths, nsettings)
    if row is None:
        return None, None, None, reason
    return catalog.frame_values(row), row["sha256"], row["session_id"], None


_worker_context: tuple[PathForms, NormalizeSettings] | None = None
_parent_pid = 0


def _init_worker(settings: Settings, parent_pid: int) -> None:
    global _worker_context, _parent_pid
    import signal

    # Ctrl-C is the main process's to handle: it cancels the pending work and waits
    # for the chunks in hand (no traceback from every worker)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker dies with the scan, even a scan killed with SIGKILL: an orphan would
    # wait for work forever (the catalog lock it inherited is closed at fork by astrocat.lock)
    _parent_pid = parent_pid
    die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)
    _worker_context = (PathForms(settings), settings.normalize_settings())


def _read_in_worker(entry: Entry) -> Read:
    if os.getppid() != _parent_pid:  # orphaned: nobody will read the result
        os._exit(1)
    assert _worker_context is not None
    return _read_for_catalog(entry, *_worker_context)


def _workers(n_files: int, n_bytes: int = 0) -> int:
    """Worker processes for reading n_files holding n_bytes: one per usable CPU, none for
    small jobs (fewer than POOL_MIN_FILES files and POOL_MIN_BYTES bytes).

    Only where `fork` is the way to start them (Linux): a forked worker starts in
    milliseconds with everything imported, where a spawned one would re-import
    astrocat (and, run as `python -m astrocat`, re-run the CLI). And only while this
    process has a single thread: forking a threaded process can deadlock the child.
    ASTROCAT_SCAN_WORKERS=N overrides the count (0: read in this process)."""
    import threading

    override = os.environ.get("ASTROCAT_SCAN_WORKERS", "").strip()
    small = n_files < POOL_MIN_FILES and (n_bytes < POOL_MIN_BYTES or n_files < 2)
    if small or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 0
    if override.isdigit():
        return int(override)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus if cpus > 1 else 0


def _chunksize(n_files: int, n_bytes: int) -> int:
    """Files per chunk handed to a worker: few enough bytes that large frames spread over
    every worker (20 frames of 52 MB: one each), many small ones at a time to save hand-overs."""
    per_file = n_bytes // max(n_files, 1)
    return max(1, min(POOL_CHUNK, POOL_CHUNK_BYTES // max(per_file, 1)))


def read_all(entries: list[Entry], settings: Settings) -> Iterator[Read]:
    """Read each entry for the catalog, in order; with many files and more than one CPU
    the reading, hashing and normalising is spread over forked worker processes."""
    n_bytes = sum(e.size for e in entries)
    workers = _workers(len(entries), n_bytes)
    done = 0
    if workers:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker, initargs=(settings, os.getpid()),
        )
        try:
            chunk = _chunksize(len(entries), n_bytes)
            for item in pool.map(_read_in_worker, entries, chunksize=chunk):
                done += 1
                yield item
        except BrokenProcessPool:
            pass  # a worker died (out of memory?): read the rest in this process
        finally:
            # on Ctrl-C or an early close, drop what has not started rather than finish it
            pool.shutdown(wait=True, cancel_futures=True)
    paths, nsettings = PathForms(settings), settings.normalize_settings()
    for entry in entries[done:]:
        yield _read_for_catalog(entry, paths, nsettings)




def scan(
    db: sqlite_utils.Database,
    settings: Settings,
    roots: list[Path] | None = None,
    progress: ProgressFn | None = None,
    full: bool = False,
) -> ScanResult:
    """Scan roots (default: quarantine and library) into the catalog.

    `full` re-reads files whose size and mtime are unchanged (after alias changes).
    Files modified within `settings.settle_s` seconds of now (either way: a clock a
    little ahead) are counted as waiting and left alone; one dated further in the
    future is read, as waiting for it would never end."""
    started = time.perf_counter()
    roots = roots or [settings.quarantine, settings.library]
    result = ScanResult()
    catalog.sync_overrides(db)  # a rebuilt or restored catalog takes its corrections back first
    known = catalog.known_files(db)
    forms = PathForms(settings)
    found = survey([r for r in roots if os.path.exists(r)], known, forms, full=full,
                   settle=settings.settle_s, now=time.time(), parallel=_share_walk(known))
    result.seen, result.unchanged, result.waiting = found.seen, found.unchanged, found.waiting
    todo = found.todo

    affected_sessions: set[str] = set()
    changed_paths = [rel for _, rel, kind in todo if kind == "frame" or kind == "missing"]
    affected_sessions |= catalog.session_ids_for_paths(db, changed_paths)
    # contents about to be replaced: another copy of them may count now
    old_hashes = catalog.sha256s_for_paths(db, changed_paths)
    # read again (--full, a touched file, a file back from missing): changed only if the
    # frame the catalog would hold differs
    stored = catalog.stored_values(db, changed_paths)
    new_hashes: dict[str, str] = {}
    frames: list[list[Any]] = []  # upsert parameters
    frame_paths: list[str] = []
    rejects: list[dict[str, Any]] = []
    done = 0

    def flush() -> None:
        with db.conn:
            catalog.upsert_frame_values(db, frames)
            # the corrections again, in the same transaction: the rows now hold header values
            applied = catalog.apply_overrides(db, frame_paths, fresh=True)
            catalog.forget_rejects(db, frame_paths)
            catalog.record_rejects(db, rejects)
        affected_sessions.update(applied.sessions)
        frames.clear()
        frame_paths.clear()
        rejects.clear()

    for i, (values, sha256, sid, reason) in enumerate(read_all([t[0] for t in todo], settings)):
        e, rel, kind = todo[i]
        done += 1
        if progress:
            progress(done, len(todo), rel)
        if reason is not None:
            result.rejected += 1
            result.rejects.append({"path": rel, "reason": reason})
            rejects.append({"path": rel, "size": e.size, "mtime": e.mtime, "reason": reason, "scanned_at": utc_now()})
        else:
            assert values is not None
            before = stored.get(rel) if kind in ("frame", "missing") else None
            if before is None:
                result.new += 1
            elif catalog.same_frame(before, values):
                result.unchanged += 1
            else:
                result.changed += 1
            frames.append(values)
            frame_paths.append(rel)
            # only content new at this path can be a new duplicate: a library original read
            # again is not a duplicate of the external copy made from it
            if sha256 and (before is None or kind == "missing" or catalog.stored_sha256(before) != sha256):
                new_hashes[rel] = sha256
            if sid:
                affected_sessions.add(sid)
        if len(frames) + len(rejects) >= BATCH:
            flush()
    flush()

    # files cataloged under the scanned roots that are gone now
    abs_roots = [os.path.abspath(r) for r in roots]
    rel_roots = [forms.rel(r).rstrip("/") + "/" for r in abs_roots]
    if found.on_record == sum(1 for v in known.values() if v[2] != "missing") and all(
            os.path.isdir(r) for r in abs_roots if os.path.lexists(r)):
        # every file on record was walked (folders only: each path was walked once)
        gone: list[str] = []
    else:  # set difference first (in C): on a rescan nearly every cataloged path was seen
        gone = sorted(
            p for p in known.keys() - set(found.seen_paths)
            if known[p][2] != "missing" and any(p.startswith(r) for r in rel_roots)
        )
    if gone:
        affected_sessions |= catalog.session_ids_for_paths(db, gone)
        old_hashes |= catalog.sha256s_for_paths(db, gone)
        with db.conn:
            catalog.mark_missing(db, gone)
        result.missing = len(gone)

    if new_hashes:
        result.duplicate_paths = _duplicates_of(db, new_hashes)
        result.duplicates = len(result.duplicate_paths)
    # A scan killed after some batches committed left sessions out of step, and this one
    # repairs them. Skipped only when nothing at all was written to the catalog since the
    # last scan that finished this repair (the change token it saved is still current).
    token = changes.token(db)
    saved, _, _ = changes.read_stamp(db, "scan")
    if token is None or token != saved or affected_sessions or new_hashes or old_hashes:
        with db.conn:
            catalog.refresh_derived(db, affected_sessions, set(new_hashes.values()) | old_hashes)
        changes.save_stamp(db, "scan", changes.token(db), None)
    result.elapsed_s = time.perf_counter() - started
    return result


def _share_walk(known: dict[str, Any]) -> bool:
    """Walk with a second process: worth it on a large library with a second core."""
    return len(known) >= PARALLEL_MIN_FILES and (os.cpu_count() or 1) > 1


def _duplicates_of(db: sqlite_utils.Database, new_hashes: dict[str, str]) -> list[dict[str, Any]]:
    """New or changed files whose content is also cataloged at another path."""
    out = []
    hashes = sorted(set(new_hashes.values()))
    for i in range(0, len(hashes), 500):
        chunk = hashes[i : i + 500]
        q = (
            f"SELECT sha256, json_group_array(path) FROM frames WHERE {present()} AND "
            f"sha256 IN ({','.join('?' * len(chunk))}) GROUP BY sha256 HAVING COUNT(*) > 1"
        )
        for sha, paths in db.execute(q, chunk):
            paths = sorted(json.loads(paths))
            for p in paths:
                if new_hashes.get(p) == sha:
                    out.append({"path": p, "sha256": sha, "same_as": [x for x in paths if x != p]})
    return out


def scan_step(ctx) -> None:  # noqa: ANN001 - astrocat.pipeline.Run
    """Pipeline step: read new and changed files into the catalog (`astrocat scan`
    passes the options scan_paths and scan_full)."""
    result = scan(ctx.db, ctx.settings, ctx.options.get("scan_paths"), progress=ctx.progress,
                  full=ctx.options.get("scan_full", False))
    ctx.report["scan"] = result.as_dict()
    ctx.results["scan"] = result
    if result.new or result.changed or result.missing:
        ctx.changed()
    if result.new or result.changed or result.missing or result.rejected:
        ctx.echo(f"scan: {result.new} new, {result.changed} changed, {result.missing} missing, "
                 f"{result.rejected} rejected")
    if result.rejected:
        ctx.problem()
