"""Datasette on a big catalog: "integration by target and filter" over 1,000,000 frames.

Synthesises N frame rows straight into a fresh catalog (all migrations, so the search
triggers and indexes are live while loading), with a realistic spread: ~200 targets of
very unequal popularity, 10 filters, 5 cameras on 6 telescopes, 8 years of nights, ~75 %
lights and the rest darks, flats, biases and dark-flats, a small header JSON per row.

Then times the `integration_by_target_filter` canned query from astrocat/datasette/metadata.yml:

- through sqlite3 directly (the query as written: the planner picks the covering index);
- through Datasette's own ASGI client (`/catalog/integration_by_target_filter.json`),
  i.e. what a browser waits for, minus the network;
- the same query with `:target` set (one target);
- peers in the same run: the same SQL with the covering index unavailable (`NOT INDEXED`
  on frames: a full table scan), and a naive Python aggregation over every light row.

It also times Datasette's `frames` table page with the metadata's seven facets and the
search box (`_search=M31`), which users hit first.

Each figure is the median of --repeat interleaved rounds after one warm-up round.

Usage: python benchmarks/bench_datasette_query.py [--frames 1000000] [--db PATH] [--repeat 5]
(`--db` keeps the synthetic catalog there and reuses it on the next run.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from astrocat import catalog  # noqa: E402
from astrocat.datasette import app as datasette_app  # noqa: E402

QUERY = "integration_by_target_filter"
FILTERS = ["L", "R", "G", "B", "Ha", "OIII", "SII", "L-eXtreme", "UV/IR", "LP"]
CAMERAS = ["ZWO ASI2600MM Pro", "ZWO ASI294MC Pro", "QHY268M", "ZWO ASI533MC Pro", "Atik 460EX"]
TELESCOPES = ["Esprit 100", "RedCat 51", "Celestron EdgeHD 8", "Takahashi FSQ-106", "SkyWatcher 200P", "Seestar S50"]
TYPES = [("light", 75), ("flat", 10), ("dark", 8), ("bias", 4), ("darkflat", 3)]


def targets(n: int = 200) -> list[str]:
    names = [f"M{i}" for i in range(1, 111)] + [f"NGC {i}" for i in (7000, 6960, 6992, 281, 2244, 7635, 1499, 6888, 2024)]
    names += [f"IC {i}" for i in (1805, 1848, 434, 1396, 5070, 2177)] + [f"Sh2-{i}" for i in range(100, 175)]
    return names[:n]


def synth_rows(n: int, seed: int = 1):
    """Frame rows as upsert_frames expects them."""
    rng = random.Random(seed)
    tnames = targets()
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(tnames))]  # a few favourites, a long tail
    types = [t for t, _ in TYPES]
    type_w = [w for _, w in TYPES]
    first = date(2018, 1, 1)
    rigs = [(c, t) for c in CAMERAS for t in TELESCOPES][:12]
    session = None
    left = 0
    for i in range(n):
        if left == 0:  # a new night's run of frames on one target with one rig
            night = (first + timedelta(days=rng.randrange(8 * 365))).isoformat()
            camera, telescope = rng.choice(rigs)
            target = rng.choices(tnames, weights)[0]
            session = f"{night}_{camera.split()[-1]}_{telescope.split()[0]}"
            left = rng.randint(50, 400)
        left -= 1
        ftype = rng.choices(types, type_w)[0]
        flt = rng.choice(FILTERS) if ftype in ("light", "flat") else None
        exp = {"light": rng.choice((60.0, 120.0, 180.0, 300.0, 600.0)), "flat": 1.5, "dark": 300.0,
               "bias": 0.0, "darkflat": 1.5}[ftype]
        tgt = target if ftype == "light" else None
        hh = 18 + (i % 10)
        date_obs = f"{night}T{hh % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"
        path = f"library/{night[:4]}/{night}_{(tgt or 'calibration').replace(' ', '')}/{ftype}/{tgt or ftype}_{flt or 'none'}_{exp:g}s_{i:07d}.fits"
        yield {
            "path": path, "size": 32_000_000 + (i % 1000), "mtime": 1.7e9 + i, "sha256": f"{i:064x}",
            "frame_type": ftype, "is_master": False, "object": tgt, "target": tgt, "panel": None,
            "filter": flt, "exposure_s": exp, "date_obs": date_obs, "night": night,
            "session_id": session, "camera": camera, "telescope": telescope, "mount": None,
            "focal_length_mm": 550.0, "gain": 100.0, "offset": 50.0, "ccd_temp_c": -10.0,
            "set_temp_c": -10.0, "binning": "1x1", "width": 6248, "height": 4176,
            "bayer_pattern": None, "readout_mode": None, "ra_deg": None, "dec_deg": None,
            "site_lat": 50.85, "site_lon": 4.35, "software": "N.I.N.A.",
            "location": "library" if i % 50 else "missing", "problems": None,
            "scanned_at": "2025-01-01T00:00:00Z",
            "header_json": json.dumps({"SIMPLE": True, "BITPIX": 16, "NAXIS1": 6248, "NAXIS2": 4176,
                                       "IMAGETYP": ftype.upper(), "EXPTIME": exp, "OBJECT": tgt,
                                       "FILTER": flt, "INSTRUME": camera, "TELESCOP": telescope,
                                       "DATE-OBS": date_obs[:-1], "GAIN": 100, "OFFSET": 50}),
        }


def build(path: Path, n: int) -> float:
    """Synthesise n frames into a new catalog at path; returns seconds taken."""
    started = time.perf_counter()
    db = catalog.open_catalog(path)
    batch: list[dict] = []
    with db.conn:  # one transaction
        for row in synth_rows(n):
            batch.append(row)
            if len(batch) == 20_000:
                catalog.upsert_frames(db, batch)
                batch.clear()
                print(f"\r  {db.execute('select max(id) from frames').fetchone()[0]:,} rows", end="", flush=True)
        catalog.upsert_frames(db, batch)
        catalog.refresh_targets(db)
    print()
    db.execute("ANALYZE")
    db.conn.close()
    return time.perf_counter() - started


def python_peer(conn: sqlite3.Connection) -> dict:
    """Naive aggregation: fetch every row, group in Python."""
    out: dict[tuple, list] = {}
    for ftype, master, loc, target, flt, exp, night in conn.execute(
        "SELECT frame_type, is_master, location, target, filter, exposure_s, night FROM frames"
    ):
        if ftype != "light" or master or loc == "missing" or target is None:
            continue
        acc = out.setdefault((target, flt), [0, 0.0, set()])
        acc[0] += 1
        acc[1] += exp or 0.0
        acc[2].add(night)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, help="keep the synthetic catalog here (reused when present)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    tmp = None
    if args.db:
        path = args.db
    else:
        tmp = tempfile.TemporaryDirectory(prefix="astrocat-bench-")
        path = Path(tmp.name) / "catalog.db"
    if path.exists():
        print(f"reusing {path}")
        load_s = None
    else:
        print(f"synthesising {args.frames:,} frames into {path}")
        load_s = build(path, args.frames)
    db_name = path.stem

    metadata = datasette_app.load_metadata(db_name)
    query = metadata["databases"][db_name]["queries"][QUERY]["sql"]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    frames = conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
    plan = " / ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + query, {"target": ""}))

    no_index = query.replace("FROM frames", "FROM frames NOT INDEXED")
    assert no_index != query

    from datasette.app import Datasette

    ds = Datasette([str(path)], metadata=metadata, settings=datasette_app.SETTINGS)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(ds.invoke_startup())

    def get(url: str):
        def run():
            r = loop.run_until_complete(ds.client.get(url))
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
            return r.json()
        return run

    contenders = {
        "sqlite: all targets": lambda: conn.execute(query, {"target": ""}).fetchall(),
        "sqlite: :target = M31": lambda: conn.execute(query, {"target": "M31"}).fetchall(),
        "peer: same SQL, NOT INDEXED": lambda: conn.execute(no_index, {"target": ""}).fetchall(),
        "peer: Python aggregation": lambda: python_peer(conn),
        "datasette: canned query, all targets": get(f"/{db_name}/{QUERY}.json?_shape=array"),
        "datasette: canned query, :target = M31": get(f"/{db_name}/{QUERY}.json?_shape=array&target=M31"),
        "datasette: frames page, 7 facets": get(f"/{db_name}/frames.json?_size=50&_nocol=header_json"),
        "datasette: frames search M31": get(f"/{db_name}/frames.json?_search=M31&_size=50&_nocol=header_json"),
    }
    results = {name: fn() for name, fn in contenders.items()}  # warm-up, and answers to check
    rows = results["sqlite: all targets"]
    assert sorted(rows) == sorted(results["peer: same SQL, NOT INDEXED"]), "index and table scan disagree"
    assert len(results["peer: Python aggregation"]) == len(rows)
    assert len(results["datasette: canned query, all targets"]) == len(rows)  # not truncated
    timed_out = results["datasette: frames page, 7 facets"].get("facets_timed_out", [])
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):  # interleaved rounds: a busy neighbour slows every contender alike
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - t)
    figures = {name: statistics.median(v) for name, v in runs.items()}

    print()
    print(f"catalog: {frames:,} frames, {len(rows)} target/filter rows; python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {platform.machine()}, load average {os.getloadavg()[0]:.1f}")
    if load_s is not None:
        print(f"synthesis + load (search triggers live): {load_s:.1f} s")
    print(f"plan: {plan}")
    width = max(len(k) for k in figures)
    print(f"  {'':<{width}}  {'median':>9}     {'min':>9}")
    for k, v in figures.items():
        print(f"  {k:<{width}}  {v * 1000:9.1f} ms  {min(runs[k]) * 1000:9.1f} ms")
    if timed_out:
        print(f"  facets that hit facet_time_limit_ms: {', '.join(timed_out)}")
    base = figures["sqlite: all targets"]
    print(f"ratio NOT INDEXED / indexed: {figures['peer: same SQL, NOT INDEXED'] / base:.1f}x")
    print(f"ratio Python aggregation / indexed: {figures['peer: Python aggregation'] / base:.1f}x")
    print(f"ratio Datasette / sqlite (all targets): {figures['datasette: canned query, all targets'] / base:.2f}x")
    conn.close()
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
