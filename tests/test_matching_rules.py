"""Calibration matching (astrocat.rules.matching) with plain values: a decoy for every rule."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrocat.rules import matching as m
from astrocat.rules.matching import ACCEPTED, REJECTED, REVIEW, Frame, MatchSettings

CAM, SCOPE = "ASI2600MM Pro", "Esprit 100"
BASE = dict(camera=CAM, binning="1x1", width=6248, height=4176, gain=100.0, offset=50.0,
            readout_mode="Low Noise", telescope=SCOPE)


def light(i: int, **kw) -> Frame:
    vals = {**BASE, "filter": "Ha", "exposure_s": 300.0, "temp_c": -10.1, "set_temp_c": -10.0,
            "rotator_deg": 0.5, "night": "2024-01-05", "target": "M31", **kw}
    return Frame(id=i, frame_type="light", **vals)


def cal(i: int, kind: str, **kw) -> Frame:
    defaults = {"dark": {"exposure_s": 300.0, "temp_c": -10.0, "night": "2024-01-06"},
                "flat": {"filter": "Ha", "exposure_s": 2.5, "rotator_deg": 0.5, "night": "2024-01-05"},
                "bias": {"exposure_s": 0.0, "night": "2024-01-06"},
                "darkflat": {"exposure_s": 2.5, "night": "2024-01-05"}}[kind]
    return Frame(id=i, frame_type=kind, **{**BASE, **defaults, **kw})


def verdict(match: m.KindMatch, frame_id: int) -> m.Verdict:
    v = match.verdict_for(frame_id)
    assert v is not None, f"frame {frame_id} got no verdict"
    return v


def test_darks_decoys_each_rejected_with_both_readings() -> None:
    good = [cal(100 + i, "dark") for i in range(3)]
    decoys = {
        200: (cal(200, "dark", temp_c=-5.0), "temperature -5.0 C vs light -10.0 C exceeds 2 C"),
        201: (cal(201, "dark", gain=200.0), "gain 200 vs light 100"),
        202: (cal(202, "dark", offset=30.0), "offset 30 vs light 50"),
        203: (cal(203, "dark", exposure_s=120.0), "exposure 120 s vs light 300 s differs by more than 0.5 %"),
        204: (cal(204, "dark", binning="2x2"), "binning 2x2 vs light 1x1"),
        205: (cal(205, "dark", readout_mode="High Gain"), "readout mode High Gain vs light Low Noise"),
        206: (cal(206, "dark", width=3000, height=2000), "size 3000x2000 vs light 6248x4176"),
        207: (cal(207, "dark", bad=True), "marked bad"),
    }
    lights = [light(1), light(2, temp_c=-9.9)]
    [gm] = m.match_all(lights, good + [d for d, _ in decoys.values()])
    darks = gm.kinds["dark"]
    assert darks.status == ACCEPTED
    assert sorted(f.id for f in darks.chosen) == [100, 101, 102]
    for fid, (_, reason) in decoys.items():
        v = verdict(darks, fid)
        assert v.status == REJECTED and not v.chosen
        assert v.reasons == [reason], fid


def test_exposure_and_temperature_tolerances_are_inclusive_and_configurable() -> None:
    inside = cal(1, "dark", exposure_s=301.5, temp_c=-8.1)   # 0.5 % and 2.0 C away
    outside = cal(2, "dark", exposure_s=301.6, temp_c=-10.0)
    warm = cal(3, "dark", temp_c=-7.9)
    [gm] = m.match_all([light(10, temp_c=-10.1)], [inside, outside, warm])
    d = gm.kinds["dark"]
    assert verdict(d, 1).status == ACCEPTED
    assert verdict(d, 2).status == REJECTED
    assert verdict(d, 3).reasons == ["temperature -7.9 C vs light -10.1 C exceeds 2 C"]
    loose = MatchSettings(dark_exposure_pct=1.0, temperature_c=3.0)
    [gm] = m.match_all([light(10, temp_c=-10.1)], [inside, outside, warm], loose)
    assert {f.id for f in gm.kinds["dark"].chosen} == {1, 2, 3}


def test_darks_nearest_night_is_chosen_and_max_age_rejects_old_darks() -> None:
    near = [cal(1, "dark", night="2024-01-07"), cal(2, "dark", night="2024-01-07")]
    far = [cal(3, "dark", night="2023-06-01")]
    [gm] = m.match_all([light(10)], near + far)
    d = gm.kinds["dark"]
    assert sorted(f.id for f in d.chosen) == [1, 2]
    assert verdict(d, 3).status == ACCEPTED and not verdict(d, 3).chosen
    assert "not chosen: the set of 2024-01-07 is nearer in time" in verdict(d, 3).reasons
    [gm] = m.match_all([light(10)], far, MatchSettings(dark_max_age_days=180))
    v = verdict(gm.kinds["dark"], 3)
    assert v.status == REJECTED
    assert v.reasons == ["night 2023-06-01 vs light 2024-01-05 is 218 days apart, more than 180"]


def test_masters_preferred_and_a_master_lacking_ccd_temp_needs_review() -> None:
    subs = [cal(1, "dark"), cal(2, "dark")]
    master = cal(3, "dark", is_master=True)
    [gm] = m.match_all([light(10)], subs + [master])
    assert [f.id for f in gm.kinds["dark"].chosen] == [3]
    assert "not chosen: a master is preferred" in verdict(gm.kinds["dark"], 1).reasons
    [gm] = m.match_all([light(10)], subs + [master], MatchSettings(prefer_masters=False))
    assert sorted(f.id for f in gm.kinds["dark"].chosen) == [1, 2]

    pi_master = cal(4, "dark", is_master=True, temp_c=None, gain=None)
    [gm] = m.match_all([light(10)], [pi_master])
    d = gm.kinds["dark"]
    assert d.status == REVIEW and d.chosen == [] and d.gap == "on file"
    v = verdict(d, 4)
    assert v.status == REVIEW
    assert v.reasons == ["master lacks GAIN (gain), CCD-TEMP (temperature): check it before use"]
    # never silently accepted beside subs either
    [gm] = m.match_all([light(10)], subs + [pi_master])
    assert sorted(f.id for f in gm.kinds["dark"].chosen) == [1, 2]
    assert verdict(gm.kinds["dark"], 4).status == REVIEW


def test_flats_decoys_filter_telescope_rotator_far_night() -> None:
    same_night = [cal(1, "flat"), cal(2, "flat", rotator_deg=359.0)]  # 1.5 deg the short way round
    next_week = [cal(3, "flat", night="2024-01-12")]
    decoys = {
        10: (cal(10, "flat", filter="OIII"), "filter OIII vs light Ha"),
        11: (cal(11, "flat", telescope="RedCat 51"), "telescope RedCat 51 vs light Esprit 100"),
        12: (cal(12, "flat", rotator_deg=92.0), "rotator 92.0 deg vs light 0.5 deg exceeds 2 deg"),
        13: (cal(13, "flat", night="2024-03-01"), "night 2024-03-01 vs light 2024-01-05 is 56 days apart, more than 30"),
        14: (cal(14, "flat", binning="2x2"), "binning 2x2 vs light 1x1"),
    }
    [gm] = m.match_all([light(100)], same_night + next_week + [d for d, _ in decoys.values()])
    f = gm.kinds["flat"]
    assert sorted(x.id for x in f.chosen) == [1, 2]
    assert verdict(f, 3).status == ACCEPTED and not verdict(f, 3).chosen
    for fid, (_, reason) in decoys.items():
        assert verdict(f, fid).reasons == [reason], fid
    # no same-night flats: the nearest within 30 days
    [gm] = m.match_all([light(100)], next_week + [decoys[13][0]])
    assert [x.id for x in gm.kinds["flat"].chosen] == [3]


def test_rotator_compared_only_when_both_sides_have_one() -> None:
    [gm] = m.match_all([light(1, rotator_deg=None)], [cal(2, "flat", rotator_deg=90.0)])
    assert [x.id for x in gm.kinds["flat"].chosen] == [2]
    [gm] = m.match_all([light(1)], [cal(2, "flat", rotator_deg=None)])
    assert [x.id for x in gm.kinds["flat"].chosen] == [2]


def test_bias_rules_and_darkflats_match_the_chosen_flats() -> None:
    bias = [cal(1, "bias"), cal(2, "bias", gain=0.0), cal(3, "bias", readout_mode="High Gain")]
    flats = [cal(10, "flat", exposure_s=2.5), cal(11, "flat", exposure_s=2.5)]
    darkflats = [cal(20, "darkflat", exposure_s=2.5), cal(21, "darkflat", exposure_s=5.0)]
    [gm] = m.match_all([light(100)], bias + flats + darkflats + [cal(30, "dark")])
    b = gm.kinds["bias"]
    assert [x.id for x in b.chosen] == [1]
    assert verdict(b, 2).reasons == ["gain 0 vs light 100"]
    assert verdict(b, 3).reasons == ["readout mode High Gain vs light Low Noise"]
    df = gm.kinds["darkflat"]
    assert [x.id for x in df.chosen] == [20]
    assert verdict(df, 21).reasons == ["exposure 5 s vs flats 2.5 s differs by more than 0.5 %"]
    assert gm.calibrated


def test_gaps_classified_with_what_to_shoot() -> None:
    # darks only 5 C too warm: nearby; no flats at all: missing; no bias or dark-flats: missing
    [gm] = m.match_all([light(1), light(2)], [cal(10, "dark", temp_c=-5.0)])
    d, f, b = gm.kinds["dark"], gm.kinds["flat"], gm.kinds["bias"]
    assert (d.gap, f.gap, b.gap) == ("nearby", "missing", "missing")
    assert d.shoot == "shoot 20 x 300 s darks at -10 C, gain 100, offset 50, bin 1x1, readout Low Noise (ASI2600MM Pro)"
    assert f.shoot == ("shoot 20 flats through Ha, bin 1x1, rotator 0.5 deg (ASI2600MM Pro on Esprit 100) "
                       "for the night of 2024-01-05")
    assert b.shoot == "shoot 50 bias at gain 100, offset 50, bin 1x1, readout Low Noise (ASI2600MM Pro)"
    assert not gm.calibrated
    assert gm.kinds["darkflat"].gap is None


def test_dark_flats_stand_in_for_bias() -> None:
    cals = [cal(1, "dark"), cal(2, "flat"), cal(3, "darkflat")]
    [gm] = m.match_all([light(10)], cals)
    assert gm.kinds["bias"].gap is None and gm.kinds["bias"].note == "not needed: dark-flats calibrate the flats"
    assert gm.calibrated


def test_bias_stands_in_for_dark_flats_and_says_so() -> None:
    [gm] = m.match_all([light(10)], [cal(1, "dark"), cal(2, "flat"), cal(3, "bias")])
    df = gm.kinds["darkflat"]
    assert (df.status, df.gap, df.note) == ("missing", None, "not needed: bias calibrates the flats")
    assert gm.calibrated
    [gm] = m.match_all([light(10)], [cal(1, "dark"), cal(2, "flat")])  # neither: the gap is the bias's
    assert gm.kinds["darkflat"].note == "no dark-flats on file for this camera and setup"
    assert gm.kinds["bias"].gap == "missing" and not gm.calibrated


def test_pins_override_and_none() -> None:
    pinned = cal(50, "dark", gain=200.0)  # the user knows better
    [gm] = m.match_all([light(1)], [cal(2, "dark"), pinned], pins={"dark": [pinned], "flat": None})
    assert [x.id for x in gm.kinds["dark"].chosen] == [50]
    assert gm.kinds["dark"].status == "pinned"
    assert gm.kinds["flat"].status == "none" and gm.kinds["flat"].gap is None


def test_lights_grouped_by_every_value_calibration_depends_on() -> None:
    lights = [light(1), light(2, temp_c=-9.7), light(3, exposure_s=120.0), light(4, filter="OIII"),
              light(5, night="2024-01-06"), light(6, rotator_deg=45.0), light(7, gain=0.0),
              light(8, readout_mode="High Gain"), light(9, bad=True), light(10, is_master=True)]
    groups = m.group_lights(lights)
    assert sorted(len(g.frames) for g in groups) == [1, 1, 1, 1, 1, 1, 2]
    assert sum(len(g.frames) for g in groups) == 8  # bad and master lights are not calibrated
    two = next(g for g in groups if len(g.frames) == 2)
    assert two.temp_c == pytest.approx(-9.9)


def test_wrap_aware_angles() -> None:
    assert m.angle_apart(359.0, 1.0) == pytest.approx(2.0)
    assert m.angle_apart(0.5, 92.0) == pytest.approx(91.5)
    assert m.angle_apart(270.0, 90.0) == pytest.approx(180.0)


def synthetic_library() -> tuple[list[Frame], list[Frame]]:
    """1,000 light groups (250 nights x 4 filters) and 20,000 calibration frames in nightly
    sets, temperatures jittering by 0.1 C as a regulated cooler's do."""
    nights = [f"2024-{mo:02d}-{d:02d}" for mo in range(1, 11) for d in range(1, 26)]
    lights, cals = [], []
    ids = iter(range(1, 10**7))
    for n, night in enumerate(nights):
        gain = 100.0 if n % 2 else 0.0
        for filt in ("Ha", "OIII", "SII", "L"):
            lights += [light(next(ids), night=night, filter=filt, gain=gain, temp_c=-10.0 + (k % 3 - 1) / 10)
                       for k in range(3)]
            cals += [cal(next(ids), "flat", night=night, filter=filt, gain=gain) for _ in range(10)]
        if n % 5 == 0:  # a dark library every fifth night: 3 exposures x 2 temperatures x 2 gains
            for exposure in (60.0, 120.0, 300.0):
                for temp in (-10.0, -5.0):
                    for g in (0.0, 100.0):
                        cals += [cal(next(ids), "dark", night=night, exposure_s=exposure, gain=g,
                                     temp_c=temp + (k % 3 - 1) / 10) for k in range(10)]
            cals += [cal(next(ids), "bias", night=night, gain=g) for g in (0.0, 100.0) for _ in range(25)]
        cals += [cal(next(ids), "darkflat", night=night, gain=gain) for _ in range(6)]
    return lights, cals


def test_a_thousand_groups_against_twenty_thousand_frames_is_fast() -> None:
    lights, cals = synthetic_library()
    assert len(cals) == 20000
    t = time.perf_counter()
    out = m.match_all(lights, cals)
    elapsed = time.perf_counter() - t
    assert len(out) == 1000
    assert all(g.calibrated for g in out)
    assert all(len(g.kinds["dark"].chosen) == 10 for g in out)
    # not a benchmark (benchmarks/bench_calibration.py is): a guard against going back to
    # judging every frame for every group, which took over a minute here
    assert elapsed < 30.0, f"{elapsed:.2f} s"


def test_frame_from_row_reads_catalog_columns() -> None:
    row = {"id": 3, "frame_type": "dark", "is_master": 1, "ccd_temp_c": None, "set_temp_c": -10.0,
           "gain": 100.0, "bad": 1, "header_json": "{}", "path": "a.fits"}
    f = m.frame_from_row(row)
    assert (f.temp_c, f.is_master, f.bad, f.gain) == (-10.0, True, True, 100.0)
    assert replace(f, bad=False).bad is False


@pytest.mark.parametrize(("values", "want"), [
    ({"ROTATOR": 92.0, "ROTATANG": 10.0}, 92.0),      # N.I.N.A.: the mechanical angle first
    ({"ROTATANG": 0.0}, 0.0),                         # nebulosa / INDI
    ({"POSANGLE": 258.369995117188}, 258.37),         # SGP
    ({"ROTPA": -90}, 270.0),
    ({"PA": "270.693881052116"}, 270.69),             # MaxIm (a string)
    ({"ROTATOR": "Rotator 1", "POSANGLE": 12.5}, 12.5),
    ({"ROTATOR": 359.999}, 0.0),
    ({"OBJCTROT": 22.35, "CROTA2": -58.86}, None),    # planned sky angle, solve twist: not the rotator
])
def test_rotator_angle_from_the_keywords_real_programs_write(values, want) -> None:
    from astrocat.rules.normalize import normalize

    frame, _ = normalize({"IMAGETYP": "FLAT", "DATE-OBS": "2024-01-05T17:00:00", **values}, "a.fits")
    assert frame["rotator_deg"] == want


def test_a_candidate_that_does_not_name_its_camera_needs_review() -> None:
    anonymous = cal(5, "dark", camera=None)
    [gm] = m.match_all([light(1)], [anonymous])
    v = verdict(gm.kinds["dark"], 5)
    assert v.status == REVIEW and v.reasons == ["frame lacks INSTRUME (camera): check it before use"]


def _accepted_sets(data) -> list[m.Verdict]:
    """Accepted (and some rejected) verdicts over frames on the nights hypothesis draws."""
    out = []
    for i, (night, is_master, temp, status) in enumerate(data):
        f = Frame(i + 1, "dark", is_master=is_master, temp_c=temp, night=night)
        out.append(m.Verdict(status, ["meets every rule"], [f, replace(f, id=1000 + i)]))
    return out


_nights = st.one_of(st.none(), st.just("not a date"),
                    st.dates(min_value=date(2023, 12, 1), max_value=date(2024, 2, 1)).map(date.isoformat))


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.tuples(_nights, st.booleans(), st.one_of(st.none(), st.sampled_from([-20.0, -10.0, 0.0])),
                               st.sampled_from([ACCEPTED, ACCEPTED, REJECTED])), max_size=12),
       ref_night=_nights, ref_temp=st.one_of(st.none(), st.just(-10.0)), prefer=st.booleans())
def test_deciding_by_bisection_chooses_what_annotating_every_verdict_chooses(data, ref_night, ref_temp, prefer) -> None:
    """`decide` (what a whole-library match uses) and `choose` (which also writes every
    verdict's reason) pick the same frames for the same reason, whatever the nights:
    missing, unreadable, on both sides of the light's night at the same distance."""
    verdicts = _accepted_sets(data)
    fast = m.decide(m.arrange(verdicts), ref_night, ref_temp, prefer)
    slow = m.choose([m.Verdict(v.status, list(v.reasons), v.frames) for v in verdicts], ref_night, ref_temp, prefer)
    assert [f.id for f in fast[0]] == [f.id for f in slow[0]]
    assert fast[1] == slow[1]


def test_a_dark_every_night_for_years_is_matched_without_judging_every_pair() -> None:
    """1,500 nights of lights and darks: each group gets its own night's darks (before, every
    group copied and annotated every accepted dark set: 34 s and 3.3 GB on 100,000 frames)."""
    start = date(2020, 1, 1).toordinal()
    nights = [date.fromordinal(start + d).isoformat() for d in range(1500)]
    lights = [light(i, night=n) for i, n in enumerate(nights)]
    darks = [cal(10_000 + i, "dark", night=n) for i, n in enumerate(nights)]
    for d in darks:
        assert d.exposure_s == lights[0].exposure_s and d.gain == lights[0].gain
    groups = m.match_all(lights, darks)
    assert len(groups) == 1500
    for gm in groups:
        chosen = gm.kinds["dark"].chosen
        assert [f.night for f in chosen] == [gm.group.night]
    # the verdicts with their reasons are still made for whoever asks, one group at a time
    one = groups[700]
    [picked] = [v for v in one.kinds["dark"].verdicts if v.chosen]
    assert [f.id for f in picked.frames] == [10_700] and picked.reasons[-1] == "chosen (same night)"
    others = [v for v in one.kinds["dark"].verdicts if v.status == ACCEPTED and not v.chosen]
    assert others and all(v.reasons[-1] == f"not chosen: the set of {nights[700]} is nearer in time" for v in others)


_night_list = [date.fromordinal(date(2024, 1, 1).toordinal() + d).isoformat() for d in range(0, 120, 3)]


@settings(max_examples=60, deadline=None)
@given(flats=st.lists(st.tuples(st.sampled_from(_night_list), st.booleans(), st.sampled_from([0.5, 92.0])),
                      min_size=1, max_size=25),
       light_nights=st.lists(st.sampled_from(_night_list), min_size=1, max_size=6, unique=True),
       bad_dark=st.booleans())
def test_what_one_run_keeps_between_groups_changes_no_verdict(flats, light_nights, bad_dark) -> None:
    """Each group matched in a run of its own (a fresh index, nothing kept) gets exactly the
    verdicts it gets in one run with every other group (sets judged once, sides laid out
    once, bad sets on either side of the window)."""
    cals = [cal(100 + i, "flat", night=n, bad=bad, rotator_deg=rot) for i, (n, bad, rot) in enumerate(flats)]
    cals += [cal(500 + i, "dark", exposure_s=e, bad=bad_dark and i == 1) for i, e in enumerate((60.0, 300.0, 600.0))]
    lights = [light(i, night=n, rotator_deg=(0.5, 92.0)[i % 2]) for i, n in enumerate(light_nights)]
    together = {gm.group.id: gm.as_dict() for gm in m.match_all(lights, cals)}
    alone = {}
    for lt in lights:
        [gm] = m.match_all([lt], cals)
        alone[gm.group.id] = gm.as_dict()
    assert together == alone
    # and every verdict on flats too far away names the nights its frames were taken
    night_of = {c.id: c.night for c in cals}
    for group in together.values():
        for v in group["kinds"]["flat"]["verdicts"]:
            if v["status"] == REJECTED and "days apart" in v["reasons"][0]:
                nights = sorted({night_of[i] for i in v["frame_ids"]})
                if len(nights) > 1:
                    assert v["reasons"][0].startswith(f"nights {nights[0]} to {nights[-1]} vs light ")
                else:
                    assert v["reasons"][0].startswith(f"night {nights[0]} vs light ")
