"""The curation commands' work: which corrections a command makes, and making them.

Each function turns a request (`frame set`, `session rename`, `target alias`, ...)
into `Override` rows; `commit` records them as one history entry, applies them,
brings sessions and targets in step and appends the entry to the journal file. With
`dry_run` everything is done inside a transaction that is rolled back, so what is
printed is exactly what would change. `undo` marks an entry undone and applies again.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator

from astrocat.catalog import overrides as ov
from astrocat.catalog import overrides_file
from astrocat.catalog.derived import refresh_derived, resolve_session
from astrocat.clock import utc_now
from astrocat.units import plural
from astrocat.rules import curation as rules

if TYPE_CHECKING:
    import sqlite_utils

# A source of target candidates near a position: (ra_deg, dec_deg, radius_deg) -> [(name, sep_deg)].
Candidates = Callable[[float, float, float], list[tuple[str, float]]]


class CurationError(Exception):
    """A request that cannot be done as asked; the message is one line for the user."""


@dataclass
class Change:
    history_id: int | None
    command: str
    overrides: list[ov.Override]
    changes: list[tuple[int, str, str, Any, Any]] = field(default_factory=list)
    aliases_added: list[tuple[str, str, str]] = field(default_factory=list)
    aliases_removed: list[tuple[str, str, str]] = field(default_factory=list)
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    noop: bool = False  # nothing would change: nothing was recorded

    def as_dict(self) -> dict[str, Any]:
        return {
            "history_id": self.history_id, "command": self.command, "dry_run": self.dry_run,
            "overrides": [{"kind": o.kind, "key": o.key, "field": o.field, "value": o.value, "before": o.before}
                          for o in self.overrides],
            "changes": [{"frame_id": i, "path": p, "field": f, "before": a, "after": b}
                        for i, p, f, a, b in self.changes],
            "session_aliases_added": [list(r[:2]) for r in self.aliases_added],
            "session_aliases_removed": [list(r[:2]) for r in self.aliases_removed],
            "warnings": self.warnings, "nothing_to_change": self.noop,
        }


@contextmanager
def _transaction(db: sqlite_utils.Database, keep: bool) -> Iterator[list[bool]]:
    """One transaction: committed when `keep` (which the body may turn off: `tx[0] = False`),
    else rolled back (a dry run)."""
    if db.conn.in_transaction:
        db.conn.commit()
    db.conn.execute("BEGIN IMMEDIATE")
    tx = [keep]
    try:
        yield tx
    except BaseException:
        db.conn.rollback()
        raise
    if tx[0]:
        db.conn.commit()
    else:
        db.conn.rollback()


def commit(db: sqlite_utils.Database, command: str, overrides: Sequence[ov.Override], *, who: str | None,
           why: str | None = None, dry_run: bool = False, summary: str | None = None,
           aliases: Iterable[tuple[str, str]] = ()) -> Change:
    """Record `overrides` as one history entry and apply them (or show what they would do).
    `aliases`: session ids that should keep resolving to another (a merge)."""
    if not overrides:
        raise CurationError("nothing to change")
    change = Change(None, command, list(overrides), dry_run=dry_run)
    with _transaction(db, keep=not dry_run) as tx:
        before = ov.aliases_snapshot(db)
        now = utc_now()
        entry = {"uuid": uuidlib.uuid4().hex, "at": now, "command": command, "summary": summary}
        hid = ov.record(db, entry, overrides, who, why)
        applied = ov.apply(db)
        refresh_derived(db, applied.sessions, applied.sha256s)
        for old, new in aliases:
            if old != new:
                db.execute("UPDATE session_aliases SET new_id = ? WHERE new_id = ?", [new, old])
                db.execute("INSERT OR REPLACE INTO session_aliases (old_id, new_id, renamed_at) VALUES (?, ?, ?)",
                           [old, new, now])
        after = ov.aliases_snapshot(db)
        change.aliases_added = sorted(set(after) - set(before))
        change.aliases_removed = sorted(set(before) - set(after))
        frames = len({c[0] for c in applied.changes})
        summary = summary or f"{plural(len(applied.changes), 'value')} of {plural(frames, 'frame')} changed"
        db.execute("UPDATE history SET aliases_added = ?, aliases_removed = ?, summary = ? WHERE id = ?",
                   [json.dumps(change.aliases_added), json.dumps(change.aliases_removed), summary, hid])
        change.changes = applied.changes
        change.history_id = None if dry_run else hid
        if not applied.changes and not change.aliases_added and all(o.kind == "frame" for o in overrides):
            # the frames say so already: nothing to record (a target alias with no frame yet
            # is recorded: it applies to the frames scanned later)
            change.history_id, change.noop, tx[0] = None, True, False
    if change.noop:
        return change
    if not dry_run:
        change.warnings += filter(None, [overrides_file.append_entry(db, hid)])
    return change


def sync(db: sqlite_utils.Database) -> None:
    """Import corrections the catalog lacks from the journal file (a rebuilt catalog)."""
    with db.conn:
        applied = overrides_file.sync(db)
        if applied is not None:
            refresh_derived(db, applied.sessions, applied.sha256s)


def undo(db: sqlite_utils.Database, history_id: int | None = None, dry_run: bool = False) -> Change:
    """Revert one history entry (default: the latest not undone): its corrections stop
    applying, and the session aliases it added or removed are put back as they were."""
    sync(db)
    if history_id is None:
        row = db.execute("SELECT id FROM history WHERE undone_at IS NULL ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            raise CurationError("nothing to undo: no change in the history is still in effect")
        history_id = row[0]
    h = db.execute("SELECT id, uuid, command, undone_at, aliases_added, aliases_removed FROM history WHERE id = ?",
                   [history_id]).fetchone()
    if h is None:
        raise CurationError(f"no change {history_id} in the history (see `astrocat history`)")
    if h[3]:
        raise CurationError(f"change {history_id} ({h[2]}) was already undone at {h[3]}")
    change = Change(None, f"undo {history_id}", [], dry_run=dry_run)
    now = utc_now()
    with _transaction(db, keep=not dry_run):
        before = ov.aliases_snapshot(db)
        db.execute("UPDATE history SET undone_at = ? WHERE id = ?", [now, history_id])
        applied = ov.apply(db)
        refresh_derived(db, applied.sessions, applied.sha256s)
        added = {tuple(r) for r in json.loads(h[4] or "[]")}
        removed = {tuple(r) for r in json.loads(h[5] or "[]")}
        restored = (set(before) - added) | removed
        # a session note that followed the change (re-keyed to the new id) must be able to
        # follow it back: the undo's own rename of that session stays recorded
        noted = _noted_sessions(db)
        restored |= {r for r in set(ov.aliases_snapshot(db)) - set(before) if r[0] in noted}
        ov.set_aliases(db, sorted(restored))
        after = ov.aliases_snapshot(db)
        change.aliases_added = sorted(set(after) - set(before))
        change.aliases_removed = sorted(set(before) - set(after))
        change.changes = applied.changes
        change.history_id = history_id
    if not dry_run:
        change.warnings += filter(None, [overrides_file.append_undo(db, h[1], now)])
    return change


def _noted_sessions(db: sqlite_utils.Database) -> set[str]:
    if not db["notes"].exists():
        return set()
    return {r[0] for r in db.execute("SELECT key FROM notes WHERE kind = 'session'")}


# --- frames ----------------------------------------------------------------------------

def select_frames(db: sqlite_utils.Database, ids: Sequence[int] = (), session: str | None = None,
                  path_glob: str | None = None) -> list[dict[str, Any]]:
    """The frames a command names: by id, by session (an old id works too), by path glob."""
    if not ids and session is None and path_glob is None:
        raise CurationError("name the frames: frame ids, --session ID or --path GLOB")
    clauses, params = [], []
    if ids:
        clauses.append(f"id IN ({','.join('?' * len(ids))})")
        params += list(ids)
    if session is not None:
        clauses.append("session_id = ?")
        params.append(resolve_session(db, session))
    if path_glob is not None:
        clauses.append("path GLOB ?")
        params.append(path_glob)
    rows = list(db.query(f"SELECT * FROM frames WHERE {' OR '.join(clauses)} ORDER BY id", params))
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        raise CurationError(f"no frame with id {', '.join(map(str, missing))} (see `astrocat list files`)")
    if not rows:
        raise CurationError("no frame matches")
    return rows


def frame_overrides(rows: Sequence[dict[str, Any]], values: dict[str, Any]) -> list[ov.Override]:
    """One override per content and field (copies of a content share them)."""
    out: dict[tuple[str, str], ov.Override] = {}
    for r in rows:
        if not r.get("sha256"):
            raise CurationError(f"{r['path']}: not hashed yet, so it cannot be corrected; scan it first")
        for f, v in values.items():
            out.setdefault((r["sha256"], f), ov.Override("frame", r["sha256"], f, v, r.get(f)))
    return list(out.values())


def find_frame(db: sqlite_utils.Database, ref: str) -> dict[str, Any]:
    """A frame by id, catalog path or sha256 (a unique prefix of 8+ characters)."""
    row = None
    if ref.isdigit():
        row = db.execute("SELECT id FROM frames WHERE id = ?", [int(ref)]).fetchone()
    if row is None:
        row = db.execute("SELECT id FROM frames WHERE path = ?", [ref]).fetchone()
    if row is None and len(ref) >= 8:
        found = db.execute("SELECT id FROM frames WHERE sha256 LIKE ? LIMIT 2", [ref.lower() + "%"]).fetchall()
        if len(found) > 1:
            raise CurationError(f"{ref}: more than one frame has a sha256 starting so; give more of it")
        row = found[0] if found else None
    if row is None:
        raise CurationError(f"{ref}: no such frame (give its id, catalog path or sha256)")
    return next(iter(db.query("SELECT * FROM frames WHERE id = ?", [row[0]])))


# --- sessions --------------------------------------------------------------------------

def _members(db: sqlite_utils.Database, sid: str) -> list[tuple[str, str, bool]]:
    """(sha256, session id from the headers, moved by a frame correction) per frame of a session."""
    _, frame, _ = ov.active(db)
    out = []
    for sha, current, raw in db.execute("SELECT sha256, session_id, raw FROM frames WHERE session_id = ?", [sid]):
        base = ov.raw_values(raw).get("session_id", current)
        out.append((sha, base, "session_id" in frame.get(sha or "", {})))
    return out


def _existing(db: sqlite_utils.Database, sid: str) -> str:
    current = resolve_session(db, sid)
    if not db.execute("SELECT 1 FROM frames WHERE session_id = ?", [current]).fetchone():
        raise CurationError(f"no session {sid} (see `astrocat list sessions`)")
    return current


def _move_session(db: sqlite_utils.Database, sid: str, new: str) -> list[ov.Override]:
    rows: dict[tuple[str, str], ov.Override] = {}
    for sha, base, moved in _members(db, sid):
        if moved or not base:
            if sha:
                rows[("frame", sha)] = ov.Override("frame", sha, "session_id", new, sid)
        else:
            rows[("session", base)] = ov.Override("session", base, "session_id", new, sid)
    return list(rows.values())


def session_rename(db: sqlite_utils.Database, old: str, new: str) -> tuple[list[ov.Override], list[tuple[str, str]]]:
    current = _existing(db, old)
    new = new.strip()
    if not new or "/" in new:
        raise CurationError(f"{new!r}: a session id must be a non-empty name without '/'")
    if new == current:
        raise CurationError(f"session {current} already has that id")
    if db.execute("SELECT 1 FROM frames WHERE session_id = ?", [new]).fetchone():
        raise CurationError(f"session {new} exists already: use `astrocat session merge {new} {current}`")
    return _move_session(db, current, new), [(current, new)]


def session_merge(db: sqlite_utils.Database, keep: str, others: Sequence[str]) -> tuple[list[ov.Override], list[tuple[str, str]]]:
    into = _existing(db, keep)
    rows, aliases = [], []
    for o in others:
        current = _existing(db, o)
        if current == into:
            raise CurationError(f"session {o} is {into} itself")
        rows += _move_session(db, current, into)
        aliases.append((current, into))
    return rows, aliases


def _utc(text: str, option: str) -> str:
    """An ISO date and time as the catalog writes date_obs (UTC; naive means UTC)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CurationError(f"{option} {text!r}: expected a UTC date and time like 2024-11-01T23:30") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def session_split(db: sqlite_utils.Database, sid: str, at: str, new_id: str | None = None) -> list[ov.Override]:
    current = _existing(db, sid)
    when = _utc(at, "--at")
    later = [r for r in db.query("SELECT sha256, date_obs FROM frames WHERE session_id = ?", [current])
             if r["date_obs"] and r["date_obs"] >= when]
    total = db.execute("SELECT COUNT(*) FROM frames WHERE session_id = ?", [current]).fetchone()[0]
    if not later or len(later) == total:
        raise CurationError(f"--at {at}: every frame of {current} is on one side of it; nothing to split")
    taken = [r[0] for r in db.execute("SELECT DISTINCT session_id FROM frames WHERE session_id IS NOT NULL")]
    new = new_id or rules.split_id(current, taken)
    if new in taken:
        raise CurationError(f"session {new} exists already")
    return [ov.Override("frame", sha, "session_id", new, current) for sha in sorted({r["sha256"] for r in later if r["sha256"]})]


def session_move_frames(db: sqlite_utils.Database, to: str, frame_ids: Sequence[int] = (),
                        start: str | None = None, until: str | None = None) -> list[ov.Override]:
    to = resolve_session(db, to)
    if frame_ids:
        rows = select_frames(db, ids=frame_ids)
    elif start and until:
        a, b = _utc(start, "--from"), _utc(until, "--until")
        rows = list(db.query("SELECT * FROM frames WHERE date_obs >= ? AND date_obs <= ? ORDER BY id", [a, b]))
        if not rows:
            raise CurationError(f"no frame was taken between {a} and {b}")
    else:
        raise CurationError("name the frames: --frame-id ID ... or --from TIME --until TIME")
    rows = [r for r in rows if r["session_id"] != to]
    if not rows:
        raise CurationError(f"those frames are in session {to} already")
    return frame_overrides(rows, {"session_id": to})


def session_set(db: sqlite_utils.Database, sid: str, telescope: str) -> list[ov.Override]:
    current = _existing(db, sid)
    rows: dict[tuple[str, str], ov.Override] = {}
    before = db.execute("SELECT telescope FROM frames WHERE session_id = ? LIMIT 1", [current]).fetchone()[0]
    for sha, base, moved in _members(db, current):
        if moved or not base:
            if sha:
                rows[("frame", sha)] = ov.Override("frame", sha, "telescope", telescope, before)
        else:
            rows[("session", base)] = ov.Override("session", base, "telescope", telescope, before)
    return list(rows.values())


# --- targets ---------------------------------------------------------------------------

def _target_names(db: sqlite_utils.Database) -> dict[str, str]:
    return {r[0].casefold(): r[0] for r in db.execute("SELECT DISTINCT target FROM frames WHERE target IS NOT NULL")}


def target_alias(db: sqlite_utils.Database, name: str, target: str) -> list[ov.Override]:
    if name.casefold() == target.casefold():
        raise CurationError(f"{name!r} and {target!r} are the same name")
    _, _, aliases = ov.active(db)
    if (rules.resolve_target(target, aliases) or "").casefold() == name.casefold():
        raise CurationError(f"{target} is already another name for {name}: that alias would make a loop")
    return [ov.Override("target", name, "target", target, aliases.get(name.casefold()))]


def target_rename(db: sqlite_utils.Database, old: str, new: str) -> list[ov.Override]:
    names = _target_names(db)
    if old.casefold() not in names:
        raise CurationError(f"no target {old} (see `astrocat list targets`)")
    if new.casefold() in names and new.casefold() != old.casefold():
        raise CurationError(f"target {new} exists already: use `astrocat target merge {new} {old}`")
    return target_alias(db, names[old.casefold()], new)


def target_merge(db: sqlite_utils.Database, keep: str, others: Sequence[str]) -> list[ov.Override]:
    names = _target_names(db)
    for n in (keep, *others):
        if n.casefold() not in names:
            raise CurationError(f"no target {n} (see `astrocat list targets`)")
    return [o for other in others for o in target_alias(db, names[other.casefold()], names[keep.casefold()])]


def known_targets(db: sqlite_utils.Database) -> Candidates:
    """Candidates from the catalog's own targets, placed by their frames' coordinates."""
    places = [(n, ra, dec) for n, ra, dec in db.execute(
        "SELECT name, ra_deg, dec_deg FROM targets WHERE ra_deg IS NOT NULL AND dec_deg IS NOT NULL")]

    def nearest(ra: float, dec: float, radius: float) -> list[tuple[str, float]]:
        return rules.nearest(ra, dec, places, radius)

    return nearest


def suggest(db: sqlite_utils.Database, radius_deg: float | Callable[[dict[str, Any]], float],
            sources: Sequence[Candidates]) -> list[dict[str, Any]]:
    """For each counted light frame without a target but with coordinates, the nearest
    candidate within the radius (first source that has one). Nothing is changed.

    `radius_deg` is a number, or a function of the frame's row (camera, telescope,
    focal_length_mm) giving a radius tied to its field of view."""
    out = []
    for r in db.query(
        "SELECT id, path, sha256, ra_deg, dec_deg, session_id, camera, telescope, focal_length_mm FROM frames "
        "WHERE counted = 1 AND frame_type = 'light' AND target IS NULL AND ra_deg IS NOT NULL AND dec_deg IS NOT NULL "
        "ORDER BY id"
    ):
        radius = radius_deg(r) if callable(radius_deg) else radius_deg
        for k in ("camera", "telescope", "focal_length_mm"):
            r.pop(k)
        for source in sources:
            found = source(r["ra_deg"], r["dec_deg"], radius)
            if found:
                name, sep = found[0]
                out.append({**r, "target": name, "separation_deg": round(sep, 4)})
                break
    return out


def assign_suggested(db: sqlite_utils.Database, radius_deg: float | Callable[[dict[str, Any]], float],
                     sources: Sequence[Candidates]) -> list[ov.Override]:
    found = suggest(db, radius_deg, sources)
    if not found:
        within = "its field of view" if callable(radius_deg) else f"{radius_deg} deg"
        raise CurationError(f"no suggestion: no target-less light frame lies within {within} of a known target")
    rows: dict[str, ov.Override] = {}
    for s in found:
        if s["sha256"]:
            rows.setdefault(s["sha256"], ov.Override("frame", s["sha256"], "target", s["target"], None))
    return list(rows.values())
