"""Target corrections: alias, rename, merge (filters accept the old names), and suggestions
from coordinates for frames without OBJECT, which are never applied by themselves."""

from __future__ import annotations

from curatekit import cli, cli_json, dump, rows, scan, write_light

M31 = (10.6847, 41.2690)
M33 = (23.4621, 30.6602)
EMPTY = (0.0, -80.0)


def _sky(lib) -> None:
    """Lights of M31 and M33 with coordinates, and three frames without OBJECT: one near
    each, one far from both."""
    q = lib.quarantine / "n1"
    for i in range(3):
        write_light(q / f"m31_{i}.fits", obj="M31", seed=i, date=f"2024-11-01T21:0{i}:00", ra=M31[0] + 0.01 * i,
                    dec=M31[1])
        write_light(q / f"m33_{i}.fits", obj="M33", seed=10 + i, date=f"2024-11-01T22:0{i}:00", ra=M33[0],
                    dec=M33[1] - 0.01 * i)
    write_light(q / "blank_a.fits", obj=None, seed=20, date="2024-11-01T23:00:00", ra=10.75, dec=41.20)
    write_light(q / "blank_b.fits", obj=None, seed=21, date="2024-11-01T23:01:00", ra=23.30, dec=30.80)
    # a patch of sky with no catalogued object within 1.5 degrees (asserted below)
    write_light(q / "blank_far.fits", obj=None, seed=22, date="2024-11-01T23:02:00", ra=EMPTY[0], dec=EMPTY[1])
    scan(lib)


def _targets_by_file(lib) -> dict[str, str | None]:
    return {p.rsplit("/", 1)[-1]: t for p, t in rows(lib, "SELECT path, target FROM frames")}


def test_suggestions_pick_the_nearest_target_and_change_nothing(library) -> None:
    from astrocat import skycat

    assert skycat.nearest(*EMPTY, 1.5) == [], "the far frame's patch of sky must be empty for this test"
    _sky(library)
    before = dump(library)
    found = cli_json(library, "target", "suggest", "--radius", "1.0")
    assert {f["path"].rsplit("/", 1)[-1]: f["target"] for f in found} == {"blank_a.fits": "M31",
                                                                        "blank_b.fits": "M33"}
    text = cli(library, "target", "suggest")
    assert "nothing changed" in text
    assert dump(library) == before, "a suggestion is never applied by itself"
    # a scan does not apply it either
    scan(library, "--full")
    assert _targets_by_file(library)["blank_a.fits"] is None

    cli(library, "target", "assign", "--suggested")
    got = _targets_by_file(library)
    assert (got["blank_a.fits"], got["blank_b.fits"], got["blank_far.fits"]) == ("M31", "M33", None)
    assert rows(library, "SELECT name, frames FROM targets ORDER BY name") == [("M31", 4), ("M33", 4)]
    # confirmed suggestions are corrections like any other: they survive a rescan and undo
    scan(library, "--full")
    assert _targets_by_file(library)["blank_b.fits"] == "M33"
    cli(library, "undo")
    assert dump(library)["frames"] == before["frames"]


def test_the_sky_catalog_suggests_when_no_known_target_is_near(library) -> None:
    """A frame on the Pacman Nebula, in a library that has no such target yet: the offline
    sky catalog names it; the radius comes from the frame's field of view by default."""
    q = library.quarantine / "n1"
    write_light(q / "pacman.fits", obj=None, seed=30, date="2024-11-01T23:00:00", ra=13.1, dec=56.6)
    write_light(q / "m31.fits", obj="M31", seed=31, date="2024-11-01T21:00:00", ra=M31[0], dec=M31[1])
    scan(library)
    found = cli_json(library, "target", "suggest")
    assert [(f["path"].rsplit("/", 1)[-1], f["target"]) for f in found] == [("pacman.fits", "NGC 281")]
    # (13.1, 56.6) to OpenNGC's centre of NGC 281 (13.2473, 56.6219): 0.084 deg by hand
    # (dRA 0.1473 deg x cos 56.61 = 0.0810, dDec 0.0219; hypot 0.0839)
    assert abs(found[0]["separation_deg"] - 0.0839) < 0.001


def test_a_small_radius_finds_nothing(library) -> None:
    _sky(library)
    assert cli_json(library, "target", "suggest", "--radius", "0.01") == []
    assert "no suggestion" in cli(library, "target", "assign", "--suggested", "--radius", "0.01", code=2)


def test_alias_rename_merge_and_filters_that_accept_the_old_names(library) -> None:
    q = library.quarantine / "n1"
    write_light(q / "a.fits", obj="Big Spiral", seed=1)
    write_light(q / "b.fits", obj="Big Spiral Gal", seed=2, date="2024-11-01T21:05:00")
    write_light(q / "c.fits", obj="M31", seed=3, date="2024-11-01T21:10:00")
    write_light(q / "d.fits", obj="Blob", seed=4, date="2024-11-01T21:15:00")
    scan(library)
    cli(library, "target", "alias", "Big Spiral", "M31")
    assert len(cli_json(library, "list", "files", "--target", "Big Spiral")) == 2
    assert len(cli_json(library, "list", "files", "--target", "big spiral")) == 2
    cli(library, "target", "merge", "M31", "Big Spiral Gal")
    assert len(cli_json(library, "list", "files", "--target", "M31")) == 3
    assert len(cli_json(library, "list", "files", "--target", "Big Spiral Gal")) == 3
    cli(library, "target", "rename", "Blob", "NGC 281")
    assert _targets_by_file(library) == {"a.fits": "M31", "b.fits": "M31", "c.fits": "M31", "d.fits": "NGC 281"}
    assert [t["name"] for t in cli_json(library, "list", "targets", "--target", "Blob")] == ["NGC 281"]
    stats = cli_json(library, "stats", "by-target", "--target", "Big Spiral")
    assert [(s["name"], s["integration_s"]) for s in stats] == [("M31", 900.0)]
    # a loop is refused
    assert "loop" in cli(library, "target", "alias", "M31", "Big Spiral", code=2)
    # a frame of the alias scanned later joins the target at once
    write_light(q / "e.fits", obj="Big Spiral", seed=5, date="2024-11-01T21:20:00")
    scan(library)
    assert _targets_by_file(library)["e.fits"] == "M31"
    assert "exists already" in cli(library, "target", "rename", "NGC 281", "M31", code=2)


def test_a_second_candidate_source_answers_where_the_known_targets_do_not(library) -> None:
    """The plug the offline sky catalog goes into: sources are tried in order."""
    from astrocat import catalog
    from astrocat.catalog import curate
    from astrocat.rules.curation import nearest

    _sky(library)
    southern = [("NGC 2070", 84.6765, -69.1008), ("Polar test", 5.0, -78.0), ("M31", 10.6847, 41.2690)]

    def sky(ra: float, dec: float, radius: float) -> list[tuple[str, float]]:
        return nearest(ra, dec, southern, radius)

    db = catalog.open_catalog(library.catalog)
    try:
        found = curate.suggest(db, 13.0, [curate.known_targets(db), sky])
    finally:
        db.conn.close()
    got = {f["path"].rsplit("/", 1)[-1]: f["target"] for f in found}
    # blank_far (0, -80): nothing known within 13 deg; "Polar test" 2.2 deg away, NGC 2070 15 deg
    assert got == {"blank_a.fits": "M31", "blank_b.fits": "M33", "blank_far.fits": "Polar test"}
