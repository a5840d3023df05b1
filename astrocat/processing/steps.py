"""The processing feature's pipeline step: links follow frames that organize re-filed."""

from __future__ import annotations

from astrocat.processing.sessions import repair_links
from astrocat.units import plural


def repair_links_step(ctx) -> None:  # noqa: ANN001 - astrocat.pipeline.Run
    result = repair_links(ctx.db, ctx.settings)
    ctx.report["processing_links"] = result
    if result["repaired"]:
        ctx.echo(f"processing: {plural(len(result['repaired']), 'link')} repointed to re-filed frames")
    if result["broken"]:
        ctx.echo(f"processing: {plural(len(result['broken']), 'link')} whose frame is gone: "
                 + ", ".join(result["broken"][:5]))
        ctx.problem()
