"""The demo site in a real headless Chromium (Debian's), loaded from file://."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

import pytest

from astrocat import site
from conftest import ROOT, need
from sitekit import HOSTILE, build_hostile_site, html_pages

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
SHOTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    need(os.path.exists(CHROMIUM), f"Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    need(importlib.util.find_spec("playwright") is not None, "the playwright Python package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watched:
    """A page that records console errors, page errors, failed requests and dialogs."""

    def __init__(self, browser, **ctx):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, **ctx)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # ERR_ABORTED is a lazy image still loading when the test moves on, not a missing file
        # (a missing file is ERR_FILE_NOT_FOUND)
        self.page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "") else
                     self.problems.append(f"failed request: {r.url} {r.failure}"))
        self.page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else self.problems.append(f"outside request: {r.url}"))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)

    def open(self, path: Path):
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        if path.name == "files.html":
            self.page.wait_for_selector("#files-table[data-loaded='true']", timeout=15000)
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    w.close()


def test_every_page_loads_without_errors(browser, demo_dir):
    pages = html_pages(demo_dir / "site")
    assert len(pages) >= 20
    w = Watched(browser)
    try:
        for path in pages:
            w.open(path)
            # every image on the page decoded (thumbnails exist and are PNGs)
            broken = w.page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).length")
            assert broken == 0, path
        assert w.problems == [], w.problems
    finally:
        w.close()


def _count(db, where: str, params=()) -> int:
    return db.execute(f"SELECT COUNT(*) FROM frames WHERE location != 'missing' AND {where}", params).fetchone()[0]


def test_explorer_filters_give_the_right_row_counts(watched, demo_dir):
    db = sqlite3.connect(demo_dir / "catalog.db")
    page = watched.open(demo_dir / "site" / "files.html")
    table = page.locator("#files-table")
    assert int(table.get_attribute("data-matches")) == _count(db, "1=1")

    def matches() -> int:
        return int(table.get_attribute("data-matches"))

    form = page.locator("#filters")
    form.locator("select[name=target]").select_option("M31")
    assert matches() == _count(db, "target='M31'")
    form.locator("select[name=filter]").select_option("Ha")
    assert matches() == _count(db, "target='M31' AND filter='Ha'") > 0
    form.locator("select[name=type]").select_option("light")
    assert matches() == _count(db, "target='M31' AND filter='Ha' AND frame_type='light'")
    page.click("button[type=reset]")
    page.wait_for_timeout(50)
    assert matches() == _count(db, "1=1")
    form.locator("select[name=type]").select_option("flat")
    assert matches() == _count(db, "frame_type='flat'")
    form.locator("select[name=camera]").select_option("ZWO ASI2600MM Pro")
    assert matches() == _count(db, "frame_type='flat' AND camera='ZWO ASI2600MM Pro'")
    page.click("button[type=reset]")
    form.locator("select[name=telescope]").select_option("Esprit 100")
    assert matches() == _count(db, "telescope='Esprit 100'")
    page.click("button[type=reset]")
    form.locator("input[name=from]").fill("2024-11-01")
    form.locator("input[name=from]").dispatch_event("change")
    form.locator("input[name=to]").fill("2024-11-10")
    form.locator("input[name=to]").dispatch_event("change")
    assert matches() == _count(db, "night BETWEEN '2024-11-01' AND '2024-11-10'")
    page.click("button[type=reset]")
    form.locator("input[name=q]").fill("calibration")
    page.wait_for_timeout(400)
    assert matches() == _count(db, "lower(path) LIKE '%calibration%'") > 0
    # a session link opens the explorer pre-filtered
    sid = "2024-10-03_ASI2600MM_Esprit100"
    page.goto((demo_dir / "site" / "files.html").as_uri() + f"#session={sid}")
    page.reload()
    page.wait_for_selector("#files-table[data-loaded='true']")
    assert matches() == _count(db, "session_id=?", [sid])


def test_explorer_sorts_and_pages(watched, demo_dir):
    page = watched.open(demo_dir / "site" / "files.html")
    page.select_option("#page-size", "50")
    assert page.locator("#files-body tr").count() == 50
    first_page = page.locator("#files-body tr").first.inner_text()
    page.click("#next")
    assert page.locator("#files-body tr").first.inner_text() != first_page
    assert "page 2" in page.locator("#page-info").inner_text()
    page.click("th[data-sort=exposure_s] button")
    exps = [float(t) for t in page.locator("#files-body tr td:nth-child(5)").all_inner_texts() if t]
    assert exps == sorted(exps) and exps[0] == 0.0  # ascending, bias frames first
    assert page.get_attribute("th[data-sort=exposure_s]", "aria-sort") == "ascending"
    page.click("th[data-sort=exposure_s] button")
    exps = [float(t) for t in page.locator("#files-body tr td:nth-child(5)").all_inner_texts() if t]
    assert exps == sorted(exps, reverse=True) and exps[0] == 300.0


def test_session_page_shows_the_right_integration_per_filter(watched, demo_dir):
    db = sqlite3.connect(demo_dir / "catalog.db")
    sid = "2024-10-05_ASI2600MM_Esprit100"
    expected = dict(db.execute("SELECT filter, SUM(exposure_s) FROM frames WHERE session_id=? AND frame_type='light' "
                               "AND location != 'missing' GROUP BY filter", [sid]))
    page = watched.open(demo_dir / "site" / site.session_href(sid))
    shown = page.evaluate("""Array.from(document.querySelectorAll('#per-filter tbody tr[data-filter]'))
        .map(r => [r.dataset.filter, parseFloat(r.querySelector('.secs').textContent)])""")
    assert dict(shown) == expected
    assert {"Ha", "OIII"} == set(expected)  # NGC 7000 in Ha and OIII, M31 in Ha
    assert page.locator("h1").inner_text().startswith("2024-10-05")
    assert page.locator(".thumb-strip img").count() > 0


def test_night_vision_toggle_and_copy_button(browser, demo_dir):
    w = Watched(browser)
    try:
        page = w.open(demo_dir / "site" / "index.html")
        assert page.get_attribute("html", "data-theme") == "dark"
        bg_dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.click("#theme-toggle")
        assert page.get_attribute("html", "data-theme") == "red"
        assert page.get_attribute("#theme-toggle", "aria-pressed") == "true"
        assert page.evaluate("getComputedStyle(document.body).color") == "rgb(255, 77, 77)"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != bg_dark
        page.screenshot(path=str(_shots() / "dashboard-night-vision.png"))
        # the choice follows to the next page
        w.open(demo_dir / "site" / "stats.html")
        assert w.page.get_attribute("html", "data-theme") == "red"
        w.page.click("#theme-toggle")
        w.open(demo_dir / "site" / "index.html")
        button = w.page.locator("button.copy").first
        command = button.get_attribute("data-copy")
        assert command == "astrocat scan"
        button.click()
        # the clipboard answers asynchronously; the button then says so
        w.page.wait_for_selector("button.copy.done", timeout=3000)
        assert w.page.locator("button.copy.done").inner_text() in ("Copied", "Select and copy")
        assert w.problems == [], w.problems
    finally:
        w.close()


def _shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def test_screenshots(watched, demo_dir):
    out = demo_dir / "site"
    pages = {
        "dashboard": out / "index.html",
        "session": out / site.session_href("2024-10-03_ASI2600MM_Esprit100"),
        "target": out / site.target_href("M31"),
        "explorer": out / "files.html",
        "stats": out / "stats.html",
        "sessions": out / "sessions" / "index.html",
        "targets": out / "targets" / "index.html",
    }
    for name, path in pages.items():
        page = watched.open(path)
        dest = _shots() / f"{name}.png"
        page.screenshot(path=str(dest), full_page=True)
        assert dest.stat().st_size > 10_000
    assert watched.problems == []


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    from astrocat.config import load, write_default

    s = load(write_default(tmp_path_factory.mktemp("hostile") / "lib", timezone="UTC"))
    build_hostile_site(s)
    return s.site


def test_hostile_object_runs_no_script_anywhere(browser, hostile_site):
    pages = html_pages(hostile_site)
    assert len(pages) >= 10
    w = Watched(browser)
    try:
        w.page.add_init_script("window.__pwned = 0; window.alert = function () { window.__pwned++; };")
        for path in pages:
            page = w.open(path)
            if path.name == "files.html":
                page.fill("input[name=q]", "alert")
                page.wait_for_timeout(300)
                assert int(page.get_attribute("#files-table", "data-matches")) > 0
            injected = page.evaluate("""() => ({
                pwned: window.__pwned,
                imgs: document.querySelectorAll('img[src="x"], img:not([src])').length,
                inline: Array.from(document.scripts).filter(s => !s.src).length,
                handlers: Array.from(document.querySelectorAll('*')).filter(e =>
                    Array.from(e.attributes).some(a => a.name.startsWith('on'))).length,
                jsLinks: document.querySelectorAll('a[href^="javascript:"]').length,
            })""")
            assert injected == {"pwned": 0, "imgs": 0, "inline": 0, "handlers": 0, "jsLinks": 0}, (path, injected)
        assert w.dialogs == []
        # the values are shown, as text
        page = w.open(hostile_site / "targets" / "index.html")
        assert HOSTILE[0] in page.locator("main").inner_text()
        page = w.open(hostile_site / "files.html")
        options = page.locator("select[name=target] option").all_inner_texts()
        assert set(HOSTILE) <= set(options)
        assert not [p for p in w.problems if "outside request" in p or "page error" in p], w.problems
    finally:
        w.close()
