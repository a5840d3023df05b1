"""The backup step of `sync` (and of a demo given a local S3 server): upload when `[backup]`
is configured with `in_sync = true`."""

from __future__ import annotations

from astrocat.backup.client import BackupError, connect
from astrocat.units import human_bytes, plural


def backup_step(ctx) -> None:  # noqa: ANN001 - astrocat.pipeline.Run
    b = ctx.settings.backup
    if ctx.pipeline not in ("sync", "demo") or b is None or not b.in_sync or ctx.options.get("dry_run"):
        return
    from astrocat.backup.upload import upload

    try:
        result = upload(ctx.db, ctx.settings, connect(b))
    except BackupError as exc:
        ctx.report["backup"] = {"error": str(exc)}
        ctx.echo(f"backup: {exc}")
        ctx.problem()
        return
    ctx.report["backup"] = result.as_dict()
    ctx.results["backup"] = result
    if result.uploaded or result.found:
        ctx.echo(f"backup: uploaded {plural(result.uploaded, 'file')} ({human_bytes(result.bytes_sent)}) "
                 f"to bucket {b.bucket}")
    for p in result.problems + result.changed:
        ctx.echo(f"backup: {p['path']}: {p['reason']}")
    if result.problems or result.changed:
        ctx.problem()
