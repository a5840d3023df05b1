"""What counts has one definition: real FITS files, scanned and filed in-process, give the
same totals everywhere (stats, targets, sessions, listings, Datasette's canned query),
whatever copies of them lie around, and an interrupted scan is repaired by the next one.

Every expected number is worked out by hand from the frames each test writes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml

import astrocat.datasette
from astrocat import catalog, library
from astrocat.catalog import FrameFilter
from astrocat.checks.verify import verify_database
from astrocat.config import Settings, load, write_default
from conftest import set_settle
from astrocat.demo.fitswrite import write_fits
from astrocat.ingest import scan as scan_module
from astrocat.ingest.scan import scan

CAMERA, SCOPE = "ZWO ASI2600MM Pro", "Esprit 100"
NIGHT = "2024-11-01"
SESSION = f"{NIGHT}_ASI2600MM_Esprit100"
INTEGRATION_SQL = yaml.safe_load(
    (Path(astrocat.datasette.__file__).parent / "metadata.yml").read_text(encoding="utf-8")
)["databases"]["catalog"]["queries"]["integration_by_target_filter"]["sql"]


def light(path: Path, seed: int, *, filt: str = "L", exposure: float = 180.0, date: str = "2024-11-01T21:00:00",
          imagetyp: str = "LIGHT") -> Path:
    """One small real FITS light sub (or master) of M31 from one rig."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ((np.arange(16 * 16, dtype=np.uint32).reshape(16, 16) * (seed + 1)) % 60000).astype(np.uint16)
    write_fits(path, [("IMAGETYP", imagetyp, ""), ("OBJECT", "M 31", ""), ("FILTER", filt, ""),
                      ("EXPTIME", exposure, ""), ("DATE-OBS", date, ""), ("INSTRUME", CAMERA, ""),
                      ("TELESCOP", SCOPE, "")], data)
    return path


@pytest.fixture
def lib(tmp_path: Path) -> Settings:
    cfg = write_default(tmp_path / "lib", timezone="UTC")
    set_settle(cfg, 0)  # frames written by the test are scanned at once
    return load(cfg)


@pytest.fixture
def db(lib: Settings):
    db = catalog.open_catalog(lib.catalog)
    yield db
    db.conn.close()


def scan_and_file(db, s: Settings) -> None:
    scan(db, s)
    assert library.organize(db, s).ok


def three_subs(folder: Path) -> list[Path]:
    """Two 180 s L subs and one 300 s Ha sub of M31, one night, one rig."""
    return [light(folder / "M31_L_001.fits", 0), light(folder / "M31_L_002.fits", 1, date="2024-11-01T21:03:20"),
            light(folder / "M31_Ha_001.fits", 2, filt="Ha", exposure=300.0, date="2024-11-01T21:08:40")]


def datasette_integration(s: Settings) -> list[tuple]:
    """Datasette's canned query `integration_by_target_filter`, run as SQLite runs it."""
    conn = sqlite3.connect(f"file:{s.catalog}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(INTEGRATION_SQL, {"target": ""})]
    finally:
        conn.close()


def totals(db, s: Settings) -> dict:
    """Every total a user can see, each from the place that shows it."""
    every = FrameFilter()
    return {
        "summary": catalog.stats_summary(db, every),
        "by_target": catalog.stats_grouped(db, every, "target"),
        "by_filter": catalog.stats_grouped(db, every, "filter"),
        "targets": catalog.list_targets(db, every),
        "sessions": list(db.query("SELECT * FROM sessions ORDER BY id")),
        "values": {c: catalog.list_values(db, c, every) for c in ("camera", "telescope", "filter")},
        "datasette": datasette_integration(s),
    }


def assert_datasette_agrees_with_stats(db, s: Settings) -> None:
    """(d) The canned query and `stats by-target/filter` give the same frames, seconds, nights."""
    ours = {tuple(g["name"].split(" / ")): (g["light_frames"], g["integration_s"], g["nights"])
            for g in catalog.stats_grouped(db, FrameFilter(), "target_filter")}
    theirs = {(t, f or "(none)"): (n, secs, nights) for t, f, n, secs, _h, nights, _first, _last in datasette_integration(s)}
    assert theirs == ours


def sizes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def assert_three_subs(t: dict, size: int) -> None:
    """The totals of `three_subs`: 3 lights, 180 + 180 + 300 = 660 s, one night, one session."""
    assert t["summary"] == {
        "frames": 3, "light_frames": 3, "integration_s": 660.0, "integration_h": 0.183, "bytes": size,
        "nights": 1, "sessions": 1, "targets": 1, "first_night": NIGHT, "last_night": NIGHT,
        "frames_by_type": {"light": 3}, "rejects": 0,
    }
    assert [(g["name"], g["light_frames"], g["integration_s"], g["nights"]) for g in t["by_target"]] == [
        ("M31", 3, 660.0, 1)]
    assert [(g["name"], g["light_frames"], g["integration_s"]) for g in t["by_filter"]] == [
        ("L", 2, 360.0), ("Ha", 1, 300.0)]
    (m31,) = t["targets"]
    assert {k: m31[k] for k in ("name", "frames", "integration_s", "nights", "sessions", "integration_by_filter")} == {
        "name": "M31", "frames": 3, "integration_s": 660.0, "nights": 1, "sessions": 1,
        "integration_by_filter": {"Ha": 300.0, "L": 360.0}}
    assert [(r["id"], r["frames"], r["lights"], r["integration_s"], r["bytes"]) for r in t["sessions"]] == [
        (SESSION, 3, 3, 660.0, size)]
    assert {c: [(v["name"], v["frames"], v["integration_s"]) for v in vals] for c, vals in t["values"].items()} == {
        "camera": [(CAMERA, 3, 660.0)], "telescope": [(SCOPE, 3, 660.0)], "filter": [("L", 2, 360.0), ("Ha", 1, 300.0)]}
    assert [r[:6] for r in t["datasette"]] == [("M31", "L", 2, 360.0, 0.1, 1), ("M31", "Ha", 1, 300.0, 0.08, 1)]


def filed_paths(db) -> list[Path]:
    return [Path(p) for (p,) in db.execute("SELECT path FROM frames WHERE location = 'library' ORDER BY path")]


# --- (a) a master stack adds no night, session or integration --------------------------------


def test_a_master_stack_on_another_night_adds_no_night_or_session(db, lib):
    sub = light(lib.quarantine / "n1" / "M31_L_300s.fits", 0, exposure=300.0, date="2024-11-01T21:00:00")
    stack = light(lib.quarantine / "stacks" / "M31_master.fits", 1, exposure=300.0, date="2024-11-05T21:00:00",
                  imagetyp="Master Light")
    size_sub, size_stack = sub.stat().st_size, stack.stat().st_size
    scan_and_file(db, lib)
    t = totals(db, lib)
    (m31,) = t["targets"]
    assert {k: m31[k] for k in ("name", "frames", "integration_s", "nights", "sessions", "first_night", "last_night")} == {
        "name": "M31", "frames": 1, "integration_s": 300.0, "nights": 1, "sessions": 1,
        "first_night": "2024-11-01", "last_night": "2024-11-01"}
    assert [(g["name"], g["light_frames"], g["integration_s"], g["nights"], g["bytes"]) for g in t["by_target"]] == [
        ("M31", 1, 300.0, 1, size_sub)]
    # the stack is a frame on file (frames, nights, sessions, bytes), not integration
    s = t["summary"]
    assert (s["frames"], s["light_frames"], s["integration_s"], s["nights"], s["sessions"], s["targets"], s["bytes"]) == (
        2, 1, 300.0, 2, 2, 1, size_sub + size_stack)
    assert [(r["id"], r["frames"], r["integration_s"], r["targets"]) for r in t["sessions"]] == [
        ("2024-11-01_ASI2600MM_Esprit100", 1, 300.0, '["M31"]'),
        ("2024-11-05_ASI2600MM_Esprit100", 1, 0.0, "[]")]
    assert [r[:6] for r in t["datasette"]] == [("M31", "L", 1, 300.0, 0.08, 1)]
    assert_datasette_agrees_with_stats(db, lib)


# --- (b) a second copy on an external drive ---------------------------------------------------


@pytest.mark.parametrize("first", ["library", "external"])
def test_b_an_external_copy_changes_no_total_and_takes_over_when_the_original_goes(db, lib, tmp_path, first):
    usb = tmp_path / "usb"
    if first == "library":  # filed first, then copied to a drive and that drive scanned
        three_subs(lib.quarantine / "n1")
        scan_and_file(db, lib)
        usb.mkdir()
        for p in filed_paths(db):
            shutil.copy2(lib.base_dir / p, usb / p.name)
        ext = scan(db, lib, roots=[usb])
        assert (ext.new, ext.duplicates) == (3, 3)
    else:  # the drive cataloged first (its copies counted alone), then the same frames filed
        subs = three_subs(usb)
        assert scan(db, lib, roots=[usb]).new == 3
        assert_three_subs(totals(db, lib), sizes(subs))
        for p in subs:
            shutil.copy2(p, lib.quarantine / p.name)
        scan_and_file(db, lib)
    size = sizes(sorted(usb.iterdir()))
    t = totals(db, lib)
    assert_three_subs(t, size)
    assert_datasette_agrees_with_stats(db, lib)
    # the library copies count, the drive's are listed as duplicates
    counted = [f["location"] for f in catalog.list_frames(db, FrameFilter())]
    assert counted == ["library"] * 3
    filed = filed_paths(db)
    # each content twice: on the drive and in the library (whatever each copy is named)
    on_usb = {f["sha256"]: f["path"] for f in catalog.list_frames(db, FrameFilter(location="external"))}
    filed_as = {f["sha256"]: f["path"] for f in catalog.list_frames(db, FrameFilter(location="library"))}
    assert sorted(on_usb.values()) == sorted(str(p) for p in usb.iterdir()) and len(filed_as) == 3
    dups = catalog.list_duplicates(db)
    assert sorted(d["paths"] for d in dups) == sorted([on_usb[h], filed_as[h]] for h in filed_as)
    assert all(d["copies"] == 2 for d in dups)
    # the library original of the Ha sub goes missing: the drive's copy counts in its place
    (ha,) = [p for p in filed if "_Ha_" in p.name]
    (lib.base_dir / ha).unlink()
    rescan = scan(db, lib)
    assert (rescan.missing, rescan.new, rescan.changed) == (1, 0, 0)
    assert totals(db, lib) == t
    assert_datasette_agrees_with_stats(db, lib)
    (ha_frame,) = catalog.list_frames(db, FrameFilter(filter="Ha"))
    assert ha_frame["location"] == "external" and ha_frame["path"].startswith(str(usb))
    assert len(catalog.list_duplicates(db)) == 2  # a missing file is no copy


# --- (c) a copy in quarantine, before and after organize sets it aside -----------------------


def test_c_a_quarantine_copy_of_a_filed_frame_changes_no_total(db, lib):
    three_subs(lib.quarantine / "n1")
    scan_and_file(db, lib)
    filed = filed_paths(db)
    size = sizes([lib.base_dir / p for p in filed])
    before = totals(db, lib)
    assert_three_subs(before, size)
    (ha,) = [p for p in filed if "_Ha_" in p.name]
    again = lib.quarantine / "n2" / "again.fits"
    again.parent.mkdir()
    again.write_bytes((lib.base_dir / ha).read_bytes())  # same bytes, a new file
    r = scan(db, lib)
    assert (r.new, r.duplicates) == (1, 1)
    (waiting,) = catalog.list_frames(db, FrameFilter(location="quarantine"))
    assert waiting["path"] == "quarantine/n2/again.fits"
    assert totals(db, lib) == before
    assert_datasette_agrees_with_stats(db, lib)
    assert [d["paths"] for d in catalog.list_duplicates(db)] == [[str(ha), "quarantine/n2/again.fits"]]
    # organize sets it aside: still cataloged, still no total changes
    result = library.organize(db, lib)
    assert result.ok and [(d["path"], d["same_as"]) for d in result.duplicates] == [("quarantine/n2/again.fits", str(ha))]
    (aside,) = catalog.list_frames(db, FrameFilter(location="duplicate"))
    assert aside["path"] == "quarantine/_duplicates/n2/again.fits"
    assert totals(db, lib) == before
    assert_datasette_agrees_with_stats(db, lib)
    assert [d["paths"] for d in catalog.list_duplicates(db)] == [[str(ha), "quarantine/_duplicates/n2/again.fits"]]


# --- (e) an interrupted scan is repaired by the next one -------------------------------------


def test_e_an_emptied_sessions_table_is_rebuilt_by_a_scan_with_nothing_new(db, lib):
    three_subs(lib.quarantine / "n1")
    scan_and_file(db, lib)
    before = totals(db, lib)
    assert verify_database(db, lib)["clean"]
    with db.conn:
        db.execute("DELETE FROM sessions")  # what a scan killed after its batches committed leaves
        db.execute("INSERT INTO sessions (id, night, frames) VALUES ('2020-01-01_Gone_Gone', '2020-01-01', 7)")
    report = verify_database(db, lib)
    assert not report["clean"] and report["checks"]["sessions"] == "failed"
    r = scan(db, lib)
    assert (r.new, r.changed, r.missing, r.unchanged) == (0, 0, 0, 3)
    assert totals(db, lib) == before  # the stale row is gone too
    report = verify_database(db, lib)
    assert report["clean"] and set(report["checks"].values()) == {"ok"}, report["problems"]


def test_e_a_scan_killed_after_its_batches_committed_is_repaired_by_the_next(db, lib, monkeypatch):
    three_subs(lib.quarantine / "n1")
    scan_and_file(db, lib)
    (ha,) = [p for p in filed_paths(db) if "_Ha_" in p.name]
    # two more subs of the same session, and a copy of a filed frame
    more = [light(lib.quarantine / "n2" / "M31_L_003.fits", 3, date="2024-11-01T22:00:00"),
            light(lib.quarantine / "n2" / "M31_L_004.fits", 4, date="2024-11-01T22:03:20")]
    (lib.quarantine / "n2" / "again.fits").write_bytes((lib.base_dir / ha).read_bytes())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # after the last batch committed, before the totals

    monkeypatch.setattr(scan_module.catalog, "refresh_derived", killed)
    with pytest.raises(KeyboardInterrupt):
        scan(db, lib)
    monkeypatch.undo()
    assert db.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == 6  # the batch is in
    # two copies of the Ha sub count, and the session row still says 3 frames: verify sees both
    report = verify_database(db, lib)
    failed = {k for k, v in report["checks"].items() if v == "failed"}
    assert failed == {"counted", "sessions"}, report["problems"]
    assert [p["detail"] for p in report["problems"]] == [
        "1 contents do not have exactly one copy that counts; `astrocat scan` judges them again",
        f"1 sessions disagree with their frames ({SESSION}); `astrocat scan` recomputes them"]
    r = scan(db, lib)
    assert (r.new, r.changed, r.unchanged) == (0, 0, 6)
    # 5 subs: 4 x 180 + 300 = 1020 s; the quarantine copy of the Ha sub counts once
    size = sizes([lib.base_dir / p for p in filed_paths(db)] + more)
    t = totals(db, lib)
    s = t["summary"]
    assert (s["frames"], s["light_frames"], s["integration_s"], s["bytes"]) == (5, 5, 1020.0, size)
    assert [(x["id"], x["frames"], x["integration_s"], x["bytes"]) for x in t["sessions"]] == [(SESSION, 5, 1020.0, size)]
    assert [(x["name"], x["frames"], x["integration_s"]) for x in t["targets"]] == [("M31", 5, 1020.0)]
    assert [r[:4] for r in t["datasette"]] == [("M31", "L", 4, 720.0), ("M31", "Ha", 1, 300.0)]
    assert_datasette_agrees_with_stats(db, lib)
    assert verify_database(db, lib)["clean"]
    assert os.path.exists(lib.quarantine / "n2" / "again.fits")  # a scan never moves a file
