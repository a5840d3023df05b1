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
# Output features append (db, settings, echo, report) callables here: notes, site.
SYNC_STEPS: list[Callable[[sqlite_utils.Database, Settings, Echo, dict[str, Any]], None]] = []


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
