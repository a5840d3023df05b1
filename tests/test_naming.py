"""Naming patterns, safe names and collision sequences: pure functions, plain values."""

from __future__ import annotations

import os
import unicodedata
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings, strategies as st

from astrocat.rules import naming
from astrocat.config import DEFAULT_PATTERN
from astrocat.library import recovery_action

LIGHT = {
    "frame_type": "light", "target": "M31", "filter": "L", "exposure_s": 180.0, "night": "2024-11-01",
    "camera": "ZWO ASI2600MM Pro", "telescope": "Esprit 100", "gain": 100.0, "ccd_temp_c": -9.8,
    "set_temp_c": -10.0, "binning": "1x1", "session_id": "2024-11-01_ASI2600MM_Esprit100",
}


def path_of(frame, pattern=DEFAULT_PATTERN, source="q/a.fits", seq=1, cal=None):
    return naming.render(pattern, frame, source, cal).path(seq)


def test_default_pattern_gives_the_documented_layout():
    assert path_of(LIGHT) == "2024/2024-11-01_M31/Light/M31_L_180s_0001.fits"


def test_every_token_renders():
    pattern = "{year}/{night}/{target}/{frame_type}/{filter}_{exposure}_{camera}_{telescope}_g{gain}_{temp}_{binning}_{session}_{seq}"
    got = path_of(LIGHT, pattern, seq=12)
    assert got == (
        "2024/2024-11-01/M31/Light/L_180s_ZWO_ASI2600MM_Pro_Esprit_100_g100_-10C_1x1_"
        "2024-11-01_ASI2600MM_Esprit100_0012.fits"
    )


def test_missing_values_vanish_with_one_separator():
    osc = {**LIGHT, "filter": None, "target": "M42", "exposure_s": 60.0}
    assert path_of(osc) == "2024/2024-11-01_M42/Light/M42_60s_0001.fits"
    nothing = {"frame_type": "light"}
    # a folder with no value at all is named after what is missing
    assert path_of(nothing, "{year}/{target}/{filter}/{seq}") == "Undated/NoTarget/NoFilter/0001.fits"


def test_temperature_falls_back_to_the_sensor_reading():
    assert path_of({**LIGHT, "set_temp_c": None, "ccd_temp_c": -14.6}, "{temp}_{seq}") == "-15C_0001.fits"


def test_calibration_frames_go_with_the_sessions_main_target():
    dark = {"frame_type": "dark", "exposure_s": 120.0, "night": "2024-11-01", "session_id": "s"}
    assert path_of(dark, cal="M31") == "2024/2024-11-01_M31/Dark/Dark_120s_0001.fits"
    flat = {"frame_type": "flat", "filter": "Ha", "exposure_s": 1.5, "night": "2024-11-01"}
    assert path_of(flat, cal="NGC 7000") == "2024/2024-11-01_NGC_7000/Flat/Flat_Ha_1.5s_0001.fits"
    bias = {"frame_type": "bias", "exposure_s": 0.0, "night": "2024-11-01"}
    assert path_of(bias) == "2024/2024-11-01_Calibration/Bias/Bias_0s_0001.fits"
    darkflat = {"frame_type": "darkflat", "exposure_s": 1.5, "night": "2024-11-01", "is_master": True}
    assert path_of(darkflat, cal="M31") == "2024/2024-11-01_M31/Masters/MasterDarkFlat_1.5s_0001.fits"
    # with {frame_type} already in the file name the label is not repeated
    assert path_of(dark, "{night}/{frame_type}_{target}_{exposure}_{seq}", cal="M31") == "2024-11-01/Dark_120s_0001.fits"


def test_main_target_is_the_one_with_most_lights_then_alphabetical():
    assert naming.main_target({"M31": 10, "NGC 7000": 24}) == "NGC 7000"
    assert naming.main_target({"M33": 5, "M31": 5}) == "M31"
    assert naming.main_target({}) is None


def test_calibration_of_a_night_without_lights_waits_until_the_night_is_over():
    dark = {"frame_type": "dark", "night": "2024-11-01"}
    assert naming.hold_calibration(dark, session_has_lights=False, current_night="2024-11-01")
    assert not naming.hold_calibration(dark, session_has_lights=False, current_night="2024-11-02")
    assert not naming.hold_calibration(dark, session_has_lights=True, current_night="2024-11-01")
    assert not naming.hold_calibration({**dark, "frame_type": "light"}, False, "2024-11-01")
    assert not naming.hold_calibration({**dark, "night": "2031-01-01"}, False, "2024-11-01"), "a wrong clock"


@pytest.mark.parametrize("source, ext", [
    ("a/b.fits", ".fits"), ("a/b.FIT", ".fit"), ("b.fts", ".fts"), ("x/M31.fits.fz", ".fits.fz"),
    ("M31.FITS.GZ", ".fits.gz"), ("stack.xisf", ".xisf"), ("a.b.c.fit", ".fit"), ("noext", ""),
])
def test_extension_is_kept_lower_case_with_compression(source, ext):
    assert naming.extension_of(source) == ext


def test_collision_takes_the_next_free_sequence_case_and_extension_insensitive():
    r = naming.render(DEFAULT_PATTERN, LIGHT, "q/a.fits")
    taken = {naming.stem_key("2024/2024-11-01_M31/Light/M31_L_180s_0001.fit"),
             naming.stem_key("2024/2024-11-01_m31/light/M31_L_180S_0002.FITS")}
    path, seq = naming.allocate(r, taken.__contains__)
    assert (path, seq) == ("2024/2024-11-01_M31/Light/M31_L_180s_0003.fits", 3)


def test_pattern_without_seq_gets_a_suffix_only_on_collision():
    r = naming.render("{night}/{target}_{filter}", LIGHT, "q/a.fits")
    assert naming.allocate(r, lambda k: False)[0] == "2024-11-01/M31_L.fits"
    taken = {naming.stem_key("2024-11-01/M31_L.fits")}
    assert naming.allocate(r, taken.__contains__)[0] == "2024-11-01/M31_L_0002.fits"


def test_a_rendering_recognises_its_own_paths():
    r = naming.render(DEFAULT_PATTERN, LIGHT, "q/a.fits")
    assert r.matches("2024/2024-11-01_M31/Light/M31_L_180s_0042.fits")
    assert r.matches("2024/2024-11-01_m31/Light/M31_L_180s_12345.fits")
    assert not r.matches("2024/2024-11-01_M31/Light/M31_Ha_180s_0042.fits")
    assert not r.matches("2024/2024-11-01_M31/Light/M31_L_180s_0042.fit")
    assert not r.matches("x/2024/2024-11-01_M31/Light/M31_L_180s_0042.fits")


@pytest.mark.parametrize("pattern, why", [
    ("", "empty"), ("/abs/{seq}", "relative"), ("C:/x/{seq}", "relative"), ("{year}/../{seq}", "'..'"),
    ("{year}\\{seq}", "'/'"), ("{year}/{bogus}_{seq}", "unknown token {bogus}"),
    ("{seq}/{target}", "{seq} belongs in the file name"), ("{year}//{seq}", "empty"),
    ("{year}/{target", "unbalanced"), ("{year}/a:b_{seq}", "not allowed"),
])
def test_bad_patterns_are_refused_with_a_reason(pattern, why):
    with pytest.raises(naming.PatternError, match=__import__("re").escape(why)):
        naming.validate_pattern(pattern)


HOSTILE = [
    "../../etc/passwd", "..", ".", "/", "\\", "C:\\Windows\\System32", "M31/../../..", "CON", "con",
    "nul.fits", "COM1", "LPT9", "AUX", "a\x00b", "line\nbreak\r", "\x1b[31mred", "tab\there",
    "<>:\"|?*", "x" * 500, "ü" * 300, "\u202eevil", "$(rm -rf ~)", "`id`", " . ", "...", "~root",
    "-rf", "M31\u200b", "🔭🔭🔭" * 40, "NGC 7000 / IC 5070",
]


def assert_safe(path: str) -> None:
    assert not path.startswith("/") and "\\" not in path
    parts = path.split("/")
    for part in parts:
        assert part not in ("", ".", ".."), path
        assert ".." not in part, path
        assert not part.startswith(".") and not (part.startswith("-") and not part[1:2].isdigit()), path
        assert not part.endswith((" ", ".")), path
        assert len(part.encode("utf-8")) <= 255, path
        assert part.split(".", 1)[0].upper() not in naming.WINDOWS_RESERVED, path
        assert not any(unicodedata.category(c)[0] == "C" for c in part), repr(part)
        assert not any(c in '<>:"|?*$`' for c in part), part
    root = "/library"
    assert os.path.normpath(os.path.join(root, path)).startswith(root + "/")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_object_and_filter_values_cannot_escape_or_break_the_path(value):
    frame = {**LIGHT, "target": value, "filter": value, "camera": value, "telescope": value}
    for pattern in (DEFAULT_PATTERN, "{target}/{filter}/{camera}/{telescope}", "{target}"):
        assert_safe(path_of(frame, pattern, seq=7))
    assert_safe(path_of({**frame, "frame_type": "dark"}, cal=value))


def test_safe_component_examples():
    assert naming.safe_component("../../etc/passwd") == "etc_passwd"
    assert naming.safe_component("CON") == "CON_"
    assert naming.safe_component("Ha 3nm") == "Ha_3nm"
    assert naming.safe_component("a\x00b\nc") == "abc"
    assert naming.safe_component("x" * 100) == "x" * naming.MAX_VALUE_CHARS
    assert naming.safe_component("Andromède") == "Andromède"
    assert naming.safe_component("..") == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=80), st.sampled_from(["light", "dark", "flat"]))
def test_any_header_text_gives_a_safe_path(target, flt, ftype):
    frame = {**LIGHT, "frame_type": ftype, "target": target, "filter": flt}
    assert_safe(path_of(frame, cal=target, seq=3))
    assert_safe(path_of(frame, "{target}/{filter}/{seq}", seq=3))


def test_duplicate_paths_keep_their_folders_made_safe():
    assert naming.duplicate_path("NINA/2024-11-01/LIGHT/a b.FITS") == "NINA/2024-11-01/LIGHT/a_b.fits"
    assert_safe(naming.duplicate_path("../x/../CON/.hidden.fits"))


# --- recovery decisions (pure) ---------------------------------------------------------


@pytest.mark.parametrize("src, dst, tmp, expected", [
    ("match", "match", "absent", "forward"),   # linked, or copied and placed: finish
    ("absent", "match", "absent", "forward"),  # renamed: finish
    ("match", "absent", "other", "back"),      # crash during the copy: drop the partial copy
    ("match", "absent", "match", "back"),      # copied, not yet placed: the source is intact
    ("match", "other", "absent", "back"),      # someone else's file at dst: never touched
    ("absent", "absent", "match", "place_tmp"),  # only the verified copy is left: keep it
    ("other", "absent", "match", "place_tmp"),   # source changed by someone: keep both
    ("other", "absent", "absent", "back"),
    ("absent", "absent", "absent", "lost"),
    ("absent", "other", "other", "lost"),
])
def test_recovery_never_removes_the_last_copy(src, dst, tmp, expected):
    for state in ("planned", "filed"):
        assert recovery_action(state, src, dst, tmp) == expected


def test_posix_path_parts_are_plain():
    # a rendered path is always POSIX and relative, whatever the frame says
    p = PurePosixPath(path_of({**LIGHT, "target": "/etc"}))
    assert not p.is_absolute() and p.parts[0] == "2024"
