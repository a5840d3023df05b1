"""Targets and the sky catalog, end to end: FITS written by astropy, a real scan, catalog,
site and notes. OBJECT values that are common names are filed under their designation,
mosaic panels under their target, and every target gets the catalog's facts."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat import skycat
from astrocat.site.paths import target_href
from conftest import invoke_cli, need



@pytest.fixture(autouse=True)
def _openngc() -> None:
    need(skycat.database_path() is not None, "pyongc (OpenNGC) is not installed (pip install -e '.')")


def light(folder: Path, name: str, obj: str, *, ra: float | None = None, dec: float | None = None,
          date: str = "2024-11-01T21:00:00", flt: str = "Ha", exptime: float = 120.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = fits.Header()
    for key, value in (("IMAGETYP", "Light Frame"), ("OBJECT", obj), ("FILTER", flt), ("EXPTIME", exptime),
                       ("DATE-OBS", date), ("INSTRUME", "ZWO ASI2600MM Pro"), ("TELESCOP", "Esprit 100")):
        header[key] = value
    if ra is not None:
        header["RA"], header["DEC"] = ra, dec
    path = folder / name
    fits.PrimaryHDU(np.zeros((8, 8), dtype=np.uint16), header).writeto(path)
    return path


def scan(lib) -> dict:
    r = invoke_cli("scan", "--json", cwd=lib.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def query(lib, sql: str, *params):
    con = sqlite3.connect(lib.catalog)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


@pytest.fixture
def sky_library(library):
    q = library.quarantine
    light(q, "andromeda_1.fits", "Andromeda Galaxy", ra=10.70, dec=41.25)
    light(q, "andromeda_2.fits", "Andromeda Galaxy", ra=10.66, dec=41.29, date="2024-11-01T21:05:00")
    light(q, "m31_panel_2.fits", "M31 Panel 2", ra=11.9, dec=41.9, date="2024-11-01T21:10:00")
    light(q, "m31_mosaic_p3.fits", "M31_Mosaic_P3", ra=9.5, dec=40.6, date="2024-11-01T21:15:00")
    light(q, "heart_1.fits", "Heart Nebula", date="2024-11-02T22:00:00")  # no coordinates in the header
    light(q, "heart_2.fits", "Heart Nebula Panel 2", date="2024-11-02T22:05:00")
    light(q, "pacman.fits", "Pacman Nebula", date="2024-11-02T23:00:00")
    light(q, "witch.fits", "Witch Head", date="2024-11-03T01:00:00")
    light(q, "mine.fits", "My Comet", date="2024-11-03T02:00:00")
    report = scan(library)
    assert report["new"] == 9 and report["rejected"] == 0
    return library


def test_common_names_are_filed_under_their_designation(sky_library):
    got = {r["path"].rsplit("/", 1)[1]: (r["object"], r["target"], r["panel"])
           for r in query(sky_library, "SELECT path, object, target, panel FROM frames")}
    assert got == {
        "andromeda_1.fits": ("Andromeda Galaxy", "M31", None),
        "andromeda_2.fits": ("Andromeda Galaxy", "M31", None),
        "m31_panel_2.fits": ("M31 Panel 2", "M31", "2"),
        "m31_mosaic_p3.fits": ("M31_Mosaic_P3", "M31", "3"),
        "heart_1.fits": ("Heart Nebula", "IC 1805", None),
        "heart_2.fits": ("Heart Nebula Panel 2", "IC 1805", "2"),
        "pacman.fits": ("Pacman Nebula", "NGC 281", None),
        "witch.fits": ("Witch Head", "IC 2118", None),
        "mine.fits": ("My Comet", "My Comet", None),  # unknown to the catalog: kept as written
    }


def test_every_target_gets_the_catalogs_facts(sky_library):
    targets = {r["name"]: r for r in query(sky_library, "SELECT * FROM targets")}
    assert sorted(targets) == ["IC 1805", "IC 2118", "M31", "My Comet", "NGC 281"]
    m31 = targets["M31"]
    # four frames (panels included); the mean of their header positions, not the catalog's
    assert m31["frames"] == 4 and m31["coords_from"] == "frames"
    assert m31["ra_deg"] == pytest.approx((10.70 + 10.66 + 11.9 + 9.5) / 4)
    assert m31["dec_deg"] == pytest.approx((41.25 + 41.29 + 41.9 + 40.6) / 4)
    assert (m31["common_name"], m31["object_type"], m31["constellation"]) == ("Andromeda Galaxy", "Galaxy", "Andromeda")
    heart = targets["IC 1805"]
    # no coordinates in its headers: the catalog's, 02h 32m 42s +61° 27' (38.175°, 61.45°)
    assert heart["coords_from"] == "catalog"
    assert heart["ra_deg"] == pytest.approx(38.175, abs=0.02) and heart["dec_deg"] == pytest.approx(61.45, abs=0.02)
    assert (heart["common_name"], heart["constellation"]) == ("Heart Nebula", "Cassiopeia")
    assert "LBN 654" in json.loads(heart["sky_names"])
    assert targets["NGC 281"]["common_name"] == "Pacman Nebula"
    mine = targets["My Comet"]
    assert (mine["ra_deg"], mine["coords_from"], mine["common_name"], mine["object_type"]) == (None, None, None, None)


def test_filters_take_common_names(sky_library):
    r = invoke_cli("list", "files", "--target", "Andromeda Galaxy", "--json", cwd=sky_library.base_dir)
    assert r.returncode == 0, r.stderr
    assert sorted(f["path"].rsplit("/", 1)[1] for f in json.loads(r.stdout)) == [
        "andromeda_1.fits", "andromeda_2.fits", "m31_mosaic_p3.fits", "m31_panel_2.fits"]
    r = invoke_cli("list", "targets", "--target", "heart nebula", "--json", cwd=sky_library.base_dir)
    assert [t["name"] for t in json.loads(r.stdout)] == ["IC 1805"]


def test_site_and_notes_show_the_catalogs_facts(sky_library):
    lib = sky_library.base_dir
    r = invoke_cli("build", "--json", cwd=lib)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (sky_library.site / target_href("IC 1805")).read_text(encoding="utf-8")
    assert "Heart Nebula" in page and "Cassiopeia" in page
    assert "RA 02h 32m" in page and "from the sky catalog" in page
    m31 = (sky_library.site / target_href("M31")).read_text(encoding="utf-8")
    assert "Andromeda Galaxy" in m31 and "from the sky catalog" not in m31
    # its mosaic panels, each with its frames (120 s each); the un-paneled frames count in the totals only
    panels = m31[m31.index('id="panels"'):m31.index("</table>", m31.index('id="panels"'))]
    assert re.findall(r"<td>Panel (\d+)</td><td class=\"num\">(\d+)</td><td class=\"num\">([^<]+)</td>", panels) == [
        ("2", "1", "2 min"), ("3", "1", "2 min")]
    # the sky map marks every target the catalog knows, header coordinates or not
    stats = (sky_library.site / "stats.html").read_text(encoding="utf-8")
    sky = stats[stats.index("chart-sky"):]
    for name in ("M31", "IC 1805", "NGC 281", "IC 2118"):
        assert f"<title>{name}:" in sky, name
    assert "<title>My Comet:" not in sky

    r = invoke_cli("notes", "--json", cwd=lib)
    assert r.returncode == 0, r.stdout + r.stderr
    notes = {p.stem: p.read_text(encoding="utf-8") for p in (sky_library.notes / "Targets").glob("*.md")}
    heart = next(text for stem, text in notes.items() if stem.startswith("IC 1805"))
    assert "common_name: Heart Nebula\n" in heart and "constellation: Cassiopeia\n" in heart
    assert "ra_deg: 38.1" in heart and "(from the sky catalog)" in heart
    assert "| Object | Heart Nebula · Star cluster and nebula · in Cassiopeia |" in heart
    assert "| Also known as | LBN 654 |" in heart


def test_upgrade_files_cataloged_common_names_under_their_designation(library, monkeypatch):
    """A catalog from before the sky catalog (schema 7) holds `Heart Nebula` as a target:
    migration 11 files those frames under IC 1805, and leaves a target your alias set."""
    from astrocat import features
    from astrocat.catalog import open_catalog
    from astrocat.ingest.scan import scan as run_scan

    light(library.quarantine, "heart.fits", "Heart Nebula")
    light(library.quarantine, "orion.fits", "Great Orion Nebula", date="2024-11-02T23:00:00")
    # an alias to a name the catalog knows (NGC 1977): yours, so not renamed
    library.target_aliases = {"Great Orion Nebula": "Running Man Nebula"}
    assert not library.catalog.exists()
    early = [x for x in features.migrations() if x[0] < 11]
    with monkeypatch.context() as m:
        m.setattr(features, "migrations", lambda: early)
        m.setattr(skycat, "catalogue_id", lambda name: None)  # the astrocat of before: no sky catalog
        db = open_catalog(library.catalog)
        run_scan(db, library)
        db.conn.close()
    before = {r["object"]: r["target"] for r in query(library, "SELECT object, target FROM frames")}
    assert before == {"Heart Nebula": "Heart Nebula", "Great Orion Nebula": "Running Man Nebula"}
    db = open_catalog(library.catalog)  # runs migration 11
    db.conn.close()
    after = {r["object"]: r["target"] for r in query(library, "SELECT object, target FROM frames")}
    assert after == {"Heart Nebula": "IC 1805", "Great Orion Nebula": "Running Man Nebula"}
    targets = {r["name"]: r for r in query(library, "SELECT name, coords_from, common_name FROM targets")}
    assert targets["IC 1805"] == {"name": "IC 1805", "coords_from": "catalog", "common_name": "Heart Nebula"}
    sessions = query(library, "SELECT targets FROM sessions")
    assert sorted(json.loads(s["targets"]) for s in sessions) == [["IC 1805"], ["Running Man Nebula"]]



def test_a_scan_reuses_the_facts_without_building_the_index(sky_library, monkeypatch):
    """Facts are looked up once per target and sky data: a later scan keeps them (no 0.1 s
    index build on every sync); new sky data (another stamp) looks them up again."""
    light(sky_library.quarantine, "heart_3.fits", "IC 1805", date="2024-11-02T22:10:00")
    skycat._index.cache_clear()
    assert scan(sky_library)["new"] == 1
    assert skycat._index.cache_info().currsize == 0  # a designation and known targets: no index built
    facts = "SELECT name, frames, coords_from, common_name, ra_deg FROM targets WHERE name IN ('IC 1805', 'M31')"
    kept = query(sky_library, facts)
    assert [(t["name"], t["frames"], t["coords_from"], t["common_name"]) for t in kept] == [
        ("IC 1805", 3, "catalog", "Heart Nebula"), ("M31", 4, "frames", "Andromeda Galaxy")]
    # other sky data: every target is looked up again, with the same answers from the same names
    monkeypatch.setattr(skycat, "stamp", lambda: "another")
    light(sky_library.quarantine, "m31_3.fits", "M31", ra=10.68, dec=41.27, date="2024-11-01T21:20:00")
    assert scan(sky_library)["new"] == 1
    assert skycat._index.cache_info().currsize == 1
    again = query(sky_library, facts)
    assert [(t["name"], t["coords_from"], t["common_name"]) for t in again] == [
        ("IC 1805", "catalog", "Heart Nebula"), ("M31", "frames", "Andromeda Galaxy")]
    assert again[0]["ra_deg"] == kept[0]["ra_deg"]
    assert {r["sky_version"] for r in query(sky_library, "SELECT sky_version FROM targets")} == {"another"}
