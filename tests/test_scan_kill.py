"""SIGKILL of a real `astrocat scan` (with its worker processes) at seeded random moments:
the whole process group, as a crash or an OOM kill of the job takes it, and the main
process alone. After each kill the catalog verifies clean, or shows only what the next
scan repairs (journal, counted, sessions), and no command finds the catalog busy."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils

from astrocat import catalog
from astrocat.catalog.db import migrate
from astrocat.demo import write_quarantine
from astrocat.features import migrations
from astrocat.ingest.scan import POOL_MIN_FILES

from conftest import ROOT, invoke_cli

SEED = 4242
ROUNDS = {"group": 20, "main": 20}  # 20 random moments each
REPAIRABLE = {"journal", "counted", "sessions"}  # what a scan killed mid-way may leave, and the next scan repairs


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group pgid."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d.name))
    return out


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _frames(library) -> list[Path]:
    q = library.quarantine
    write_quarantine(q)
    # a few byte-identical copies: the counted verdicts of duplicates are part of what a kill can leave half done
    originals = sorted(p for p in q.rglob("*.fits"))[:40]
    for i, p in enumerate(originals):
        dest = q / "copies" / f"{i:02d}_{p.name}"
        dest.parent.mkdir(exist_ok=True)
        shutil.copy2(p, dest)
    return sorted(p for p in q.rglob("*") if p.is_file())


def _scan_env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "ASTROCAT_SCAN_WORKERS": "2"}
    env.pop("ASTROCAT_CONFIG", None)
    return env


def _verify(library) -> dict:
    r = invoke_cli("verify", "database", "--json", cwd=library.base_dir)
    assert r.returncode in (0, 1), (r.returncode, r.stdout, r.stderr)
    report = json.loads(r.stdout)
    assert report["clean"] == (r.returncode == 0)
    return report


@pytest.mark.parametrize("target", [
    "group",
    "main",  # the workers die with it (PR_SET_PDEATHSIG, and a parent check per file)
])
def test_sigkill_of_scan_leaves_a_catalog_the_next_command_uses(library, tmp_path: Path, target: str) -> None:
    files = _frames(library)
    assert len(files) >= 2 * POOL_MIN_FILES  # the scan reads them in worker processes
    rng = random.Random(f"{SEED}-{target}")
    started: list[int] = []
    leftovers: list[str] = []
    mid_pool = kills = 0  # kills, and those that found the worker processes at work
    try:
        for round_no in range(3 * ROUNDS[target]):
            if kills == ROUNDS[target]:
                break
            fresh = round_no % 2 == 0  # an empty catalog (first inserts), else `scan --full`
            if fresh:  # created and migrated here: a kill inside the migrations is the tests below
                for p in library.base_dir.glob("catalog.db*"):
                    p.unlink()
                catalog.open_catalog(library.catalog).conn.close()
            log = tmp_path / f"round{round_no}.txt"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "astrocat", "scan", "--quiet", *([] if fresh else ["--full"])],
                    cwd=library.base_dir, env=_scan_env(), stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(proc.pid)
            t0 = time.monotonic()
            if rng.random() < 0.5:  # a moment after the start (imports, migrations, the walk, the pool)
                time.sleep(rng.uniform(0.1, 0.6))
            else:  # a moment while the workers read
                while not _children(proc.pid) and proc.poll() is None and time.monotonic() - t0 < 10:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is not None:  # finished before the moment came: another moment
                assert proc.returncode == 0, log.read_text()
                continue
            kills += 1
            mid_pool += bool(_children(proc.pid))
            if target == "group":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
            deadline = time.monotonic() + 5
            while _group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            where = f"round {round_no} ({'fresh' if fresh else '--full'}) killed after {time.monotonic() - t0:.2f} s"
            alive = _group_members(proc.pid)
            if alive:  # judged at the end: first, whether the catalog and its lock are usable beside them
                leftovers.append(f"{where}: {len(alive)} processes of the killed scan still run")

            report = _verify(library)
            left = {p["check"] for p in report["problems"]}
            assert left <= REPAIRABLE, f"{where}: {report['problems']}"
            # the next command that takes the catalog lock gets it, and repairs what is left
            r = invoke_cli("scan", "--quiet", cwd=library.base_dir, env={"ASTROCAT_SCAN_WORKERS": "0"})
            assert r.returncode != 3, f"{where}: the next scan found the catalog busy: {r.stdout}{r.stderr}"
            assert r.returncode == 0, f"{where}: {r.returncode} {r.stdout}{r.stderr}"
            report = _verify(library)
            assert report["clean"], f"{where}: {report['problems']}"
            assert report["frames"] == len(files), where
            if alive:
                os.killpg(proc.pid, signal.SIGKILL)
        assert kills == ROUNDS[target], f"only {kills} scans were still running at their moment"
        assert mid_pool >= ROUNDS[target] // 4, f"only {mid_pool} kills hit the workers at work"
        assert leftovers == []
    finally:
        for pgid in started:  # leftover workers of a killed main process
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- a kill while the first scan creates the catalog ---------------------------------
# Each migration commits on its own: a scan killed between two of them leaves a catalog
# with the first k applied (k = 0: the file and its WAL mode, no table yet). Made here
# with the real migrations, as a kill at that moment is a window of milliseconds.


def _partly_migrated(library, k: int) -> None:
    conn = sqlite3.connect(library.catalog)
    conn.execute("PRAGMA journal_mode=WAL")
    if k:
        migrate(sqlite_utils.Database(conn), migrations()[:k])
    conn.close()


# killed after none, one, and all but the last of the migrations (their numbers have gaps:
# a feature's migrations keep the numbers they were given)
FIRST_SCAN_KILLS = [0, 1, len(migrations()) - 1]


@pytest.mark.parametrize("k", FIRST_SCAN_KILLS)
def test_the_next_scan_finishes_a_catalog_whose_creation_was_killed(library, k: int) -> None:
    written = sum(write_quarantine(library.quarantine).values())
    _partly_migrated(library, k)
    r = invoke_cli("scan", "--quiet", cwd=library.base_dir, env={"ASTROCAT_SCAN_WORKERS": "0"})
    assert r.returncode == 0, r.stdout + r.stderr
    report = _verify(library)
    assert report["clean"], report["problems"]
    assert report["frames"] == written == sum(1 for p in library.quarantine.rglob("*") if p.is_file())


@pytest.mark.parametrize("k", FIRST_SCAN_KILLS)
def test_verify_reports_a_catalog_whose_creation_was_killed_as_repairable(library, k: int) -> None:
    _partly_migrated(library, k)
    report = _verify(library)
    # unfinished, not damaged: only the schema check fails, and it says the next scan finishes it
    assert [p["check"] for p in report["problems"]] == ["schema"], report["problems"]
    assert "the next `astrocat scan` completes it" in report["problems"][0]["detail"]
    assert report["checks"]["integrity"] == "ok" and report["checks"]["journal"] == "not run"
