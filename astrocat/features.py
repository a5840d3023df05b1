"""The feature registry: what each feature adds to the house, in one table.

A feature declares its catalog migrations, its CLI command group, its pipeline
steps (`sync`, `demo` and `build` run one ordered pipeline; `scan` just recover
and scan), its site pages and navigation entry, its note kinds, its Datasette
metadata fragment and its `verify database` checks. Everything is named by dotted
path ("module:attribute") and imported only when used, so reading the registry
costs nothing at start-up.

A feature that is not built yet (`built=False`) has no page, no nav entry and no
command on the site: nothing offers a command that does not run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PIPELINES = ("sync", "demo", "build", "scan")
LOOPS = frozenset({"sync", "demo", "build"})  # a step's default; `scan` is recover + scan only


@dataclass(frozen=True)
class Step:
    """A pipeline step: `run(ctx)` at `order` (lower first) in the named pipelines."""

    name: str
    order: int
    run: str | Callable[..., None]  # "module:function", or the function itself
    pipelines: frozenset[str] = LOOPS


@dataclass(frozen=True)
class Feature:
    name: str
    title: str
    built: bool = True
    migrations: tuple[tuple[int, str, str], ...] = ()  # (number, what it adds, "module:function")
    cli: tuple[str, ...] = ()  # the astrocat.cli modules that register its commands (imported in order)
    commands: tuple[str, ...] = ()  # the `astrocat` subcommands it owns (the site offers only built ones)
    steps: tuple[Step, ...] = ()
    nav: tuple[tuple[str, str], ...] = ()  # (label, href) in the site's main navigation
    pages: str | None = None  # "module:function" that renders the feature's site pages
    note_kinds: tuple[str, ...] = ()
    datasette: str | None = None  # "package:resource" Datasette metadata fragment
    # ((names it reports), "module:function") run by `verify database`
    checks: tuple[tuple[tuple[str, ...], str], ...] = ()


FEATURES: tuple[Feature, ...] = (
    Feature(
        "catalog", "Catalog",
        cli=("astrocat.cli.init_scan", "astrocat.cli.listing", "astrocat.cli.stats", "astrocat.cli.checks"),
        migrations=(
            (1, "frames, rejects, sessions, targets", "astrocat.catalog.schema:_m1_initial"),
            (4, "full-text search, month column, integration index", "astrocat.catalog.schema:_m4_search"),
            (5, "frames.counted: the one rule of which frames count", "astrocat.catalog.schema:_m5_counted"),
            (6, "frames.original_name: the file's name before organize", "astrocat.catalog.schema:_m6_original_name"),
            (7, "session_aliases: renamed sessions keep resolving", "astrocat.catalog.schema:_m7_session_aliases"),
            (11, "targets: type, constellation, common name and coordinates from the sky catalog",
             "astrocat.catalog.sky:_m11_target_sky"),
            (13, "changes: a token every write replaces; output_stamps: what outputs were made from",
             "astrocat.catalog.changes:_m13_changes"),
        ),
        commands=("init", "list", "stats", "verify", "validate", "version"),
        nav=(("Dashboard", "index.html"), ("Sessions", "sessions/index.html"), ("Targets", "targets/index.html"),
             ("Files", "files.html"), ("Statistics", "stats.html")),
        datasette="astrocat.datasette:metadata.yml",
        checks=((("paths_exist", "location", "sha256", "one_row_per_path"), "astrocat.checks.verify:check_files"),
                (("sessions", "counted"), "astrocat.checks.verify:check_sessions")),
    ),
    Feature(
        "scan", "Scan",
        cli=("astrocat.cli.init_scan",),
        commands=("scan",),
        migrations=((14, "frames: an index of what a rescan compares (path, size, mtime, location)",
                     "astrocat.catalog.schema:_m14_rescan_index"),),
        steps=(Step("scan", 20, "astrocat.ingest.scan:scan_step", frozenset({"sync", "demo", "scan"})),),
    ),
    Feature(
        "organize", "Organize",
        cli=("astrocat.cli.organize",),
        migrations=((3, "moves (organize journal)", "astrocat.library.schema:create_moves"),),
        commands=("organize", "purge-duplicates"),
        checks=((("journal",), "astrocat.checks.verify:check_journal"),),
        steps=(Step("recover", 10, "astrocat.library.steps:recover_step", frozenset({"sync", "demo", "scan"})),
               Step("organize", 30, "astrocat.library.steps:organize_step", frozenset({"sync", "demo"}))),
    ),
    Feature(
        "notes", "Obsidian notes",
        cli=("astrocat.cli.outputs",),
        migrations=((2, "notes", "astrocat.notes.schema:create_notes"),
                    (12, "notes.input_key, file_stat: unchanged notes are skipped",
                     "astrocat.notes.schema:add_input_keys")),
        commands=("notes",),
        steps=(Step("notes", 40, "astrocat.notes.steps:notes_step"),),
        note_kinds=("session", "target"),
    ),
    Feature(
        "demo", "Demo",
        cli=("astrocat.cli.sync_demo",),
        commands=("demo",),
        steps=(Step("demo-note", 45, "astrocat.demo.steps:hand_written_note_step", frozenset({"demo"})),),
    ),
    Feature(
        "site", "Static site",
        cli=("astrocat.cli.outputs",),
        commands=("build",),
        steps=(Step("site", 50, "astrocat.site.steps:site_step"),),
    ),
    Feature(
        "curation", "Curation",
        cli=("astrocat.cli.curation",),
        migrations=((8, "overrides, history, frames.bad/bad_reason/raw: corrections as data",
                     "astrocat.catalog.overrides:_m8_curation"),),
        commands=("frame", "session", "target", "show", "history", "undo"),
        checks=((("overrides",), "astrocat.checks.verify:check_overrides"),),
    ),
    Feature("datasette", "Datasette", cli=("astrocat.cli.outputs",), commands=("datasette",)),
    Feature("sync", "Sync", cli=("astrocat.cli.sync_demo",), commands=("sync",)),
    Feature(
        "processing", "Processing sessions",
        cli=("astrocat.cli.processing",),
        migrations=((9, "processing sessions, their links, groups, pins, outputs; frames.rotator_deg",
                     "astrocat.processing.schema:_m9_processing"),),
        commands=("processing", "calibration"),
        # organize re-files frames: the sessions' symlinks follow them
        steps=(Step("processing-links", 35, "astrocat.processing.steps:repair_links_step", frozenset({"sync", "demo"})),
               Step("demo-processing", 38, "astrocat.processing.steps:demo_session_step", frozenset({"demo"})),
               Step("processing-outputs", 25, "astrocat.processing.steps:outputs_step",
                    frozenset({"sync", "demo", "scan"}))),
        nav=(("Processing", "processing/index.html"), ("Calibration", "calibration/index.html")),
        pages="astrocat.site.pages.processing:write_pages",
        note_kinds=("processing",),
        datasette="astrocat.processing:metadata.yml",
        checks=((("processing_links",), "astrocat.processing.sessions:verify_links"),),
    ),
    Feature(
        "backup", "S3 backup",
        cli=("astrocat.cli.backup",),
        migrations=((10, "backups, backup_restores, backup_verify_runs", "astrocat.backup.schema:create_backups"),),
        commands=("backup",),
        steps=(Step("backup", 60, "astrocat.backup.steps:backup_step", frozenset({"sync", "demo"})),),
        datasette="astrocat.backup:datasette.yml",
        nav=(("Backups", "backups/index.html"),),
        pages="astrocat.site.pages.backups:write",
    ),
)


def built() -> tuple[Feature, ...]:
    return tuple(f for f in FEATURES if f.built)


def resolve(ref: str) -> Any:
    """The object a "module:attribute" reference names (anything else is returned as is)."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def migrations() -> list[tuple[int, str, str | Callable[..., None]]]:
    """Every built feature's migrations, in number order, each function still a reference:
    `catalog.db.migrate` imports only the ones it runs (a current catalog runs none)."""
    found = sorted((n, what, ref) for f in built() for n, what, ref in f.migrations)
    numbers = [n for n, _, _ in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"migration numbers used twice: {numbers}")
    return found


def steps(pipeline: str) -> list[Step]:
    """The steps of one pipeline, in order."""
    if pipeline not in PIPELINES:
        raise ValueError(pipeline)
    return sorted((s for f in built() for s in f.steps if pipeline in s.pipelines), key=lambda s: s.order)


def nav() -> list[tuple[str, str, str]]:
    """(feature, label, href) for the site's navigation: built features only."""
    return [(f.name, label, href) for f in built() for label, href in f.nav]


def command_available(command_line: str) -> bool:
    """True when an `astrocat SUBCOMMAND ...` line names a subcommand of a built feature."""
    parts = command_line.split()
    if len(parts) < 2 or parts[0] != "astrocat":
        return False
    return any(parts[1] in f.commands for f in built())


def checks() -> list[tuple[tuple[str, ...], Callable[..., Any]]]:
    """((names), check(db, settings, add)) of every built feature, for `verify database`."""
    return [(names, resolve(ref)) for f in built() for names, ref in f.checks]


def note_kinds() -> list[str]:
    return [k for f in built() for k in f.note_kinds]


def latest_migration() -> int:
    """The schema version this astrocat writes: the highest registered migration number."""
    return max(n for f in built() for n, _, _ in f.migrations)


def cli_modules() -> list[str]:
    """The CLI modules of the built features, each once, in registry order."""
    return list(dict.fromkeys(m for f in built() for m in f.cli))
