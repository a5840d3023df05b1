"""Carry out a plan: journal, move, verify, file, remove the sources; `organize()`."""

from __future__ import annotations

import errno
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from astrocat import catalog
from astrocat.clock import utc_now
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.library.files import (GONE, Collision, DestinationError, SourceError, check_free_space, copy_to_tmp,
                                    describe, fsync_dir, place, prune_empty_dirs, remove_copied_source, same_file,
                                    tmp_name, unlink_quiet)
from astrocat.library.hooks import Hooks
from astrocat.library.journal import finish, point_frame
from astrocat.library.plan import Plan, PlanItem, plan
from astrocat.library.recover import RecoveryResult, recover
from astrocat.progress import ProgressFn

BATCH_FILES = 50  # journal rows in the first transaction; also bounds the work a crash leaves
BATCH_FILES_MAX = 1000  # each batch doubles up to this: a long run commits its journal less often
BATCH_BYTES = 1 << 30
WORKERS = 3  # moves in flight at once (hashing and fsync wait on the disk, not the CPU)
GROUP_S = 0.1  # at most this long between catalog commits of placed files
# Errors that concern the destination disk as a whole: stop the run, not just one file.
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
CHANGED = "content changed since it was scanned (sha256 differs); not moved, run `astrocat scan`"

# A placed move on its way to the catalog: (item, 'link' | 'rename', source stat of a copy, move id)
Placed = tuple[PlanItem, str, os.stat_result | None, int]


class _NotAttempted(Exception):
    """The run stopped before this move started."""


@dataclass
class OrganizeResult:
    plan: Plan
    dry_run: bool = False
    relayout: bool = False
    moved: int = 0
    duplicates: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    stopped: str | None = None
    not_attempted: int = 0
    recovered: RecoveryResult = field(default_factory=RecoveryResult)
    bytes_moved: int = 0  # every byte moved, duplicates set aside included
    bytes_duplicates: int = 0  # of which set aside in quarantine/_duplicates
    elapsed_s: float = 0.0
    filed_s: float = 0.0  # until the last verified copy was filed (sources may still be going)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stopped and not self.recovered.problems

    def as_dict(self) -> dict[str, Any]:
        held = [i for i in self.plan.items if i.action == "hold"]
        skipped = [i for i in self.plan.items if i.action == "skip"]
        return {
            "dry_run": self.dry_run, "relayout": self.relayout, "moved": self.moved,
            "duplicates": self.duplicates, "held": [{"path": i.src, "reason": i.reason} for i in held],
            "skipped": [{"path": i.src, "reason": i.reason} for i in skipped],
            "failed": self.failed, "warnings": self.warnings, "stopped": self.stopped,
            "not_attempted": self.not_attempted, "recovered": self.recovered.as_dict(),
            "bytes_moved": self.bytes_moved, "bytes_duplicates": self.bytes_duplicates, "elapsed_s": round(self.elapsed_s, 3), "filed_s": round(self.filed_s, 3),
            "plan": [i.as_dict() for i in self.plan.items],
        }


class _Mover:
    """Carries out the moves of a plan, batch by batch, journaling each step."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings, result: OrganizeResult,
                 progress: ProgressFn | None, started: float) -> None:
        self.db = db
        self.s = settings
        self.r = result
        self.progress = progress
        self.hooks = Hooks()
        self.done = 0
        self.made_dirs: set[str] = set()
        self.base = str(settings.base_dir)
        self.started = started  # perf_counter() when organize began
        self.remover: ThreadPoolExecutor | None = None
        self.removing: list[Future[list[tuple[int, str | None]]]] = []

    def _abs(self, catalog_path: str) -> str:
        return catalog_path if os.path.isabs(catalog_path) else os.path.join(self.base, catalog_path)

    def run(self, items: list[PlanItem]) -> None:
        # Sources are removed by one background thread while the next files copy: on a disk
        # mounted with `discard`, unlinking a 50 MB file takes ~20 ms, as long as copying it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="astrocat-remove") as remover:
            self.remover = remover
            try:
                self._run(items)
            finally:
                done = self._collect_removed(wait=True)
                if done:
                    with self.db.conn:
                        finish(self.db, "done", done)
                self.hooks("done")

    def _run(self, items: list[PlanItem]) -> None:
        total = len(items)
        i = 0
        limit = BATCH_FILES
        while i < total:
            batch: list[PlanItem] = []
            size = 0
            while i < total and len(batch) < limit and (not batch or size < BATCH_BYTES):
                batch.append(items[i])
                size += items[i].size
                i += 1
            self._batch(batch)
            limit = min(limit * 2, BATCH_FILES_MAX)
            if self.r.stopped:
                self.r.not_attempted += total - i
                return

    def _fail(self, item: PlanItem, reason: str) -> None:
        self.r.failed.append({"path": item.src, "reason": reason})

    def _prepare(self, item: PlanItem) -> bool:
        """Checks before journaling: the source is there, the destination folder exists."""
        src = self._abs(item.src)
        dst_dir = os.path.dirname(self._abs(item.dst or ""))
        if not os.path.lexists(src):
            self._fail(item, GONE)
            return False
        if dst_dir not in self.made_dirs:
            try:
                os.makedirs(dst_dir, exist_ok=True)
            except OSError as exc:
                raise DestinationError(f"cannot create folder {dst_dir}: {describe(exc)}") from exc
            self.made_dirs.add(dst_dir)
        return True

    def _batch(self, batch: list[PlanItem]) -> None:
        ready: list[PlanItem] = []
        for k, item in enumerate(batch):
            try:
                if self._prepare(item):
                    ready.append(item)
            except DestinationError as exc:
                if item.action == "duplicate":  # _duplicates on the quarantine: only this frame
                    self._fail(item, f"not set aside: {exc}")
                    continue
                self.r.stopped = f"{item.src}: not moved: {exc}"
                self.r.not_attempted += len(batch) - k - 1
                break  # the items already checked still go
        if not ready:
            return
        started = utc_now()
        ids: dict[int, int] = {}  # id(item) -> move id
        with self.db.conn:
            for item in ready:
                cur = self.db.conn.execute(
                    "INSERT INTO moves (frame_id, kind, method, src, dst, sha256, size, state, started_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
                    (item.frame_id, item.action, item.method, item.src, item.dst, item.sha256, item.size, started),
                )
                ids[id(item)] = cur.lastrowid
                if item.method == "copy":
                    self.db.conn.execute("UPDATE moves SET tmp = ? WHERE id = ?", (tmp_name(item.dst, cur.lastrowid), cur.lastrowid))
        self.hooks("journaled")

        outcome: dict[int, str] = {}  # move id -> error (failed) / absent (ok)
        halt = threading.Event()

        def work(item: PlanItem) -> tuple[str, os.stat_result | None]:
            if halt.is_set():
                raise _NotAttempted()
            try:
                return self._move_one(item, ids[id(item)])
            except DestinationError:
                halt.set()
                raise

        # Several files in flight: one copies while another waits for fsync or is re-read.
        # Placed files are filed in groups (one commit per GROUP_S seconds, at least one per
        # batch), so a source can be removed long before the whole batch is through.
        group: list[Placed] = []
        last_commit = time.monotonic()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [(item, pool.submit(work, item)) for item in ready]
            for n, (item, fut) in enumerate(futures):
                mid = ids[id(item)]
                try:
                    how, st = fut.result()
                    group.append((item, how, st, mid))
                except _NotAttempted:
                    outcome[mid] = "not attempted: " + (self.r.stopped or "")
                    self.r.not_attempted += 1
                except SourceError as exc:
                    outcome[mid] = str(exc)
                    self._fail(item, str(exc))
                except Collision as exc:
                    outcome[mid] = f"destination exists: {exc}; never overwritten"
                    self._fail(item, outcome[mid])
                except DestinationError as exc:
                    outcome[mid] = str(exc)
                    if item.action == "duplicate":  # an unwritable quarantine stops only this frame
                        self._fail(item, f"not set aside: {exc}")
                    elif self.r.stopped:
                        self.r.not_attempted += 1  # in flight when the run stopped; same cause
                    else:
                        self.r.stopped = f"{item.src}: not moved: {exc}"
                last = n == len(futures) - 1
                if group and (last or time.monotonic() - last_commit >= GROUP_S):
                    self._file(group)
                    group = []
                    last_commit = time.monotonic()
        if outcome:
            with self.db.conn:
                for mid, err in outcome.items():
                    finish(self.db, "rolled_back" if err.startswith("not attempted") else "failed", [(mid, err)])

    def _file(self, group: list[Placed]) -> None:
        """Point the catalog at the placed files (one commit), then hand their sources to the remover."""
        for folder in {os.path.dirname(self._abs(i.dst)) for i, _, _, _ in group}:
            fsync_dir(folder)
        done = self._collect_removed(wait=False)
        with self.db.conn:
            for item, _, _, mid in group:
                point_frame(self.db, self.s, item.frame_id, item.dst, os.stat(self._abs(item.dst)))
                self.db.conn.execute("UPDATE moves SET state = 'filed' WHERE id = ?", (mid,))
            finish(self.db, "done", done)
        self.r.filed_s = time.perf_counter() - self.started
        self.hooks("filed")
        for item, _, _, _ in group:
            self.done += 1
            self.r.moved += item.action != "duplicate"
            self.r.bytes_moved += item.size
            if item.action == "duplicate":
                self.r.bytes_duplicates += item.size
                self.r.duplicates.append({"path": item.src, "moved_to": item.dst, "same_as": item.same_as})
            if self.progress:
                self.progress(self.done, len(self.r.plan.moves), item.src)
        assert self.remover is not None
        self.removing.append(self.remover.submit(self._remove_sources, group))

    def _collect_removed(self, wait: bool) -> list[tuple[int, str | None]]:
        """Moves whose sources the remover has dealt with (all of them when wait)."""
        done: list[tuple[int, str | None]] = []
        still: list[Future[list[tuple[int, str | None]]]] = []
        for fut in self.removing:
            if wait or fut.done():
                done.extend(fut.result())
            else:
                still.append(fut)
        self.removing = still
        return done

    def _remove_sources(self, group: list[Placed]) -> list[tuple[int, str | None]]:
        """Runs in the remover thread: remove each filed move's source. No catalog access here."""
        out: list[tuple[int, str | None]] = []
        src_dirs: set[str] = set()
        for item, how, st, mid in group:
            src = self._abs(item.src)
            err = None
            try:
                if item.method == "copy":
                    err = remove_copied_source(src, st, item.dst)
                elif how == "link" and same_file(src, self._abs(item.dst)):
                    os.unlink(src)
            except OSError as exc:
                err = f"filed and verified as {item.dst}; the source could not be removed: {describe(exc)}"
            if err:
                self.r.warnings.append({"path": item.src, "reason": err})
            src_dirs.add(os.path.dirname(src))
            self.hooks("source_removed")
            out.append((mid, err))
        for folder in src_dirs:
            fsync_dir(folder)
        return out

    def _move_one(self, item: PlanItem, move_id: int) -> tuple[str, os.stat_result | None]:
        src = self._abs(item.src)
        dst = self._abs(item.dst)
        if item.method == "link":
            # same filesystem: the bytes do not move, but they must be the ones scanned
            try:
                digest = sha256_file(src)
            except FileNotFoundError:
                raise SourceError(GONE) from None
            except OSError as exc:
                raise SourceError(f"cannot read: {describe(exc)}") from None
            if digest != item.sha256:
                raise SourceError(CHANGED)
            try:
                how = place(src, dst)
            except FileNotFoundError:
                raise SourceError(GONE) from None
            except OSError as exc:
                if exc.errno in FATAL_ERRNOS:
                    raise DestinationError(f"{dst}: {describe(exc)}") from exc
                raise SourceError(f"cannot move to {dst}: {describe(exc)}") from exc
            self.hooks("linked")
            return how, None
        tmp = self._abs(tmp_name(item.dst, move_id))
        check_free_space(os.path.dirname(dst), item.size)
        st = copy_to_tmp(src, tmp, self.hooks.fail_after)
        self.hooks("copied")
        try:
            digest = sha256_file(tmp, drop_cache=True)
        except OSError as exc:
            unlink_quiet(tmp)
            raise DestinationError(f"cannot read back the copy {tmp}: {describe(exc)}") from exc
        if digest != item.sha256:
            unlink_quiet(tmp)
            try:
                src_digest = sha256_file(src)
            except OSError:
                src_digest = None
            if src_digest != item.sha256:
                raise SourceError(CHANGED)
            raise DestinationError(f"the copy in {os.path.dirname(dst)} does not match its sha256: the destination disk may be failing")
        self.hooks("verified")
        try:
            how = place(tmp, dst)
        except Collision:
            unlink_quiet(tmp)
            raise
        except OSError as exc:
            unlink_quiet(tmp)
            raise DestinationError(f"{dst}: {describe(exc)}") from exc
        if how == "link":
            os.unlink(tmp)
        self.hooks("placed")
        return how, st


def organize(
    db: sqlite_utils.Database,
    settings: Settings,
    dry_run: bool = False,
    relayout: bool = False,
    progress: ProgressFn | None = None,
    now: datetime | None = None,
    recover_first: bool = True,
) -> OrganizeResult:
    """Recover interrupted moves (unless the caller just did), plan, then (unless dry_run)
    move. The caller holds the lock."""
    started = time.perf_counter()
    recovered = recover(db, settings) if recover_first and not dry_run else RecoveryResult()
    p = plan(db, settings, relayout=relayout, now=now)
    result = OrganizeResult(plan=p, dry_run=dry_run, relayout=relayout, recovered=recovered)
    if not dry_run and p.moves:
        db.execute("PRAGMA synchronous=FULL")  # the journal must survive a power cut too
        try:
            _Mover(db, settings, result, progress, started).run(p.moves)
        finally:
            db.execute("PRAGMA synchronous=NORMAL")
        if relayout:
            prune_empty_dirs(settings.library)
    if not dry_run and (result.moved or result.duplicates):
        # locations changed: which copy counts, and so session and target totals, may too
        # (recover refreshed after its own moves)
        shas = {m.sha256 for m in p.moves if m.sha256}
        with db.conn:
            catalog.refresh_derived(db, sha256s=shas)
    result.elapsed_s = time.perf_counter() - started
    return result
