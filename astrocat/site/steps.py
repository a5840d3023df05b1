"""The site's pipeline step: last, as it shows what the other steps produced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrocat.site import build
from astrocat.units import plural

if TYPE_CHECKING:
    from astrocat.pipeline import Run


def site_step(ctx: Run) -> None:
    opts = ctx.options
    result = build(ctx.db, ctx.settings, opts.get("out"), thumbnails=opts.get("thumbnails", True),
                   full=opts.get("full", False), force=opts.get("force", False), progress=ctx.progress)
    ctx.report["site"] = result.as_dict()
    ctx.results["site"] = result
    if result.thumb_failures:  # the site is built, but some frames have no preview
        ctx.problem()
    if result.written:
        ctx.echo(f"site: {plural(len(result.written), 'file')} updated, "
                 f"{plural(result.thumbs_rendered, 'thumbnail')} rendered; "
                 f"open {result.index}")
