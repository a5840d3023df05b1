"""`astrocat scan` on real files in a real library, through the real CLI: happy and bad paths.

The CLI runs in-process (`invoke_cli`) except where a second process matters (the lock)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from astrocat.demo.fitswrite import Raw, star_field, write_fits
from conftest import invoke_cli, run_cli


def light(path: Path, obj: str = "M 31", flt: str = "Ha", date: str = "2024-11-01T21:00:00.000",
          exptime: float = 300.0, camera: str = "ZWO ASI2600MM Pro", scope: str = "Star71", seed: int = 0,
          extra: list | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = star_field(np.random.default_rng(seed), 32, 24, [(10, 10, 5000)])
    cards = [("IMAGETYP", "LIGHT", ""), ("OBJECT", obj, ""), ("FILTER", flt, ""), ("EXPTIME", exptime, ""),
             ("DATE-OBS", date, ""), ("INSTRUME", camera, ""), ("TELESCOP", scope, ""), *(extra or [])]
    write_fits(path, cards, data)
    return path


def scan_json(lib, *paths: str, code: int = 0) -> dict:
    """`astrocat scan --json`: its report, after checking the exit code (1: files rejected)."""
    r = invoke_cli("scan", "--json", *paths, cwd=lib.base_dir)
    assert r.returncode == code, r.stdout + r.stderr
    return json.loads(r.stdout)


def cli_json(lib, *args: str):
    r = invoke_cli(*args, "--json", cwd=lib.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def rows(lib, sql: str, *params):
    con = sqlite3.connect(lib.catalog)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_scan_catalogs_and_is_incremental(library):
    q = library.quarantine
    for i in range(5):
        light(q / "night1" / f"m31_{i:03d}.fits", seed=i, date=f"2024-11-01T21:{i:02d}:00.000")
    out = scan_json(library)
    assert out["new"] == 5 and out["rejected"] == 0
    ids = rows(library, "SELECT DISTINCT session_id FROM frames")
    assert ids == [("2024-11-01_ASI2600MM_Star71",)]

    # a file whose size and mtime are unchanged is not opened: swap its content behind
    # the scanner's back (same size, same mtime) and the catalog keeps the old hash
    victim = q / "night1" / "m31_000.fits"
    st = victim.stat()
    old_sha = rows(library, "SELECT sha256 FROM frames WHERE path LIKE '%m31_000.fits'")[0][0]
    blob = bytearray(victim.read_bytes())
    blob[-10] ^= 0xFF
    victim.write_bytes(bytes(blob))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = scan_json(library)
    assert (out["new"], out["changed"], out["unchanged"]) == (0, 0, 5)
    assert rows(library, "SELECT sha256 FROM frames WHERE path LIKE '%m31_000.fits'")[0][0] == old_sha

    # touching it makes it changed: re-read and re-hashed
    os.utime(victim, (st.st_atime + 10, st.st_mtime + 10))
    out = scan_json(library)
    assert out["changed"] == 1 and out["unchanged"] == 4
    new_sha = rows(library, "SELECT sha256 FROM frames WHERE path LIKE '%m31_000.fits'")[0][0]
    assert new_sha == hashlib.sha256(victim.read_bytes()).hexdigest() != old_sha


def test_session_id_stable_when_more_frames_arrive(library):
    q = library.quarantine
    light(q / "a.fits", date="2024-11-01T20:00:00.000")
    scan_json(library)
    first = rows(library, "SELECT id, frames FROM sessions")
    light(q / "b.fits", date="2024-11-02T03:00:00.000", seed=1)  # same night, after midnight
    scan_json(library)
    second = rows(library, "SELECT id, frames FROM sessions")
    assert first == [("2024-11-01_ASI2600MM_Star71", 1)]
    assert second == [("2024-11-01_ASI2600MM_Star71", 2)]


def test_duplicates_detected_and_listed(library):
    q = library.quarantine
    a = light(q / "one" / "x.fits")
    (q / "two").mkdir()
    (q / "two" / "copy of x.fits").write_bytes(a.read_bytes())
    out = scan_json(library)
    assert out["duplicates"] == 2
    dup = cli_json(library, "list", "duplicates")
    assert len(dup) == 1 and dup[0]["copies"] == 2
    assert dup[0]["paths"] == ["quarantine/one/x.fits", "quarantine/two/copy of x.fits"]


def test_missing_files_are_marked_not_deleted(library):
    p = light(library.quarantine / "gone.fits")
    scan_json(library)
    p.unlink()
    out = scan_json(library)
    assert out["missing"] == 1
    assert rows(library, "SELECT location FROM frames") == [("missing",)]
    assert cli_json(library, "list", "files") == []


BAD = {
    "zero.fits": b"",
    "random.fits": os.urandom(5000),
    "text.fit": b"hello, this is not FITS\n" * 200,
}


def test_bad_inputs_are_rejected_and_run_goes_on(library):
    q = library.quarantine
    good = light(q / "good.fits")
    for name, blob in BAD.items():
        (q / name).write_bytes(blob)
    # header truncated (no END) and data truncated
    full = good.read_bytes()
    (q / "trunc_header.fits").write_bytes(full[:1600])
    (q / "trunc_data.fits").write_bytes(full[: 2880 + 100])
    # a directory named x.fits (walked into, not read as a file)
    (q / "x.fits").mkdir()
    light(q / "x.fits" / "inside.fits", seed=3)
    # a symlink loop and a self-referencing link
    os.symlink(q, q / "loop")
    os.symlink(q / "self.fits", q / "self.fits")
    # awkward names
    light(q / "with space" / " leading space.fits", seed=4)
    light(q / "ünïcødé 星雲" / "M31 été.FITS", seed=5)
    out = scan_json(library, code=1)  # 1: some files were rejected
    reasons = {Path(r["path"]).name: r["reason"] for r in out["rejects"]}
    assert reasons["zero.fits"] == "empty file (0 bytes)"
    assert "not a FITS file" in reasons["random.fits"]
    assert "not a FITS file" in reasons["text.fit"]
    assert "header truncated" in reasons["trunc_header.fits"]
    assert "data truncated" in reasons["trunc_data.fits"]
    assert "symbolic link" in reasons["self.fits"]
    assert out["new"] == 4  # good, inside x.fits/, leading space, unicode
    paths = {r[0] for r in rows(library, "SELECT path FROM frames")}
    assert "quarantine/with space/ leading space.fits" in paths
    assert "quarantine/ünïcødé 星雲/M31 été.FITS" in paths
    assert not any(p.startswith("quarantine/loop/") for p in paths)
    assert {Path(x["path"]).name for x in cli_json(library, "list", "rejects")} == set(reasons)

    # rejects are not re-read: an unchanged run rejects nothing new and exits 0
    out = scan_json(library)
    assert out["rejected"] == 0 and out["new"] == 0

    # nothing was modified or deleted
    assert (q / "zero.fits").read_bytes() == b""
    assert (q / "random.fits").read_bytes() == BAD["random.fits"]


def test_junk_header_values_are_cataloged_best_effort(library):
    p = library.quarantine / "junk.fits"
    write_fits(p, [("IMAGETYP", "LIGHT", ""), ("OBJECT", "M 42", ""), ("EXPTIME", "fast", ""),
                   ("DATE-OBS", Raw("yesterday"), ""), ("GAIN", "'0,0,0,0'", ""), ("SITELAT", "north", "")],
               star_field(np.random.default_rng(1), 16, 16))
    out = scan_json(library)
    assert out["new"] == 1
    (f,) = cli_json(library, "list", "files")
    assert f["target"] == "M42" and f["exposure_s"] is None and f["date_obs"] is None
    assert any("not a date" in p for p in f["problems"])
    assert any("not a number" in p for p in f["problems"])


def test_scan_explicit_path_and_usage_errors(library, tmp_path):
    ext = tmp_path / "usb"
    light(ext / "a.fits")
    out = scan_json(library, str(ext))
    assert out["new"] == 1
    (f,) = cli_json(library, "list", "files")
    assert f["location"] == "external" and f["path"] == str(ext / "a.fits")
    r = invoke_cli("scan", str(tmp_path / "nope"), cwd=library.base_dir)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_scan_large_file_hash_streams(library):
    """A 40 MB frame is hashed correctly (streamed in chunks)."""
    data = np.random.default_rng(0).integers(0, 65535, (2000, 10000), dtype=np.uint16)
    p = library.quarantine / "big.fits"
    write_fits(p, [("IMAGETYP", "LIGHT", ""), ("OBJECT", "M31", ""), ("EXPTIME", 1.0, "")], data)
    scan_json(library)
    assert rows(library, "SELECT sha256 FROM frames")[0][0] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_frames_json_has_design_fields(library):
    light(library.quarantine / "a.fits")
    scan_json(library)
    (f,) = cli_json(library, "list", "files")
    design = ("id path size mtime sha256 frame_type is_master object target filter exposure_s date_obs "
              "night session_id camera telescope focal_length_mm gain offset ccd_temp_c set_temp_c binning "
              "width height bayer_pattern readout_mode ra_deg dec_deg site_lat site_lon software location").split()
    assert set(design) <= set(f)
    assert f["date_obs"] == "2024-11-01T21:00:00.000Z" and f["night"] == "2024-11-01"
    assert f["is_master"] is False and f["width"] == 32 and f["height"] == 24


def test_second_writer_is_refused_with_clear_message(library):
    from astrocat.lock import catalog_lock

    light(library.quarantine / "a.fits")
    with catalog_lock(library.catalog, "test holder"):
        # a real second process: the lock is between processes
        r = run_cli("scan", cwd=library.base_dir, env={"ASTROCAT_LOCK_WAIT_S": "0.5"})
    assert r.returncode == 3
    assert "another astrocat process" in r.stderr and "test holder" in r.stderr


def test_full_rescan_applies_new_aliases(library):
    light(library.quarantine / "a.fits", scope="EQMOD HEQ5/6")
    scan_json(library)
    assert rows(library, "SELECT telescope, mount FROM frames") == [(None, "EQMOD HEQ5/6")]
    cfg = library.config_path
    cfg.write_text(cfg.read_text().replace('[aliases.telescope]\n', '[aliases.telescope]\n"EQMOD HEQ5/6" = "Esprit 100"\n'))
    out = scan_json(library)
    assert out["unchanged"] == 1  # a plain scan does not reopen the file
    assert rows(library, "SELECT telescope FROM frames") == [(None,)]
    assert scan_json(library, "--full")["changed"] == 1
    assert rows(library, "SELECT telescope, session_id FROM frames") == [("Esprit 100", "2024-11-01_ASI2600MM_Esprit100")]
    assert rows(library, "SELECT id FROM sessions") == [("2024-11-01_ASI2600MM_Esprit100",)]


def test_set_aside_duplicates_are_listed_but_not_counted(library):
    """organize sets a copy of library content aside in quarantine/_duplicates: it stays
    cataloged (and listed as a duplicate) but integration is counted once."""
    a = light(library.quarantine / "n1" / "m31_001.fits")
    assert invoke_cli("sync", cwd=library.base_dir).returncode == 0
    (library.quarantine / "n2").mkdir()
    filed = library.base_dir / rows(library, "SELECT path FROM frames")[0][0]
    assert not a.exists() and filed.is_file()
    (library.quarantine / "n2" / "again.fits").write_bytes(filed.read_bytes())
    rep = cli_json(library, "sync")
    assert len(rep["organize"]["duplicates"]) == 1
    locs = sorted(rows(library, "SELECT location, path FROM frames"))
    assert [loc for loc, _ in locs] == ["duplicate", "library"]
    assert locs[0][1] == "quarantine/_duplicates/n2/again.fits"
    summary = cli_json(library, "stats", "summary")
    assert summary["light_frames"] == 1 and summary["integration_s"] == 300.0
    assert rows(library, "SELECT frames, integration_s FROM sessions") == [(1, 300.0)]
    dup = cli_json(library, "list", "duplicates")
    assert [(d["copies"], d["paths"]) for d in dup] == [(2, ["library/2024/2024-11-01_M31/Light/M31_Ha_300s_0001.fits",
                                                             "quarantine/_duplicates/n2/again.fits"])]
    # a rescan keeps the location
    scan_json(library)
    assert sorted(r[0] for r in rows(library, "SELECT location FROM frames")) == ["duplicate", "library"]
