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


def add_input_keys(db: sqlite_utils.Database) -> None:
    # What a note was last made from (input_key) and the file as astrocat last saw it
    # (file_stat): when neither changed, the note is neither rendered nor read again.
    db.execute("ALTER TABLE notes ADD COLUMN input_key TEXT")
    db.execute("ALTER TABLE notes ADD COLUMN file_stat TEXT")
