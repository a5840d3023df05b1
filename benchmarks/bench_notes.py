"""Benchmark: regenerate the notes of 2,500 imaging sessions with nothing changed.

A synthetic catalog (frames inserted directly, then the real session and target
refresh) gets its notes written once; 10 % of the notes get hand-written text.
Then `write_notes` runs again with nothing changed: it must write no file. The
peer is what other generators do: render every note and rewrite every file
unconditionally (into a separate folder here, since it would eat the user's
text). Both run in the same process on the same catalog.

    python benchmarks/bench_notes.py [--sessions 2500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astrocat import catalog
from astrocat.notes import write as notes  # noqa: E402  (write_notes and its planning steps)
from astrocat.notes.merge import new_note  # noqa: E402
from astrocat.notes.paths import stem_of  # noqa: E402
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


def naive_peer(db, settings, folder: Path) -> tuple[float, int]:
    """Render every note and rewrite every file, as generators that drop user text do."""
    t0 = time.perf_counter()
    recorded = {r["id"]: r for r in db.query("SELECT * FROM notes")}
    sessions, targets, procs, plan = notes._plan(db, recorded)
    stems = {n.id: stem_of(n.path) for n in plan}
    contents = notes._contents(sessions, targets, procs, notes.load_detail(db), stems)
    for n in plan:
        c = contents[n.id]
        path = folder / n.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new_note(c.frontmatter, c.block), encoding="utf-8")
    return time.perf_counter() - t0, len(plan)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=2500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-notes-"))
    try:
        t0 = time.perf_counter()
        settings, db, n_frames = build_catalog(tmp / "lib", args.sessions)
        n_sessions = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        n_targets = db.execute("SELECT COUNT(*) FROM targets").fetchone()[0]
        print(f"catalog: {n_sessions} sessions, {n_targets} targets, {n_frames} frames ({time.perf_counter() - t0:.1f} s to build)")

        first = notes.write_notes(db, settings)
        print(f"first run: wrote {first.written} notes in {first.elapsed_s:.3f} s")
        files = sorted(settings.notes.rglob("*.md"))
        for p in files[:: 10]:  # the user writes in 10 % of the notes
            with open(p, "a", encoding="utf-8") as fh:
                fh.write("\nSeeing 3/5, some wind after midnight. Guiding 0.7\".\n")
        notes.write_notes(db, settings)  # read the new user text back once

        before = {p: p.stat().st_mtime_ns for p in files}
        ours, written = [], []
        for _ in range(args.repeat):
            r = notes.write_notes(db, settings)
            ours.append(r.elapsed_s)
            written.append(r.written)
        assert {p: p.stat().st_mtime_ns for p in files} == before, "a file was rewritten"
        peer = []
        for i in range(args.repeat):
            secs, count = naive_peer(db, settings, tmp / f"peer{i}")
            peer.append(secs)
        o, p = statistics.median(ours), statistics.median(peer)
        print(f"unchanged regeneration (astrocat notes): {o:.3f} s median of {args.repeat}, "
              f"files written {max(written)}, notes {len(files)}")
        print(f"naive peer (render + rewrite every file): {p:.3f} s median of {args.repeat}, files written {count}")
        print(f"ratio peer / astrocat: {p / o:.2f}x")

        sid = db.execute("SELECT id FROM sessions ORDER BY id LIMIT 1").fetchone()[0]
        with db.conn:
            db.execute("UPDATE frames SET location = 'missing' WHERE session_id = ? AND frame_type = 'dark'", [sid])
            catalog.refresh_derived(db, [sid], sha256s=None)
        r = notes.write_notes(db, settings)
        print(f"one session changed: wrote {r.written} note(s) {r.updated} in {r.elapsed_s:.3f} s")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
