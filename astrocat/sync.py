"""`astrocat sync`: recover, scan, organize, then the registered output steps. For cron.

With nothing new it costs a `stat` per file (scan's unchanged path) plus a few
queries, so running it every few minutes on a big library is cheap.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import sqlite_utils

from . import library
from .config import Settings
from .scan import ProgressFn, scan

Echo = Callable[[str], None]


def notes_step(db: sqlite_utils.Database, settings: Settings, echo: Echo, report: dict[str, Any]) -> None:
    from .notes import write_notes

    result = write_notes(db, settings)
    report["notes"] = result.as_dict()
    if result.written:
        echo(f"notes: {result.written} written")
    for w in result.warnings:
        echo(f"notes warning: {w}")


def site_step(db: sqlite_utils.Database, settings: Settings, echo: Echo, report: dict[str, Any]) -> None:
    from .site import build

    result = build(db, settings)
    report["site"] = result.as_dict()
    if result.written:
        echo(f"site: {len(result.written)} files updated; {result.index}")


# Output steps after scan and organize, in order: the site last, as it shows the notes.
SYNC_STEPS: list[Callable[[sqlite_utils.Database, Settings, Echo, dict[str, Any]], None]] = [notes_step, site_step]


def run(db: sqlite_utils.Database, settings: Settings, echo: Echo = lambda _m: None,
        progress: ProgressFn | None = None) -> dict[str, Any]:
    """One sync pass; the caller holds the catalog lock. Returns a JSON-able report."""
    started = time.perf_counter()
    report: dict[str, Any] = {}
    recovered = library.recover(db, settings)
    report["recovered"] = recovered.as_dict()
    scanned = scan(db, settings, progress=progress)
    report["scan"] = scanned.as_dict()
    organized = library.organize(db, settings, progress=progress)
    organized.recovered = recovered
    report["organize"] = {k: v for k, v in organized.as_dict().items() if k != "plan"}
    report["steps"] = []
    for step in SYNC_STEPS:
        name = getattr(step, "__name__", repr(step))
        step(db, settings, echo, report)
        report["steps"].append(name)
    report["ok"] = organized.ok and not scanned.rejected and not recovered.problems
    report["elapsed_s"] = round(time.perf_counter() - started, 3)
    return report
