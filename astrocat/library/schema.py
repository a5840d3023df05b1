"""The `moves` table: the organize journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


def create_moves(db: sqlite_utils.Database) -> None:
    # The organize journal (written by library.move, read by library.recover): every move is
    # written here before a file is touched, so the next run can finish or roll back a move a
    # crash interrupted.
    db.execute(
        """
        CREATE TABLE moves (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER REFERENCES frames(id) ON DELETE SET NULL,
            kind TEXT NOT NULL CHECK (kind IN ('file','duplicate','relayout')),
            method TEXT NOT NULL CHECK (method IN ('link','copy')),
            src TEXT NOT NULL,
            dst TEXT NOT NULL,
            tmp TEXT,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('planned','filed','done','rolled_back','failed')),
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_moves_state ON moves(state)")
    db.execute("CREATE INDEX idx_moves_frame ON moves(frame_id)")
