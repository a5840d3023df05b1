"""Hostile but real header values against the pure rules: each test failed before its fix."""

from __future__ import annotations

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
