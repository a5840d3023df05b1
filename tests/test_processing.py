"""Processing sessions end to end: a library whose right answer is known by construction
(real FITS written by astropy, scanned and organized), matched, linked, explained, deleted."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from conftest import invoke_cli
from organize_util import set_pattern

CAM, SCOPE = "ZWO ASI2600MM Pro", "Esprit 100"
COMMON = {"INSTRUME": CAM, "XBINNING": 1, "YBINNING": 1, "GAIN": 100, "OFFSET": 50, "READOUTM": "Low Noise"}


def fits_frame(path: Path, seq: int, **cards) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = fits.Header()
    for k, v in {**COMMON, **cards}.items():
        if v is not None:
            header[k] = v
    data = (np.arange(64, dtype=np.uint16).reshape(8, 8) + seq * 7).astype(np.uint16)
    fits.PrimaryHDU(data, header).writeto(path)


def light(seq: int, filt: str, minute: int) -> dict:
    return {"IMAGETYP": "LIGHT", "OBJECT": "M31", "FILTER": filt, "EXPTIME": 300.0, "TELESCOP": SCOPE,
            "CCD-TEMP": -10.0, "SET-TEMP": -10.0, "ROTATOR": 0.5,
            "DATE-OBS": f"2024-01-05T21:{minute:02d}:00"}


def dark(**kw) -> dict:
    return {"IMAGETYP": "DARK", "EXPTIME": 300.0, "CCD-TEMP": -10.0, "SET-TEMP": -10.0,
            "DATE-OBS": "2024-01-06T10:00:00", **kw}


def flat(**kw) -> dict:
    return {"IMAGETYP": "FLAT", "FILTER": "Ha", "EXPTIME": 2.5, "TELESCOP": SCOPE, "ROTATOR": 0.5,
            "DATE-OBS": "2024-01-05T17:00:00", **kw}


# file name -> cards. Names say what each frame is, so a failure reads plainly.
FRAMES = {
    "light_ha_1.fits": light(1, "Ha", 0), "light_ha_2.fits": light(2, "Ha", 6), "light_ha_3.fits": light(3, "Ha", 12),
    "light_oiii_1.fits": light(4, "OIII", 20), "light_oiii_2.fits": light(5, "OIII", 26),
    "dark_good_1.fits": dark(), "dark_good_2.fits": dark(), "dark_good_3.fits": dark(),
    "dark_bad_marked.fits": dark(),
    "dark_warm.fits": dark(**{"CCD-TEMP": -5.0, "SET-TEMP": -5.0}),
    "dark_gain200.fits": dark(GAIN=200),
    "dark_offset30.fits": dark(OFFSET=30),
    "dark_120s.fits": dark(EXPTIME=120.0),
    "dark_bin2.fits": dark(XBINNING=2, YBINNING=2),
    "dark_highgain.fits": dark(READOUTM="High Gain"),
    "flat_ha_1.fits": flat(), "flat_ha_2.fits": flat(ROTATOR=359.5),
    "flat_sii.fits": flat(FILTER="SII"),
    "flat_redcat.fits": flat(TELESCOP="RedCat 51"),
    "flat_rot92.fits": flat(ROTATOR=92.0),
    "flat_far_night.fits": flat(**{"DATE-OBS": "2024-03-01T17:00:00"}),
    # a PixInsight-style master bias: no GAIN, no CCD-TEMP
    "masterBias_pi.fits": {"IMAGETYP": "Master Bias", "EXPTIME": 0.0, "GAIN": None,
                           "DATE-OBS": "2024-01-06T11:00:00"},
}
GOOD_DARKS = {"dark_good_1.fits", "dark_good_2.fits", "dark_good_3.fits"}
DECOY_DARKS = {
    "dark_warm.fits": "temperature -5.0 C vs light -10.0 C exceeds 2 C",
    "dark_gain200.fits": "gain 200 vs light 100",
    "dark_offset30.fits": "offset 30 vs light 50",
    "dark_120s.fits": "exposure 120 s vs light 300 s differs by more than 0.5 %",
    "dark_bin2.fits": "binning 2x2 vs light 1x1",
    "dark_highgain.fits": "readout mode High Gain vs light Low Noise",
    "dark_bad_marked.fits": "marked bad",
}
DECOY_FLATS = {
    "flat_sii.fits": "filter SII vs light Ha",
    "flat_redcat.fits": "telescope RedCat 51 vs light Esprit 100",
    "flat_rot92.fits": "rotator 92.0 deg vs light 0.5 deg exceeds 2 deg",
    "flat_far_night.fits": "night 2024-03-01 vs light 2024-01-05 is 56 days apart, more than 30",
}


def run(config: Path, *args: str):
    return invoke_cli(*args, env={"ASTROCAT_CONFIG": str(config)})


@pytest.fixture
def built(library):
    """The library above, scanned and organized; one dark marked bad with `astrocat frame
    mark-bad` (a correction: it survives rescans)."""
    s = library
    for i, (name, cards) in enumerate(FRAMES.items()):
        fits_frame(s.quarantine / "capture" / name, i, **cards)
    for args in (("scan",), ("organize",)):
        r = run(s.config_path, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    con = sqlite3.connect(s.catalog)
    (bad_id,) = con.execute("SELECT id FROM frames WHERE original_name = 'dark_bad_marked'").fetchone()
    con.close()
    r = run(s.config_path, "frame", "mark-bad", str(bad_id), "--reason", "stray light")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(s.config_path, "scan", "--full")  # the mark survives a full rescan
    assert r.returncode == 0, r.stdout + r.stderr
    return s


def frames_by_name(s) -> dict[str, dict]:
    con = sqlite3.connect(s.catalog)
    con.row_factory = sqlite3.Row
    rows = {r["original_name"] + ".fits": dict(r) for r in con.execute("SELECT * FROM frames")}
    con.close()
    return rows


def test_create_links_exactly_the_right_frames_and_explains_every_decoy(built) -> None:
    s = built
    by_name = frames_by_name(s)
    assert by_name["flat_rot92.fits"]["rotator_deg"] == 92.0  # ROTATOR read by scan
    assert all(r["location"] == "library" for r in by_name.values())
    r = run(s.config_path, "processing", "create", "M31 2024", "--target", "M 31", "--json")
    assert r.returncode == 1, r.stderr  # created, but the OIII group lacks flats
    d = json.loads(r.stdout)
    assert d["id"] == "m31-2024" and d["lights"] == 5
    note = (s.notes / "Processing_Sessions" / "m31-2024.md").read_text(encoding="utf-8")
    assert "[[M31]]" in note and "processing_id: m31-2024" in note
    folder = s.processing / "m31-2024"
    for sub in ("lights/Ha", "lights/OIII", "calibration/darks", "calibration/flats", "calibration/bias",
                "calibration/darkflats", "intermediate", "final"):
        assert (folder / sub).is_dir(), sub

    def linked(sub: str) -> set[str]:
        out = set()
        for p in (folder / sub).iterdir():
            assert p.is_symlink()
            real = Path(os.path.realpath(p))
            assert real.is_relative_to(s.library.resolve()), real  # a library frame
            out.add(next(n for n, row in by_name.items() if s.abs(row["path"]).resolve() == real))
        return out

    assert linked("lights/Ha") == {"light_ha_1.fits", "light_ha_2.fits", "light_ha_3.fits"}
    assert linked("lights/OIII") == {"light_oiii_1.fits", "light_oiii_2.fits"}
    assert linked("calibration/darks") == GOOD_DARKS
    assert linked("calibration/flats/Ha") == {"flat_ha_1.fits", "flat_ha_2.fits"}
    assert linked("calibration/bias") == set()
    # siril/<filter>/ is a working folder for Siril's standard scripts: links to the folders above
    ha = folder / "siril" / "Ha"
    assert sorted(p.name for p in ha.iterdir()) == ["biases", "darks", "flats", "lights"]
    for name, real in (("lights", "lights/Ha"), ("darks", "calibration/darks"), ("flats", "calibration/flats/Ha"),
                       ("biases", "calibration/bias")):
        assert (ha / name).is_symlink() and not os.path.isabs(os.readlink(ha / name))
        assert (ha / name).resolve() == (folder / real).resolve()
    assert sorted(os.listdir(ha / "flats")) == sorted(os.listdir(folder / "calibration/flats/Ha"))

    groups = {g["filter"]: g for g in d["groups"]}
    ha = groups["Ha"]["kinds"]
    id_name = {row["id"]: n for n, row in by_name.items()}

    def reasons(kind_match: dict) -> dict[str, list[str]]:
        out = {}
        for v in kind_match["verdicts"]:
            for fid in v["frame_ids"]:
                out[id_name[fid]] = v["reasons"]
        return out

    dark_reasons = reasons(ha["dark"])
    for name, reason in DECOY_DARKS.items():
        assert dark_reasons[name] == [reason], name
    flat_reasons = reasons(ha["flat"])
    for name, reason in DECOY_FLATS.items():
        assert flat_reasons[name] == [reason], name
    assert ha["bias"]["status"] == "needs review" and ha["bias"]["gap"] == "on file"
    assert reasons(ha["bias"])["masterBias_pi.fits"] == [
        "master lacks GAIN (gain): check it before use"]
    assert groups["OIII"]["kinds"]["flat"]["gap"] == "missing"


def test_gap_report_names_exactly_the_missing_calibration(built) -> None:
    r = run(built.config_path, "calibration", "gaps", "--json")
    assert r.returncode == 1
    d = json.loads(r.stdout)
    assert d["groups"] == 2 and d["calibrated"] == 0
    got = {(g["filter"], m["kind"], m["gap"]) for g in d["gaps"] for m in g["missing"]}
    assert got == {("Ha", "bias", "on file"), ("OIII", "flat", "missing"), ("OIII", "bias", "on file")}
    shoot = {(g["filter"], m["kind"]): m["shoot"] for g in d["gaps"] for m in g["missing"]}
    assert shoot[("OIII", "flat")] == ("shoot 20 flats through OIII, bin 1x1, rotator 0.5 deg "
                                       f"({CAM} on {SCOPE}) for the night of 2024-01-05")
    assert shoot[("Ha", "bias")] == f"shoot 50 bias at gain 100, offset 50, bin 1x1, readout Low Noise ({CAM})"
    text = run(built.config_path, "calibration", "gaps").stdout
    assert "0 of 2 light groups fully calibrated" in text


def test_master_dark_beside_subs_is_preferred_and_pins_override(built) -> None:
    s = built
    fits_frame(s.quarantine / "masters" / "masterDark_300s.fits", 99,
               **dark(IMAGETYP="Master Dark", **{"DATE-OBS": "2024-01-04T10:00:00"}))
    for args in (("scan",), ("organize",)):
        assert run(s.config_path, *args).returncode == 0
    d = json.loads(run(s.config_path, "processing", "create", "m31", "--target", "M31", "--filter", "Ha",
                       "--json").stdout)
    darks = d["groups"][0]["kinds"]["dark"]
    by_name = frames_by_name(s)
    assert darks["chosen"] == [by_name["masterDark_300s.fits"]["id"]]
    # pin the subs instead: remembered, applied on re-creation, kept through a rescan
    sub_ids = sorted(by_name[n]["id"] for n in GOOD_DARKS)
    r = run(s.config_path, "processing", "pin", "m31", "--darks", ",".join(map(str, sub_ids)), "--none", "flats")
    assert r.returncode == 0, r.stderr
    assert run(s.config_path, "scan", "--full").returncode == 0
    d = json.loads(run(s.config_path, "processing", "create", "m31", "--target", "M31", "--filter", "Ha",
                       "--replace", "--json").stdout)
    kinds = d["groups"][0]["kinds"]
    assert sorted(kinds["dark"]["chosen"]) == sub_ids and kinds["dark"]["status"] == "pinned"
    assert kinds["flat"]["status"] == "none" and kinds["flat"]["chosen"] == []
    assert not [p for p in (s.processing / "m31" / "calibration" / "flats").rglob("*") if p.is_file()]
    assert len(list((s.processing / "m31" / "calibration" / "darks").iterdir())) == 3


def test_delete_leaves_library_frames_and_rows_and_relayout_repairs_links(built) -> None:
    s = built
    before = frames_by_name(s)
    assert run(s.config_path, "processing", "create", "m31", "--target", "M31").returncode == 1
    folder = s.processing / "m31"
    links = [p for p in folder.rglob("*") if p.is_symlink() and "siril" not in p.relative_to(folder).parts]
    assert len(links) == 10  # 5 lights, 3 darks, 2 flats
    # re-file the library: every symlink is repointed, and organize says so
    set_pattern(s.config_path, "{year}/{target}/{frame_type}/{night}_{filter}_{exposure}_{seq}")
    r = run(s.config_path, "organize", "--relayout")
    assert r.returncode == 0, r.stderr
    assert "repaired 10 processing session links to re-filed frames" in r.stdout
    moved = frames_by_name(s)
    assert {n: row["path"] for n, row in moved.items()} != {n: row["path"] for n, row in before.items()}
    for p in links:
        assert p.is_symlink() and p.is_file(), p
        assert Path(os.path.realpath(p)).is_relative_to(s.library.resolve())
    r = run(s.config_path, "processing", "show", "m31", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["broken_links"] == []
    assert run(s.config_path, "verify", "database").returncode == 0
    # a link whose frame is gone: verify names it, show says so
    gone = Path(os.path.realpath(links[0]))
    hidden = gone.with_name(gone.name + ".away")
    gone.rename(hidden)
    r = run(s.config_path, "verify", "database", "--json")
    assert r.returncode == 1
    problems = json.loads(r.stdout)["problems"]
    assert {p["check"] for p in problems} == {"paths_exist", "processing_links"}  # the frame's file, and its link
    assert [p for p in problems if p["check"] == "processing_links"][0]["detail"].startswith(
        f"processing/m31/{links[0].relative_to(folder).as_posix()}: link does not reach its frame")
    assert run(s.config_path, "processing", "show", "m31").returncode == 1
    hidden.rename(gone)

    (folder / "final" / "M31.tif").write_bytes(b"mine")
    r = run(s.config_path, "processing", "delete", "m31")
    assert r.returncode == 0, r.stderr
    assert "10 links removed" in r.stdout
    assert not [p for p in folder.rglob("*") if p.is_symlink()]
    assert (folder / "final" / "M31.tif").read_bytes() == b"mine"
    after = frames_by_name(s)
    assert {n: (row["path"], row["sha256"]) for n, row in after.items()} == \
        {n: (row["path"], row["sha256"]) for n, row in moved.items()}
    assert all(s.abs(row["path"]).is_file() for row in after.values())
    r = run(s.config_path, "processing", "list", "--json")
    assert r.stdout.strip() == "[]", (r.returncode, r.stderr)
    r = run(s.config_path, "processing", "show", "m31")
    assert r.returncode == 2 and "no processing session 'm31'" in r.stderr


def test_usage_errors_are_one_line(built) -> None:
    r = run(built.config_path, "processing", "create", "x", "--target", "NGC 7000")
    assert r.returncode == 2 and "no light frames match target 'NGC 7000'" in r.stderr
    r = run(built.config_path, "processing", "create", "x", "--target", "M31", "--link", "teleport")
    assert r.returncode == 2 and "--link 'teleport'" in r.stderr
    assert run(built.config_path, "processing", "create", "x", "--target", "M31").returncode == 1
    r = run(built.config_path, "processing", "create", "x", "--target", "M31")
    assert r.returncode == 2 and "already exists" in r.stderr
    r = run(built.config_path, "processing", "status", "x", "finished")
    assert r.returncode == 2 and "status 'finished'" in r.stderr


def test_dry_run_changes_nothing(built) -> None:
    r = run(built.config_path, "processing", "create", "m31", "--target", "M31", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would link processing/m31: 5 lights, 3 dark, 2 flat, 0 bias, 0 darkflat" in r.stdout
    assert "2 light groups" in r.stdout
    oiii = [line for line in r.stdout.splitlines() if "|OIII|" in line and ": flat: missing:" in line]
    assert len(oiii) == 1 and oiii[0].endswith("for the night of 2024-01-05")
    assert not (built.processing / "m31").exists()
    assert run(built.config_path, "processing", "list", "--json").stdout.strip() == "[]"


def test_astrobin_csv_matches_the_hand_written_file_byte_for_byte(built, tmp_path: Path) -> None:
    cfg = built.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("# Ha = 4663", "Ha = 4663"), encoding="utf-8")
    assert run(cfg, "processing", "create", "m31", "--target", "M31").returncode == 1
    out = tmp_path / "m31.csv"
    r = run(cfg, "processing", "astrobin", "m31", "-o", str(out))
    assert r.returncode == 0, r.stderr
    expected = (Path(__file__).parent / "expected" / "astrobin_m31.csv").read_bytes()
    assert out.read_bytes() == expected
    assert run(cfg, "processing", "astrobin", "m31").stdout.encode() == expected


def test_calibration_tolerances_come_from_the_config(built) -> None:
    cfg = built.config_path
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("temperature_c = 2.0", "temperature_c = 6.0"), encoding="utf-8")
    d = json.loads(run(cfg, "calibration", "show", "2024-01-05|M31|Ha", "--json").stdout)
    by_name = frames_by_name(built)
    warm = by_name["dark_warm.fits"]["id"]
    assert warm in d["kinds"]["dark"]["chosen"]
    cfg.write_text(text.replace("temperature_c = 2.0", 'temperature_c = "warm"'), encoding="utf-8")
    r = run(cfg, "calibration", "gaps")
    assert r.returncode == 2 and "calibration.temperature_c must be a number" in r.stderr


def test_site_pages_show_the_session_its_reasons_and_the_coverage(built) -> None:
    cfg = built.config_path
    assert run(cfg, "processing", "create", "M31 2024", "--target", "M31").returncode == 1
    r = run(cfg, "build")
    assert r.returncode == 0, r.stderr
    site = built.site
    index = (site / "processing" / "index.html").read_text(encoding="utf-8")
    assert 'href="../processing/m31-2024.html"' in index and "M31 2024" in index
    page = (site / "processing" / "m31-2024.html").read_text(encoding="utf-8")
    assert "temperature -5.0 C vs light -10.0 C exceeds 2 C" in page
    assert "master lacks GAIN (gain): check it before use" in page
    coverage = (site / "calibration" / "index.html").read_text(encoding="utf-8")
    assert "0 of 2 light groups fully calibrated" in coverage
    assert (f"shoot 20 flats through OIII, bin 1x1, rotator 0.5 deg ({CAM} on {SCOPE}) "
            "for the night of 2024-01-05") in coverage
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="processing/index.html"' in home and 'href="calibration/index.html"' in home


def test_files_saved_in_intermediate_and_final_are_outputs_not_frames(built) -> None:
    from PIL import Image

    cfg = built.config_path
    assert run(cfg, "processing", "create", "m31", "--target", "M31").returncode == 1
    folder = built.processing / "m31"
    from xisf import XISF

    Image.new("RGB", (40, 30)).save(folder / "final" / "M31.png")
    ramp = (np.arange(24 * 36, dtype=np.uint16).reshape(24, 36, 1) * 50).astype(np.uint16)
    XISF.write(str(folder / "final" / "M31_final.xisf"), ramp)  # as PixInsight saves it
    fits_frame(folder / "intermediate" / "master_light_Ha.fits", 77, IMAGETYP="Master Light", OBJECT="M31")
    (folder / "final" / "notes.txt").write_text("not an image")
    frames_before = len(frames_by_name(built))
    r = run(cfg, "scan")
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(built.catalog)
    rows = sorted(con.execute("SELECT processing_id, stage, path, width, height, size FROM processing_outputs"))
    con.close()
    assert [(p, st, Path(path).name, w, h) for p, st, path, w, h, _ in rows] == [
        ("m31", "final", "M31.png", 40, 30), ("m31", "final", "M31_final.xisf", 36, 24),
        ("m31", "intermediate", "master_light_Ha.fits", 8, 8)]
    assert len(frames_by_name(built)) == frames_before  # never cataloged as frames
    assert run(cfg, "build").returncode == 0
    page = (built.site / "processing" / "m31.html").read_text(encoding="utf-8")
    thumbs = re.findall(r'src="\.\./(thumbs/[0-9a-f]{64}\.png)" alt="Preview of ([^"]+)"', page)
    assert sorted(name for _, name in thumbs) == ["M31.png", "M31_final.xisf", "master_light_Ha.fits"]
    assert all((built.site / t).is_file() for t, _ in thumbs)
    (folder / "final" / "M31.png").unlink()
    assert run(cfg, "scan").returncode == 0
    con = sqlite3.connect(built.catalog)
    assert sorted(r[0] for r in con.execute("SELECT path FROM processing_outputs")) == [
        "processing/m31/final/M31_final.xisf", "processing/m31/intermediate/master_light_Ha.fits"]
    con.close()


def test_migration_9_fills_rotator_deg_from_the_stored_headers(library) -> None:
    from astrocat import catalog
    from astrocat.processing.schema import _fill_rotator

    fits_frame(library.quarantine / "f.fits", 1, **flat(ROTATOR=92.0))
    fits_frame(library.quarantine / "g.fits", 2, **flat(ROTATOR=None))
    assert run(library.config_path, "scan").returncode == 0
    db = catalog.open_catalog(library.catalog)
    try:
        with db.conn:  # as a catalog written before migration 9 would be
            db.execute("UPDATE frames SET rotator_deg = NULL")
        with db.conn:
            _fill_rotator(db)  # what migration 9 runs
        got = dict(db.execute("SELECT original_name, rotator_deg FROM frames").fetchall())
    finally:
        db.conn.close()
    assert got == {"f": 92.0, "g": None}


@pytest.mark.parametrize("mode", ["hardlink", "copy"])
def test_hardlink_and_copy_modes_and_delete_never_touch_the_library(built, mode: str) -> None:
    cfg = built.config_path
    r = run(cfg, "processing", "create", "m31", "--target", "M31", "--filter", "Ha", "--link", mode, "--json")
    d = json.loads(r.stdout)
    assert d["link_modes"] == {mode: 8}  # 3 Ha lights, 3 darks, 2 flats
    folder = built.processing / "m31"
    made = [p for p in folder.rglob("*.fits") if "siril" not in p.relative_to(folder).parts]
    assert len(made) == 8 and not any(p.is_symlink() for p in made)
    by_sha = {row["sha256"]: built.abs(row["path"]) for row in frames_by_name(built).values()}
    from organize_util import sha256 as file_sha

    for p in made:
        lib = by_sha[file_sha(p)]
        same_inode = os.stat(p).st_ino == os.stat(lib).st_ino
        assert same_inode == (mode == "hardlink"), p
    before = {p: p.read_bytes() for p in by_sha.values()}
    r = run(cfg, "processing", "delete", "m31")
    assert r.returncode == 0, r.stderr
    assert not list(folder.rglob("*.fits"))
    assert {p: p.read_bytes() for p in by_sha.values()} == before


def test_where_symlinks_are_refused_links_fall_back_to_hard_links(built, monkeypatch) -> None:
    def refuse(*_a, **_k):
        raise OSError(1, "Operation not permitted")  # Windows without the privilege says as much

    monkeypatch.setattr(os, "symlink", refuse)
    d = json.loads(run(built.config_path, "processing", "create", "m31", "--target", "M31", "--filter", "Ha",
                       "--json").stdout)
    assert d["link_modes"] == {"hardlink": 8}
    con = sqlite3.connect(built.catalog)
    assert {r[0] for r in con.execute("SELECT link_mode FROM processing_frames")} == {"hardlink"}
    con.close()


@pytest.mark.parametrize(("name", "folder"), [("../../evil", "evil"), ("M31 / Ha", "m31-_-ha"),
                                              ("CON", "con_")])
def test_session_names_become_safe_folders_inside_processing(name: str, folder: str) -> None:
    from astrocat.processing.sessions import slug

    assert slug(name) == folder


def test_archive_removes_links_keeps_the_record_and_status_moves(built) -> None:
    cfg = built.config_path
    assert run(cfg, "processing", "create", "m31", "--target", "M31").returncode == 1
    assert run(cfg, "processing", "status", "m31", "in-progress").returncode == 0
    assert json.loads(run(cfg, "processing", "list", "--json").stdout)[0]["status"] == "in-progress"
    before = frames_by_name(built)
    r = run(cfg, "processing", "archive", "m31")
    assert r.returncode == 0, r.stderr
    assert not [p for p in (built.processing / "m31").rglob("*") if p.is_symlink()]
    rows = json.loads(run(cfg, "processing", "list", "--json").stdout)
    assert [(x["id"], x["status"], x["lights"]) for x in rows] == [("m31", "archived", 5)]
    assert frames_by_name(built) == before
    assert run(cfg, "verify", "database").returncode == 0  # an archived session's links are not checked


def test_add_files_links_more_frames_by_their_kind(built) -> None:
    cfg = built.config_path
    run(cfg, "processing", "create", "m31", "--target", "M31", "--filter", "Ha")
    by_name = frames_by_name(built)
    oiii, bias = by_name["light_oiii_1.fits"]["id"], by_name["masterBias_pi.fits"]["id"]
    r = run(cfg, "processing", "add-files", "m31", "--frame-id", str(oiii), "--frame-id", str(bias))
    assert r.returncode == 0, r.stderr
    assert "added 2 frames to m31" in r.stdout
    folder = built.processing / "m31"
    assert [p.name for p in (folder / "lights" / "OIII").iterdir()] == [Path(by_name["light_oiii_1.fits"]["path"]).name]
    assert len(list((folder / "calibration" / "bias").iterdir())) == 1
    r = run(cfg, "processing", "add-files", "m31", "--frame-id", str(oiii))
    assert "added 0 frames" in r.stdout  # already there
    r = run(cfg, "processing", "add-files", "m31", "--frame-id", "999999")
    assert r.returncode == 2 and "no counted frame with id 999999" in r.stderr


def test_pin_flats_to_an_imaging_session_and_clear_it(built) -> None:
    cfg = built.config_path
    run(cfg, "processing", "create", "m31", "--target", "M31", "--filter", "Ha")
    by_name = frames_by_name(built)
    sid = by_name["flat_sii.fits"]["session_id"]
    in_session = sorted(r["id"] for r in by_name.values() if r["session_id"] == sid and r["frame_type"] == "flat")
    r = run(cfg, "processing", "pin", "m31", "--flats", sid)
    assert r.returncode == 0 and f"flat pinned to {len(in_session)} frames ({sid})" in r.stdout
    d = json.loads(run(cfg, "processing", "create", "m31", "--target", "M31", "--filter", "Ha", "--replace",
                       "--json").stdout)
    assert sorted(d["groups"][0]["kinds"]["flat"]["chosen"]) == in_session
    assert run(cfg, "processing", "pin", "m31", "--clear", "flats").returncode == 0
    d = json.loads(run(cfg, "processing", "create", "m31", "--target", "M31", "--filter", "Ha", "--replace",
                       "--json").stdout)
    assert sorted(d["groups"][0]["kinds"]["flat"]["chosen"]) == sorted(
        by_name[n]["id"] for n in ("flat_ha_1.fits", "flat_ha_2.fits"))
    r = run(cfg, "processing", "pin", "nope", "--darks", "1")
    assert r.returncode == 2 and "no processing session 'nope'" in r.stderr
    r = run(cfg, "processing", "pin", "m31", "--darks", "no-such-session")
    assert r.returncode == 2 and "has no darks" in r.stderr


def test_a_light_marked_bad_stays_out_of_a_processing_session(built) -> None:
    """Curation and processing together: `frame mark-bad` on a light takes it out of the
    session's lights and its integration, and `undo` brings it back on re-creation."""
    s = built
    bad = frames_by_name(s)["light_ha_2.fits"]["id"]
    r = run(s.config_path, "frame", "mark-bad", str(bad), "--reason", "clouds")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(s.config_path, "processing", "create", "M31 2024", "--target", "M31", "--json")
    d = json.loads(r.stdout)
    assert d["lights"] == 4
    folder = s.processing / "m31-2024"
    assert sorted(p.name for p in (folder / "lights" / "Ha").iterdir()) == sorted(
        Path(frames_by_name(s)[n]["path"]).name for n in ("light_ha_1.fits", "light_ha_3.fits"))
    assert run(s.config_path, "undo").returncode == 0
    r = run(s.config_path, "processing", "create", "M31 2024", "--target", "M31", "--replace", "--json")
    assert json.loads(r.stdout)["lights"] == 5
    assert len(list((folder / "lights" / "Ha").iterdir())) == 3


def test_delete_and_archive_dry_runs_change_nothing(built) -> None:
    s = built
    assert run(s.config_path, "processing", "create", "M31 2024", "--target", "M31").returncode == 1  # OIII lacks flats
    folder = s.processing / "m31-2024"

    def snapshot() -> tuple:
        con = sqlite3.connect(s.catalog)
        rows = con.execute("SELECT COUNT(*) FROM processing_frames WHERE processing_id = 'm31-2024'").fetchone()[0]
        status = con.execute("SELECT status FROM processing_sessions WHERE id = 'm31-2024'").fetchone()
        con.close()
        return rows, status, sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

    before = snapshot()
    links = sum(1 for p in folder.rglob("*") if p.is_symlink() and not p.is_dir())
    assert before[0] == links > 0
    expected = {"delete": f"deleting m31-2024 would remove {links} links",
                "archive": f"m31-2024 would be archived, {links} links removed"}
    for cmd, says in expected.items():
        r = run(s.config_path, "processing", cmd, "m31-2024", "--dry-run")
        assert r.returncode == 0, r.stderr
        assert says in r.stdout, r.stdout
        assert snapshot() == before, cmd
