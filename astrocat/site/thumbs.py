"""The previews a build uses: rendered once per content (`thumbs/<sha256>.png`), reused
by kept pages, failures remembered, unused ones deleted.

Pages ask for the previews they are about to need (`prefetch`); once enough are missing to
pay for starting them, those are rendered in worker processes, one per CPU, while this
process renders pages. `href` then waits for its preview; without workers it renders it
itself. The result is the same either way: the same files, the same counts and failures."""

from __future__ import annotations

import os
import re
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterable

from astrocat.config import Settings
from astrocat.site.writer import BuildResult

_SHA_NAME = re.compile(r"^[0-9a-f]{64}$")
# Previews missing before workers start: a forked worker starts in milliseconds; a spawned
# one (when this process already has threads, e.g. a progress bar) imports numpy first.
POOL_MIN_FORK = 32
POOL_MIN_SPAWN = 400
BATCH = 48  # previews per job: sending a job costs about as much as rendering a few previews


class Thumbs:
    def __init__(self, out: Path, settings: Settings, enabled: bool, known_failures: dict[str, str],
                 result: BuildResult) -> None:
        self.dir = out / "thumbs"
        self.out = out
        self.s = settings
        self.enabled = enabled
        self.result = result
        self.failed: dict[str, str] = dict(known_failures)  # sha256 -> reason, across builds
        self.used: set[str] = set()  # file names under thumbs/ this build shows
        self.failed_used: set[str] = set()
        # sha256 -> (its job, its place in the job), or None while queued here
        self._jobs: dict[str, tuple[Future, int] | None] = {}
        self._queue: list[tuple[str, str, str | None]] = []  # (sha256, source, Bayer pattern) not yet sent
        self._missing = 0  # previews found missing so far
        self._pool: Any = None  # a ProcessPoolExecutor once enough are missing
        self._pool_failed = False

    def prefetch(self, frames: Iterable[dict[str, Any]]) -> None:
        """Start rendering the previews of these frames, which pages will soon ask for."""
        if not self.enabled or self._pool_failed:
            return
        wanted: dict[str, tuple[str, str, str | None]] = {}
        for f in frames:
            sha = f.get("sha256")
            if (not sha or not _SHA_NAME.match(sha) or sha in self.failed or sha in self._jobs or sha in wanted
                    or (self.dir / f"{sha}.png").is_file()):
                continue
            wanted[sha] = (sha, str(self.s.abs(f["path"])), f.get("bayer_pattern"))
        self._missing += len(wanted)
        if not wanted or not self._start_pool():
            return
        self._queue.extend(wanted.values())
        for sha in wanted:
            self._jobs[sha] = None  # queued, not yet sent
        if len(self._queue) >= BATCH:
            self._send()

    def _send(self) -> None:
        """Hand the queued previews to the workers, one job per BATCH."""
        from astrocat.site import preview

        queue, self._queue = self._queue, []
        for i in range(0, len(queue), BATCH):
            batch = queue[i:i + BATCH]
            try:
                job = self._pool.submit(preview.render_batch, str(self.dir), batch)
            except Exception:  # noqa: BLE001 - a broken pool: render in this process from now on
                self._pool_failed = True
                for sha, _, _ in queue[i:]:
                    self._jobs.pop(sha, None)
                return
            for place, (sha, _, _) in enumerate(batch):
                self._jobs[sha] = (job, place)

    def _start_pool(self) -> bool:
        if self._pool is not None:
            return True
        workers = _workers()
        forking = sys.platform.startswith("linux") and threading.active_count() == 1
        if workers < 2 or self._missing < (POOL_MIN_FORK if forking else POOL_MIN_SPAWN):
            return False
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import PIL.PngImagePlugin  # noqa: F401 - imported once here, not in every forked worker

        from astrocat.site import preview  # noqa: F401 - numpy too

        context = multiprocessing.get_context("fork" if forking else "spawn")
        self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                         initargs=(os.getpid(),))
        return True

    def close(self) -> None:
        """Stop the workers; previews not started are dropped (the build is over or failed)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._jobs.clear()
        self._queue.clear()

    def _render(self, sha: str, frame: dict[str, Any]) -> Any:
        from astrocat.site import preview  # numpy and astropy only when previews are made

        if sha in self._jobs and self._jobs[sha] is None:
            self._send()  # wanted now: send it with whatever else is queued
        job = self._jobs.pop(sha, None)
        if job is not None:
            try:
                status, reason = job[0].result()[job[1]]
                return preview.Thumb(status, self.dir / f"{sha}.png" if status in ("cached", "rendered") else None,
                                     reason)
            except Exception:  # noqa: BLE001 - a worker died (out of memory?): render it here
                self._pool_failed = True
        return preview.ensure_thumbnail(self.dir, sha, self.s.abs(frame["path"]), frame.get("bayer_pattern"))

    def href(self, frame: dict[str, Any], failed: list[str] | None = None) -> str | None:
        """Relative href (from the site root) of a frame's preview, rendering it if needed.

        A frame whose preview cannot be made gets its sha256 appended to `failed`."""
        sha = frame.get("sha256")
        if not self.enabled or not sha:
            return None
        if sha in self.failed:  # known bad content: report it again, never retry it
            self._report(sha, failed)
            return None
        t = self._render(sha, frame)
        if t.status == "cached":
            self.result.thumbs_cached += 1
        elif t.status == "rendered":
            self.result.thumbs_rendered += 1
        else:
            if t.status == "failed":
                self.failed[sha] = t.reason
                self._report(sha, failed)
            return None
        self.used.add(f"{sha}.png")
        return f"thumbs/{sha}.png"

    def reuse(self, meta: dict[str, Any]) -> bool:
        """Account for a kept page's previews; False when one of them has gone from disk."""
        if not self.enabled:
            return True
        hrefs = [h for h in meta.get("thumbs", []) if h]
        if not all((self.out / h).is_file() for h in hrefs):
            return False
        self.used.update(h.rsplit("/", 1)[-1] for h in hrefs)
        self.result.thumbs_cached += len(hrefs)
        for sha in meta.get("failed", []):
            if sha in self.failed:
                self._report(sha)
        return True

    def _report(self, sha: str, failed: list[str] | None = None) -> None:
        if failed is not None:
            failed.append(sha)
        self.failed_used.add(sha)
        reason = self.failed.get(sha)
        if reason and reason not in self.result.thumb_failures:
            self.result.thumb_failures.append(reason)

    def remove_unused(self) -> list[str]:
        """Delete previews no page of this build shows; returns their paths under the site."""
        removed = []
        if self.enabled and self.dir.is_dir():
            for p in sorted(self.dir.iterdir()):
                if _SHA_NAME.match(p.stem) and p.suffix == ".png" and p.name not in self.used:
                    p.unlink()
                    removed.append(f"thumbs/{p.name}")
        return removed

    def failures_to_keep(self) -> dict[str, str]:
        """Failures for the manifest: those of frames no page shows any more are forgotten
        (without previews nothing was looked at, so all are kept)."""
        return {k: v for k, v in sorted(self.failed.items()) if k in self.failed_used or not self.enabled}


def _workers() -> int:
    """One worker process per CPU this process may use; ASTROCAT_THUMB_WORKERS=N overrides it
    (0 or 1: render in this process)."""
    override = os.environ.get("ASTROCAT_THUMB_WORKERS", "").strip()
    if override.isdigit():
        return int(override)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _init_worker(parent_pid: int) -> None:
    """A worker leaves Ctrl-C to the build (which cancels what has not started) and dies
    with it, even when the build is killed: an orphan would wait for work forever."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the build died before the line above
        os._exit(1)
