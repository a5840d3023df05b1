"""Safe moves quarantine -> library: plan, journal, move, verify, recover.

The move protocol (DESIGN.md, "files are sacred"):

1. journal the intent in table `moves` (state `planned`) and commit;
2. same filesystem: hard-link the source to its new name (refuses to overwrite), or a
   no-overwrite rename where links are not supported; across filesystems: copy to
   `.astrocat-tmp-<id>` in the destination folder, fsync, drop it from the page cache,
   re-read it and check its sha256 against the catalog, then link it to its name;
3. update the frame row and mark the move `filed` in one transaction;
4. remove the source (only if it is still the file that was verified), mark `done`.

A crash at any point leaves a journal row in `planned` or `filed`; `recover()` (run at
the start of scan, organize and sync) then finishes or rolls back each one. The rule it
follows: a file is only removed when another file with the same sha256 exists.

Test hooks (environment variables read only when set; never needed in normal use):
`ASTROCAT_TEST_PAUSE_AT=step:n` stops at the n-th time `step` is reached (writes
`ASTROCAT_TEST_PAUSE_FILE`, then sleeps, for a test to kill the process);
`ASTROCAT_TEST_STEP_DELAY=seconds` sleeps at every step; `ASTROCAT_TEST_FAIL_WRITE_AFTER=n`
makes the copy fail with ENOSPC after n bytes; `ASTROCAT_TEST_FORCE_COPY=1` uses the copy
protocol even within one filesystem.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from astrocat.hashing import sha256_file
from astrocat.catalog.counts import integrates
from astrocat.progress import ProgressFn
from astrocat.clock import utc_now
from astrocat import catalog
from astrocat.rules import naming
from astrocat.config import DUPLICATES_DIR, Settings
from astrocat.rules.normalize import compute_night


TMP_PREFIX = ".astrocat-tmp-"
STEPS = ("journaled", "linked", "copied", "verified", "placed", "filed", "source_removed", "done")
BATCH_FILES = 50  # journal rows per transaction; also bounds the work a crash leaves
BATCH_BYTES = 1 << 30
CHUNK = 8 << 20
# O_BINARY: without it Windows opens in text mode and would rewrite line ends and stop at ^Z
_OPEN_FLAGS = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
FREE_SPACE_MARGIN = 1 << 20
WORKERS = 3  # moves in flight at once (hashing and fsync wait on the disk, not the CPU)
GROUP_S = 0.1  # at most this long between catalog commits of placed files
# Errors that concern the destination disk as a whole: stop the run, not just one file.
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}



class DestinationError(Exception):
    """Writing the destination failed; the run stops (full disk, read-only, no permission)."""


class SourceError(Exception):
    """This one source cannot be moved (gone, changed, unreadable); the run goes on."""


class Collision(Exception):
    """The destination name exists: it is never overwritten."""


class _NotAttempted(Exception):
    """The run stopped before this move started."""


# --- test hooks -----------------------------------------------------------------------


class _Hooks:
    """Pause/delay/failure injection for the crash and failure tests (see module doc)."""

    def __init__(self) -> None:
        env = os.environ
        spec = env.get("ASTROCAT_TEST_PAUSE_AT", "")
        self.pause_step, _, n = spec.partition(":")
        self.pause_n = int(n or 1) if self.pause_step else 0
        self.pause_file = env.get("ASTROCAT_TEST_PAUSE_FILE")
        self.delay = float(env.get("ASTROCAT_TEST_STEP_DELAY", "0") or 0)
        fail = env.get("ASTROCAT_TEST_FAIL_WRITE_AFTER")
        self.fail_after = int(fail) if fail else None
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, step: str) -> None:
        if self.delay:
            time.sleep(self.delay)
        if not self.pause_step:
            return
        with self.lock:
            self.counts[step] = self.counts.get(step, 0) + 1
            hit = step == self.pause_step and self.counts[step] == self.pause_n
        if hit:
            if self.pause_file:
                Path(self.pause_file).write_text(f"{os.getpid()} {step} {self.pause_n}\n")
            time.sleep(3600)


# --- small file helpers ---------------------------------------------------------------



def fsync_dir(path: str | os.PathLike) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the data itself was fsynced
    finally:
        os.close(fd)


def _device_of(path: Path) -> int:
    """st_dev of the nearest existing folder at or above `path`."""
    p = path
    while True:
        try:
            return os.stat(p).st_dev
        except FileNotFoundError:
            if p.parent == p:
                raise
            p = p.parent


def _place(src: str, dst: str) -> str:
    """Give `src`'s file the name `dst` without ever replacing an existing `dst`.

    Returns 'link' (both names exist now; caller removes src) or 'rename' (src is gone).
    """
    try:
        os.link(src, dst)
        return "link"
    except FileExistsError:
        raise Collision(dst) from None
    except OSError as exc:
        # EINVAL: Windows' answer on FAT/exFAT (ERROR_INVALID_FUNCTION)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV,
                             errno.EINVAL):
            raise
    # no hard links here (FAT, exFAT, some network shares): we hold the catalog lock, so
    # checking first then renaming races only with programs writing into the library
    if os.path.lexists(dst):
        raise Collision(dst)
    os.rename(src, dst)
    return "rename"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- the plan -------------------------------------------------------------------------


@dataclass
class PlanItem:
    frame_id: int
    src: str  # catalog path
    dst: str | None  # catalog path
    action: str  # file | duplicate | relayout | hold | skip
    sha256: str | None
    size: int
    reason: str | None = None
    method: str | None = None  # link | copy (filled for moves)
    same_as: str | None = None  # duplicates: the library frame with this content

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "source": self.src, "destination": self.dst,
            "method": self.method, "reason": self.reason, "frame_id": self.frame_id,
            "sha256": self.sha256, "size": self.size,
        }


@dataclass
class Plan:
    items: list[PlanItem] = field(default_factory=list)

    @property
    def moves(self) -> list[PlanItem]:
        return [i for i in self.items if i.action in ("file", "duplicate", "relayout")]

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)


_PLAN_COLS = [
    "id", "path", "size", "sha256", "frame_type", "is_master", "target", "filter", "exposure_s",
    "night", "session_id", "camera", "telescope", "gain", "ccd_temp_c", "set_temp_c", "binning",
]


def duplicates_prefix(settings: Settings) -> str:
    return settings.rel(settings.quarantine / DUPLICATES_DIR) + "/"


def current_night(settings: Settings, now: datetime | None = None) -> str | None:
    """Tonight, by the same rule as frames' nights (configured timezone)."""
    utc = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    return compute_night(utc, None, None, settings.timezone)[0]


class _Names:
    """Which names are taken: catalog paths, files on disk, and this run's plan."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings) -> None:
        self.settings = settings
        self.catalog: set[str] = set()
        for (p,) in db.execute("SELECT path FROM frames UNION ALL SELECT path FROM rejects"):
            self.catalog.add(naming.stem_key(p))
        self.planned: set[str] = set()
        self.listings: dict[str, set[str]] = {}
        self.next_seq: dict[tuple[str, naming.Rendered], int] = {}

    def _listing(self, folder: str) -> set[str]:
        got = self.listings.get(folder)
        if got is None:
            got = set()
            try:
                with os.scandir(self.settings.abs(folder)) as it:
                    for de in it:
                        got.add(naming.stem_key(f"{folder}/{de.name}"))
            except OSError:
                pass
            self.listings[folder] = got
        return got

    def taken(self, catalog_path_key: str, folder: str) -> bool:
        return (
            catalog_path_key in self.catalog
            or catalog_path_key in self.planned
            or catalog_path_key in self._listing(folder)
        )

    def allocate(self, rendered: naming.Rendered, root: str) -> str:
        """A free catalog path for `rendered` under catalog folder `root`; reserves it."""
        folder = f"{root}/{rendered.folder}" if rendered.folder else root
        prefix = naming.stem_key(f"{root}/")
        base = (root, rendered)
        # numbers below the last one handed out for this name are taken: start after it
        path, seq = naming.allocate(
            rendered, lambda key: self.taken(prefix + key, folder), start=self.next_seq.get(base, 1)
        )
        self.next_seq[base] = seq + 1
        full = f"{root}/{path}"
        self.planned.add(naming.stem_key(full))
        return full


def _frames(db: sqlite_utils.Database, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    cols = ", ".join(f'"{c}"' for c in _PLAN_COLS)
    for row in db.execute(f"SELECT {cols} FROM frames WHERE {where} ORDER BY date_obs, path", params):
        yield dict(zip(_PLAN_COLS, row))


def plan(
    db: sqlite_utils.Database, settings: Settings, relayout: bool = False, now: datetime | None = None
) -> Plan:
    """What organize would do. Reads the catalog and lists destination folders; moves nothing."""
    naming.validate_pattern(settings.naming_pattern)
    lib_root = settings.rel(settings.library)
    dup_prefix = duplicates_prefix(settings)
    out = Plan()
    if relayout:
        todo = list(_frames(db, "location = 'library'", []))
    else:
        todo = list(_frames(db, "location = 'quarantine' AND substr(path, 1, ?) != ?", [len(dup_prefix), dup_prefix]))
    if not todo:
        return out  # the usual cron case: nothing new, nothing to look up
    names = _Names(db, settings)
    lights: dict[str, dict[str, int]] = {}
    sessions_with_lights: set[str] = set()
    for sid, target, n in db.execute(
        f"SELECT session_id, target, COUNT(*) FROM frames WHERE {integrates()} "
        "AND session_id IS NOT NULL GROUP BY session_id, target"
    ):
        sessions_with_lights.add(sid)
        if target:
            lights.setdefault(sid, {})[target] = n
    tonight = current_night(settings, now)

    def render(f: dict[str, Any]) -> naming.Rendered:
        cal = naming.main_target(lights.get(f["session_id"] or "", {}))
        return naming.render(settings.naming_pattern, f, f["path"], cal)

    if relayout:
        for f in todo:
            r = render(f)
            current = f["path"]
            inside = current.startswith(lib_root + "/")
            if inside and r.matches(current[len(lib_root) + 1 :]):
                continue
            if not f["sha256"]:
                out.items.append(PlanItem(f["id"], current, None, "skip", None, f["size"], "no sha256 in the catalog; run `astrocat scan`"))
                continue
            dst = names.allocate(r, lib_root)
            out.items.append(PlanItem(f["id"], current, dst, "relayout", f["sha256"], f["size"]))
        _methods(settings, out)
        return out

    in_library: dict[str, str] = {
        sha: path for sha, path in db.execute(
            "SELECT sha256, MIN(path) FROM frames WHERE location = 'library' AND sha256 IS NOT NULL GROUP BY sha256"
        )
    }
    q_root = settings.rel(settings.quarantine)
    for f in todo:
        src = f["path"]
        if not f["sha256"]:
            out.items.append(PlanItem(f["id"], src, None, "skip", None, f["size"], "no sha256 in the catalog; run `astrocat scan`"))
            continue
        same = in_library.get(f["sha256"])
        if same:
            inner = src[len(q_root) + 1 :] if src.startswith(q_root + "/") else src.rsplit("/", 1)[-1]
            dup = naming.duplicate_path(inner)
            ext = naming.extension_of(dup)
            folder, _, name = dup[: len(dup) - len(ext)].rpartition("/")
            dst = names.allocate(naming.Rendered(folder, name, ext), dup_prefix.rstrip("/"))
            out.items.append(PlanItem(f["id"], src, dst, "duplicate", f["sha256"], f["size"],
                                      f"same content as {same}", same_as=same))
            continue
        if naming.hold_calibration(f, (f["session_id"] or "") in sessions_with_lights, tonight):
            out.items.append(PlanItem(
                f["id"], src, None, "hold", f["sha256"], f["size"],
                f"calibration frame of night {f['night']} with no lights yet: waits until the night is over",
            ))
            continue
        dst = names.allocate(render(f), lib_root)
        in_library[f["sha256"]] = dst  # a second copy in this run is a duplicate too
        out.items.append(PlanItem(f["id"], src, dst, "file", f["sha256"], f["size"]))
    _methods(settings, out)
    return out


def _methods(settings: Settings, p: Plan) -> None:
    force_copy = os.environ.get("ASTROCAT_TEST_FORCE_COPY", "") not in ("", "0")
    devs: dict[str, int] = {}
    for item in p.moves:
        try:
            src_dev = os.stat(settings.abs(item.src)).st_dev
            folder = os.path.dirname(item.dst or "")
            if folder not in devs:
                devs[folder] = _device_of(settings.abs(folder))
            item.method = "copy" if force_copy or src_dev != devs[folder] else "link"
        except OSError:
            item.method = "link"  # the source is gone: the move will say so


# --- moving -----------------------------------------------------------------------------


@dataclass
class RecoveryResult:
    finished: int = 0
    rolled_back: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"finished": self.finished, "rolled_back": self.rolled_back, "problems": self.problems,
                "warnings": self.warnings}

    @property
    def total(self) -> int:
        return self.finished + self.rolled_back + len(self.problems)


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
    bytes_moved: int = 0
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
            "bytes_moved": self.bytes_moved, "elapsed_s": round(self.elapsed_s, 3), "filed_s": round(self.filed_s, 3),
            "plan": [i.as_dict() for i in self.plan.items],
        }


def _location(settings: Settings, catalog_path: str) -> str:
    full = catalog_path if os.path.isabs(catalog_path) else os.path.join(settings.base_dir, catalog_path)
    loc = settings.location_of(full)
    return "library" if loc == "external" else loc


def tmp_name(dst_catalog_path: str, move_id: int) -> str:
    folder = os.path.dirname(dst_catalog_path)
    return f"{folder}/{TMP_PREFIX}{move_id}" if folder else f"{TMP_PREFIX}{move_id}"


_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


def _positioned_reader(fd: int) -> Callable[[memoryview, int], int]:
    """read_at(view, offset) -> bytes read into view. preadv reads straight into the
    buffer; pread (no preadv: older macOS) copies once; Windows has neither, so seek
    and read there."""
    if hasattr(os, "preadv"):
        return lambda view, offset: os.preadv(fd, [view], offset)
    if hasattr(os, "pread"):
        def pread(view: memoryview, offset: int) -> int:
            data = os.pread(fd, len(view), offset)
            view[: len(data)] = data
            return len(data)
        return pread
    f = io.FileIO(fd, "rb", closefd=False)

    def seek_read(view: memoryview, offset: int) -> int:
        f.seek(offset)
        return f.readinto(view) or 0
    return seek_read


def _copy_bytes(src_fd: int, dst_fd: int, hooks: _Hooks) -> int:
    """Copy everything from src_fd to dst_fd (kernel sendfile, else read/write)."""
    total = 0
    use_sendfile = hasattr(os, "sendfile")
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    read_at = _positioned_reader(src_fd)
    while True:
        want = CHUNK * 4
        if hooks.fail_after is not None:
            if total >= hooks.fail_after:
                raise DestinationError(os.strerror(errno.ENOSPC))
            want = min(want, hooks.fail_after - total)
        if use_sendfile:
            try:
                n = os.sendfile(dst_fd, src_fd, total, want)
            except OSError as exc:
                if exc.errno in _NO_SENDFILE and total == 0:
                    use_sendfile = False
                    continue
                # the kernel does not say which side failed; stopping the run is the safe answer
                raise DestinationError(_describe(exc)) from exc
            if n == 0:
                return total
            total += n
            continue
        try:
            n = read_at(view[:want], total)
        except OSError as exc:
            raise SourceError(f"read error: {_describe(exc)}") from None
        if n == 0:
            return total
        off = 0
        while off < n:
            try:
                off += os.write(dst_fd, view[off:n])
            except OSError as exc:
                raise DestinationError(_describe(exc)) from exc
        total += n


def _copy_to_tmp(src: str, tmp: str, hooks: _Hooks) -> os.stat_result:
    """Copy src to tmp (new file), keep its times, fsync. Returns the source's stat."""
    try:
        sfd = os.open(src, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        raise SourceError("the file is gone since it was scanned; run `astrocat scan`") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {_describe(exc)}") from None
    try:
        st = os.fstat(sfd)
        try:
            dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise DestinationError(f"cannot create {tmp}: {_describe(exc)}") from exc
        try:
            _copy_bytes(sfd, dfd, hooks)
            # a read-only frame stays read-only. Windows (no fchmod) has only a read-only
            # flag, which would also stop the temporary copy from being removed on failure.
            if hasattr(os, "fchmod"):
                try:
                    os.fchmod(dfd, stat.S_IMODE(st.st_mode))
                except OSError:
                    pass  # FAT/exFAT and some shares have no permissions to keep
            os.utime(dfd if os.utime in os.supports_fd else tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            try:
                os.fsync(dfd)
            except OSError as exc:
                raise DestinationError(f"fsync failed: {_describe(exc)}") from exc
        except BaseException:
            os.close(dfd)
            dfd = -1
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        finally:
            if dfd >= 0:
                os.close(dfd)
    finally:
        os.close(sfd)
    return st


class _Mover:
    """Carries out the moves of a plan, batch by batch, journaling each step."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings, result: OrganizeResult,
                 progress: ProgressFn | None, started: float) -> None:
        self.db = db
        self.s = settings
        self.r = result
        self.progress = progress
        self.hooks = _Hooks()
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
                        self._mark_done(done)
                self.hooks("done")

    def _run(self, items: list[PlanItem]) -> None:
        total = len(items)
        i = 0
        while i < total:
            batch: list[PlanItem] = []
            size = 0
            while i < total and len(batch) < BATCH_FILES and (not batch or size < BATCH_BYTES):
                batch.append(items[i])
                size += items[i].size
                i += 1
            self._batch(batch)
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
            self._fail(item, "the file is gone since it was scanned; run `astrocat scan`")
            return False
        key = dst_dir
        if key not in self.made_dirs:
            try:
                os.makedirs(dst_dir, exist_ok=True)
            except OSError as exc:
                raise DestinationError(f"cannot create folder {dst_dir}: {_describe(exc)}") from exc
            self.made_dirs.add(key)
        return True

    def _batch(self, batch: list[PlanItem]) -> None:
        ready: list[PlanItem] = []
        for k, item in enumerate(batch):
            try:
                if self._prepare(item):
                    ready.append(item)
            except DestinationError as exc:
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
        group: list[tuple[PlanItem, str, os.stat_result | None, int]] = []
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
                    if self.r.stopped:
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
                    state = "rolled_back" if err.startswith("not attempted") else "failed"
                    self.db.conn.execute(
                        "UPDATE moves SET state = ?, error = ?, finished_at = ? WHERE id = ?", (state, err, utc_now(), mid)
                    )

    def _file(self, group: list[tuple[PlanItem, str, os.stat_result | None, int]]) -> None:
        """Point the catalog at the placed files (one commit), then hand their sources to the remover."""
        for folder in {os.path.dirname(self._abs(i.dst)) for i, _, _, _ in group}:
            fsync_dir(folder)
        done = self._collect_removed(wait=False)
        with self.db.conn:
            for item, _, _, mid in group:
                point_frame(self.db, self.s, item.frame_id, item.dst, os.stat(self._abs(item.dst)))
                self.db.conn.execute("UPDATE moves SET state = 'filed' WHERE id = ?", (mid,))
            self._mark_done(done)
        self.r.filed_s = time.perf_counter() - self.started
        self.hooks("filed")
        for item, _, _, _ in group:
            self.done += 1
            self.r.moved += item.action != "duplicate"
            self.r.bytes_moved += item.size
            if item.action == "duplicate":
                self.r.duplicates.append({"path": item.src, "moved_to": item.dst, "same_as": item.same_as})
            if self.progress:
                self.progress(self.done, len(self.r.plan.moves), item.src)
        assert self.remover is not None
        self.removing.append(self.remover.submit(self._remove_sources, group))

    def _mark_done(self, done: list[tuple[int, str | None]]) -> None:
        self.db.conn.executemany(
            "UPDATE moves SET state = 'done', finished_at = ?, error = ? WHERE id = ?",
            [(utc_now(), err, mid) for mid, err in done],
        )

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

    def _remove_sources(self, group: list[tuple[PlanItem, str, os.stat_result | None, int]]) -> list[tuple[int, str | None]]:
        """Runs in the remover thread: remove each filed move's source. No catalog access here."""
        out: list[tuple[int, str | None]] = []
        src_dirs: set[str] = set()
        for item, how, st, mid in group:
            src = self._abs(item.src)
            err = None
            try:
                if item.method == "copy":
                    err = _remove_copied_source(item, src, st)
                elif how == "link" and _same_file(src, self._abs(item.dst)):
                    os.unlink(src)
            except OSError as exc:
                err = f"filed and verified as {item.dst}; the source could not be removed: {_describe(exc)}"
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
                raise SourceError("the file is gone since it was scanned; run `astrocat scan`") from None
            except OSError as exc:
                raise SourceError(f"cannot read: {_describe(exc)}") from None
            if digest != item.sha256:
                raise SourceError("content changed since it was scanned (sha256 differs); not moved, run `astrocat scan`")
            try:
                how = _place(src, dst)
            except FileNotFoundError:
                raise SourceError("the file is gone since it was scanned; run `astrocat scan`") from None
            except OSError as exc:
                if exc.errno in FATAL_ERRNOS:
                    raise DestinationError(f"{dst}: {_describe(exc)}") from exc
                raise SourceError(f"cannot move to {dst}: {_describe(exc)}") from exc
            self.hooks("linked")
            return how, None
        tmp = self._abs(tmp_name(item.dst, move_id))
        free = shutil.disk_usage(os.path.dirname(dst)).free
        if free < item.size + FREE_SPACE_MARGIN:
            raise DestinationError(f"not enough free space in {os.path.dirname(dst)}: {item.size} bytes needed, {free} free")
        st = _copy_to_tmp(src, tmp, self.hooks)
        self.hooks("copied")
        try:
            digest = sha256_file(tmp, drop_cache=True)
        except OSError as exc:
            _unlink_quiet(tmp)
            raise DestinationError(f"cannot read back the copy {tmp}: {_describe(exc)}") from exc
        if digest != item.sha256:
            _unlink_quiet(tmp)
            try:
                src_digest = sha256_file(src)
            except OSError:
                src_digest = None
            if src_digest != item.sha256:
                raise SourceError("content changed since it was scanned (sha256 differs); not moved, run `astrocat scan`")
            raise DestinationError(f"the copy in {os.path.dirname(dst)} does not match its sha256: the destination disk may be failing")
        self.hooks("verified")
        try:
            how = _place(tmp, dst)
        except Collision:
            _unlink_quiet(tmp)
            raise
        except OSError as exc:
            _unlink_quiet(tmp)
            raise DestinationError(f"{dst}: {_describe(exc)}") from exc
        if how == "link":
            os.unlink(tmp)
        self.hooks("placed")
        return how, st


def _remove_copied_source(item: PlanItem, src: str, st: os.stat_result | None) -> str | None:
    """Remove a copied source unless it changed while it was copied; the reason it was kept."""
    try:
        now = os.stat(src)
    except FileNotFoundError:
        return None
    if st is not None and (now.st_size, now.st_mtime_ns, now.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
        os.unlink(src)
        return None
    return f"the source changed while it was copied; the verified copy is {item.dst}, the source was kept"


def point_frame(db: sqlite_utils.Database, settings: Settings, frame_id: int, path: str, st: os.stat_result) -> None:
    """Point a frame row at its new path (inside the caller's transaction)."""
    sql = "UPDATE frames SET path = ?, location = ?, mtime = ?, size = ? WHERE id = ?"
    args = (path, _location(settings, path), st.st_mtime, st.st_size, frame_id)
    try:
        db.conn.execute(sql, args)
    except sqlite3.IntegrityError:
        # a scan cataloged the new name as a row of its own (only after an odd crash): keep one
        db.conn.execute("DELETE FROM frames WHERE path = ? AND id != ?", (path, frame_id))
        db.conn.execute(sql, args)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
            _prune_empty_dirs(settings.library)
    if not dry_run and (result.moved or result.duplicates or recovered.finished or recovered.rolled_back):
        # locations changed: which copy counts, and so session and target totals, may too
        shas = {m.sha256 for m in p.moves if m.sha256}
        with db.conn:
            catalog.refresh_derived(db, sha256s=shas)
    result.elapsed_s = time.perf_counter() - started
    return result


def _prune_empty_dirs(root: Path) -> None:
    """Remove folders a relayout emptied (only inside the library, never the root)."""
    for folder, dirs, files in os.walk(root, topdown=False):
        if Path(folder) == root or files:
            continue
        try:
            os.rmdir(folder)
        except OSError:
            pass


# --- recovery -----------------------------------------------------------------------------


def recovery_action(state: str, src: str, dst: str, tmp: str) -> str:
    """What to do with an interrupted move, from what is on disk. Pure.

    src/dst/tmp are 'absent', 'match' (sha256 as journaled) or 'other'. Returns 'forward'
    (the destination is good: point the catalog at it, drop the source),
    'place_tmp' (only the verified temporary copy is left: give it its name),
    'back' (keep the source, drop what the move made) or 'lost' (report; touch nothing).
    """
    if dst == "match":
        return "forward"
    if src == "match":
        return "back"
    if tmp == "match" and dst == "absent":
        return "place_tmp"  # the source is gone or changed: the verified copy is the frame
    if src == "other":
        return "back"  # changed by someone else since it was scanned: keep it as it is
    return "lost"


def _probe(path: str, sha: str, same_as: str | None = None) -> str:
    if not os.path.lexists(path):
        return "absent"
    if same_as and _same_file(path, same_as):
        return "match"
    try:
        return "match" if sha256_file(path) == sha else "other"
    except OSError:
        return "other"


def recover(db: sqlite_utils.Database, settings: Settings) -> RecoveryResult:
    """Finish or roll back every move a crash interrupted. Idempotent. Caller holds the lock."""
    result = RecoveryResult()
    if not db["moves"].exists():
        return result
    rows = list(db.query(
        "SELECT id, frame_id, kind, method, src, dst, tmp, sha256, size, state FROM moves "
        "WHERE state IN ('planned', 'filed') ORDER BY id"
    ))
    for m in rows:
        src = str(settings.abs(m["src"]))
        dst = str(settings.abs(m["dst"]))
        tmp = str(settings.abs(m["tmp"])) if m["tmp"] else None
        s_src = _probe(src, m["sha256"])
        s_dst = _probe(dst, m["sha256"], same_as=src if s_src == "match" else None)
        s_tmp = _probe(tmp, m["sha256"]) if tmp else "absent"
        action = recovery_action(m["state"], s_src, s_dst, s_tmp)
        if action == "place_tmp":
            assert tmp is not None
            try:
                if _place(tmp, dst) == "link":
                    os.unlink(tmp)
                fsync_dir(os.path.dirname(dst))
                action, s_dst, s_tmp = "forward", "match", "absent"
            except (OSError, Collision) as exc:
                result.problems.append({"path": m["src"], "reason": f"cannot restore {tmp} to {dst}: {exc}"})
                continue
        if action == "forward":
            st = os.stat(dst)
            with db.conn:
                if m["frame_id"] is not None:
                    point_frame(db, settings, m["frame_id"], m["dst"], st)
                db.conn.execute("UPDATE moves SET state = 'filed' WHERE id = ?", (m["id"],))
            note = "finished by recovery"
            try:
                if s_src == "match" and os.path.lexists(src):
                    os.unlink(src)
                    fsync_dir(os.path.dirname(src))
                if tmp and os.path.lexists(tmp):
                    os.unlink(tmp)  # a complete copy that already has its name (same file or same bytes)
            except OSError as exc:
                # the frame is filed and verified; a source we may not delete (read-only card) stays
                note += f"; not removed: {_describe(exc)}"
                result.warnings.append({"path": m["src"], "reason": f"filed as {m['dst']}; {note}"})
            with db.conn:
                db.conn.execute("UPDATE moves SET state = 'done', finished_at = ?, error = ? WHERE id = ?",
                                (utc_now(), note, m["id"]))
            result.finished += 1
        elif action == "back":
            # the source is intact: remove what the move created, if it is ours
            if tmp and os.path.lexists(tmp):
                os.unlink(tmp)
                fsync_dir(os.path.dirname(tmp))
            with db.conn:
                if m["state"] == "filed" and m["frame_id"] is not None:
                    point_frame(db, settings, m["frame_id"], m["src"], os.stat(src))
                db.conn.execute("UPDATE moves SET state = 'rolled_back', finished_at = ?, error = ? WHERE id = ?",
                                (utc_now(), "rolled back by recovery", m["id"]))
            result.rolled_back += 1
        else:
            reason = "neither the source nor a verified copy exists"
            result.problems.append({"path": m["src"], "reason": f"interrupted move to {m['dst']}: {reason}"})
            with db.conn:
                db.conn.execute("UPDATE moves SET state = 'failed', finished_at = ?, error = ? WHERE id = ?",
                                (utc_now(), reason, m["id"]))
    return result


# --- duplicates ----------------------------------------------------------------------------


def purge_duplicates(db: sqlite_utils.Database, settings: Settings, confirm: bool = False) -> dict[str, Any]:
    """Delete files in quarantine/_duplicates whose content is verified in the library.

    Without confirm nothing is deleted: the result lists what would be. Both copies are
    re-hashed first; a duplicate whose library copy is missing or differs is kept.
    """
    prefix = duplicates_prefix(settings)
    rows = list(db.query(
        "SELECT d.id, d.path, d.sha256, d.size, d.session_id, "
        "(SELECT MIN(l.path) FROM frames l WHERE l.sha256 = d.sha256 AND l.location = 'library') AS library_path "
        "FROM frames d WHERE d.location IN ('quarantine', 'duplicate') AND substr(d.path, 1, ?) = ? ORDER BY d.path",
        [len(prefix), prefix],
    ))
    out: dict[str, Any] = {"confirm": confirm, "deleted": [], "would_delete": [], "kept": [], "bytes": 0}
    sessions: set[str] = set()
    for r in rows:
        dup = settings.abs(r["path"])
        if not r["library_path"]:
            out["kept"].append({"path": r["path"], "reason": "no library copy with the same sha256 in the catalog"})
            continue
        lib = settings.abs(r["library_path"])
        try:
            if sha256_file(lib) != r["sha256"]:
                out["kept"].append({"path": r["path"], "reason": f"library copy {r['library_path']} no longer matches"})
                continue
            if sha256_file(dup) != r["sha256"]:
                out["kept"].append({"path": r["path"], "reason": "changed since it was scanned"})
                continue
        except OSError as exc:
            out["kept"].append({"path": r["path"], "reason": f"cannot read: {_describe(exc)}"})
            continue
        entry = {"path": r["path"], "same_as": r["library_path"], "size": r["size"]}
        if not confirm:
            out["would_delete"].append(entry)
            out["bytes"] += r["size"]
            continue
        os.unlink(dup)
        with db.conn:
            db.conn.execute("DELETE FROM frames WHERE id = ?", (r["id"],))
        if r["session_id"]:
            sessions.add(r["session_id"])
        out["deleted"].append(entry)
        out["bytes"] += r["size"]
    if sessions:
        with db.conn:
            catalog.refresh_derived(db, sessions)
    return out
