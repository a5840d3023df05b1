"""`astrocat processing ...` (sessions with matched calibration) and `astrocat calibration ...`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from astrocat.cli import output
from astrocat.cli.app import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, app, fail, group, locked, open_db, settings
from astrocat.cli.options import FROM, JSON, TO, frame_filter
from astrocat.config import Settings

processing_app = group("Processing sessions: lights and their matched calibration, linked into one folder.")
calibration_app = group("Calibration coverage: which light groups lack darks, flats or bias, and what to shoot.")
app.add_typer(processing_app, name="processing")
app.add_typer(calibration_app, name="calibration")

KIND_OPTIONS = {"darks": "dark", "flats": "flat", "bias": "bias", "darkflats": "darkflat"}


def _errors():  # noqa: ANN202 - a context manager turning ProcessingError into one line
    from contextlib import contextmanager

    from astrocat.processing.sessions import ProcessingError

    @contextmanager
    def handler():
        try:
            yield
        except ProcessingError as exc:
            raise fail(str(exc), EXIT_USAGE if exc.usage else EXIT_PROBLEMS) from None

    return handler()


def _names(s: Settings, target: Optional[str], filters: List[str]) -> tuple[Optional[str], list[str]]:
    """Target and filter names read the way scan reads headers (aliases too)."""
    t = frame_filter(s, target=target).target if target else None
    return t, [frame_filter(s, filter_=f).filter or f for f in filters]


def _verdict_line(g: dict) -> str:
    parts = []
    for kind, m in g["kinds"].items():
        label = {"dark": "darks", "flat": "flats", "bias": "bias", "darkflat": "dark-flats"}[kind]
        if m["status"] == "not needed" and not m["chosen"]:
            continue
        n = len(m["chosen"])
        parts.append(f"{label}: {m['status']}" + (f" ({n})" if n else ""))
    return "; ".join(parts)


@processing_app.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the session (its folder is the name made safe)."),
    target: str = typer.Option(..., "--target", help="Target name, e.g. M31.", metavar="NAME"),
    session: List[str] = typer.Option([], "--session", help="Only these imaging sessions (repeatable).",
                                      metavar="ID"),
    filter_: List[str] = typer.Option([], "--filter", help="Only these filters (repeatable).", metavar="NAME"),
    date_from: Optional[str] = FROM, date_to: Optional[str] = TO,
    link: str = typer.Option("symlink", "--link", help="symlink (default), hardlink or copy.", metavar="MODE"),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Print the plan; change nothing."),
    replace: bool = typer.Option(False, "--replace", help="Re-create an existing session (pins and status kept)."),
    as_json: bool = JSON,
) -> None:
    """Make processing/NAME/ with the target's lights and their matched calibration linked.

    Layout: `lights/<filter>/`, `calibration/{darks,flats,bias,darkflats}/`, `intermediate/`,
    `final/` (point WBPP or Siril at it: docs/processing.md). Every light group's
    calibration is chosen by the rules in `[calibration]` and explained; library frames
    are linked, never moved or changed.

    Exit code: 0 created, every group calibrated; 1 created, but some groups lack
    calibration or some links failed; 2 usage (no such lights, name taken).

    Examples: `astrocat processing create "M31 2024" --target M31 --dry-run` ·
    `astrocat processing create m31-ha --target M31 --filter Ha --link hardlink`
    """
    from astrocat.processing import sessions

    s = settings()
    t, filters = _names(s, target, filter_)
    frame_filter(s, date_from=date_from, date_to=date_to)  # dates checked
    with locked(s, "processing"), open_db(s) as db, _errors():
        result = sessions.create(db, s, name, target=t, session_ids=session, filters=filters, date_from=date_from,
                                 date_to=date_to, link_mode=link, dry_run=dry_run, replace=replace)
        note = None if dry_run else _write_note(db, s, result.id)
    d = result.as_dict()
    code = EXIT_OK if result.ok and all(g.calibrated for g in result.groups) else EXIT_PROBLEMS
    if dry_run:
        code = EXIT_OK if result.ok else EXIT_PROBLEMS
    if as_json:
        output.print_json(d)
        raise typer.Exit(code)
    rows = [{"group": g["group"], "lights": g["lights"], "verdict": _verdict_line(g)} for g in d["groups"]]
    output.print_table(rows, [("group", "light group"), ("lights", "lights"), ("verdict", "calibration")],
                       title=f"{output.plural(len(rows), 'light group')}", clip=("group",), wrap=("verdict",))
    for g in d["groups"]:
        for kind, m in g["kinds"].items():
            if m["gap"]:
                output.info(f"{g['group']}: {kind}: {m['gap']}: {m['note']}; {m['shoot']}")
    cal = ", ".join(f"{n} {k}" for k, n in d["calibration"].items())
    verb = "would link" if dry_run else ("re-created" if result.replaced else "created")
    output.info(f"{verb} {result.folder}: {d['lights']} lights, {cal}"
                + (f" ({', '.join(f'{n} {m}' for m, n in d['link_modes'].items())})" if d["link_modes"] else "")
                + (" (dry run: nothing changed)" if dry_run else ""))
    if note:
        output.info(f"note: {note}")
    for p in result.problems:
        output.error(p)
    raise typer.Exit(code)


def _write_note(db, s: Settings, pid: str) -> str | None:  # noqa: ANN001 - the catalog
    """The session's Obsidian note (and the target and session notes that link to it)."""
    from astrocat.notes import write_notes

    r = write_notes(db, s)
    return next((p for p in r.created + r.updated if pid in p), None)


@processing_app.command("list")
def list_(as_json: bool = JSON) -> None:
    """Processing sessions, oldest first.

    Examples: `astrocat processing list` · `astrocat processing list --json`
    """
    from astrocat.processing import sessions

    s = settings()
    with open_db(s, readonly=True) as db:
        rows = sessions.list_sessions(db)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["hours"] = output.hours(r["integration_s"] or 0)
        r["calibrated"] = f"{r['calibrated_groups']}/{r['groups']}"
    # the folder is processing/<id>: the first column to go in a narrow terminal
    output.print_table(rows, [("id", "id"), ("target", "target"), ("status", "status"), ("lights", "lights"),
                              ("hours", "hours"), ("calibrated", "calibrated"), ("path", "folder")],
                       title=output.plural(len(rows), "processing session"), drop=("path",), clip=("id",))


@processing_app.command("show")
def show(pid: str = typer.Argument(..., metavar="ID"), as_json: bool = JSON) -> None:
    """One processing session: its frames, each light group's calibration with reasons, pins.

    Exit code: 0, or 1 when some of its links no longer reach their frame.

    Example: `astrocat processing show m31-2024`
    """
    from astrocat.processing import sessions

    s = settings()
    with open_db(s, readonly=True) as db, _errors():
        d = sessions.show(db, s, pid)
    code = EXIT_PROBLEMS if d["broken_links"] else EXIT_OK
    if as_json:
        output.print_json(d)
        raise typer.Exit(code)
    output.info(f"{d['id']} ({d['name']}): {d['status']}, target {d['target']}, folder {d['path']}")
    output.info("frames: " + ", ".join(f"{n} {r}" for r, n in sorted(d["by_role"].items())))
    for p in d["pins"]:
        output.info(f"pinned {p['kind']}: " + ("none" if p["frames"] is None else f"{p['frames']} frames from {p['source']}"))
    for g in d["groups"]:
        output.info(f"{g['group_id']} {g['kind']}: {g['status']}" + (f" - {g['note']}" if g["note"] else "")
                    + (f"; {g['shoot']}" if g["shoot"] else ""))
        for v in _same_verdicts_together(g["verdicts"]):
            if v["status"] != "accepted" or v["chosen"]:
                n = len(v["frame_ids"])
                output.info(f"    {v['status']}{' (chosen)' if v['chosen'] else ''}: "
                            f"{n} frame{'s' if n != 1 else ''}: {'; '.join(v['reasons'])}")
    for b in d["broken_links"]:
        output.error(f"{d['path']}/{b}: link does not reach its frame (run `astrocat organize` or re-create)")
    raise typer.Exit(code)


def _same_verdicts_together(verdicts: list[dict]) -> list[dict]:
    """One line per verdict and reasons: eight darks accepted for the same reason are one line."""
    merged: dict[tuple, dict] = {}
    for v in verdicts:
        key = (v["status"], bool(v["chosen"]), tuple(v["reasons"]))
        if key in merged:
            merged[key]["frame_ids"] = [*merged[key]["frame_ids"], *v["frame_ids"]]
            merged[key]["paths"] = [*merged[key].get("paths", []), *v.get("paths", [])]
        else:
            merged[key] = {**v}
    return list(merged.values())


@processing_app.command("add-files")
def add_files(
    pid: str = typer.Argument(..., metavar="ID"),
    frame_id: List[int] = typer.Option([], "--frame-id", help="A frame id (repeatable).", metavar="N"),
    session: List[str] = typer.Option([], "--session", help="An imaging session's lights (repeatable).",
                                      metavar="ID"),
) -> None:
    """Link more frames into a processing session (lights by filter, calibration by kind).

    Example: `astrocat processing add-files m31-2024 --frame-id 812 --frame-id 813`
    """
    from astrocat.processing import sessions

    s = settings()
    with locked(s, "processing"), open_db(s) as db, _errors():
        r = sessions.add_files(db, s, pid, frame_id, session)
    output.info(f"added {output.plural(r['added'], 'frame')} to {pid}")
    for p in r["problems"]:
        output.error(p)
    raise typer.Exit(EXIT_PROBLEMS if r["problems"] else EXIT_OK)


@processing_app.command("status")
def status(pid: str = typer.Argument(..., metavar="ID"),
           value: str = typer.Argument(..., metavar="STATUS", help="planned, in-progress or complete.")) -> None:
    """Set a processing session's status.

    Example: `astrocat processing status m31-2024 in-progress`
    """
    from astrocat.processing import sessions

    s = settings()
    if value == "archived":
        raise fail("use `astrocat processing archive ID` to archive", EXIT_USAGE)
    with locked(s, "processing"), open_db(s) as db, _errors():
        sessions.set_status(db, pid, value)
    output.info(f"{pid}: {value}")


@processing_app.command("archive")
def archive(
    pid: str = typer.Argument(..., metavar="ID"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; change nothing."),
) -> None:
    """Archive a processing session: its links go, its record and your files stay.

    Example: `astrocat processing archive m31-2024 --dry-run`
    """
    from astrocat.processing import sessions

    s = settings()
    with locked(s, "processing"), open_db(s) as db, _errors():
        r = sessions.archive(db, s, pid, dry_run=dry_run)
    if dry_run:
        output.info(f"dry run, nothing changed: {pid} would be archived, "
                    f"{output.plural(r['links_removed'], 'link')} removed; library frames untouched")
        return
    for p in r["problems"]:
        output.error(p)
    output.info(f"{pid}: archived (links removed; library frames untouched)")
    raise typer.Exit(EXIT_PROBLEMS if r["problems"] else EXIT_OK)


@processing_app.command("delete")
def delete(
    pid: str = typer.Argument(..., metavar="ID"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; change nothing."),
) -> None:
    """Delete a processing session: its links and its catalog rows. Library frames and
    their catalog rows, your files in intermediate/ and final/, and your pins stay.

    Example: `astrocat processing delete m31-2024 --dry-run`
    """
    from astrocat.processing import sessions

    s = settings()
    with locked(s, "processing"), open_db(s) as db, _errors():
        r = sessions.delete(db, s, pid, dry_run=dry_run)
    if dry_run:
        output.info(f"dry run, nothing changed: deleting {pid} would remove "
                    f"{output.plural(r['links_removed'], 'link')} and its catalog rows; library frames untouched")
        return
    for p in r["problems"]:
        output.error(p)
    output.info(f"deleted {pid}: {output.plural(r['links_removed'], 'link')} removed; library frames untouched")
    raise typer.Exit(EXIT_PROBLEMS if r["problems"] else EXIT_OK)


@processing_app.command("pin")
def pin(
    pid: str = typer.Argument(..., metavar="ID"),
    darks: Optional[str] = typer.Option(None, "--darks", help="SESSION or frame ids (1,2,3).", metavar="WHICH"),
    flats: Optional[str] = typer.Option(None, "--flats", help="SESSION or frame ids.", metavar="WHICH"),
    bias: Optional[str] = typer.Option(None, "--bias", help="SESSION or frame ids.", metavar="WHICH"),
    darkflats: Optional[str] = typer.Option(None, "--darkflats", help="SESSION or frame ids.", metavar="WHICH"),
    none: List[str] = typer.Option([], "--none", help="Use none of this kind: darks, flats, bias, darkflats.",
                                   metavar="KIND"),
    clear: List[str] = typer.Option([], "--clear", help="Forget the pin of this kind.", metavar="KIND"),
) -> None:
    """Override the automatic choice of calibration for a processing session.

    Pins are kept by content: rescans, re-filing and `processing create --replace` keep
    them. They take effect when the session is (re-)created.

    Examples: `astrocat processing pin m31-2024 --darks 2024-01-06_ASI2600MM_Esprit100` ·
    `astrocat processing pin m31-2024 --none darkflats`
    """
    from astrocat.processing import sessions

    s = settings()
    asked = {"dark": darks, "flat": flats, "bias": bias, "darkflat": darkflats}
    for k in none + clear:
        if k not in KIND_OPTIONS:
            raise fail(f"{k!r}: expected darks, flats, bias or darkflats", EXIT_USAGE)
    if not any(asked.values()) and not none and not clear:
        raise fail("nothing to pin: give --darks, --flats, --bias, --darkflats, --none or --clear", EXIT_USAGE)
    with locked(s, "processing"), open_db(s) as db, _errors():
        if any(asked.values()) or none:
            sessions.get(db, pid)  # a pin names an existing session; forgetting one needs none
        for k in clear:
            gone = sessions.unpin(db, pid, KIND_OPTIONS[k])
            output.info(f"{pid}: {k} pin {'forgotten' if gone else 'was not set'}")
        for kind, spec in asked.items():
            if spec:
                r = sessions.pin(db, pid, kind, spec)
                output.info(f"{pid}: {kind} pinned to {output.plural(r['frames'], 'frame')} ({r['source']})")
        for k in none:
            sessions.pin(db, pid, KIND_OPTIONS[k], None)
            output.info(f"{pid}: {k} pinned to none")
    output.info(f"re-create to apply: astrocat processing create {pid} --target ... --replace")


@processing_app.command("astrobin")
def astrobin(
    pid: str = typer.Argument(..., metavar="ID"),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of printing.",
                                       metavar="FILE"),
) -> None:
    """AstroBin's acquisition CSV for a processing session (Import acquisitions from CSV).

    One row per night, filter, exposure and gain. `filter` is AstroBin's numeric id from
    `[astrobin.filters]` in astrocat.toml; a value astrocat does not know is left empty.

    Example: `astrocat processing astrobin m31-2024 -o m31.csv`
    """
    from astrocat.processing import astrobin as ab

    s = settings()
    with open_db(s, readonly=True) as db, _errors():
        text = ab.csv_for(db, s, pid)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise fail(f"{out}: cannot write: {exc.strerror or exc}", EXIT_PROBLEMS) from None
    output.info(f"wrote {out}")


@calibration_app.command("gaps")
def gaps(target: Optional[str] = typer.Option(None, "--target", help="Only this target.", metavar="NAME"),
         as_json: bool = JSON) -> None:
    """Light groups without acceptable darks, flats or bias, and what to shoot.

    Each gap is `on file` (a candidate needs review, e.g. a master lacking CCD-TEMP),
    `nearby` (candidates just outside a tolerance) or `missing`.

    Exit code: 0 every group is calibrated, 1 some are not.

    Examples: `astrocat calibration gaps` · `astrocat calibration gaps --target M31 --json`
    """
    from astrocat.processing import gaps as gp

    s = settings()
    t, _ = _names(s, target, [])
    with open_db(s, readonly=True) as db, _errors():
        r = gp.gaps(db, s, t)
    code = EXIT_PROBLEMS if r["gaps"] else EXIT_OK
    if as_json:
        output.print_json(r)
        raise typer.Exit(code)
    for g in r["gaps"]:
        output.info(f"{g['group']} ({output.plural(g['lights'], 'light')})")
        for m in g["missing"]:
            output.info(f"  {m['kind']}: {m['gap']}: {m['note']}")
            output.info(f"    {m['shoot']}")
    output.info(f"{r['calibrated']} of {output.plural(r['groups'], 'light group')} fully calibrated")
    raise typer.Exit(code)


@calibration_app.command("show")
def show_group(group_id: str = typer.Argument(..., metavar="GROUP"), as_json: bool = JSON) -> None:
    """Explain one light group's calibration: every candidate's verdict with its reasons.

    Example: `astrocat calibration show "2024-01-05|M31|Ha"`
    """
    from astrocat.processing import gaps as gp

    s = settings()
    with open_db(s, readonly=True) as db, _errors():
        gm = gp.explain(db, s, group_id)
    d = gm.as_dict()
    if as_json:
        output.print_json(d)
        return
    output.info(f"{d['group']}: {output.plural(d['lights'], 'light')}")
    for kind, m in d["kinds"].items():
        output.info(f"{kind}: {m['status']}" + (f" - {m['note']}" if m["note"] else ""))
        if m["shoot"]:
            output.info(f"  {m['shoot']}")
        for v in _same_verdicts_together(m["verdicts"]):
            n = len(v["frame_ids"])
            output.info(f"  {v['status']}{' (chosen)' if v['chosen'] else ''}: {n} frame{'s' if n != 1 else ''}"
                        f" ({v['paths'][0]}{' ...' if n > 1 else ''}): {'; '.join(v['reasons'])}")


