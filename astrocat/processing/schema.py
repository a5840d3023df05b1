"""The processing feature's tables and the frames' rotator column (migration 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

STATUSES = ("planned", "in-progress", "complete", "archived")


def _m9_processing(db: sqlite_utils.Database) -> None:
    # rotator_deg: flats must match the lights' rotator angle; filled here from the stored
    # headers of frames read before, by scan from now on
    if "rotator_deg" not in db["frames"].columns_dict:
        db.execute("ALTER TABLE frames ADD COLUMN rotator_deg REAL")
    _fill_rotator(db)
    db.execute(
        "CREATE TABLE processing_sessions (id TEXT PRIMARY KEY, name TEXT NOT NULL, target TEXT, "
        "targets TEXT, session_ids TEXT, filters TEXT, status TEXT NOT NULL DEFAULT 'planned' "
        f"CHECK (status IN ({', '.join(repr(s) for s in STATUSES)})), created TEXT NOT NULL, updated TEXT, "
        "path TEXT NOT NULL, link_mode TEXT NOT NULL, date_from TEXT, date_to TEXT, filter_choice TEXT, "
        "integration_s REAL, lights INTEGER, groups INTEGER, calibrated_groups INTEGER)"
    )
    # one row per link in the session's folder (a frame can be linked by several sessions)
    db.execute(
        "CREATE TABLE processing_frames (processing_id TEXT NOT NULL, link_path TEXT NOT NULL, "
        "frame_id INTEGER NOT NULL, sha256 TEXT, role TEXT NOT NULL, link_mode TEXT NOT NULL, "
        "PRIMARY KEY (processing_id, link_path))"
    )
    db.execute("CREATE INDEX idx_processing_frames_frame ON processing_frames(frame_id)")
    # the matcher's verdicts, per light group and kind of calibration
    db.execute(
        "CREATE TABLE processing_groups (processing_id TEXT NOT NULL, group_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "filter TEXT, night TEXT, exposure_s REAL, gain REAL, lights INTEGER, status TEXT NOT NULL, gap TEXT, note TEXT, "
        "shoot TEXT, chosen TEXT, verdicts TEXT, PRIMARY KEY (processing_id, group_id, kind))"
    )
    # the user's choices, by content (sha256) so they survive rescans, re-filing and
    # re-creating the session; kept when the session is deleted
    db.execute(
        "CREATE TABLE processing_pins (processing_id TEXT NOT NULL, kind TEXT NOT NULL, sha256s TEXT, "
        "source TEXT, pinned_at TEXT NOT NULL, PRIMARY KEY (processing_id, kind))"
    )
    db.execute(
        "CREATE TABLE processing_outputs (id INTEGER PRIMARY KEY, processing_id TEXT NOT NULL, "
        "path TEXT NOT NULL UNIQUE, stage TEXT NOT NULL, size INTEGER, sha256 TEXT, width INTEGER, "
        "height INTEGER, mtime REAL, scanned_at TEXT)"
    )


def _fill_rotator(db: sqlite_utils.Database) -> None:
    import json

    from astrocat.rules.normalize import ROTATOR_KEYS, rotator

    like = " OR ".join(f"header_json LIKE '%\"{k}\"%'" for k in ROTATOR_KEYS)
    updates = []
    for fid, text in db.execute(f"SELECT id, header_json FROM frames WHERE header_json IS NOT NULL AND ({like})"):
        try:
            values = json.loads(text)
        except ValueError:
            continue
        angle = rotator(values) if isinstance(values, dict) else None
        if angle is not None:
            updates.append((angle, fid))
    db.conn.executemany("UPDATE frames SET rotator_deg = ? WHERE id = ?", updates)
