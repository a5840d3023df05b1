"""Frames from the catalog as the calibration matcher's plain values (astrocat.rules.matching).

Bad frames (marked by the user, once curation exists) are left out of the lights and
judged `marked bad` as candidates."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from astrocat.catalog.counts import counted
from astrocat.rules.matching import Frame

if TYPE_CHECKING:
    import sqlite_utils

# Frame's fields in order, as SQL over the frames table (one tuple per row builds a Frame)
_FIELDS_SQL = {
    "temp_c": "COALESCE(ccd_temp_c, set_temp_c)",
}


def _select(db: sqlite_utils.Database) -> str:
    cols = set(db["frames"].columns_dict)
    parts = []
    for name in (f.name for f in fields(Frame)):
        if name == "bad":
            parts.append("bad" if "bad" in cols else "0")
        elif name in _FIELDS_SQL:
            parts.append(_FIELDS_SQL[name])
        elif name in cols:
            parts.append(f'"{name}"')
        else:
            parts.append("NULL")
    return f"SELECT {', '.join(parts)} FROM frames"


def _rows(db: sqlite_utils.Database, where: str, params: Sequence[Any]) -> list[Frame]:
    return [Frame(*row) for row in db.execute(f"{_select(db)} WHERE {counted()} AND {where}", list(params))]


def lights(db: sqlite_utils.Database, target: str | None = None, session_ids: Sequence[str] = (),
           filters: Sequence[str] = (), date_from: str | None = None, date_to: str | None = None,
           frame_ids: Sequence[int] = ()) -> list[Frame]:
    """Light subs that count and are not marked bad, narrowed as asked."""
    where, params = ["frame_type = 'light'", "is_master = 0"], []
    if target:
        where.append("target = ?")
        params.append(target)
    for col, values in (("session_id", session_ids), ("filter", filters), ("id", frame_ids)):
        if values:
            where.append(f"{col} IN ({', '.join('?' * len(values))})")
            params += list(values)
    if date_from:
        where.append("night >= ?")
        params.append(date_from)
    if date_to:
        where.append("night <= ?")
        params.append(date_to)
    return [f for f in _rows(db, " AND ".join(where), params) if not f.bad]


def calibration(db: sqlite_utils.Database, cameras: Iterable[str | None] | None = None) -> list[Frame]:
    """Calibration frames that count (bad ones too: they are judged `marked bad`)."""
    where = "frame_type IN ('dark', 'flat', 'bias', 'darkflat')"
    params: list[Any] = []
    if cameras is not None:
        cams = sorted({c for c in cameras if c})
        if not cams:
            return _rows(db, where + " AND camera IS NULL", [])
        where += f" AND (camera IN ({', '.join('?' * len(cams))}) OR camera IS NULL)"
        params = cams
    return _rows(db, where, params)


def by_sha256(db: sqlite_utils.Database, sha256s: Sequence[str]) -> list[Frame]:
    """The counted frames with these contents (pins name frames by content)."""
    out: list[Frame] = []
    for i in range(0, len(sha256s), 500):
        chunk = list(sha256s[i:i + 500])
        out += _rows(db, f"sha256 IN ({', '.join('?' * len(chunk))})", chunk)
    return out


def by_ids(db: sqlite_utils.Database, ids: Sequence[int]) -> list[Frame]:
    out: list[Frame] = []
    for i in range(0, len(ids), 500):
        chunk = list(ids[i:i + 500])
        out += _rows(db, f"id IN ({', '.join('?' * len(chunk))})", chunk)
    return out


def of_session(db: sqlite_utils.Database, session_id: str, frame_type: str) -> list[Frame]:
    """The counted frames of one type in one imaging session."""
    return _rows(db, "session_id = ? AND frame_type = ?", [session_id, frame_type])
