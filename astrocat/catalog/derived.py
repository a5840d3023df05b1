"""The `sessions` and `targets` tables: summaries derived from the frames that count.

`refresh_derived` is the one call every writer makes after changing frames (scan,
organize, recovery, purge): it re-judges which copies count, recomputes the sessions
those changes touch, repairs copies and sessions left out of step by an interrupted
run, and recomputes the targets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from astrocat.clock import utc_now
from astrocat.catalog import sky
from astrocat.catalog.counts import counted, integrates, out_of_step_contents, refresh_counted
from astrocat.rules import sessions as sessions_rules

if TYPE_CHECKING:
    import sqlite_utils

_SESSION_FRAME_COLS = [
    "frame_type", "is_master", "target", "filter", "exposure_s", "date_obs", "night", "camera",
    "telescope", "ccd_temp_c", "site_lat", "site_lon", "size", "bad",
]


def refresh_derived(db: sqlite_utils.Database, session_ids: Iterable[str] = (),
                    sha256s: Iterable[str] | None = ()) -> None:
    """Bring `frames.counted`, `sessions` and `targets` in step with the frames.

    `session_ids`: sessions whose frames changed; `sha256s`: contents whose copies
    changed (None: judge every frame again)."""
    if sha256s is not None:
        sha256s = set(sha256s) | out_of_step_contents(db)
    ids = set(session_ids) | refresh_counted(db, sha256s)
    ids |= out_of_step_sessions(db)
    refresh_sessions(db, ids)
    record_session_renames(db)
    # Targets are sums of counted frames: they change with the frames of a session, a
    # verdict, or a content the caller changed; else only an interrupted run leaves them
    # out of step, which their totals show (read from the covering integration index).
    if ids or sha256s is None or sha256s or out_of_step_targets(db):
        refresh_targets(db)


def record_session_renames(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """Turn the session moves the frames trigger noted into renames: a session whose
    contents (sha256 set) all moved to one new session holding exactly those contents
    was renamed (an alias edit), not split or merged. Records old -> new in
    `session_aliases` (earlier aliases of the old id follow) and clears the moves."""
    if not db["session_moves"].exists():
        return []
    moved: dict[tuple[str, str], set[str]] = {}
    for old, new, sha in db.execute("SELECT old_id, new_id, sha256 FROM session_moves"):
        moved.setdefault((old, new), set()).add(sha)
    if not moved:
        return []

    def contents(sid: str) -> set[str]:
        return {r[0] for r in db.execute("SELECT sha256 FROM frames WHERE session_id = ?", [sid])}

    renames = []
    olds = [old for old, _ in moved]
    for (old, new), shas in moved.items():
        if olds.count(old) != 1 or contents(old) or contents(new) != shas:
            continue  # split, partly moved, or merged into a session that had other frames
        renames.append((old, new))
    now = utc_now()
    for old, new in renames:
        db.execute("UPDATE session_aliases SET new_id = ? WHERE new_id = ?", [new, old])
        db.execute("DELETE FROM session_aliases WHERE old_id = ?", [new])  # renamed back
        db.execute("INSERT OR REPLACE INTO session_aliases (old_id, new_id, renamed_at) VALUES (?, ?, ?)",
                   [old, new, now])
    db.execute("DELETE FROM session_aliases WHERE old_id = new_id")
    db.execute("DELETE FROM session_moves")
    return renames


def resolve_session(db: sqlite_utils.Database, session_id: str) -> str:
    """The current id of a session: itself, or what it was renamed to."""
    if db.execute("SELECT 1 FROM sessions WHERE id = ? COLLATE NOCASE", [session_id]).fetchone():
        return session_id
    if not db["session_aliases"].exists():
        return session_id
    row = db.execute("SELECT new_id FROM session_aliases WHERE old_id = ? COLLATE NOCASE", [session_id]).fetchone()
    return row[0] if row else session_id


def out_of_step_sessions(db: sqlite_utils.Database) -> set[str]:
    """Sessions whose row disagrees with their counted frames: no row, a row without a
    counted frame, or other frame, byte or integration totals (a run stopped after
    writing frames, before recomputing their sessions)."""
    rows = db.execute(
        f"""SELECT f.sid FROM (
                SELECT session_id AS sid, COUNT(*) AS n, SUM(size) AS bytes,
                       SUM(CASE WHEN {integrates()} THEN exposure_s ELSE 0 END) AS secs
                FROM frames WHERE {counted()} AND session_id IS NOT NULL GROUP BY session_id
            ) f LEFT JOIN sessions s ON s.id = f.sid
            WHERE s.id IS NULL OR s.frames IS NOT f.n OR s.bytes IS NOT f.bytes
               OR abs(COALESCE(s.integration_s, -1) - COALESCE(f.secs, 0)) > 0.01
            UNION SELECT id FROM sessions WHERE id NOT IN
                (SELECT session_id FROM frames WHERE {counted()} AND session_id IS NOT NULL)"""
    )
    return {r[0] for r in rows}


def out_of_step_targets(db: sqlite_utils.Database) -> bool:
    """True when a target row's frame count or integration disagrees with its light subs,
    or a target has no row or a row without subs."""
    want = {t: (n, round(secs or 0.0, 3)) for t, n, secs in db.execute(
        f"SELECT target, COUNT(*), SUM(exposure_s) FROM frames WHERE {integrates()} AND target IS NOT NULL "
        "GROUP BY target")}
    have = {t: (n, round(secs or 0.0, 3)) for t, n, secs in db.execute(
        "SELECT name, frames, integration_s FROM targets")}
    if want.keys() != have.keys():
        return True
    return any(want[t][0] != have[t][0] or abs(want[t][1] - have[t][1]) > 0.01 for t in want)


def refresh_sessions(db: sqlite_utils.Database, session_ids: Iterable[str] | None = None) -> int:
    """Recompute the `sessions` rows for these ids (all when None) from their frames."""
    cols = ", ".join(f'"{c}"' for c in _SESSION_FRAME_COLS)
    where = f"{counted()} AND session_id IS NOT NULL"
    ids = None if session_ids is None else sorted(set(session_ids))
    if ids is not None:
        if not ids:
            return 0
        db.conn.executemany("DELETE FROM sessions WHERE id = ?", [(i,) for i in ids])
    else:
        db.execute("DELETE FROM sessions")
    groups: dict[str, list[dict[str, Any]]] = {}
    batches = [ids[i : i + 500] for i in range(0, len(ids), 500)] if ids is not None else [None]
    names = ["session_id"] + _SESSION_FRAME_COLS
    for batch in batches:
        sql = f"SELECT session_id, {cols} FROM frames WHERE {where}"
        params: list[Any] = []
        if batch is not None:
            sql += f" AND session_id IN ({','.join('?' * len(batch))})"
            params = list(batch)
        for row in db.execute(sql, params):
            rec = dict(zip(names, row))
            groups.setdefault(rec["session_id"], []).append(rec)
    rows = [sessions_rules.summarize(sid, frames) for sid, frames in groups.items()]
    if rows:
        db["sessions"].insert_all(rows, pk="id", replace=True)
    return len(rows)


def refresh_targets(db: sqlite_utils.Database) -> int:
    """Recompute the `targets` table from the light subs that count (one grouped query).

    Frames, integration, nights and sessions all come from the same frames, so a
    master stack on another night adds neither a night nor a session. The sky catalog
    adds type, constellation, common name, and coordinates where the frames have none."""
    known = sky.known_facts(db) if sky.has_columns(db) else None
    db.execute("DELETE FROM targets")
    rows: dict[str, dict[str, Any]] = {}
    q = f"""
      SELECT target, filter, COUNT(*), SUM(exposure_s), MIN(night), MAX(night)
      FROM frames
      WHERE {integrates()} AND target IS NOT NULL
      GROUP BY target, filter
    """
    for target, flt, n, secs, first_n, last_n in db.execute(q):
        t = rows.setdefault(
            target,
            {"name": target, "frames": 0, "integration_s": 0.0, "by_filter": {},
             "first_night": first_n, "last_night": last_n},
        )
        t["frames"] += n
        t["integration_s"] += secs or 0.0
        t["by_filter"][flt or "(none)"] = round(secs or 0.0, 3)
        t["first_night"] = min(filter(None, [t["first_night"], first_n]), default=None)
        t["last_night"] = max(filter(None, [t["last_night"], last_n]), default=None)
    # per target, over all its light subs (not per filter): sessions, nights, position
    wrapped = "(CASE WHEN ra_deg >= 180 THEN ra_deg - 360 ELSE ra_deg END)"
    per_target = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT target, COUNT(DISTINCT session_id), COUNT(DISTINCT night), "
            f"AVG(ra_deg), AVG(ra_deg * ra_deg), AVG({wrapped}), AVG({wrapped} * {wrapped}), AVG(dec_deg) "
            f"FROM frames WHERE {integrates()} AND target IS NOT NULL GROUP BY target"
        )
    }
    out = []
    for name, t in rows.items():
        by_filter = t.pop("by_filter")
        sessions, nights, ra, ra2, wra, wra2, dec = per_target.get(name, (0, 0, None, None, None, None, None))
        out.append(
            {
                **t,
                "integration_s": round(t["integration_s"], 3),
                "integration_by_filter": json.dumps(by_filter, sort_keys=True),
                "filters": json.dumps(sorted(by_filter)),
                "sessions": sessions,
                "nights": nights,
                "ra_deg": _mean_ra(ra, ra2, wra, wra2),
                "dec_deg": dec,
            }
        )
    if out and known is not None:
        version = sky.skycat.stamp()
        out = [sky.add_facts(r, known.get(r["name"]), version) for r in out]
    if out:
        db["targets"].insert_all(out, pk="name", replace=True)
    return len(out)


def _mean_ra(mean: float | None, mean_sq: float | None, wrapped: float | None,
             wrapped_sq: float | None) -> float | None:
    """The mean right ascension, right across 0h too: of the plain mean and the mean of
    RA taken in (-180, 180], the one whose values scatter less (frames at 359.9 and
    0.1 deg average to 0.0, not 180)."""
    if mean is None or mean_sq is None or wrapped is None or wrapped_sq is None:
        return mean
    if wrapped_sq - wrapped * wrapped < mean_sq - mean * mean:
        return wrapped % 360.0
    return mean
