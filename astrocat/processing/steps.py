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


def demo_session_step(ctx) -> None:  # noqa: ANN001 - astrocat.pipeline.Run
    """The demo's processing session: its most-imaged target, matched and linked, so a new
    user sees a session folder, its note, its page and the gap report."""
    from astrocat.catalog.counts import integrates
    from astrocat.processing.sessions import ProcessingError, create, exists, slug

    row = ctx.db.execute(
        f"SELECT target FROM frames WHERE {integrates()} AND target IS NOT NULL "
        "GROUP BY target ORDER BY SUM(exposure_s) DESC, target LIMIT 1").fetchone()
    if not row:
        return
    name = f"{row[0]} first look"
    if exists(ctx.db, slug(name)):
        ctx.report["demo_processing"] = {"id": slug(name), "created": False}
        return
    try:
        result = create(ctx.db, ctx.settings, name, target=row[0])
    except ProcessingError as exc:
        ctx.echo(f"processing: demo session not made: {exc}")
        ctx.problem()
        return
    calibrated = sum(1 for g in result.groups if g.calibrated)
    ctx.report["demo_processing"] = {"id": result.id, "created": True, "problems": result.problems}
    ctx.echo(f"processing: {result.folder} links {plural(sum(1 for p in result.links if p.role == 'light'), 'light')} "
             f"and their calibration ({calibrated} of {plural(len(result.groups), 'light group')} fully calibrated)")
    if result.problems:
        ctx.problem()


def outputs_step(ctx) -> None:  # noqa: ANN001 - astrocat.pipeline.Run
    """Catalog what was saved in processing sessions' intermediate/ and final/ (a scan of
    given paths leaves them alone)."""
    from astrocat.processing.outputs import scan_outputs

    if ctx.options.get("scan_paths"):
        return
    result = scan_outputs(ctx.db, ctx.settings)
    ctx.report["processing_outputs"] = {k: len(v) for k, v in result.items()}
    if result["added"] or result["changed"] or result["gone"]:
        ctx.changed()
        ctx.echo(f"processing outputs: {len(result['added'])} new, {len(result['changed'])} changed, "
                 f"{len(result['gone'])} gone")
