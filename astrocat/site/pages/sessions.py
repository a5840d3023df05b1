"""Session pages (`sessions/<id>.html`) and the sessions index (`sessions/index.html`)."""

from __future__ import annotations

import json
import os
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from astrocat.rules import charts
from astrocat.rules.calibration import calibration_gaps, night_calibration
from astrocat.rules.equipment import binning_factor
from astrocat.site.build import THUMBS_PER_SESSION
from astrocat.site.commands import actions, command
from astrocat.site.helpers import corrected, digest, evenly, session_span
from astrocat.site.paths import SESSIONS, explorer_href, note_file_name, session_href, target_href

if TYPE_CHECKING:
    from astrocat.site.build import Site

_TYPE_ORDER = {"light": 0, "flat": 1, "darkflat": 2, "dark": 3, "bias": 4, "unknown": 5}
_BATCH = 500  # sessions per query when only some changed
LOOKAHEAD = 16  # sessions read ahead of the page being written (their previews render meanwhile)


def rows(site: Site) -> list[dict[str, Any]]:
    """Every session row, newest night first, with its JSON columns read and its href."""
    out = []
    for r in site.query("SELECT * FROM sessions ORDER BY night DESC, id"):
        for key, empty in (("targets", []), ("filters", []), ("integration_by_filter", {}), ("frames_by_type", {})):
            r[key] = json.loads(r[key]) if r.get(key) else empty
        r["href"] = session_href(r["id"])
        # from the [equipment] profiles: a page changes when they do
        r["optics"] = site.s.equipment.optics(r.get("camera"), r.get("telescope"))
        out.append(r)
    return out


def write_pages(site: Site, sessions: list[dict[str, Any]], keys: dict[str | None, str]) -> dict[str, str | None]:
    """Every session's page; returns session id -> its first preview's href.

    A session whose key, row and note are unchanged keeps its page without reading its
    frames; the others' frames are streamed in session order, one session at a time."""
    thumbs: dict[str, str | None] = {}
    pending: dict[str, tuple[dict[str, Any], str]] = {}
    for s in sessions:
        sid = s["id"]
        key = digest(site.context_key, "session", s, keys.get(sid), site.notes.get(("session", sid)))
        entry = site.writer.lookup(s["href"], key)
        if entry is not None and site.thumbs.reuse(entry.get("meta", {})):
            thumbs[sid] = site.kept(s["href"], entry).get("thumb")
            site.tick(sid)
        else:
            pending[sid] = (s, key)
    if not pending:
        return thumbs
    if len(pending) == len(sessions):
        batches: list[list[str] | None] = [None]
    else:
        ids = sorted(pending)
        batches = [ids[i : i + _BATCH] for i in range(0, len(ids), _BATCH)]
    # a page is written LOOKAHEAD sessions after its frames were read, so that the previews
    # of the sessions in between render in worker processes meanwhile
    ready: deque[tuple[dict[str, Any], str, list[dict[str, Any]]]] = deque()

    def read(sid: str, group: list[dict[str, Any]]) -> None:
        s, key = pending.pop(sid)
        site.thumbs.prefetch(_chosen(group))
        ready.append((s, key, group))
        if len(ready) > LOOKAHEAD:
            write_one()

    def write_one() -> None:
        s, key, group = ready.popleft()
        thumbs[s["id"]] = _page(site, s, key, group)

    for batch in batches:
        if batch is None:
            frames = site.frames("session_id IS NOT NULL", [])
        else:
            frames = site.frames(f"session_id IN ({','.join('?' * len(batch))})", batch)
        current: str | None = None
        group: list[dict[str, Any]] = []
        for f in frames:
            if f["session_id"] != current:
                if current in pending:
                    read(current, group)
                current, group = f["session_id"], []
            group.append(f)
        if current in pending:
            read(current, group)
    while ready:
        write_one()
    # a session row whose frames are all gone still gets its page: links to it never break
    for s, key in list(pending.values()):
        thumbs[s["id"]] = _page(site, s, key, [])
    return thumbs


def write_renamed(site: Site, sessions: list[dict[str, Any]]) -> int:
    """A page at each renamed session's old address that leads to its current page, so
    links and bookmarks to the old id keep working (catalog `session_aliases`)."""
    if not site.has_table("session_aliases"):
        return 0
    current = {s["id"] for s in sessions}
    written = 0
    for old, new in site.db.execute("SELECT old_id, new_id FROM session_aliases ORDER BY old_id").fetchall():
        rel, to = session_href(old), session_href(new)
        if old in current or new not in current or rel == to:
            continue
        name = escape(to.rsplit("/", 1)[-1])  # both pages live in sessions/
        site.data_file(rel, (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Session {escape(new)}</title>'
            f'<meta http-equiv="refresh" content="0; url={name}"><link rel="canonical" href="{name}"></head>\n'
            f'<body><p>Session {escape(old)} is now <a href="{name}">{escape(new)}</a>.</p></body></html>\n'
        ))
        written += 1
    return written


def _lights(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # the frames here all count: of them, light subs are what catalog.counts.integrates() selects
    return [f for f in frames if f["frame_type"] == "light" and not f["is_master"]]


def _chosen(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The light frames a session's page previews: spread over the night, every filter shown."""
    by_filter = defaultdict(list)
    for f in _lights(frames):
        by_filter[f["filter"] or "(none)"].append(f)
    per = max(1, THUMBS_PER_SESSION // max(1, len(by_filter)))
    return [f for fl in sorted(by_filter) for f in evenly(by_filter[fl], per)][:THUMBS_PER_SESSION]


def _page(site: Site, s: dict[str, Any], key: str, frames: list[dict[str, Any]]) -> str | None:
    """One session's page; returns its first preview's href."""
    lights = _lights(frames)
    chosen = _chosen(frames)
    thumbs = []
    failed: list[str] = []
    for f in chosen:
        href = site.thumbs.href(f, failed)
        if href:
            thumbs.append({"href": href, "filter": f["filter"] or "", "target": f["target"] or "",
                           "time": (f["date_obs"] or "")[11:19], "exposure_s": f["exposure_s"],
                           "name": os.path.basename(f["path"])})
    groups: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for f in frames:
        if f.get("bad"):
            continue  # listed struck through below, outside the totals (catalog.counts.integrates)
        gkey = (f["frame_type"], f["filter"] or "", f["exposure_s"])
        g = groups.setdefault(gkey, {"frame_type": f["frame_type"], "filter": f["filter"] or "",
                                     "exposure_s": f["exposure_s"], "frames": 0, "seconds": 0.0, "masters": 0})
        g["frames"] += 1
        g["seconds"] += float(f["exposure_s"] or 0)
        g["masters"] += 1 if f["is_master"] else 0
    breakdown = sorted(groups.values(),
                       key=lambda g: (_TYPE_ORDER.get(g["frame_type"], 9), g["filter"], g["exposure_s"] or 0))
    calibration = night_calibration(frames)
    files = [{
        "name": os.path.basename(f["path"]), "path": f["path"], "frame_type": f["frame_type"],
        "is_master": bool(f["is_master"]), "object": f["object"], "target": f["target"], "filter": f["filter"],
        "exposure_s": f["exposure_s"], "time": (f["date_obs"] or "")[11:19], "ccd_temp_c": f["ccd_temp_c"],
        "gain": f["gain"], "offset": f["offset"], "binning": f["binning"], "size": f["size"],
        "bad": bool(f.get("bad")), "bad_reason": f.get("bad_reason"), "corrected": corrected(f.get("raw")),
    } for f in frames]

    def distinct(col: str) -> list[Any]:
        return sorted({f[col] for f in frames if f[col] is not None}, key=str)

    sid = s["id"]
    year = (s["night"] or "0000")[:4]
    # the frames' FOCALLEN stands in when no telescope profile gives a focal length
    focals = distinct("focal_length_mm")
    light_binning = binning_factor([f["binning"] for f in lights])
    optics = site.s.equipment.optics(s.get("camera"), s.get("telescope"),
                                     None if s["optics"]["focal_length_mm"] or len(focals) != 1 else focals[0],
                                     light_binning)
    note = site.note_for("session", sid, site.s.notes / "Imaging_Sessions" / year / note_file_name(sid))
    filter_chart = charts.hbar_chart(
        sorted(s["integration_by_filter"].items(), key=lambda kv: -kv[1]),
        title="Integration per filter", x_label="hours of light frames", color_by_name=True, width=1100,
    ) if s["integration_by_filter"] else None
    first = thumbs[0]["href"] if thumbs else None
    site.page(
        s["href"], "session.html", key=key,
        meta={"thumb": first, "thumbs": [t["href"] for t in thumbs], "failed": failed},
        title=f"Session {sid}", section=SESSIONS, s=s, year=year, optics=optics, binning=light_binning,
        span=session_span(s.get("first_utc"), s.get("last_utc")), files=files, thumbs=thumbs,
        breakdown=breakdown, calibration=calibration, missing=calibration_gaps([f for f in lights if not f.get("bad")], calibration),
        rig={"focal_length_mm": distinct("focal_length_mm"), "gain": distinct("gain"), "offset": distinct("offset"),
             "binning": distinct("binning"), "software": distinct("software"), "set_temp_c": distinct("set_temp_c"),
             "bayer_pattern": distinct("bayer_pattern")},
        targets=[{"name": t, "href": target_href(t)} for t in s["targets"]],
        note=note, filter_chart=Markup(filter_chart) if filter_chart else None,
        datasette=site.datasette.session(sid),
        files_href=explorer_href("session", sid),
        # processing sessions that use these frames, once that feature is built
        processing=[] if "processing" in site.built else None,
        commands=actions([
            ("List this session's files", command("session_files", session=sid)),
            ("Regenerate this session's note", command("session_note", session=sid)),
        ]),
    )
    site.tick(sid)
    return first


def write_index(site: Site, sessions: list[dict[str, Any]]) -> None:
    years: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        years[(s["night"] or "unknown")[:4]].append(s)
    summary = [{"year": y, "sessions": ss, "integration_s": sum(s["integration_s"] or 0 for s in ss),
                "lights": sum(s["lights"] or 0 for s in ss)} for y, ss in sorted(years.items(), reverse=True)]
    site.page(SESSIONS, "sessions.html", title="Imaging sessions", section=SESSIONS, years=summary)
