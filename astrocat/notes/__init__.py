"""Obsidian notes: one note per imaging session and target, the user's text kept byte for byte.

`yaml` writes the frontmatter and tags, `content` says what a note holds, `merge`
brings an existing note up to date without touching the user's text, `paths` names
the files, `write` puts the notes on disk and owns the `notes` table. The pure
modules are imported by name (`from astrocat.notes.merge import merge`); the
package re-exports only the writer's API.
"""

from astrocat.notes.write import (
    NotesResult,
    load_detail,
    load_processing_sessions,
    load_sessions,
    load_targets,
    user_notes,
    write_notes,
)

__all__ = [
    "NotesResult", "load_detail", "load_processing_sessions", "load_sessions", "load_targets",
    "user_notes", "write_notes",
]
