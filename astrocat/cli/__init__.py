"""The `astrocat` command line: parse options, call one function, print.

Exit codes (docs/cli.md): 0 success; 1 the command finished but found problems
(rejected files, failed checks); 2 usage or configuration error; 3 another
astrocat process holds the catalog lock; 4 the catalog cannot be opened.
"""

from __future__ import annotations

import contextlib
import os
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator, Optional

import typer

from astrocat import catalog
from astrocat.cli import output
from astrocat.config import ConfigError, Settings, find_config, load, write_default
from astrocat.lock import LockBusy, catalog_lock

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_LOCKED, EXIT_CATALOG = 0, 1, 2, 3, 4

app = typer.Typer(
    name="astrocat",
    help=(
        "Catalog, file and back up your astrophotography frames.\n\n"
        "The daily loop: frames land in the quarantine folder, `astrocat scan` reads their "
        "headers into the catalog, `astrocat list` and `astrocat stats` answer questions.\n\n"
        "Examples:\n\n"
        "  astrocat demo                      # a sample library in ./astrocat-demo\n\n"
        "  astrocat init ~/astro && cd ~/astro\n\n"
        "  astrocat scan\n\n"
        "  astrocat stats by-target --target M31 --filter Ha"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)
list_app = typer.Typer(
    help="List files, sessions, targets, equipment, duplicates and rejects, with filters.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
stats_app = typer.Typer(
    help="Frames, integration hours and storage: summary, by target, filter, month, equipment.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(list_app, name="list")
app.add_typer(stats_app, name="stats")


class State:
    config: Optional[str] = None


state = State()


@app.callback()
def _main(
    config: Optional[str] = typer.Option(
        None, "--config", "-c", help="Path to astrocat.toml (else $ASTROCAT_CONFIG, else search upwards).",
        metavar="FILE",
    ),
) -> None:
    state.config = config


def fail(message: str, code: int) -> "typer.Exit":
    output.error(message)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return load(find_config(state.config))
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


@contextmanager
def open_db(s: Settings, readonly: bool = False) -> Iterator["catalog.sqlite_utils.Database"]:
    try:
        db = catalog.open_catalog(s.catalog, readonly=readonly and s.catalog.exists())
    except catalog.CatalogError as exc:
        raise fail(str(exc), EXIT_CATALOG) from None
    try:
        yield db
    finally:
        db.conn.close()


@contextmanager
def locked(s: Settings, command: str) -> Iterator[None]:
    try:
        with catalog_lock(s.catalog, command):
            yield
    except LockBusy as exc:
        raise fail(str(exc), EXIT_LOCKED) from None


# --- init / scan ----------------------------------------------------------------------


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
    with open_db(s):
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

    Unchanged files (same size and mtime) are not opened, unless `--full`. Unreadable or non-FITS files
    are recorded in `rejects` with the reason and the run goes on. Files changed less than
    `[scan] settle_s` seconds ago (default 30) may still be being written: they are left for the next run.

    Exit code: 0 when nothing was rejected, 1 when some files were (see
    `astrocat list rejects`), 2 for usage or config errors, 3 when another astrocat
    process holds the catalog.

    Examples: `astrocat scan` · `astrocat scan /mnt/usb/2024-11-01 --json` · `astrocat scan --full`
    """
    from astrocat.ingest.scan import scan as run_scan

    s = settings()
    for p in paths or []:
        if not p.exists() and not p.is_symlink():
            raise fail(f"{p}: no such file or folder", EXIT_USAGE)
    from astrocat.library import recover

    with locked(s, "scan"), open_db(s) as db:
        recovered = recover(db, s)  # moves a crash interrupted are finished or rolled back first
        with _progress(quiet or as_json, "Scanning") as progress:
            result = run_scan(db, s, list(paths) if paths else None, progress=progress, full=full)
    if as_json:
        output.print_json({**result.as_dict(), "recovered": recovered.as_dict()})
    else:
        _print_recovered(recovered)
        output.info(
            f"scanned {result.seen} files in {result.elapsed_s:.2f} s: {result.new} new, "
            f"{result.changed} changed, {result.unchanged} unchanged, {result.missing} missing, "
            f"{result.duplicates} duplicates, {result.rejected} rejected"
        )
        if result.waiting:
            n = result.waiting
            output.info(f"{n} file{'s' if n != 1 else ''} still being written, left for the next run")
        for r in result.rejects[:20]:
            output.info(f"  rejected {r['path']}: {r['reason']}")
        if len(result.rejects) > 20:
            output.info(f"  ... and {len(result.rejects) - 20} more: `astrocat list rejects`")
        for d in result.duplicate_paths[:10]:
            output.info(f"  duplicate {d['path']} = {', '.join(d['same_as'])}")
    raise typer.Exit(EXIT_PROBLEMS if result.rejected else EXIT_OK)


@contextmanager
def _progress(disabled: bool, label: str):
    """An update(done, total, path) callback drawing a progress bar on stderr, or None.

    The bar (and rich's refresh thread) starts at the first update, so that a scan
    can fork its worker processes before any thread exists."""
    if disabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=output.err_console, transient=True,
    )
    task = None

    def update(done: int, total: int, _path: str) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(label, total=total)
        if done == 1 or done % 25 == 0 or done == total:
            bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()


# --- list -------------------------------------------------------------------------------

FILE_COLUMNS = [
    ("path", "path"), ("frame_type", "type"), ("target", "target"), ("filter", "filter"),
    ("exposure_s", "exp s"), ("night", "night"), ("camera", "camera"), ("telescope", "telescope"),
]


def _filters(
    target: Optional[str], filter_: Optional[str], frame_type: Optional[str], night: Optional[str],
    date_from: Optional[str], date_to: Optional[str], year: Optional[int], camera: Optional[str],
    telescope: Optional[str], session: Optional[str],
) -> catalog.FrameFilter:
    for label, value in (("--night", night), ("--from", date_from), ("--to", date_to)):
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise fail(f"{label} {value!r}: expected a date like 2024-11-01", EXIT_USAGE) from None
    if frame_type and frame_type.lower() not in ("light", "dark", "flat", "bias", "darkflat", "unknown"):
        raise fail(f"--type {frame_type!r}: expected light, dark, flat, bias, darkflat or unknown", EXIT_USAGE)
    return catalog.FrameFilter(
        target=target, filter=filter_, frame_type=frame_type.lower() if frame_type else None,
        night=night, date_from=date_from, date_to=date_to, year=year, camera=camera,
        telescope=telescope, session=session,
    )


# Shared filter options (typer reads defaults from these objects).
_T = typer.Option(None, "--target", help="Target name, e.g. M31.", metavar="NAME")
_F = typer.Option(None, "--filter", help="Filter name, e.g. Ha.", metavar="NAME")
_TY = typer.Option(None, "--type", help="light, dark, flat, bias, darkflat, unknown.", metavar="TYPE")
_N = typer.Option(None, "--night", "--date", help="Night (YYYY-MM-DD: the evening's date).", metavar="DATE")
_FR = typer.Option(None, "--from", help="First night (inclusive).", metavar="DATE")
_TO = typer.Option(None, "--to", help="Last night (inclusive).", metavar="DATE")
_Y = typer.Option(None, "--year", help="Year of the night.", metavar="YEAR")
_C = typer.Option(None, "--camera", help="Camera name.", metavar="NAME")
_TE = typer.Option(None, "--telescope", help="Telescope name.", metavar="NAME")
_S = typer.Option(None, "--session", help="Session id.", metavar="ID")
_L = typer.Option(None, "--limit", min=1, help="At most this many rows (default: all).", metavar="N")
_J = typer.Option(False, "--json", help="Print a JSON array.")


@list_app.command("files")
def list_files(
    target: Optional[str] = _T, filter_: Optional[str] = _F, frame_type: Optional[str] = _TY,
    night: Optional[str] = _N, date_from: Optional[str] = _FR, date_to: Optional[str] = _TO,
    year: Optional[int] = _Y, camera: Optional[str] = _C, telescope: Optional[str] = _TE,
    session: Optional[str] = _S, limit: Optional[int] = _L, as_json: bool = _J,
) -> None:
    """Cataloged frames. `--json` prints every field of DESIGN.md per frame.

    Examples: `astrocat list files --target M31 --filter Ha` ·
    `astrocat list files --type flat --night 2024-11-01 --json`
    """
    flt = _filters(target, filter_, frame_type, night, date_from, date_to, year, camera, telescope, session)
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_frames(db, flt, limit)
    if as_json:
        output.print_json(rows)
    else:
        output.print_table(rows, FILE_COLUMNS, title=f"{len(rows)} frames")


@list_app.command("sessions")
def list_sessions(
    target: Optional[str] = _T, filter_: Optional[str] = _F, frame_type: Optional[str] = _TY,
    night: Optional[str] = _N, date_from: Optional[str] = _FR, date_to: Optional[str] = _TO,
    year: Optional[int] = _Y, camera: Optional[str] = _C, telescope: Optional[str] = _TE,
    session: Optional[str] = _S, limit: Optional[int] = _L, as_json: bool = _J,
) -> None:
    """Imaging sessions (night + camera + telescope), newest first.

    Example: `astrocat list sessions --year 2024 --target M31`
    """
    flt = _filters(target, filter_, frame_type, night, date_from, date_to, year, camera, telescope, session)
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_sessions(db, flt, limit)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["integration"] = output.hours(r["integration_s"])
    output.print_table(
        rows,
        [("id", "session"), ("targets", "targets"), ("lights", "lights"), ("integration", "integration"),
         ("filters", "filters"), ("darks", "darks"), ("flats", "flats"), ("biases", "bias"),
         ("darkflats", "dark-flats"), ("ccd_temp_mean", "°C")],
        title=f"{len(rows)} sessions",
    )


@list_app.command("targets")
def list_targets(
    target: Optional[str] = _T, filter_: Optional[str] = _F, night: Optional[str] = _N,
    date_from: Optional[str] = _FR, date_to: Optional[str] = _TO, year: Optional[int] = _Y,
    camera: Optional[str] = _C, telescope: Optional[str] = _TE, session: Optional[str] = _S,
    limit: Optional[int] = _L, as_json: bool = _J,
) -> None:
    """Targets with total integration (light frames), filters and first/last night.

    Example: `astrocat list targets --year 2024`
    """
    flt = _filters(target, filter_, None, night, date_from, date_to, year, camera, telescope, session)
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_targets(db, flt, limit)
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        rows,
        [("name", "target"), ("integration_h", "hours"), ("frames", "lights"), ("filters", "filters"),
         ("nights", "nights"), ("first_night", "first"), ("last_night", "last")],
        title=f"{len(rows)} targets",
    )


def _list_values(column: str, title: str, flt: catalog.FrameFilter, limit: Optional[int], as_json: bool) -> None:
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_values(db, column, flt, limit)
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        rows,
        [("name", column), ("frames", "frames"), ("integration_h", "light hours"), ("nights", "nights"),
         ("first_night", "first"), ("last_night", "last")],
        title=title,
    )


@list_app.command("cameras")
def list_cameras(
    year: Optional[int] = _Y, target: Optional[str] = _T, limit: Optional[int] = _L, as_json: bool = _J,
) -> None:
    """Cameras (INSTRUME, after your aliases) with frame counts. Example: `astrocat list cameras`"""
    _list_values("camera", "cameras", catalog.FrameFilter(year=year, target=target), limit, as_json)


@list_app.command("telescopes")
def list_telescopes(
    year: Optional[int] = _Y, target: Optional[str] = _T, limit: Optional[int] = _L, as_json: bool = _J,
) -> None:
    """Telescopes (TELESCOP, mounts excluded, after your aliases). Example: `astrocat list telescopes`"""
    _list_values("telescope", "telescopes", catalog.FrameFilter(year=year, target=target), limit, as_json)


@list_app.command("filters")
def list_filter_names(
    year: Optional[int] = _Y, target: Optional[str] = _T, camera: Optional[str] = _C,
    limit: Optional[int] = _L, as_json: bool = _J,
) -> None:
    """Filters (canonical names) with frame counts. Example: `astrocat list filters --target M31`"""
    _list_values("filter", "filters", catalog.FrameFilter(year=year, target=target, camera=camera), limit, as_json)


@list_app.command("duplicates")
def list_duplicates(limit: Optional[int] = _L, as_json: bool = _J) -> None:
    """Identical content (same sha256) cataloged at more than one path.

    Example: `astrocat list duplicates --json`
    """
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_duplicates(db, limit)
    if as_json:
        output.print_json(rows)
        return
    output.print_table(rows, [("sha256", "sha256"), ("copies", "copies"), ("size", "bytes"), ("paths", "paths")],
                       title=f"{len(rows)} duplicated contents")


@list_app.command("rejects")
def list_rejects(limit: Optional[int] = _L, as_json: bool = _J) -> None:
    """Files the scan could not catalog, with the reason. Example: `astrocat list rejects`"""
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_rejects(db, limit)
    if as_json:
        output.print_json(rows)
        return
    output.print_table(rows, [("path", "path"), ("size", "bytes"), ("reason", "reason")], title=f"{len(rows)} rejected files")


# --- stats ------------------------------------------------------------------------------


def _stats_filter(target, filter_, night, date_from, date_to, year, camera, telescope) -> catalog.FrameFilter:
    return _filters(target, filter_, None, night, date_from, date_to, year, camera, telescope, None)


@stats_app.command("summary")
def stats_summary(
    target: Optional[str] = _T, filter_: Optional[str] = _F, night: Optional[str] = _N,
    date_from: Optional[str] = _FR, date_to: Optional[str] = _TO, year: Optional[int] = _Y,
    camera: Optional[str] = _C, telescope: Optional[str] = _TE, as_json: bool = _J,
) -> None:
    """Frames, light frames, integration hours, nights, sessions, targets, storage.

    Example ("how many hours of Ha on M31?"): `astrocat stats summary --target M31 --filter Ha`
    """
    flt = _stats_filter(target, filter_, night, date_from, date_to, year, camera, telescope)
    s = settings()
    with open_db(s, readonly=True) as db:
        data = catalog.stats_summary(db, flt)
    if as_json:
        output.print_json(data)
        return
    scope = " ".join(x for x in (target, filter_, str(year) if year else None) if x)
    output.info(
        f"{scope + ': ' if scope else ''}{data['integration_h']:.2f} h of light in {data['light_frames']} "
        f"frames over {data['nights']} night{'s' if data['nights'] != 1 else ''}"
    )
    output.info(
        f"{data['frames']} frames in all ({', '.join(f'{k} {v}' for k, v in sorted(data['frames_by_type'].items()))}), "
        f"{data['sessions']} sessions, {data['targets']} targets, {output.human_bytes(data['bytes'])}"
        + (f", {data['rejects']} rejected files" if data["rejects"] else "")
    )


def _grouped(group: str, title: str, flt: catalog.FrameFilter, as_json: bool) -> None:
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.stats_grouped(db, flt, group)
    if as_json:
        output.print_json(rows)
        return
    if len(rows) == 1 and group != "month":
        r = rows[0]
        nights = f"{r['nights']} night{'s' if r['nights'] != 1 else ''}"
        output.info(f"{r['name']}: {r['integration_h']:.2f} h in {r['light_frames']} light frames over {nights}")
        return
    output.print_table(
        rows,
        [("name", title), ("integration_h", "hours"), ("light_frames", "lights"), ("nights", "nights"),
         ("bytes", "bytes")],
    )


@stats_app.command("by-target")
def stats_by_target(
    target: Optional[str] = _T, filter_: Optional[str] = _F, date_from: Optional[str] = _FR,
    date_to: Optional[str] = _TO, year: Optional[int] = _Y, camera: Optional[str] = _C,
    telescope: Optional[str] = _TE, as_json: bool = _J,
) -> None:
    """Light integration per target. Example: `astrocat stats by-target --filter Ha`

    With one target and one filter it answers in one line:
    `astrocat stats by-target --target M31 --filter Ha` -> `M31: 12.50 h in 150 light frames over 4 nights`
    """
    _grouped("target", "target", _stats_filter(target, filter_, None, date_from, date_to, year, camera, telescope), as_json)


@stats_app.command("by-filter")
def stats_by_filter(
    target: Optional[str] = _T, filter_: Optional[str] = _F, date_from: Optional[str] = _FR,
    date_to: Optional[str] = _TO, year: Optional[int] = _Y, camera: Optional[str] = _C,
    telescope: Optional[str] = _TE, as_json: bool = _J,
) -> None:
    """Light integration per filter. Example: `astrocat stats by-filter --target M31`"""
    _grouped("filter", "filter", _stats_filter(target, filter_, None, date_from, date_to, year, camera, telescope), as_json)


@stats_app.command("by-month")
def stats_by_month(
    target: Optional[str] = _T, filter_: Optional[str] = _F, date_from: Optional[str] = _FR,
    date_to: Optional[str] = _TO, year: Optional[int] = _Y, camera: Optional[str] = _C,
    telescope: Optional[str] = _TE, as_json: bool = _J,
) -> None:
    """Light integration per month of the night. Example: `astrocat stats by-month --year 2024`"""
    _grouped("month", "month", _stats_filter(target, filter_, None, date_from, date_to, year, camera, telescope), as_json)


@stats_app.command("equipment")
def stats_equipment(
    target: Optional[str] = _T, year: Optional[int] = _Y, as_json: bool = _J,
) -> None:
    """Frames and integration per camera + telescope. Example: `astrocat stats equipment --year 2024`"""
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.stats_equipment(db, catalog.FrameFilter(target=target, year=year))
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        rows,
        [("camera", "camera"), ("telescope", "telescope"), ("frames", "frames"), ("light_frames", "lights"),
         ("integration_h", "hours"), ("nights", "nights"), ("bytes", "bytes")],
    )


# --- notes -------------------------------------------------------------------------------


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
        with _progress(quiet or as_json, "Notes") as progress:
            result = write_notes(db, s, recreate=recreate, dry_run=dry_run, progress=progress)
    if as_json:
        output.print_json(result.as_dict())
    else:
        verb = "would write" if dry_run else "wrote"
        output.info(
            f"{verb} {result.written} notes in {result.notes_folder} ({len(result.created)} new, "
            f"{len(result.updated)} updated), {result.unchanged} unchanged, "
            f"{len(result.skipped_deleted)} deleted by you and skipped, "
            f"{result.with_user_text} with your own text ({result.elapsed_s:.2f} s)"
        )
        if result.skipped_deleted:
            output.info("  notes you deleted stay deleted; `astrocat notes --recreate` writes them again")
        for w in result.warnings:
            output.info(f"  warning: {w}")
    raise typer.Exit(EXIT_PROBLEMS if result.left_alone or result.warnings else EXIT_OK)

# --- datasette ----------------------------------------------------------------------------


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

    Serves the catalog with datasette_metadata.yml (descriptions, facets, canned queries
    such as integration by target and filter) until Ctrl-C. The site's "open in Datasette"
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

# --- site --------------------------------------------------------------------------------


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
        with _progress(quiet or as_json, "Building") as progress:
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
            f"built {data['files']} files in {data['elapsed_s']:.2f} s: {data['written']} written, "
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

# --- organize, verify, validate, sync ----------------------------------------------------

verify_app = typer.Typer(
    help="Check files against the catalog (`files`) and the catalog itself (`database`). Never fixes or deletes.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(verify_app, name="verify")


def _check_pattern(s: Settings) -> None:
    from astrocat.rules.naming import PatternError, validate_pattern

    try:
        validate_pattern(s.naming_pattern)
    except PatternError as exc:
        raise fail(f"{s.config_path}: library.naming_pattern: {exc}", EXIT_USAGE) from None


def _print_recovered(rec) -> None:
    if rec.total:
        output.info(
            f"recovered {rec.total} interrupted move{'s' if rec.total != 1 else ''}: "
            f"{rec.finished} finished, {rec.rolled_back} rolled back"
        )
    for w in rec.warnings:
        output.info(f"warning: {w['path']}: {w['reason']}")
    for p in rec.problems:
        output.error(f"{p['path']}: {p['reason']}")


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
    _check_pattern(s)
    with locked(s, "organize"), open_db(s) as db:
        with _progress(quiet or as_json or dry_run, "Organizing") as progress:
            result = library.organize(db, s, dry_run=dry_run, relayout=relayout, progress=progress)
    code = EXIT_OK if result.ok else EXIT_PROBLEMS
    if as_json:
        output.print_json(result.as_dict())
        raise typer.Exit(code)
    _print_recovered(result.recovered)
    p = result.plan
    if dry_run:
        rows = [
            {"action": i.action, "source": i.src, "to": i.dst or i.reason or "", "method": i.method or ""}
            for i in p.items
        ]
        output.print_table(rows, [("action", "action"), ("source", "source"), ("to", "destination / reason"),
                                  ("method", "method")],
                           title=f"plan: {p.count('file') + p.count('relayout')} to file, {p.count('duplicate')} duplicates, "
                                 f"{p.count('hold')} held, {p.count('skip')} skipped (dry run: nothing changed)")
        raise typer.Exit(EXIT_OK)
    for d in result.duplicates[:20]:
        output.info(f"duplicate {d['path']} (same content as {d['same_as']}) moved to {d['moved_to']}")
    held = p.count("hold")
    output.info(
        f"{'re-filed' if relayout else 'organized'} {result.moved} frame{'s' if result.moved != 1 else ''} "
        f"({output.human_bytes(result.bytes_moved)}) in {result.elapsed_s:.2f} s"
        + (f", {len(result.duplicates)} duplicates to {library.DUPLICATES_DIR}/" if result.duplicates else "")
        + (f", {held} calibration frames held until their night is over" if held else "")
        + (f", {p.count('skip')} skipped" if p.count("skip") else "")
    )
    for w in result.warnings:
        output.info(f"warning: {w['path']}: {w['reason']}")
    for f in result.failed[:20]:
        output.error(f"{f['path']}: not moved: {f['reason']}")
    if len(result.failed) > 20:
        output.error(f"... and {len(result.failed) - 20} more not moved (`astrocat organize --json` lists all)")
    if result.stopped:
        output.error(f"stopped: {result.stopped}; {result.not_attempted} more frames left in quarantine")
    raise typer.Exit(code)


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
    output.info(f"{verb}: {len(done)} duplicates, {output.human_bytes(result['bytes'])}")
    raise typer.Exit(code)


@verify_app.command("files")
def verify_files(
    quick: bool = typer.Option(False, "--quick", help="Compare size and modification time only (no reading)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Re-hash every cataloged file; report missing, changed and uncataloged files.

    Reads only; never deletes, moves or fixes anything.

    Exit code: 0 every file is as cataloged and none is uncataloged, 1 problems found,
    2 config error, 4 catalog cannot be opened.

    Examples: `astrocat verify files` · `astrocat verify files --quick --json`
    """
    from astrocat.checks.verify import verify_files as run_verify

    s = settings()
    with open_db(s, readonly=True) as db:
        with _progress(quiet or as_json, "Verifying") as progress:
            report = run_verify(db, s, quick=quick, progress=progress)
    code = EXIT_OK if report["clean"] else EXIT_PROBLEMS
    if as_json:
        output.print_json(report)
        raise typer.Exit(code)
    for kind in ("missing", "changed", "unreadable"):
        for p in report[kind][:50]:
            output.info(f"{p['problem']}: {p['path']}: {p['detail']}")
    for path in report["uncataloged"][:50]:
        output.info(f"uncataloged: {path}")
    c = report["counts"]
    output.info(
        f"checked {report['checked']} files ({report['mode']}): {report['ok']} ok, {c['missing']} missing, "
        f"{c['changed']} changed, {c['unreadable']} unreadable, {c['uncataloged']} uncataloged"
    )
    raise typer.Exit(code)


@verify_app.command("database")
def verify_database(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """SQLite integrity check, foreign keys and catalog invariants (paths exist, one row per path).

    Exit code: 0 all checks pass, 1 a check failed, 2 config error, 4 catalog cannot be opened.

    Example: `astrocat verify database --json`
    """
    from astrocat.checks.verify import verify_database as run_verify

    s = settings()
    with open_db(s, readonly=True) as db:
        report = run_verify(db, s)
    code = EXIT_OK if report["clean"] else EXIT_PROBLEMS
    if as_json:
        output.print_json(report)
        raise typer.Exit(code)
    for p in report["problems"][:100]:
        output.info(f"{p['check']}: {p['detail']}")
    output.info(f"{report['catalog']}: {report['frames']} frames; " + ", ".join(f"{k} {v}" for k, v in report["checks"].items()))
    raise typer.Exit(code)


@app.command()
def validate(
    paths: list[str] = typer.Argument(None, help="Catalog paths or folders to limit the check to."),
    target: Optional[str] = _T, filter_: Optional[str] = _F, frame_type: Optional[str] = _TY,
    night: Optional[str] = _N, date_from: Optional[str] = _FR, date_to: Optional[str] = _TO,
    year: Optional[int] = _Y, camera: Optional[str] = _C, telescope: Optional[str] = _TE,
    session: Optional[str] = _S,
    problems_only: bool = typer.Option(False, "--problems", help="Show only files with errors or warnings."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Check each cataloged file: FITS CHECKSUM/DATASUM, header completeness; score + reasons.

    CHECKSUM/DATASUM are verified where the header has them (this reads the pixel data).
    Completeness depends on the frame type: a light needs exposure, date and target, a
    mono light (no BAYERPAT) also a filter. Each file gets a score (100 = clean; -30 per
    error, -5 per warning) and its reasons.

    Exit code: 0 no file has an error, 1 some do, 2 usage or config error.

    Examples: `astrocat validate --target M31` · `astrocat validate library/2024 --json`
    """
    from astrocat.checks.validate import validate as run_validate

    flt = _filters(target, filter_, frame_type, night, date_from, date_to, year, camera, telescope, session)
    s = settings()
    rels = [s.rel(p) if os.path.exists(p) else p.rstrip("/") for p in paths or []]
    with open_db(s, readonly=True) as db:
        with _progress(quiet or as_json, "Validating") as progress:
            rows = run_validate(db, s, flt, rels or None, progress=progress)
    if paths and not rows:
        raise fail(f"{', '.join(paths)}: no cataloged frames there; run `astrocat scan` first", EXIT_USAGE)
    code = EXIT_OK if all(r["ok"] for r in rows) else EXIT_PROBLEMS
    shown = [r for r in rows if r["reasons"]] if problems_only else rows
    if as_json:
        output.print_json(shown)
        raise typer.Exit(code)
    for r in shown:
        r["why"] = "; ".join(f"{x['severity']}: {x['message']}" for x in r["reasons"])
    output.print_table(shown, [("score", "score"), ("path", "path"), ("checksum", "checksum"), ("why", "reasons")],
                       title=f"{len(rows)} files, {sum(1 for r in rows if not r['ok'])} with errors")
    raise typer.Exit(code)


@app.command()
def sync(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing unless something changed or failed."),
) -> None:
    """Scan, organize, then refresh notes and site: the whole loop in one command, for cron.

    With nothing new it takes about a second on a 10,000-frame library. A second sync
    while one runs waits briefly, then exits with code 3.

    Exit code: 0 ok, 1 something was rejected or not moved, 2 config error, 3 locked.

    Example crontab line: `*/5 * * * * cd ~/astro && astrocat sync --quiet`
    """
    from astrocat import pipeline

    s = settings()
    _check_pattern(s)
    with locked(s, "sync"), open_db(s) as db:
        with _progress(quiet or as_json, "Syncing") as progress:
            report = pipeline.run(db, s, "sync", echo=(lambda m: None) if (quiet or as_json) else output.info,
                                  progress=progress).report
    code = EXIT_OK if report["ok"] else EXIT_PROBLEMS
    if as_json:
        output.print_json(report)
        raise typer.Exit(code)
    sc, org, rec = report["scan"], report["organize"], report["recovered"]
    busy = sc["new"] or sc["changed"] or sc["missing"] or sc["rejected"] or org["moved"] or org["duplicates"] \
        or org["failed"] or org["stopped"] or rec["finished"] or rec["rolled_back"] or rec["problems"]
    if quiet and not busy:
        raise typer.Exit(code)
    for r in sc["rejects"][:20]:
        output.info(f"  rejected {r['path']}: {r['reason']}")
    for f in org["failed"][:20]:
        output.error(f"{f['path']}: not moved: {f['reason']}")
    if org["stopped"]:
        output.error(f"stopped: {org['stopped']}")
    for p in rec["problems"]:
        output.error(f"{p['path']}: {p['reason']}")
    output.info(
        f"sync: {sc['new']} new, {sc['changed']} changed, {sc['missing']} missing, {sc['rejected']} rejected; "
        f"organized {org['moved']}, {len(org['duplicates'])} duplicates, {len(org['held'])} held; "
        + (f"{sc['waiting']} still being written; " if sc["waiting"] else "")
        + (f"recovered {rec['finished'] + rec['rolled_back']} moves; " if rec["finished"] or rec["rolled_back"] else "")
        + (f"steps: {', '.join(report['steps'])}; " if report["steps"] else "")
        + f"{report['elapsed_s']:.2f} s"
    )
    raise typer.Exit(code)


# --- demo --------------------------------------------------------------------------------


@app.command()
def demo(
    directory: Path = typer.Argument(Path("astrocat-demo"), help="Where to create the sample library."),
    force: bool = typer.Option(False, "--force", help="Reuse DIR even if it is not empty."),
) -> None:
    """Create a realistic sample library and run the pipeline on it, fully offline.

    Writes 300+ small FITS frames in the styles of N.I.N.A., SGP, ASIAIR, Ekos/INDI,
    SharpCap, MaxIm DL, Seestar and TheSkyX into DIR/quarantine, then scans them.

    Example: `astrocat demo && cd astrocat-demo && astrocat list sessions`
    """
    from astrocat import demo as demo_mod

    if directory.exists() and any(directory.iterdir()) and not force:
        if (directory / "astrocat.toml").exists():
            raise fail(f"{directory}: a demo library is already there; use --force to add to it, or pick another DIR", EXIT_USAGE)
        raise fail(f"{directory}: folder is not empty; pick another DIR or pass --force", EXIT_USAGE)
    report = demo_mod.run(directory, echo=output.info)
    raise typer.Exit(EXIT_OK if report.get("ok", True) else EXIT_PROBLEMS)


@app.command()
def version() -> None:
    """Print the astrocat version."""
    from importlib.metadata import PackageNotFoundError, version as pkg_version

    try:
        output.info(pkg_version("astrocat"))
    except PackageNotFoundError:
        output.info("0.1.0 (not installed)")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        output.error("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
