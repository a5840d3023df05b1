"""Organize benchmarks, each against a peer in the same run.

1. organize N small files on one filesystem (journal, sha256 check, hard link, fsync,
   catalog update) vs a naive `os.rename` loop to the same names (no checks at all);
2. copy-verify of M large files across filesystems (copy, fsync, drop cache, re-read
   and sha256, link, catalog update) vs plain `cp` of the same files, `cp` + `sync`
   (which, like us, waits for the disk) and `mv` (the whole move: copy, then remove the
   source); R rounds, order alternating, medians;
3. `astrocat sync` with nothing new on a library of K frames vs `astrocat scan` alone.

Usage: python benchmarks/bench_organize.py [--small 5000] [--large 20] [--large-mb 50] [--rounds 3]
       [--sync-frames 10000] [--only small|large|sync]
The second filesystem is a tmpfs mounted for the run (as root) or /dev/shm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from astrocat import catalog  # noqa: E402
from astrocat import library  # noqa: E402
from astrocat.config import load, write_default  # noqa: E402
from astrocat.demo.fitswrite import write_fits  # noqa: E402
from astrocat.ingest.scan import scan  # noqa: E402


def small_frames(folder: Path, n: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16))
    for i in range(start, start + n):
        cards = [("IMAGETYP", "LIGHT", ""), ("EXPTIME", 180.0, ""),
                 ("DATE-OBS", f"2024-11-{1 + (i // 2000) % 28:02d}T{20 + (i % 4)}:{(i // 4) % 60:02d}:{i % 60:02d}", ""),
                 ("OBJECT", ("M31", "NGC 7000", "M42")[i % 3], ""), ("FILTER", ("L", "Ha", "OIII")[i % 3], ""),
                 ("INSTRUME", "ZWO ASI2600MM Pro", ""), ("TELESCOP", "Esprit 100", ""), ("SEQNUM", i, "")]
        write_fits(folder / f"frame_{i:06d}.fits", cards, data)


def new_library(where: Path, library_dir: Path | None = None):
    cfg = write_default(where, timezone="UTC")
    # the frames are written just before each scan: read them at once
    cfg.write_text(cfg.read_text().replace("settle_s = 30", "settle_s = 0"))
    if library_dir is not None:
        text = cfg.read_text().replace('library = "library"', f'library = "{library_dir}"')
        cfg.write_text(text)
    s = load(cfg)
    s.library.mkdir(parents=True, exist_ok=True)
    return s


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


@contextmanager
def second_filesystem(base: Path, size_mb: int):
    mnt = base / "tmpfs"
    mnt.mkdir()
    if os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt)], capture_output=True
    ).returncode == 0:
        try:
            yield mnt, "tmpfs mounted for the run"
        finally:
            subprocess.run(["umount", str(mnt)])
        return
    d = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        yield d, "/dev/shm"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bench_small(base: Path, n: int) -> None:
    s = new_library(base / "small")
    small_frames(s.quarantine / "in", n)
    db = catalog.open_catalog(s.catalog)
    t_scan, _ = timed(lambda: scan(db, s))
    t_org, res = timed(lambda: library.organize(db, s))
    db.conn.close()
    assert res.ok and res.moved == n, res.as_dict()["failed"][:3]
    # peer: the same files renamed to the same names with no checks (what the tool we replace did)
    peer = base / "peer"
    small_frames(peer / "in", n)
    dests = [p for p, _, _ in res_paths(s)]
    srcs = sorted((peer / "in").iterdir())

    def naive() -> None:
        made = set()
        for src, dst in zip(srcs, dests):
            d = peer / "out" / dst
            if d.parent not in made:
                d.parent.mkdir(parents=True, exist_ok=True)
                made.add(d.parent)
            os.rename(src, d)

    t_peer, _ = timed(naive)
    print(f"organize {n} small files, one filesystem: {n / t_org:,.0f} files/s ({t_org:.2f} s; scan took {t_scan:.2f} s)")
    print(f"  peer: naive os.rename loop, no checks:   {n / t_peer:,.0f} files/s ({t_peer:.2f} s)")
    print(f"  ratio astrocat/naive: {t_peer / t_org:.2f}x (the price of journal + sha256 check + fsync)")


def res_paths(s):
    con = catalog.open_catalog(s.catalog)
    rows = list(con.execute("SELECT path, size, sha256 FROM frames ORDER BY id"))
    con.conn.close()
    lib = s.rel(s.library) + "/"
    return [(p[len(lib):], size, sha) for p, size, sha in rows]


def bench_large(base: Path, count: int, mb: int, rounds: int) -> None:
    with second_filesystem(base, count * mb * 4 + 64) as (fast, how):
        for direction in ("to-disk", "to-tmpfs"):
            work = base / direction
            other = fast / direction
            work.mkdir()
            other.mkdir()
            src_fs, dst_root = (other, work) if direction == "to-disk" else (work, other)
            label = f"{how} -> disk" if direction == "to-disk" else f"disk -> {how}"
            _bench_copy(label, src_fs, dst_root, work, count, mb, rounds)
            shutil.rmtree(work)
            shutil.rmtree(other)


def _refill(master: Path, folder: Path) -> list[str]:
    """A fresh copy of the master files in folder (untimed), flushed to disk."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(master, folder)
    subprocess.run(["sync"], check=True)
    return sorted(str(f) for f in folder.iterdir())


def _bench_copy(label: str, src_fs: Path, dst_root: Path, work: Path, count: int, mb: int, rounds: int) -> None:
    """Rounds of: cp, cp + sync, mv, astrocat organize, on warm sources (as after a scan),
    the order alternating between rounds so that a slow moment of the machine hits both."""
    master = src_fs / "master"
    master.mkdir(parents=True)
    rng = np.random.default_rng(1)
    side = int((mb * 1024 * 1024 / 2) ** 0.5)
    for i in range(count):
        # a FITS header then random pixels: real-looking content, incompressible
        hdr = [("IMAGETYP", "LIGHT", ""), ("EXPTIME", 300.0, ""), ("DATE-OBS", f"2024-11-01T21:{i:02d}:00", ""),
               ("OBJECT", "M31", ""), ("FILTER", "Ha", ""), ("INSTRUME", "Cam", ""), ("SEQNUM", i, "")]
        write_fits(master / f"big_{i:03d}.fits", hdr, rng.integers(0, 65535, (side, side), dtype=np.uint16))
    total = sum(f.stat().st_size for f in master.iterdir())

    def peers() -> dict[str, float]:
        files = _refill(master, src_fs / "peer_src")
        out = dst_root / "peer_dst"
        out.mkdir()
        t_cp, _ = timed(lambda: subprocess.run(["cp", *files, str(out)], check=True))
        t_sync, _ = timed(lambda: subprocess.run(["sync"], check=True))
        shutil.rmtree(out)
        out.mkdir()
        subprocess.run(["sync"], check=True)
        t_mv, _ = timed(lambda: subprocess.run(["mv", *files, str(out)], check=True))
        shutil.rmtree(out)
        subprocess.run(["sync"], check=True)
        return {"cp": t_cp, "cp+sync": t_cp + t_sync, "mv": t_mv}

    def ours(r: int) -> dict[str, float]:
        quarantine = src_fs / f"quarantine{r}"
        _refill(master, quarantine)
        s = new_library(work / f"lib{r}", library_dir=dst_root / f"library{r}")
        cfg = s.config_path
        cfg.write_text(cfg.read_text().replace('quarantine = "quarantine"', f'quarantine = "{quarantine}"'))
        s = load(cfg)
        db = catalog.open_catalog(s.catalog)
        scan(db, s)  # reads every file, as `astrocat sync` does before it organizes
        subprocess.run(["sync"], check=True)
        t_org, res = timed(lambda: library.organize(db, s))
        db.conn.close()
        assert res.ok and res.moved == count and {i.method for i in res.plan.moves} == {"copy"}
        assert not any(quarantine.rglob("*.fits"))
        shutil.rmtree(dst_root / f"library{r}")
        subprocess.run(["sync"], check=True)
        return {"organize": t_org, "filed": res.filed_s}

    mbps = lambda t: total / t / 1e6  # noqa: E731
    print(f"copy-verify {count} x {mb} MB across filesystems ({label}), {total / 1e6:.0f} MB, {rounds} rounds:")
    runs: list[dict[str, float]] = []
    for r in range(rounds):
        row = {**peers(), **ours(r)} if r % 2 == 0 else {**ours(r), **peers()}
        runs.append(row)
        print(f"  round {r + 1}: astrocat copy-verify {row['filed']:.2f} s, whole move {row['organize']:.2f} s; "
              f"cp {row['cp']:.2f} s, cp + sync {row['cp+sync']:.2f} s, mv {row['mv']:.2f} s; "
              f"copy-verify/cp {row['cp'] / row['filed']:.2f}x, move/mv {row['mv'] / row['organize']:.2f}x")
    med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
    ratio = lambda a, b: statistics.median(run[a] / run[b] for run in runs)  # noqa: E731
    print(f"  medians: astrocat copy-verify (copy, fsync, drop cache, re-read, sha256, link, catalog) "
          f"{med['filed']:.2f} s ({mbps(med['filed']):.0f} MB/s); whole move incl. removing the sources "
          f"{med['organize']:.2f} s")
    print(f"           peers: cp {med['cp']:.2f} s ({mbps(med['cp']):.0f} MB/s), cp + sync {med['cp+sync']:.2f} s, "
          f"mv {med['mv']:.2f} s")
    print(f"  ratio astrocat copy-verify / cp: {ratio('cp', 'filed'):.2f}x (target >= 0.5x); "
          f"/ (cp + sync): {ratio('cp+sync', 'filed'):.2f}x; whole move / mv: {ratio('mv', 'organize'):.2f}x")
    print(f"  durability ceiling in this run, (cp) / (cp + sync): {ratio('cp', 'cp+sync'):.2f}x "
          f"(no copy that waits for the disk can beat this ratio to plain cp)")


def bench_sync(base: Path, n: int) -> None:
    s = new_library(base / "sync")
    small_frames(s.quarantine / "in", n)
    db = catalog.open_catalog(s.catalog)
    scan(db, s)
    library.organize(db, s)
    db.conn.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> float:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "astrocat", *args], cwd=s.base_dir, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return time.perf_counter() - t

    cli("sync", "--quiet")  # warm the page cache
    t_sync = min(cli("sync", "--quiet") for _ in range(3))
    t_scan = min(cli("scan", "-q") for _ in range(3))
    t_version = min(cli("version") for _ in range(3))
    print(f"sync with nothing new, {n} frames in the library: {t_sync:.2f} s (whole process)")
    print(f"  peer: astrocat scan alone: {t_scan:.2f} s; interpreter + imports (astrocat version): {t_version:.2f} s")
    print(f"  ratio sync/scan: {t_sync / t_scan:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--large", type=int, default=20)
    ap.add_argument("--large-mb", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the large-file part")
    ap.add_argument("--sync-frames", type=int, default=10000)
    ap.add_argument("--only", choices=["small", "large", "sync"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="astrocat-bench-") as tmp:
        base = Path(tmp)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work dir {base}")
        if args.only in (None, "small"):
            bench_small(base, args.small)
        if args.only in (None, "large"):
            bench_large(base, args.large, args.large_mb, args.rounds)
        if args.only in (None, "sync"):
            bench_sync(base, args.sync_frames)


if __name__ == "__main__":
    main()
