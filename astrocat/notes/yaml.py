"""Frontmatter YAML, written by hand: deterministic, typed, readable. Pure.

Obsidian reads one type per property name; writing the YAML ourselves keeps every
value's type fixed (dates bare, numbers bare, links quoted) and the text stable
from run to run, so an unchanged note compares equal and is not rewritten.
Also the tags: valid Obsidian tags, and the namespaces astrocat owns.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any, Mapping, Sequence

# Tags in these namespaces are astrocat's in its own notes; any other tag the user
# adds to `tags` is kept.
OWNED_TAG_PREFIXES = ("astrocat/", "target/", "filter/", "camera/", "telescope/")


class Link(str):
    """A wikilink to the note with this name: written as "[[name]]" (quoted)."""


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9 _.+\-()/]*")
# words YAML 1.1 reads as booleans, null or numbers: always quoted
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"}
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
        if _PLAIN.fullmatch(value) and not value.endswith(" ") and value.lower() not in _YAML_WORDS:
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


# --- tags ------------------------------------------------------------------------------

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


def is_owned_tag(tag: str, prefixes: Sequence[str] = OWNED_TAG_PREFIXES) -> bool:
    """True for a tag astrocat owns in its notes ('#filter/R', 'astrocat')."""
    t = tag.lstrip("#")
    return t == "astrocat" or any(t.startswith(p) for p in prefixes)
