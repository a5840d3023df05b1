"""What the full-text search triggers cost a scan, and how they compare with a rebuild.

Writes ~5,000 small FITS frames (the demo's nine programs' header styles, repeated with
different seeds into sub-folders) and reads their headers once. Then, on fresh catalogs:

1. Catalog writes only (the part the triggers touch; no file I/O, so little noise): the
   same rows written in 500-row transactions as the scan does, with
   - no migration 4 (no triggers, no FTS): the peer;
   - migration 4, `catalog.upsert_frames` (up to 200 rows per INSERT statement);
   - migration 4, one row per statement (`executemany`, how upsert_frames wrote before):
     FTS5 flushes a segment per statement, which is what made the first version slow;
   - no migration 4, then migration 4 applied after the load (indexes + FTS `rebuild`).
2. Whole scans (`astrocat.ingest.scan.scan`, headers read and hashed): without and with
   migration 4, and a rescan after touching every file (mtime changed, indexed text not:
   the UPDATE trigger's WHEN clause skips those rows).

Figures are medians of --repeat interleaved runs; the files are read once first (warm
page cache).

Usage: python benchmarks/bench_fts_triggers.py [--files 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from astrocat import catalog  # noqa: E402
from astrocat import demo  # noqa: E402
from astrocat.config import load, write_default  # noqa: E402
from astrocat.ingest import scan as scan_mod  # noqa: E402
from astrocat.ingest.scan import scan  # noqa: E402
from astrocat.ingest.walk import walk  # noqa: E402


def make_library(base: Path, files: int):
    cfg = write_default(base, timezone="Europe/Brussels")
    settings = load(cfg)
    n, seed = 0, 0
    while n < files:
        n += sum(demo.write_quarantine(settings.quarantine / f"batch{seed:03d}", seed=seed).values())
        seed += 1
    for root, _, names in os.walk(settings.quarantine):  # warm the page cache
        for name in names:
            with open(os.path.join(root, name), "rb") as fh:
                fh.read()
    return settings, n


def fresh_catalog(settings, with_m4: bool):
    for suffix in ("", "-wal", "-shm"):
        Path(str(settings.catalog) + suffix).unlink(missing_ok=True)
    saved = catalog.MIGRATIONS[:]
    if not with_m4:
        catalog.MIGRATIONS[:] = [m for m in saved if m[0] != 4]
    try:
        return catalog.open_catalog(settings.catalog)
    finally:
        catalog.MIGRATIONS[:] = saved


def one_per_statement(db, rows) -> None:
    """upsert_frames' SQL, executed once per row (the peer for the multi-row statements)."""
    cols = catalog._WRITE_COLS
    sql = (
        f"INSERT INTO frames ({', '.join(f'[{c}]' for c in cols)}) VALUES ({', '.join('?' for _ in cols)}) "
        f"ON CONFLICT(path) DO UPDATE SET {', '.join(f'[{c}]=excluded.[{c}]' for c in cols if c != 'path')}"
    )
    db.conn.executemany(sql, [[catalog._cell(r.get(c)) for c in cols] for r in rows])


def write_rows(settings, rows, mode: str) -> float:
    db = fresh_catalog(settings, with_m4=mode in ("multi-row", "one-per-statement"))
    write = one_per_statement if mode == "one-per-statement" else catalog.upsert_frames
    t = time.perf_counter()
    for i in range(0, len(rows), scan_mod.BATCH):
        with db.conn:
            write(db, rows[i : i + scan_mod.BATCH])
    if mode == "rebuild-after":
        catalog.migrate(db)
    elapsed = time.perf_counter() - t
    if mode != "none":
        hits = db.execute("SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'M31'").fetchone()[0]
        want = db.execute("SELECT COUNT(*) FROM frames WHERE target = 'M31'").fetchone()[0]
        assert hits >= want > 0, (mode, hits, want)
    db.conn.close()
    return elapsed


def scan_once(settings, with_m4: bool) -> dict[str, float]:
    db = fresh_catalog(settings, with_m4)
    t = time.perf_counter()
    result = scan(db, settings)
    out = {"scan": time.perf_counter() - t}
    assert result.new > 0 and result.rejected == 0, result.as_dict()
    if with_m4:
        now = time.time() - 3600  # changed, and settled: past [scan] settle_s
        for root, _, names in os.walk(settings.quarantine):
            for name in names:
                os.utime(os.path.join(root, name), (now, now))
        t = time.perf_counter()
        again = scan(db, settings)
        out["rescan"] = time.perf_counter() - t
        assert again.changed == result.new, again.as_dict()
    db.conn.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    writes: dict[str, list[float]] = {m: [] for m in ("none", "multi-row", "one-per-statement", "rebuild-after")}
    scans: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="astrocat-bench-fts-") as tmp:
        settings, n = make_library(Path(tmp) / "lib", args.files)
        entries = list(walk([settings.quarantine]))
        rows = [r for r in (scan_mod.read_entry(e, settings)[0] for e in entries) if r]
        print(f"{n} files, {len(rows)} frame rows; python {platform.python_version()}, "
              f"SQLite {sqlite3.sqlite_version}, {platform.machine()}, load average {os.getloadavg()[0]:.1f}")
        for _ in range(args.repeat):  # interleaved, so drift hits every mode alike
            for mode in writes:
                writes[mode].append(write_rows(settings, rows, mode))
            for with_m4 in scans:
                scans[with_m4].append(scan_once(settings, with_m4))

    def med(values) -> float:
        return statistics.median(values)

    base = med(writes["none"])
    print("catalog writes only:")
    for mode, label in (("none", "no search (no migration 4)"), ("multi-row", "FTS triggers, upsert_frames"),
                        ("one-per-statement", "FTS triggers, one row per statement"),
                        ("rebuild-after", "no triggers during load, then rebuild")):
        v = med(writes[mode])
        print(f"  {label:<40} {v * 1000:8.0f} ms  ({v / base:.2f}x, {(v - base) / len(rows) * 1e6:+.0f} us/frame)")
    s0 = med(r["scan"] for r in scans[False])
    s1 = med(r["scan"] for r in scans[True])
    print("whole scan:")
    print(f"  {'without search (no migration 4)':<40} {s0:8.2f} s")
    print(f"  {'with FTS triggers':<40} {s1:8.2f} s  ({(s1 / s0 - 1) * 100:+.1f} %)")
    print(f"  {'rescan, every file touched':<40} {med(r['rescan'] for r in scans[True]):8.2f} s")
    print(f"ratio scan with triggers / without: {s1 / s0:.3f}")


if __name__ == "__main__":
    main()
