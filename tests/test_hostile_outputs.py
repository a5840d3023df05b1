"""Hostile inputs for the outputs: frames whose previews cannot be made, XISF and bzip2
frames, search terms FTS5 would misread, a bad Datasette address in astrocat.toml.
Real files, a real catalog, a real Datasette."""

from __future__ import annotations

import asyncio
import bz2
import hashlib
import io
import json
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from astrocat.config import Settings
from astrocat.demo.fitswrite import star_field, write_fits
from conftest import invoke_cli


def light_cards(minute: int, target: str = "M31", filt: str = "Ha") -> list[tuple]:
    return [("IMAGETYP", "LIGHT", ""), ("EXPTIME", 60.0, ""), ("OBJECT", target, ""), ("FILTER", filt, ""),
            ("INSTRUME", "ZWO ASI2600MM Pro", ""), ("DATE-OBS", f"2024-09-01T22:{minute:02d}:00", "")]


def write_lights(settings: Settings, n: int, **kw) -> list[Path]:
    folder = settings.quarantine / "night"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    paths = []
    for i in range(n):
        p = folder / f"light_{i}.fits"
        write_fits(p, light_cards(10 + i, **kw), star_field(rng, stars=[(20, 20, 9000)]))
        paths.append(p)
    return paths


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def replace_card(path: Path, key: str, card: str | None) -> None:
    """A header lie: the 80-column card `key` becomes `card` (a blank COMMENT when None)."""
    raw = bytearray(path.read_bytes())
    at = raw.find(f"{key:<8}=".encode())
    assert at >= 0 and at % 80 == 0, f"no {key} card in {path}"
    raw[at:at + 80] = (card or "COMMENT").ljust(80).encode("ascii")
    path.write_bytes(bytes(raw))


# --- 18: a frame whose preview fails gets none; the build goes on --------------------------


def test_build_lists_frames_with_a_bad_or_missing_bitpix_and_renders_the_others(library):
    good, twelve, gone = write_lights(library, 3)
    assert invoke_cli("scan", cwd=library.base_dir).returncode == 0
    hashes = {p: sha(p) for p in (good, twelve, gone)}  # the catalog's hashes, before the lie
    replace_card(twelve, "BITPIX", f"{'BITPIX':<8}= {12:>20}")
    replace_card(gone, "BITPIX", None)
    r = invoke_cli("build", "--json", cwd=library.base_dir)
    assert r.returncode == 1, r.stdout + r.stderr  # finished, with problems
    data = json.loads(r.stdout)
    failures = data["thumbnail_failures"]
    assert len(failures) == 2, failures
    for path in (twelve, gone):
        line = next(f for f in failures if str(path) in f)
        assert "BITPIX" in line and len(line) < len(str(path)) + 120, line  # the file and a short reason
    assert data["thumbnails_rendered"] == 1
    thumbs = library.site / "thumbs"
    assert sorted(p.name for p in thumbs.glob("*.png")) == [f"{hashes[good]}.png"]
    assert (library.site / "index.html").is_file()
    session_page = next((library.site / "sessions").glob("2024-09-01*.html"))
    assert f"thumbs/{hashes[good]}.png" in session_page.read_text()


def test_sync_goes_on_past_a_frame_without_bitpix(library):
    good, gone = write_lights(library, 2)
    replace_card(gone, "BITPIX", None)  # the header reader catalogs it; astropy cannot open it
    lie = sha(gone)
    r = invoke_cli("sync", "--json", cwd=library.base_dir)
    report = json.loads(r.stdout)
    assert r.returncode == 1 and not report["ok"], r.stdout + r.stderr
    db = sqlite3.connect(library.catalog)
    (filed,) = db.execute("SELECT path FROM frames WHERE sha256 = ?", (lie,)).fetchone()  # organized
    db.close()
    failures = report["site"]["thumbnail_failures"]
    assert len(failures) == 1 and str(library.abs(filed)) in failures[0] and "BITPIX" in failures[0], failures
    assert report["site"]["thumbnails_rendered"] == 1
    assert (library.site / "index.html").is_file()
    r = invoke_cli("sync", cwd=library.base_dir)  # people are told too
    assert r.returncode == 1 and f"no thumbnail: {library.abs(filed)}" in r.stdout.replace("\n", "")


# --- 19: XISF and .fits.bz2 frames get previews --------------------------------------------


def write_xisf(path: Path, data: np.ndarray, cards: list[tuple]) -> None:
    from xisf import XISF

    keywords = {k: [{"value": repr(v).replace('"', "'") if isinstance(v, str) else str(v), "comment": c}]
                for k, v, c in cards}
    XISF.write(str(path), data, creator_app="astrocat tests", image_metadata={"FITSKeywords": keywords},
               xisf_metadata={})


def test_xisf_and_bzip2_frames_get_thumbnails(library):
    folder = library.quarantine / "night"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(12)
    xisf_path = folder / "light_x.xisf"
    field = star_field(rng, stars=[(10, 30, 30000)])  # FITS y=30: 17 rows from the top
    # XISF stores the top row first: the star row flipped to match what FITS shows
    write_xisf(xisf_path, field[::-1][..., None].astype(np.uint16), light_cards(10))
    bz_path = folder / "light_b.fits.bz2"
    buf = io.BytesIO()
    hdr = fits.Header([fits.Card(k, v, c) for k, v, c in light_cards(11)])
    fits.PrimaryHDU(star_field(rng, stars=[(40, 10, 30000)]).astype(np.int32), hdr).writeto(buf)
    bz_path.write_bytes(bz2.compress(buf.getvalue()))
    assert invoke_cli("scan", cwd=library.base_dir).returncode == 0
    r = invoke_cli("build", "--json", cwd=library.base_dir)
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["thumbnail_failures"] == [], r.stdout + r.stderr
    assert data["thumbnails_rendered"] == 2
    x_png = np.asarray(Image.open(library.site / "thumbs" / f"{sha(xisf_path)}.png"))
    b_png = np.asarray(Image.open(library.site / "thumbs" / f"{sha(bz_path)}.png"))
    assert x_png.shape == (48, 64) and b_png.shape == (48, 64)
    # each star where its writer put it (FITS rows bottom-up, XISF rows top-down)
    assert x_png[47 - 30, 10] == 255 and np.median(x_png) < 128
    assert b_png[47 - 10, 40] == 255 and np.median(b_png) < 128


def test_colour_compressed_xisf_and_an_oversized_bzip2_claim(tmp_path):
    from xisf import XISF

    from astrocat.site import preview

    rgb = np.full((40, 60, 3), 0.05, dtype=np.float32)
    rgb[..., 2] += np.random.default_rng(14).normal(0, 0.01, (40, 60)).astype(np.float32)
    rgb[5:9, 5:9, 2] = 0.9  # a blue star near the top left
    p = tmp_path / "stack.xisf"
    XISF.write(str(p), rgb, creator_app="astrocat tests", codec="zlib", shuffle=True)
    img = preview.read_downsampled(p)
    assert img.shape == (40, 60, 3) and img[6, 6, 2] == pytest.approx(0.9) and img[6, 6, 0] == pytest.approx(0.05)
    r = preview.ensure_thumbnail(tmp_path / "t", "c" * 64, p)
    assert r.status == "rendered" and Image.open(r.file).mode == "RGB"
    # a bzip2 file whose header claims 80 GB of pixels is refused before decompressing them
    hdr = fits.Header([fits.Card("SIMPLE", True), fits.Card("BITPIX", 16), fits.Card("NAXIS", 2),
                       fits.Card("NAXIS1", 200000), fits.Card("NAXIS2", 200000)])
    bomb = tmp_path / "bomb.fits.bz2"
    bomb.write_bytes(bz2.compress(hdr.tostring().encode("ascii")))
    r = preview.ensure_thumbnail(tmp_path / "t", "d" * 64, bomb)
    assert r.status == "failed" and "too large" in r.reason and str(bomb) in r.reason


def test_a_broken_xisf_fails_with_a_reason_instead_of_being_skipped(tmp_path):
    from astrocat.site import preview

    bad = tmp_path / "stack.xisf"
    bad.write_bytes(b"XISF0100" + b"\xff" * 40)
    r = preview.ensure_thumbnail(tmp_path / "t", "b" * 64, bad)
    assert r.status == "failed" and str(bad) in r.reason and "XISF" in r.reason


# --- 22: Datasette search takes any text --------------------------------------------------


def datasette_rows(catalog: Path, query: str, q: str) -> tuple[int, list[dict]]:
    from datasette.app import Datasette

    from astrocat.datasette import app as datasette_app

    name = datasette_app.database_name(catalog)

    async def go():
        ds = Datasette([str(catalog)], metadata=datasette_app.load_metadata(name), settings=datasette_app.SETTINGS)
        await ds.invoke_startup()
        r = await ds.client.get(f"/{name}/{query}.json?_shape=objects&{httpx.QueryParams({'q': q})}")
        return r.status_code, (r.json().get("rows") or []) if r.status_code == 200 else []

    return asyncio.run(go())


def test_search_quotes_user_text_and_advanced_search_takes_fts_syntax(library):
    write_lights(library, 2, target="Sh2-155", filt="L-eXtreme")
    write_lights_elsewhere = library.quarantine / "other"
    write_lights_elsewhere.mkdir()
    write_fits(write_lights_elsewhere / "m31.fits", light_cards(30, target="M31", filt="Ha"),
               star_field(np.random.default_rng(13)))
    assert invoke_cli("scan", cwd=library.base_dir).returncode == 0
    cat = library.catalog
    for q in ("L-eXtreme", "Sh2-155", "sh2-155 l-extreme", "l-EXTREME"):
        status, rows = datasette_rows(cat, "search", q)
        assert status == 200, q
        assert sorted(r["item"] for r in rows) == ["quarantine/night/light_0.fits", "quarantine/night/light_1.fits"], q
    status, rows = datasette_rows(cat, "search", "M31")
    assert status == 200 and [r["item"] for r in rows] == ["quarantine/other/m31.fits"]
    for q in ('"', "*", "(", "NEAR(", "AND", "a:b", "-", "^x", "'; DROP TABLE frames; --", "Sh2-155 \"x"):
        status, rows = datasette_rows(cat, "search", q)
        assert status == 200 and rows == [], (q, status)
    # advanced: FTS5 syntax as typed
    status, rows = datasette_rows(cat, "search_advanced", '"Sh2-155" OR M31')
    assert status == 200 and len(rows) == 3, rows
    status, rows = datasette_rows(cat, "search_advanced", '"L-eXtreme" NOT M31')
    assert status == 200 and len(rows) == 2, rows
    status, rows = datasette_rows(cat, "search_advanced", "Sh2*")
    assert status == 200 and len(rows) == 2, rows


# --- 23: a bad [datasette] url is a config error -------------------------------------------


def test_datasette_with_a_bad_port_in_the_config_says_so_in_one_line(library):
    text = library.config_path.read_text(encoding="utf-8")
    for url in ("http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://127.0.0.1:-1"):
        library.config_path.write_text(text.replace('url = "http://127.0.0.1:8001"', f'url = "{url}"'),
                                       encoding="utf-8")
        r = invoke_cli("datasette", cwd=library.base_dir)
        assert r.returncode == 2, (url, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "datasette.url" in lines[0] and "port" in lines[0], (url, r.stderr)
        assert str(library.config_path) in lines[0]
