"""Helpers shared by the site tests: a hostile library, page walking, URL checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from astrocat import catalog
from astrocat.config import Settings
from astrocat.demo.fitswrite import star_field, write_fits
from conftest import backdate

HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']
HOSTILE_NOTE = (
    "# Night notes\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
    "[click](javascript:alert(1)) and ![remote](https://example.com/tracker.png)\n"
)


def write_hostile_frames(settings: Settings) -> list[Path]:
    """Light and dark frames whose OBJECT, FILTER, INSTRUME and TELESCOP are script injections."""
    rng = np.random.default_rng(7)
    folder = settings.quarantine / "hostile"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, bad in enumerate(HOSTILE):
        for i in range(3):
            cards = [
                ("IMAGETYP", "LIGHT", ""), ("EXPTIME", 60.0, ""), ("OBJECT", bad, ""), ("FILTER", bad, ""),
                ("INSTRUME", bad, ""), ("TELESCOP", bad, ""), ("DATE-OBS", f"2024-09-0{n + 1}T22:{10 + i:02d}:00", ""),
                ("CCD-TEMP", -10.0, ""), ("RA", 10.0 + 30 * n, ""), ("DEC", 20.0, ""), ("SWCREATE", bad, ""),
            ]
            p = folder / f"light_{n}_{i}.fits"
            write_fits(p, cards, star_field(rng, stars=[(20, 20, 5000)]))
            paths.append(p)
        p = folder / f"dark_{n}.fits"
        write_fits(p, [("IMAGETYP", "DARK", ""), ("EXPTIME", 60.0, ""), ("INSTRUME", bad, ""),
                       ("DATE-OBS", f"2024-09-0{n + 1}T23:00:00", "")], star_field(rng))
        paths.append(p)
    backdate(*paths)  # captured long ago: a library at the default [scan] settle_s reads them
    return paths


def add_note(db, kind: str, key: str, text: str, path: str | None = None) -> None:
    db["notes"].upsert({"id": f"{kind}:{key}", "kind": kind, "key": key, "path": path, "user_text": text,
                        "updated_at": "2024-11-21T08:00:00Z"}, pk="id")
    db.conn.commit()


def build_hostile_site(settings: Settings):
    """Hostile frames scanned, hostile notes on every session and target, the site built."""
    from astrocat import site
    from astrocat.ingest.scan import scan

    write_hostile_frames(settings)
    db = catalog.open_catalog(settings.catalog)
    try:
        scan(db, settings)
        db.conn.commit()
        for (sid,) in list(db.execute("SELECT id FROM sessions")):
            add_note(db, "session", sid, HOSTILE_NOTE)
        for (name,) in list(db.execute("SELECT name FROM targets")):
            add_note(db, "target", name, HOSTILE_NOTE)
        return site.build(db, settings)
    finally:
        db.conn.close()


def site_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".png"))


def html_pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


URL_RE = re.compile(r"""(?i)\b((?:https?|ftp|wss?):)?//[^\s"'<>)]+""")
# Namespace names are identifiers, never fetched: the SVG favicon must declare its namespace.
ALLOWED_NAMESPACES = ("http://www.w3.org/2000/svg",)


def external_urls(text: str, allowed_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Absolute or protocol-relative URLs in the text, minus allowed ones."""
    found = []
    for m in URL_RE.finditer(text):
        url = m.group(0)
        if url.startswith(ALLOWED_NAMESPACES) or any(url.startswith(a) for a in allowed_prefixes):
            continue
        found.append(url)
    return found


def open_catalog(settings: Settings):
    return catalog.open_catalog(settings.catalog)
