"""Scan's fast paths give what the plain rules give: worker processes, string path
forms, the card parser's common case, the END search; and a rescan opens nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astrocat import catalog
from astrocat.demo.fitswrite import write_fits
from astrocat.ingest.headers import HeaderError, header_from_text, read_header
from astrocat.ingest.scan import POOL_MIN_FILES, PathForms, scan
from conftest import backdate

ROOT = Path(__file__).resolve().parent.parent


def _catalog(db_path: Path) -> dict[str, list[dict]]:
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        return {
            "frames": [{k: r[k] for k in r.keys() if k != "scanned_at"} for r in db.execute("SELECT * FROM frames ORDER BY id")],
            "rejects": [{k: r[k] for k in r.keys() if k != "scanned_at"} for r in db.execute("SELECT * FROM rejects ORDER BY path")],
            "sessions": [dict(r) for r in db.execute("SELECT * FROM sessions ORDER BY id")],
            "targets": [dict(r) for r in db.execute("SELECT * FROM targets ORDER BY name")],
        }
    finally:
        db.close()


def test_scan_with_worker_processes_equals_scan_in_one_process(demo_copy: Path, cli) -> None:
    quarantine = demo_copy / "quarantine"
    bad = quarantine / "bad"
    bad.mkdir()
    (bad / "notes.fits").write_text("not a FITS file\n")
    a_frame = next((demo_copy / "library").rglob("*.fits"))  # the demo filed every frame
    (bad / "truncated.fits").write_bytes(a_frame.read_bytes()[:4000])
    backdate(*bad.iterdir())  # the demo library reads only files settled for settle_s
    n_files = sum(1 for root in ("quarantine", "library") for _ in (demo_copy / root).rglob("*.fit*"))
    assert n_files >= POOL_MIN_FILES  # else both runs would read in one process

    results = {}
    for workers in ("0", "2"):
        for f in demo_copy.glob("catalog.db*"):
            f.unlink()
        # a real process: scan forks its workers only from a single-threaded process
        r = cli("scan", "--json", cwd=demo_copy, env={"ASTROCAT_SCAN_WORKERS": workers})
        assert r.returncode == 1, r.stdout + r.stderr  # 1: some files were rejected
        summary = json.loads(r.stdout)
        summary.pop("elapsed_s")
        results[workers] = (summary, _catalog(demo_copy / "catalog.db"))

    serial, pooled = results["0"], results["2"]
    assert serial[0]["new"] == n_files - 2 and serial[0]["rejected"] == 2
    assert {r["path"] for r in serial[1]["rejects"]} == {"quarantine/bad/notes.fits", "quarantine/bad/truncated.fits"}
    assert pooled == serial  # same rows, same ids (same order), same sessions and targets


def test_path_forms_match_settings(library, tmp_path: Path, monkeypatch) -> None:
    base = library.base_dir
    outside = dataclasses.replace(library, quarantine=tmp_path / "inbox")  # a quarantine outside the base folder
    monkeypatch.chdir(base)
    paths = [
        base / "quarantine" / "a.fits", base / "quarantine", base, base / "library" / "2024" / "x.fit",
        base / "processing" / "p.fits", base / "quarantine2" / "z.fits", base / "notes" / "n.fits",
        tmp_path / "inbox" / "i.fits", tmp_path / "elsewhere" / "w.fits", Path("/"),
        f"{base}/./quarantine/../library/q.fits", "quarantine/relative.fits", f"{base}//library//d.fits",
    ]
    for settings in (library, outside):
        forms = PathForms(settings)
        for p in paths:
            assert forms.rel(str(p)) == settings.rel(p), p
            assert forms.location(str(p)) == settings.location_of(p), p


def test_card_parser_rules() -> None:
    h = header_from_text("\n".join([
        "SIMPLE  =                    T",
        "OBJECT  = 'M 31    '           / the target",
        "OBSERVER= 'O''Brien' / quotes doubled",
        "NOTE    = 'never closed",
        "DATE-OBS= 2020-01-21T20:29:08.357 / N.I.N.A. 1.9: no quotes",
        "EXPTIME =                 30.0 / [s]",
        "GAIN    =                  120",
        "BSCALE  =              1.0D+00",
        "BLANK   =                      / no value",
        "LONGSTR = 'abc&'",
        "CONTINUE  'def'",
        "HIERARCH ESO DET DIT = 2.5 / a hierarch card",
        "BAD KEY = 1",
        "FOCUS   =5",
        "COMMENT a comment",
        "",
        "GAIN    =                  121",
        "END",
        "AFTER   = 'not read'",
    ]))
    v = h.values
    assert v["SIMPLE"] is True
    assert (v["OBJECT"], h.comments["OBJECT"]) == ("M 31", "the target")
    assert v["OBSERVER"] == "O'Brien"
    assert v["NOTE"] == "never closed"
    assert v["DATE-OBS"] == "2020-01-21T20:29:08.357"
    assert v["EXPTIME"] == 30.0 and isinstance(v["EXPTIME"], float)
    assert v["GAIN"] == 120 and h.duplicates["GAIN"] == [120, 121]
    assert v["BSCALE"] == 1.0
    assert v["BLANK"] is None
    assert v["LONGSTR"] == "abcdef"
    assert v["ESO DET DIT"] == 2.5
    assert v["BAD KEY"] == 1 and "non-standard keyword 'BAD KEY'" in h.problems
    assert v["FOCUS"] == 5 and any("FOCUS" in p and "column 9" in p for p in h.problems)
    assert "COMMENT a comment" in h.history
    assert "AFTER" not in v


def test_multi_block_header_and_data_check(tmp_path: Path) -> None:
    # 50 cards: the header spans two blocks; EXTEND and ENDTIME hold 'END' but are not the END card
    cards = [("ENDTIME", "2024-10-03T21:12:00", "")] + [(f"KEY{i}", i, "") for i in range(45)]
    data = np.zeros((8, 10), dtype=np.uint16)
    path = tmp_path / "two-blocks.fits"
    write_fits(path, cards, data)
    raw = path.read_bytes()
    assert len(raw) == 3 * 2880
    h = read_header(path).header
    assert h.values["KEY44"] == 44 and h.values["ENDTIME"] == "2024-10-03T21:12:00"
    short = tmp_path / "short.fits"
    short.write_bytes(raw[: 2 * 2880 + 100])
    with pytest.raises(HeaderError, match="data truncated"):
        read_header(short)


def test_rescan_never_opens_unchanged_files(library) -> None:
    q = library.quarantine
    rng = np.random.default_rng(1)
    for i in range(3):
        cards = [("IMAGETYP", "LIGHT", ""), ("EXPTIME", 60.0, ""), ("OBJECT", "M 31", ""),
                 ("DATE-OBS", f"2024-10-03T21:1{i}:00", "")]
        write_fits(q / f"light_{i}.fits", cards, rng.integers(0, 60000, (6, 8), dtype=np.uint16))
    db = catalog.open_catalog(library.catalog)
    try:
        first = scan(db, library)
        assert first.new == 3
        target = q / "light_1.fits"
        before = db.execute("SELECT sha256 FROM frames WHERE path = 'quarantine/light_1.fits'").fetchone()[0]
        st = target.stat()
        # same size and mtime, other content: a rescan must not open it (so cannot notice)
        blob = bytearray(target.read_bytes())
        blob[-1] ^= 0xFF
        target.write_bytes(bytes(blob))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        again = scan(db, library)
        assert (again.new, again.changed, again.unchanged) == (0, 0, 3)
        assert db.execute("SELECT sha256 FROM frames WHERE path = 'quarantine/light_1.fits'").fetchone()[0] == before
        # a new mtime: now it is read and hashed again
        os.utime(target, (st.st_atime + 10, st.st_mtime + 10))
        third = scan(db, library)
        assert (third.changed, third.unchanged) == (1, 2)
        assert db.execute("SELECT sha256 FROM frames WHERE path = 'quarantine/light_1.fits'").fetchone()[0] != before
    finally:
        db.conn.close()


WORKERS_PROBE = """
import sys, threading
from astrocat.ingest.scan import POOL_MIN_FILES, _workers
few, many = _workers(POOL_MIN_FILES - 1), _workers(POOL_MIN_FILES)
stop = threading.Event()
t = threading.Thread(target=stop.wait)
t.start()
threaded = _workers(POOL_MIN_FILES)
stop.set()
t.join()
print(few, many, threaded)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only")
def test_worker_count_rules() -> None:
    def probe(workers: str) -> list[int]:
        r = subprocess.run([sys.executable, "-c", WORKERS_PROBE], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "ASTROCAT_SCAN_WORKERS": workers})
        assert r.returncode == 0, r.stderr
        return [int(x) for x in r.stdout.split()]

    # too few files: none; enough: as asked; another thread running: none (fork is unsafe then)
    assert probe("3") == [0, 3, 0]
    assert probe("0") == [0, 0, 0]


STARTUP_PROBE = """
import sys
import astrocat.cli, astrocat.ingest.scan
heavy = sorted(m for m in ("numpy", "pandas", "astropy", "xml.etree.ElementTree") if m in sys.modules)
import numpy, sqlite_utils
db = sqlite_utils.Database(memory=True)
db["t"].insert({"a": 1, "b": numpy.float64(2.5).item()})
print(heavy, list(db["t"].rows))
"""


def test_cli_start_up_imports_no_heavy_modules_and_numpy_still_works() -> None:
    # every command pays for what astrocat.cli imports; numpy alone is ~0.1 s (docs/performance.md)
    r = subprocess.run([sys.executable, "-c", STARTUP_PROBE], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] [{'a': 1, 'b': 2.5}]"
