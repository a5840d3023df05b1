"""The one pipeline: `sync`, `demo` and `build` run the registered steps in order
(`scan` runs only the first two).

Steps come from the feature registry (`astrocat.features`): recover interrupted
moves, scan, organize, notes, then the site last (it shows what the others made).
Each step gets a `Run` and writes its part of the JSON-able report. The caller holds
the catalog lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from astrocat import features
from astrocat.config import Settings
from astrocat.progress import ProgressFn

Echo = Callable[[str], None]


@dataclass
class Run:
    """What every step gets: the catalog, the settings, where to print, the report."""

    db: Any
    settings: Settings
    pipeline: str
    echo: Echo = lambda _m: None
    progress: ProgressFn | None = None
    options: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=lambda: {"ok": True, "changed": False})
    results: dict[str, Any] = field(default_factory=dict)  # steps' result objects, for the caller

    def problem(self) -> None:
        """The run finished, but something was rejected, not moved or not rendered."""
        self.report["ok"] = False

    def changed(self) -> None:
        """The run changed the catalog or moved files (what `sync --quiet` reports)."""
        self.report["changed"] = True


def run(db: Any, settings: Settings, pipeline: str = "sync", *, echo: Echo = lambda _m: None,
        progress: ProgressFn | None = None, skip: Collection[str] = (), **options: Any) -> Run:
    """Run one pipeline's steps (less `skip`); `.report` is the JSON-able report."""
    started = time.perf_counter()
    ctx = Run(db, settings, pipeline, echo, progress, options)
    ctx.report["steps"] = []
    for step in features.steps(pipeline):
        if step.name in skip:
            continue
        features.resolve(step.run)(ctx)
        ctx.report["steps"].append(step.name)
    ctx.report["elapsed_s"] = round(time.perf_counter() - started, 3)
    return ctx
