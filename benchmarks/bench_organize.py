"""Organize and sync benchmarks: astrocat against its peers on the same files, whole processes,
interleaved (benchmarks/harness.py).

1. small: organize a tree of N small frames on one filesystem (re-hash every source against
   the catalog, journal, hard-link, fsync, catalog update, remove the sources) against
   - `rsync -a --remove-source-files SRC/ DST/` (copies, verifies nothing after the copy);
   - the verify-and-link floor: `sha256sum` of every file, `cp -al SRC DST`, `rm -r SRC`.
   Every round starts from a fresh copy of the same tree (`cp -a`, then `sync`; not timed);
   astrocat's catalog is a copy of one made by scanning that tree once.
2. large: M large frames moved from a tmpfs to the disk: astrocat (copy, fsync, drop the
   cache, read back and sha256, link, catalog) against `rsync -a --remove-source-files`
   and `cp` + `sync` + `rm` (the same durability, no verification).
3. sync: `astrocat sync --quiet` with nothing new on a library of K frames, against the
   floors every run pays: `python -c pass`, `astrocat version` (interpreter and imports)
   and `find` printing size and mtime of every file (the stat walk).

Usage: python benchmarks/bench_organize.py [--only small|large|sync] [--rounds 3]
       [--small 20000] [--tree DIR] [--large 20] [--large-mb 50] [--sync-frames 20000]
       [--sync-lib DIR] [--base-tree SRC --base-lib DIR] [--work DIR]
--tree: an existing tree of frames to organize (e.g. one made by bench_scan.generate);
--sync-lib: an existing library that has been synced once; --work: where to put the copies
(default: a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from harness import astrocat_cmd, env, interleave, load, print_table, process, ratio  # noqa: E402

from astrocat.config import load as load_settings, write_default  # noqa: E402


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True)


def flush() -> None:
    """Write dirty pages out before a timed run, so none of it lands on the next contender."""
    subprocess.run(["sync"], check=True)


def fresh_copy(master: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(master), str(dest)], check=True)


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def new_library(where: Path, quarantine: Path | None = None, library: Path | None = None) -> Path:
    cfg = write_default(where, timezone="UTC")
    text = cfg.read_text().replace("settle_s = 30", "settle_s = 0")
    if quarantine is not None:
        text = text.replace('quarantine = "quarantine"', f'quarantine = "{quarantine}"', 1)
    if library is not None:
        text = text.replace('library = "library"', f'library = "{library}"', 1)
    cfg.write_text(text)
    return cfg


def generate_tree(dest: Path, n: int) -> None:
    import bench_scan

    bench_scan.generate(dest, n)


# --- 1. small frames, one filesystem -------------------------------------------------------


def bench_small(work: Path, master: Path, rounds: int) -> None:
    n = count_files(master)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(master) for f in fs)
    lib = work / "small-lib"
    if lib.exists():
        shutil.rmtree(lib)
    settings = load_settings(new_library(lib))
    shutil.rmtree(settings.quarantine, ignore_errors=True)
    fresh_copy(master, settings.quarantine)
    scanned = process(astrocat_cmd("scan", "--json"), cwd=lib)
    assert json.loads(scanned.stdout)["new"] == n, scanned.stdout[-500:]
    template = work / "small-catalog.db"
    shutil.copyfile(settings.catalog, template)
    src, dst = work / "peer-src", work / "peer-dst"

    def astrocat(r: int) -> float:
        shutil.rmtree(settings.library, ignore_errors=True)
        settings.library.mkdir()
        for suffix in ("-wal", "-shm"):
            Path(str(settings.catalog) + suffix).unlink(missing_ok=True)
        shutil.copyfile(template, settings.catalog)
        fresh_copy(master, settings.quarantine)
        flush()
        run = process(astrocat_cmd("organize", "--json"), cwd=lib)
        report = json.loads(run.stdout)
        held = len(report["held"])
        assert report["moved"] + held == n and not report["failed"], run.stdout[-500:]
        assert count_files(settings.quarantine) == held  # every source filed was removed
        return run.wall

    def peer(cmd: str) -> callable:
        def run(r: int) -> float:
            shutil.rmtree(dst, ignore_errors=True)
            fresh_copy(master, src)
            flush()
            wall = process(["sh", "-c", cmd]).wall
            assert count_files(dst) == n and count_files(src) == 0, cmd
            return wall
        return run

    stats = interleave({
        "astrocat organize": astrocat,
        "rsync -a --remove-source-files": peer(f"rsync -a --remove-source-files '{src}/' '{dst}/'"),
        "sha256sum + cp -al + rm (floor)": peer(
            f"cd '{src}' && find . -type f -print0 | xargs -0 sha256sum > /dev/null && cd / "
            f"&& cp -al '{src}' '{dst}' && rm -r '{src}'"),
    }, rounds, warmup=False)  # each round starts from a fresh copy, warm in the page cache
    print(f"\norganize {n:,} small frames ({size / n / 1024:.1f} KB each) on one filesystem, "
          f"{rounds} interleaved rounds, whole processes")
    print_table(stats, baseline="rsync -a --remove-source-files")
    for name, s in stats.items():
        print(f"  {name}: {n / s.median:,.0f} files/s")
    print(f"  astrocat vs the floor: {ratio(stats, 'astrocat organize', 'sha256sum + cp -al + rm (floor)'):.2f}x")
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)


# --- 2. large frames, tmpfs -> disk --------------------------------------------------------


def bench_large(work: Path, count: int, mb: int, rounds: int) -> None:
    import bench_scan

    fast = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="astrocat-bench-"))
    try:
        master = fast / "master"
        total = bench_scan.large_frames(master, count, mb)
        q = fast / "quarantine"
        lib = work / "large-lib"
        if lib.exists():
            shutil.rmtree(lib)
        settings = load_settings(new_library(lib, quarantine=q))
        fresh_copy(master, q)
        process(astrocat_cmd("scan", "-q"), cwd=lib)
        template = work / "large-catalog.db"
        shutil.copyfile(settings.catalog, template)
        src, dst = fast / "peer-src", work / "peer-dst"

        def astrocat(r: int) -> float:
            shutil.rmtree(settings.library, ignore_errors=True)
            settings.library.mkdir()
            for suffix in ("-wal", "-shm"):
                Path(str(settings.catalog) + suffix).unlink(missing_ok=True)
            shutil.copyfile(template, settings.catalog)
            fresh_copy(master, q)
            flush()
            run = process(astrocat_cmd("organize", "--json"), cwd=lib)
            report = json.loads(run.stdout)
            assert report["moved"] == count and {p["method"] for p in report["plan"]} == {"copy"}
            return run.wall

        def peer(cmd: str) -> callable:
            def run(r: int) -> float:
                shutil.rmtree(dst, ignore_errors=True)
                fresh_copy(master, src)
                flush()
                wall = process(["sh", "-c", cmd]).wall
                assert count_files(dst) == count and (not src.exists() or count_files(src) == 0)
                return wall
            return run

        stats = interleave({
            "astrocat organize (copy, fsync, read back, sha256)": astrocat,
            "rsync -a --remove-source-files": peer(f"rsync -a --remove-source-files '{src}/' '{dst}/'"),
            "cp + sync + rm (no verification)": peer(
                f"mkdir -p '{dst}' && cp -a '{src}'/. '{dst}/' && sync && rm -r '{src}'"),
        }, rounds, warmup=False)
        print(f"\nmove {count} x {total / count / 1e6:.0f} MB ({total / 1e6:,.0f} MB) from a tmpfs to the disk, "
              f"{rounds} interleaved rounds, whole processes")
        print_table(stats, baseline="rsync -a --remove-source-files")
        for name, s in stats.items():
            print(f"  {name}: {total / s.median / 1e6:,.0f} MB/s")
    finally:
        shutil.rmtree(fast, ignore_errors=True)
        shutil.rmtree(work / "peer-dst", ignore_errors=True)


# --- 3. sync with nothing new ----------------------------------------------------------------


def make_synced_library(work: Path, n: int) -> Path:
    lib = work / "sync-lib"
    if lib.exists():
        shutil.rmtree(lib)
    settings = load_settings(new_library(lib))
    shutil.rmtree(settings.quarantine, ignore_errors=True)
    generate_tree(settings.quarantine, n)
    process(astrocat_cmd("sync", "--quiet"), cwd=lib, check=False)  # the first sync: scan, file, notes, site
    return lib


def bench_sync(lib: Path, rounds: int, base: tuple[Path, Path] | None = None) -> None:
    """`base`: (another astrocat source tree, its own copy of the library) timed in the same
    rounds, e.g. the code before a change (a copy: a newer astrocat may migrate the catalog)."""
    settings = load_settings(lib / "astrocat.toml")
    process(astrocat_cmd("sync", "--quiet"), cwd=lib, check=False)  # settle: held frames stay held
    report = json.loads(process(astrocat_cmd("sync", "--json"), cwd=lib, check=False).stdout)
    assert not report["changed"], "the library is not synced: run sync on it first"
    n = report["scan"]["files_seen"]
    roots = f"'{settings.quarantine}' '{settings.library}'"

    def sync_with(where: Path, environ: dict[str, str] | None = None):
        def sync(r: int) -> float:
            run = process(astrocat_cmd("sync", "--quiet"), cwd=where, check=False, environ=environ)
            assert run.returncode in (0, 1) and not run.stdout.strip(), run.stdout[-500:] + run.stderr[-500:]
            return run.wall
        return sync

    contenders = {"astrocat sync (nothing new)": sync_with(lib)}
    if base is not None:
        base_env = {**env(), "PYTHONPATH": str(base[0])}
        process(astrocat_cmd("sync", "--quiet"), cwd=base[1], check=False, environ=base_env)
        contenders[f"base {base[0].name}: astrocat sync (nothing new)"] = sync_with(base[1], base_env)
    stats = interleave({
        **contenders,
        "python -c pass": lambda r: process([sys.executable, "-c", "pass"]).wall,
        "astrocat version": lambda r: process(astrocat_cmd("version")).wall,
        "find: size and mtime of every file": lambda r: process(
            ["sh", "-c", f"find {roots} -type f -printf '%s %T@ %p\\n' > /dev/null"]).wall,
    }, rounds)
    print(f"\nsync with nothing new, {n:,} files in the library, {rounds} interleaved rounds, whole processes")
    print_table(stats)
    steps = {k: v.get("elapsed_s") for k, v in report.items() if isinstance(v, dict) and "elapsed_s" in v}
    print(f"  one sync's steps (s, from --json): {json.dumps(steps)}; whole run {report['elapsed_s']} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["small", "large", "sync"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", type=int, default=20000, help="frames to generate for the small part")
    ap.add_argument("--tree", type=Path, help="an existing tree of frames for the small part")
    ap.add_argument("--large", type=int, default=20)
    ap.add_argument("--large-mb", type=int, default=50)
    ap.add_argument("--sync-frames", type=int, default=20000)
    ap.add_argument("--sync-lib", type=Path, help="an existing, synced library for the sync part")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--base-tree", type=Path, help="another astrocat source tree to time in the same rounds")
    ap.add_argument("--base-lib", type=Path, help="the base tree's own copy of --sync-lib")
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "astrocat")], check=True)
    work = (args.work or Path(tempfile.mkdtemp(prefix="astrocat-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work dir {work}; at the start: {load()}")
    try:
        if args.only in (None, "small"):
            master = args.tree
            if master is None:
                master = work / "tree"
                if not master.exists():
                    generate_tree(master, args.small)
            bench_small(work, master.resolve(), args.rounds)
        if args.only in (None, "large"):
            bench_large(work, args.large, args.large_mb, args.rounds)
        if args.only in (None, "sync"):
            lib = args.sync_lib.resolve() if args.sync_lib else make_synced_library(work, args.sync_frames)
            base = (args.base_tree.resolve(), args.base_lib.resolve()) if args.base_tree and args.base_lib else None
            bench_sync(lib, args.rounds, base)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
