"""`astrocat verify files|database` and `astrocat validate`: real files, real catalog, the real
CLI (in-process: these are output and exit-code checks)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from astrocat import catalog
from astrocat import library
from astrocat.config import Settings
from astrocat.ingest.scan import scan
from astrocat.checks.validate import header_issues, score
from conftest import invoke_cli
from organize_util import all_files, sha256, write_frame, write_frames


def _scan_and_organize(s: Settings) -> None:
    db = catalog.open_catalog(s.catalog)
    try:
        scan(db, s)
        assert library.organize(db, s).ok
    finally:
        db.conn.close()


@pytest.fixture
def filed(library: Settings) -> Settings:
    write_frames(library.quarantine / "n1", 5)
    _scan_and_organize(library)
    return library


def _tree(s: Settings) -> dict[str, tuple[str, int]]:
    return {str(f): (sha256(f), f.stat().st_mtime_ns) for f in all_files(s.quarantine, s.library)}


def _flip_byte_keep_stat(path: Path, offset: int = -10) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_verify_files_is_clean_on_a_fresh_library(filed: Settings) -> None:
    for args in (["verify", "files"], ["verify", "files", "--quick"]):
        r = invoke_cli(*args, "--json", cwd=filed.base_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert rep["clean"] and rep["checked"] == 5 and rep["ok"] == 5


def test_verify_files_reports_missing_changed_and_uncataloged_and_touches_nothing(filed: Settings) -> None:
    files = sorted(all_files(filed.library))
    _flip_byte_keep_stat(files[0])  # silent corruption: size and mtime as cataloged
    files[1].unlink()
    bigger = files[2]
    with open(bigger, "ab") as f:
        f.write(b"x")
    stray = filed.library / "stray" / "unknown.fits"
    write_frame(stray, 42)
    before = _tree(filed)
    con = sqlite3.connect(filed.catalog)
    rows_before = con.execute("SELECT * FROM frames ORDER BY id").fetchall()
    con.close()

    r = invoke_cli("verify", "files", "--json", cwd=filed.base_dir)
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    rel = lambda p: filed.rel(p)  # noqa: E731
    assert [p["path"] for p in rep["missing"]] == [rel(files[1])]
    assert {p["path"] for p in rep["changed"]} == {rel(files[0]), rel(bigger)}
    assert rep["uncataloged"] == [rel(stray)]
    assert rep["counts"] == {"missing": 1, "changed": 2, "unreadable": 0, "uncataloged": 1}
    assert not rep["clean"]

    # --quick cannot see the silent corruption (same size and mtime), only the others
    r = invoke_cli("verify", "files", "--quick", "--json", cwd=filed.base_dir)
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    assert {p["path"] for p in rep["changed"]} == {rel(bigger)}

    r = invoke_cli("verify", "files", cwd=filed.base_dir)
    assert r.returncode == 1
    assert f"missing: {rel(files[1])}: no such file" in r.stdout
    assert "sha256 differs" in r.stdout and f"uncataloged: {rel(stray)}" in r.stdout

    assert _tree(filed) == before, "verify never changes a file"
    con = sqlite3.connect(filed.catalog)
    assert con.execute("SELECT * FROM frames ORDER BY id").fetchall() == rows_before, "nor the catalog"
    con.close()


def test_verify_database_checks_integrity_and_invariants(filed: Settings) -> None:
    r = invoke_cli("verify", "database", "--json", cwd=filed.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["clean"] and set(rep["checks"].values()) == {"ok"} and rep["frames"] == 5

    files = sorted(all_files(filed.library))
    files[0].unlink()
    con = sqlite3.connect(filed.catalog)
    # the same file cataloged twice (relative and absolute spelling), and an unfinished move
    row = con.execute("SELECT * FROM frames WHERE path = ?", (filed.rel(files[1]),)).fetchone()
    cols = [d[1] for d in con.execute("PRAGMA table_info(frames)")]
    rec = dict(zip(cols, row))
    rec.pop("id")
    rec["path"] = str(files[1])
    con.execute(f"INSERT INTO frames ({', '.join(map(repr, rec))}) VALUES ({', '.join('?' * len(rec))})", list(rec.values()))
    con.execute("INSERT INTO moves (kind, method, src, dst, sha256, size, state, started_at) "
                "VALUES ('file', 'link', 'quarantine/a.fits', 'library/a.fits', 'x', 1, 'planned', 'now')")
    con.execute("UPDATE frames SET location = 'quarantine' WHERE path = ?", (filed.rel(files[2]),))
    con.commit()
    con.close()
    r = invoke_cli("verify", "database", "--json", cwd=filed.base_dir)
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    failed = {k for k, v in rep["checks"].items() if v == "failed"}
    # the row added twice also counts twice, against the rule: "counted" fails too
    assert failed == {"paths_exist", "one_row_per_path", "journal", "location", "counted"}
    assert any(filed.rel(files[0]) in p["detail"] for p in rep["problems"] if p["check"] == "paths_exist")


def test_verify_database_reports_a_damaged_catalog_file(filed: Settings) -> None:
    con = sqlite3.connect(filed.catalog)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    data = bytearray(filed.catalog.read_bytes())
    page = 4096
    for i in range(2 * page + 100, min(len(data), 6 * page)):
        data[i] = 0x5A  # scribble over b-tree pages past the header
    filed.catalog.write_bytes(bytes(data))
    r = invoke_cli("verify", "database", "--json", cwd=filed.base_dir)
    # the header page is intact, so the file opens: verify reports the damage (1), it is
    # not "catalog unusable" (4)
    assert r.returncode == 1, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["checks"]["integrity"] == "failed" and not rep["clean"]
    details = [p["detail"] for p in rep["problems"] if p["check"] == "integrity"]
    assert any("database disk image is malformed" in d for d in details), details


# --- validate ----------------------------------------------------------------------------------


def _astropy_frame(path: Path, **cards) -> None:
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    data = (np.arange(32 * 32, dtype=np.int32).reshape(32, 32) % 4000).astype(np.uint16)
    hdu = fits.PrimaryHDU(data)
    base = {"IMAGETYP": "LIGHT", "EXPTIME": 120.0, "DATE-OBS": "2024-11-01T21:00:00", "OBJECT": "M31",
            "FILTER": "Ha", "INSTRUME": "ZWO ASI2600MM Pro", "CCD-TEMP": -10.0, "XBINNING": 1, "YBINNING": 1}
    base.update(cards)
    for k, v in base.items():
        if v is not None:
            hdu.header[k] = v
    hdu.writeto(path, checksum=True)


def test_validate_verifies_checksum_and_datasum(library: Settings) -> None:
    q = library.quarantine
    good, bad_data, bad_header = q / "good.fits", q / "bad_data.fits", q / "bad_header.fits"
    for p in (good, bad_data, bad_header):
        _astropy_frame(p)
    db = catalog.open_catalog(library.catalog)
    scan(db, library)
    db.conn.close()
    _flip_byte_keep_stat(bad_data, -100)  # a pixel changes after the scan
    raw = bad_header.read_bytes()
    i = raw.index(b"OBJECT  = 'M31     '")
    bad_header.write_bytes(raw[:i] + b"OBJECT  = 'M32     '" + raw[i + 20:])

    r = invoke_cli("validate", "--json", cwd=library.base_dir)
    assert r.returncode == 1
    res = {Path(x["path"]).name: x for x in json.loads(r.stdout)}
    assert res["good.fits"]["checksum"] == "ok" and res["good.fits"]["score"] == 100 and res["good.fits"]["ok"]
    assert res["bad_data.fits"]["checksum"] == "failed" and not res["bad_data.fits"]["ok"]
    checks = {x["check"] for x in res["bad_data.fits"]["reasons"]}
    assert {"datasum", "checksum"} <= checks
    assert [x["check"] for x in res["bad_header.fits"]["reasons"]] == ["checksum"]
    assert res["bad_header.fits"]["score"] == 70

    r = invoke_cli("validate", "quarantine/good.fits", cwd=library.base_dir)
    assert r.returncode == 0 and "good.fits" in r.stdout and "bad_data" not in r.stdout
    r = invoke_cli("validate", "quarantine/nothing-here", cwd=library.base_dir)
    assert r.returncode == 2 and "no cataloged frames" in r.stderr


def test_validate_header_completeness_by_frame_type(library: Settings) -> None:
    q = library.quarantine
    write_frame(q / "mono_no_filter.fits", 1, FILTER=None)
    write_frame(q / "osc_no_filter.fits", 2, FILTER=None, BAYERPAT="RGGB")
    write_frame(q / "light_no_target.fits", 3, OBJECT=None)
    write_frame(q / "dark_no_exposure.fits", 4, IMAGETYP="DARK", EXPTIME=None, OBJECT=None, FILTER=None)
    write_frame(q / "complete.fits", 5)
    db = catalog.open_catalog(library.catalog)
    scan(db, library)
    db.conn.close()
    r = invoke_cli("validate", "--json", cwd=library.base_dir)
    assert r.returncode == 1
    res = {Path(x["path"]).name: x for x in json.loads(r.stdout)}
    msgs = {k: [x["message"] for x in v["reasons"] if x["severity"] == "error"] for k, v in res.items()}
    assert msgs["mono_no_filter.fits"] == ["light frame without filter (FILTER) (a mono camera: no BAYERPAT)"]
    assert msgs["osc_no_filter.fits"] == []
    assert msgs["light_no_target.fits"] == ["light frame without target (OBJECT)"]
    assert msgs["dark_no_exposure.fits"] == ["dark frame without exposure time (EXPTIME/EXPOSURE)"]
    assert res["complete.fits"]["score"] == 100 and res["complete.fits"]["ok"]
    r = invoke_cli("validate", "--problems", "--json", cwd=library.base_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    shown = {Path(x["path"]).name for x in json.loads(r.stdout)}
    assert shown == {k for k, v in res.items() if v["reasons"]}  # errors or warnings
    assert {"mono_no_filter.fits", "light_no_target.fits", "dark_no_exposure.fits"} <= shown
    assert "complete.fits" not in shown


def test_header_rules_and_score_are_pure() -> None:
    light = {"frame_type": "light", "exposure_s": 60.0, "date_obs": "x", "target": "M31", "filter": "L",
             "camera": "c", "ccd_temp_c": -10, "binning": "1x1"}
    assert header_issues(light) == [] and score([]) == 100
    issues = header_issues({**light, "filter": None, "camera": None, "problems": ["odd card"]})
    assert [i["severity"] for i in issues] == ["error", "warning", "warning"]
    assert score(issues) == 60
    assert header_issues({**light, "exposure_s": 0.0})[0]["message"] == "exposure time 0 s"
    assert header_issues({"frame_type": "unknown"})[0]["check"] == "frame_type"
    assert score([{"severity": "error"}] * 5) == 0
