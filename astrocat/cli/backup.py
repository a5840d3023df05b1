"""`astrocat backup ...`: upload, status, verify, restore, database snapshots, lifecycle, costs."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from astrocat.cli import output
from astrocat.cli.app import (
    EXIT_CATALOG, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, app, fail, group, locked, open_db, progress_bar, settings,
)
from astrocat.config import Settings

backup_app = group(
    "Back up the library to S3 (or an S3-compatible service): one object per frame, checked by its "
    "SHA-256, verifiable without a download, restorable from Glacier Deep Archive.\n\n"
    "Configure `[backup]` in astrocat.toml (docs/backup.md); credentials come from the standard AWS "
    "chain (environment, ~/.aws, a profile) and are never printed or stored."
)
app.add_typer(backup_app, name="backup")

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def _configured() -> Settings:
    s = settings()
    if s.backup is None:
        raise fail(f"{s.config_path}: no [backup] section; add one with at least bucket = \"...\" "
                   "(docs/backup.md)", EXIT_USAGE)
    return s


def _connect(s: Settings, check: bool = True):  # noqa: ANN202 - astrocat.backup.client.S3
    from astrocat.backup.client import BackupError, check_bucket, connect

    assert s.backup is not None
    try:
        s3 = connect(s.backup)
        if check:
            check_bucket(s3)
    except BackupError as exc:
        raise fail(str(exc), EXIT_USAGE if exc.config else EXIT_PROBLEMS) from None
    return s3


@contextmanager
def _failures() -> Iterator[None]:
    """A BackupError inside a command: one line, exit 2 for configuration, else 1."""
    from astrocat.backup.client import BackupError

    try:
        yield
    except BackupError as exc:
        raise fail(str(exc), EXIT_USAGE if exc.config else EXIT_PROBLEMS) from None


@backup_app.command("upload")
def upload_cmd(
    session: Optional[str] = typer.Option(None, "--session", help="Only this imaging session's frames.", metavar="ID"),
    year: Optional[int] = typer.Option(None, "--year", help="Only frames of nights in this year.", metavar="Y"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be uploaded; send nothing."),
    reconcile: bool = typer.Option(False, "--reconcile", help="First compare the catalog's records with a bucket listing."),
    as_json: bool = JSON, quiet: bool = QUIET,
) -> None:
    """Upload library frames not backed up yet, one object each, with their SHA-256.

    Each library file goes to `PREFIX/frames/<library path>` once: what is already backed
    up (by content) is never sent again, even after a relayout. S3 checks each body against
    the catalog's sha256. An interrupted upload resumes on the next run (multipart uploads
    from the parts already sent). A session manifest (JSON) is written per session touched.

    Exit codes: 0 all uploaded; 1 some files not uploaded (listed); 2 configuration,
    credentials, bucket or permissions; 3 catalog busy; 4 the catalog cannot be opened.

    Examples: `astrocat backup upload --dry-run` · `astrocat backup upload --session 2024-10-03_ASI2600MM_Esprit100`
    """
    from astrocat.backup.upload import upload

    s = _configured()
    s3 = None if dry_run and not reconcile else _connect(s)
    with locked(s, "backup upload"), open_db(s) as db, _failures():
        with progress_bar(quiet or as_json, "Uploading", transfer=True) as progress:
            result = upload(db, s, s3, session=session, year=str(year) if year else None,  # type: ignore[arg-type]
                            dry_run=dry_run, reconcile=reconcile, progress=progress)
    if as_json:
        output.print_json(result.as_dict())
    else:
        if dry_run:
            output.info(f"would upload {output.plural(result.planned, 'file')}; "
                        f"{result.already} already backed up")
        else:
            d = result.as_dict()
            output.info(f"uploaded {output.plural(result.uploaded, 'file')} ({output.human_bytes(result.bytes_sent)}, "
                        f"{output.human_bytes(d['bytes_per_s'])}/s), {result.found} found complete from an earlier "
                        f"run, {result.parts_reused} parts resumed, {result.already} already backed up, "
                        f"{output.plural(result.manifests, 'manifest')} written ({result.elapsed_s:.1f} s)")
        for key in result.forgotten:
            output.info(f"  not in the bucket any more, will be uploaded again: {key}")
        for key in result.unexpected:
            output.info(f"  in the bucket but not in the catalog: {key}")
        for p in result.changed:
            output.info(f"  warning: {p['path']}: {p['reason']}")
        for p in result.problems:
            output.error(f"{p['path']}: {p['reason']}")
    raise typer.Exit(EXIT_PROBLEMS if result.problems or result.changed else EXIT_OK)


@backup_app.command("status")
def status_cmd(as_json: bool = JSON) -> None:
    """How much of the library is backed up, bytes per storage class, the last verify.

    Reads only the catalog (no request to S3). Exit code 0 when every library frame is
    backed up, 1 when some are not.

    Examples: `astrocat backup status` · `astrocat backup status --json`
    """
    from astrocat.backup.status import status

    s = _configured()
    with open_db(s, readonly=True) as db:
        st = status(db, s)
    if as_json:
        output.print_json(st)
    else:
        output.info(f"bucket {st['bucket']}, prefix {st['prefix']}/")
        output.info(f"backed up: {st['backed_up']} of {st['frames']} library files ({st['percent']:.1f}%), "
                    f"{output.human_bytes(st['backed_up_bytes'])} of {output.human_bytes(st['bytes'])}")
        for cls, v in st["by_storage_class"].items():
            output.info(f"  {cls}: {output.plural(v['objects'], 'object')}, {output.human_bytes(v['bytes'])}")
        output.info(f"estimated storage cost: ${st['monthly_usd']:.2f} a month")
        output.info(f"last upload: {st['last_upload'] or 'never'}")
        lv = st["last_verify"]
        if lv:
            verdict = "clean" if lv["clean"] else (f"{lv['missing']} missing, {lv['mismatched']} mismatched, "
                                                   f"{lv['unexpected']} unexpected, {lv['changed_locally']} changed locally")
            output.info(f"last verify: {lv['finished_at']} ({lv['scope']}, {lv['checked']} checked): {verdict}")
        else:
            output.info("last verify: never (astrocat backup verify)")
        if st["pending_restores"]:
            output.info(f"pending restores: {st['pending_restores']} (run the same `astrocat backup restore` again)")
    raise typer.Exit(EXIT_PROBLEMS if st["not_backed_up"] else EXIT_OK)


@backup_app.command("verify")
def verify_cmd(
    all_: bool = typer.Option(False, "--all", help="Every backed-up object (the default), and look for unexpected ones."),
    session: Optional[str] = typer.Option(None, "--session", help="Only this session's objects.", metavar="ID"),
    download: bool = typer.Option(False, "--download", help="Also download readable objects and re-hash them."),
    as_json: bool = JSON, quiet: bool = QUIET,
) -> None:
    """Check each object's stored SHA-256 and metadata against the catalog, without a download.

    Works on Deep Archive objects (a HEAD request reads the checksum S3 verified at
    upload). Reports objects missing, objects whose checksum, metadata or size disagree,
    objects in the bucket the catalog does not know, and library files changed since
    their upload (never re-uploaded over the archived copy).

    Exit codes: 0 clean; 1 problems found; 2 configuration or access.

    Examples: `astrocat backup verify` · `astrocat backup verify --session ID --download`
    """
    from astrocat.backup.verify import verify

    if all_ and session:
        raise fail("give --all or --session, not both", EXIT_USAGE)
    s = _configured()
    s3 = _connect(s)
    with locked(s, "backup verify"), open_db(s) as db, _failures():
        with progress_bar(quiet or as_json, "Verifying") as progress:
            result = verify(db, s, s3, session=session, download=download, progress=progress)
    if as_json:
        output.print_json(result.as_dict())
    else:
        output.info(f"checked {output.plural(result.checked, 'object')}: {result.ok} ok"
                    f"{f' ({result.downloaded} downloaded and re-hashed)' if download else ''}, "
                    f"{len(result.missing)} missing, {len(result.mismatched)} mismatched, "
                    f"{len(result.unexpected)} unexpected, {len(result.changed_locally)} changed locally; "
                    f"{result.not_backed_up} library files not backed up yet ({result.elapsed_s:.1f} s)")
        for m in result.missing:
            output.error(f"{m['key']}: missing: {m['reason']}")
        for m in result.mismatched:
            output.error(f"{m['key']}: mismatch: {m['reason']}")
        for key in result.unexpected:
            output.error(f"{key}: unexpected: in the bucket but not in the catalog")
        for c in result.changed_locally:
            output.error(f"{c['path']}: {c['reason']}")
    raise typer.Exit(EXIT_OK if result.clean else EXIT_PROBLEMS)


@backup_app.command("restore")
def restore_cmd(
    to: Path = typer.Option(..., "--to", help="Folder to restore into (library paths below it).", metavar="DIR"),
    session: Optional[str] = typer.Option(None, "--session", help="This session's frames.", metavar="ID"),
    target: Optional[str] = typer.Option(None, "--target", help="This target's frames.", metavar="T"),
    path: Optional[str] = typer.Option(None, "--path", help="Library paths matching this glob.", metavar="GLOB"),
    tier: str = typer.Option("Bulk", "--tier", help="Archive retrieval tier: Bulk, Standard or Expedited (not for Deep Archive)."),
    as_json: bool = JSON, quiet: bool = QUIET,
) -> None:
    """Restore backed-up frames into a folder, verified against the catalog's sha256.

    Archived objects (Deep Archive, Glacier) first need a restore request: astrocat sends
    it at the chosen tier, records it and reports when it should be ready; run the same
    command again then to download. Deep Archive has no Expedited tier. Each file is
    written through a temporary name and checked; an existing file with other content is
    never overwritten. Restoring into the library re-catalogs the frames.

    Exit codes: 0 everything restored; 1 some restores pending or failed (listed);
    2 bad options, configuration or access.

    Examples: `astrocat backup restore --session ID --to ~/restored` ·
    `astrocat backup restore --path '2024/*' --to library --tier Standard`
    """
    from astrocat.backup.restore import refusal, restore, select, select_from_manifests

    if sum(x is not None for x in (session, target, path)) != 1:
        raise fail("give exactly one of --session, --target or --path", EXIT_USAGE)
    tier = tier.capitalize()
    s = _configured()
    assert s.backup is not None
    with locked(s, "backup restore"), open_db(s) as db, _failures():
        items = select(db, s, session=session, target=target, glob=path)
        s3 = None
        if not items and not db.execute("SELECT 1 FROM backups LIMIT 1").fetchone():
            # no backup records at all: a lost catalog; the session manifests say what is where
            s3 = _connect(s)
            items = select_from_manifests(s3, s.backup.prefix, session=session, target=target, glob=path)
            if items and not as_json:
                output.info(f"the catalog has no backup records: restoring from the session manifests in "
                            f"bucket {s3.bucket}")
        if not items:
            raise fail("no backed-up frames match; see `astrocat backup list-sessions`", EXIT_PROBLEMS)
        why = refusal(items, tier)
        if why:
            raise fail(why, EXIT_USAGE)
        s3 = s3 or _connect(s)
        with progress_bar(quiet or as_json, "Restoring", transfer=True) as progress:
            result = restore(db, s, s3, items, to.expanduser(), tier=tier, progress=progress)
    if as_json:
        output.print_json(result.as_dict())
    else:
        output.info(f"restored {output.plural(result.restored, 'file')} of {result.selected}, "
                    f"{result.already_there} already there, {result.requested} restore requests sent, "
                    f"{len(result.pending)} pending"
                    + (f"; {result.recataloged} re-cataloged" if result.recataloged else ""))
        for p in result.pending:
            output.info(f"  pending ({p['tier']}, expected by {p['ready_by']}): {p['key']}")
        if result.pending:
            output.info("  run the same command again once they are ready")
        for p in result.problems:
            output.error(f"{p['path']}: {p['reason']}")
    raise typer.Exit(EXIT_OK if result.complete else EXIT_PROBLEMS)


@backup_app.command("list-sessions")
def list_sessions_cmd(
    not_backed_up: bool = typer.Option(False, "--not-backed-up", help="Only sessions with frames not backed up."),
    as_json: bool = JSON,
) -> None:
    """Imaging sessions with how many of their library files are backed up.

    Examples: `astrocat backup list-sessions --not-backed-up`
    """
    from astrocat.backup.status import sessions

    s = _configured()
    with open_db(s, readonly=True) as db:
        rows = sessions(db, not_backed_up=not_backed_up)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["size"] = output.human_bytes(r["bytes"])
    output.print_table(rows, [("session", "session"), ("frames", "files"), ("backed_up", "backed up"),
                              ("size", "size"), ("complete", "complete")])


@backup_app.command("backup-database")
def backup_database_cmd(as_json: bool = JSON) -> None:
    """Upload a consistent snapshot of the catalog and the notes folder, keeping N dated versions.

    The snapshot is made with SQLite's backup API (never a copy of the live WAL files);
    `[backup] database_versions` (default 7) are kept under `PREFIX/database/`.

    Examples: `astrocat backup backup-database`
    """
    from astrocat.backup.database import backup_database

    s = _configured()
    if not s.catalog.exists():
        raise fail(f"{s.catalog}: no catalog yet; run `astrocat scan` first", EXIT_CATALOG)
    s3 = _connect(s)
    with _failures():
        result = backup_database(s, s3)
    if as_json:
        output.print_json(result.as_dict())
        return
    output.info(f"uploaded snapshot {result.stamp} ({output.human_bytes(result.bytes)}): {', '.join(result.keys)}")
    if result.removed:
        output.info(f"removed {output.plural(len(result.removed), 'object')} of older snapshots")


@backup_app.command("configure-lifecycle")
def configure_lifecycle_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the rules as JSON; change nothing."),
) -> None:
    """Set the bucket's lifecycle rules: frames to Deep Archive (when uploaded as another
    class), abort incomplete multipart uploads after 3 days, expire old database snapshots.
    Rules that are not astrocat's are kept.

    Examples: `astrocat backup configure-lifecycle --dry-run`
    """
    from astrocat.backup.lifecycle import configure

    s = _configured()
    s3 = _connect(s)
    with _failures():
        rules = configure(s, s3, dry_run=dry_run)
    if dry_run:
        output.print_json({"Rules": rules})
    else:
        output.info(f"set {output.plural(len(rules), 'lifecycle rule')} on bucket {s3.bucket}")


@backup_app.command("show-lifecycle")
def show_lifecycle_cmd(as_json: bool = JSON) -> None:
    """Print the bucket's lifecycle rules.

    Examples: `astrocat backup show-lifecycle --json`
    """
    from astrocat.backup.lifecycle import current

    s = _configured()
    s3 = _connect(s)
    with _failures():
        rules = current(s3)
    if as_json:
        output.print_json({"Rules": rules})
        return
    if not rules:
        output.info(f"bucket {s3.bucket} has no lifecycle rules (astrocat backup configure-lifecycle)")
    for r in rules:
        what = []
        for t in r.get("Transitions", []):
            what.append(f"to {t['StorageClass']} after {t.get('Days', 0)} days")
        if "AbortIncompleteMultipartUpload" in r:
            what.append(f"abort incomplete uploads after {r['AbortIncompleteMultipartUpload']['DaysAfterInitiation']} days")
        if "Expiration" in r:
            what.append(f"expire after {r['Expiration'].get('Days')} days")
        prefix = r.get("Filter", {}).get("Prefix", r.get("Prefix", ""))
        output.info(f"{r.get('ID', '?')} [{r.get('Status')}] {prefix or '(whole bucket)'}: {'; '.join(what)}")


@backup_app.command("estimate-costs")
def estimate_costs_cmd(as_json: bool = JSON) -> None:
    """Estimate what the backup costs: monthly and yearly storage, the saving against
    STANDARD, the upload, the minimum storage duration and a full restore per tier.

    Prices come from a dated table of AWS list prices (us-east-1); override any of them in
    `[backup.prices]`. Deep Archive adds ~40 KB per object (32 KB at the archive rate,
    8 KB at STANDARD) and bills at least 180 days.

    Works before `[backup]` is configured (Deep Archive and the table's prices).

    Examples: `astrocat backup estimate-costs --json`
    """
    from astrocat.backup.status import status
    from astrocat.rules.backup import estimate_costs

    from dataclasses import replace

    from astrocat.config import BackupSettings

    s = settings()
    # before any [backup] is configured this answers "what would it cost?" with the defaults
    if s.backup is None:
        s = replace(s, backup=BackupSettings(bucket="(not configured)"))
    assert s.backup is not None
    with open_db(s, readonly=True) as db:
        st = status(db, s)
    est = estimate_costs(st["frames"], st["bytes"], s.backup.frames_class, overrides=s.backup.prices)
    if as_json:
        output.print_json(est)
        return
    output.info(f"prices: {est['prices_date']}" + (" with your [backup.prices]" if s.backup.prices else ""))
    output.info(f"{output.plural(est['objects'], 'file')}, {output.human_bytes(est['bytes'])} in {est['storage_class']}")
    output.info(f"storage: ${est['monthly_usd']:.2f} a month, ${est['yearly_usd']:.2f} a year "
                f"(STANDARD: ${est['standard_monthly_usd']:.2f} a month; saving ${est['saving_yearly_usd']:.2f} a year)")
    output.info(f"upload requests: ${est['upload_usd']:.2f} once")
    if est["minimum_days"]:
        output.info(f"minimum storage duration: {est['minimum_days']} days (deleting or overwriting sooner still "
                    f"costs them: ${est['minimum_charge_usd']:.2f} for everything)")
    if est["overhead_bytes_per_object"]:
        output.info(f"per-object overhead: {est['overhead_bytes_per_object'] // 1024} KB (included)")
    for tier, r in est["restore"].items():
        output.info(f"full restore, {tier} (~{r['hours']:g} h): ${r['retrieval_usd']:.2f} retrieval, "
                    f"${r['with_download_usd']:.2f} with the download out of AWS")
