"""Curation rules: how corrections combine into a frame's effective values. Pure: no I/O.

A frame's catalog columns hold its effective values: the header's values (its base)
with the corrections applied in a fixed order, most general first:

1. session corrections, keyed by the session id the headers give (rename, merge, telescope);
2. frame corrections, keyed by the frame's content (sha256): they win over the session's;
3. target names, mapped through the target aliases (alias, rename, merge), transitively.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# The frame columns a correction may set, and how a value is read back from its JSON.
FIELDS = ("target", "filter", "frame_type", "exposure_s", "session_id", "telescope", "bad", "bad_reason")
SESSION_FIELDS = ("session_id", "telescope")
KINDS = ("frame", "session", "target")


def resolve_target(name: str | None, aliases: Mapping[str, str]) -> str | None:
    """The target a name stands for: followed through the aliases (keys casefolded) until
    a name that is no alias; a loop stops at the last new name."""
    if name is None:
        return None
    seen = {name.casefold()}
    while name.casefold() in aliases:
        nxt = aliases[name.casefold()]
        if nxt.casefold() in seen:
            return nxt
        seen.add(nxt.casefold())
        name = nxt
    return name


def effective(base: Mapping[str, Any], session: Mapping[str, Mapping[str, Any]],
              frame: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """The effective values of FIELDS for one frame.

    `base`: its header values; `session`: base session id -> {field: value};
    `frame`: this content's {field: value}; `aliases`: casefolded name -> target."""
    out = {f: base.get(f) for f in FIELDS}
    for f, v in session.get(base.get("session_id") or "", {}).items():
        out[f] = v
    out.update(frame)
    out["target"] = resolve_target(out["target"], aliases)
    out["bad"] = 1 if out.get("bad") else 0
    if not out["bad"]:
        out["bad_reason"] = None
    return out


def angular_sep_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle separation in degrees (haversine: exact for small angles)."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def nearest(ra: float, dec: float, candidates: Iterable[tuple[str, float, float]],
            radius_deg: float) -> list[tuple[str, float]]:
    """(name, separation) of the candidates within the radius, nearest first."""
    found = [(name, angular_sep_deg(ra, dec, cra, cdec)) for name, cra, cdec in candidates]
    return sorted(((n, s) for n, s in found if s <= radius_deg), key=lambda x: (x[1], x[0]))


def split_id(session_id: str, taken: Iterable[str]) -> str:
    """The id of the later part of a split session: `ID-2` (`-3`, ... when taken)."""
    used = {t.casefold() for t in taken}
    n = 2
    while f"{session_id}-{n}".casefold() in used:
        n += 1
    return f"{session_id}-{n}"
