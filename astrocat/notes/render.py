"""Obsidian notes, pure: typed frontmatter, the generated block, and the merge that
keeps every word the user wrote. No I/O.

A note looks like this::

    ---
    kind: imaging-session          <- keys astrocat owns are rewritten,
    night: 2024-10-03                 keys the user added are kept as they are
    ...
    ---
    %% astrocat:begin %%
    (generated: tables, integration per filter, links)
    %% astrocat:end %%

    ## Notes                        <- the user's; never touched

Everything outside the two marker lines and outside astrocat's own frontmatter
keys is preserved byte for byte. A note whose marker lines are missing, repeated
or out of order is not touched at all (the caller reports a warning).
"""

from __future__ import annotations

from astrocat.rules.naming import note_stem

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date
from typing import Any, Iterable, Mapping, Sequence

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster

BEGIN = "%% astrocat:begin %%"
END = "%% astrocat:end %%"
NOTES_HEADING = "## Notes"
PLACEHOLDER = "%% Your notes go here. astrocat never changes anything outside its markers. %%"
DEFAULT_TAIL = f"\n{NOTES_HEADING}\n\n{PLACEHOLDER}\n"

# The Obsidian property type of every frontmatter key astrocat writes: one type per
# name across the whole vault (Obsidian keeps one type per property name).
PROPERTY_TYPES: dict[str, str] = {
    "kind": "text",
    "session_id": "text",
    "processing_id": "text",
    "target": "text",
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
    "kind", "session_id", "night", "targets", "filters", "camera", "telescope", "integration_h",
    "lights", "darks", "flats", "biases", "darkflats", "ccd_temp_c", "site_lat", "site_lon",
    "processing", "tags",
]
TARGET_KEYS = [
    "kind", "target", "integration_h", "lights", "nights", "first_night", "last_night", "filters",
    "ra_deg", "dec_deg", "sessions", "processing", "tags",
]
PROCESSING_KEYS = [
    "kind", "processing_id", "created", "status", "targets", "sessions", "filters", "integration_h",
    "tags",
]

# Tags in these namespaces are astrocat's in its own notes; any other tag the user
# adds to `tags` is kept.
OWNED_TAG_PREFIXES = ("astrocat/", "target/", "filter/", "camera/", "telescope/")


class Link(str):
    """A wikilink to the note with this name: written as "[[name]]" (quoted)."""


# --- YAML, written by hand: deterministic, typed, readable ----------------------------

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9 _.+\-()/]*")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _yaml_safe_char(cp: int) -> bool:
    # YAML's printable set minus the characters YAML 1.1 treats as line breaks
    # (U+0085, U+2028, U+2029) and the BOM: those are written as escapes.
    return (
        0x20 <= cp <= 0x7E
        or (0xA0 <= cp <= 0xD7FF and cp not in (0x2028, 0x2029))
        or (0xE000 <= cp <= 0xFFFD and cp != 0xFEFF)
        or 0x10000 <= cp <= 0x10FFFF
    )


_DQ_PLAIN = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")  # printable ASCII except " and \\


def _double_quoted(text: str) -> str:
    if _DQ_PLAIN.fullmatch(text):
        return f'"{text}"'
    out = ['"']
    for ch in text:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif _yaml_safe_char(cp):
            out.append(ch)
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif cp <= 0xFF:
            out.append(f"\\x{cp:02x}")
        elif cp <= 0xFFFF:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def _format_float(x: float) -> str:
    # fixed notation: PyYAML (YAML 1.1) reads '1e-05' as a string, not a number
    text = f"{x:.6f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return "0.0" if text == "-0.0" else text


def yaml_scalar(value: Any) -> str:
    """One YAML scalar: links quoted, dates bare, numbers bare, text plain when safe."""
    if isinstance(value, Link):
        return _double_quoted(f"[[{value}]]")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return _format_float(value)
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and not value.endswith(" ") and value.lower() not in _RESERVED:
            return value
        return _double_quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as a property: {value!r}")


def render_entry(key: str, value: Any) -> str:
    """The frontmatter lines of one key (block-style lists, as Obsidian writes them)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a plain property name: {key!r}")
    if isinstance(value, (list, tuple)):
        if not value:
            return f"{key}: []\n"
        return f"{key}:\n" + "".join(f"  - {yaml_scalar(v)}\n" for v in value)
    return f"{key}: {yaml_scalar(value)}\n"


def render_frontmatter(fm: Mapping[str, Any]) -> str:
    """The inside of a frontmatter block (without the --- lines); None values are left out."""
    return "".join(render_entry(k, v) for k, v in fm.items() if v is not None)


def new_note(frontmatter: Mapping[str, Any], block: str) -> str:
    """A fresh note: frontmatter, the generated block between markers, an empty Notes section."""
    block = block if block.endswith("\n") else block + "\n"
    return f"---\n{render_frontmatter(frontmatter)}---\n{BEGIN}\n{block}{END}\n{DEFAULT_TAIL}"


# --- tags and names ------------------------------------------------------------------

_TAG_BAD = re.compile(r"[^\w\-]+")


@lru_cache(maxsize=4096)
def tag_segment(text: str) -> str:
    """One level of a tag: letters, digits, '_' and '-' only ('NGC 7000' -> 'NGC_7000')."""
    text = unicodedata.normalize("NFC", str(text))
    return _TAG_BAD.sub("_", text).strip("_")


@lru_cache(maxsize=4096)
def make_tag(*parts: str) -> str | None:
    """A tag valid in Obsidian ('target', 'NGC 7000' -> 'target/NGC_7000'), or None.

    Obsidian tags hold letters, digits, '_', '-' and '/' (nesting), no spaces, and
    are never all digits.
    """
    segments = [tag_segment(p) for p in parts]
    if not segments or any(not s for s in segments):
        return None
    tag = "/".join(segments)
    if not re.search(r"[^\d/]", tag):
        tag = "_" + tag
    return tag


def assign_paths(
    wanted: Sequence[tuple[str, str, str]], recorded: Mapping[str, str]
) -> dict[str, str]:
    """Relative note paths for (note id, folder, name) items, unique by stem.

    A path recorded in an earlier run is kept (names never move under the user's
    feet); new notes get `folder/<note_stem(name)>.md`, with `_2`, `_3`... when the
    stem is already taken (compared without case: macOS and Windows ignore it).
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for note_id, _folder, _name in wanted:
        path = recorded.get(note_id)
        if path and stem_of(path).casefold() not in taken:
            out[note_id] = path
            taken.add(stem_of(path).casefold())
    for note_id, folder, name in wanted:
        if note_id in out:
            continue
        base = note_stem(name)
        stem, n = base, 1
        while stem.casefold() in taken:
            n += 1
            stem = f"{base}_{n}"
        taken.add(stem.casefold())
        out[note_id] = f"{folder}/{stem}.md"
    return out


def stem_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".md") else name


# --- generated content ----------------------------------------------------------------

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


def hours(seconds: float | None) -> str:
    return f"{(seconds or 0.0) / 3600.0:.2f} h"


def _secs(exposure: float | None) -> str:
    if exposure is None:
        return ""
    return f"{exposure:g} s"


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


def session_note(
    session: Mapping[str, Any],
    detail: Sequence[Mapping[str, Any]],
    stems: Mapping[str, str],
    processing: Sequence[Mapping[str, Any]] = (),
) -> NoteContent:
    """An imaging session note.

    session: a `sessions` row (JSON columns as text or decoded); detail: rows of
    frame_type, is_master, target, filter, exposure_s, frames, seconds for this
    session; stems: note id (`target:M31`, `session:<id>`, `processing:<id>`) -> file
    stem, for every note that exists (others are named without a link); processing: processing sessions
    that use this session.
    """
    sid = session["id"]
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
        "integration_h": _num((session.get("integration_s") or 0.0) / 3600.0),
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
        ("Targets", ", ".join(_link(stems, "target", t) for t in targets) or "none (calibration only)"),
        ("Camera", md_text(session.get("camera") or "unknown")),
        ("Telescope", md_text(session.get("telescope") or "unknown")),
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
        "integration_h": _num((target.get("integration_s") or 0.0) / 3600.0),
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
    if target.get("ra_deg") is not None and target.get("dec_deg") is not None:
        facts.append(("Coordinates", f"RA {_ra_hms(target['ra_deg'])} · Dec {_dec_dms(target['dec_deg'])}"))
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
        "integration_h": _num((proc.get("integration_s") or 0.0) / 3600.0) if proc.get("integration_s") is not None else None,
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


def _ra_hms(deg: float) -> str:
    total = round((deg % 360.0) / 15.0 * 3600.0)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h % 24:02d}h {m:02d}m {s:02d}s"


def _dec_dms(deg: float) -> str:
    sign = "-" if deg < 0 else "+"
    total = round(abs(deg) * 3600.0)
    d, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{d:02d}° {m:02d}′ {s:02d}″"


# --- reading and merging existing notes ---------------------------------------------


@dataclass
class Parts:
    """Offsets into a note's text (after an optional BOM)."""

    bom: str
    text: str
    fm_inner: tuple[int, int] | None  # frontmatter lines between the --- lines
    body_start: int  # where the text after the frontmatter begins
    begin: tuple[int, int] | None  # begin marker line (start, end incl. newline)
    end: tuple[int, int] | None
    problem: str | None = None


_FM_OPEN = re.compile(r"---[ \t]*\r?\n")
_FM_CLOSE = re.compile(r"^---[ \t]*\r?$", re.M)
_MARKER = re.compile(r"^%% astrocat:(begin|end) %%[ \t]*\r?$", re.M)


def split_note(text: str) -> Parts:
    """Find the frontmatter and the marker lines. Only '\\n' separates lines here."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text[len(bom):]
    fm_inner = None
    body_start = 0
    m = _FM_OPEN.match(text)
    if m:
        close = _FM_CLOSE.search(text, m.end())
        if close:
            fm_inner = (m.end(), close.start())
            nl = text.find("\n", close.start())
            body_start = len(text) if nl < 0 else nl + 1
    begins, ends = [], []
    for mk in _MARKER.finditer(text, body_start):
        nl = text.find("\n", mk.start())
        span = (mk.start(), len(text) if nl < 0 else nl + 1)
        (begins if mk.group(1) == "begin" else ends).append(span)
    problem = None
    if not begins and not ends:
        problem = "its astrocat markers were removed"
    elif len(begins) != 1 or len(ends) != 1:
        problem = f"it has {len(begins)} begin and {len(ends)} end astrocat markers (expected one of each)"
    elif ends[0][0] < begins[0][1]:
        problem = "its astrocat end marker comes before the begin marker"
    if problem:
        return Parts(bom, text, fm_inner, body_start, None, None, problem)
    return Parts(bom, text, fm_inner, body_start, begins[0], ends[0])


_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")
_KEY_LINE = re.compile(r"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s#'"][^:\r\n]*?))[ \t]*:(?:[ \t]|\r?\n|\r?\Z)""")


def _entry_key(line: str) -> str | None:
    if line[:1] in (" ", "\t", "#", "\r", "\n", "") or line.startswith("- ") or line.rstrip("\r\n") == "-":
        return None
    m = _KEY_LINE.match(line)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)


def frontmatter_entries(inner: str) -> list[tuple[str | None, str]]:
    """Split frontmatter lines into (key, lines) entries; comments and blanks are (None, line).

    A key's entry holds its continuation lines (indented lines, `- ` items, and
    blank or comment lines followed by more of them), so replacing one key never
    strands part of another.
    """
    entries: list[list[Any]] = []
    pending: list[str] = []
    for line in _LINES.findall(inner):
        key = _entry_key(line)
        bare = line.rstrip("\r\n")
        if key is not None:
            entries.extend([None, p] for p in pending)
            pending = []
            entries.append([key, line])
        elif bare.strip() == "" or bare.startswith("#"):
            pending.append(line)
        else:  # a continuation line
            if entries:
                entries[-1][1] += "".join(pending) + line
            else:
                entries.extend([None, p] for p in pending)
                entries.append([None, line])
            pending = []
    entries.extend([None, p] for p in pending)
    return [(k, t) for k, t in entries]


def _is_owned_tag(tag: str, prefixes: Sequence[str]) -> bool:
    t = tag.lstrip("#")
    return t == "astrocat" or any(t.startswith(p) for p in prefixes)


def _merge_tags(existing: str, ours: list[str], prefixes: Sequence[str]) -> str | None:
    """Our tags followed by the user's own tags; None when the user's entry cannot be read."""
    rendered = render_entry("tags", ours)
    if existing == rendered:
        return rendered
    try:
        data = yaml.load(existing, Loader=_Loader)
    except yaml.YAMLError:
        return None
    value = data.get("tags") if isinstance(data, dict) else None
    if value is None:
        user: list[str] = []
    elif isinstance(value, str):
        user = [t for t in re.split(r"[,\s]+", value) if t]
    elif isinstance(value, list) and all(isinstance(t, (str, int, float)) for t in value):
        user = [str(t) for t in value]
    else:
        return None
    keep = [t for t in user if not _is_owned_tag(t, prefixes) and t.lstrip("#") not in ours]
    return render_entry("tags", ours + _unique(keep))


def merge_frontmatter(
    inner: str | None,
    generated: Mapping[str, Any],
    owned_keys: Iterable[str],
    tag_prefixes: Sequence[str] = OWNED_TAG_PREFIXES,
) -> tuple[str, list[str]]:
    """New frontmatter lines: owned keys rewritten in place, every other line kept as it was.

    Owned keys missing from the note are inserted after the owned key that precedes
    them; owned keys that are no longer generated (value None) are removed. `tags`
    keeps the user's own tags after astrocat's.
    """
    owned = set(owned_keys)
    rendered = {k: render_entry(k, v) for k, v in generated.items() if v is not None}
    fresh = "".join(rendered.values())
    if inner is None:
        return fresh, []
    if inner == fresh:  # untouched since the last run: the common case, no parsing needed
        return inner, []
    warnings: list[str] = []
    out: list[list[Any]] = []
    seen: set[str] = set()
    for key, text in frontmatter_entries(inner):
        if key in owned:
            if key in seen or key not in rendered:
                continue  # a duplicate, or a key astrocat no longer writes
            seen.add(key)
            new = rendered[key]
            if key == "tags":
                merged = _merge_tags(text, list(generated["tags"]), tag_prefixes)
                if merged is None:
                    warnings.append("its `tags` property could not be read; left as it was")
                    merged = text
                new = merged
            out.append([key, new])
        else:
            out.append([key, text])
    order = [k for k in generated if k in rendered]
    for i, key in enumerate(order):
        if key in seen:
            continue
        pos = None
        for prev in reversed(order[:i]):
            idx = next((j for j, e in enumerate(out) if e[0] == prev), None)
            if idx is not None:
                pos = idx + 1
                break
        if pos is None:
            pos = next((j for j, e in enumerate(out) if e[0] in owned), len(out))
        if pos == len(out) and out and not out[-1][1].endswith("\n"):
            out[-1][1] += "\n"
        out.insert(pos, [key, rendered[key]])
        seen.add(key)
    return "".join(e[1] for e in out), warnings


@dataclass
class Merged:
    """The new text of a note, or None when it must be left alone (warnings say why)."""

    text: str | None
    warnings: list[str] = field(default_factory=list)


def _yaml_mapping(inner: str) -> bool:
    try:
        data = yaml.load(inner, Loader=_Loader)
    except yaml.YAMLError:
        return False
    return data is None or isinstance(data, dict)



def merge(
    existing_text: str | None,
    generated_frontmatter: Mapping[str, Any],
    owned_keys: Iterable[str],
    generated_block: str,
    tag_prefixes: Sequence[str] = OWNED_TAG_PREFIXES,
) -> Merged:
    """The note with astrocat's parts brought up to date and everything else kept byte for byte.

    None (with a warning) when the note cannot be updated safely: markers removed,
    repeated or out of order, or a frontmatter that is not a YAML mapping.
    """
    block = generated_block if generated_block.endswith("\n") else generated_block + "\n"
    if existing_text is None:
        return Merged(new_note(generated_frontmatter, block))
    parts = split_note(existing_text)
    if parts.problem:
        return Merged(None, [f"left alone: {parts.problem}"])
    text = parts.text
    if parts.fm_inner is None:
        inner = None
        head_open, head_close = "---\n", "---\n"
        body = text
    else:
        a, b = parts.fm_inner
        inner = text[a:b]
        head_open, head_close = text[:a], text[b:parts.body_start]
        body = text[parts.body_start:]
    new_inner, warnings = merge_frontmatter(inner, generated_frontmatter, owned_keys, tag_prefixes)
    if new_inner != inner:
        if inner is not None and inner.strip() and not _yaml_mapping(inner):
            return Merged(None, ["left alone: its frontmatter is not valid YAML (fix it, then run again)"])
        if not _yaml_mapping(new_inner):
            return Merged(None, ["left alone: its frontmatter could not be updated without breaking it"])
    off = parts.body_start if parts.fm_inner is not None else 0
    b_end = parts.begin[1] - off
    e_start = parts.end[0] - off
    new_body = body[:b_end] + block + body[e_start:]
    return Merged(parts.bom + head_open + new_inner + head_close + new_body, warnings)


def user_text(text: str) -> str | None:
    """The user's prose: everything outside the frontmatter and the markers, without
    the default `## Notes` heading and placeholder. None when the markers are broken."""
    parts = split_note(text)
    if parts.problem:
        return None
    t = parts.text
    before = t[parts.body_start:parts.begin[0]]
    after = t[parts.end[1]:]
    after = "".join(line for line in _LINES.findall(after) if line.strip() != PLACEHOLDER)
    after = after.strip()
    if after.split("\n", 1)[0].rstrip() == NOTES_HEADING:
        after = after[len(NOTES_HEADING):].strip()
    return "\n\n".join(p for p in (before.strip(), after) if p)


# --- the user's text as HTML (for the site) ------------------------------------------
