"""`astrocat organize` (quarantine into the library) and `astrocat purge-duplicates`."""

from __future__ import annotations

import typer

from astrocat import features
from astrocat.cli import output
from astrocat.cli.app import (
    EXIT_OK, EXIT_PROBLEMS, app, check_pattern, locked, open_db, print_recovered, progress_bar, settings,
)


@app.command()
def organize(
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Print the plan; change nothing."),
    relayout: bool = typer.Option(False, "--relayout", help="Re-file library frames after you changed naming_pattern."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (with --dry-run: the plan) as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """File cataloged quarantine frames into the library by the naming pattern, safely.

    Every move is journaled, verified (sha256) and never overwrites: a taken name gets the
    next sequence number. Content already in the library goes to `quarantine/_duplicates/`.
    Calibration frames of a night with no lights yet wait until that night is over.
    Run `astrocat scan` first (or use `astrocat sync`). See docs/organize.md.

    Exit code: 0 all moved, 1 some frames were not moved (each named with the reason),
    2 usage or bad naming pattern, 3 another astrocat process holds the catalog.

    Examples: `astrocat organize --dry-run` · `astrocat organize` ·
    `astrocat organize --relayout --dry-run --json`
    """
    from astrocat import library

    s = settings()
    check_pattern(s)
    with locked(s, "organize"), open_db(s) as db:
        with progress_bar(quiet or as_json or dry_run, "Organizing") as progress:
            result = library.organize(db, s, dry_run=dry_run, relayout=relayout, progress=progress)
        repairs = _repair_processing_links(db, s) if result.moved and not dry_run else None
    code = EXIT_OK if result.ok else EXIT_PROBLEMS
    if as_json:
        output.print_json({**result.as_dict(), **({"processing_links": repairs} if repairs else {})})
        raise typer.Exit(code)
    print_recovered(result.recovered)
    p = result.plan
    if dry_run:
        rows = [
            {"action": i.action, "source": i.src, "to": i.dst or i.reason or "", "method": i.method or ""}
            for i in p.items
        ]
        output.print_table(rows, [("action", "action"), ("source", "source"), ("to", "destination / reason"),
                                  ("method", "method")],
                           title=f"plan: {p.count('file') + p.count('relayout')} to file, "
                                 f"{output.plural(p.count('duplicate'), 'duplicate')}, "
                                 f"{p.count('hold')} held, {p.count('skip')} skipped (dry run: nothing changed)",
                           drop=("method",), shrink=("source", "to"))
        raise typer.Exit(EXIT_OK)
    for d in result.duplicates[:20]:
        # one path a line: each stays whole (and copyable) in a narrow terminal
        output.info(f"duplicate {d['path']}\n  same content as {d['same_as']}\n  moved to {d['moved_to']}")
    held, filed_bytes = p.count("hold"), result.bytes_moved - result.bytes_duplicates
    n_dup = len(result.duplicates)
    output.info(
        f"{'re-filed' if relayout else 'organized'} {output.plural(result.moved, 'frame')}"
        + (f" ({output.human_bytes(filed_bytes)})" if result.moved else "")
        + f" in {result.elapsed_s:.2f} s"
        + (f", {output.plural(n_dup, 'duplicate')} ({output.human_bytes(result.bytes_duplicates)}) set aside in "
           f"{library.DUPLICATES_DIR}/" if n_dup else "")
        + (f", {output.plural(held, 'calibration frame')} held until their night is over" if held else "")
        + (f", {p.count('skip')} skipped" if p.count("skip") else "")
    )
    for w in result.warnings:
        output.info(f"warning: {w['path']}: {w['reason']}")
    _print_link_repairs(repairs)
    for f in result.failed[:20]:
        output.error(f"{f['path']}: not moved: {f['reason']}")
    if len(result.failed) > 20:
        output.error(f"... and {len(result.failed) - 20} more not moved (`astrocat organize --json` lists all)")
    if result.stopped:
        output.error(f"stopped: {result.stopped}; {output.plural(result.not_attempted, 'more frame')} left in quarantine")
    raise typer.Exit(code)


def _repair_processing_links(db, s) -> dict | None:  # noqa: ANN001 - the catalog, Settings
    """Processing sessions' symlinks follow the frames organize just re-filed."""
    if "processing" not in {f.name for f in features.built()}:
        return None
    from astrocat.processing.sessions import repair_links

    return repair_links(db, s)


def _print_link_repairs(r: dict | None) -> None:
    if not r:
        return
    if r["repaired"]:
        output.info(f"repaired {output.plural(len(r['repaired']), 'processing session link')} to re-filed frames")
    for b in r["broken"]:
        output.error(f"processing link {b}: its frame's file is gone")


@app.command("purge-duplicates")
def purge_duplicates(
    confirm: bool = typer.Option(False, "--confirm", help="Really delete. Without it, only list."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Delete files in `quarantine/_duplicates/` whose identical copy is in the library.

    Both copies are re-hashed first; a duplicate whose library copy is missing or differs
    is kept. Without `--confirm` this is a dry run that lists what would go.

    Exit code: 0 done (or nothing to do), 1 some duplicates were kept, 3 catalog locked.

    Examples: `astrocat purge-duplicates` · `astrocat purge-duplicates --confirm`
    """
    from astrocat import library

    s = settings()
    with locked(s, "purge-duplicates"), open_db(s) as db:
        result = library.purge_duplicates(db, s, confirm=confirm)
    code = EXIT_PROBLEMS if result["kept"] else EXIT_OK
    if as_json:
        output.print_json(result)
        raise typer.Exit(code)
    done = result["deleted"] if confirm else result["would_delete"]
    for d in done:
        output.info(f"{'deleted' if confirm else 'would delete'} {d['path']} (same as {d['same_as']})")
    for k in result["kept"]:
        output.error(f"{k['path']}: kept: {k['reason']}")
    verb = "deleted" if confirm else "would delete (dry run; add --confirm)"
    output.info(f"{verb}: {output.plural(len(done), 'duplicate')}, {output.human_bytes(result['bytes'])}")
    raise typer.Exit(code)
