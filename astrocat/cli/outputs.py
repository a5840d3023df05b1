"""What the catalog is shown as: `astrocat notes` (Obsidian), `astrocat build` (the static
site) and `astrocat datasette` (a local server)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer

from astrocat import catalog
from astrocat.cli import output
from astrocat.cli.app import (
    EXIT_CATALOG, EXIT_LOCKED, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, app, fail, locked, open_db, progress_bar, settings,
)
from astrocat.lock import LockBusy


@app.command()
def notes(
    recreate: bool = typer.Option(False, "--recreate", help="Write notes you deleted again."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be written; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write Obsidian notes for imaging sessions, targets and processing sessions.

    Under the notes folder: `Imaging_Sessions/YEAR/<session>.md`, `Targets/<target>.md`,
    `Processing_Sessions/<id>.md`. astrocat only rewrites the text between its
    `%% astrocat:begin %%` / `%% astrocat:end %%` markers and the frontmatter keys
    it owns; everything you write is kept, and read back into the catalog (searchable
    in Datasette, shown on the site). Unchanged notes are not rewritten; notes you
    deleted stay deleted unless `--recreate`; a note whose markers you removed is
    left alone with a warning.

    Exit code: 0 when every note is up to date, 1 when some were left alone (see the
    warnings), 2 for usage or config errors, 3 when another astrocat process holds
    the catalog, 4 when the catalog cannot be opened.

    Examples: `astrocat notes` · `astrocat notes --dry-run --json` · `astrocat notes --recreate`
    """
    from astrocat.notes import write_notes

    s = settings()
    if s.notes.exists() and not s.notes.is_dir():
        raise fail(f"{s.notes}: the notes folder is a file; fix paths.notes in {s.config_path}", EXIT_USAGE)
    with locked(s, "notes"), open_db(s) as db:
        with progress_bar(quiet or as_json, "Notes") as progress:
            result = write_notes(db, s, recreate=recreate, dry_run=dry_run, progress=progress)
    if as_json:
        output.print_json(result.as_dict())
    else:
        verb = "would write" if dry_run else "wrote"
        output.info(
            f"{verb} {output.plural(result.written, 'note')} in {result.notes_folder} ({len(result.created)} new, "
            f"{len(result.updated)} updated), {result.unchanged} unchanged, "
            f"{len(result.skipped_deleted)} deleted by you and skipped, "
            f"{result.with_user_text} with your own text ({result.elapsed_s:.2f} s)"
        )
        if result.skipped_deleted:
            output.info("  notes you deleted stay deleted; `astrocat notes --recreate` writes them again")
        for w in result.warnings:
            output.info(f"  warning: {w}")
    raise typer.Exit(EXIT_PROBLEMS if result.left_alone or result.warnings else EXIT_OK)


@app.command()
def build(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the site (default: paths.site in astrocat.toml).", metavar="DIR"),
    open_: bool = typer.Option(False, "--open", help="Open index.html in your web browser afterwards."),
    thumbnails: bool = typer.Option(True, "--thumbnails/--no-thumbnails", help="Render stretched previews of light frames (cached by content hash)."),
    full: bool = typer.Option(False, "--full", help="Re-render every page, ignoring the manifest (still writes only files whose bytes changed)."),
    force: bool = typer.Option(False, "--force", help="Build into a non-empty --out folder that holds no astrocat site."),
    notes: bool = typer.Option(True, "--notes/--no-notes", help="Write the Obsidian notes first (astrocat notes), so the site shows your latest text."),
    as_json: bool = typer.Option(False, "--json", help="Print the build summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render the catalog as a static website: dashboard, sessions, targets, file explorer, charts.

    The site is self-contained (no CDN, no server): open `index.html` from disk or copy
    the folder to any static host. Builds are incremental: a page is rewritten only when
    what it shows changed, so a rebuild with nothing new writes no file.

    Exit codes: 0 built; 1 built, but some thumbnails could not be rendered (listed);
    2 bad --out folder or config; 3 another build is writing the same folder; 4 no catalog.

    Examples: `astrocat build --open` · `astrocat build --out /var/www/astro --no-thumbnails --json`
    """
    from astrocat import pipeline
    from astrocat import site as site_mod

    s = settings()
    if not s.catalog.exists():
        raise fail(f"{s.catalog}: no catalog yet; run `astrocat scan` first", EXIT_CATALOG)
    # The notes first (the site shows the text the user wrote in them); writing them needs
    # the lock. Without notes the site is built from a read-only snapshot, beside a scan.
    guard = locked(s, "build") if notes else contextlib.nullcontext()
    with guard, open_db(s, readonly=not notes) as db:
        with progress_bar(quiet or as_json, "Building") as progress:
            try:
                ran = pipeline.run(db, s, "build", echo=(lambda m: None) if as_json else output.info,
                                   progress=progress, skip=() if notes else ("notes",), out=out,
                                   thumbnails=thumbnails, full=full, force=force)
            except site_mod.SiteBusy as exc:
                raise fail(str(exc), EXIT_LOCKED) from None
            except site_mod.SiteError as exc:
                raise fail(str(exc), EXIT_USAGE) from None
    notes_warnings = ran.report.get("notes", {}).get("warnings", [])
    result = ran.results["site"]
    if as_json:
        output.print_json(result.as_dict())
    else:
        data = result.as_dict()
        output.info(
            f"built {output.plural(data['files'], 'file')} in {data['elapsed_s']:.2f} s: {data['written']} written, "
            f"{data['unchanged']} unchanged, {data['removed']} removed; thumbnails: "
            f"{data['thumbnails_rendered']} rendered, {data['thumbnails_cached']} cached"
        )
        for reason in result.thumb_failures[:10]:
            output.info(f"  no thumbnail: {reason}")
        output.info(f"open {result.index}")
    if open_:
        import webbrowser

        webbrowser.open(result.index.as_uri())
    raise typer.Exit(EXIT_PROBLEMS if result.thumb_failures or notes_warnings else EXIT_OK)


@app.command()
def datasette(
    port: Optional[int] = typer.Option(
        None, "--port", "-p", min=1, max=65535, help="Port (default: from [datasette] url in astrocat.toml, i.e. 8001)."
    ),
    host: Optional[str] = typer.Option(
        None, "--host", help="Address to listen on (default: from the url, i.e. 127.0.0.1: this computer only)."
    ),
    open_browser: bool = typer.Option(False, "--open", "-o", help="Open it in your web browser."),
    rebuild_search: bool = typer.Option(
        False, "--rebuild-search", help="Rebuild the full-text search indexes first (after editing the catalog by hand)."
    ),
) -> None:
    """Explore the catalog in Datasette: search, facets, canned queries, SQL. Read-only.

    Serves the catalog with astrocat's metadata (descriptions, facets, canned queries
    such as integration by target and filter; see docs/datasette.md) until Ctrl-C. The site's "open in Datasette"
    links use the `[datasette] url` of astrocat.toml, which is also the default address.

    Exit codes: 0 stopped; 2 address in use or metadata broken; 3 another astrocat process
    holds the catalog (with --rebuild-search); 4 no catalog or not a catalog.

    Examples: `astrocat datasette --open` · `astrocat datasette --port 8002`
    """
    from astrocat.datasette import app as datasette_app

    s = settings()
    try:
        code = datasette_app.serve(
            s, host=host, port=port, open_browser=open_browser, rebuild_search=rebuild_search, echo=output.info
        )
    except datasette_app.DatasetteError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except catalog.CatalogError as exc:
        raise fail(str(exc), EXIT_CATALOG) from None
    except LockBusy as exc:
        raise fail(str(exc), EXIT_LOCKED) from None
    raise typer.Exit(code)
