"""The statistics page (`stats.html`): growth, per month, filter, target, equipment, sky map."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from astrocat import catalog
from astrocat.catalog.counts import integrates
from astrocat.rules import charts
from astrocat.site.helpers import digest, month_range
from astrocat.site.paths import STATS

if TYPE_CHECKING:
    from astrocat.site.build import Site

TOP_TARGETS = 15


def month_series(site: Site, last_n: int | None = None) -> tuple[list[str], list[tuple[str, list[float]]]]:
    """Months (every one from the first to the last, or the last `last_n`) and, per filter,
    the seconds of light in each, filters with the most first."""
    q = f"""SELECT substr(night, 1, 7) AS month, COALESCE(filter, '(none)') AS filter, SUM(exposure_s) AS secs
           FROM frames WHERE {integrates()} AND night IS NOT NULL GROUP BY month, filter"""
    data: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, float] = defaultdict(float)
    for r in site.query(q):
        data[r["month"]][r["filter"]] = r["secs"] or 0.0
        totals[r["filter"]] += r["secs"] or 0.0
    if not data:
        return [], []
    months = month_range(min(data), max(data))
    if last_n:
        months = months[-last_n:]
    filters = sorted(totals, key=lambda f: -totals[f])
    return months, [(f, [data.get(m, {}).get(f, 0.0) for m in months]) for f in filters]


def write(site: Site, targets: list[dict[str, Any]]) -> None:
    key = digest(site.catalog_key, STATS, targets)
    entry = site.writer.lookup(STATS, key)
    if entry is not None:
        site.kept(STATS, entry)
        return
    flt = catalog.FrameFilter()
    summary = catalog.stats_summary(site.db, flt)
    cumulative = []
    total = 0.0
    for r in site.query(
        f"SELECT night, SUM(exposure_s) AS secs FROM frames WHERE {integrates()} "
        "AND night IS NOT NULL GROUP BY night ORDER BY night"
    ):
        total += r["secs"] or 0.0
        cumulative.append((r["night"], round(total, 3)))
    by_filter = catalog.stats_grouped(site.db, flt, "filter")
    cameras = catalog.list_values(site.db, "camera", flt)
    telescopes = catalog.list_values(site.db, "telescope", flt)
    months, series = month_series(site)
    target_links = {t["name"]: t["href"] for t in targets}
    top = targets[:TOP_TARGETS]
    by_type = sorted(summary["frames_by_type"].items(), key=lambda kv: -kv[1])
    chart_list = [
        ("growth", charts.line_chart(cumulative, title="Collection growth: cumulative integration",
                                     y_label="hours of light frames", x_label="night", width=1160, height=320)),
        ("months", charts.bar_chart(months, series, title="Integration per month, by filter", y_label="hours",
                                    width=1160, height=320)),
        ("filters", charts.hbar_chart([(r["name"], r["integration_s"]) for r in by_filter],
                                      title="Integration per filter", x_label="hours of light frames",
                                      color_by_name=True, width=560)),
        ("targets", charts.hbar_chart([(t["name"], t["integration_s"]) for t in top],
                                      title=f"Top {len(top)} targets by integration", x_label="hours of light frames",
                                      links=target_links, width=560)),
        ("cameras", charts.hbar_chart([(r["name"], r["integration_s"] or 0) for r in cameras],
                                      title="Integration per camera", x_label="hours of light frames", width=560)),
        ("telescopes", charts.hbar_chart([(r["name"], r["integration_s"] or 0) for r in telescopes],
                                         title="Integration per telescope", x_label="hours of light frames",
                                         width=560)),
        ("types", charts.hbar_chart(by_type, title="Frames by type", x_label="frames", value_format=charts.count,
                                    color_by_name=True, width=560)),
        ("sky", charts.sky_map([(t["name"], t["ra_deg"], t["dec_deg"], t["integration_s"]) for t in targets],
                               title="Sky map of targets (marker size: integration)", links=target_links,
                               width=1160, height=560)),
    ]
    site.page(
        STATS, "stats.html", key=key, title="Statistics", section=STATS, summary=summary,
        charts=[(k, Markup(svg)) for k, svg in chart_list],
        cameras=cameras, telescopes=telescopes, by_filter=by_filter,
    )
