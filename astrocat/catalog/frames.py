"""Writing frames and rejects: upserts by path, files gone missing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from astrocat.catalog.schema import FRAME_FIELDS

if TYPE_CHECKING:
    import sqlite_utils

_WRITE_COLS = [f for f in FRAME_FIELDS if f != "id"] + ["header_json"]


def upsert_frames(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update frames by path (ON CONFLICT DO UPDATE keeps ids and fires triggers)."""
    upsert_frame_values(db, [frame_values(r) for r in rows])


def frame_values(row: dict[str, Any]) -> list[Any]:
    """A frame row as the parameters of `upsert_frame_values` (scan builds them in its workers)."""
    get = row.get
    # str, float, int and None go in as they are: test their exact types before _cell's rules
    return [v if type(v) in _PLAIN else _cell(v) for v in map(get, _WRITE_COLS)]


_PLAIN = frozenset({str, float, int, type(None)})
_COLS_SQL = ", ".join(f'"{c}"' for c in _WRITE_COLS)
_ROW_MARKS = "(" + ", ".join("?" * len(_WRITE_COLS)) + ")"
# a frame keeps the name it had before organize renamed it (a rescan of the filed file
# must not replace it with the library name)
_KEEP_FIRST = {"original_name"}
_ON_CONFLICT = " ON CONFLICT(path) DO UPDATE SET " + ", ".join(
    f'"{c}"=COALESCE(frames."{c}", excluded."{c}")' if c in _KEEP_FIRST else f'"{c}"=excluded."{c}"'
    for c in _WRITE_COLS if c != "path"
)


def upsert_frame_values(db: sqlite_utils.Database, values: Sequence[Sequence[Any]]) -> None:
    """`upsert_frames` for rows already turned into parameters by `frame_values`."""
    if not values:
        return
    # Many rows per statement, not executemany: each statement that fires the search
    # triggers makes FTS5 flush a new index segment, so one row per statement costs a
    # scan ~20 % (benchmarks/bench_fts_triggers.py).
    per_stmt = max(1, min(200, db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(_WRITE_COLS)))
    for i in range(0, len(values), per_stmt):
        chunk = values[i : i + per_stmt]
        sql = f"INSERT INTO frames ({_COLS_SQL}) VALUES {', '.join([_ROW_MARKS] * len(chunk))}{_ON_CONFLICT}"
        db.conn.execute(sql, [v for row in chunk for v in row])


# What a rescan compares to tell "changed" from "read again": the content and every
# normalised field, not when it was read (scanned_at), its mtime (a `touch` changes no
# frame) or the raw header text (the content's sha256 already covers it), nor the names
# kept from before a move (a filed frame's file name differs from its original one).
_NOT_COMPARED = {"mtime", "scanned_at", "header_json"} | _KEEP_FIRST
_COMPARED = [i for i, c in enumerate(_WRITE_COLS) if c not in _NOT_COMPARED]
_SHA = _WRITE_COLS.index("sha256")
_COMPARED_AT = {_WRITE_COLS[i]: k for k, i in enumerate(_COMPARED)}


def stored_values(db: sqlite_utils.Database, paths: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """path -> the compared part of its stored row, for `same_frame` and `stored_sha256`."""
    cols = ", ".join(f'"{_WRITE_COLS[i]}"' for i in _COMPARED)
    at = _COMPARED.index(_WRITE_COLS.index("path"))
    out: dict[str, tuple[Any, ...]] = {}
    raw = ", raw" if "raw" in db["frames"].columns_dict else ", NULL"
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        q = f"SELECT {cols}{raw} FROM frames WHERE path IN ({','.join('?' * len(chunk))})"
        for row in db.execute(q, chunk):
            out[row[at]] = _header_values(row[:-1], row[-1])
    return out


def _header_values(row: Sequence[Any], raw: str | None) -> tuple[Any, ...]:
    """A stored row with the header's values in place of its corrected ones (`frames.raw`):
    a rescan compares what the file says with what it said."""
    if not raw:
        return tuple(row)
    values = list(row)
    for col, value in json.loads(raw).items():
        at = _COMPARED_AT.get(col)
        if at is not None:
            values[at] = value
    return tuple(values)


def same_frame(stored: tuple[Any, ...] | None, values: Sequence[Any]) -> bool:
    """Whether upsert parameters (`frame_values`) say what the stored row says."""
    return stored is not None and all(stored[k] == values[i] for k, i in enumerate(_COMPARED))


def stored_sha256(stored: tuple[Any, ...] | None) -> str | None:
    return None if stored is None else stored[_COMPARED.index(_SHA)]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str) if value else None
    return value


def record_rejects(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        db["rejects"].upsert_all(rows, pk="path")


def forget_rejects(db: sqlite_utils.Database, paths: Iterable[str]) -> None:
    db.conn.executemany("DELETE FROM rejects WHERE path = ?", [(p,) for p in paths])


def known_files(db: sqlite_utils.Database) -> dict[str, tuple[int, float, str]]:
    """path -> (size, mtime, kind) for every cataloged frame and reject."""
    out: dict[str, tuple[int, float, str]] = {}
    for path, size, mtime, location in db.execute(
        "SELECT path, size, mtime, location FROM frames"
    ):
        out[path] = (size, mtime, "missing" if location == "missing" else "frame")
    for path, size, mtime in db.execute("SELECT path, size, mtime FROM rejects"):
        out.setdefault(path, (size, mtime, "reject"))
    return out


def mark_missing(db: sqlite_utils.Database, paths: Iterable[str]) -> list[str]:
    """Set location='missing' for frames whose file is gone; rejects are simply dropped."""
    paths = list(paths)
    db.conn.executemany(
        "UPDATE frames SET location = 'missing' WHERE path = ? AND location != 'missing'",
        [(p,) for p in paths],
    )
    forget_rejects(db, paths)
    return paths


def _distinct_for_paths(db: sqlite_utils.Database, column: str, paths: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        q = f"SELECT DISTINCT {column} FROM frames WHERE path IN ({','.join('?' * len(chunk))})"
        out.update(r[0] for r in db.execute(q, chunk) if r[0])
    return out


def session_ids_for_paths(db: sqlite_utils.Database, paths: Sequence[str]) -> set[str]:
    return _distinct_for_paths(db, "session_id", paths)


def sha256s_for_paths(db: sqlite_utils.Database, paths: Sequence[str]) -> set[str]:
    return _distinct_for_paths(db, "sha256", paths)