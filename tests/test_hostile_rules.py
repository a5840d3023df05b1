"""Hostile but real header values against the pure rules: each test failed before its fix."""

from __future__ import annotations

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
