"""The `notes` table: the user's own prose read back from the Obsidian notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


def create_notes(db: sqlite_utils.Database) -> None:
    # The user's own prose from the Obsidian notes, read back by `astrocat notes`
    # (the notes module owns the rows); the site renders it, Datasette searches it.
    db["notes"].create(
        {"id": str, "kind": str, "key": str, "path": str, "user_text": str, "updated_at": str},
        pk="id",
    )
    db.execute("CREATE INDEX idx_notes_kind_key ON notes(kind, key)")
