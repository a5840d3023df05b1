"""The library's pipeline steps: finish interrupted moves (before the scan sees their
files), then file the quarantine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrocat.library import organize, recover
from astrocat.units import plural

if TYPE_CHECKING:
    from astrocat.pipeline import Run


def recover_step(ctx: Run) -> None:
    recovered = recover(ctx.db, ctx.settings)
    ctx.report["recovered"] = recovered.as_dict()
    ctx.results["recovered"] = recovered
    if recovered.finished or recovered.rolled_back:
        ctx.changed()
        ctx.echo(f"recovered {plural(recovered.finished + recovered.rolled_back, 'interrupted move')}")
    if recovered.problems:
        ctx.problem()


def organize_step(ctx: Run) -> None:
    # recovery already ran as its own step: once per pipeline
    result = organize(ctx.db, ctx.settings, progress=ctx.progress, recover_first=False)
    ctx.report["organize"] = {k: v for k, v in result.as_dict().items() if k not in ("plan", "recovered")}
    if result.moved or result.duplicates:
        ctx.changed()
        ctx.echo(f"organize: {plural(result.moved, 'frame')} filed into {ctx.settings.library}"
                 + (f", {plural(len(result.duplicates), 'duplicate')} set aside" if result.duplicates else ""))
    if not result.ok:
        ctx.problem()
