"""Crash safety: a real `astrocat organize` is killed with SIGKILL at 20+ moments.

Quarantine frames are copied across filesystems into the library (copy protocol; with
no tmpfs mount or /dev/shm available, the same protocol forced on one filesystem), then
re-filed inside the library with --relayout (hard-link protocol), while the test kills
the process at injected pause points (ASTROCAT_TEST_PAUSE_AT) and at random times. After
every kill the next run repairs, and the test checks: each original sha256 exists exactly
once in library + quarantine, every catalog path exists with its sha256, no temporary
file remains, no journal row is left unfinished, and a scan finds nothing new or missing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from astrocat import catalog
from astrocat.config import load
from astrocat.library import recover
from astrocat.lock import catalog_lock
from astrocat.ingest.scan import scan
from conftest import ROOT, run_cli, set_settle
from organize_util import all_files, other_filesystem, set_paths, set_pattern, sha256, write_frames

N_FILES = 240
PATTERN_A = "{year}/{night}_{target}/{frame_type}/{target}_{filter}_{exposure}_{seq}"
PATTERN_B = "{target}/{filter}/{night}/{frame_type}_{seq}"


EXTRA_ENV: dict[str, str] = {}  # ASTROCAT_TEST_FORCE_COPY when there is no second filesystem


def _start(cwd: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **EXTRA_ENV, **env}
    full.pop("ASTROCAT_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "astrocat", *args], cwd=cwd, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_at_pause(cwd: Path, args: list[str], step: str, n: int, pause_file: Path) -> bool:
    """Run until the n-th `step`, then SIGKILL. False when the run ended before that."""
    pause_file.unlink(missing_ok=True)
    proc = _start(cwd, args, {"ASTROCAT_TEST_PAUSE_AT": f"{step}:{n}", "ASTROCAT_TEST_PAUSE_FILE": str(pause_file)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pause_file.exists():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            assert proc.returncode in (0, 1), err
            return False
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"organize did not reach {step}:{n} in 30 s")


def _kill_at_random(cwd: Path, args: list[str], rng: random.Random, step_delay: float = 0.002) -> bool:
    proc = _start(cwd, args, {"ASTROCAT_TEST_STEP_DELAY": str(step_delay)})
    time.sleep(rng.uniform(0.45, 1.4))  # interpreter start-up is ~0.5 s
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _check(base: Path, quarantine: Path, library: Path, originals: set[str], via_cli: bool) -> None:
    """The invariants, after a repairing scan (the real CLI, or the same code in-process)."""
    if via_cli:
        r = run_cli("scan", "--json", "-q", cwd=base)
        assert r.returncode == 0, r.stdout + r.stderr
        summary = json.loads(r.stdout)
    else:
        settings = load(base / "astrocat.toml")
        db = catalog.open_catalog(settings.catalog)
        try:
            with catalog_lock(settings.catalog, "test"):
                recover(db, settings)
                summary = scan(db, settings).as_dict()
        finally:
            db.conn.close()
    assert summary["new"] == 0 and summary["missing"] == 0, summary
    files = all_files(quarantine, library)
    leftovers = [f for f in files if f.name.startswith(".astrocat-tmp")]
    assert not leftovers, f"temporary files remain: {leftovers}"
    counts = Counter(sha256(f) for f in files)
    for sha in originals:
        assert counts[sha] == 1, f"content {sha[:12]} exists {counts[sha]} times"
    assert set(counts) == originals, "a file with unknown content appeared"
    con = sqlite3.connect(base / "catalog.db")
    try:
        rows = con.execute("SELECT path, sha256, location FROM frames").fetchall()
        pending = con.execute("SELECT COUNT(*) FROM moves WHERE state IN ('planned', 'filed')").fetchone()[0]
    finally:
        con.close()
    assert pending == 0
    assert len(rows) == len(originals)
    for path, sha, location in rows:
        assert location != "missing", path
        full = Path(path) if Path(path).is_absolute() else base / path
        assert full.is_file(), f"catalog path {path} does not exist"
        assert sha256(full) == sha, f"catalog path {path} has other content"


@pytest.mark.slow
def test_sigkill_at_any_moment_never_loses_or_duplicates_a_frame(tmp_path: Path) -> None:
    rng = random.Random(20241101)
    EXTRA_ENV.clear()
    with other_filesystem(tmp_path) as other:
        base = tmp_path / "lib"
        r = run_cli("init", str(base), "--timezone", "UTC")
        assert r.returncode == 0, r.stderr
        if other is None:
            # no tmpfs mount (not root) and no /dev/shm: the copy protocol on one filesystem
            other = tmp_path / "samefs"
            other.mkdir()
            EXTRA_ENV["ASTROCAT_TEST_FORCE_COPY"] = "1"
        library = other / "library"
        library.mkdir()
        set_paths(base / "astrocat.toml", library=str(library))
        set_settle(base / "astrocat.toml", 0)  # frames are written just before each scan
        quarantine = base / "quarantine"
        originals = set(write_frames(quarantine / "NINA" / "2024-11-01", N_FILES // 2).values())
        originals |= set(write_frames(quarantine / "ASIAIR" / "Light", N_FILES // 2, start=1000, FILTER="Ha").values())
        assert len(originals) == N_FILES
        assert EXTRA_ENV or os.stat(quarantine).st_dev != os.stat(library).st_dev
        r = run_cli("scan", "-q", cwd=base)
        assert r.returncode == 0, r.stderr
        pause = tmp_path / "paused"
        kills = 0

        # Phase A: quarantine -> library across filesystems (copy, fsync, verify, link).
        # Per-file steps move a few frames before the kill; batch steps up to a batch.
        steps_a = ["copied", "verified", "placed", "source_removed", "journaled", "copied",
                   "filed", "verified", "placed", "done", "source_removed"]
        for k, step in enumerate(steps_a):
            n = 1 if step in ("journaled", "filed", "done") else rng.randint(1, 12)
            kills += _kill_at_pause(base, ["organize", "-q"], step, n, pause)
            if k % 2 == 1:  # otherwise the next organize repairs first, and is killed again
                _check(base, quarantine, library, originals, via_cli=k % 6 == 1)
        r = run_cli("organize", "-q", cwd=base, env=EXTRA_ENV)
        assert r.returncode == 0, r.stdout + r.stderr
        _check(base, quarantine, library, originals, via_cli=True)
        assert not all_files(quarantine), "everything is filed after a clean run"
        assert kills >= 10, f"only {kills} kills landed in phase A"

        # Phase A2: a new night arrives; kills at random moments, while copies run three at
        # a time and sources are removed in the background (each step slowed more).
        originals |= set(write_frames(quarantine / "NINA" / "2024-11-02", N_FILES // 2, start=2000,
                                      FILTER="OIII").values())
        assert run_cli("scan", "-q", cwd=base).returncode == 0
        kills_a2 = 0
        for k in range(3):
            kills_a2 += _kill_at_random(base, ["organize", "-q"], rng, step_delay=0.01)
            _check(base, quarantine, library, originals, via_cli=k == 0)
        assert kills_a2 >= 2, f"only {kills_a2} random kills landed in phase A2"
        kills += kills_a2
        r = run_cli("organize", "-q", cwd=base, env=EXTRA_ENV)
        assert r.returncode == 0, r.stdout + r.stderr
        _check(base, quarantine, library, originals, via_cli=True)
        assert not all_files(quarantine)
        EXTRA_ENV.clear()  # phase B stays inside the library: hard links

        # Phase B: --relayout inside the library (hard link + unlink), at pause points and
        # at random times; the pattern flips whenever a run got to finish.
        steps_b = ["linked", "source_removed", "journaled", "filed", "done", "linked"]
        pattern = PATTERN_B
        kills_b = 0
        for k in range(30):
            if kills_b >= 11:
                break
            set_pattern(base / "astrocat.toml", pattern)
            if k % 2 == 0:
                step = steps_b[(k // 2) % len(steps_b)]
                n = 1 if step in ("journaled", "filed", "done") else rng.randint(1, 40)
                killed = _kill_at_pause(base, ["organize", "--relayout", "-q"], step, n, pause)
            else:
                killed = _kill_at_random(base, ["organize", "--relayout", "-q"], rng)
            kills_b += killed
            _check(base, quarantine, library, originals, via_cli=k % 5 == 0)
            if not killed:
                pattern = PATTERN_A if pattern == PATTERN_B else PATTERN_B
        kills += kills_b

        r = run_cli("organize", "--relayout", "-q", cwd=base)
        assert r.returncode == 0, r.stdout + r.stderr
        _check(base, quarantine, library, originals, via_cli=True)
        r = run_cli("organize", "--relayout", "--dry-run", "--json", cwd=base)
        assert json.loads(r.stdout)["plan"] == [], "a finished relayout leaves nothing to do"
        assert kills >= 20, f"only {kills} kills landed"
