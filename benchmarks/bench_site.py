"""Benchmark `astrocat build` on a synthetic catalog (default 100,000 frames in 2,500 sessions).

Rows go straight into the catalog with `catalog.upsert_frames` (no FITS files, so
thumbnails are off). Each build runs as a real `python -m astrocat build` process;
its peak memory is the child's ru_maxrss from wait4.

Peer, in the same run: the floor cost of reading the same frames out of SQLite and
writing them once as a single JSON file (what any static export must at least do).

    python benchmarks/bench_site.py                 # 100,000 frames, 2,500 sessions
    python benchmarks/bench_site.py --frames 20000 --sessions 500

With `--thumbnails N`: the first `astrocat build` WITH thumbnails of a library of N real
small FITS frames (written by `bench_scan.generate`, cataloged by `astrocat scan`), this
tree against an older one (`--old-ref`, default the merge-base with main, unpacked with
`git archive`) and against this tree without thumbnails, interleaved, each a whole process
(harness.process), the catalog restored and site/ and notes/ removed before every run:

    python benchmarks/bench_site.py --thumbnails 5000               # ~3 minutes
    python benchmarks/bench_site.py --thumbnails 100000 --rounds 1  # the issue's size
    python benchmarks/bench_site.py --thumbnails 100000 --work /tmp/t100k  # frames kept for the next run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import harness  # noqa: E402
from astrocat import catalog  # noqa: E402
from astrocat.config import load, write_default  # noqa: E402
from astrocat.rules.sessions import session_id  # noqa: E402

RIGS = [("ZWO ASI2600MM Pro", "Esprit 100", 550.0), ("ZWO ASI294MC Pro", "RedCat 51", 250.0),
        ("QHY268M", "Celestron EdgeHD 8", 2032.0), ("ZWO ASI533MC Pro", "Askar FRA400", 400.0),
        ("ZWO ASI1600MM Pro", "TS Optics 80/480", 480.0)]
MONO_FILTERS = ["L", "R", "G", "B", "Ha", "OIII", "SII"]


def make_catalog(lib: Path, n_frames: int, n_sessions: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    settings = load(write_default(lib, timezone="UTC"))
    db = catalog.open_catalog(settings.catalog)
    targets = [(f"NGC {1000 + i}" if i % 3 else f"M{i // 3 + 1}", rng.uniform(0, 360), rng.uniform(-40, 85))
               for i in range(300)]
    per = n_frames // n_sessions
    start = date(2018, 1, 1)
    nights = sorted(rng.sample(range(0, 7 * 365), n_sessions))
    batch: list[dict] = []
    fid = 0
    for s_index, day in enumerate(nights):
        night = (start + timedelta(days=day)).isoformat()
        camera, scope, focal = RIGS[s_index % len(RIGS)]
        mono = "MM" in camera or "QHY268M" in camera
        sid = session_id(night, camera, scope, focal)
        tgts = rng.sample(targets, rng.choice([1, 1, 2]))
        filters = rng.sample(MONO_FILTERS, 3) if mono else [None]
        n_cal = max(2, per // 5)
        kinds = ["light"] * (per - 2 * n_cal) + ["dark"] * n_cal + ["flat"] * n_cal
        t0 = datetime.fromisoformat(night).replace(hour=20, tzinfo=timezone.utc)
        for i, kind in enumerate(kinds):
            fid += 1
            tgt = tgts[i % len(tgts)] if kind == "light" else None
            flt = filters[i % len(filters)] if kind in ("light", "flat") else None
            exp = 300.0 if kind in ("light", "dark") else 2.0
            when = t0 + timedelta(seconds=i * (exp + 5))
            name = f"{(tgt[0] if tgt else kind).replace(' ', '')}_{flt or 'NoFilter'}_{exp:g}s_{i:04d}.fits"
            path = f"library/{night[:4]}/{night}_{(tgt[0] if tgt else 'Calibration').replace(' ', '_')}/{kind.capitalize()}/{name}"
            batch.append({
                "path": path, "size": 52_000_000, "mtime": when.timestamp(),
                "sha256": hashlib.sha256(path.encode()).hexdigest(), "frame_type": kind, "is_master": False,
                "object": tgt[0] if tgt else None, "target": tgt[0] if tgt else None, "filter": flt,
                "exposure_s": exp, "date_obs": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "night": night,
                "session_id": sid, "camera": camera, "telescope": scope, "focal_length_mm": focal,
                "gain": 100.0, "offset": 50.0, "ccd_temp_c": round(-10 + rng.gauss(0, 0.1), 2), "set_temp_c": -10.0,
                "binning": "1x1", "width": 6248, "height": 4176, "bayer_pattern": None if mono else "RGGB",
                "ra_deg": tgt[1] if tgt else None, "dec_deg": tgt[2] if tgt else None, "site_lat": 50.85,
                "site_lon": 4.35, "software": "N.I.N.A. 3.1", "location": "library", "problems": [],
                "scanned_at": "2025-01-01T00:00:00Z", "header_json": json.dumps({"OBJECT": tgt[0] if tgt else None}),
            })
            if len(batch) >= 5000:
                catalog.upsert_frames(db, batch)
                batch = []
    catalog.upsert_frames(db, batch)
    db.conn.commit()
    catalog.refresh_derived(db, sha256s=None)
    db.conn.commit()
    db.conn.close()
    return lib


# Runs the CLI and reports the process's own peak RSS (VmHWM is per address space, so it
# starts afresh at exec; ru_maxrss from wait4 would include the benchmark's own pages at fork).
_WRAPPER = """
import sys
sys.argv = ["astrocat", *sys.argv[1:]]
try:
    from astrocat.cli import main
    main()
finally:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    sys.stderr.write(f"\\nVmHWM_KB={hwm}\\n")
"""


def timed_cli(lib: Path, *args: str) -> tuple[float, float, dict]:
    """(seconds, peak RSS MB, --json summary) of one `astrocat build` process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, "build", "--json", "--quiet", *args], cwd=lib, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.rsplit("VmHWM_KB=", 1)[1].split()[0])
    return elapsed, peak_kb / 1024.0, json.loads(proc.stdout)


def peer_export(lib: Path) -> float:
    """Read every frame (typed columns) and write them once as a single JSON file."""
    import sqlite3

    t = time.perf_counter()
    db = sqlite3.connect(lib / "catalog.db")
    cols = [c for c in catalog.FRAME_FIELDS]
    cur = db.execute(f"SELECT {', '.join(repr(c).replace(chr(39), chr(34)) for c in cols)} FROM frames ORDER BY session_id, date_obs")
    with open(lib / "peer.json", "w") as f:
        json.dump([dict(zip(cols, r)) for r in cur], f)
    return time.perf_counter() - t


def touch_one_session(lib: Path) -> str:
    """Change one session: one of its light frames gets a new exposure."""
    settings = load(lib / "astrocat.toml")
    db = catalog.open_catalog(settings.catalog)
    sid, fid = db.execute("SELECT session_id, id FROM frames WHERE frame_type='light' ORDER BY id LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM frames WHERE frame_type='light')").fetchone()
    db.execute("UPDATE frames SET exposure_s = exposure_s + 1 WHERE id = ?", [fid])
    catalog.refresh_derived(db, [sid], sha256s=None)
    db.conn.commit()
    db.conn.close()
    return sid


def _tree_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200"}


def _old_tree(ref: str | None, dest: Path) -> tuple[Path, str]:
    """The astrocat source at `ref` (default: the merge-base with main) unpacked into dest."""
    git = ["git", "-C", str(ROOT)]
    if not ref:
        ref = subprocess.run([*git, "merge-base", "HEAD", "main"], capture_output=True, text=True,
                             check=True).stdout.strip()
    rev = subprocess.run([*git, "rev-parse", "--short", ref], capture_output=True, text=True, check=True).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.run([*git, "archive", "--format=tar", rev, "astrocat"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest, rev


def thumbnails_main(a: argparse.Namespace, work: Path) -> None:
    """The first build with thumbnails: this tree vs an older one vs this tree without thumbnails."""
    import compileall
    import sqlite3

    from bench_scan import generate

    lib = work / "lib"
    pristine = work / "catalog.pristine.db"
    if pristine.exists():  # --work of an earlier run (with --keep): its frames and catalog again
        with sqlite3.connect(pristine) as con:
            n = con.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
        print(f"reusing {n:,} frames and their catalog in {work}")
    else:
        harness.process(harness.astrocat_cmd("init", str(lib), "--timezone", "UTC"))
        t = time.perf_counter()
        n = generate(lib / "quarantine", a.thumbnails)
        gen_s = time.perf_counter() - t
        scan = harness.process(harness.astrocat_cmd("scan", "--json"), cwd=lib)
        with sqlite3.connect(lib / "catalog.db") as src, sqlite3.connect(pristine) as dst:
            src.backup(dst)
        print(f"{n:,} frames generated in {gen_s:.0f} s, {json.loads(scan.stdout).get('new', 0):,} cataloged by "
              f"scan in {scan.wall:.1f} s")
    shutil.rmtree(work / "old", ignore_errors=True)
    old, rev = _old_tree(a.old_ref, work / "old")
    # every contender reads the frames from the page cache (it cannot be dropped without
    # privileges, so it is filled): otherwise the first run alone pays for the disk
    warm = sum(len(p.read_bytes()) for p in (lib / "quarantine").rglob("*") if p.is_file())
    print(f"page cache warmed: {warm / 1e6:,.0f} MB of frames read")
    for tree in (ROOT / "astrocat", old / "astrocat"):  # both byte-compiled, as pip leaves an install
        compileall.compile_dir(str(tree), quiet=1)
    print(f"old tree: {rev}; {harness.load()}")

    runs: dict[str, list[harness.Run]] = {}
    rendered: dict[str, list[int]] = {}

    def first_build(name: str, tree: Path, *flags: str) -> Callable[[int], float]:
        def go(_round: int) -> float:
            for d in ("site", "notes"):
                shutil.rmtree(lib / d, ignore_errors=True)
            for suffix in ("", "-wal", "-shm"):
                (lib / f"catalog.db{suffix}").unlink(missing_ok=True)
            shutil.copyfile(pristine, lib / "catalog.db")
            # the peak from GNU time: wait4's ru_maxrss would also count this benchmark's pages
            peak = work / "peak.txt"
            run = harness.process(["/usr/bin/time", "-f", "%M", "-o", str(peak), sys.executable, "-m", "astrocat",
                                   "build", "--json", "--quiet", *flags], cwd=lib, environ=_tree_env(tree), check=False)
            if run.returncode not in (0, 1):  # 1: some previews could not be made (listed)
                raise SystemExit(f"{name}: build exited {run.returncode}: {run.stderr[-1000:]}")
            run.peak_mb = int(peak.read_text().split()[-1]) / 1024
            runs.setdefault(name, []).append(run)
            rendered.setdefault(name, []).append(json.loads(run.stdout).get("thumbnails_rendered", 0))
            return run.wall
        return go

    contenders = {"new": first_build("new", ROOT), f"old ({rev})": first_build(f"old ({rev})", old),
                  "new, --no-thumbnails": first_build("new, --no-thumbnails", ROOT, "--no-thumbnails")}
    stats = harness.interleave(contenders, rounds=a.rounds, warmup=False)
    harness.print_table(stats, baseline=f"old ({rev})",
                        title=f"first `astrocat build` of {n:,} frames, median of {a.rounds} interleaved rounds:")
    bare = stats["new, --no-thumbnails"].median
    for name, s in stats.items():
        cpu = statistics.median(r.cpu for r in runs[name])
        peak = max(r.peak_mb for r in runs[name])
        made = max(rendered[name])
        line = f"  {name:<22} CPU {cpu:6.1f} s  peak {peak:5.0f} MB  {made:,} thumbnails rendered"
        if made:
            line += (f"  {made / s.median:,.0f}/s of the whole build, {made / max(1e-9, s.median - bare):,.0f}/s "
                     f"of the time thumbnails add")
        print(line)
    if len(set(max(v) for k, v in rendered.items() if "no-thumb" not in k)) != 1:
        raise SystemExit(f"the trees rendered different numbers of thumbnails: {rendered}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--sessions", type=int, default=2_500)
    ap.add_argument("--keep", action="store_true", help="keep the synthetic library")
    ap.add_argument("--thumbnails", type=int, default=0, metavar="N",
                    help="instead: the first build with thumbnails of N generated FITS frames, new vs old")
    ap.add_argument("--old-ref", default=None, help="with --thumbnails: the git revision to compare with")
    ap.add_argument("--rounds", type=int, default=3, help="with --thumbnails: interleaved rounds")
    ap.add_argument("--work", type=Path, default=None,
                    help="with --thumbnails: work folder, kept; a later run with the same folder reuses its frames")
    a = ap.parse_args()
    if a.thumbnails:
        work = a.work or Path(tempfile.mkdtemp(prefix="bench-thumbs-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            thumbnails_main(a, work)
        finally:
            if a.keep or a.work:  # a folder the user named is never deleted
                print(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-site-"))
    try:
        t = time.perf_counter()
        lib = make_catalog(work / "lib", a.frames, a.sessions)
        print(f"synthetic catalog: {a.frames:,} frames in {a.sessions:,} sessions, made in {time.perf_counter() - t:.1f} s")
        full_s, full_mb, full = timed_cli(lib, "--no-thumbnails")
        again_s, again_mb, again = timed_cli(lib, "--no-thumbnails")
        full2_s, _, _ = timed_cli(lib, "--no-thumbnails", "--full")
        again2_s, _, again2 = timed_cli(lib, "--no-thumbnails")
        again_s = min(again_s, again2_s)  # the better of two, as timeit does; both wrote nothing
        assert again2["written"] == 0
        sid = touch_one_session(lib)
        one_s, one_mb, one = timed_cli(lib, "--no-thumbnails")
        peer_s = peer_export(lib)
        site_mb = sum(p.stat().st_size for p in (lib / "site").rglob("*") if p.is_file()) / 1e6
        data_mb = sum(p.stat().st_size for p in (lib / "site" / "data").glob("*.js")) / 1e6
        print(f"full build:            {full_s:6.2f} s  peak {full_mb:5.0f} MB  {full['files']:,} files written "
              f"({site_mb:.1f} MB; explorer index {data_mb:.1f} MB in {len(list((lib / 'site' / 'data').glob('files-*.js'))) - 1} chunks)")
        print(f"--full re-render:      {full2_s:6.2f} s  (every page rendered again, none written)")
        print(f"no-change rebuild:     {again_s:6.2f} s  peak {again_mb:5.0f} MB  {again['written']} files written")
        print(f"one session changed:   {one_s:6.2f} s  peak {one_mb:5.0f} MB  {one['written']} files written: "
              f"{', '.join(sorted(one['written_files']))}")
        print(f"peer (SELECT frames -> one JSON file): {peer_s:.2f} s")
        print(f"ratios: full build / peer = {full_s / peer_s:.1f}x; no-change rebuild / full build = {again_s / full_s:.3f}")
        ok = full_s < 60 and again_s < 3 and max(full_mb, again_mb, one_mb) < 500 and again["written"] == 0
        print("targets (full < 60 s, no-change < 3 s, peak < 500 MB, no-change writes nothing):", "met" if ok else "NOT met")
        assert sid.replace(":", "") in " ".join(one["written_files"])
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
