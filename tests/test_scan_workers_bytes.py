"""Large frames are read in worker processes too: parallelism follows the bytes to hash,
not only the number of files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astrocat import catalog
from astrocat.demo.fitswrite import write_fits
from astrocat.ingest.scan import POOL_CHUNK, POOL_MIN_BYTES, POOL_MIN_FILES, _chunksize

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
from astrocat.ingest.scan import POOL_MIN_BYTES, _workers
print(_workers(20, 20 * 52_000_000), _workers(3, POOL_MIN_BYTES), _workers(3, POOL_MIN_BYTES - 1),
      _workers(1, 10 * POOL_MIN_BYTES))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only")
def test_twenty_large_frames_get_workers_a_few_small_files_do_not() -> None:
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "ASTROCAT_SCAN_WORKERS": "2"})
    assert r.returncode == 0, r.stderr
    # 1 GB in 20 files and 64 MB in 3: two workers; 3 files under 64 MB, or a single file: none
    assert r.stdout.split() == ["2", "2", "0", "0"]


def test_large_frames_are_handed_out_one_by_one_small_ones_in_chunks() -> None:
    assert _chunksize(20, 20 * 52_000_000) == 1
    assert _chunksize(4, 4 * 6_000_000) == 2  # 12 MB a pair stays under the 16 MB a chunk holds
    assert _chunksize(100_000, 100_000 * 11_500) == POOL_CHUNK
    assert POOL_MIN_FILES == 200 and POOL_MIN_BYTES == 64 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only")
def test_a_pooled_scan_of_large_frames_catalogs_each_with_its_own_sha256(library, tmp_path: Path) -> None:
    folder = library.quarantine / "big"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):  # 3 x 23 MB: over POOL_MIN_BYTES, so the scan forks its workers
        cards = [("IMAGETYP", "LIGHT", ""), ("EXPTIME", 300.0, ""), ("DATE-OBS", f"2024-11-01T21:0{i}:00", ""),
                 ("OBJECT", "M31", ""), ("FILTER", "Ha", ""), ("INSTRUME", "Cam", "")]
        write_fits(folder / f"big_{i}.fits", cards, rng.integers(0, 65535, (3400, 3400), dtype=np.uint16))
    expected = {f"{library.rel(p)}": hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert sum(p.stat().st_size for p in folder.iterdir()) >= POOL_MIN_BYTES
    r = subprocess.run([sys.executable, "-m", "astrocat", "scan", "--json"], cwd=library.base_dir,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "ASTROCAT_SCAN_WORKERS": "2"})
    assert r.returncode == 0, r.stderr
    db = catalog.open_catalog(library.catalog)
    try:
        got = dict(db.execute("SELECT path, sha256 FROM frames").fetchall())
    finally:
        db.conn.close()
    assert got == expected


def test_walked_paths_get_the_same_catalog_path_without_abspath(demo_copy) -> None:
    from astrocat.config import load
    from astrocat.ingest.survey import PathForms
    from astrocat.ingest.walk import walk

    settings = load(demo_copy / "astrocat.toml")
    forms = PathForms(settings)
    # the roots as a user may spell them: relative, with a trailing slash, with `..`
    roots = [Path(os.path.relpath(settings.library, Path.cwd())), Path(f"{settings.quarantine}/"),
             settings.library / ".." / "library"]
    entries = list(walk(roots))
    assert len(entries) > 50
    for e in entries:
        assert forms.rel_walked(e.path) == forms.rel(e.path) == settings.rel(e.path), e.path
