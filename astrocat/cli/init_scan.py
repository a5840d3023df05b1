"""`astrocat init` (a new library) and `astrocat scan` (headers into the catalog)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from astrocat.cli import output
from astrocat.cli.app import (
    EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, app, fail, locked, open_db, print_recovered, progress_bar, settings,
)
from astrocat.config import ConfigError, load, write_default


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Folder for the new library."),
    timezone: Optional[str] = typer.Option(None, help="IANA timezone, e.g. Europe/Brussels (default: this computer's)."),
) -> None:
    """Create DIR/astrocat.toml and the folders it names (quarantine, library, ...).

    Example: `astrocat init ~/astro --timezone Europe/Brussels`
    """
    try:
        path = write_default(directory, timezone)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    s = load(path)
    with open_db(s):  # creates the catalog, so a broken one shows now rather than at the first scan
        pass
    output.info(f"created {path}")
    for name in ("quarantine", "library", "processing", "notes", "site"):
        output.info(f"  {name:<11} {getattr(s, name)}")
    output.info(f"  {'catalog':<11} {s.catalog}")
    # nights of frames without a local time or site longitude follow this zone: show it
    how = "as given" if timezone else "this computer's; change [observatory] timezone if it is wrong"
    output.info(f"  {'timezone':<11} {s.timezone} ({how})")
    output.info("Next: copy frames into the quarantine folder, then run `astrocat scan`.")


@app.command()
def scan(
    paths: list[Path] = typer.Argument(None, help="Files or folders (default: quarantine and library)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    full: bool = typer.Option(False, "--full", help="Re-read every file, changed or not (after editing aliases in astrocat.toml)."),
) -> None:
    """Read new and changed files' headers into the catalog. Never modifies a file.

    Unchanged files (same size and mtime) are not opened, unless `--full`; a file read again
    counts as changed only when its content (sha256) or its catalog fields differ. Unreadable or
    non-FITS files are recorded in `rejects` with the reason and the run goes on. Moves interrupted by a
    crash are finished or rolled back first.

    Exit code: 0 when nothing was rejected, 1 when some files were (see
    `astrocat list rejects`) or an interrupted move could not be recovered, 2 for usage
    or config errors, 3 when another astrocat process holds the catalog.

    Examples: `astrocat scan` · `astrocat scan /mnt/usb/2024-11-01 --json` · `astrocat scan --full`
    """
    from astrocat import pipeline

    s = settings()
    for p in paths or []:
        if not p.exists() and not p.is_symlink():
            raise fail(f"{p}: no such file or folder", EXIT_USAGE)
    with locked(s, "scan"), open_db(s) as db:
        with progress_bar(quiet or as_json, "Scanning") as progress:
            ran = pipeline.run(db, s, "scan", progress=progress, scan_paths=list(paths) if paths else None,
                               scan_full=full)
    result, recovered = ran.results["scan"], ran.results["recovered"]
    if as_json:
        output.print_json({**result.as_dict(), "recovered": recovered.as_dict()})
    else:
        print_recovered(recovered)
        output.info(
            f"scanned {output.plural(result.seen, 'file')} in {result.elapsed_s:.2f} s: {result.new} new, "
            f"{result.changed} changed, {result.unchanged} unchanged, {result.missing} missing, "
            f"{output.plural(result.duplicates, 'duplicate')}, {result.rejected} rejected"
        )
        if result.waiting:
            n = result.waiting
            output.info(f"{output.plural(n, 'file')} still being written, left for the next run")
        for r in result.rejects[:20]:
            output.info(f"  rejected {r['path']}: {r['reason']}")
        if len(result.rejects) > 20:
            output.info(f"  ... and {len(result.rejects) - 20} more: `astrocat list rejects`")
        for d in result.duplicate_paths[:10]:
            output.info(f"  duplicate {d['path']}\n    same content as {', '.join(d['same_as'])}")
    raise typer.Exit(EXIT_OK if ran.report["ok"] else EXIT_PROBLEMS)
