"""Calibration matching on a 100,000-frame catalog: 1,000 light groups, 20,000 calibration frames.

Synthesises frame rows straight into a fresh catalog (all migrations), shaped like a few
years of one observatory: 250 nights of lights (4 filters a night, 80,000 lights in 1,000
light groups), flats every night for every filter, a dark library every fifth night
(3 exposures x 2 temperatures x 2 gains), bias and dark-flats; temperatures jitter by 0.1 C
as a regulated cooler's do.

Times what a user waits for, each the median of --repeat rounds:

- `calibration gaps` (load every light and calibration frame, group, match every group);
- `processing create --dry-run` for one target (its lights only);
- the matcher alone on the loaded frames, and the peer: the same rules judged for every
  (group, candidate) pair without the index (the obvious loop), on a tenth of the groups.

Usage: python benchmarks/bench_calibration.py [--repeat 3] [--db PATH]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from astrocat import catalog  # noqa: E402
from astrocat.config import load, write_default  # noqa: E402
from astrocat.catalog import matching as pload  # noqa: E402
from astrocat.processing import gaps, sessions  # noqa: E402
from astrocat.rules import matching  # noqa: E402

CAM, SCOPE = "ZWO ASI2600MM Pro", "Esprit 100"
TARGETS = ("M31", "M33", "NGC 7000", "IC 1805", "M42")


def rows():
    nights = [f"202{3 + n // 125}-{1 + (n % 125) // 12:02d}-{1 + n % 12 * 2:02d}" for n in range(250)]
    i = 0
    for n, night in enumerate(nights):
        gain = 100.0 if n % 2 else 0.0
        base = {"camera": CAM, "binning": "1x1", "width": 6248, "height": 4176, "offset": 50.0,
                "readout_mode": "Low Noise", "night": night, "location": "library", "session_id": f"{night}_{CAM}"}

        def row(kind: str, **kw):
            nonlocal i
            i += 1
            return {**base, "path": f"library/{night}/{kind}_{i:07d}.fits", "size": 1, "mtime": 0.0,
                    "sha256": f"{i:064x}", "frame_type": kind, "is_master": 0, **kw}

        for filt in ("Ha", "OIII", "SII", "L"):
            for k in range(80):
                yield row("light", target=TARGETS[n % 5], filter=filt, exposure_s=300.0, gain=gain, telescope=SCOPE,
                          ccd_temp_c=-10.0 + (k % 3 - 1) / 10, set_temp_c=-10.0, rotator_deg=0.5)
            for _ in range(10):
                yield row("flat", filter=filt, exposure_s=2.5, gain=gain, telescope=SCOPE, rotator_deg=0.5)
        if n % 5 == 0:
            for exposure in (60.0, 120.0, 300.0):
                for temp in (-10.0, -5.0):
                    for g in (0.0, 100.0):
                        for k in range(10):
                            yield row("dark", exposure_s=exposure, gain=g, ccd_temp_c=temp + (k % 3 - 1) / 10)
            for g in (0.0, 100.0):
                for _ in range(25):
                    yield row("bias", exposure_s=0.0, gain=g)
        for _ in range(6):
            yield row("darkflat", exposure_s=2.5, gain=gain)


def naive(groups, cal, settings):
    """The peer: every candidate of the kind judged against every group, no index."""
    rules = {k: matching.rules_for(k, settings) for k in matching.KINDS}
    n = 0
    for g in groups:
        for kind in ("dark", "flat", "bias"):
            for f in cal:
                if f.frame_type == kind:
                    [matching.judge(r, f, g) for r in rules[kind]]
                    n += 1
    return n


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    folder = args.db or Path(tempfile.mkdtemp(prefix="bench-cal-"))
    cfg = folder / "astrocat.toml"
    if not cfg.exists():
        write_default(folder, timezone="UTC")
    s = load(cfg)
    db = catalog.open_catalog(s.catalog)
    if not db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]:
        t = time.perf_counter()
        batch = []
        with db.conn:
            for r in rows():
                batch.append(r)
                if len(batch) == 2000:
                    catalog.upsert_frames(db, batch)
                    batch = []
            catalog.upsert_frames(db, batch)
            catalog.refresh_derived(db, (), None)
        print(f"built the catalog in {time.perf_counter() - t:.1f} s")
    total = db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
    cal_n = db.execute("SELECT COUNT(*) FROM frames WHERE frame_type != 'light'").fetchone()[0]
    lights = pload.lights(db)
    cal = pload.calibration(db, {CAM})
    groups = matching.group_lights(lights)
    print(f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}; "
          f"{total} frames, {len(groups)} light groups, {cal_n} calibration frames")

    t_gaps = median_time(lambda: gaps.gaps(db, s), args.repeat)
    t_create = median_time(lambda: sessions.plan(db, s, target="M31"), args.repeat)
    t_match = median_time(lambda: matching.match_all(lights, cal, s.calibration), args.repeat)
    t_load = median_time(lambda: (pload.lights(db), pload.calibration(db, {CAM})), args.repeat)
    tenth = groups[: len(groups) // 10]
    t_naive = median_time(lambda: naive(tenth, cal, s.calibration), 1) * 10
    print(f"calibration gaps (load + match, every group): {t_gaps:6.2f} s")
    print(f"processing create --dry-run (one target)     : {t_create:6.2f} s")
    print(f"  of which loading every frame               : {t_load:6.2f} s")
    print(f"matcher alone, {len(groups)} groups                  : {t_match:6.2f} s")
    print(f"peer: every pair judged, no index (x10 of 1/10): {t_naive:6.1f} s  "
          f"({t_naive / t_match:.0f}x the matcher)")
    db.conn.close()


if __name__ == "__main__":
    main()
