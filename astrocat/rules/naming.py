"""Library paths from a naming pattern. Pure: no I/O.

A pattern such as `{year}/{night}_{target}/{frame_type}/{target}_{filter}_{exposure}_{seq}`
is rendered from a frame's catalog fields. Header values pass through `safe_component`
first, so a hostile OBJECT or FILTER can never climb out of the library, name a device
(`CON`, `NUL`) or smuggle control characters into a path. A token without a value
disappears together with the suffix written after it and one neighbouring separator
(`M42__60s` becomes `M42_60s`, `300s_g_-35C` becomes `300s_-35C`); a folder that would be
empty gets a placeholder such as `NoTarget`. A file whose header says too little keeps
its original name; masters and stacks go to `Masters/`.

`{seq}` is the collision sequence: the first number whose name is free wins, so a new
frame never takes the name of an existing one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Callable, Mapping

TOKENS = (
    "year", "night", "target", "frame_type", "filter", "exposure", "camera", "telescope",
    "gain", "temp", "binning", "session", "original", "seq",
)

# What a folder is called when the token(s) in it have no value at all.
PLACEHOLDERS = {
    "year": "Undated", "night": "Undated", "target": "NoTarget", "frame_type": "Unknown",
    "filter": "NoFilter", "exposure": "NoExposure", "camera": "NoCamera",
    "telescope": "NoTelescope", "gain": "NoGain", "temp": "NoTemp", "binning": "NoBinning",
    "session": "NoSession", "original": "Unnamed",
}
# the unit a token's value ends with: a pattern's own `{exposure}s` or `{temp}C` is not doubled
UNITS = {"exposure": "s", "temp": "C"}
MASTERS_FOLDER = "Masters"  # masters and stacks, under the night or target folder

FRAME_TYPE_LABELS = {
    "light": "Light", "dark": "Dark", "flat": "Flat", "bias": "Bias", "darkflat": "DarkFlat",
    "unknown": "Unknown",
}
CALIBRATION_TYPES = ("dark", "flat", "bias", "darkflat")
CALIBRATION_TARGET = "Calibration"  # {target} of calibration frames of a session without lights

MAX_VALUE_CHARS = 64  # one header value in a path
MAX_ORIGINAL_CHARS = 150  # the original file name (the component limit applies too)
MAX_COMPONENT_BYTES = 200  # one rendered path component, before seq and extension (limit 255)
SEQ_WIDTH = 4

# Device names Windows reserves in any folder, with or without an extension.
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in (*"0123456789", "¹", "²", "³")
}
# Punctuation kept in names; everything else that is not a letter or digit becomes "_".
_KEEP = set("-_.+()[]#@,=")
_TOKEN_RE = re.compile(r"\{([^{}]*)\}")
_COMPRESSED = (".gz", ".fz", ".bz2")


class PatternError(ValueError):
    """The naming pattern is not usable; the message says why."""


# --- safe names ------------------------------------------------------------------------


def safe_component(value: Any, max_chars: int = MAX_VALUE_CHARS) -> str:
    """A header value made safe as (part of) one path component; '' when nothing is left.

    Separators, reserved and control characters and whitespace become `_`; runs of dots
    collapse (no `..`); leading dots, trailing dots and spaces go; Windows device names
    get a trailing `_`; the result is at most `max_chars` characters.
    """
    if value is None:
        return ""
    return _safe(str(value), max_chars)


@lru_cache(maxsize=8192)  # a library repeats the same few targets, filters and cameras
def _safe(value: str, max_chars: int) -> str:
    text = unicodedata.normalize("NFC", value)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or ch in _KEEP:
            out.append(ch)
        elif cat[0] == "C":
            continue  # control, format, surrogate, private use: dropped
        else:
            out.append("_")  # separators, reserved characters, spaces, symbols
    s = "".join(out)
    s = re.sub(r"\.{2,}", ".", s)
    s = re.sub(r"_{2,}", "_", s)
    s = s.strip("._ ").rstrip("-")
    s = re.sub(r"^-+(?!\d)", "", s)  # no option-like '-rf'; a sign stays: '-10C'
    s = s[:max_chars].rstrip("._- ")
    if s.split(".", 1)[0].upper() in WINDOWS_RESERVED:
        s += "_"
    return s


def truncate_utf8(text: str, max_bytes: int) -> str:
    """At most `max_bytes` of UTF-8, never cutting a character in half."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore").rstrip("._- ")


def extension_of(path: str) -> str:
    """The file's extension, lower case, compression included: '.fits', '.fits.fz', '.xisf'."""
    name = path.rsplit("/", 1)[-1]
    low = name.lower()
    for comp in _COMPRESSED:
        if low.endswith(comp):
            inner = low[: -len(comp)]
            dot = inner.rfind(".")
            return (inner[dot:] if dot > 0 else "") + comp
    dot = low.rfind(".")
    return low[dot:] if dot > 0 else ""


def original_name(path: str) -> str:
    """A file's base name without its extension (compression included), as the scan
    stores it: `quarantine/Light_M31_0042.fits.fz` -> `Light_M31_0042`."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    ext = extension_of(base)
    return base[: len(base) - len(ext)] if ext else base


def stem_key(path: str) -> str:
    """The collision key of a path: case-folded, without extension (`a/M31_0001.fits` and
    `A/m31_0001.FIT` collide, as they would on a case-insensitive disk)."""
    ext = extension_of(path)
    base = path[: len(path) - len(ext)] if ext else path
    return base.casefold()


# --- pattern ---------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _pattern_parts(pattern: str) -> tuple[str, ...]:
    return tuple(_validate_pattern(pattern))


def validate_pattern(pattern: str) -> list[str]:
    """The pattern's components; PatternError for unknown tokens, absolute or `..` paths."""
    return list(_pattern_parts(pattern))


def _validate_pattern(pattern: str) -> list[str]:
    if not pattern or not pattern.strip():
        raise PatternError("naming pattern is empty")
    if pattern.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", pattern):
        raise PatternError(f"naming pattern {pattern!r} must be relative to the library")
    if "\\" in pattern or any(unicodedata.category(c)[0] == "C" for c in pattern):
        raise PatternError(f"naming pattern {pattern!r}: use '/' between folders, no control characters")
    for token in _TOKEN_RE.findall(pattern):
        if token not in TOKENS:
            raise PatternError(
                f"naming pattern {pattern!r}: unknown token {{{token}}}; known: "
                + " ".join(f"{{{t}}}" for t in TOKENS)
            )
    if re.search(r"[{}]", _TOKEN_RE.sub("", pattern)):
        raise PatternError(f"naming pattern {pattern!r}: unbalanced braces")
    parts = pattern.split("/")
    for part in parts:
        literal = _TOKEN_RE.sub("", part)
        if part in ("", ".", "..") or literal.strip() in (".", ".."):
            raise PatternError(f"naming pattern {pattern!r}: empty, '.' or '..' folder")
        if safe_literal(literal) != literal:
            raise PatternError(f"naming pattern {pattern!r}: {literal!r} has characters not allowed in file names")
    if "{seq}" in "/".join(parts[:-1]):
        raise PatternError(f"naming pattern {pattern!r}: {{seq}} belongs in the file name (last part)")
    return parts


def safe_literal(text: str) -> str:
    """Literal pattern text keeps letters, digits and the punctuation of safe_component."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN" or ch in _KEEP)


def _fmt_number(value: Any, digits: int = 6) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    if x != x:  # NaN
        return ""
    return f"{x:.{digits}g}"


def token_values(frame: Mapping[str, Any], calibration_target: str | None = None) -> dict[str, str]:
    """Token -> safe text for one frame (a catalog row). '' means no value.

    `calibration_target` is the folder target of a calibration frame: the main target of
    its session's lights, or CALIBRATION_TARGET when the session has none.
    """
    ftype = frame.get("frame_type") or "unknown"
    label = FRAME_TYPE_LABELS.get(ftype, "Unknown")
    if frame.get("is_master"):
        label = "Master" + label
    night = frame.get("night") or ""
    exposure = _fmt_number(frame.get("exposure_s"))
    temp_src = frame.get("set_temp_c") if frame.get("set_temp_c") is not None else frame.get("ccd_temp_c")
    temp = ""
    if temp_src is not None:
        try:
            temp = f"{round(float(temp_src)):d}C"
        except (TypeError, ValueError):
            temp = ""
    target = frame.get("target")
    if ftype in CALIBRATION_TYPES:
        target = calibration_target or CALIBRATION_TARGET
    values = {
        "year": night[:4] if re.match(r"^\d{4}-\d{2}-\d{2}$", night) else "",
        "night": night if re.match(r"^\d{4}-\d{2}-\d{2}$", night) else "",
        "target": target,
        "frame_type": label,
        "filter": frame.get("filter"),
        "exposure": f"{exposure}s" if exposure else "",
        "camera": frame.get("camera"),
        "telescope": frame.get("telescope"),
        "gain": _fmt_number(frame.get("gain")),
        "temp": temp,
        "binning": frame.get("binning"),
        "session": frame.get("session_id"),
    }
    out = {k: safe_component(v) for k, v in values.items()}
    out["original"] = safe_component(frame.get("original_name"), MAX_ORIGINAL_CHARS)
    return out


def too_little(frame: Mapping[str, Any]) -> bool:
    """True when the header says too little to name the file: no night, or a light (or a
    frame of unknown type) without a target. Such a file keeps its original name."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", frame.get("night") or ""):
        return True
    return (frame.get("frame_type") or "unknown") in ("light", "unknown") and not frame.get("target")


@dataclass(frozen=True)
class Rendered:
    """A rendered path without its sequence number: folder + file name template."""

    folder: str  # POSIX, relative to the library ('' for the library root)
    name: str  # the file name with '\0' where {seq} goes (absent when the pattern has no {seq})
    ext: str

    def path(self, seq: int | None) -> str:
        """The relative path with this sequence number (None: the name without a number)."""
        if "\0" in self.name:
            name = self.name.replace("\0", f"{seq or 1:0{SEQ_WIDTH}d}")
        elif seq is None or seq == 1:
            name = self.name
        else:
            name = f"{self.name}_{seq:0{SEQ_WIDTH}d}"
        return f"{self.folder}/{name}{self.ext}" if self.folder else f"{name}{self.ext}"

    def matches(self, path: str) -> bool:
        """True when `path` is this rendering with some sequence number (case-insensitive)."""
        folder = re.escape(self.folder + "/") if self.folder else ""
        digits = r"\d{%d,}" % SEQ_WIDTH
        if "\0" in self.name:
            name = digits.join(re.escape(x) for x in self.name.split("\0"))
        else:
            name = re.escape(self.name) + f"(?:_{digits})?"
        return re.fullmatch(folder + name + re.escape(self.ext), path, re.IGNORECASE) is not None


_SEP = "_- ."
_SUFFIX = re.compile(r"[^_\- .{}]*")


@lru_cache(maxsize=256)
def _tokens_of(part: str) -> tuple[str, ...]:
    return tuple(m.group(1) for m in _TOKEN_RE.finditer(part) if m.group(1) != "seq")


def _render_component(part: str, values: Mapping[str, str]) -> str:
    """`_render_uncached`, remembered: frames of one night and target share most components."""
    names = _tokens_of(part)
    return _render_cached(part, tuple(values.get(n) or "" for n in names))


@lru_cache(maxsize=16384)
def _render_cached(part: str, token_values: tuple[str, ...]) -> str:
    return _render_uncached(part, dict(zip(_tokens_of(part), token_values)))


def _render_uncached(part: str, values: Mapping[str, str]) -> str:
    """Substitute tokens in one component ('\\0' marks {seq}); an empty token goes with
    its suffix and one neighbouring separator, a unit the value carries is not repeated,
    an empty component becomes a placeholder."""
    pieces: list[list[str]] = []  # [kind, text, token]: kind 'lit' | 'val' | 'empty' | 'seq'
    pos = 0
    for m in _TOKEN_RE.finditer(part):
        if m.start() > pos:
            pieces.append(["lit", part[pos : m.start()], ""])
        name = m.group(1)
        if name == "seq":
            pieces.append(["seq", "\0", name])
        else:
            pieces.append(["val", values[name], name] if values.get(name) else ["empty", name, name])
        pos = m.end()
    if pos < len(part):
        pieces.append(["lit", part[pos:], ""])
    empties = [p[1] for p in pieces if p[0] == "empty"]
    for i, (kind, _, _) in enumerate(pieces):
        right = pieces[i + 1] if i + 1 < len(pieces) else None
        if kind == "val" and right and right[0] == "lit":
            unit = UNITS.get(pieces[i][2], "")
            if unit and pieces[i][1].endswith(unit) and right[1].lower().startswith(unit.lower()):
                right[1] = right[1][len(unit):]  # `{temp}C`: '-35C', not '-35CC'
        if kind != "empty":
            continue
        left = pieces[i - 1] if i > 0 else None
        if right and right[0] == "lit":
            # a suffix written right after the token (`{gain}g`) goes with its value
            right[1] = right[1][len(_SUFFIX.match(right[1]).group(0)):]
        if right and right[0] == "lit" and right[1][:1] in tuple(_SEP) and right[1]:
            right[1] = right[1][1:]
        elif left and left[0] == "lit" and left[1] and left[1][-1] in _SEP:
            left[1] = left[1][:-1]
    kept = [pc for pc in pieces if pc[0] != "empty"]
    for prev, cur in zip(kept, kept[1:]):
        # a value that ends in a separator (`CON_`) next to the same literal separator
        if prev[0] == "val" and cur[0] == "lit" and cur[1][:1] and prev[1].endswith(cur[1][:1]) and cur[1][0] in _SEP:
            cur[1] = cur[1][1:]
    text = "".join(t for _, t, _ in kept)
    text = re.sub(r"^-+(?!\d)", "", text.lstrip("_ .")).lstrip("_ .")
    head, seq, tail = text.partition("\0")
    if seq:
        tail = tail.rstrip(_SEP)
    else:
        head = head.rstrip(_SEP)
    if not (head + tail).strip(_SEP) and not seq:
        head = PLACEHOLDERS.get(empties[0], "Unknown") if empties else "Unnamed"
    budget = MAX_COMPONENT_BYTES - len(tail.encode("utf-8"))
    text = truncate_utf8(head, max(budget, 16)) + seq + tail
    base, dot, rest = text.partition(".")
    if base.upper() in WINDOWS_RESERVED:  # `CON`, `NUL.fits`: device names on Windows
        text = base + "_" + dot + rest
    return text


def render(pattern: str, frame: Mapping[str, Any], source_path: str, calibration_target: str | None = None) -> Rendered:
    """The library path of `frame` under `pattern`, before a sequence number is chosen.

    A master or stack goes to `Masters/` under the night or target folder; a file whose
    header says too little (`too_little`) keeps its original name."""
    parts = validate_pattern(pattern)
    values = token_values(frame, calibration_target)
    rendered = [_render_component(p, values) for p in parts[:-1]]
    if frame.get("is_master"):
        anchors = [i for i, p in enumerate(parts[:-1]) if "{night}" in p or "{target}" in p]
        rendered = rendered[: anchors[-1] + 1 if anchors else len(rendered)] + [MASTERS_FOLDER]
    if too_little(frame) and values["original"]:
        name = _render_component("{original}", values)
    else:
        if (frame.get("frame_type") or "") in CALIBRATION_TYPES:
            # a dark in `2024-11-01_M31/Dark/` is named `Dark_120s_0001`, not `M31_120s_0001`
            values = {**values, "target": "" if "{frame_type}" in parts[-1] else values["frame_type"]}
        name = _render_component(parts[-1], values)
    return Rendered(folder="/".join(rendered), name=name, ext=extension_of(source_path))


def allocate(rendered: Rendered, is_taken: Callable[[str], bool], start: int = 1) -> tuple[str, int]:
    """The first free path at or after sequence `start`: (path, seq). Never a taken one."""
    seq = max(start, 1)
    while True:
        path = rendered.path(seq)
        if not is_taken(stem_key(path)):
            return path, seq
        seq += 1


def duplicate_path(relative_in_quarantine: str) -> str:
    """Where a duplicate goes inside `quarantine/_duplicates/`: its own sub-path, made safe."""
    parts = [safe_component(p, 120) or "Unnamed" for p in relative_in_quarantine.split("/") if p]
    if not parts:
        parts = ["Unnamed"]
    last = relative_in_quarantine.rsplit("/", 1)[-1]
    ext = extension_of(last)
    stem = last[: len(last) - len(ext)] if ext else last
    parts[-1] = (safe_component(stem, 120) or "Unnamed") + ext
    return "/".join(parts)


# --- calibration ------------------------------------------------------------------------


def main_target(light_counts: Mapping[str, int]) -> str | None:
    """The target with the most light frames (ties: alphabetical), None when there are none."""
    if not light_counts:
        return None
    return sorted(light_counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def hold_calibration(frame: Mapping[str, Any], session_has_lights: bool, current_night: str | None) -> bool:
    """True while a calibration frame of a session without lights must wait in quarantine.

    Dusk flats and darks often arrive before the night's lights; filing them at once
    would put them in `NIGHT_Calibration/` while the lights go to `NIGHT_TARGET/`. So they
    wait until their night is over (local noon next day), then go to NIGHT_Calibration.
    """
    if (frame.get("frame_type") or "") not in CALIBRATION_TYPES or session_has_lights:
        return False
    night = frame.get("night")
    if not night or not current_night:
        return False
    try:
        ahead = (date.fromisoformat(night) - date.fromisoformat(current_night)).days
    except ValueError:
        return False
    # tonight (or a day ahead, for a site far east of the configured timezone); a camera
    # clock years off must not hold a frame for years
    return 0 <= ahead <= 1


# --- note file names ---------------------------------------------------------------

_UNSAFE_NAME = re.compile(r'[/\\:*?"<>|#^\[\]\x00-\x1f\x7f]')


def note_stem(name: str) -> str:
    """A file name (without .md) safe on every OS and inside a [[wikilink]].

    `/ \\ : * ? " < > |` and control characters cannot be in file names; `# ^ [ ] |`
    would break a wikilink. All become '_'.
    """
    stem = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", str(name))).strip().rstrip(". ")
    if stem.startswith("."):
        stem = "_" + stem[1:]
    if not stem:
        stem = "_"
    if stem.split(".")[0].upper() in WINDOWS_RESERVED:
        stem += "_"
    return stem[:150]
