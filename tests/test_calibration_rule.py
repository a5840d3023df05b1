"""The calibration rule: a night's calibration frames and what a session's lights lack. Pure."""

from __future__ import annotations

from astrocat.rules.calibration import calibration_gaps, night_calibration


def frame(frame_type: str, exposure_s: float | None = 300.0, filt: str | None = None) -> dict:
    return {"frame_type": frame_type, "exposure_s": exposure_s, "filter": filt}


LIGHTS = [frame("light", 300.0, "Ha"), frame("light", 300.0, "OIII"), frame("light", 120.0, "Ha")]


def test_night_calibration_counts_exposures_and_filters_per_type():
    cal = night_calibration([*LIGHTS, frame("dark", 300.0), frame("dark", 300.0), frame("dark", 60.0),
                             frame("flat", 2.5, "Ha"), frame("flat", 3.1, "OIII"), frame("flat", None, None),
                             frame("bias", 0.0)])
    assert cal == {
        "dark": {"frames": 3, "exposures": [60.0, 300.0], "filters": []},
        "flat": {"frames": 3, "exposures": [2.5, 3.1], "filters": ["Ha", "OIII"]},
        "bias": {"frames": 1, "exposures": [0.0], "filters": []},
        "darkflat": {"frames": 0, "exposures": [], "filters": []},
    }


def test_a_complete_night_lacks_nothing():
    cal = night_calibration([*LIGHTS, frame("dark", 300.0), frame("dark", 120.0), frame("flat", 2.0, "Ha"),
                             frame("flat", 2.0, "OIII"), frame("darkflat", 2.0)])
    assert calibration_gaps(LIGHTS, cal) == []


def test_gaps_name_the_missing_exposures_and_filters():
    cal = night_calibration([*LIGHTS, frame("dark", 300.0), frame("flat", 2.0, "Ha"), frame("bias", 0.0)])
    assert calibration_gaps(LIGHTS, cal) == ["no darks at 120 s", "no flats for OIII"]


def test_a_night_without_calibration_lacks_everything():
    assert calibration_gaps(LIGHTS, night_calibration(LIGHTS)) == [
        "no darks this night", "no flats this night", "no bias or dark-flats"]


def test_no_lights_no_gaps():
    darks_only = [frame("dark", 300.0)]
    assert calibration_gaps([], night_calibration(darks_only)) == []


def test_lights_without_filter_or_exposure_ask_only_for_what_is_known():
    lights = [frame("light", None, None)]
    cal = night_calibration([*lights, frame("dark", 60.0), frame("flat", 1.0, "L"), frame("bias", 0.0)])
    assert calibration_gaps(lights, cal) == []
