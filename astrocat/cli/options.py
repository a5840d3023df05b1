"""The filter options every listing offers, and the one place that turns them into a
`catalog.FrameFilter`, read the way scan reads headers (`--target "M 31"` finds M31)."""

from __future__ import annotations

from datetime import date
from typing import Optional

import typer

from astrocat import catalog
from astrocat.cli.app import EXIT_USAGE, fail
from astrocat.config import Settings
from astrocat.rules.normalize import FRAME_TYPES

# Shared options (typer reads each parameter's default from these objects).
TARGET = typer.Option(None, "--target", help="Target name, e.g. M31 (also M 31, Messier 31, Andromeda Galaxy, a target alias).",
                      metavar="NAME")
FILTER = typer.Option(None, "--filter", help="Filter name, e.g. Ha (also H-alpha, Ha 3nm, a filter alias).",
                      metavar="NAME")
TYPE = typer.Option(None, "--type", help=f"{', '.join(FRAME_TYPES)}.", metavar="TYPE")
NIGHT = typer.Option(None, "--night", "--date", help="Night (YYYY-MM-DD: the evening's date).", metavar="DATE")
FROM = typer.Option(None, "--from", help="First night (inclusive).", metavar="DATE")
TO = typer.Option(None, "--to", help="Last night (inclusive).", metavar="DATE")
YEAR = typer.Option(None, "--year", help="Year of the night.", metavar="YEAR")
CAMERA = typer.Option(None, "--camera", help="Camera name (or a camera alias).", metavar="NAME")
TELESCOPE = typer.Option(None, "--telescope", help="Telescope name (or a telescope alias).", metavar="NAME")
SESSION = typer.Option(None, "--session", help="Session id.", metavar="ID")
LIMIT = typer.Option(None, "--limit", min=1, help="At most this many rows (default: all).", metavar="N")
JSON = typer.Option(False, "--json", help="Print a JSON array.")


def frame_filter(
    s: Settings, *, target: Optional[str] = None, filter_: Optional[str] = None, frame_type: Optional[str] = None,
    night: Optional[str] = None, date_from: Optional[str] = None, date_to: Optional[str] = None,
    year: Optional[int] = None, camera: Optional[str] = None, telescope: Optional[str] = None,
    session: Optional[str] = None,
) -> catalog.FrameFilter:
    """The filter the options ask for, names normalised with the config's aliases.
    A date or type that cannot be right is a usage error naming the option."""
    for label, value in (("--night", night), ("--from", date_from), ("--to", date_to)):
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise fail(f"{label} {value!r}: expected a date like 2024-11-01", EXIT_USAGE) from None
    if frame_type and frame_type.lower() not in FRAME_TYPES:
        raise fail(f"--type {frame_type!r}: expected {', '.join(FRAME_TYPES[:-1])} or {FRAME_TYPES[-1]}", EXIT_USAGE)
    return catalog.FrameFilter(
        target=target, filter=filter_, frame_type=frame_type.lower() if frame_type else None,
        night=night, date_from=date_from, date_to=date_to, year=year, camera=camera,
        telescope=telescope, session=session,
    ).normalized(s.normalize_settings())
