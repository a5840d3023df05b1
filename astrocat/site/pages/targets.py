"""Target pages (`targets/<name>.html`) and the targets index (`targets/index.html`)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from astrocat.catalog.counts import integrates
from astrocat.rules import charts
from astrocat.site.commands import actions, command
from astrocat.site.helpers import digest
from astrocat.site.paths import TARGETS, explorer_href, note_file_name, session_href, target_href

if TYPE_CHECKING:
    from astrocat.site.build import Site


def rows(site: Site) -> list[dict[str, Any]]:
    """Every target row, most integration first, with its JSON columns read and its href."""
    out = []
    for r in site.query("SELECT * FROM targets ORDER BY integration_s DESC, name"):
        r["integration_by_filter"] = json.loads(r["integration_by_filter"] or "{}")
        r["filters"] = json.loads(r["filters"] or "[]")
        r["sky_names"] = json.loads(r.get("sky_names") or "[]")
        r["href"] = target_href(r["name"])
        out.append(r)
    return out


def write_pages(site: Site, targets: list[dict[str, Any]]) -> dict[str, str | None]:
    """Every target's page; returns target -> its preview's href. Skips everything when nothing changed."""
    thumbs: dict[str, str | None] = {}
    states = {t["name"]: digest(site.catalog_key, "target", t, site.notes.get(("target", t["name"])))
              for t in targets}
    pending = []
    for t in targets:
        entry = site.writer.lookup(t["href"], state=states[t["name"]])
        if entry is not None and site.thumbs.reuse(entry.get("meta", {})):
            thumbs[t["name"]] = site.kept(t["href"], entry).get("thumb")
            site.tick(t["name"])
        else:
            pending.append(t)
    if not pending:
        return thumbs
    nights: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    sessions: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    q = f"""SELECT target, night, session_id, COALESCE(filter, '(none)') AS filter, COUNT(*) AS n,
                  SUM(exposure_s) AS secs
           FROM frames WHERE {integrates()} AND target IS NOT NULL
           GROUP BY target, session_id, filter"""
    for r in site.query(q):
        night = r["night"] or "(no date)"
        by_night = nights[r["target"]][night]
        by_night[r["filter"]] = by_night.get(r["filter"], 0.0) + (r["secs"] or 0.0)
        s = sessions[r["target"]].setdefault(r["session_id"] or "", {"id": r["session_id"], "night": night,
                                                                    "frames": 0, "seconds": 0.0, "filters": []})
        s["frames"] += r["n"]
        s["seconds"] += r["secs"] or 0.0
        s["filters"].append(r["filter"])
    # mosaic panels (frames.panel), in panel order
    panels: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in site.query(f"""SELECT target, panel, COUNT(*) AS frames, SUM(exposure_s) AS secs FROM frames
                            WHERE {integrates()} AND target IS NOT NULL AND panel IS NOT NULL
                            GROUP BY target, panel"""):
        panels[r["target"]].append(r)
    for rows_ in panels.values():
        rows_.sort(key=lambda r: (len(r["panel"]), r["panel"]))
    best = _preview_frames(site) if site.thumbs.enabled else {}
    site.thumbs.prefetch(best[t["name"]] for t in pending if t["name"] in best)
    for t in pending:
        name = t["name"]
        failed: list[str] = []
        thumb = site.thumbs.href(best[name], failed) if name in best else None
        thumbs[name] = thumb
        filters = sorted(t["integration_by_filter"], key=lambda f: -t["integration_by_filter"][f])
        per_night = [{"night": n, "by_filter": by, "total": sum(by.values())} for n, by in sorted(nights[name].items())]
        sess = sorted(sessions[name].values(), key=lambda s: (s["night"], s["id"] or ""), reverse=True)
        for s in sess:
            s["href"] = session_href(s["id"]) if s["id"] else None
        key = digest(site.context_key, "target", t, per_night, sess, thumb, site.notes.get(("target", name)),
                     panels.get(name))
        entry = site.writer.lookup(t["href"], key)
        meta = {"state": states[name], "thumb": thumb, "thumbs": [thumb] if thumb else [], "failed": failed}
        if entry is not None:
            site.kept(t["href"], {**entry, "meta": meta})
            site.tick(name)
            continue
        chart = charts.bar_chart(
            [r["night"] for r in per_night], [(f, [r["by_filter"].get(f, 0.0) for r in per_night]) for f in filters],
            title="Integration per night, by filter", y_label="hours", width=1100, height=320,
        )
        site.page(
            t["href"], "target.html", key=key, meta=meta,
            title=name, section=TARGETS, t=t, sky_names=[n for n in t["sky_names"] if n != t.get("common_name")],
            filters=filters, panels=panels.get(name, []), rows=per_night, sessions=sess, chart=Markup(chart),
            thumb=thumb, note=site.note_for("target", name, site.s.notes / "Targets" / note_file_name(name)),
            datasette=site.datasette.frames(target=name, frame_type="light"),
            files_href=explorer_href("target", name),
            commands=actions([
                ("How many hours per filter", command("target_stats", target=name)),
                ("List the light frames", command("target_files", target=name)),
            ]),
        )
        site.tick(name)
    return thumbs


def _preview_frames(site: Site) -> dict[str, dict[str, Any]]:
    """The frame that stands for each target: its latest night's longest light frame."""
    q = f"""SELECT target, sha256, path, bayer_pattern FROM (
               SELECT target, sha256, path, bayer_pattern, ROW_NUMBER() OVER (
                   PARTITION BY target ORDER BY night DESC, exposure_s DESC, date_obs DESC, path) AS rn
               FROM frames WHERE {integrates()} AND target IS NOT NULL)
           WHERE rn = 1"""
    return {r["target"]: r for r in site.query(q)}


def write_index(site: Site, targets: list[dict[str, Any]], thumbs: dict[str, str | None]) -> None:
    listed = [{**t, "thumb": thumbs.get(t["name"])} for t in targets]
    site.page(TARGETS, "targets.html", title="Targets", section=TARGETS, targets=listed)
