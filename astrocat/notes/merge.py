"""Reading and merging existing notes: astrocat's parts brought up to date, every
other byte kept. Pure: text in, text out.

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

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import yaml

from astrocat.notes.yaml import OWNED_TAG_PREFIXES, is_owned_tag, render_entry, render_frontmatter

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster

BEGIN = "%% astrocat:begin %%"
END = "%% astrocat:end %%"
NOTES_HEADING = "## Notes"
PLACEHOLDER = "%% Your notes go here. astrocat never changes anything outside its markers. %%"
DEFAULT_TAIL = f"\n{NOTES_HEADING}\n\n{PLACEHOLDER}\n"


def new_note(frontmatter: Mapping[str, Any], block: str) -> str:
    """A fresh note: frontmatter, the generated block between markers, an empty Notes section."""
    block = block if block.endswith("\n") else block + "\n"
    return f"---\n{render_frontmatter(frontmatter)}---\n{BEGIN}\n{block}{END}\n{DEFAULT_TAIL}"


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
    keep = [t for t in user if not is_owned_tag(t, prefixes) and t.lstrip("#") not in ours]
    return render_entry("tags", ours + list(dict.fromkeys(keep)))


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
