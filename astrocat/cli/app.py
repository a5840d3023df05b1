"""The typer app and what every command shares: exit codes, the config, the catalog,
the lock, one-line errors and the progress bar."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import contextmanager
from typing import Iterator, Optional

import typer

from astrocat import catalog
from astrocat.cli import output
from astrocat.config import ConfigError, Settings, find_config, load
from astrocat.lock import LockBusy, catalog_lock
from astrocat.progress import ProgressFn

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


def group(help: str) -> typer.Typer:
    """A command group (`astrocat list ...`) with the app's help style."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode="markdown")


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


def fail(message: str, code: int) -> typer.Exit:
    """Print one error line; `raise fail(...)` ends the command with `code`."""
    output.error(message)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return load(find_config(state.config))
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def check_pattern(s: Settings) -> None:
    """A bad naming pattern is a config error, found before anything moves."""
    from astrocat.rules.naming import PatternError, validate_pattern

    try:
        validate_pattern(s.naming_pattern)
    except PatternError as exc:
        raise fail(f"{s.config_path}: library.naming_pattern: {exc}", EXIT_USAGE) from None


@contextmanager
def open_db(s: Settings, readonly: bool = False) -> Iterator[catalog.sqlite_utils.Database]:
    """The catalog for one command. An SQLite failure anywhere inside (a damaged page met
    mid-query, another program's lock, a full disk) ends the command with one line."""
    try:
        db = catalog.open_catalog(s.catalog, readonly=readonly and s.catalog.exists())
    except catalog.CatalogError as exc:
        raise fail(str(exc), EXIT_LOCKED if isinstance(exc, catalog.CatalogBusy) else EXIT_CATALOG) from None
    try:
        yield db
    except sqlite3.Error as exc:
        err = catalog.describe(s.catalog, exc)
        raise fail(str(err), EXIT_LOCKED if isinstance(err, catalog.CatalogBusy) else EXIT_CATALOG) from None
    finally:
        try:
            db.conn.close()
        except sqlite3.Error:
            pass


@contextmanager
def locked(s: Settings, command: str) -> Iterator[None]:
    try:
        with catalog_lock(s.catalog, command):
            yield
    except LockBusy as exc:
        raise fail(str(exc), EXIT_LOCKED) from None


@contextmanager
def progress_bar(disabled: bool, label: str, transfer: bool = False) -> Iterator[ProgressFn | None]:
    """An update(done, total, path) callback drawing a progress bar on stderr, or None.

    `transfer`: done and total are bytes, shown with bytes/s (uploads, downloads); otherwise
    they count files. The bar (and rich's refresh thread) starts at the first update, so that
    a scan can fork its worker processes before any thread exists."""
    if disabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TimeRemainingColumn, TransferSpeedColumn,
    )

    counts = (DownloadColumn(), TransferSpeedColumn()) if transfer else (MofNCompleteColumn(),)
    bar = Progress(f"[bold]{label}", BarColumn(), *counts, TimeRemainingColumn(),
                   console=output.err_console, transient=True)
    task = None

    def update(done: int, total: int, _path: str) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(label, total=total)
        # bytes move in chunks: every update counts; files come by the thousand: every 25th
        if transfer or done == 1 or done % 25 == 0 or done == total:
            bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()


def print_recovered(rec) -> None:  # noqa: ANN001 - astrocat.library.RecoveryResult (imported lazily)
    """What finishing or rolling back interrupted moves did (scan and organize do it first)."""
    if rec.total:
        output.info(
            f"recovered {rec.total} interrupted move{'s' if rec.total != 1 else ''}: "
            f"{rec.finished} finished, {rec.rolled_back} rolled back"
        )
    for w in rec.warnings:
        output.info(f"warning: {w['path']}: {w['reason']}")
    for p in rec.problems:
        output.error(f"{p['path']}: {p['reason']}")
