"""`astrocat list files` (--json and the table) on a large catalog: time and peak memory.

A synthetic catalog (default 100,000 frames in 2,500 sessions, `bench_site.make_catalog`:
rows as a scan writes them, header JSON included). Contenders, interleaved, each a whole
process (harness.process: wall and CPU; the peak RSS from GNU time), output to a file:

- this tree's `astrocat list files --json` and `astrocat list files` (80 columns);
- the same commands from an older tree (`--old-ref`, default the merge-base with main);
- the peer: `sqlite3 -json catalog.db "SELECT <the same columns> ... ORDER BY date_obs, path"`.

    python benchmarks/bench_listing.py                    # 100,000 frames, 3 rounds
    python benchmarks/bench_listing.py --frames 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import harness  # noqa: E402
from bench_site import _old_tree, _tree_env, make_catalog  # noqa: E402

from astrocat.catalog import FRAME_FIELDS  # noqa: E402
from astrocat.catalog.counts import counted  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--sessions", type=int, default=2_500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--old-ref", default=None, help="the git revision to compare with")
    ap.add_argument("--no-table", action="store_true", help="only --json (the old table takes about a minute)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-listing-"))
    try:
        t = time.perf_counter()
        lib = make_catalog(work / "lib", a.frames, a.sessions)
        old, rev = _old_tree(a.old_ref, work / "old")
        print(f"synthetic catalog: {a.frames:,} frames, made in {time.perf_counter() - t:.1f} s; old tree {rev}")
        cols = ", ".join(f'"{c}"' for c in FRAME_FIELDS)
        peer_sql = f"SELECT {cols} FROM frames WHERE {counted()} ORDER BY date_obs, path"
        peaks: dict[str, list[float]] = {}
        cpus: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        env80 = {"COLUMNS": "80"}

        def run(name: str, cmd: list[str], environ: dict[str, str]) -> float:
            # The peak is GNU time's %M: wait4's ru_maxrss (harness.Run.peak_mb) would also
            # count this benchmark's own pages, which Linux charges to a child it forks.
            out, peak = work / "out.txt", work / "peak.txt"
            r = harness.process(["/usr/bin/time", "-f", "%M", "-o", str(peak), "sh", "-c", 'exec "$@" > "$0"',
                                 str(out), *cmd], cwd=lib, environ=environ)
            peaks.setdefault(name, []).append(int(peak.read_text().split()[-1]) / 1024)
            cpus.setdefault(name, []).append(r.cpu)
            sizes[name] = out.stat().st_size
            return r.wall

        def astrocat(name: str, tree: Path, *args: str):
            return lambda _r: run(name, [sys.executable, "-m", "astrocat", "list", "files", *args],
                                  {**_tree_env(tree), **env80})

        contenders = {
            "new --json": astrocat("new --json", ROOT, "--json"),
            f"old ({rev}) --json": astrocat(f"old ({rev}) --json", old, "--json"),
            "sqlite3 -json": lambda _r: run("sqlite3 -json", ["sqlite3", "-json", str(lib / "catalog.db"), peer_sql],
                                            harness.env()),
        }
        if not a.no_table:
            contenders["new (table)"] = astrocat("new (table)", ROOT)
            contenders[f"old ({rev}) (table)"] = astrocat(f"old ({rev}) (table)", old)
        stats = harness.interleave(contenders, rounds=a.rounds, warmup=False)
        harness.print_table(stats, baseline="sqlite3 -json",
                            title=f"list files on {a.frames:,} frames, median of {a.rounds} interleaved rounds:")
        for name in peaks:
            print(f"  {name:<34} peak {max(peaks[name]):6.0f} MB  CPU {sorted(cpus[name])[len(cpus[name]) // 2]:6.2f} s"
                  f"  output {sizes[name] / 1e6:6.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
