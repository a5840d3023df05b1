"""The dashboard (`index.html`): totals, the last 24 months, the latest sessions, quick actions."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from astrocat import catalog
from astrocat.catalog.counts import counted
from astrocat.rules import charts
from astrocat.site.commands import COMMANDS, actions
from astrocat.site.helpers import digest
from astrocat.site.pages.stats import month_series
from astrocat.site.paths import DASHBOARD

if TYPE_CHECKING:
    from astrocat.site.build import Site

LATEST_SESSIONS = 8
MONTHS = 24
BACKUPS = "backups/index.html"


def write(site: Site, sessions: list[dict[str, Any]], thumbs: dict[str, str | None], last_scan: str | None) -> None:
    latest = [{**s, "thumb": thumbs.get(s["id"])} for s in sessions[:LATEST_SESSIONS]]
    backup = _backup_coverage(site)
    key = digest(site.catalog_key, DASHBOARD, latest, backup)
    entry = site.writer.lookup(DASHBOARD, key)
    if entry is not None:
        site.kept(DASHBOARD, entry)
        return
    summary = catalog.stats_summary(site.db, catalog.FrameFilter())
    months, series = month_series(site, last_n=MONTHS)
    chart = charts.bar_chart(months, series, title=f"Integration per month (last {MONTHS} months), by filter",
                             y_label="hours", width=1160, height=320)
    site.page(
        DASHBOARD, "index.html", key=key, title="Dashboard", section=DASHBOARD, summary=summary,
        latest=latest, chart=Markup(chart), last_scan=last_scan, backup=backup, catalog_path=str(site.s.catalog),
        backups_href=BACKUPS if any(href == BACKUPS for _, href in site.nav) else None,
        datasette={"frames": site.datasette.frames(),
                   "integration": site.datasette.query("integration_by_target_filter")},
        commands=actions([
            ("Read new frames into the catalog", COMMANDS["scan"]),
            ("File them into the library (preview first)", COMMANDS["organize"]),
            ("Rebuild this site and open it", COMMANDS["build"]),
            ("Explore the catalog in Datasette", COMMANDS["datasette"]),
        ]),
    )


def _backup_coverage(site: Site) -> dict[str, Any] | None:
    """Share of the catalog's distinct contents with a backup record, once the backup feature
    is built and has run."""
    if "backup" not in site.built or not site.has_table("backups"):
        return None
    try:
        done = site.db.execute("SELECT COUNT(DISTINCT sha256) FROM backups").fetchone()[0] or 0
    except sqlite3.OperationalError:
        return None
    total = site.db.execute(
        f"SELECT COUNT(DISTINCT sha256) FROM frames WHERE {counted()} AND sha256 IS NOT NULL"
    ).fetchone()[0] or 0
    done = min(done, total)
    return {"backed_up": done, "total": total, "percent": round(100.0 * done / total, 1) if total else 0.0}
