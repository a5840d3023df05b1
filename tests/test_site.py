"""astrocat build: pages, safety, incremental rebuilds, the CLI. Real catalog, real files."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
from urllib.parse import quote
import sqlite3
from pathlib import Path

import pytest
from astropy.io import fits

from astrocat import catalog
from astrocat import site
from astrocat import units
from astrocat.config import load
from conftest import backdate, invoke_cli
from sitekit import HOSTILE, build_hostile_site, external_urls, html_pages, site_files, write_hostile_frames


def build_json(lib: Path, *args: str) -> dict:
    r = invoke_cli("build", "--json", *args, cwd=lib)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()
            and not p.name.endswith(".lock")}


# --- pure helpers ----------------------------------------------------------------------------


def test_slug_is_stable_safe_and_distinct():
    assert site.slug("M31") == "M31"
    assert site.slug("2024-10-03_ASI2600MM_Esprit100") == "2024-10-03_ASI2600MM_Esprit100"
    a, b = site.slug("NGC 7000"), site.slug("NGC_7000")
    assert a != b and a.startswith("NGC_7000-") and b == "NGC_7000"
    for evil in HOSTILE + ["../../etc/passwd", "CON", "", "a/b\\c"]:
        s = site.slug(evil)
        assert re.fullmatch(r"[A-Za-z0-9._-]+", s) and ".." not in s.split("-")[0] and s.upper() != "CON"


def test_loopback_detection():
    assert site.is_loopback_url("http://127.0.0.1:8001")
    assert site.is_loopback_url("http://localhost:8001/")
    assert site.is_loopback_url("http://[::1]:8001")
    for url in ("https://example.com", "http://192.168.1.2:8001", "http://127.0.0.1.evil.com", "javascript:alert(1)", "file:///x"):
        assert not site.is_loopback_url(url), url


def test_js_data_cannot_close_a_script():
    text = site.js_data({"v": "</script><script>alert(1)</script>&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text)["v"] == "</script><script>alert(1)</script>&\u2028"


def test_helpers_month_range_evenly_and_coordinates():
    assert site.month_range("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert site.evenly(list(range(10)), 3) == [0, 4, 9]  # round(4.5) is 4: half to even
    assert site.evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert site.evenly([1, 2], 5) == [1, 2]
    # the target pages' coordinates (the filters `ra` and `dec` are astrocat.units)
    assert units.ra_hms(10.6847) == "00h 42m 44.3s"
    assert units.dec_dms(41.269) == "+41° 16′ 08″"
    assert units.dec_dms(-5.3911).startswith("−05° 23′")
    assert site.note_file_name('a/b:c*?"<>|#^[x]') == "a_b_c_______^_x_.md".replace("^", "_")


# --- the demo site ----------------------------------------------------------------------------


def test_demo_builds_the_site_and_prints_its_path(demo_dir):
    index = demo_dir / "site" / "index.html"
    assert index.is_file()
    names = {p.relative_to(demo_dir / "site").as_posix() for p in html_pages(demo_dir / "site")}
    db = sqlite3.connect(demo_dir / "catalog.db")
    sessions = [r[0] for r in db.execute("SELECT id FROM sessions")]
    targets = [r[0] for r in db.execute("SELECT name FROM targets")]
    assert {"index.html", "files.html", "stats.html", "sessions/index.html", "targets/index.html"} <= names
    for sid in sessions:
        assert site.session_href(sid) in names
    for t in targets:
        assert site.target_href(t) in names
    assert len(list((demo_dir / "site" / "thumbs").glob("*.png"))) > 50


def test_no_external_url_in_any_generated_file(demo_dir):
    out = demo_dir / "site"
    s = load(demo_dir / "astrocat.toml")
    allowed = (s.datasette_url + "/",) if site.is_loopback_url(s.datasette_url) else ()
    checked = 0
    for path in site_files(out):
        text = path.read_text(encoding="utf-8")
        assert external_urls(text, allowed) == [], path
        assert "@import" not in text and "cdn" not in text.lower(), path
        checked += 1
    assert checked > 20
    # and the only absolute URLs left are the configured local Datasette
    assert any(s.datasette_url in p.read_text() for p in html_pages(out))


def test_every_relative_link_resolves(demo_dir):
    out = demo_dir / "site"
    ref = re.compile(r'(?:href|src)="([^"]+)"')
    for page in html_pages(out):
        for target in ref.findall(page.read_text(encoding="utf-8")):
            target = html.unescape(target)
            if target.startswith(("http://127.0.0.1", "http://localhost", "obsidian://", "#")):
                continue
            assert "://" not in target and not target.startswith("/"), (page, target)
            file_part = target.split("#")[0].split("?")[0]
            assert (page.parent / file_part).resolve().is_file(), (page, target)


def test_session_page_shows_integration_per_filter(demo_dir):
    db = sqlite3.connect(demo_dir / "catalog.db")
    sid = "2024-10-03_ASI2600MM_Esprit100"
    expected = dict(db.execute(
        "SELECT filter, SUM(exposure_s) FROM frames WHERE session_id=? AND frame_type='light' GROUP BY filter", [sid]))
    page = (demo_dir / "site" / site.session_href(sid)).read_text()
    table = page.split('id="per-filter"', 1)[1].split("</table>", 1)[0]
    shown = dict(re.findall(r'<tr data-filter="([^"]+)">.*?<td class="num secs">([\d.]+)</td>', table))
    assert {k: float(v) for k, v in shown.items()} == expected
    assert "Calibration frames this night" in page and "Darks" in page
    assert f"files.html#session={sid}" in page
    assert "astrocat list files --session " + sid in page
    # commands of features not built yet are not offered: every copied command runs
    assert "astrocat processing" not in page and "astrocat backup" not in page
    assert "obsidian://open?path=" in page
    # the hand-written demo note is rendered, and its path is the note's real path
    assert "Guiding RMS" in page
    assert quote(str(demo_dir / "notes" / "Imaging_Sessions" / "2024" / f"{sid}.md"), safe="") in page


def test_target_page_sums_per_night(demo_dir):
    db = sqlite3.connect(demo_dir / "catalog.db")
    page = (demo_dir / "site" / site.target_href("M31")).read_text()
    nights = [r[0] for r in db.execute(
        "SELECT DISTINCT night FROM frames WHERE target='M31' AND frame_type='light' ORDER BY night")]
    table = page.split('id="per-night"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", table) == nights
    assert "RA 00h 4" in page and "Dec +41°" in page


def test_explorer_chunks_hold_every_present_frame(demo_dir):
    out = demo_dir / "site" / "data"
    db = sqlite3.connect(demo_dir / "catalog.db")
    total = db.execute("SELECT COUNT(*) FROM frames WHERE location != 'missing'").fetchone()[0]
    meta = json.loads(re.search(r"AstrocatFiles\.meta\((.*)\);", (out / "files-meta.js").read_text()).group(1))
    assert meta["total"] == total
    rows = 0
    for c in meta["chunks"]:
        payload = json.loads(re.search(r"AstrocatFiles\.chunk\((.*)\);", (demo_dir / "site" / c["file"]).read_text()).group(1))
        assert len(payload["rows"]) == c["rows"]
        rows += c["rows"]
    assert rows == total
    assert set(meta["options"]["type"]) == {r[0] for r in db.execute("SELECT DISTINCT frame_type FROM frames")}


# --- features: only built ones show ----------------------------------------------------------


def offered_commands(out: Path) -> set[str]:
    """Every command a page of the site offers to copy (the note paths' buttons aside)."""
    found = set()
    for page in html_pages(out):
        for attrs in re.findall(r"<button ([^>]*)>", page.read_text(encoding="utf-8")):
            copy = re.search(r'data-copy="([^"]*)"', attrs)
            if not copy:
                continue
            value = html.unescape(copy.group(1))
            label = html.unescape(re.search(r'aria-label="([^"]*)"', attrs).group(1))
            if label == "Copy the note's path":
                assert value.endswith(".md"), (page, value)
                continue
            assert label == f"Copy command: {value}", (page, attrs)
            found.add(value)
    return found


def test_the_nav_lists_every_built_feature_and_its_pages_exist(demo_dir):
    out = demo_dir / "site"
    pages = html_pages(out)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        nav = text.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
        hrefs = [h.lstrip("./") for h in re.findall(r'href="([^"]+)"', nav)]
        assert hrefs == ["index.html", "sessions/index.html", "targets/index.html", "files.html", "stats.html",
                         "processing/index.html", "calibration/index.html", "backups/index.html"], page
    assert (out / "processing" / "index.html").is_file() and (out / "calibration" / "index.html").is_file()


def test_every_offered_command_is_a_real_astrocat_command(demo_dir):
    import typer

    from astrocat.cli import app

    commands = offered_commands(demo_dir / "site")
    root = typer.main.get_command(app)
    shapes: dict[tuple, list[str]] = {}
    for line in sorted(commands):
        args = shlex.split(line)
        assert args[0] == "astrocat", line
        args = args[1:]
        node, depth = root, 0
        # typer's own click: a group is what has subcommands
        while hasattr(node, "commands") and depth < len(args) and args[depth] in node.commands:
            node, depth = node.commands[args[depth]], depth + 1
        assert depth and not hasattr(node, "commands"), f"not a command: {line}"
        shapes.setdefault((tuple(args[:depth]), tuple(a for a in args[depth:] if a.startswith("-"))), args)
    assert {path for path, _ in shapes} == {("scan",), ("organize",), ("build",), ("datasette",), ("list", "files"),
                                            ("notes",), ("stats", "by-filter")}
    # --help after the options: click still rejects an unknown option or a missing value first
    for args in shapes.values():
        r = invoke_cli(*args, "--help")
        assert r.returncode == 0 and "Usage:" in r.stdout, (args, r.stdout + r.stderr)
    assert invoke_cli("list", "files", "--no-such-option", "x", "--help").returncode == 2


def test_pages_an_older_build_wrote_for_a_feature_not_built_are_removed(demo_copy):
    out = demo_copy / "site"
    build_json(demo_copy)
    # what an earlier astrocat left: a placeholder page, listed in the manifest
    manifest = json.loads((out / ".astrocat-site.json").read_text())
    (out / "retired").mkdir()
    (out / "retired" / "index.html").write_text("<p>astrocat retired list</p>")
    manifest["files"]["retired/index.html"] = {"in": "0" * 64, "out": "0" * 64}
    (out / ".astrocat-site.json").write_text(json.dumps(manifest))
    result = build_json(demo_copy)
    assert result["removed_files"] == ["retired/index.html"]
    assert not (out / "retired" / "index.html").exists()
    assert "retired/index.html" not in json.loads((out / ".astrocat-site.json").read_text())["files"]


# --- Datasette links and counts ----------------------------------------------------------------


def test_datasette_links_work_for_a_catalog_with_dots_in_its_name(demo_dir, tmp_path):
    import asyncio

    from datasette.app import Datasette

    from astrocat.datasette import app as datasette_app

    s = load(demo_dir / "astrocat.toml")
    s.catalog = tmp_path / "astro.v2.db"
    src = sqlite3.connect(demo_dir / "catalog.db")
    dest = sqlite3.connect(s.catalog)
    src.backup(dest)
    src.close()
    db = catalog.open_catalog(s.catalog, readonly=True)
    site.build(db, s, tmp_path / "www", thumbnails=False)
    db.conn.close()
    base = s.datasette_url.rstrip("/")
    links: dict[str, str] = {}
    for page in html_pages(tmp_path / "www"):
        for href in re.findall(r'href="(http[^"]+)"', page.read_text(encoding="utf-8")):
            href = html.unescape(href)
            assert href.startswith(base + "/astro~2Ev2/"), (page, href)
            links[href] = page.relative_to(tmp_path / "www").as_posix()
    sid = "2024-10-03_ASI2600MM_Esprit100"
    session_link = next(h for h, p in links.items() if p == site.session_href(sid))
    target_link = next(h for h, p in links.items() if p == site.target_href("M31"))
    query_link = next(h for h in links if "/integration_by_target_filter" in h)
    assert len({h for h, p in links.items() if p.startswith("sessions/") and p != "sessions/index.html"}) > 5

    async def get(path: str) -> dict:
        ds = Datasette([str(s.catalog)], metadata=datasette_app.load_metadata("astro.v2"),
                       settings=datasette_app.SETTINGS)
        await ds.invoke_startup()
        page = await ds.client.get(path)  # the link itself, as the browser opens it
        assert page.status_code == 200, (path, page.text[:300])
        where, _, query = path.partition("?")
        r = await ds.client.get(f"{where}.json?{query}&_shape=objects&_size=max")
        assert r.status_code == 200, path
        return r.json()

    cat = sqlite3.connect(s.catalog)
    data = asyncio.run(get(session_link[len(base):]))
    assert {r["session_id"] for r in data["rows"]} == {sid}
    assert data["filtered_table_rows_count"] == len(data["rows"]) == cat.execute("SELECT COUNT(*) FROM frames WHERE session_id=?", [sid]).fetchone()[0] > 0
    data = asyncio.run(get(target_link[len(base):]))
    assert {(r["target"], r["frame_type"]) for r in data["rows"]} == {("M31", "light")}
    assert data["filtered_table_rows_count"] == cat.execute(
        "SELECT COUNT(*) FROM frames WHERE target='M31' AND frame_type='light'").fetchone()[0] > 0
    rows = asyncio.run(get(query_link[len(base):]))["rows"]
    assert {r["target"] for r in rows} == {r[0] for r in cat.execute(
        "SELECT DISTINCT target FROM frames WHERE frame_type='light' AND target IS NOT NULL")}
    cat.close()


def explorer_data(out: Path) -> tuple[dict, list[dict]]:
    """The explorer's meta and every row, its dictionary references resolved."""
    meta = json.loads(re.search(r"AstrocatFiles\.meta\((.*)\);", (out / "data" / "files-meta.js").read_text()).group(1))
    rows = []
    for c in meta["chunks"]:
        chunk = json.loads(re.search(r"AstrocatFiles\.chunk\((.*)\);", (out / c["file"]).read_text()).group(1))
        for row in chunk["rows"]:
            rows.append({col: (chunk["dicts"][i][v] if chunk["dicts"][i] is not None and v is not None else v)
                         for i, (col, v) in enumerate(zip(chunk["columns"], row))})
    return meta, rows


def test_explorer_offers_no_value_seen_only_on_a_set_aside_duplicate(demo_copy):
    build_json(demo_copy)
    meta, rows = explorer_data(demo_copy / "site")
    db = catalog.open_catalog(demo_copy / "catalog.db")
    fid, path, sid = db.execute("SELECT id, path, session_id FROM frames WHERE frame_type='light' AND filter='Ha' "
                                "ORDER BY id LIMIT 1").fetchone()
    name = path.rsplit("/", 1)[1]
    assert "Ha" in meta["options"]["filter"] and any(r["name"] == name and r["filter"] == "Ha" for r in rows)
    with db.conn:
        db.execute("UPDATE frames SET location='duplicate', filter='OnlyOnADuplicate' WHERE id=?", [fid])
        catalog.refresh_derived(db, [sid], sha256s=None)
    assert db.execute("SELECT counted FROM frames WHERE id=?", [fid]).fetchone()[0] == 0
    db.conn.close()
    result = build_json(demo_copy)
    assert "data/files-meta.js" in result["written_files"]
    after, rows_after = explorer_data(demo_copy / "site")
    assert "OnlyOnADuplicate" not in after["options"]["filter"]
    assert not any(r["filter"] == "OnlyOnADuplicate" or r["name"] == name for r in rows_after)
    assert after["total"] == meta["total"] - 1 == len(rows_after)


# --- incremental builds -----------------------------------------------------------------------


def test_rebuild_with_nothing_changed_writes_no_file(demo_copy):
    first = build_json(demo_copy)  # the copy moved: note paths changed, so pages showing them are rewritten
    assert first["files"] > 20
    before = mtimes(demo_copy / "site")
    again = build_json(demo_copy)
    assert again["written"] == 0 and again["removed"] == 0 and again["thumbnails_rendered"] == 0
    assert mtimes(demo_copy / "site") == before  # the manifest included


def test_full_rebuild_rerenders_but_writes_nothing_when_bytes_match(demo_copy):
    build_json(demo_copy)
    before = mtimes(demo_copy / "site")
    full = build_json(demo_copy, "--full")
    assert full["written"] == 0
    assert mtimes(demo_copy / "site") == before
    # and the manifest it leaves lets the next build skip everything again
    again = build_json(demo_copy)
    assert again["written"] == 0 and mtimes(demo_copy / "site") == before


def _add_frame_to_session(lib: Path, sid: str) -> Path:
    db = sqlite3.connect(lib / "catalog.db")
    path = db.execute("SELECT path FROM frames WHERE session_id=? AND frame_type='light' ORDER BY date_obs DESC LIMIT 1",
                      [sid]).fetchone()[0]
    src = lib / path
    with fits.open(src) as hdul:
        stamp = str(hdul[0].header["DATE-OBS"])
        hdul[0].header["DATE-OBS"] = stamp[:17] + "59.5" + ("Z" if stamp.endswith("Z") else "")
        hdul[0].header["EXPTIME"] = 77.0
        hdul[0].header["EXPOSURE"] = 77.0
        dest = lib / "quarantine" / "extra" / "extra_frame.fits"
        dest.parent.mkdir(parents=True)
        hdul.writeto(dest)
    backdate(dest)  # past the demo library's [scan] settle_s
    return dest


def test_a_change_to_one_session_rewrites_only_the_pages_that_show_it(demo_copy):
    build_json(demo_copy)
    thumbs_before = {p.stem for p in (demo_copy / "site" / "thumbs").glob("*.png")}
    sid = "2024-11-09_ASI1600MM_530mm"  # Ekos, M33; night in 2024-11
    _add_frame_to_session(demo_copy, sid)
    r = invoke_cli("scan", "--json", cwd=demo_copy)
    assert r.returncode == 0 and json.loads(r.stdout)["new"] == 1
    db = sqlite3.connect(demo_copy / "catalog.db")
    assert db.execute("SELECT COUNT(*) FROM frames WHERE session_id=? AND exposure_s=77", [sid]).fetchone()[0] == 1
    result = build_json(demo_copy)
    written = set(result["written_files"])
    assert site.session_href(sid) in written
    allowed = {site.session_href(sid), "sessions/index.html", site.target_href("M33"), "targets/index.html",
               "index.html", "stats.html", "data/files-2024-11.js", "data/files-meta.js",
               "calibration/index.html"}  # coverage is of the whole library
    assert written <= allowed, written - allowed
    assert not any(w.startswith("sessions/2024-10") for w in written)
    # new previews (the strip is re-sampled) are of this session's frames only
    new = {p.stem for p in (demo_copy / "site" / "thumbs").glob("*.png")} - thumbs_before
    assert len(new) == result["thumbnails_rendered"]
    for sha in new:
        assert db.execute("SELECT session_id FROM frames WHERE sha256=?", [sha]).fetchone()[0] == sid
    page = (demo_copy / "site" / site.session_href(sid)).read_text()
    assert "extra_frame.fits" in page


def test_a_note_changes_only_its_page(demo_copy):
    build_json(demo_copy)
    s = load(demo_copy / "astrocat.toml")
    sid = "2024-10-05_ASI2600MM_Esprit100"
    # the user writes in the note file; `astrocat build` reads it back (notes first)
    note = s.notes / "Imaging_Sessions" / "2024" / f"{sid}.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nSeeing **4/5**, some clouds after 1 am.\n", encoding="utf-8")
    result = build_json(demo_copy)
    assert result["written_files"] == [site.session_href(sid)]
    page = (demo_copy / "site" / site.session_href(sid)).read_text()
    assert "Seeing <strong>4/5</strong>" in page


def test_removed_session_page_is_deleted_and_only_manifest_files(demo_copy):
    build_json(demo_copy)
    keep = demo_copy / "site" / "my-own-file.txt"
    keep.write_text("user file")
    sid = "2024-11-12_ASI290MM_600mm"
    db = sqlite3.connect(demo_copy / "catalog.db")
    for (path,) in db.execute("SELECT path FROM frames WHERE session_id=?", [sid]).fetchall():
        os.unlink(demo_copy / path)
    db.close()
    assert invoke_cli("scan", cwd=demo_copy).returncode == 0
    result = build_json(demo_copy)
    assert site.session_href(sid) in result["removed_files"]
    assert not (demo_copy / "site" / site.session_href(sid)).exists()
    assert keep.read_text() == "user file"


# --- safety ------------------------------------------------------------------------------------


@pytest.fixture
def hostile(library):
    return library, build_hostile_site(library)


def test_hostile_headers_are_escaped_in_every_file(hostile):
    settings, result = hostile
    out = settings.site
    assert len(list((out / "targets").glob("*.html"))) == 3  # both hostile targets got a page
    for path in site_files(out):
        text = path.read_text(encoding="utf-8")
        for bad in HOSTILE:
            assert bad not in text, path
        assert "<script>alert" not in text and "<img src=x" not in text and "onerror=alert(1)>" not in text.replace("&gt;", "")
        if path.suffix == ".html":
            # the only scripts are our own files
            for src in re.findall(r"<script([^>]*)>", text):
                assert re.fullmatch(r' src="(\.\./)*(assets|data)/[\w.-]+\.js"( defer)?', src), (path, src)
    # the values are there, escaped, for people to read
    target_page = (out / site.target_href(HOSTILE[0])).read_text()
    assert html.escape(HOSTILE[0]) in target_page or "&lt;script&gt;alert(1)&lt;/script&gt;" in target_page


def test_datasette_links_only_for_a_loopback_url(library, demo_dir):
    s = load(demo_dir / "astrocat.toml")
    s.datasette_url = "https://datasette.example.com"
    db = catalog.open_catalog(s.catalog, readonly=True)
    out = library.base_dir / "othersite"
    site.build(db, s, out, thumbnails=False)
    db.conn.close()
    for path in site_files(out):
        assert "example.com" not in path.read_text(), path


# --- CLI --------------------------------------------------------------------------------------


def test_cli_build_out_json_and_bad_folders(demo_dir, tmp_path):
    out = tmp_path / "www"
    data = build_json(demo_dir, "--out", str(out), "--no-thumbnails")
    assert Path(data["index"]) == out / "index.html" and (out / "index.html").is_file()
    assert data["written"] == data["files"] and data["thumbnails_rendered"] == 0
    assert not (out / "thumbs").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "taxes.pdf").write_text("x")
    r = invoke_cli("build", "--out", str(busy), cwd=demo_dir)
    assert r.returncode == 2 and "not empty" in r.stderr and str(busy) in r.stderr.replace("\n", "")
    assert sorted(p.name for p in busy.iterdir()) == ["taxes.pdf"]
    r = invoke_cli("build", "--out", str(busy / "taxes.pdf"), cwd=demo_dir)
    assert r.returncode == 2 and "not a folder" in r.stderr
    r = invoke_cli("build", "--out", str(busy), "--force", "--no-thumbnails", "--quiet", cwd=demo_dir)
    assert r.returncode == 0 and (busy / "index.html").exists() and (busy / "taxes.pdf").exists()
    assert "open " in r.stdout and "index.html" in r.stdout


def test_cli_build_without_catalog(tmp_path):
    r = invoke_cli("init", str(tmp_path / "lib"), "--timezone", "UTC")
    assert r.returncode == 0
    (tmp_path / "lib" / "catalog.db").unlink()
    r = invoke_cli("build", cwd=tmp_path / "lib")
    assert r.returncode == 4 and "astrocat scan" in r.stderr


def test_cli_build_empty_catalog(library):
    catalog.open_catalog(library.catalog).conn.close()
    r = invoke_cli("build", "--json", cwd=library.base_dir)
    assert r.returncode == 0, r.stderr
    page = (library.site / "index.html").read_text()
    assert "No frames yet" in page
    assert (library.site / "files.html").is_file()


def test_cli_build_reports_thumbnail_failures(library):
    write_hostile_frames(library)
    assert invoke_cli("scan", cwd=library.base_dir).returncode == 0
    db = sqlite3.connect(library.catalog)
    victims = [library.abs(r[0]) for r in db.execute("SELECT path FROM frames WHERE frame_type='light'")]
    db.close()
    # cut every light frame short after the scan: the catalog still has their hashes
    for p in victims:
        p.write_bytes(p.read_bytes()[:3000])
    r = invoke_cli("build", cwd=library.base_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no thumbnail:" in r.stdout and str(victims[0].parent) in r.stdout.replace("\n", "")
    assert (library.site / "index.html").is_file()  # the site is built all the same
    # known failures are reported again, not retried
    r = invoke_cli("build", "--json", cwd=library.base_dir)
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["thumbnails_rendered"] == 0 and data["thumbnail_failures"]
    assert data["written"] == 0


def test_two_builds_of_one_site_do_not_interleave(library):
    from astrocat.lock import catalog_lock

    db = catalog.open_catalog(library.catalog)
    with catalog_lock(library.site / ".astrocat-build", "build"):
        with pytest.raises(site.SiteBusy, match="another astrocat process is building this site"):
            site.build(db, library, lock_wait_s=0.2)
    assert site.build(db, library).index.is_file()
    db.conn.close()


def test_a_session_with_latitude_but_no_longitude_gets_its_page(library) -> None:
    """A header with SITELAT and no SITELONG (seen in the fuzz suite) stopped the build with
    a TypeError: the session page now says which half is there."""
    from organize_util import write_frame

    write_frame(library.quarantine / "a.fits", 0, SITELAT=50.85)
    write_frame(library.quarantine / "b.fits", 1, SITELAT=50.85)
    backdate(*library.quarantine.rglob("*.fits"))
    assert invoke_cli("scan", "-q", cwd=library.base_dir).returncode == 0
    r = invoke_cli("build", "--no-thumbnails", "--json", cwd=library.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    pages = {p.name: p.read_text(encoding="utf-8") for p in (library.site / "sessions").glob("*.html")}
    sites = sorted(re.search(r"<dt>Site</dt><dd>(.*?)</dd>", text).group(1)
                   for name, text in pages.items() if name != "index.html")
    assert sites == ["latitude 50.8500° (no longitude in the headers)"]
