"""Unit tests of astrocat.sessions: session ids and the `sessions` row, from plain frame dicts."""

from __future__ import annotations

import json

import pytest

from astrocat.rules.sessions import rig_slug, session_id, summarize


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ZWO ASI2600MM Pro", "ASI2600MM"),
        ("William Optics RedCat 51", "WilliamOpticsRedCat51"),
        ("askar fra400", "AskarFra400"),  # lower-case words get a capital
        ("iOptron CEM40", "iOptronCEM40"),  # mixed case is kept as written
        ("QHYCCD QHY268M", "QHY268M"),
        ("Player One Poseidon-M Pro", "PoseidonM"),
        ("ZWO", "ZWO"),  # only vendor words: keep them rather than nothing
        ("Player One", "PlayerOne"),
        ("Sky-Watcher Esprit 100ED", "SkyWatcherEsprit100ED"),
        ("A" * 50, "A" * 40),
    ],
)
def test_rig_slug(name: str, expected: str) -> None:
    assert rig_slug(name, "Fallback") == expected


@pytest.mark.parametrize("name", [None, "", "        ", "!!! ---"])
def test_rig_slug_falls_back_without_letters_or_digits(name) -> None:
    assert rig_slug(name, "NoCamera") == "NoCamera"


def test_session_id_full_rig() -> None:
    assert session_id("2024-11-01", "ZWO ASI2600MM Pro", "Askar FRA400") == "2024-11-01_ASI2600MM_AskarFRA400"


def test_session_id_telescope_wins_over_focal_length() -> None:
    assert session_id("2024-11-01", "ASI533MC", "RedCat 51", 250.0) == "2024-11-01_ASI533MC_RedCat51"


@pytest.mark.parametrize(
    "camera, telescope, focal, expected",
    [
        (None, "RedCat 51", None, "2024-11-01_NoCamera_RedCat51"),
        ("ASI533MC", None, None, "2024-11-01_ASI533MC_NoScope"),
        ("ASI533MC", None, 399.6, "2024-11-01_ASI533MC_400mm"),
        ("ASI533MC", "        ", 250.0, "2024-11-01_ASI533MC_250mm"),  # MaxIm's blank TELESCOP
        ("ASI533MC", None, 0.0, "2024-11-01_ASI533MC_NoScope"),
        (None, None, None, "2024-11-01_NoCamera_NoScope"),
    ],
)
def test_session_id_fallbacks(camera, telescope, focal, expected) -> None:
    assert session_id("2024-11-01", camera, telescope, focal) == expected


@pytest.mark.parametrize("night", [None, ""])
def test_no_night_no_session(night) -> None:
    assert session_id(night, "ASI2600MM", "RedCat 51", 250.0) is None


def test_same_rig_spelled_differently_is_one_session() -> None:
    a = session_id("2024-11-01", "ZWO ASI2600MM Pro", "RedCat 51")
    b = session_id("2024-11-01", "ASI2600MM", "RedCat-51")
    assert a == b == "2024-11-01_ASI2600MM_RedCat51"


def _frame(**kw):
    base = {
        "frame_type": "light", "is_master": 0, "target": None, "filter": None, "exposure_s": None,
        "date_obs": None, "night": "2024-11-01", "camera": "ZWO ASI2600MM Pro", "telescope": "Askar FRA400",
        "ccd_temp_c": None, "site_lat": None, "site_lon": None, "size": None,
    }
    base.update(kw)
    return base


NIGHT = [
    _frame(target="M 31", filter="Ha", exposure_s=300.0, date_obs="2024-11-01T20:00:00Z", ccd_temp_c=-10.0, size=1000),
    _frame(target="M 31", filter="Ha", exposure_s=300.0, date_obs="2024-11-01T20:05:30Z", ccd_temp_c=-10.1,
           site_lat=52.5, site_lon=13.4, size=1000),
    _frame(target="NGC 7000", filter="OIII", exposure_s=600, date_obs="2024-11-01T21:00:00Z", ccd_temp_c=-10.3,
           site_lat=40.0, site_lon=-3.7, size=1500),
    _frame(exposure_s=120.5, date_obs="2024-11-01T19:30:00Z", size=None),  # no filter, no target
    _frame(target="M 31", filter="Ha", exposure_s=None, size=10),  # exposure unknown
    _frame(is_master=1, target="M 33", filter="L", exposure_s=3600.0, date_obs="2024-11-01T22:00:00Z", size=50000),
    _frame(frame_type="dark", exposure_s=300.0, date_obs="2024-11-02T04:00:00Z", ccd_temp_c=-9.9, size=2000),
    _frame(frame_type="flat", filter="Ha", exposure_s=1.5, date_obs="2024-11-01T17:00:00Z", ccd_temp_c=-10.0, size=500),
    _frame(frame_type="bias", exposure_s=0.001, ccd_temp_c=0.0, size=100),
    _frame(frame_type="darkflat", exposure_s=1.5, size=100),
    _frame(frame_type=None, size=5),
    _frame(frame_type="", size=5),
    _frame(frame_type="snapshot", size=5),
]


def test_summarize_a_night() -> None:
    row = summarize("2024-11-01_ASI2600MM_AskarFRA400", NIGHT)
    assert row == {
        "id": "2024-11-01_ASI2600MM_AskarFRA400",
        "night": "2024-11-01",
        "camera": "ZWO ASI2600MM Pro",
        "telescope": "Askar FRA400",
        "site_lat": 52.5,  # the first frame that has a site
        "site_lon": 13.4,
        "targets": '["M 31", "NGC 7000"]',  # lights only, masters not
        "filters": '["Ha", "OIII"]',
        "frames": 13,
        "lights": 6,  # a master light is a light frame, but not integration
        "darks": 1,
        "flats": 1,
        "biases": 1,
        "darkflats": 1,
        "integration_s": 1320.5,  # 300 + 300 + 600 + 120.5 + 0
        "integration_by_filter": '{"(none)": 120.5, "Ha": 600.0, "OIII": 600.0}',
        "frames_by_type": '{"bias": 1, "dark": 1, "darkflat": 1, "flat": 1, "light": 6, "snapshot": 1, "unknown": 2}',
        "ccd_temp_min": -10.3,
        "ccd_temp_max": 0.0,  # 0 degC is a temperature, not a missing one
        "ccd_temp_mean": -8.38,  # (-10 - 10.1 - 10.3 - 9.9 - 10 + 0) / 6 = -8.3833
        "first_utc": "2024-11-01T17:00:00Z",  # the flat, before the lights
        "last_utc": "2024-11-02T04:00:00Z",  # the dark, after them
        "bytes": 56225,  # 1000 + 1000 + 1500 + 10 + 50000 + 2000 + 500 + 100 + 100 + 3 * 5; None counts 0
    }


def test_summarize_accepts_an_iterator() -> None:
    row = summarize("s", iter(NIGHT[:3]))
    assert (row["frames"], row["night"], row["integration_s"]) == (3, "2024-11-01", 1200.0)


def test_summarize_nothing() -> None:
    assert summarize("empty", []) == {
        "id": "empty", "night": None, "camera": None, "telescope": None, "site_lat": None, "site_lon": None,
        "targets": "[]", "filters": "[]", "frames": 0, "lights": 0, "darks": 0, "flats": 0, "biases": 0,
        "darkflats": 0, "integration_s": 0.0, "integration_by_filter": "{}", "frames_by_type": "{}",
        "ccd_temp_min": None, "ccd_temp_max": None, "ccd_temp_mean": None, "first_utc": None,
        "last_utc": None, "bytes": 0,
    }


def test_summarize_calibration_only() -> None:
    row = summarize("cal", [_frame(frame_type="dark", exposure_s=300.0, is_master=True, ccd_temp_c=-10.0, size=7)])
    assert (row["darks"], row["lights"], row["integration_s"], row["integration_by_filter"], row["targets"]) == (
        1, 0, 0.0, "{}", "[]",
    )
    assert (row["ccd_temp_min"], row["ccd_temp_max"], row["ccd_temp_mean"], row["bytes"]) == (-10.0, -10.0, -10.0, 7)


def test_summarize_rounds_sums_to_milliseconds() -> None:
    frames = [_frame(filter="L", exposure_s=0.1), _frame(filter="L", exposure_s=0.2)]
    row = summarize("s", frames)
    assert row["integration_s"] == 0.3  # not 0.30000000000000004
    assert json.loads(row["integration_by_filter"]) == {"L": 0.3}


def test_summarize_site_at_the_equator_counts() -> None:
    frames = [_frame(site_lat=0.0, site_lon=0.0), _frame(site_lat=10.0, site_lon=20.0)]
    row = summarize("s", frames)
    assert (row["site_lat"], row["site_lon"]) == (0.0, 0.0)


def test_summarize_master_flag_as_sqlite_integer() -> None:
    frames = [_frame(filter="R", exposure_s=60, is_master=0), _frame(filter="R", exposure_s=900, is_master=1)]
    row = summarize("s", frames)
    assert (row["lights"], row["integration_s"], row["integration_by_filter"]) == (2, 60.0, '{"R": 60.0}')


def test_summarize_empty_filter_name_is_none_filter() -> None:
    row = summarize("s", [_frame(filter="", exposure_s=30.0)])
    assert (row["integration_by_filter"], row["filters"]) == ('{"(none)": 30.0}', "[]")
