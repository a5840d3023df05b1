"""Every real header and file in ../shared/fits-samples: cataloged with correct fields, or
rejected with a clear reason. Expected values are read off the headers by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from astrocat.ingest.headers import Header, HeaderError, header_from_text, read_header
from astrocat.rules.normalize import Settings, normalize
from conftest import invoke_cli


def header_of(samples: Path, name: str) -> Header:
    text = (samples / "headers" / name).read_text(encoding="latin-1")
    if name.startswith("ASIAIR"):
        # key = value list, not cards: rebuild 80-character cards
        cards = []
        for line in text.splitlines():
            if line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            cards.append(f"{key.strip():<8}= {value.split('#')[0].strip()}")
        text = "\n".join(cards)
    return header_from_text(text)


def frame(samples: Path, name: str, path: str | None = None, tz: str | None = None):
    h = header_of(samples, name)
    fields, problems = normalize(h.values, path or name, Settings(timezone=tz), h.comments, h.history)
    return fields, problems, h


# header file -> expected normalised fields (only the fields listed are compared)
EXPECTED = {
    "NINA_1.txt": {
        "frame_type": "light", "is_master": False, "object": "MarsM45", "target": "MarsM45",
        "exposure_s": 30.0, "date_obs": "2021-03-02T20:19:00.455Z", "night": "2021-03-02",
        "camera": "ZWO ASI294MC Pro", "telescope": None, "gain": 120.0, "offset": 30.0,
        "ccd_temp_c": -10.0, "set_temp_c": -10.0, "binning": "1x1", "width": 4144, "height": 2822,
        "bayer_pattern": "RGGB", "ra_deg": None, "dec_deg": None,  # OBJCTRA '00 00 00': unknown
        "software": "N.I.N.A. 1.10.2.90", "filter": None,
    },
    "NINA_2_v3.2_QHY-Touptek_ASTAP.txt": {
        "frame_type": "light", "target": "Prawn Nebula (IC 4628)", "filter": "SII",
        "exposure_s": 300.0, "date_obs": "2026-07-28T11:12:39.962Z",
        "night": "2026-07-28",  # DATE-LOC 23:12 local
        "camera": "ATR585M", "telescope": "SV555", "focal_length_mm": 243.0, "gain": 100.0,
        "offset": 0.0, "ccd_temp_c": -9.9, "set_temp_c": -10.0, "readout_mode": "High Dynamic Range",
        "ra_deg": 253.84137, "dec_deg": -41.120784,
        "site_lat": None, "site_lon": None,  # anonymised 0/0 is not a site
        "software": "N.I.N.A. 3.2.0.9001 (x64)", "width": None,  # ASTAP .wcs copy: NAXIS = 0
    },
    "NINA_3_v1.9_unquoted_dates.txt": {
        "frame_type": "light", "target": "Great Orion Nebula", "filter": "L", "exposure_s": 60.0,
        "date_obs": "2020-01-21T20:29:08.357Z", "night": "2020-01-21", "camera": "ZWO ASI183MM Pro",
        "telescope": "Takahashi FC76-DCU", "focal_length_mm": 456.0, "gain": 50.0, "offset": 8.0,
        "ccd_temp_c": -20.0, "site_lat": 49.3, "site_lon": 8.65, "ra_deg": 84.066667,
        "dec_deg": -5.379722, "software": "N.I.N.A. 1.9.0.900", "width": 5496, "height": 3672,
    },
    "SGP_1.txt": {
        "frame_type": "light", "target": "M57", "filter": "HaOIII",
        "exposure_s": 30.0,  # SGP writes only EXPOSURE
        "date_obs": "2020-05-30T00:22:49.096Z",
        "night": "2020-05-29",  # DATE-LOC 02:22 local belongs to the evening before
        "camera": "ZWO ASI294MC Pro", "telescope": None, "mount": "EQMOD ASCOM HEQ5/6",
        "focal_length_mm": 1480.0, "gain": 120.0, "offset": 30.0, "ccd_temp_c": -17.5,
        "set_temp_c": -18.0, "site_lat": 51.05, "site_lon": 3.716667,  # '51 3 0.000', '3 43 0.000'
        "ra_deg": 283.39554, "dec_deg": 33.034062, "software": "Sequence Generator Pro v3.1.0.479",
    },
    "MaxImDL_1.txt": {
        "frame_type": "light", "object": "m17", "target": "M17", "filter": "SII",
        "exposure_s": 300.0, "date_obs": "2018-07-04T14:03:03.000Z",
        "night": "2018-07-04",  # remote site at +149 deg: local mean time ~23:59
        "camera": "Apogee USB/Net", "telescope": "iTelescope 33", "focal_length_mm": 1425.0,
        "ccd_temp_c": -34.99, "set_temp_c": -35.0, "readout_mode": "Monochrome",
        "site_lat": -31.273611, "site_lon": 149.064444,  # LAT-OBS/LONG-OBS decimal
        "ra_deg": 275.2005, "dec_deg": -16.183,  # RA '18 20 48.12' as a string
        "software": "MaxIm DL Version 5.24 140126 0KJR5",
    },
    "APT_1.txt": {
        "frame_type": "light", "target": "TEST", "exposure_s": 240.0,
        "date_obs": "2018-09-17T21:04:46.000Z", "camera": "ZWO ASI294MC Pro", "telescope": None,
        "mount": "EQMOD HEQ5/6", "focal_length_mm": 400.0, "gain": 120.0, "set_temp_c": -15.0,
        "site_lat": 51.05, "site_lon": 3.683333,  # '+51 03 00.000' signed sexagesimal
        "ra_deg": 23.75, "dec_deg": 30.740278, "software": "Astro Photography Tool - APT v.3.54.1",
    },
    "SharpCap_1.txt": {
        # SharpCap writes no frame type and here no OBJECT: not enough to call it a light
        "frame_type": "unknown", "exposure_s": 2.0, "date_obs": "2019-04-29T20:25:29.821Z",
        "camera": "ZWO ASI290MM Mini", "ccd_temp_c": 12.7, "software": "SharpCap",
        "ra_deg": 251.337418, "dec_deg": 89.049177,  # from the AstroImageJ WCS (CRVAL)
    },
    "ASIAIR_1_keyvalues_ASI183MC_AsiairPlus.txt": {
        "frame_type": "light", "target": "68 Cygni", "exposure_s": 300.0,
        "date_obs": "2025-09-08T02:46:15.614Z", "camera": "ZWO ASI183MC Pro", "telescope": None,
        "mount": "EQMod Mount", "focal_length_mm": 247.0, "gain": 111.0, "offset": 10.0,
        "ccd_temp_c": -10.0, "set_temp_c": -10.0, "bayer_pattern": "RGGB", "binning": "1x1",
        "ra_deg": 319.739055, "dec_deg": 43.852758, "software": "ZWO ASIAIR Plus", "filter": None,
    },
    "Seestar_1.txt": {
        "frame_type": "light", "is_master": True,  # a stack of 187
        "target": "NGC 6027A", "filter": "IRCUT", "exposure_s": 10.0,  # per sub, not TOTALEXP
        "camera": "Seestar S50", "telescope": "Seestar S50",  # TELESCOP is a serial 'S50_...'
        "focal_length_mm": 250.0, "gain": 80.0, "ccd_temp_c": 21.88, "bayer_pattern": "GRBG",
        "ra_deg": 240.1125, "dec_deg": 20.661389, "site_lat": 51.0367, "site_lon": 3.69361,
        "software": "ZWO Seestar S50", "date_obs": "2025-05-13T22:48:35.751Z",
    },
    "DwarfII_1.txt": {
        "frame_type": "unknown",  # no type, no OBJECT: unknown unless the path says
        "exposure_s": 15.0,  # EXP, not EXPTIME
        "binning": "2x2",  # BINNING='2*2'
        "ra_deg": None, "dec_deg": None,  # 0/0 means unknown
        "camera": "DWARF II", "telescope": "DWARF II", "gain": 110.0, "bayer_pattern": "GBRG",
        "date_obs": "2023-06-10T21:38:19.442Z", "software": "DWARFLAB", "target": None,
    },
    "INDI_MW4_1_ccdsim.txt": {
        "frame_type": "light", "filter": "R",  # 'Red'
        "exposure_s": 1.0, "date_obs": "2026-04-28T11:48:31.204Z", "camera": "CCD Simulator",
        "telescope": None, "mount": "Telescope Simulator", "focal_length_mm": 300.0, "gain": 90.0,
        "ccd_temp_c": 0.0, "site_lat": 48.13306, "site_lon": 11.58306, "ra_deg": 358.7079,
        "dec_deg": 89.85372, "software": "INDI", "target": None,
    },
    "INDI_MW4_2_ccdsim_duplicate_keys.txt": {
        # MountWizzard4 appended conflicting duplicates: the first (original) value wins
        "date_obs": "2026-04-28T11:48:31.204Z", "site_lat": 48.13306, "focal_length_mm": 300.0,
        "ra_deg": 358.7079, "object": "SKY_OBJECT", "target": None,  # MW4's default name
    },
    "TheSkyX_1_v10.5_dark_ASCOMcam.txt": {
        "frame_type": "dark", "target": None,  # calibration frames have no target
        "object": "A", "exposure_s": 120.0, "binning": "2x2", "ccd_temp_c": -20.02,
        "date_obs": "2023-08-15T02:40:00.466Z",
        "night": "2023-08-14",  # LOCALTIM '8/14/2023 07:40:00.470 PM DST'
        "site_lat": 38.438333, "site_lon": -122.508611,  # OBSGEO-L; SITELONG is positive west
        "camera": "ASCOM Camera", "software": "TheSkyX Version 10.5.0 Build 12978",
    },
    "PixInsight_1.txt": {
        "frame_type": "light", "is_master": True,  # 'Master Light'
        "target": "Abell 1185", "filter": "LP", "exposure_s": 120.0,  # '120.00' as a string
        "binning": "1x1", "focal_length_mm": 769.4, "camera": "ZWO ASI183MC Pro",
        "site_lat": 51.05, "site_lon": 3.716667, "ra_deg": 167.642578, "dec_deg": 28.7594,
        "date_obs": "2022-03-07T21:58:44.060Z", "software": "PixInsight 1.8.9-1",
    },
    "Siril_1_v0.9.12_debayered.txt": {
        "frame_type": "unknown", "exposure_s": 16.0, "camera": "ZWO ASI294MC Pro",
        "software": "Siril v0.9.12", "bayer_pattern": "GBRG", "ccd_temp_c": -19.8,
        "date_obs": "2021-03-21T00:08:53.757Z",
    },
    "AstroPixelProcessor_1.txt": {
        "frame_type": "unknown", "exposure_s": 900.0, "bayer_pattern": None,  # CFAIMAGE='no'
        "software": "Astro Pixel Processor by Aries Productions", "date_obs": None,
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_header_fields(samples: Path, name: str) -> None:
    fields, _, _ = frame(samples, name)
    for key, want in EXPECTED[name].items():
        got = fields[key]
        if isinstance(want, float) and got is not None:
            assert got == pytest.approx(want, abs=1e-4), f"{name}: {key}"
        else:
            assert got == want, f"{name}: {key} = {got!r}, expected {want!r}"


def test_every_header_sample_is_covered(samples: Path) -> None:
    names = {p.name for p in (samples / "headers").glob("*.txt")}
    assert names <= set(EXPECTED), f"no expectations for {sorted(names - set(EXPECTED))}"


def test_nina19_unquoted_dates_are_read(samples: Path) -> None:
    _, _, h = frame(samples, "NINA_3_v1.9_unquoted_dates.txt")
    assert h.values["DATE-OBS"] == "2020-01-21T20:29:08.357"
    assert h.values["DATE-LOC"] == "2020-01-21T21:29:08.357"


def test_duplicate_keys_are_recorded(samples: Path) -> None:
    _, _, h = frame(samples, "INDI_MW4_2_ccdsim_duplicate_keys.txt")
    assert h.duplicates["SITELAT"] == [48.13306, "51N 28 12"]
    assert h.duplicates["DATE-OBS"][1] == "2026-04-28T11:49:42"


def test_app_lowercase_keywords_and_comma_decimals(samples: Path) -> None:
    _, _, h = frame(samples, "AstroPixelProcessor_1.txt")
    assert h.values["MEDNR-1"] == " 1,05E+00"  # leading spaces in FITS strings are significant
    assert any("MEDNR-1" in p.upper() for p in h.problems)
    from astrocat.rules.normalize import to_float

    assert to_float(h.values["MEDNR-1"]) == 1.05


def test_pixinsight_xisf_json_master_dark(samples: Path) -> None:
    data = json.loads((samples / "headers" / "PixInsight_XISF_2_masterdark_keywords.json").read_text())
    h = Header()
    for key, entries in data.items():
        for e in entries:
            h.add(key, e["value"] if key not in ("COMMENT", "HISTORY") else e["comment"], e.get("comment", ""))
    fields, _ = normalize(h.values, "masterDark_BIN-1.xisf", Settings(), h.comments, h.history)
    assert fields["frame_type"] == "dark"
    assert fields["is_master"] is True  # from ImageIntegration history and file name
    assert fields["target"] is None
    assert fields["date_obs"] == "2020-07-04T22:08:40.378Z"
    assert fields["site_lon"] == pytest.approx(3.716667, abs=1e-5)


def test_ekos_filename_path_does_not_override_header(samples: Path) -> None:
    fields, _, _ = frame(samples, "TheSkyX_1_v10.5_dark_ASCOMcam.txt", path="Lights/x.fits")
    assert fields["frame_type"] == "dark"


def test_sharpcap_type_from_folder(samples: Path) -> None:
    fields, _, _ = frame(samples, "SharpCap_1.txt", path="SharpCap Captures/2019-04-29/Darks/10_00_00.fits")
    assert fields["frame_type"] == "dark"
    fields, _, _ = frame(samples, "DwarfII_1.txt", path="DWARF/dark_exp_30.000000_gain_60_bin_1_34C_stack_1.fits")
    assert fields["frame_type"] == "dark"


# --- real files ------------------------------------------------------------------------

FILES = {
    "MountWizzard4_CCD1_20260428_11_48_32_1.fits": {"frame_type": "light", "filter": "R", "width": 1280, "height": 1024, "exposure_s": 1.0},
    "MountWizzard4_exposure.fits": {"frame_type": "light", "date_obs": "2026-04-28T11:48:31.204Z", "target": None},
    "MountWizzard4_test.xisf": {
        "frame_type": "light", "filter": "R", "width": 1280, "height": 1024, "exposure_s": 1.0,
        "camera": "CCD Simulator", "mount": "LX200 10micron", "focal_length_mm": 300.0,
        "date_obs": "2026-03-13T16:01:26.232Z", "software": "MountWizzard4",
    },
    "derived/DERIVED_MW4_CCD1.fits.gz": {"frame_type": "light", "width": 1280, "exposure_s": 1.0},
    "derived/DERIVED_MW4_CCD1_rice.fits.fz": {"frame_type": "light", "width": 1280, "height": 1024, "filter": "R"},
    "nomtam_m13real.fits": {"frame_type": "unknown", "width": 300, "height": 300},
    "nomtam_m13real_rice.fits": {"frame_type": "unknown", "width": 300, "height": 300},
    "nomtam_test.fits": {"width": 5, "height": 5},
    "nomtam_test.fits.gz": {"width": 5, "height": 5},
    "nomtam_test.fits.bz2": {"width": 5, "height": 5},
    "nomtam_test_dup.fits": {"width": 5, "height": 5},
}

REJECTED = {
    "PhotonFinder_M106_2020-03-17T024357_60sec_LP__-15C_frame11.wcs.fits": "no image",
    "derived/DERIVED_MW4_CCD1_truncated_in_header.fits": "header truncated",
    "derived/DERIVED_MW4_CCD1_truncated_mid_data.fits": "data truncated",
    "nomtam_bt12.fits.fz": "no image",
    "nomtam_testBinaryTable.fits.fz": "no image",
    "nomtam_test.fits.Z": "unsupported compression",
    "nomtam_issue49test.fits": "no image",
    "nomtam_test_i10.fits": "no image",
}


def test_every_sample_file_is_covered(samples: Path) -> None:
    files = {p.relative_to(samples / "files").as_posix() for p in (samples / "files").rglob("*") if p.is_file()}
    assert files == set(FILES) | set(REJECTED)


@pytest.mark.parametrize("name", sorted(FILES))
def test_real_file_fields(samples: Path, name: str) -> None:
    result = read_header(samples / "files" / name, want_hash=True)
    h = result.header
    fields, _ = normalize(h.values, name, Settings(), h.comments, h.history)
    for key, want in FILES[name].items():
        assert fields[key] == want, f"{name}: {key}"
    import hashlib

    assert result.sha256 == hashlib.sha256((samples / "files" / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_real_file_rejected_with_reason(samples: Path, name: str) -> None:
    with pytest.raises(HeaderError) as err:
        read_header(samples / "files" / name, want_hash=True)
    assert REJECTED[name] in str(err.value)


def test_header_parser_agrees_with_astropy(samples: Path) -> None:
    """Our card parser reads every keyword astropy reads, with the same value."""
    from astropy.io import fits

    for name in ("MountWizzard4_CCD1_20260428_11_48_32_1.fits", "nomtam_m13real.fits", "nomtam_test.fits"):
        ours = read_header(samples / "files" / name).header.values
        theirs = fits.getheader(samples / "files" / name)
        keys = [k for k in theirs if k not in ("COMMENT", "HISTORY", "")]
        assert keys and not set(keys) - set(ours), f"{name}: keywords we did not read: {set(keys) - set(ours)}"
        for key in keys:
            assert ours[key] == theirs[key], f"{name}: {key}"


def test_issue49_malformed_card_is_tolerated(samples: Path) -> None:
    """FILTER   ='0,0,0,0  ' ('=' in column 10) is read, and noted as malformed."""
    raw = (samples / "files" / "nomtam_issue49test.fits").read_bytes()
    from astrocat.ingest.headers import parse_cards

    h = Header()
    for i in range(0, len(raw), 2880):
        if parse_cards(raw[i : i + 2880], h):
            break
    assert h.values["FILTER"] == "0,0,0,0"
    assert any("FILTER" in p and "column" in p for p in h.problems)


def test_scan_of_all_samples_catalogs_or_rejects_each(samples: Path, library) -> None:
    """A real `astrocat scan` over a copy of every sample: nothing raises, each file accounted for."""
    dest = library.quarantine / "samples"
    shutil.copytree(samples / "files", dest)
    r = invoke_cli("scan", "--json", cwd=library.base_dir)
    assert r.returncode == 1, r.stderr  # some samples are rejected: documented exit code 1
    out = json.loads(r.stdout)
    assert out["new"] == len(FILES)
    assert out["rejected"] == len(REJECTED)
    rejected = {Path(x["path"]).relative_to("quarantine/samples").as_posix(): x["reason"] for x in out["rejects"]}
    for name, reason in REJECTED.items():
        assert reason in rejected[name]
    # the scan never modified a file
    for p in dest.rglob("*"):
        if p.is_file():
            assert p.read_bytes() == (samples / "files" / p.relative_to(dest)).read_bytes()


# the rotator angle as real programs write it (flats must match the lights' angle)
@pytest.mark.parametrize(("name", "want"), [
    ("SGP_1.txt", 258.37),               # POSANGLE (camera rotator position angle)
    ("MaxImDL_1.txt", 270.69),           # PA (a string)
    ("NINA_2_v3.2_QHY-Touptek_ASTAP.txt", None),  # OBJCTROT (planned) and CROTA (solve) only: no rotator
    ("PixInsight_1.txt", None),          # CROTA1/2 of a solved master: not a rotator
])
def test_rotator_angle_of_real_headers(samples: Path, name: str, want: float | None) -> None:
    fields, _, _ = frame(samples, name)
    assert fields["rotator_deg"] == want
