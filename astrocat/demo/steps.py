"""The demo's own pipeline step: a hand-written note, then the notes regenerated, to
show that the user's words survive (and reach the catalog and the site)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrocat import notes

if TYPE_CHECKING:
    from astrocat.pipeline import Run

DEMO_NOTE = (
    "Seeing 3/5, transparency good until the Moon rose around 23:40. Guiding RMS 0.6\u2033 "
    "after re-balancing the mount. Dew heater at 40 %. Next time: more Ha on the core, "
    "and the flats panel one step brighter.\n"
)


def hand_written_note_step(ctx: Run) -> None:
    db, settings = ctx.db, ctx.settings
    row = db.execute(
        "SELECT n.id, n.path FROM notes n JOIN sessions s ON n.id = 'session:' || s.id "
        "WHERE s.night = '2024-10-03' ORDER BY s.id LIMIT 1"
    ).fetchone()
    if not row:
        ctx.report["demo_note"] = {"hand_written_note": None, "kept": False}
        return
    path = settings.notes / row[1]
    text = path.read_text(encoding="utf-8")
    if DEMO_NOTE not in text:
        path.write_text(text + "\n" + DEMO_NOTE, encoding="utf-8")
    notes.write_notes(db, settings)  # the round trip: regenerate, read the user's text back
    stored = db.execute("SELECT user_text FROM notes WHERE id = ?", (row[0],)).fetchone()[0] or ""
    kept = DEMO_NOTE.strip() in path.read_text(encoding="utf-8") and DEMO_NOTE.strip() in stored
    ctx.report["demo_note"] = {"hand_written_note": row[1], "kept": kept}
    if kept:
        ctx.echo(f"notes: a hand-written note in {row[1]} survived regeneration and is in the catalog")
    else:
        ctx.problem()
