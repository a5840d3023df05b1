"""The notes' pipeline step: write the Obsidian notes and read the user's text back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrocat.notes import write_notes

if TYPE_CHECKING:
    from astrocat.pipeline import Run


def notes_step(ctx: Run) -> None:
    result = write_notes(ctx.db, ctx.settings)
    ctx.report["notes"] = result.as_dict()
    if result.written:
        ctx.echo(f"notes: {result.written} written, {result.unchanged} unchanged in {ctx.settings.notes}")
    for w in result.warnings:
        ctx.echo(f"notes warning: {w}")
