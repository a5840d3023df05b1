"""Benchmark: `astrocat notes` on 2,500 imaging sessions with nothing changed, whole processes.

A synthetic catalog (frames inserted directly, then the real session and target refresh)
gets its notes written once; 10 % of the notes get hand-written text. Then, interleaved
(benchmarks/harness.py), each a whole process the way a user runs it:

- `astrocat notes` with nothing changed (it must write no file);
- the naive peer: what other note generators do, render every note and rewrite every file
  unconditionally (into a separate folder, since it would eat the user's text), as a
  `python -c` script on the same catalog with astrocat's own renderer;
- `astrocat version`: the start-up both pay.

Then one session changes and `astrocat notes` runs once more.

    python benchmarks/bench_notes.py [--sessions 2500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from harness import astrocat_cmd, fmt, interleave, print_table, process  # noqa: E402

from astrocat import catalog  # noqa: E402
from astrocat.config import load, write_default  # noqa: E402

RIGS = [("ZWO ASI2600MM Pro", "Esprit 100"), ("ZWO ASI533MC Pro", "RedCat 51"), ("QHY268M", "FSQ-106"),
        ("ZWO ASI1600MM Pro", "TS 130 APO"), ("Seestar S50", "Seestar S50")]
FILTERS = ["L", "R", "G", "B", "Ha", "OIII", "SII"]


def build_catalog(base: Path, n_sessions: int, seed: int = 1) -> tuple:
    rng = random.Random(seed)
    settings = load(write_default(base, timezone="UTC"))
    db = catalog.open_catalog(settings.catalog)
    targets = [f"M{i}" for i in range(1, 60)] + [f"NGC {7000 + i}" for i in range(30)]
    frames = []
    night0 = date(2018, 1, 1)
    for i in range(n_sessions):
        night = (night0 + timedelta(days=i // len(RIGS) * 2 + rng.randint(0, 1))).isoformat()
        camera, scope = RIGS[i % len(RIGS)]
        sid = f"{night}_{camera.split()[-2 if camera.endswith('Pro') else -1]}_{scope.replace(' ', '')}"
        sid = f"{sid}_{i}"
        tgt = rng.choice(targets)
        for f in rng.sample(FILTERS, 3):
            for k in range(6):
                frames.append(dict(path=f"library/{night}/{sid}/{f}_{k}.fits", frame_type="light", target=tgt,
                                   filter=f, exposure_s=300.0, night=night, session_id=sid, camera=camera,
                                   telescope=scope, ccd_temp_c=-10.0 + rng.random(), date_obs=f"{night}T21:{k:02d}:00Z"))
        for kind, n, exp in (("dark", 4, 300.0), ("flat", 4, 1.5), ("bias", 4, 0.0)):
            for k in range(n):
                frames.append(dict(path=f"library/{night}/{sid}/{kind}_{k}.fits", frame_type=kind, target=None,
                                   filter="L" if kind == "flat" else None, exposure_s=exp, night=night, session_id=sid,
                                   camera=camera, telescope=scope, ccd_temp_c=-10.0, date_obs=f"{night}T23:{k:02d}:00Z"))
    cols = ["path", "size", "mtime", "frame_type", "target", "filter", "exposure_s", "night", "session_id",
            "camera", "telescope", "ccd_temp_c", "date_obs", "location", "site_lat", "site_lon"]
    with db.conn:
        db.conn.executemany(
            f"INSERT INTO frames ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [[f.get("path"), 1000, 0.0, f["frame_type"], f["target"], f["filter"], f["exposure_s"], f["night"],
              f["session_id"], f["camera"], f["telescope"], f["ccd_temp_c"], f["date_obs"], "library", 50.85, 4.35]
             for f in frames],
        )
        catalog.refresh_derived(db, sha256s=None)
    return settings, db, len(frames)


PEER = """
import sys
from pathlib import Path
from astrocat import catalog
from astrocat.config import load
from astrocat.notes import write as notes
from astrocat.notes.merge import new_note
from astrocat.notes.paths import stem_of
settings = load(Path(sys.argv[1]) / "astrocat.toml")
out = Path(sys.argv[2])
db = catalog.open_catalog(settings.catalog)
recorded = {r["id"]: r for r in db.query("SELECT * FROM notes")}
sessions, targets, procs, plan = notes._plan(db, recorded)
stems = {n.id: stem_of(n.path) for n in plan}
contents = notes._contents(sessions, targets, procs, notes.load_detail(db), stems)
for n in plan:
    c = contents[n.id]
    path = out / n.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new_note(c.frontmatter, c.block), encoding="utf-8")
print(len(plan))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=2500)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "astrocat")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-notes-"))
    try:
        t0 = time.perf_counter()
        settings, db, n_frames = build_catalog(tmp / "lib", args.sessions)
        n_sessions = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        n_targets = db.execute("SELECT COUNT(*) FROM targets").fetchone()[0]
        db.conn.close()
        print(f"catalog: {n_sessions} sessions, {n_targets} targets, {n_frames} frames ({time.perf_counter() - t0:.1f} s to build)")
        lib = settings.base_dir
        first = process(astrocat_cmd("notes", "--json"), cwd=lib)
        print(f"first run (whole process): wrote {json.loads(first.stdout)['written']} notes in {fmt(first.wall)}")
        files = sorted(settings.notes.rglob("*.md"))
        for p in files[:: 10]:  # the user writes in 10 % of the notes
            with open(p, "a", encoding="utf-8") as fh:
                fh.write("\nSeeing 3/5, some wind after midnight. Guiding 0.7\".\n")
        process(astrocat_cmd("notes"), cwd=lib)  # read the new user text back once
        before = {p: p.stat().st_mtime_ns for p in files}

        def ours(r: int) -> float:
            run = process(astrocat_cmd("notes", "--json"), cwd=lib)
            report = json.loads(run.stdout)
            assert report["written"] == 0 and report["unchanged"] == len(files), report
            return run.wall

        def peer(r: int) -> float:
            out = tmp / "peer"
            shutil.rmtree(out, ignore_errors=True)
            run = process([sys.executable, "-c", PEER, str(lib), str(out)])
            assert int(run.stdout) == len(files)
            return run.wall

        stats = interleave({"astrocat notes (nothing changed)": ours,
                            "naive peer: render + rewrite every note": peer,
                            "astrocat version (start-up)": lambda r: process(astrocat_cmd("version")).wall},
                           args.rounds)
        assert {p: p.stat().st_mtime_ns for p in files} == before, "a file was rewritten"
        print(f"\n{len(files):,} notes, {args.rounds} interleaved rounds, whole processes")
        print_table(stats, baseline="naive peer: render + rewrite every note")

        con = catalog.open_catalog(settings.catalog)
        sid = con.execute("SELECT id FROM sessions ORDER BY id LIMIT 1").fetchone()[0]
        with con.conn:
            con.execute("UPDATE frames SET location = 'missing' WHERE session_id = ? AND frame_type = 'dark'", [sid])
            catalog.refresh_derived(con, [sid], sha256s=None)
        con.conn.close()
        run = process(astrocat_cmd("notes", "--json"), cwd=lib)
        report = json.loads(run.stdout)
        print(f"one session changed: wrote {report['written']} note(s) {report['updated']} in {fmt(run.wall)} "
              f"(whole process; {report['elapsed_s']} s in write_notes)")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
