"""Fuzz: hundreds of seeded mutants of the real samples and of the demo's frames (flipped
bytes, truncations, junk and giant cards, NAXIS/ZNAXIS/BITPIX lies, damaged gzip/bzip2,
compression bombs, hostile XISF XML) go through a real scan and a real build, each in a
child process bounded in time and memory. Every mutant ends as a frame or as a reject
with a short reason; nothing hangs, nothing prints a traceback."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from astrocat.config import load, write_default
from astrocat.demo import write_quarantine
from astrocat.ingest.headers import is_candidate

from conftest import ROOT, need, set_settle
from fuzzkit import Measured, Mutant, mutants, preview_bombs, run_measured

SEED = 20261130
COUNT = 460  # random ones; with the bombs and the XISF set, 500 and more
SHARED = ROOT.parent / "shared"
SAMPLE_ROOTS = [SHARED / "fits-samples" / "files", SHARED / "realworld" / "files"]
MAX_RSS_MB = 1024
# Python exception text: none of it may reach a user in a reject reason
RAW_EXCEPTION = re.compile(
    r"Traceback|Errno|\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|object has no attribute|invalid literal|"
    r"could not convert|not well-formed|codec can't|NoneType|\bint\(\)|line \d+, column \d+|"
    r"Exceeds the limit|Invalid data stream|Not a gzipped|unexpected keyword|<[a-z_.]+ object at"
)

CHILD_SCAN = """
import json, sys
from pathlib import Path
from astrocat import catalog
from astrocat.config import load
from astrocat.ingest.scan import scan
s = load(Path(sys.argv[1]))
assert s.settle_s == 0, s.settle_s
db = catalog.open_catalog(s.catalog)
try:
    result = scan(db, s)
finally:
    db.conn.close()
print(json.dumps(result.as_dict()))
"""


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("ASTROCAT_CONFIG", None)
    env.pop("ASTROCAT_SCAN_WORKERS", None)  # the default: worker processes, as a user's scan runs
    return env


def _bases(tmp: Path) -> list[Path]:
    for root in SAMPLE_ROOTS:
        need(root.is_dir(), f"real samples not found at {root}")
    samples = sorted(p for root in SAMPLE_ROOTS for p in root.rglob("*") if p.is_file() and is_candidate(p.name))
    need(len(samples) >= 40, f"expected the shared samples under {SAMPLE_ROOTS}, found {len(samples)} files")
    demo = tmp / "demo-frames"
    write_quarantine(demo)
    frames = sorted(p for p in demo.rglob("*") if p.is_file() and is_candidate(p.name))
    return samples + random.Random(SEED).sample(frames, 40)


def _library(root: Path):
    cfg = write_default(root, timezone="UTC")
    set_settle(cfg, 0)
    return load(cfg)


class Fuzzed:
    """What one fuzz run produced, for the tests below to judge.

    Two libraries: `main` holds the random mutants and the compression bombs a scan
    rejects or never previews; `bombs` holds the gzip frames whose previews expand far
    beyond the file (their build is a known failure, kept apart so it hides nothing else)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.main, self.bombs = _library(tmp / "lib"), _library(tmp / "bombs")
        self.names: dict[str, list[str]] = {"main": [], "bombs": []}
        for key, lib, found in (("main", self.main, mutants(_bases(tmp), SEED, COUNT)),
                                ("bombs", self.bombs, [Mutant(n, b) for n, b in preview_bombs()])):
            folder = lib.quarantine / "fuzz"
            folder.mkdir(parents=True)
            for m in found:
                (folder / m.name).write_bytes(m.blob)
                self.names[key].append(f"quarantine/fuzz/{m.name}")
        self.runs: dict[str, Measured] = {}

    def run(self, key: str, lib, argv: list[str], timeout: float) -> Measured:
        r = run_measured([sys.executable, *argv], timeout=timeout, cwd=lib.base_dir, env=_env(),
                         out_dir=self.tmp / "runs" / key)
        self.runs[key] = r
        return r


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[Fuzzed]:
    started = time.monotonic()
    f = Fuzzed(tmp_path_factory.mktemp("fuzz"))
    f.generated_s = time.monotonic() - started
    f.run("scan", f.main, ["-c", CHILD_SCAN, str(f.main.config_path)], timeout=60)
    f.run("scan-bombs", f.bombs, ["-c", CHILD_SCAN, str(f.bombs.config_path)], timeout=20)
    yield f
    print("generated in", round(f.generated_s, 1), "s;", {k: (round(r.elapsed_s, 1), round(r.peak_rss_mb), r.returncode) for k, r in f.runs.items()})


def _no_traceback(r: Measured, what: str) -> None:
    assert "Traceback" not in r.stderr + r.stdout, f"{what}:\n{r.stderr[-3000:]}"


def _catalog(lib) -> tuple[set[str], dict[str, str]]:
    db = sqlite3.connect(lib.catalog)
    try:
        return {p for (p,) in db.execute("SELECT path FROM frames")}, dict(db.execute("SELECT path, reason FROM rejects"))
    finally:
        db.close()


def test_the_generator_is_deterministic_and_varied(fuzzed: Fuzzed, tmp_path: Path) -> None:
    names = fuzzed.names["main"]
    assert len(names) >= 500 and len(set(names)) == len(names)
    # the same seed gives the same files, byte for byte (checked on the first 60)
    again = mutants(_bases(tmp_path), SEED, 60, bombs=False)
    folder = fuzzed.main.quarantine / "fuzz"
    assert [m.name for m in again] == [n.rsplit("/", 1)[1] for n in names[:60]]
    assert all((folder / m.name).read_bytes() == m.blob for m in again)
    kinds = {n.rsplit("/", 1)[1].split("_")[1] for n in names}
    assert {"flip", "truncate", "lie", "junk", "giant", "gz", "bz2", "xml", "raw-flip", "bomb"} <= kinds, kinds


@pytest.mark.parametrize("key", ["scan", "scan-bombs"])
def test_scan_finishes_quickly_in_bounded_memory_without_traceback(fuzzed: Fuzzed, key: str) -> None:
    r = fuzzed.runs[key]
    _no_traceback(r, key)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.peak_rss_mb < MAX_RSS_MB, f"{key} peaked at {r.peak_rss_mb:.0f} MB"
    assert r.elapsed_s < 30, r.elapsed_s


@pytest.mark.parametrize("key", ["main", "bombs"])
def test_every_mutant_is_a_frame_or_a_reject(fuzzed: Fuzzed, key: str) -> None:
    lib, names = getattr(fuzzed, key), fuzzed.names[key]
    result = json.loads(fuzzed.runs["scan" if key == "main" else "scan-bombs"].stdout)
    assert result["waiting"] == 0 and result["missing"] == 0
    assert result["files_seen"] == len(names)
    assert result["new"] + result["rejected"] == len(names)
    frames, rejects = _catalog(lib)
    assert not frames & rejects.keys(), sorted(frames & rejects.keys())[:5]
    unaccounted = [n for n in names if n not in frames and n not in rejects]
    assert unaccounted == [], unaccounted[:10]
    assert len(frames) == result["new"] and len(rejects) == result["rejected"]
    if key == "bombs":  # their headers are sound: the scan catalogs them without decompressing
        assert frames == set(names), rejects
        return
    # the mutations are neither all shrugged off nor all fatal
    assert 100 < len(rejects) < len(names) - 100, (len(frames), len(rejects))
    by_end = {n.split("_", 1)[1]: rejects.get(n, "a frame") for n in names if "_bomb_" in n}
    assert by_end == {
        "bomb_zeros_1GB.fits.gz": "not a FITS file: no SIMPLE card at the start",
        "bomb_lying_naxis.fits.gz": "data size in the header is implausible (more than 8 PB)",
        "bomb_trailing_2GB.fits.bz2": "a frame",
        "bomb_zeros_2GB.fits.bz2": "not a FITS file: no SIMPLE card at the start",
    }


def test_every_reject_reason_is_a_short_sentence(fuzzed: Fuzzed) -> None:
    _, rejects = _catalog(fuzzed.main)
    bad = [(p, r) for p, r in sorted(rejects.items())
           if not r or len(r) > 120 or "\n" in r or RAW_EXCEPTION.search(r) or not re.match(r"[a-z]|[A-Z]{2,} ", r)]
    assert bad == [], bad[:10]
    # what the scan returned is what the catalog keeps
    assert {x["path"]: x["reason"] for x in json.loads(fuzzed.runs["scan"].stdout)["rejects"]} == rejects


def test_cli_full_rescan_prints_each_reject_in_one_line(fuzzed: Fuzzed) -> None:
    r = fuzzed.run("cli-rescan", fuzzed.main, ["-m", "astrocat", "scan", "--full", "--quiet"], timeout=60)
    _no_traceback(r, "cli-rescan")
    assert r.peak_rss_mb < MAX_RSS_MB, f"cli-rescan peaked at {r.peak_rss_mb:.0f} MB"
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])  # 1: some files were rejected
    frames, rejects = _catalog(fuzzed.main)
    # nothing changed since the first scan: `--full` re-reads, and reports no change
    assert f"0 new, 0 changed, {len(frames)} unchanged, 0 missing" in r.stdout, r.stdout[:500]
    assert f"{len(rejects)} rejected" in r.stdout, r.stdout[:500]
    printed = [line for line in r.stdout.splitlines() if line.startswith("  rejected ")]
    assert len(printed) == 20, r.stdout  # the first 20, then a pointer to `astrocat list rejects`
    for line in printed:
        path, reason = line[len("  rejected "):].split(": ", 1)
        assert rejects[path] == reason, line


def _build(fuzzed: Fuzzed, key: str, lib, *flags: str, timeout: float = 60) -> tuple[Measured, dict]:
    r = fuzzed.run(key, lib, ["-m", "astrocat", "build", "--json", "--quiet", *flags], timeout=timeout)
    _no_traceback(r, key)
    assert r.peak_rss_mb < MAX_RSS_MB, f"{key} peaked at {r.peak_rss_mb:.0f} MB"
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])
    return r, json.loads(r.stdout)


def _lists_each_failed_preview(r: Measured, data: dict, lib) -> None:
    failures = data["thumbnail_failures"]
    # exit 1 exactly when some previews failed, and then each one is listed by its file
    assert r.returncode == (1 if failures else 0), (r.returncode, failures[:5], r.stderr[-2000:])
    fuzz_dir = str(lib.quarantine / "fuzz") + "/"
    for line in failures:
        assert line.startswith(fuzz_dir) and len(line) < len(fuzz_dir) + 300, line
        assert "\n" not in line and "Traceback" not in line, line


def test_build_without_thumbnails_completes(fuzzed: Fuzzed) -> None:
    r, data = _build(fuzzed, "build-plain", fuzzed.main, "--no-thumbnails")
    assert (data["thumbnail_failures"], data["thumbnails_rendered"]) == ([], 0)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (fuzzed.main.site / "index.html").is_file()


def test_build_with_thumbnails_lists_each_failed_preview(fuzzed: Fuzzed) -> None:
    test_build_without_thumbnails_completes(fuzzed)  # the order a user runs them in
    r, data = _build(fuzzed, "build-thumbs", fuzzed.main)
    _lists_each_failed_preview(r, data, fuzzed.main)
    assert data["thumbnails_rendered"] > 50, data["thumbnails_rendered"]


def test_build_previews_of_gzip_bombs_are_bounded(fuzzed: Fuzzed) -> None:
    r, data = _build(fuzzed, "build-bombs", fuzzed.bombs, timeout=15)
    _lists_each_failed_preview(r, data, fuzzed.bombs)
