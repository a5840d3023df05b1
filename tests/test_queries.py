"""astrocat.catalog.queries and counts on a small catalog written by hand.

Fifteen frames in four sessions, with every kind of copy: an external copy and a
quarantine copy of library frames, a copy set aside as a duplicate, a second library
copy, a missing file, a master stack, and content whose only copies are in quarantine
or outside the library. Every expected number below is worked out from that table.
"""

from __future__ import annotations

import pytest

from astrocat import catalog
from astrocat.catalog import FrameFilter
from astrocat.rules.normalize import Settings as NormalizeSettings

S1 = "2024-10-03_ASI2600MM_Esprit100"
S2 = "2024-11-09_ASI1600MM_Star71"
S3 = "2025-01-15_ASI2600MM_Esprit100"
S4 = "2025-01-15_SeestarS50_SeestarS50"
CAM1, TEL1 = "ZWO ASI2600MM Pro", "Esprit 100"
CAM2, TEL2 = "ZWO ASI1600MM Pro", "Star71"
SEESTAR = "Seestar S50"


def sha(tag: str) -> str:
    return tag * 32  # 64 characters, like a sha256; sorts by tag


def _light(target, flt, exposure, night, date, session, camera, telescope, **kw):
    return {"frame_type": "light", "target": target, "object": target, "filter": flt, "exposure_s": exposure,
            "night": night, "date_obs": date, "session_id": session, "camera": camera, "telescope": telescope,
            **kw}


L1 = _light("M31", "L", 120.0, "2024-10-03", "2024-10-03T21:00:00.000Z", S1, CAM1, TEL1, ra_deg=10.0, dec_deg=41.0)
L2 = _light("M31", "L", 120.0, "2024-10-03", "2024-10-03T21:02:00.000Z", S1, CAM1, TEL1, ra_deg=11.0, dec_deg=41.0)
HA = _light("M31", "Ha", 300.0, "2024-10-03", "2024-10-03T22:00:00.000Z", S1, CAM1, TEL1, ra_deg=12.0, dec_deg=41.0)
DARK = {"frame_type": "dark", "exposure_s": 120.0, "night": "2024-10-03", "date_obs": "2024-10-04T05:00:00.000Z",
        "session_id": S1, "camera": CAM1, "telescope": TEL1}
# the same date_obs: path decides the order (nb_a before nb_z)
NBZ = _light("NGC 7000", "Ha", 300.0, "2024-11-09", "2024-11-09T20:00:00.000Z", S2, CAM2, TEL2)
NBA = _light("NGC 7000", "OIII", 300.0, "2024-11-09", "2024-11-09T20:00:00.000Z", S2, CAM2, TEL2)
MASTER = _light("M31", "L", 120.0, "2025-01-15", "2025-01-15T20:00:00.000Z", S3, CAM1, TEL1, is_master=1,
                ra_deg=50.0, dec_deg=50.0)
M33 = _light("M33", "R", 60.0, "2024-11-09", "2024-11-09T23:00:00.000Z", S2, CAM2, TEL2)
M42 = _light("M42", None, 30.0, "2025-01-15", "2025-01-15T21:00:00.000Z", S4, SEESTAR, SEESTAR)

# label: (path, location, sha tag, size, fields), in insertion (id) order
FRAMES = {
    "L1": ("library/m31/L_001.fits", "library", "a1", 1000, L1),
    "L2": ("library/m31/L_002.fits", "library", "a2", 1000, L2),
    "Ha": ("library/m31/Ha_001.fits", "library", "a3", 1000, HA),
    "dark": ("library/cal/dark_001.fits", "library", "d1", 1000, DARK),
    "nbz": ("library/ngc7000/nb_z.fits", "library", "b1", 2000, NBZ),
    "nba": ("library/ngc7000/nb_a.fits", "library", "b2", 2000, NBA),
    "master": ("library/stacks/M31_master.xisf", "library", "m1", 5000, MASTER),
    "q_nbz": ("quarantine/copy_of_nb_z.fits", "quarantine", "b1", 2000, NBZ),  # library copy counts
    "usb_L1": ("/media/usb/L_001.fits", "external", "a1", 1000, L1),  # library copy counts
    "dup_L2": ("quarantine/_duplicates/L_002.fits", "duplicate", "a2", 1000, L2),  # set aside
    "gone": ("library/m31/L_gone.fits", "missing", "g1", 1000,
             {**L1, "date_obs": "2024-10-03T21:04:00.000Z"}),
    "m33": ("quarantine/m33/R_001.fits", "quarantine", "c1", 1500, M33),  # the copy that counts
    "m42": ("/media/usb/seestar/M42_001.fits", "external", "e1", 700, M42),  # its only copy: counts
    "usb_m33": ("/media/usb/R_001.fits", "external", "c1", 1500, M33),  # quarantine copy counts
    "Ha_copy": ("library/m31/Ha_001_copy.fits", "library", "a3", 1000, HA),  # the lower id counts
}
PATH = {label: row[0] for label, row in FRAMES.items()}
COUNTED = {"L1", "L2", "Ha", "dark", "nbz", "nba", "master", "m33", "m42"}


def row(label: str) -> dict:
    path, location, tag, size, fields = FRAMES[label]
    return {"is_master": 0, "mtime": 1700000000.0, **fields, "path": path, "location": location,
            "sha256": sha(tag), "size": size}


@pytest.fixture
def db(tmp_path):
    db = catalog.open_catalog(tmp_path / "catalog.db")
    with db.conn:
        for label in FRAMES:  # one by one: ids follow the table's order
            catalog.upsert_frames(db, [row(label)])
        catalog.record_rejects(db, [
            {"path": "quarantine/z.fits", "size": 10, "mtime": 1.0, "reason": "not a FITS file",
             "scanned_at": "2025-01-01T00:00:00Z"},
            {"path": "quarantine/a.fits", "size": 0, "mtime": 1.0, "reason": "empty file (0 bytes)",
             "scanned_at": "2025-01-02T00:00:00Z"},
        ])
        catalog.refresh_derived(db, sha256s=None)
    yield db
    db.conn.close()


def labels(frames: list[dict]) -> list[str]:
    by_path = {p: label for label, p in PATH.items()}
    return [by_path[f["path"]] for f in frames]


# --- which copy counts --------------------------------------------------------------------


def test_the_counted_copies(db):
    got = {path for (path,) in db.execute("SELECT path FROM frames WHERE counted = 1")}
    assert got == {PATH[x] for x in COUNTED}


def test_refresh_counted_prefers_library_then_quarantine_then_processing_then_elsewhere(tmp_path):
    db = catalog.open_catalog(tmp_path / "c.db")
    x = sha("f0")
    # inserted worst first: the order of ids must not decide
    copies = [("/media/usb/x.fits", "external"), ("processing/x.fits", "processing"),
              ("quarantine/x.fits", "quarantine"), ("library/x2.fits", "library"), ("library/x1.fits", "library")]
    with db.conn:
        for path, location in copies:
            catalog.upsert_frames(db, [{**L1, "is_master": 0, "mtime": 1.0, "size": 10, "path": path,
                                        "location": location, "sha256": x}])
        catalog.upsert_frames(db, [{**M33, "is_master": 0, "mtime": 1.0, "size": 10, "path": "quarantine/nohash.fits",
                                    "location": "quarantine", "sha256": None}])

    def counted() -> list[str]:
        return [p for (p,) in db.execute("SELECT path FROM frames WHERE counted = 1 ORDER BY path")]

    with db.conn:
        changed = catalog.refresh_counted(db, None)
    # two library copies: the lower id (library/x2.fits, inserted first) counts; without a
    # hash a present frame has no other copy to lose to
    assert counted() == ["library/x2.fits", "quarantine/nohash.fits"]
    assert changed == {S1}  # four copies of S1's frame stopped counting; nohash's verdict stands
    # the counting copy goes: the next in line takes over, one location at a time
    for gone, heir in [("library/x2.fits", "library/x1.fits"), ("library/x1.fits", "quarantine/x.fits"),
                       ("quarantine/x.fits", "processing/x.fits"), ("processing/x.fits", "/media/usb/x.fits")]:
        with db.conn:
            catalog.mark_missing(db, [gone])
            assert catalog.refresh_counted(db, [x]) == {S1}
        assert counted() == sorted([heir, "quarantine/nohash.fits"]), gone
    # a set-aside duplicate never counts, even as the only copy
    with db.conn:
        db.execute("UPDATE frames SET location = 'duplicate' WHERE path = '/media/usb/x.fits'")
        catalog.refresh_counted(db, [x])
    assert counted() == ["quarantine/nohash.fits"]
    # frames that left the present locations are swept even when their content is not named
    with db.conn:
        db.execute("UPDATE frames SET location = 'missing' WHERE path = 'quarantine/nohash.fits'")
        assert catalog.refresh_counted(db, []) == {S2}
    assert counted() == []
    # nothing to change: nothing reported
    with db.conn:
        assert catalog.refresh_counted(db, None) == set()
    db.conn.close()


# --- FrameFilter --------------------------------------------------------------------------

LIGHTS = ["L1", "L2", "Ha", "nbz", "nba", "master", "m33", "m42"]
Y2024 = ["L1", "L2", "Ha", "dark", "nbz", "nba", "m33"]


@pytest.mark.parametrize("flt, want", [
    (FrameFilter(), COUNTED),
    (FrameFilter(target="m31"), {"L1", "L2", "Ha", "master"}),  # any case
    (FrameFilter(target="NGC 7000"), {"nbz", "nba"}),
    (FrameFilter(filter="ha"), {"Ha", "nbz"}),
    (FrameFilter(frame_type="dark"), {"dark"}),
    (FrameFilter(frame_type="LIGHT"), set(LIGHTS)),
    (FrameFilter(night="2024-11-09"), {"nbz", "nba", "m33"}),
    (FrameFilter(date_from="2024-11-09"), {"nbz", "nba", "m33", "master", "m42"}),  # inclusive
    (FrameFilter(date_to="2024-11-09"), set(Y2024)),  # inclusive
    (FrameFilter(date_from="2024-11-09", date_to="2024-11-09"), {"nbz", "nba", "m33"}),
    (FrameFilter(year=2025), {"master", "m42"}),
    (FrameFilter(year=2024), set(Y2024)),
    (FrameFilter(camera="zwo asi1600mm pro"), {"nbz", "nba", "m33"}),
    (FrameFilter(telescope="Esprit 100"), {"L1", "L2", "Ha", "dark", "master"}),
    (FrameFilter(session=S2), {"nbz", "nba", "m33"}),
    (FrameFilter(target="M31", filter="L"), {"L1", "L2", "master"}),
    # a location: every frame cataloged there, counted or not
    (FrameFilter(location="quarantine"), {"q_nbz", "m33"}),
    (FrameFilter(location="external"), {"usb_L1", "m42", "usb_m33"}),
    (FrameFilter(location="duplicate"), {"dup_L2"}),
    (FrameFilter(location="missing"), {"gone"}),
    (FrameFilter(location="library"), {"L1", "L2", "Ha", "dark", "nbz", "nba", "master", "Ha_copy"}),
    # every present copy: all but the set-aside duplicate and the missing file
    (FrameFilter(every_copy=True), set(FRAMES) - {"dup_L2", "gone"}),
    (FrameFilter(target="M31", every_copy=True), {"L1", "L2", "Ha", "master", "usb_L1", "Ha_copy"}),
], ids=lambda v: (",".join(f"{k}={x}" for k, x in vars(v).items() if x not in (None, False)) or "default")
   if isinstance(v, FrameFilter) else "+".join(sorted(v)))
def test_frame_filter_selects(db, flt, want):
    assert set(labels(catalog.list_frames(db, flt))) == want
    # with an alias every column is qualified: the clause works where two tables have them
    where, params = flt.where("f")
    got = db.execute(f"SELECT f.path FROM frames f JOIN frames g ON g.id = f.id WHERE {where}", params).fetchall()
    assert {p for (p,) in got} == {PATH[x] for x in want}


def test_frame_filter_normalized_reads_names_like_scan():
    ns = NormalizeSettings(camera_aliases={"My 2600": CAM1}, telescope_aliases={"esprit": TEL1},
                           target_aliases={"andromeda": "M31"})
    assert FrameFilter(target="M 31", filter="H-alpha").normalized() == FrameFilter(target="M31", filter="Ha")
    assert FrameFilter(target="ngc7000", filter="Oiii-7nm").normalized() == FrameFilter(target="NGC 7000", filter="OIII")
    got = FrameFilter(target="Andromeda", camera="my 2600", telescope="ESPRIT", night="2024-10-03",
                      location="library", every_copy=True).normalized(ns)
    assert got == FrameFilter(target="M31", camera=CAM1, telescope=TEL1, night="2024-10-03",
                              location="library", every_copy=True)
    # names that are not aliases, or that name no target, stay as given
    assert FrameFilter(camera=CAM2, target="Unknown").normalized(ns) == FrameFilter(camera=CAM2, target="Unknown")
    assert FrameFilter().normalized() == FrameFilter()


def test_normalized_filter_finds_the_cataloged_names(db):
    flt = FrameFilter(target="Messier 31", filter="H-alpha").normalized()
    assert labels(catalog.list_frames(db, flt)) == ["Ha"]


# --- listings -----------------------------------------------------------------------------


def test_list_frames_order_limit_and_types(db):
    frames = catalog.list_frames(db, FrameFilter())
    # by date_obs, then path (nb_a and nb_z share a date_obs)
    assert labels(frames) == ["L1", "L2", "Ha", "dark", "nba", "nbz", "m33", "master", "m42"]
    assert labels(catalog.list_frames(db, FrameFilter(), limit=3)) == ["L1", "L2", "Ha"]
    master = frames[7]
    assert master["is_master"] is True and frames[0]["is_master"] is False
    assert master["problems"] == [] and master["location"] == "library" and master["size"] == 5000


def test_list_sessions(db):
    sessions = catalog.list_sessions(db, FrameFilter())
    assert [s["id"] for s in sessions] == [S3, S4, S2, S1]  # newest night first, then id
    s1 = sessions[3]
    assert {k: s1[k] for k in ("night", "camera", "telescope", "frames", "lights", "darks", "flats",
                               "integration_s", "bytes", "first_utc", "last_utc")} == {
        "night": "2024-10-03", "camera": CAM1, "telescope": TEL1, "frames": 4, "lights": 3, "darks": 1,
        "flats": 0, "integration_s": 540.0, "bytes": 4000,
        "first_utc": "2024-10-03T21:00:00.000Z", "last_utc": "2024-10-04T05:00:00.000Z"}
    assert s1["integration_by_filter"] == {"Ha": 300.0, "L": 240.0}
    assert (s1["targets"], s1["filters"], s1["frames_by_type"]) == (["M31"], ["Ha", "L"], {"dark": 1, "light": 3})
    s2 = sessions[2]  # the quarantine copy of nb_z and the USB copy of R_001 are not counted again
    assert (s2["frames"], s2["integration_s"], s2["bytes"]) == (3, 660.0, 5500)
    assert s2["integration_by_filter"] == {"Ha": 300.0, "OIII": 300.0, "R": 60.0}
    assert s2["targets"] == ["M33", "NGC 7000"]
    s3 = sessions[0]  # a master stack alone: a frame, no integration, no target
    assert (s3["frames"], s3["lights"], s3["integration_s"], s3["targets"], s3["integration_by_filter"]) == (
        1, 1, 0.0, [], {})
    s4 = sessions[1]  # an OSC sub without a filter
    assert (s4["integration_s"], s4["integration_by_filter"], s4["filters"]) == (30.0, {"(none)": 30.0}, [])
    assert [s["id"] for s in catalog.list_sessions(db, FrameFilter(), limit=2)] == [S3, S4]
    assert [s["id"] for s in catalog.list_sessions(db, FrameFilter(target="M33"))] == [S2]
    assert [s["id"] for s in catalog.list_sessions(db, FrameFilter(frame_type="dark"))] == [S1]


def test_list_targets(db):
    targets = catalog.list_targets(db, FrameFilter())
    assert [(t["name"], t["frames"], t["integration_s"], t["integration_h"]) for t in targets] == [
        ("NGC 7000", 2, 600.0, 0.167), ("M31", 3, 540.0, 0.15), ("M33", 1, 60.0, 0.017), ("M42", 1, 30.0, 0.008)]
    m31 = targets[1]
    # the master stack on 2025-01-15 adds no frame, night or session; its position no weight
    assert {k: m31[k] for k in ("sessions", "nights", "first_night", "last_night", "ra_deg", "dec_deg")} == {
        "sessions": 1, "nights": 1, "first_night": "2024-10-03", "last_night": "2024-10-03",
        "ra_deg": 11.0, "dec_deg": 41.0}
    assert (m31["integration_by_filter"], m31["filters"]) == ({"Ha": 300.0, "L": 240.0}, ["Ha", "L"])
    assert targets[3]["integration_by_filter"] == {"(none)": 30.0}
    assert [t["name"] for t in catalog.list_targets(db, FrameFilter(filter="OIII"))] == ["NGC 7000"]
    assert [t["name"] for t in catalog.list_targets(db, FrameFilter(), limit=1)] == ["NGC 7000"]


def test_a_targets_position_is_the_mean_of_its_subs_across_0h(tmp_path):
    db = catalog.open_catalog(tmp_path / "c.db")
    subs = [(359.5, 16.0), (0.7, 16.2), (0.1, 16.1)]  # NGC 7814 sits at RA 0.8 deg
    with db.conn:
        catalog.upsert_frames(db, [
            {**L1, "target": "NGC 7814", "filter": flt, "is_master": 0, "mtime": 1.0, "size": 10,
             "path": f"library/{i}.fits", "location": "library", "sha256": sha(f"{i}0"), "ra_deg": ra, "dec_deg": dec}
            for i, ((ra, dec), flt) in enumerate(zip(subs, ["L", "L", "R"]))])
        catalog.refresh_derived(db, sha256s=None)
    ((ra, dec),) = db.execute("SELECT ra_deg, dec_deg FROM targets").fetchall()
    # (-0.5 + 0.7 + 0.1) / 3 = 0.1, not 120.1; and over every filter, not one
    assert (ra, dec) == (pytest.approx(0.1), pytest.approx(16.1))
    db.conn.close()


def test_list_values(db):
    def values(column, flt=FrameFilter()):
        return [(v["name"], v["frames"], v["integration_s"], v["nights"], v["first_night"], v["last_night"],
                 v["integration_h"]) for v in catalog.list_values(db, column, flt)]

    assert values("camera") == [
        (CAM1, 5, 540.0, 2, "2024-10-03", "2025-01-15", 0.15),  # the master is a frame, not integration
        (CAM2, 3, 660.0, 1, "2024-11-09", "2024-11-09", 0.183),
        (SEESTAR, 1, 30.0, 1, "2025-01-15", "2025-01-15", 0.008),
    ]
    assert [v[:3] for v in values("telescope")] == [(TEL1, 5, 540.0), (TEL2, 3, 660.0), (SEESTAR, 1, 30.0)]
    by_filter = {v[0]: v[1:4] for v in values("filter")}  # OIII and R tie on frames
    assert by_filter == {"L": (3, 240.0, 2), "Ha": (2, 600.0, 2), "OIII": (1, 300.0, 1), "R": (1, 60.0, 1)}
    assert [v[0] for v in values("filter")][:2] == ["L", "Ha"]
    assert values("camera", FrameFilter(night="2024-11-09")) == [(CAM2, 3, 660.0, 1, "2024-11-09", "2024-11-09", 0.183)]
    with pytest.raises(ValueError):
        catalog.list_values(db, "exposure_s; DROP TABLE frames", FrameFilter())


def test_list_duplicates(db):
    dups = catalog.list_duplicates(db)
    # every content with two present copies (a missing file is no copy), biggest first
    assert [(d["sha256"], d["copies"], d["size"], d["paths"]) for d in dups] == [
        (sha("b1"), 2, 2000, [PATH["nbz"], PATH["q_nbz"]]),
        (sha("c1"), 2, 1500, [PATH["usb_m33"], PATH["m33"]]),
        (sha("a1"), 2, 1000, [PATH["usb_L1"], PATH["L1"]]),
        (sha("a2"), 2, 1000, [PATH["L2"], PATH["dup_L2"]]),
        (sha("a3"), 2, 1000, [PATH["Ha"], PATH["Ha_copy"]]),
    ]
    assert [d["sha256"] for d in catalog.list_duplicates(db, limit=2)] == [sha("b1"), sha("c1")]


def test_list_rejects(db):
    assert [(r["path"], r["size"], r["reason"]) for r in catalog.list_rejects(db)] == [
        ("quarantine/a.fits", 0, "empty file (0 bytes)"), ("quarantine/z.fits", 10, "not a FITS file")]
    assert [r["path"] for r in catalog.list_rejects(db, limit=1)] == ["quarantine/a.fits"]


# --- totals -------------------------------------------------------------------------------


def test_stats_summary(db):
    assert catalog.stats_summary(db, FrameFilter()) == {
        "frames": 9, "light_frames": 7,  # the master is a frame, not a light sub
        "integration_s": 1230.0, "integration_h": 0.342,  # 120 + 120 + 300 + 300 + 300 + 60 + 30
        "bytes": 15200, "nights": 3, "sessions": 4, "targets": 4,
        "first_night": "2024-10-03", "last_night": "2025-01-15",
        "frames_by_type": {"light": 8, "dark": 1}, "rejects": 2,
    }
    assert catalog.stats_summary(db, FrameFilter(target="M31")) == {
        "frames": 4, "light_frames": 3, "integration_s": 540.0, "integration_h": 0.15, "bytes": 8000,
        "nights": 2, "sessions": 2, "targets": 1, "first_night": "2024-10-03", "last_night": "2025-01-15",
        "frames_by_type": {"light": 4}, "rejects": 2,
    }
    empty = catalog.stats_summary(db, FrameFilter(target="M101"))
    assert (empty["frames"], empty["integration_s"], empty["bytes"], empty["first_night"]) == (0, 0.0, 0, None)


def test_stats_grouped(db):
    def grouped(group):
        return [(g["name"], g["light_frames"], g["integration_s"], g["nights"], g["bytes"], g["integration_h"])
                for g in catalog.stats_grouped(db, FrameFilter(), group)]

    assert grouped("target") == [
        ("NGC 7000", 2, 600.0, 1, 4000, 0.167), ("M31", 3, 540.0, 1, 3000, 0.15),
        ("M33", 1, 60.0, 1, 1500, 0.017), ("M42", 1, 30.0, 1, 700, 0.008)]
    assert grouped("filter") == [
        ("Ha", 2, 600.0, 2, 3000, 0.167), ("OIII", 1, 300.0, 1, 2000, 0.083), ("L", 2, 240.0, 1, 2000, 0.067),
        ("R", 1, 60.0, 1, 1500, 0.017), ("(none)", 1, 30.0, 1, 700, 0.008)]
    assert grouped("month") == [  # in calendar order
        ("2024-10", 3, 540.0, 1, 3000, 0.15), ("2024-11", 3, 660.0, 1, 5500, 0.183), ("2025-01", 1, 30.0, 1, 700, 0.008)]
    assert {g[0]: g[1:3] for g in grouped("target_filter")} == {  # three tie at 300 s
        "M31 / L": (2, 240.0), "M31 / Ha": (1, 300.0), "NGC 7000 / Ha": (1, 300.0), "NGC 7000 / OIII": (1, 300.0),
        "M33 / R": (1, 60.0), "M42 / (none)": (1, 30.0)}
    by_target = catalog.stats_grouped(db, FrameFilter(camera=CAM2), "target")
    assert [(g["name"], g["integration_s"]) for g in by_target] == [("NGC 7000", 600.0), ("M33", 60.0)]


def test_stats_equipment(db):
    got = [(e["camera"], e["telescope"], e["frames"], e["light_frames"], e["integration_s"], e["nights"], e["bytes"],
            e["integration_h"]) for e in catalog.stats_equipment(db, FrameFilter())]
    assert got == [
        (CAM2, TEL2, 3, 3, 660.0, 1, 5500, 0.183),
        (CAM1, TEL1, 5, 3, 540.0, 2, 9000, 0.15),
        (SEESTAR, SEESTAR, 1, 1, 30.0, 1, 700, 0.008),
    ]
    dark_only = catalog.stats_equipment(db, FrameFilter(frame_type="dark"))
    assert [(e["camera"], e["frames"], e["light_frames"], e["integration_s"]) for e in dark_only] == [(CAM1, 1, 0, 0.0)]
