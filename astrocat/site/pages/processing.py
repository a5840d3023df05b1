"""The processing feature's pages: processing/index.html, a page per processing session,
and calibration/index.html (which light groups are fully calibrated, which not and why,
what to shoot)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from astrocat.catalog import matching as frames_for_matching
from astrocat.rules.matching import KIND_LABELS, match_all
from astrocat.site.helpers import digest
from astrocat.site.paths import session_href, slug, target_href

if TYPE_CHECKING:
    from astrocat.site.build import Site

PROCESSING = "processing/index.html"
CALIBRATION = "calibration/index.html"


def processing_href(pid: str) -> str:
    return f"processing/{slug(pid)}.html"


def write_pages(site: Site) -> None:
    if site.has_table("processing_sessions"):
        _processing(site)
    _calibration(site)
    site.tick("processing")


def _processing(site: Site) -> None:
    rows = list(site.query("SELECT * FROM processing_sessions ORDER BY created DESC, id"))
    for r in rows:
        r["href"] = processing_href(r["id"])
        r["target_href"] = target_href(r["target"]) if r.get("target") else None
    site.page(PROCESSING, "processing_index.html", title="Processing sessions", section=PROCESSING, sessions=rows)
    for r in rows:
        pid = r["id"]
        roles = Counter()
        by_filter: dict[str, dict[str, Any]] = defaultdict(lambda: {"lights": 0, "integration_s": 0.0})
        for f in site.query(
                "SELECT pf.role, f.filter, f.exposure_s FROM processing_frames pf LEFT JOIN frames f ON f.id = pf.frame_id "
                "WHERE pf.processing_id = ?", [pid]):
            roles[f["role"]] += 1
            if f["role"] == "light":
                b = by_filter[f["filter"] or "(none)"]
                b["lights"] += 1
                b["integration_s"] += f["exposure_s"] or 0.0
        groups = []
        for g in site.query("SELECT * FROM processing_groups WHERE processing_id = ? ORDER BY group_id, kind", [pid]):
            verdicts = json.loads(g["verdicts"] or "[]")
            g["label"] = KIND_LABELS.get(g["kind"], g["kind"])
            g["chosen_n"] = len(json.loads(g["chosen"] or "[]"))
            g["chosen_reasons"] = sorted({"; ".join(v["reasons"]) for v in verdicts if v["chosen"]})
            g["rejected"] = [{"status": v["status"], "n": len(v["frame_ids"]), "reasons": "; ".join(v["reasons"]),
                              "example": v["paths"][0] if v["paths"] else ""}
                             for v in verdicts if v["status"] != "accepted"]
            groups.append(g)
        outputs = list(site.query("SELECT * FROM processing_outputs WHERE processing_id = ? ORDER BY stage, path",
                                  [pid])) if site.has_table("processing_outputs") else []
        for o in outputs:
            o["thumb"] = site.thumbs.href({"sha256": o["sha256"], "path": o["path"]})
            o["name"] = o["path"].rsplit("/", 1)[-1]
        sessions = [{"id": s, "href": session_href(s)} for s in json.loads(r.get("session_ids") or "[]")]
        site.page(processing_href(pid), "processing_session.html", title=r["name"], section=PROCESSING, p=r,
                  roles=dict(roles), filters=dict(sorted(by_filter.items())), groups=groups, outputs=outputs,
                  sessions=sessions, meta={"thumbs": [o["thumb"] for o in outputs if o["thumb"]]})


def _calibration(site: Site) -> None:
    """Coverage of every light group in the library, matched as `calibration gaps` does."""
    key = digest(site.catalog_key, CALIBRATION, site.s.calibration)
    entry = site.writer.lookup(CALIBRATION, key) if site.catalog_key else None
    if entry is not None:
        site.kept(CALIBRATION, entry)
        return
    lights = frames_for_matching.lights(site.db)
    cal = frames_for_matching.calibration(site.db, {f.camera for f in lights})
    rows = []
    for gm in match_all(lights, cal, site.s.calibration):
        g = gm.group
        sessions = sorted({f.session_id for f in g.frames if f.session_id})
        rows.append({
            "group": g.id, "night": g.night, "target": g.target, "filter": g.filter, "exposure_s": g.exposure_s,
            "camera": g.camera, "lights": len(g.frames), "calibrated": gm.calibrated,
            "sessions": [{"id": s, "href": session_href(s)} for s in sessions],
            "kinds": [{"label": KIND_LABELS[k], "status": m.status, "gap": m.gap, "note": m.note, "shoot": m.shoot,
                       "n": len(m.chosen)} for k, m in gm.kinds.items()],
        })
    rows.sort(key=lambda r: (r["calibrated"], r["night"] or "", r["target"] or "", r["filter"] or ""))
    site.page(CALIBRATION, "calibration.html", key=key, title="Calibration coverage", section=CALIBRATION,
              groups=rows, calibrated=sum(1 for r in rows if r["calibrated"]))
