"""Backup upload throughput: `astrocat backup upload` against `aws s3 cp --recursive` (awscli).

Both send the same files to the same local S3 server (moto's server, in its own process,
on 127.0.0.1), in one run, interleaved A B A B, each round into a fresh bucket. astrocat
also reads every file once more to check it against the catalog's sha256, and sends that
sha256 as each object's ChecksumSHA256 (S3 checks the body against it); awscli sends
its default CRC32. Both use STANDARD class and 10 transfers at once (awscli's default
max_concurrent_requests). Figures: median seconds of --repeat rounds, MB/s, and the ratio
of astrocat's throughput to awscli's (above 1.0x: astrocat is faster).

The issue's size is 40 x 50 MB; the default here is smaller (--files 20 --size-mb 20)
because moto keeps every object in its own process's memory and temporary files and the
machine is shared. Usage:

    python benchmarks/bench_backup.py [--files 40] [--size-mb 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from astrocat.demo.fitswrite import write_fits  # noqa: E402

ENV = {
    **os.environ, "PYTHONPATH": str(ROOT), "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
}
CONCURRENCY = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("moto's server did not start")


def write_frames(folder: Path, n: int, size_mb: int) -> int:
    """n FITS frames of about size_mb MB each, different content; returns total bytes."""
    side = int((size_mb * 1024 * 1024 / 2) ** 0.5)
    total = 0
    for i in range(n):
        rng = np.random.default_rng(i)
        data = rng.integers(0, 65535, size=(side, side), dtype=np.uint16)
        p = folder / f"M31_L_180.00s_{i:04d}.fits"
        cards = [("IMAGETYP", "LIGHT", ""), ("EXPTIME", 180.0, ""), ("OBJECT", "M31", ""), ("FILTER", "L", ""),
                 ("DATE-OBS", f"2024-11-01T21:{i // 60:02d}:{i % 60:02d}", ""), ("INSTRUME", "ZWO ASI2600MM Pro", "")]
        total += write_fits(p, cards, data)
    return total


def run(cmd: list[str], cwd: Path | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{cmd[:4]} failed: {r.stdout}{r.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--size-mb", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    aws = shutil.which("aws")
    if not aws:
        sys.exit("awscli is not installed (pip install awscli)")
    server, url = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="astrocat-bench-backup-"))
    try:
        lib = tmp / "lib"
        subprocess.run([sys.executable, "-m", "astrocat", "init", str(lib), "--timezone", "UTC"], env=ENV,
                       check=True, capture_output=True)
        cfg = lib / "astrocat.toml"
        cfg.write_text(cfg.read_text().replace("settle_s = 30", "settle_s = 0"))
        total = write_frames(lib / "quarantine", args.files, args.size_mb)
        run([sys.executable, "-m", "astrocat", "scan", "--quiet"], cwd=lib)
        run([sys.executable, "-m", "astrocat", "organize"], cwd=lib)
        base = cfg.read_text()
        library = lib / "library"
        import boto3

        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")
        times: dict[str, list[float]] = {"astrocat backup upload": [], "aws s3 cp --recursive": []}
        for rnd in range(args.repeat):
            for name in times:  # interleaved: A B A B
                bucket = f"bench-{rnd}-{'a' if name.startswith('astrocat') else 'b'}"
                s3.create_bucket(Bucket=bucket)
                if name.startswith("astrocat"):
                    cfg.write_text(base + f'\n[backup]\nbucket = "{bucket}"\nendpoint_url = "{url}"\n'
                                   f'region = "us-east-1"\nframes_storage_class = "STANDARD"\n'
                                   f"concurrency = {CONCURRENCY}\n")
                    db = sqlite3.connect(lib / "catalog.db")
                    with db:
                        db.execute("DELETE FROM backups")
                    db.close()
                    times[name].append(run([sys.executable, "-m", "astrocat", "backup", "upload", "--quiet"], cwd=lib))
                else:
                    times[name].append(run([aws, "s3", "cp", str(library), f"s3://{bucket}/frames/", "--recursive",
                                            "--only-show-errors", "--endpoint-url", url]))
                listed = s3.list_objects_v2(Bucket=bucket, Prefix="")
                frames = [o for o in listed.get("Contents", []) if "/manifests/" not in o["Key"]]
                assert len(frames) == args.files, (name, len(frames))
                # free the server's memory before the next round
                for o in listed.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=o["Key"])
        mb = total / 1e6
        print(f"{args.files} files x ~{args.size_mb} MB ({mb:.0f} MB) to moto's S3 server on 127.0.0.1, "
              f"{args.repeat} interleaved rounds, medians")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}")
        print(f"{'contender':28} {'seconds':>8} {'MB/s':>8} {'vs aws':>8}")
        med = {k: statistics.median(v) for k, v in times.items()}
        for name, secs in med.items():
            ratio = med["aws s3 cp --recursive"] / secs
            print(f"{name:28} {secs:8.2f} {mb / secs:8.1f} {ratio:7.2f}x")
        print(f"throughput ratio astrocat / awscli: {med['aws s3 cp --recursive'] / med['astrocat backup upload']:.2f}x")
        print("rounds:", {k: [round(x, 2) for x in v] for k, v in times.items()})
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
