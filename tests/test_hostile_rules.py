"""Hostile but real header values against the pure rules: each test failed before its fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astrocat.rules import normalize as n
from astrocat.rules.normalize import Settings, normalize

# --- 30: a brand is not a mount -------------------------------------------------------

SKYWATCHER_TUBES = (
    "Skywatcher 250PDS", "Sky-Watcher Esprit 100ED", "SkyWatcher Evostar 72ED",
    "Sky-Watcher Quattro 200P", "Skywatcher Skymax 127", "Sky-Watcher 200/1000",
)
MOUNTS = (
    "Sky-Watcher EQ6-R Pro", "SkyWatcher HEQ5", "Sky-Watcher EQ8-R", "EQ3 Pro", "EQM-35 Pro",
    "Sky-Watcher AZ-GTi", "SkyWatcher AZ-EQ6 GT", "Star Adventurer GTi", "EQMOD HEQ5/6",
    "ASCOM.SkyWatcher.Telescope", "ACP->TCSGalilHybrid.DFM.ASCOM.Telescope", "iOptron CEM40",
    "iOptron GEM45", "ZWO AM5", "ZWO AM3", "Losmandy G11", "10Micron GM1000 HPS", "Paramount MYT",
    "Rainbow RST-135", "Telescope Simulator",
)


def test_skywatcher_newtonian_is_a_telescope_not_a_mount():
    fields, _ = normalize({"TELESCOP": "Skywatcher 250PDS", "FOCALLEN": 1200.0}, "a.fits")
    assert (fields["telescope"], fields["mount"], fields["focal_length_mm"]) == ("Skywatcher 250PDS", None, 1200.0)


def test_real_nina_header_with_a_skywatcher_newtonian():
    from conftest import ROOT, need

    from astrocat.ingest.headers import read_header

    path = ROOT.parent / "shared" / "realworld" / "files" / "text_dumps" / "astrolive_nina_header.fits.gz"
    need(path.is_file(), f"real-world sample not found at {path}")
    h = read_header(path).header
    fields, _ = normalize(h.values, path.name, Settings(), h.comments, h.history)
    assert (fields["telescope"], fields["mount"], fields["focal_length_mm"]) == ("Skywatcher 250PDS", None, 1200.0)


@pytest.mark.parametrize("raw", SKYWATCHER_TUBES)
def test_skywatcher_tubes_are_telescopes(raw):
    assert n.equipment({"TELESCOP": raw}, Settings())[1:] == (raw, None)


@pytest.mark.parametrize("raw", MOUNTS)
def test_mount_models_and_drivers_are_mounts(raw):
    assert n.equipment({"TELESCOP": raw}, Settings())[1:] == (None, raw)


# --- 31: 'None' is no filter ----------------------------------------------------------


@pytest.mark.parametrize("raw", ["None", "No Filter", "Empty", "none", "", "   ", "-", "NONE", "no_filter"])
def test_no_filter_values_mean_no_filter(raw):
    assert n.canonical_filter(raw) is None
    fields, _ = normalize({"FILTER": raw, "IMAGETYP": "Light", "EXPTIME": 60.0}, "a.fits")
    assert fields["filter"] is None


def test_a_real_filter_is_kept_and_an_alias_for_none_still_wins():
    assert n.canonical_filter("Nonet") == "Nonet"
    assert n.canonical_filter("Ha") == "Ha"
    assert n.canonical_filter("None", {"none": "L"}) == "L"


# --- 29: TheSkyX's west-positive SITELONG is handled, not a fault ------------------------


def _theskyx_row(**extra):
    row = {"frame_type": "dark", "exposure_s": 120.0, "date_obs": "2023-08-15T02:40:00.466Z",
           "camera": "ASCOM Camera", "ccd_temp_c": -20.02, "binning": "2x2",
           "software": "TheSkyX Version 10.5.0 Build 12978", "site_lon": -122.508611,
           "problems": [n.THESKYX_WEST_NOTE]}
    return {**row, **extra}


def test_validate_does_not_warn_about_a_converted_theskyx_longitude():
    from astrocat.checks.validate import header_issues

    assert header_issues(_theskyx_row()) == []
    # the note stays a warning where the conversion did not give a longitude
    assert [i["message"] for i in header_issues(_theskyx_row(site_lon=None))] == [n.THESKYX_WEST_NOTE]


def test_validate_of_a_real_theskyx_frame_with_sitelong_only(samples, library):
    """The real TheSkyX 10.5 header without its OBSGEO cards (older versions write none):
    SITELONG '+122 30 31.00' is west, the scan converts it, validate has nothing to say."""
    from astropy.io import fits

    from astrocat import catalog
    from astrocat.checks.validate import validate
    from astrocat.ingest.headers import header_from_text
    from astrocat.ingest.scan import scan

    text = (samples / "headers" / "TheSkyX_1_v10.5_dark_ASCOMcam.txt").read_text(encoding="latin-1")
    values = header_from_text(text).values
    hdu = fits.PrimaryHDU(np.zeros((8, 8), dtype=np.uint16))
    for key in ("IMAGETYP", "EXPTIME", "SWCREATE", "XBINNING", "YBINNING", "CCD-TEMP", "SET-TEMP",
                "SITELAT", "SITELONG", "INSTRUME", "DATE-OBS", "LOCALTIM"):
        hdu.header[key] = values[key]
    library.quarantine.mkdir(parents=True, exist_ok=True)
    hdu.writeto(library.quarantine / "dark_120s.fits")
    db = catalog.open_catalog(library.catalog)
    scan(db, library)
    row = db.execute("SELECT site_lon, software FROM frames").fetchone()
    assert row == (pytest.approx(-122.508611), "TheSkyX Version 10.5.0 Build 12978")
    (result,) = validate(db, library, catalog.FrameFilter())
    db.conn.close()
    assert (result["reasons"], result["score"]) == ([], 100)


# --- 28: library names keep what the header does not say --------------------------------

from astrocat.config import DEFAULT_PATTERN  # noqa: E402
from astrocat.rules import naming  # noqa: E402

LIGHT = {
    "frame_type": "light", "target": "M31", "filter": "L", "exposure_s": 180.0, "night": "2024-11-01",
    "gain": 120.0, "set_temp_c": -35.0, "original_name": "M31_L_180.00s_0042",
}


def _path(frame, pattern=DEFAULT_PATTERN, source="quarantine/x.fits", seq=1):
    return naming.render(pattern, frame, source).path(seq)


def test_original_name_is_the_base_name_without_extension():
    assert naming.original_name("quarantine/n1/Light_M31_0042.fits.fz") == "Light_M31_0042"
    assert naming.original_name("quarantine/IMG_0042.FIT") == "IMG_0042"
    assert naming.original_name("Light_M 94_10.0s_IRCUT_20250326-212046.fit.gz") == "Light_M 94_10.0s_IRCUT_20250326-212046"


def test_an_undated_frame_keeps_its_original_name():
    frame = {"frame_type": "unknown", "original_name": "IMG_0042"}
    assert _path(frame, source="quarantine/IMG_0042.fit") == "Undated/Undated/Unknown/IMG_0042.fit"
    dark = {"frame_type": "dark", "exposure_s": 120.0, "original_name": "dark 120s #3"}
    assert _path(dark) == "Undated/Calibration/Dark/dark_120s_#3.fits"


def test_a_light_without_target_keeps_its_original_name():
    frame = {"frame_type": "light", "exposure_s": 2.0, "night": "2024-11-01", "original_name": "Capture_00042"}
    assert _path(frame) == "2024/2024-11-01/Light/Capture_00042.fits"
    # a second file of that name gets a number, never the first one's name
    r = naming.render(DEFAULT_PATTERN, frame, "q/x.fits")
    taken = {naming.stem_key("2024/2024-11-01/Light/Capture_00042.fits")}
    assert naming.allocate(r, taken.__contains__)[0] == "2024/2024-11-01/Light/Capture_00042_0002.fits"


def test_original_token():
    assert _path(LIGHT, "{night}/{original}") == "2024-11-01/M31_L_180.00s_0042.fits"
    assert _path(LIGHT, "{night}/{target}_{original}_{seq}") == "2024-11-01/M31_M31_L_180.00s_0042_0001.fits"


def test_an_empty_token_takes_its_suffix_and_units_are_not_doubled():
    pattern = "{night}/{exposure}_{gain}g_{temp}C_{seq}"
    assert _path({**LIGHT, "exposure_s": 300.0, "gain": None}, pattern) == "2024-11-01/300s_-35C_0001.fits"
    assert _path({**LIGHT, "exposure_s": 300.0}, pattern) == "2024-11-01/300s_120g_-35C_0001.fits"
    assert _path({**LIGHT, "exposure_s": 300.0, "set_temp_c": None}, pattern) == "2024-11-01/300s_120g_0001.fits"
    assert _path({**LIGHT, "exposure_s": 300.0}, "{night}/{exposure}s_{seq}") == "2024-11-01/300s_0001.fits"


def test_masters_and_stacks_go_to_a_masters_folder():
    dark = {"frame_type": "dark", "is_master": True, "exposure_s": 120.0, "night": "2024-11-01"}
    assert naming.render(DEFAULT_PATTERN, dark, "q/x.xisf", "M31").path(1) == "2024/2024-11-01_M31/Masters/MasterDark_120s_0001.xisf"
    stack = {**LIGHT, "is_master": True}
    assert _path(stack) == "2024/2024-11-01_M31/Masters/M31_L_180s_0001.fits"
    assert _path(stack, "{target}/{filter}/{night}/{seq}") == "M31/L/2024-11-01/Masters/0001.fits"
    assert _path(stack, "{camera}/{seq}") == "NoCamera/Masters/0001.fits"


def test_scan_stores_the_original_name_and_organize_and_a_full_rescan_keep_it(library):
    from astrocat import catalog
    from astrocat import library as lib
    from astrocat.ingest.scan import scan
    from organize_util import write_frame

    write_frame(library.quarantine / "night1" / "IMG_0042.fit", 1, **{"DATE-OBS": None})
    write_frame(library.quarantine / "night1" / "Capture_0007.fits", 2, OBJECT=None)
    db = catalog.open_catalog(library.catalog)
    try:
        scan(db, library)
        names = dict(db.execute("SELECT path, original_name FROM frames ORDER BY path").fetchall())
        assert names == {"quarantine/night1/Capture_0007.fits": "Capture_0007", "quarantine/night1/IMG_0042.fit": "IMG_0042"}
        assert lib.organize(db, library).ok
        scan(db, library, full=True)
        got = sorted(db.execute("SELECT path, original_name FROM frames").fetchall())
    finally:
        db.conn.close()
    assert got == [("library/2024/2024-11-01/Light/Capture_0007.fits", "Capture_0007"),
                   ("library/Undated/M31/Light/IMG_0042.fit", "IMG_0042")]


def test_migration_fills_original_name_from_quarantine_paths_and_the_journal(tmp_path):
    import sqlite_utils

    from astrocat import features
    from astrocat.catalog.db import migrate

    db = sqlite_utils.Database(tmp_path / "c.db")
    migrate(db, [m for m in features.migrations() if m[0] <= 5])
    rows = [(1, "quarantine/a/IMG_1.fits.fz", "quarantine"), (2, "library/2024/x/M31_0001.fits", "library"),
            (3, "library/2024/x/M31_0002.fits", "library")]
    for fid, path, loc in rows:
        db.execute("INSERT INTO frames (id, path, size, mtime, location) VALUES (?, ?, 1, 0, ?)", [fid, path, loc])
    db.execute("INSERT INTO moves (frame_id, kind, method, src, dst, sha256, size, state, started_at) "
               "VALUES (2, 'file', 'link', 'quarantine/n/Light_007.fits', 'library/2024/x/M31_0001.fits', 'h', 1, 'done', 't')")
    db.conn.commit()
    assert migrate(db) == features.latest_migration()
    got = dict(db.execute("SELECT id, original_name FROM frames").fetchall())
    assert got == {1: "IMG_1", 2: "Light_007", 3: None}


# --- 20: a session's note follows its session when an alias edit renames it -------------


def test_alias_edit_renames_the_session_and_its_note_follows_with_the_user_text(library):
    from astrocat import catalog
    from astrocat.catalog.queries import FrameFilter, list_frames
    from astrocat.config import load
    from astrocat.ingest.scan import scan
    from astrocat.notes.write import write_notes
    from organize_util import write_frames

    write_frames(library.quarantine / "n1", 3)
    db = catalog.open_catalog(library.catalog)
    try:
        scan(db, library)
        db.conn.commit()
        (old,) = db.execute("SELECT id FROM sessions").fetchone()
        write_notes(db, library, kinds=("session",))
        (path,) = db.execute("SELECT path FROM notes WHERE id = ?", [f"session:{old}"]).fetchone()
        note = library.notes / path
        mine = "\n## Seeing\n\nGusty, 3/5.   \n\u00e9t\u00e9 \u2014 focus drifted\n"
        note.write_bytes(note.read_bytes() + mine.encode("utf-8"))
    finally:
        db.conn.close()

    cfg = library.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        '# "ZWO ASI2600MM Pro" = "ASI2600MM"', '"ZWO ASI2600MM Pro" = "ASI2600"'), encoding="utf-8")
    s2 = load(cfg)
    assert s2.camera_aliases == {"ZWO ASI2600MM Pro": "ASI2600"}
    db = catalog.open_catalog(s2.catalog)
    try:
        scan(db, s2, full=True)
        db.conn.commit()
        (new,) = db.execute("SELECT id FROM sessions").fetchone()
        assert new != old and "ASI2600" in new
        assert db.execute("SELECT old_id, new_id FROM session_aliases").fetchall() == [(old, new)]
        result = write_notes(db, s2, kinds=("session",))
        rows = db.execute("SELECT id, path, user_text FROM notes").fetchall()
        # the old id keeps resolving for listings and on the site
        assert len(list_frames(db, FrameFilter(session=old))) == 3
        from astrocat.site.build import build
        from astrocat.site.paths import session_href

        out = library.base_dir / "site"
        build(db, s2, out, thumbnails=False)
    finally:
        db.conn.close()
    assert result.warnings == [] and result.orphaned == []
    assert [(r[0], r[1]) for r in rows] == [(f"session:{new}", path.replace(old, new))]
    assert not note.exists()
    moved = (library.notes / rows[0][1]).read_bytes()
    assert moved.endswith(mine.encode("utf-8")) and new.encode() in moved
    assert "Gusty, 3/5." in rows[0][2]
    assert list(library.notes.rglob("*.md")) == [library.notes / rows[0][1]]
    from conftest import invoke_cli

    r = invoke_cli("list", "files", "--session", old, "--json", cwd=library.base_dir)
    assert r.returncode == 0 and {f["session_id"] for f in json.loads(r.stdout)} == {new}
    assert len(json.loads(r.stdout)) == 3
    old_page = (out / session_href(old)).read_text(encoding="utf-8")
    new_name = session_href(new).rsplit("/", 1)[-1]
    assert f'http-equiv="refresh" content="0; url={new_name}"' in old_page
    assert (out / session_href(new)).is_file() and "Gusty, 3/5." in (out / session_href(new)).read_text(encoding="utf-8")


def test_a_split_session_is_not_a_rename(library):
    from astrocat import catalog

    db = catalog.open_catalog(library.catalog)
    try:
        rows = [{"path": f"quarantine/{i}.fits", "size": 1, "mtime": 0.0, "sha256": f"h{i}", "frame_type": "light", "is_master": False,
                 "night": "2024-11-01", "session_id": "A", "location": "quarantine"} for i in range(2)]
        catalog.upsert_frames(db, rows)
        catalog.refresh_derived(db, ["A"])
        catalog.upsert_frames(db, [{**rows[0], "session_id": "B"}, {**rows[1], "session_id": "C"}])
        catalog.refresh_derived(db, ["A", "B", "C"])
        assert db.execute("SELECT COUNT(*) FROM session_aliases").fetchone() == (0,)
        catalog.upsert_frames(db, [{**rows[0], "session_id": "D"}, {**rows[1], "session_id": "D"}])
        catalog.refresh_derived(db, ["B", "C", "D"])  # a merge of two sessions is no rename either
        assert db.execute("SELECT COUNT(*) FROM session_aliases").fetchone() == (0,)
        catalog.upsert_frames(db, [{**r, "session_id": "E"} for r in rows])
        catalog.refresh_derived(db, ["D", "E"])
        catalog.upsert_frames(db, [{**r, "session_id": "F"} for r in rows])
        catalog.refresh_derived(db, ["E", "F"])
        # renamed twice: both old ids lead to the current one
        assert sorted(db.execute("SELECT old_id, new_id FROM session_aliases").fetchall()) == [("D", "F"), ("E", "F")]
        assert db.execute("SELECT COUNT(*) FROM session_moves").fetchone() == (0,)
    finally:
        db.conn.close()
