"""The backup tables: what is in the bucket, restores asked for, verify runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


def create_backups(db: sqlite_utils.Database) -> None:
    # One row per content uploaded: keyed by sha256, so a frame whose library path changes
    # (relayout, curation) is never uploaded again (an archived object rewritten costs the
    # 180-day minimum again). `state` is the last verify's verdict.
    db.execute(
        """
        CREATE TABLE backups (
            sha256 TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            storage_class TEXT NOT NULL,
            checksum TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'uploaded'
                CHECK (state IN ('uploaded','ok','missing','mismatch')),
            verified_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE backup_restores (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL,
            key TEXT NOT NULL,
            dest TEXT NOT NULL,
            tier TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            ready_by TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending','done','failed')),
            finished_at TEXT,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_backup_restores_state ON backup_restores(state, key)")
    db.execute(
        """
        CREATE TABLE backup_verify_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            scope TEXT NOT NULL,
            checked INTEGER NOT NULL DEFAULT 0,
            ok INTEGER NOT NULL DEFAULT 0,
            missing INTEGER NOT NULL DEFAULT 0,
            mismatched INTEGER NOT NULL DEFAULT 0,
            unexpected INTEGER NOT NULL DEFAULT 0,
            changed_locally INTEGER NOT NULL DEFAULT 0,
            downloaded INTEGER NOT NULL DEFAULT 0
        )
        """
    )
