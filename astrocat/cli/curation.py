"""`astrocat frame|session|target ...`, `show`, `history`, `undo`: corrections as data.

Every correcting command takes `--dry-run` (show what would change, change nothing),
`--why TEXT` (kept with the correction) and `--json`, prints what changed and is
recorded in the history, from where `astrocat undo` reverts it.
"""

from __future__ import annotations

import getpass
import os
import shlex
from typing import Any, Callable, Optional

import typer

from astrocat import catalog
from astrocat.catalog import curate
from astrocat.catalog import overrides as ov
from astrocat.cli import output
from astrocat.cli.app import EXIT_USAGE, app, fail, group, locked, open_db, settings
from astrocat.config import Settings
from astrocat.rules import normalize

frame_app = group("Correct frames: target, filter, type, exposure; mark bad frames.")
session_app = group("Correct sessions: rename, merge, split, move frames, set the telescope.")
target_app = group("Correct targets: aliases, renames, merges; suggest targets for frames without OBJECT.")
app.add_typer(frame_app, name="frame")
app.add_typer(session_app, name="session")
app.add_typer(target_app, name="target")

DRY_RUN = typer.Option(False, "--dry-run", help="Show what would change; change nothing.")
WHY = typer.Option(None, "--why", help="Why (kept in the history with the correction).", metavar="TEXT")
JSON = typer.Option(False, "--json", help="Print JSON.")
SESSION = typer.Option(None, "--session", help="Every frame of this session.", metavar="ID")
PATH = typer.Option(None, "--path", help="Every frame whose catalog path matches this glob.", metavar="GLOB")
RADIUS = typer.Option(None, "--radius", min=0.001, max=30.0, metavar="DEG",
                      help="Search radius in degrees (default: the frame's field of view from its equipment "
                           "profile, else 1 degree).")
DEFAULT_RADIUS_DEG = 1.0


def _who() -> str:
    try:
        return os.environ.get("ASTROCAT_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _line(*parts: Any) -> str:
    """The command as the history shows it."""
    return "astrocat " + shlex.join(str(p) for p in parts if p is not None)


def _run(command: str, build: Callable[[Any], Any], *, dry_run: bool, why: Optional[str], as_json: bool,
         summary: Optional[str] = None) -> None:
    """Open the catalog under the lock, build the corrections, commit (or dry-run), print."""
    s = settings()
    with locked(s, command.split()[1] + " " + command.split()[2]), open_db(s) as db:
        try:
            curate.sync(db)  # a rebuilt catalog first takes its corrections back from the journal
            built = build(db)
            rows, aliases = built if isinstance(built, tuple) else (built, ())
            change = curate.commit(db, command, rows, who=_who(), why=why, dry_run=dry_run,
                                   summary=summary, aliases=aliases)
        except curate.CurationError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    _print_change(change, as_json)


def _print_change(change: curate.Change, as_json: bool) -> None:
    if as_json:
        output.print_json(change.as_dict())
        return
    if change.noop:
        output.info(f"{change.command}: nothing to change, the frames say so already")
        return
    n = len(change.changes)
    head = "dry run, nothing changed: " if change.dry_run else ""
    undoing = change.command.startswith("undo")  # an undo is not itself undone by `astrocat undo`
    where = "" if change.history_id is None or undoing else f" (history {change.history_id}; `astrocat undo` reverts it)"
    output.info(f"{head}{change.command}: {output.plural(n, 'value')} {'would change' if change.dry_run else 'changed'}"
                f"{where}", markup=False)
    for fid, path, fld, old, new in change.changes:
        output.info(f"  #{fid} {path}: {fld} {_show(old)} -> {_show(new)}")
    for old, new, _ in change.aliases_added:
        output.info(f"  session {old} now resolves to {new}")
    for old, new, _ in change.aliases_removed:
        output.info(f"  session {old} no longer resolves to {new}")
    for w in change.warnings:
        output.info(f"warning: {w}")


def _show(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _target(s: Settings, name: str) -> str:
    return normalize.canonical_target(name, s.target_aliases)[0] or name.strip()


# --- frame -----------------------------------------------------------------------------

@frame_app.command("set")
def frame_set(
    ids: Optional[list[int]] = typer.Argument(None, help="Frame ids (see `astrocat list files --json`).",
                                              show_default=False),
    target: Optional[str] = typer.Option(None, "--target", help="Target name.", metavar="NAME"),
    filter_: Optional[str] = typer.Option(None, "--filter", help="Filter name.", metavar="NAME"),
    frame_type: Optional[str] = typer.Option(None, "--type", help=f"{', '.join(normalize.FRAME_TYPES)}.",
                                             metavar="TYPE"),
    exposure: Optional[float] = typer.Option(None, "--exposure", min=0.0, help="Exposure in seconds.",
                                             metavar="SECONDS"),
    session: Optional[str] = SESSION, path: Optional[str] = PATH,
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Correct frames' target, filter, type or exposure; headers stay as they are.

    Examples: `astrocat frame set 12 13 --target M31` ·
    `astrocat frame set --session 2024-11-01_ASI2600MM_Star71 --filter Ha --why "filter wheel stuck"`
    """
    s = settings()
    values: dict[str, Any] = {}
    for option, value in (("--target", target), ("--filter", filter_)):
        if value is not None and not value.strip():
            raise fail(f"{option}: give a name", EXIT_USAGE)
    if target is not None:
        values["target"] = _target(s, target)
    if filter_ is not None:
        values["filter"] = normalize.canonical_filter(filter_, s.filter_aliases) or filter_.strip()
    if frame_type is not None:
        if frame_type.lower() not in normalize.FRAME_TYPES:
            raise fail(f"--type {frame_type!r}: expected one of {', '.join(normalize.FRAME_TYPES)}", EXIT_USAGE)
        values["frame_type"] = frame_type.lower()
    if exposure is not None:
        values["exposure_s"] = float(exposure)
    if not values:
        raise fail("nothing to set: give --target, --filter, --type or --exposure", EXIT_USAGE)
    line = _line("frame", "set", *(ids or []), *_opts(target=target, filter=filter_, type=frame_type,
                                                        exposure=exposure, session=session, path=path))
    _run(line, lambda db: curate.frame_overrides(curate.select_frames(db, ids or [], session, path), values),
         dry_run=dry_run, why=why, as_json=as_json)


def _opts(**kw: Any) -> list[str]:
    out: list[str] = []
    for k, v in kw.items():
        if v is not None:
            out += [f"--{k.replace('_', '-')}", str(v)]
    return out


@frame_app.command("mark-bad")
def frame_mark_bad(
    ids: Optional[list[int]] = typer.Argument(None, help="Frame ids.", show_default=False),
    reason: str = typer.Option(..., "--reason", help="Why the frame is bad (clouds, test frame, ...).",
                               metavar="TEXT"),
    session: Optional[str] = SESSION, path: Optional[str] = PATH,
    dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Mark frames bad: they leave integration totals (and calibration matching) but stay
    where they are, never moved or deleted, shown struck through with the reason.

    Example: `astrocat frame mark-bad 40 41 42 --reason clouds`
    """
    if not reason.strip():
        raise fail("--reason: say why the frames are bad", EXIT_USAGE)
    line = _line("frame", "mark-bad", *(ids or []), *_opts(reason=reason, session=session, path=path))
    _run(line, lambda db: curate.frame_overrides(curate.select_frames(db, ids or [], session, path),
                                                 {"bad": 1, "bad_reason": reason.strip()}),
         dry_run=dry_run, why=reason, as_json=as_json)


@frame_app.command("unmark-bad")
def frame_unmark_bad(
    ids: Optional[list[int]] = typer.Argument(None, help="Frame ids.", show_default=False),
    session: Optional[str] = SESSION, path: Optional[str] = PATH,
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Count frames marked bad again.

    Example: `astrocat frame unmark-bad 40`
    """
    line = _line("frame", "unmark-bad", *(ids or []), *_opts(session=session, path=path))
    _run(line, lambda db: curate.frame_overrides(curate.select_frames(db, ids or [], session, path),
                                                 {"bad": 0, "bad_reason": None}),
         dry_run=dry_run, why=why, as_json=as_json)


@app.command("show")
def show(
    frame: str = typer.Argument(..., help="Frame id, catalog path or sha256 (8+ characters).", metavar="FRAME"),
    as_json: bool = JSON,
) -> None:
    """One frame: its catalog (effective) values next to its headers' (raw) values, and
    the corrections that name it.

    Example: `astrocat show 12`
    """
    s = settings()
    with open_db(s, readonly=True) as db:
        try:
            row = curate.find_frame(db, frame)
        except curate.CurationError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        raw = ov.raw_values(row.get("raw"))
        base_sid = raw.get("session_id", row["session_id"])
        corrections = ov.frame_overrides(db, row["sha256"], base_sid, raw.get("target", row["target"])) \
            if db["overrides"].exists() else []
    for c in corrections:
        c["value"], c["value_before"] = ov.decoded(c["value"]), ov.decoded(c["value_before"])
    row.pop("header_json", None)
    row.pop("raw", None)
    if as_json:
        output.print_json({"frame": row, "raw": raw, "overrides": corrections})
        return
    fields = [f for f in catalog.FRAME_FIELDS if f not in ("problems",)] + ["bad", "bad_reason"]
    table = []
    for f in fields:
        value = row.get(f)
        if value is None and f not in raw:
            continue
        table.append({"field": f, "value": _show(value),
                      "header": _show(raw[f]) + "  (corrected)" if f in raw else ""})
    output.print_table(table, [("field", "field"), ("value", "catalog"), ("header", "header says")],
                       title=f"frame {row['id']}")
    for c in corrections:
        state = " (undone)" if c["undone_at"] else ""
        output.info(f"history {c['history_id']}{state}: {c['kind']} {c['key']}: {c['field']} = {_show(c['value'])}"
                    f" by {c['who']} at {c['at']}" + (f": {c['why']}" if c["why"] else ""))


# --- session ---------------------------------------------------------------------------

@session_app.command("rename")
def session_rename(
    session_id: str = typer.Argument(..., metavar="ID"), new_id: str = typer.Argument(..., metavar="NEW_ID"),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Give a session another id; the old id keeps working (command line, site links)
    and its note follows it with your text intact.

    Example: `astrocat session rename 2024-11-01_ASI2600MM_NoScope 2024-11-01_ASI2600MM_Esprit100`
    """
    _run(_line("session", "rename", session_id, new_id), lambda db: curate.session_rename(db, session_id, new_id),
         dry_run=dry_run, why=why, as_json=as_json)


@session_app.command("merge")
def session_merge(
    ids: list[str] = typer.Argument(..., metavar="ID ID...", help="The session to keep, then those to merge into it."),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Merge sessions into the first one; the others' ids keep resolving to it.

    Example: `astrocat session merge 2024-11-01_ASI2600MM_Star71 2024-11-02_ASI2600MM_Star71`
    """
    if len(ids) < 2:
        raise fail("give the session to keep and at least one to merge into it", EXIT_USAGE)
    _run(_line("session", "merge", *ids), lambda db: curate.session_merge(db, ids[0], ids[1:]),
         dry_run=dry_run, why=why, as_json=as_json)


@session_app.command("split")
def session_split(
    session_id: str = typer.Argument(..., metavar="ID"),
    at: str = typer.Option(..., "--at", help="UTC time: frames from then on form a new session.", metavar="TIME"),
    new_id: Optional[str] = typer.Option(None, "--new-id", help="Id of the new session (default ID-2).", metavar="ID"),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Split a session in two at a time (a late start, a second target).

    Example: `astrocat session split 2024-11-01_ASI2600MM_Star71 --at 2024-11-02T01:30`
    """
    _run(_line("session", "split", session_id, *_opts(at=at, new_id=new_id)),
         lambda db: curate.session_split(db, session_id, at, new_id), dry_run=dry_run, why=why, as_json=as_json)


@session_app.command("move-frames")
def session_move_frames(
    to: str = typer.Option(..., "--to", help="The session the frames go to.", metavar="ID"),
    frame_ids: Optional[list[int]] = typer.Option(None, "--frame-id", help="A frame id (repeat).", metavar="ID"),
    start: Optional[str] = typer.Option(None, "--from", help="UTC time: frames taken from then...", metavar="TIME"),
    until: Optional[str] = typer.Option(None, "--until", help="...until then (inclusive).", metavar="TIME"),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Move frames to another (or a new) session.

    Examples: `astrocat session move-frames --to 2024-11-01_ASI2600MM_Star71 --frame-id 40 --frame-id 41` ·
    `astrocat session move-frames --to S --from 2024-11-02T01:00 --until 2024-11-02T03:00`
    """
    line = _line("session", "move-frames", *_opts(to=to), *[x for f in frame_ids or [] for x in ("--frame-id", f)],
                 *_opts(**{"from": start, "until": until}))
    _run(line, lambda db: curate.session_move_frames(db, to, frame_ids or [], start, until),
         dry_run=dry_run, why=why, as_json=as_json)


@session_app.command("set")
def session_set(
    session_id: str = typer.Argument(..., metavar="ID"),
    telescope: str = typer.Option(..., "--telescope", help="The telescope (headers that name only the mount).",
                                  metavar="NAME"),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Set a session's telescope (its id stays; rename it too if you like).

    Example: `astrocat session set 2024-11-01_ASI2600MM_NoScope --telescope "Esprit 100"`
    """
    s = settings()
    scope = normalize.alias(telescope, s.telescope_aliases) or telescope.strip()
    _run(_line("session", "set", session_id, *_opts(telescope=telescope)),
         lambda db: curate.session_set(db, session_id, scope), dry_run=dry_run, why=why, as_json=as_json)


# --- target ----------------------------------------------------------------------------

@target_app.command("alias")
def target_alias(
    name: str = typer.Argument(..., metavar="NAME"), target: str = typer.Argument(..., metavar="TARGET"),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Make NAME another name for TARGET: frames named so join it, and `--target NAME` finds it.

    Example: `astrocat target alias Andromeda M31`
    """
    s = settings()
    _run(_line("target", "alias", name, target), lambda db: curate.target_alias(db, _target(s, name), _target(s, target)),
         dry_run=dry_run, why=why, as_json=as_json)


@target_app.command("rename")
def target_rename(
    old: str = typer.Argument(..., metavar="OLD"), new: str = typer.Argument(..., metavar="NEW"),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Rename a target (the old name keeps finding it).

    Example: `astrocat target rename "Pacman" "NGC 281"`
    """
    s = settings()
    _run(_line("target", "rename", old, new), lambda db: curate.target_rename(db, _target(s, old), _target(s, new)),
         dry_run=dry_run, why=why, as_json=as_json)


@target_app.command("merge")
def target_merge(
    names: list[str] = typer.Argument(..., metavar="KEEP OTHER...", help="The target to keep, then those merged into it."),
    why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Merge targets into the first one (their names keep finding it).

    Example: `astrocat target merge M31 "M31 area"`
    """
    if len(names) < 2:
        raise fail("give the target to keep and at least one to merge into it", EXIT_USAGE)
    s = settings()
    _run(_line("target", "merge", *names),
         lambda db: curate.target_merge(db, _target(s, names[0]), [_target(s, n) for n in names[1:]]),
         dry_run=dry_run, why=why, as_json=as_json)


def candidate_sources(db: catalog.sqlite_utils.Database) -> list[curate.Candidates]:
    """Where target suggestions come from, first match wins: the targets already in the
    catalog (placed by their frames: your own names win), then the offline sky catalog."""
    from astrocat import skycat  # the index is built only when a frame needs it

    def sky(ra: float, dec: float, radius: float) -> list[tuple[str, float]]:
        # `identify`, not the closest: a frame on NGC 206 shows M31, the object that holds it
        found = skycat.identify(ra, dec, radius)
        return [] if found is None else [(found.id, skycat.separation_deg(ra, dec, found.ra_deg, found.dec_deg))]

    return [curate.known_targets(db), sky]


def _radius(s, radius: float | None):
    """The search radius: the user's, else per frame half the diagonal of its field of view."""
    if radius is not None:
        return radius

    def of(frame: dict) -> float:
        fov = s.equipment.field_of_view_deg(frame.get("camera"), frame.get("telescope"), frame.get("focal_length_mm"))
        return DEFAULT_RADIUS_DEG if fov is None else round((fov[0] ** 2 + fov[1] ** 2) ** 0.5 / 2, 4)

    return of


@target_app.command("suggest")
def target_suggest(radius: Optional[float] = RADIUS, as_json: bool = JSON) -> None:
    """Suggest a target for each light frame without one, from its coordinates: the
    nearest known target within the radius. Nothing changes until you confirm with
    `astrocat target assign --suggested`.

    Example: `astrocat target suggest --radius 0.5`
    """
    s = settings()
    with open_db(s, readonly=True) as db:
        found = curate.suggest(db, _radius(s, radius), candidate_sources(db))
    if as_json:
        output.print_json(found)
        return
    output.print_table(found, [("id", "id"), ("path", "path"), ("target", "suggested"),
                               ("separation_deg", "sep deg")],
                       title=output.plural(len(found), "suggestion"), shrink=("path",))
    if found:
        output.info("nothing changed: `astrocat target assign --suggested` applies these")


@target_app.command("assign")
def target_assign(
    suggested: bool = typer.Option(False, "--suggested", help="Apply what `astrocat target suggest` shows."),
    radius: Optional[float] = RADIUS, why: Optional[str] = WHY, dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Give frames without a target the target `astrocat target suggest` shows for them.

    Example: `astrocat target assign --suggested --dry-run`
    """
    if not suggested:
        raise fail("say which: --suggested (see `astrocat target suggest`)", EXIT_USAGE)
    s = settings()
    _run(_line("target", "assign", "--suggested", *_opts(radius=radius)),
         lambda db: curate.assign_suggested(db, _radius(s, radius), candidate_sources(db)), dry_run=dry_run, why=why,
         as_json=as_json)


# --- history ---------------------------------------------------------------------------

@app.command("history")
def history(
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="The last N changes.", metavar="N"),
    as_json: bool = JSON,
) -> None:
    """Every correction made, newest first (`astrocat undo ID` reverts one).

    Example: `astrocat history --limit 10`
    """
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = ov.history(db, limit) if db["history"].exists() else []
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        # minutes are enough to tell changes apart on screen (--json keeps the full time)
        r["when"] = (r["at"] or "")[:16].replace("T", " ")
        r["state"] = "undone" if r["undone_at"] else ""  # when: in --json
        r["cmd"] = (r["command"] or "").removeprefix("astrocat ")
    output.print_table(rows, [("id", "id"), ("when", "when (UTC)"), ("who", "who"), ("cmd", "command"),
                              ("summary", "what"), ("state", "state")],
                       title=output.plural(len(rows), "change"), drop=("who",), wrap=("cmd", "summary"))


@app.command("undo")
def undo(
    history_id: Optional[int] = typer.Argument(None, metavar="[ID]", help="A history id (default: the last change)."),
    dry_run: bool = DRY_RUN, as_json: bool = JSON,
) -> None:
    """Revert the last correction (or the one with this history id).

    Example: `astrocat undo` · `astrocat undo 4`
    """
    s = settings()
    with locked(s, "undo"), open_db(s) as db:
        try:
            change = curate.undo(db, history_id, dry_run=dry_run)
        except curate.CurationError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    _print_change(change, as_json)
