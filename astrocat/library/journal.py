"""The catalog side of a move, shared by the mover and recovery: re-point a frame row,
close journal rows. Each call runs inside the caller's transaction."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

import sqlite_utils

from astrocat.clock import utc_now
from astrocat.config import Settings


def location(settings: Settings, catalog_path: str) -> str:
    """Where a moved frame lies now. A move only ever ends in the library or in
    quarantine/_duplicates, so 'external' can only be the library spelled another way."""
    full = catalog_path if os.path.isabs(catalog_path) else os.path.join(settings.base_dir, catalog_path)
    loc = settings.location_of(full)
    return "library" if loc == "external" else loc


def point_frame(db: sqlite_utils.Database, settings: Settings, frame_id: int, path: str, st: os.stat_result) -> None:
    """Point a frame row at its new path."""
    sql = "UPDATE frames SET path = ?, location = ?, mtime = ?, size = ? WHERE id = ?"
    args = (path, location(settings, path), st.st_mtime, st.st_size, frame_id)
    try:
        db.conn.execute(sql, args)
    except sqlite3.IntegrityError:
        # a scan cataloged the new name as a row of its own (only after an odd crash): keep one
        db.conn.execute("DELETE FROM frames WHERE path = ? AND id != ?", (path, frame_id))
        db.conn.execute(sql, args)


def finish(db: sqlite_utils.Database, state: str, moves: Iterable[tuple[int, str | None]]) -> None:
    """Close journal rows: (move id, note or error) -> `state` (done, failed, rolled_back)."""
    db.conn.executemany(
        "UPDATE moves SET state = ?, finished_at = ?, error = ? WHERE id = ?",
        [(state, utc_now(), note, mid) for mid, note in moves],
    )
