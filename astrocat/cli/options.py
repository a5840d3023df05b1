"""The filter options every listing offers, and the one place that turns them into a
`catalog.FrameFilter`, read the way scan reads headers (`--target "M 31"` finds M31)."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Optional

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


# (parameter, option, type) of the frame filters, in the order `--help` lists them
_FILTER_PARAMS: tuple[tuple[str, Any, Any], ...] = (
    ("target", TARGET, Optional[str]), ("filter_", FILTER, Optional[str]), ("frame_type", TYPE, Optional[str]),
    ("night", NIGHT, Optional[str]), ("date_from", FROM, Optional[str]), ("date_to", TO, Optional[str]),
    ("year", YEAR, Optional[int]), ("camera", CAMERA, Optional[str]), ("telescope", TELESCOPE, Optional[str]),
    ("session", SESSION, Optional[str]),
)


@dataclass(frozen=True)
class Filters:
    """The frame filters a command was given; `of(settings)` is their FrameFilter."""

    values: dict[str, Any]

    def of(self, s: Settings) -> catalog.FrameFilter:
        return frame_filter(s, **self.values)


FILTERS = Filters({})  # the default a command's `filters` parameter declares; `with_filters` replaces it


def with_filters(types: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the shared frame filters (`--target --filter [--type] --night --from
    --to --year --camera --telescope --session`) in place of its `filters` parameter, which
    receives them as one `Filters`. `types=False` leaves out `--type` (totals of lights)."""
    specs = [p for p in _FILTER_PARAMS if types or p[0] != "frame_type"]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn)
        params: list[inspect.Parameter] = []
        for p in inspect.signature(fn).parameters.values():
            if p.name == "filters":
                params += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option,
                                             annotation=kind) for name, option, kind in specs]
            else:
                params.append(p.replace(annotation=hints.get(p.name, p.annotation)))
        names = [name for name, _, _ in specs]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            return fn(filters=Filters({n: kwargs.pop(n) for n in names}), **kwargs)

        # typer reads the parameters from the signature and their types from the annotations
        command.__signature__ = inspect.Signature(params, return_annotation=hints.get("return"))  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
