"""`astrocat verify files|database` and `astrocat validate`: reports, never fixes."""

from __future__ import annotations


import typer

from astrocat.cli import output
from astrocat.cli.app import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, app, fail, group, open_db, progress_bar, settings
from astrocat.cli.options import FILTERS, Filters, with_filters

verify_app = group(
    "Check files against the catalog (`files`) and the catalog itself (`database`). Never fixes or deletes."
)
app.add_typer(verify_app, name="verify")


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
        with progress_bar(quiet or as_json, "Verifying") as progress:
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
        f"checked {output.plural(report['checked'], 'file')} ({report['mode']}): {report['ok']} ok, {c['missing']} missing, "
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
    output.info(f"{report['catalog']}: {output.plural(report['frames'], 'frame')}; " + ", ".join(f"{k} {v}" for k, v in report["checks"].items()))
    raise typer.Exit(code)


@app.command()
@with_filters()
def validate(
    paths: list[str] = typer.Argument(None, help="Catalog paths or folders to limit the check to."),
    filters: Filters = FILTERS,
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

    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        with progress_bar(quiet or as_json, "Validating") as progress:
            rows = run_validate(db, s, flt, paths or None, progress=progress)
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
                       title=f"{output.plural(len(rows), 'file')}, {sum(1 for r in rows if not r['ok'])} with errors",
                       shrink=("path",), wrap=("why",))
    raise typer.Exit(code)
