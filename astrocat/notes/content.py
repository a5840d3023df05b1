"""What astrocat says in each note: the frontmatter values it owns and the generated
block between the markers, from catalog rows. Pure: plain values in, NoteContent out.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Mapping, Sequence

from astrocat.notes.yaml import Link, make_tag
from astrocat.rules.sessions import targets_label
from astrocat.units import dec_dms, hours, ra_hms

# The Obsidian property type of every frontmatter key astrocat writes: one type per
# name across the whole vault (Obsidian keeps one type per property name).
PROPERTY_TYPES: dict[str, str] = {
    "kind": "text",
    "session_id": "text",
    "processing_id": "text",
    "target": "text",
    "common_name": "text",
    "object_type": "text",
    "constellation": "text",
    "camera": "text",
    "telescope": "text",
    "status": "text",
    "night": "date",
    "first_night": "date",
    "last_night": "date",
    "created": "date",
    "integration_h": "number",
    "lights": "number",
    "darks": "number",
    "flats": "number",
    "biases": "number",
    "darkflats": "number",
    "nights": "number",
    "ccd_temp_c": "number",
    "pixel_scale": "number",
    "site_lat": "number",
    "site_lon": "number",
    "ra_deg": "number",
    "dec_deg": "number",
    "targets": "list",
    "filters": "list",
    "sessions": "list",
    "processing": "list",
    "tags": "list",
}

SESSION_KEYS = [
    "kind", "session_id", "night", "targets", "filters", "camera", "telescope", "pixel_scale", "integration_h",
    "lights", "darks", "flats", "biases", "darkflats", "ccd_temp_c", "site_lat", "site_lon",
    "processing", "tags",
]
TARGET_KEYS = [
    "kind", "target", "common_name", "object_type", "constellation", "integration_h", "lights", "nights",
    "first_night", "last_night", "filters", "ra_deg", "dec_deg", "sessions", "processing", "tags",
]
PROCESSING_KEYS = [
    "kind", "processing_id", "created", "status", "targets", "sessions", "filters", "integration_h",
    "tags",
]


_MD_SPECIAL = re.compile(r"([\\|\[\]*_<>#%`$=~])")
_MD_ANY = re.compile(r"[\\|\[\]*_<>#%`$=~\r\n\t]")


def md_text(value: Any) -> str:
    """Header values as inert Markdown text (table-safe, no links, tags or comments)."""
    text = "" if value is None else str(value)
    if not _MD_ANY.search(text):
        return text
    text = re.sub(r"[\r\n\t]+", " ", text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _link(stems: Mapping[str, str], kind: str, key: str | None, in_table: bool = True) -> str:
    """[[stem]] when the note `kind:key` exists, else the name as plain text."""
    if not key:
        return ""
    stem = stems.get(f"{kind}:{key}")
    if stem is None:
        return md_text(key)
    if stem == key:
        return f"[[{stem}]]"
    sep = "\\|" if in_table else "|"
    label = re.sub(r"[\[\]|\r\n]", " ", key)
    return f"[[{stem}{sep}{label}]]"


def _prop_link(stems: Mapping[str, str], kind: str, key: str) -> str:
    stem = stems.get(f"{kind}:{key}")
    return Link(stem) if stem is not None else key


def _secs(exposure: float | None) -> str:
    if exposure is None:
        return ""
    return f"{exposure:g} s"


def _integration_h(seconds: float | None) -> float | int | None:
    """The `integration_h` property: a number of hours (the tables show units.hours)."""
    return _num((seconds or 0.0) / 3600.0)


def _num(x: Any, digits: int = 3) -> float | int | None:
    if x is None:
        return None
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return round(f, digits) if math.isfinite(f) else None


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def json_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value) if isinstance(value, (list, tuple)) else []


def _json_dict(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def _table(header: Sequence[str], align: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


_TYPE_LABEL = {"light": "Light", "dark": "Dark", "flat": "Flat", "bias": "Bias", "darkflat": "Dark-flat", "unknown": "Unknown"}


@dataclass
class NoteContent:
    """What astrocat owns in one note: frontmatter values and the generated block."""

    frontmatter: dict[str, Any]
    owned_keys: frozenset[str]
    block: str


def optics_text(optics: Mapping[str, Any]) -> str:
    """'1.94″/px · field 3.36° × 2.25° · f/5.5' from astrocat.rules.equipment.optics."""
    parts = [f"{optics['pixel_scale_arcsec']:.2f}″/px"]
    if optics.get("fov_deg"):
        parts.append(f"field {optics['fov_deg'][0]:.2f}° × {optics['fov_deg'][1]:.2f}°")
    if optics.get("f_ratio"):
        parts.append(f"f/{optics['f_ratio']:g}")
    return " · ".join(parts)


def session_note(
    session: Mapping[str, Any],
    detail: Sequence[Mapping[str, Any]],
    stems: Mapping[str, str],
    processing: Sequence[Mapping[str, Any]] = (),
) -> NoteContent:
    """An imaging session note.

    session: a `sessions` row (JSON columns as text or decoded; `optics` from
    astrocat.rules.equipment.optics when the equipment is known); detail: rows of
    frame_type, is_master, target, filter, exposure_s, frames, seconds for this
    session; stems: note id (`target:M31`, `session:<id>`, `processing:<id>`) -> file
    stem, for every note that exists (others are named without a link); processing: processing sessions
    that use this session.
    """
    sid = session["id"]
    bad = [d for d in detail if d.get("bad")]
    detail = [d for d in detail if not d.get("bad")]
    optics = session.get("optics") or {}
    targets = sorted(json_list(session.get("targets")))
    filters = sorted(json_list(session.get("filters")))
    by_type = _json_dict(session.get("frames_by_type"))
    proc_ids = sorted(p["id"] for p in processing)
    tags = ["astrocat/session"]
    tags += [make_tag("target", t) for t in targets]
    tags += [make_tag("filter", f) for f in filters]
    if session.get("camera"):
        tags.append(make_tag("camera", session["camera"]))
    if session.get("telescope"):
        tags.append(make_tag("telescope", session["telescope"]))
    fm: dict[str, Any] = {
        "kind": "imaging-session",
        "session_id": sid,
        "night": _date(session.get("night")),
        "targets": [_prop_link(stems, "target", t) for t in targets],
        "filters": filters,
        "camera": session.get("camera"),
        "telescope": session.get("telescope"),
        "pixel_scale": _num(optics.get("pixel_scale_arcsec"), 3),
        "integration_h": _integration_h(session.get("integration_s")),
        "lights": int(session.get("lights") or 0),
        "darks": int(session.get("darks") or 0),
        "flats": int(session.get("flats") or 0),
        "biases": int(session.get("biases") or 0),
        "darkflats": int(session.get("darkflats") or 0),
        "ccd_temp_c": _num(session.get("ccd_temp_mean"), 2),
        "site_lat": _num(session.get("site_lat"), 4),
        "site_lon": _num(session.get("site_lon"), 4),
        "processing": [_prop_link(stems, "processing", p) for p in proc_ids] or None,
        "tags": _unique([t for t in tags if t]),
    }

    out = [f"# Imaging session {md_text(session.get('night') or sid)}\n\n"]
    facts: list[tuple[str, str]] = [
        ("Night", md_text(session.get("night"))),
        ("Targets", ", ".join(_link(stems, "target", t) for t in targets)
         or f"none ({targets_label((), session.get('lights'))})"),
        ("Camera", md_text(session.get("camera") or "unknown")),
        ("Telescope", md_text(session.get("telescope") or "unknown")),
        *([("Optics", optics_text(optics))] if optics.get("pixel_scale_arcsec") else []),
        ("Light frames", f"{int(session.get('lights') or 0)} · {hours(session.get('integration_s'))}"),
    ]
    cal = [
        f"{by_type[k]} {label}" for k, label in
        (("dark", "darks"), ("flat", "flats"), ("bias", "bias"), ("darkflat", "dark-flats"), ("unknown", "unknown"))
        if by_type.get(k)
    ]
    facts.append(("Calibration", " · ".join(cal) or "none"))
    if session.get("ccd_temp_mean") is not None:
        facts.append((
            "Sensor",
            f"{session['ccd_temp_mean']:.1f} °C (from {session.get('ccd_temp_min'):.1f} to {session.get('ccd_temp_max'):.1f})",
        ))
    if session.get("first_utc"):
        facts.append(("Frames (UTC)", f"{md_text(_utc(session['first_utc']))} to {md_text(_utc(session.get('last_utc')))}"))
    if session.get("site_lat") is not None and session.get("site_lon") is not None:
        facts.append(("Site", f"{session['site_lat']:.4f}, {session['site_lon']:.4f}"))
    if proc_ids:
        facts.append(("Processing", ", ".join(_link(stems, "processing", p) for p in proc_ids)))
    out.append(_table(["Session", md_text(sid)], ["---", "---"], facts))

    lights = [d for d in detail if d.get("frame_type") == "light" and not d.get("is_master")]
    if lights:
        rows = [
            [_link(stems, "target", d.get("target")) or "(no target)", md_text(d.get("filter") or "(none)"),
             str(d["frames"]), _secs(d.get("exposure_s")), hours(d.get("seconds"))]
            for d in sorted(lights, key=lambda d: (d.get("target") or "", d.get("filter") or "", d.get("exposure_s") or 0))
        ]
        total_frames = sum(d["frames"] for d in lights)
        total_s = sum(d.get("seconds") or 0.0 for d in lights)
        rows.append(["**Total**", "", f"**{total_frames}**", "", f"**{hours(total_s)}**"])
        out.append("\n## Integration per filter\n\n")
        out.append(_table(["Target", "Filter", "Frames", "Exposure", "Integration"],
                          ["---", "---", "--:", "--:", "--:"], rows))
    cals = [d for d in detail if d.get("frame_type") != "light" or d.get("is_master")]
    if cals:
        rows = [
            [("Master " if d.get("is_master") else "") + _TYPE_LABEL.get(d.get("frame_type"), md_text(d.get("frame_type"))),
             md_text(d.get("filter") or ""), str(d["frames"]), _secs(d.get("exposure_s"))]
            for d in sorted(cals, key=lambda d: (d.get("frame_type") or "", bool(d.get("is_master")), d.get("filter") or "", d.get("exposure_s") or 0))
        ]
        out.append("\n## Calibration frames\n\n")
        out.append(_table(["Type", "Filter", "Frames", "Exposure"], ["---", "---", "--:", "--:"], rows))
    if bad:
        # struck through, with the reason: they stay in the library but add no integration
        out.append("\n## Frames marked bad\n\n")
        out.append("".join(
            f"- ~~{md_text(str(d.get('path') or '').rsplit('/', 1)[-1])}~~ "
            f"({md_text(d.get('frame_type'))}, {_secs(d.get('exposure_s'))}): {md_text(d.get('bad_reason') or 'bad')}\n"
            for d in bad))
    return NoteContent(fm, frozenset(SESSION_KEYS), "".join(out))


def target_note(
    target: Mapping[str, Any],
    detail: Sequence[Mapping[str, Any]],
    sessions: Sequence[Mapping[str, Any]],
    stems: Mapping[str, str],
    processing: Sequence[Mapping[str, Any]] = (),
) -> NoteContent:
    """A target note: total and per-filter integration, its sessions, its processing sessions.

    target: a `targets` row; detail: light-frame rows of session_id, filter,
    exposure_s, frames, seconds for this target; sessions: the `sessions` rows of
    those session ids.
    """
    name = target["name"]
    by_filter: dict[str, list[float]] = {}
    by_session: dict[str, dict[str, Any]] = {}
    for d in detail:
        flt = d.get("filter") or "(none)"
        acc = by_filter.setdefault(flt, [0, 0.0])
        acc[0] += d["frames"]
        acc[1] += d.get("seconds") or 0.0
        s = by_session.setdefault(d["session_id"], {"frames": 0, "seconds": 0.0, "filters": set()})
        s["frames"] += d["frames"]
        s["seconds"] += d.get("seconds") or 0.0
        if d.get("filter"):
            s["filters"].add(d["filter"])
    nights = {s["id"]: s.get("night") for s in sessions}
    session_ids = sorted(by_session, key=lambda i: (nights.get(i) or "", i))
    filters = sorted(f for f in json_list(target.get("filters")) if f and f != "(none)")
    proc_ids = sorted(p["id"] for p in processing)
    fm: dict[str, Any] = {
        "kind": "target",
        "target": name,
        "common_name": target.get("common_name") or None,
        "object_type": target.get("object_type") or None,
        "constellation": target.get("constellation") or None,
        "integration_h": _integration_h(target.get("integration_s")),
        "lights": int(target.get("frames") or 0),
        "nights": int(target.get("nights") or 0),
        "first_night": _date(target.get("first_night")),
        "last_night": _date(target.get("last_night")),
        "filters": filters,
        "ra_deg": _num(target.get("ra_deg"), 5),
        "dec_deg": _num(target.get("dec_deg"), 5),
        "sessions": [_prop_link(stems, "session", s) for s in session_ids],
        "processing": [_prop_link(stems, "processing", p) for p in proc_ids] or None,
        "tags": _unique([t for t in ["astrocat/target", make_tag("target", name),
                                     *(make_tag("filter", f) for f in filters)] if t]),
    }
    out = [f"# {md_text(name)}\n\n"]
    facts = [
        ("Integration", f"{hours(target.get('integration_s'))} in {int(target.get('frames') or 0)} light frames"),
        ("Nights", f"{int(target.get('nights') or 0)}: {md_text(target.get('first_night'))} to {md_text(target.get('last_night'))}"),
    ]
    sky = [v for v in (target.get("common_name"), target.get("object_type")) if v]
    if target.get("constellation"):
        sky.append(f"in {target['constellation']}")
    if sky:
        facts.insert(0, ("Object", md_text(" · ".join(sky))))
    also = [n for n in json_list(target.get("sky_names")) if n != target.get("common_name")]
    if also:
        facts.insert(1, ("Also known as", md_text(", ".join(also))))
    if target.get("ra_deg") is not None and target.get("dec_deg") is not None:
        where = " (from the sky catalog)" if target.get("coords_from") == "catalog" else ""
        facts.append(("Coordinates", f"RA {ra_hms(target['ra_deg'])} · Dec {dec_dms(target['dec_deg'])}{where}"))
    if proc_ids:
        facts.append(("Processing", ", ".join(_link(stems, "processing", p) for p in proc_ids)))
    out.append(_table(["Target", md_text(name)], ["---", "---"], facts))
    if by_filter:
        rows = [[md_text(f), str(int(v[0])), hours(v[1])] for f, v in sorted(by_filter.items())]
        rows.append(["**Total**", f"**{int(sum(v[0] for v in by_filter.values()))}**",
                     f"**{hours(sum(v[1] for v in by_filter.values()))}**"])
        out.append("\n## Integration per filter\n\n")
        out.append(_table(["Filter", "Frames", "Integration"], ["---", "--:", "--:"], rows))
    if session_ids:
        rows = [
            [_link(stems, "session", sid), md_text(nights.get(sid) or ""), md_text(", ".join(sorted(by_session[sid]["filters"])) or "(none)"),
             str(by_session[sid]["frames"]), hours(by_session[sid]["seconds"])]
            for sid in session_ids
        ]
        out.append("\n## Imaging sessions\n\n")
        out.append(_table(["Session", "Night", "Filters", "Frames", "Integration"],
                          ["---", "---", "---", "--:", "--:"], rows))
    if proc_ids:
        out.append("\n## Processing sessions\n\n")
        out.append("".join(f"- {_link(stems, 'processing', p, in_table=False)}\n" for p in proc_ids))
    return NoteContent(fm, frozenset(TARGET_KEYS), "".join(out))


def processing_note(proc: Mapping[str, Any], stems: Mapping[str, str]) -> NoteContent:
    """A processing session note (the extension point for the processing feature).

    proc: id, and optionally name, created (date), status, targets (names),
    session_ids, filters, integration_s, path.
    """
    pid = proc["id"]
    targets = sorted(json_list(proc.get("targets")))
    sessions = sorted(json_list(proc.get("session_ids")))
    filters = sorted(json_list(proc.get("filters")))
    fm: dict[str, Any] = {
        "kind": "processing-session",
        "processing_id": pid,
        "created": _date(proc.get("created")),
        "status": proc.get("status"),
        "targets": [_prop_link(stems, "target", t) for t in targets],
        "sessions": [_prop_link(stems, "session", s) for s in sessions],
        "filters": filters,
        "integration_h": _integration_h(proc["integration_s"]) if proc.get("integration_s") is not None else None,
        "tags": _unique([t for t in ["astrocat/processing", *(make_tag("target", t) for t in targets),
                                     *(make_tag("filter", f) for f in filters)] if t]),
    }
    out = [f"# Processing session {md_text(proc.get('name') or pid)}\n\n"]
    facts = [
        ("Targets", ", ".join(_link(stems, "target", t) for t in targets) or "none"),
        ("Created", md_text(proc.get("created") or "")),
        ("Status", md_text(proc.get("status") or "")),
    ]
    if proc.get("path"):
        facts.append(("Folder", f"`{str(proc['path']).replace('`', '')}`"))
    out.append(_table(["Processing session", md_text(pid)], ["---", "---"], facts))
    if sessions:
        out.append("\n## Imaging sessions\n\n")
        out.append("".join(f"- {_link(stems, 'session', s, in_table=False)}\n" for s in sessions))
    return NoteContent(fm, frozenset(PROCESSING_KEYS), "".join(out))


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


def _utc(text: str | None) -> str:
    if not text:
        return ""
    return str(text).replace("T", " ")[:16]
