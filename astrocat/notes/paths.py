"""Where each note lives: one file per note, unique by name, stable once written. Pure."""

from __future__ import annotations

from typing import Mapping, Sequence

from astrocat.rules.naming import note_stem


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
    """The note's name as a wikilink names it: the file name without '.md'."""
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".md") else name
