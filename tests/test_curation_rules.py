"""The pure curation rules with plain values: how corrections combine, target aliases,
nearest targets, split ids; and frames marked bad in the calibration and session rules."""

from __future__ import annotations

import pytest

from astrocat.rules import curation as rules
from astrocat.rules.calibration import night_calibration
from astrocat.rules.sessions import summarize

BASE = {"target": "Andromeda", "filter": "Ha", "frame_type": "light", "exposure_s": 300.0,
        "session_id": "S1", "telescope": "EQMOD HEQ5", "bad": 0, "bad_reason": None}


def test_session_then_frame_then_target_aliases() -> None:
    session = {"S1": {"session_id": "S-renamed", "telescope": "Esprit 100"}}
    frame = {"session_id": "S-moved", "filter": "OIII"}
    got = rules.effective(BASE, session, frame, {"andromeda": "M31"})
    assert got == {**BASE, "target": "M31", "filter": "OIII", "session_id": "S-moved", "telescope": "Esprit 100"}


def test_a_frame_correction_of_the_target_is_still_read_through_the_aliases() -> None:
    got = rules.effective(BASE, {}, {"target": "Pacman"}, {"pacman": "NGC 281"})
    assert got["target"] == "NGC 281"


def test_session_corrections_only_apply_to_their_headers_session() -> None:
    got = rules.effective({**BASE, "session_id": "S2"}, {"S1": {"telescope": "Esprit 100"}}, {}, {})
    assert got["telescope"] == "EQMOD HEQ5"


def test_unmarking_bad_drops_the_reason() -> None:
    assert rules.effective(BASE, {}, {"bad": 1, "bad_reason": "clouds"}, {})[("bad")] == 1
    got = rules.effective(BASE, {}, {"bad": 0, "bad_reason": "clouds"}, {})
    assert (got["bad"], got["bad_reason"]) == (0, None)


@pytest.mark.parametrize(("name", "aliases", "want"), [
    ("Andromeda", {"andromeda": "M31"}, "M31"),
    ("ANDROMEDA", {"andromeda": "M31"}, "M31"),
    ("a", {"a": "b", "b": "c"}, "c"),
    ("a", {"a": "b", "b": "a"}, "a"),  # a loop stops instead of spinning
    ("M42", {"andromeda": "M31"}, "M42"),
    (None, {"andromeda": "M31"}, None),
])
def test_resolve_target(name, aliases, want) -> None:
    assert rules.resolve_target(name, aliases) == want


def test_angular_separation() -> None:
    assert rules.angular_sep_deg(10.0, 20.0, 10.0, 21.0) == pytest.approx(1.0)
    # RA degrees shrink with cos(dec): 1 deg of RA at dec 60 is about half a degree
    assert rules.angular_sep_deg(0.0, 60.0, 1.0, 60.0) == pytest.approx(0.49998, abs=1e-4)
    # across 0h
    assert rules.angular_sep_deg(359.9, 0.0, 0.1, 0.0) == pytest.approx(0.2)


def test_nearest_within_radius_nearest_first() -> None:
    places = [("M31", 10.68, 41.27), ("M110", 10.09, 41.69), ("M33", 23.46, 30.66)]
    got = rules.nearest(10.70, 41.25, places, 1.0)
    assert [n for n, _ in got] == ["M31", "M110"]
    assert got[0][1] < 0.05
    assert rules.nearest(10.70, 41.25, places, 0.01) == []


def test_split_id_takes_the_next_free_number() -> None:
    assert rules.split_id("S", []) == "S-2"
    assert rules.split_id("S", ["S-2", "s-3"]) == "S-4"


def test_bad_frames_match_no_calibration_and_add_no_integration() -> None:
    frames = [
        {"frame_type": "dark", "exposure_s": 300.0, "filter": None, "bad": 1},
        {"frame_type": "dark", "exposure_s": 60.0, "filter": None},
        {"frame_type": "light", "is_master": 0, "exposure_s": 300.0, "filter": "Ha", "target": "M31"},
        {"frame_type": "light", "is_master": 0, "exposure_s": 120.0, "filter": "Ha", "target": "M31", "bad": 1},
    ]
    assert night_calibration(frames)["dark"] == {"frames": 1, "exposures": [60.0], "filters": []}
    s = summarize("S", frames)
    assert s["integration_s"] == 300.0 and s["frames"] == 4
