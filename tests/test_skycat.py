"""The offline sky catalog (astrocat.skycat over OpenNGC): designations, common names, positions."""

from __future__ import annotations

import json
import socket

import pytest

from astrocat import skycat
from astrocat.skycat.names import POPULAR_NAMES
from conftest import need



@pytest.fixture(autouse=True)
def _openngc() -> None:
    need(skycat.database_path() is not None, "pyongc (OpenNGC) is not installed (pip install -e '.')")


@pytest.mark.parametrize(("query", "want"), [
    ("M 31", "M31"), ("m31", "M31"), ("Messier 31", "M31"), ("NGC 224", "M31"), ("ngc0224", "M31"),
    ("NGC0281", "NGC 281"), ("ngc 281", "NGC 281"), ("IC 1805", "IC 1805"), ("ic1805", "IC 1805"),
    ("Sh2-155", "Sh2-155"), ("SH 2-155", "Sh2-155"), ("LBN 654", "LBN 654"), ("Caldwell 20", "C20"),
])
def test_designations_in_any_spelling(query: str, want: str) -> None:
    obj = skycat.lookup(query)
    assert obj is not None and obj.id == want


@pytest.mark.parametrize(("name", "want", "common"), [
    ("Andromeda Galaxy", "M31", "Andromeda Galaxy"),
    ("Heart Nebula", "IC 1805", "Heart Nebula"),
    ("Pacman Nebula", "NGC 281", "Pacman Nebula"),
    ("Witch Head", "IC 2118", "Witch Head Nebula"),
    ("witch head nebula", "IC 2118", "Witch Head Nebula"),
    ("Pac-Man Nebula", "NGC 281", "Pacman Nebula"),
    ("the Heart", "IC 1805", "Heart Nebula"),
    ("Cave Nebula", "C9", "Cave Nebula"),
])
def test_common_names_without_any_alias(name: str, want: str, common: str) -> None:
    obj = skycat.lookup(name)
    assert obj is not None
    assert (obj.id, obj.common_name) == (want, common)
    assert skycat.catalogue_id(name) == want


def test_what_an_object_carries() -> None:
    m31 = skycat.lookup("Andromeda Galaxy")
    assert m31 is not None
    # 00h 42m 44.3s +41° 16' 09": 10.6846°, 41.2692°
    assert m31.ra_deg == pytest.approx(10.6846, abs=0.001) and m31.dec_deg == pytest.approx(41.2692, abs=0.001)
    assert (m31.type, m31.constellation) == ("Galaxy", "Andromeda")
    assert "NGC 224" in m31.names and "Andromeda Galaxy" in m31.names
    heart = skycat.lookup("IC 1805")
    assert heart is not None and heart.constellation == "Cassiopeia"
    # 02h 32m 42s +61° 27': 38.175°, 61.45°
    assert heart.ra_deg == pytest.approx(38.175, abs=0.02) and heart.dec_deg == pytest.approx(61.45, abs=0.02)
    # IC 2118 is a duplicate record of NGC 1909 in OpenNGC: the type comes from the record it repeats
    witch = skycat.lookup("IC 2118")
    assert witch is not None and witch.type == "Reflection nebula" and witch.constellation == "Eridanus"


def test_unknown_names_and_designations_are_none() -> None:
    for name in ("", "   ", "My backyard", "Unknown", "NGC 99999", "M31 Panel 2"):
        assert skycat.lookup(name) is None, name
    assert skycat.catalogue_id("NGC 281") is None  # a designation is filed as written
    assert skycat.catalogue_id("Nothing Nebula") is None


def test_every_popular_name_points_at_a_catalogued_object() -> None:
    for designation, names in POPULAR_NAMES.items():
        obj = skycat.lookup(designation)
        assert obj is not None and obj.ra_deg is not None, designation
        for n in names:
            assert skycat.catalogue_id(n) == obj.id, n


def test_nearest_picks_the_object_at_those_coordinates() -> None:
    # a frame centred 0.2° from M31's core: M31 first, its companions after, by separation
    found = skycat.nearest(10.6846 + 0.2 / 0.7516, 41.2692, 1.0)  # 0.2° of arc at Dec 41.27 (cos = 0.7516)
    ids = [o.id for o, _ in found]
    assert ids[0] == "M31"
    assert found[0][1] == pytest.approx(0.2, abs=0.01)
    assert {"M32", "M110"} <= set(ids)
    seps = [s for _, s in found]
    assert seps == sorted(seps) and all(s <= 1.0 for s in seps)
    # the Heart Nebula's centre
    heart = skycat.nearest(38.175, 61.45, 0.3)
    assert heart[0][0].id == "IC 1805"
    # nothing catalogued that close to the south celestial pole
    assert skycat.nearest(0.0, -89.99, 0.001) == []


def test_separation_by_hand() -> None:
    assert skycat.separation_deg(0.0, 0.0, 1.0, 0.0) == pytest.approx(1.0)
    assert skycat.separation_deg(0.0, 89.0, 180.0, 89.0) == pytest.approx(2.0)  # over the pole
    assert skycat.separation_deg(359.5, 0.0, 0.5, 0.0) == pytest.approx(1.0)  # across 0h
    assert skycat.separation_deg(10.0, 20.0, 10.0, 20.0) == 0.0


def test_works_without_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the sky catalog tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    _forget()  # build the index again, with the network refused
    try:
        assert skycat.catalogue_id("Heart Nebula") == "IC 1805"
        obj = skycat.lookup("Heart Nebula")
        assert obj is not None and obj.id == "IC 1805"
        assert skycat.nearest(10.6846, 41.2692, 0.1)[0][0].id == "M31"
    finally:
        _forget()


def test_without_pyongc_nothing_is_found(monkeypatch) -> None:
    monkeypatch.setattr(skycat, "database_path", lambda: None)
    _forget()
    try:
        assert skycat.lookup("M31") is None and skycat.nearest(10.68, 41.27, 1) == []
        assert not skycat.available()
        # not even astrocat's own popular names: one source answers, or none
        assert skycat.catalogue_id("Heart Nebula") is None and skycat.catalogue_id("Andromeda Galaxy") is None
    finally:
        _forget()


def _forget() -> None:
    skycat._index.cache_clear()
    skycat._names.cache_clear()


def test_commands_that_do_not_need_it_never_build_it(library) -> None:
    """Start-up: the index (about 0.1 s) is built only by a question the catalog answers:
    listing, filtering by a designation and the stats leave it alone (docs/performance.md)."""
    import numpy as np
    from astropy.io import fits

    from conftest import invoke_cli

    header = fits.Header()
    for key, value in (("IMAGETYP", "Light Frame"), ("OBJECT", "M 31"), ("EXPTIME", 60.0),
                       ("DATE-OBS", "2024-11-01T21:00:00"), ("RA", 10.68), ("DEC", 41.27)):
        header[key] = value
    fits.PrimaryHDU(np.zeros((4, 4), dtype=np.uint16), header).writeto(library.quarantine / "m31.fits")
    assert invoke_cli("scan", cwd=library.base_dir).returncode == 0
    _forget()
    for args in (["--help"], ["list", "targets"], ["list", "files", "--target", "M 31"], ["stats", "by-target"], ["scan"]):
        r = invoke_cli(*args, cwd=library.base_dir)
        assert r.returncode == 0, (args, r.stderr)
        assert skycat._index.cache_info().currsize == 0 and skycat._names.cache_info().currsize == 0, args
    # a common name is a question for the catalog's common names (not its whole index)
    r = invoke_cli("list", "files", "--target", "Andromeda Galaxy", "--json", cwd=library.base_dir)
    assert [f["target"] for f in json.loads(r.stdout)] == ["M31"]
    assert skycat._names.cache_info().currsize == 1 and skycat._index.cache_info().currsize == 0


def test_the_common_name_tables_agree_with_the_whole_index() -> None:
    """catalogue_id reads the common names alone (a few ms); lookup builds the whole index:
    every common name OpenNGC or astrocat knows, and its short form, gives one answer."""
    idx = skycat._index()
    names = [n for rec in idx.records.values() if rec.type != "Dup" for n in rec.common]
    names += [n for ns in POPULAR_NAMES.values() for n in ns]
    assert len(names) > 200
    for name in names:
        for form in (name, name.rsplit(" ", 1)[0]):  # "Veil Nebula", "Veil"
            obj = skycat.lookup(form)
            assert skycat.catalogue_id(form) == (obj.id if obj else None), form


def test_the_stamp_follows_the_sky_data(monkeypatch) -> None:
    """Targets keep their facts while the stamp holds: it changes with astrocat's own names."""
    before = skycat.stamp()
    assert skycat.stamp() == before
    monkeypatch.setitem(POPULAR_NAMES, "M1", ("Crab",))
    skycat._names_digest.cache_clear()
    try:
        assert skycat.stamp() != before
    finally:
        monkeypatch.undo()
        skycat._names_digest.cache_clear()
    assert skycat.stamp() == before


def test_identify_prefers_the_object_that_holds_the_centre() -> None:
    # centred on NGC 206, a star cloud inside M31 (0.68° from its core, M31 is 178' long):
    # nearest() lists NGC 206 first, identify() names the galaxy the frame shows
    ngc206 = skycat.lookup("NGC 206")
    assert ngc206 is not None
    assert skycat.nearest(ngc206.ra_deg, ngc206.dec_deg, 1.5)[0][0].id == "NGC 206"
    assert skycat.identify(ngc206.ra_deg, ngc206.dec_deg, 1.5).id == "M31"
    # 0.25° off the Heart Nebula's centre (60' across): the Heart, not the Fish Head 0.95° away
    assert skycat.identify(38.175 + 0.3, 61.45 + 0.2, 1.5).id == "IC 1805"
    # nothing within the radius
    assert skycat.identify(0.0, -89.99, 0.001) is None


def test_a_designation_in_brackets_wins() -> None:
    # NINA users write both: the designation in brackets is the one meant
    assert skycat.catalogue_id("Prawn Nebula (IC 4628)") == "IC 4628"
    assert skycat.catalogue_id("Heart (Sh2-190)") == "Sh2-190"
    # brackets without a designation: the name before them
    assert skycat.catalogue_id("Heart Nebula (Cassiopeia)") == "IC 1805"
    assert skycat.catalogue_id("Something (else)") is None


def test_hostile_names_are_just_unknown() -> None:
    for name in ("a (b) " * 3000, "(" * 5000 + ")" * 5000, "\x00\x01", "🌌 Nebula", "Nebula", "the", "()", " ( ) "):
        assert skycat.catalogue_id(name) is None, name[:20]
        assert skycat.lookup(name) is None, name[:20]
