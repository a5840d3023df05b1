"""The pure normalisation rules, with plain values."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrocat.rules import normalize as n
from astrocat.rules.normalize import Settings, normalize


@pytest.mark.parametrize(
    "raw, want",
    [
        ("LIGHT", ("light", False)), ("Light", ("light", False)), ("Light Frame", ("light", False)),
        ("Object", ("light", False)), ("Science", ("light", False)), ("Dark Frame", ("dark", False)),
        ("Flat Field", ("flat", False)), ("Flat Frame", ("flat", False)), ("Bias Frame", ("bias", False)),
        ("Zero", ("bias", False)), ("Offset", ("bias", False)), ("Dark Flat", ("darkflat", False)),
        ("FlatDark", ("darkflat", False)), ("Master Dark", ("dark", True)), ("Master Light", ("light", True)),
        ("MasterFlat", ("flat", True)), ("LIGHT   ", ("light", False)), ("DARKFLAT", ("darkflat", False)),
    ],
)
def test_frame_type_values(raw, want):
    ftype, master, _ = n.frame_type_from_header({"IMAGETYP": raw})
    assert (ftype, master) == want


def test_frame_type_keyword_order_and_picttype():
    assert n.frame_type_from_header({"FRAME": "Flat"})[0] == "flat"
    assert n.frame_type_from_header({"PICTTYPE": 3})[0] == "dark"
    assert n.frame_type_from_header({"CALFRAME": "MasterFlat"})[:2] == ("flat", True)
    assert n.frame_type_from_header({"IMAGETYP": "nonsense"})[0] is None


@pytest.mark.parametrize(
    "path, want",
    [
        ("SharpCap Captures/2024-01-01/Darks/10_00_00.fits", "dark"),
        ("DWARF/dark_exp_30.000000_gain_60_bin_1_34C_stack_1.fits", "dark"),
        ("DWARF/bias_gain_2_bin_1.fits", "bias"),
        ("x/Flats/Ha/img-0001.fits", "flat"),
        ("x/DarkFlats/a.fits", "darkflat"),
        ("x/dark_flat_1.fits", "darkflat"),
        ("M_81_Light_Ha_300_secs__016.fits", "light"),
        ("captures/img-0001.fits", None),
    ],
)
def test_frame_type_from_path(path, want):
    assert n.frame_type_from_path(path)[0] == want


def test_file_name_beats_folder_name():
    assert n.frame_type_from_path("Lights/M31/dark_exp_30.fits")[0] == "dark"


def test_master_from_path():
    assert n.frame_type_from_path("masterDark_BIN-1_3856x2180_EXPOSURE-120.00s.xisf") == ("dark", True)


@pytest.mark.parametrize(
    "raw, want",
    [
        ("Lum", "L"), ("Luminance", "L"), ("L", "L"), ("Red", "R"), ("H-alpha", "Ha"), ("Ha 3nm", "Ha"),
        ("HA", "Ha"), ("H_Alpha", "Ha"), ("Oiii-7nm", "OIII"), ("O3", "OIII"), ("S-II", "SII"),
        ("SII", "SII"), ("L-eXtreme", "L-eXtreme"), ("IRCUT", "IRCUT"), ("", None), ("   ", None),
    ],
)
def test_filter_aliases(raw, want):
    assert n.canonical_filter(raw) == want


def test_user_filter_alias_wins():
    assert n.canonical_filter("Ha", {"ha": "H-alpha 6nm"}) == "H-alpha 6nm"


@pytest.mark.parametrize(
    "raw, want",
    [
        ("M 31", ("M31", None)), ("m31", ("M31", None)), ("Messier 31", ("M31", None)), ("M031", ("M31", None)),
        ("NGC7000", ("NGC 7000", None)), ("ngc 7000", ("NGC 7000", None)), ("IC1805", ("IC 1805", None)),
        ("NGC 6027A", ("NGC 6027A", None)), ("Sh2-155", ("Sh2-155", None)), ("SH 2-155", ("Sh2-155", None)),
        ("M81_M82_Panel2", ("M81_M82", "2")), ("M31 Panel 3", ("M31", "3")), ("M 31_mosaic", ("M31", None)),
        ("Unknown", (None, None)), ("FlatWizard", (None, None)), ("", (None, None)), ("  ", (None, None)),
        ("Prawn Nebula (IC 4628)", ("Prawn Nebula (IC 4628)", None)),
    ],
)
def test_targets(raw, want):
    assert n.canonical_target(raw) == want


def test_user_target_alias():
    assert n.canonical_target("Great Orion Nebula", {"great orion nebula": "M42"}) == ("M42", None)


@pytest.mark.parametrize(
    "raw, want",
    [
        ("51 3 0.000", 51.05), ("-31 16 24", -31.273333), ("+51 03 00.000", 51.05), ("-22:57:08:99", -22.952497),
        ("51N 28 12", 51.47), ("000E 00 00", 0.0), ("10 30 00 S", -10.5), (4.813306e01, 48.13306), ("48.1331", 48.1331),
        ("garbage", None), (None, None),
    ],
)
def test_parse_angle(raw, want):
    got = n.parse_angle(raw)
    assert got == (pytest.approx(want, abs=1e-5) if want is not None else None)


def test_parse_iso_variants():
    assert n.parse_iso("2020-01-21T20:29:08.357") == datetime(2020, 1, 21, 20, 29, 8, 357000)
    assert n.parse_iso("2026-07-28T11:12:39.9620845").microsecond == 962084
    assert n.parse_iso("2018-09-17T21:04:46").second == 46
    z = n.parse_iso("2018-01-01T01:02:03.5Z")
    assert z.tzinfo is not None and z.utcoffset().total_seconds() == 0
    assert n.parse_iso("2024-13-01T00:00:00") is None
    assert n.parse_iso("yesterday") is None


def test_theskyx_localtim():
    assert n.parse_us_local("8/14/2023 07:40:00.470 PM DST") == datetime(2023, 8, 14, 19, 40, 0, 470000)
    assert n.parse_us_local("1/2/2024 12:15:00 AM") == datetime(2024, 1, 2, 0, 15)


class TestNight:
    def test_local_time_rule(self):
        # 02:00 local belongs to the evening before; 13:00 to the same day
        assert n.compute_night(None, datetime(2024, 11, 2, 2, 0), None, None)[0] == "2024-11-01"
        assert n.compute_night(None, datetime(2024, 11, 2, 13, 0), None, None)[0] == "2024-11-02"

    def test_longitude_beats_timezone(self):
        utc = datetime(2018, 7, 4, 14, 3)  # Siding Spring, +149 deg: ~23:59 local mean time
        assert n.compute_night(utc, None, 149.06, "Europe/Brussels") == ("2018-07-04", "longitude")

    def test_timezone_is_dst_correct(self):
        # 23:30 UTC: 00:30 CET in winter (next day local -> night of 23:30 UTC's date), 01:30 CEST in summer
        assert n.compute_night(datetime(2024, 1, 10, 23, 30), None, None, "Europe/Brussels")[0] == "2024-01-10"
        # 11:30 UTC on a summer day is 13:30 CEST: after noon, so that day's night
        assert n.compute_night(datetime(2024, 7, 10, 11, 30), None, None, "Europe/Brussels")[0] == "2024-07-10"
        # but 10:30 UTC = 12:30 CEST (after noon) vs 11:30 CET in winter (before noon)
        assert n.compute_night(datetime(2024, 7, 10, 10, 30), None, None, "Europe/Brussels")[0] == "2024-07-10"
        assert n.compute_night(datetime(2024, 1, 10, 10, 30), None, None, "Europe/Brussels")[0] == "2024-01-09"

    def test_the_nights_dst_starts_and_ends_in_the_southern_hemisphere(self):
        # Sydney, 2024-10-06 02:00 AEST -> 03:00 AEDT: 01:30 AEST and 03:30 AEDT are one night
        assert n.compute_night(datetime(2024, 10, 5, 15, 30), None, None, "Australia/Sydney")[0] == "2024-10-05"
        assert n.compute_night(datetime(2024, 10, 5, 16, 30), None, None, "Australia/Sydney")[0] == "2024-10-05"
        # Auckland, 2024-04-07 03:00 NZDT -> 02:00 NZST: 02:30 happens twice, both in one night
        assert n.compute_night(datetime(2024, 4, 6, 13, 30), None, None, "Pacific/Auckland")[0] == "2024-04-06"
        assert n.compute_night(datetime(2024, 4, 6, 14, 30), None, None, "Pacific/Auckland")[0] == "2024-04-06"
        # Chatham Islands, UTC+13:45 in summer: 18:00 local is 04:15 UTC, already the local day
        assert n.compute_night(datetime(2024, 1, 10, 4, 15), None, None, "Pacific/Chatham") == ("2024-01-10", "timezone")
        # the UTC rule would have put that frame on the night before
        assert n.compute_night(datetime(2024, 1, 10, 4, 15), None, None, None)[0] == "2024-01-09"

    @settings(max_examples=300, deadline=None)
    @given(
        zone=st.sampled_from(["Australia/Sydney", "Pacific/Auckland", "Pacific/Chatham", "America/Denver",
                              "America/Santiago", "America/St_Johns", "Asia/Kolkata", "Asia/Tokyo",
                              "Europe/London", "Africa/Windhoek", "Pacific/Honolulu"]),
        day=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    )
    def test_dusk_to_dawn_is_one_night_in_any_timezone(self, zone, day):
        """Frames every 30 min for 12 h from 18:00 local, DST changes included, share one
        night, named after the evening's date."""
        dusk = datetime.combine(day, time(18, 0), tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
        nights = {
            n.compute_night((dusk + timedelta(minutes=30 * k)).replace(tzinfo=None), None, None, zone)
            for k in range(25)
        }
        assert nights == {(day.isoformat(), "timezone")}

    def test_utc_fallback(self):
        assert n.compute_night(datetime(2024, 1, 10, 11, 0), None, None, None) == ("2024-01-09", "utc")
        assert n.compute_night(None, None, None, "UTC") == (None, "none")


def test_exposure_rules():
    assert n.exposure({"EXPOSURE": 30})[0] == 30.0  # SGP
    assert n.exposure({"EXP": 15.0})[0] == 15.0  # DWARF II
    # ASIDeepStack: EXPTIME is the stack total, EXPOSURE the per-frame time
    val, notes = n.exposure({"EXPTIME": 2700.0, "EXPOSURE": 300.0, "STACKCNT": 9})
    assert val == 300.0 and "stack total" in notes[0]
    assert n.exposure({"EXPTIME": "120.00"})[0] == 120.0  # PixInsight string
    val, notes = n.exposure({"EXPTIME": "abc"})
    assert val is None and "not a number" in notes[0]
    assert n.exposure({"EXPTIME": -1.0})[0] is None


def test_theskyx_sitelong_west_positive():
    lat, lon, notes = n.site({"SITELAT": "+38 26 18.00", "SITELONG": "+122 30 31.00"}, "TheSkyX Version 10.5")
    assert lon == pytest.approx(-122.508611, abs=1e-5) and "west" in notes[0]


def test_dwarf2_ra_in_hours():
    ra, dec, _ = n.coordinates({"RA": 5.5, "DEC": -5.0}, {"RA": "[h] Observe object RA coordinate"})
    assert ra == pytest.approx(82.5)


def test_sharpcap_jnow_is_precessed():
    ra, dec, notes = n.coordinates({"RA": 187.346, "DEC": 12.39, "EQUINOX": 2025.2155}, {})
    # astropy: SkyCoord(187.346, 12.39, frame=FK5(equinox=J2025.2155)) in FK5 J2000 is
    # (187.02681, 12.52927); 0.001 deg = 3.6", well under a pixel of any listed rig
    assert (ra, dec) == (pytest.approx(187.02681, abs=1e-3), pytest.approx(12.52927, abs=1e-3))
    assert notes == ["coordinates precessed from equinox 2025.22 to J2000"]


def test_mount_is_not_a_telescope():
    for raw in ("EQMOD HEQ5/6", "ZWO AM5", "EQMod Mount", "Telescope Simulator", "iOptron CEM40"):
        cam, tel, mount = n.equipment({"TELESCOP": raw}, Settings())
        assert tel is None and mount == raw, raw
    assert n.equipment({"TELESCOP": "Esprit 100"}, Settings())[1] == "Esprit 100"
    aliased = n.equipment({"TELESCOP": "EQMOD HEQ5/6"}, Settings(telescope_aliases={"EQMOD HEQ5/6": "Evostar 72ED"}))
    assert aliased[1] == "Evostar 72ED"


def test_calibration_frames_have_no_target():
    fields, _ = normalize({"IMAGETYP": "FLAT", "OBJECT": "M31", "EXPTIME": 1.0}, "a.fits")
    assert fields["target"] is None


def test_light_inferred_when_exposure_and_object():
    fields, _ = normalize({"OBJECT": "M 57", "EXPTIME": 10}, "captures/0001.fits")
    assert fields["frame_type"] == "light" and fields["target"] == "M57"
    fields, _ = normalize({"EXPTIME": 10}, "captures/0001.fits")
    assert fields["frame_type"] == "unknown"


@pytest.mark.parametrize(
    "values",
    [
        {"DATE-OBS": 12}, {"DATE-OBS": "not a date", "EXPTIME": "x"}, {"NAXIS1": "wide"},
        {"SITELAT": "north", "SITELONG": 999.0}, {"RA": "x", "DEC": None}, {"GAIN": float("nan")},
        {"XBINNING": "?"}, {"OBJECT": 42}, {"FILTER": True},
    ],
)
def test_junk_never_raises(values):
    fields, problems = normalize(values, "x.fits")
    # no type keyword, and never OBJECT with an exposure: nothing says what the frame is
    assert fields["frame_type"] == "unknown"
    assert "no observation date (DATE-OBS)" in problems


def test_common_names_resolve_through_the_given_function_only():
    seen = []

    def resolve(name):  # a stand-in sky catalog: the rule looks nothing up itself
        seen.append(name)
        return {"heart nebula": "IC 1805", "andromeda galaxy": "M31"}.get(name.lower())

    assert n.canonical_target("Heart Nebula", None, resolve) == ("IC 1805", None)
    assert n.canonical_target("Andromeda Galaxy Panel 2", None, resolve) == ("M31", "2")
    assert n.canonical_target("M31_Mosaic_P3", None, resolve) == ("M31", "3")
    assert n.canonical_target("NGC 281 mosaic 4", None, resolve) == ("NGC 281", "4")
    assert n.canonical_target("Sharpless 2-155", None, resolve) == ("Sh2-155", None)
    assert n.canonical_target("My Comet", None, resolve) == ("My Comet", None)
    # your alias wins over the catalog, and a designation is never looked up
    assert n.canonical_target("Heart Nebula", {"heart nebula": "Heart"}, resolve) == ("Heart", None)
    assert seen == ["Heart Nebula", "Andromeda Galaxy", "My Comet"]
    frame, _ = n.normalize({"IMAGETYP": "Light", "OBJECT": "Heart Nebula", "EXPTIME": 60}, "a.fits",
                           Settings(resolve_name=resolve))
    assert (frame["object"], frame["target"], frame["panel"]) == ("Heart Nebula", "IC 1805", None)


def test_an_aliased_mount_stays_the_mount():
    s = Settings(telescope_aliases={"EQMOD HEQ5/6": "Esprit 100"})
    assert n.equipment({"TELESCOP": "EQMOD HEQ5/6"}, s) == (None, "Esprit 100", "EQMOD HEQ5/6")
    assert n.equipment({"TELESCOP": "Esprit100ED"}, Settings(telescope_aliases={"Esprit100ED": "Esprit 100"})) == (
        None, "Esprit 100", None)
