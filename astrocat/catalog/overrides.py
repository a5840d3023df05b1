"""Corrections as data: the `overrides` and `history` tables, and applying them to frames.

A correction never edits a file and never replaces a header value for good: it is a
row of `overrides` (keyed by a frame's sha256, a session id as the headers give it, or
a target name) belonging to one `history` entry (one command, undoable). The frames'
columns hold the effective values (`astrocat.rules.curation.effective`), so every
reader sees the corrected catalog; `frames.raw` keeps the header's value of each
corrected field (JSON, NULL when nothing is corrected). Scan calls `apply` on every
batch it writes, so a rescan, `scan --full` or a rebuilt catalog keeps every correction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from astrocat.rules import curation as rules

if TYPE_CHECKING:
    import sqlite_utils

Aliases = list[tuple[str, str, str]]  # session_aliases rows (old_id, new_id, renamed_at)


def _m8_curation(db: sqlite_utils.Database) -> None:
    from astrocat.catalog.derived import refresh_sessions, refresh_targets

    db.execute("ALTER TABLE frames ADD COLUMN bad INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE frames ADD COLUMN bad_reason TEXT")
    db.execute("ALTER TABLE frames ADD COLUMN raw TEXT")
    db.execute("CREATE INDEX idx_frames_raw ON frames(id) WHERE raw IS NOT NULL")
    db.execute(
        "CREATE TABLE history (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, at TEXT NOT NULL, "
        "who TEXT, command TEXT NOT NULL, summary TEXT, aliases_added TEXT, aliases_removed TEXT, "
        "undone_at TEXT)"
    )
    db.execute(
        "CREATE TABLE overrides (id INTEGER PRIMARY KEY, history_id INTEGER NOT NULL REFERENCES history(id), "
        "kind TEXT NOT NULL CHECK (kind IN ('frame', 'session', 'target')), key TEXT NOT NULL, "
        "field TEXT NOT NULL, value TEXT, value_before TEXT, who TEXT, at TEXT NOT NULL, why TEXT)"
    )
    db.execute("CREATE INDEX idx_overrides_key ON overrides(kind, key)")
    # integration now also asks `bad = 0`: the covering index carries it
    db.execute("DROP INDEX IF EXISTS idx_frames_integration")
    db.execute(
        "CREATE INDEX idx_frames_integration ON frames(counted, bad, frame_type, is_master, target, filter, "
        "night, exposure_s) WHERE frame_type = 'light' AND is_master = 0"
    )
    refresh_sessions(db)
    refresh_targets(db)


@dataclass(frozen=True)
class Override:
    kind: str  # frame | session | target
    key: str  # sha256 | the session id the headers give | a target name
    field: str
    value: Any
    before: Any = None


@dataclass
class Applied:
    """What applying the corrections changed: (frame id, path, field, old, new) per value,
    the sessions and contents touched (for refresh_derived)."""

    changes: list[tuple[int, str, str, Any, Any]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    sha256s: set[str] = field(default_factory=set)


def active(db: sqlite_utils.Database) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]]:
    """(session id -> {field: value}, sha256 -> {field: value}, casefolded name -> target)
    of the corrections not undone; a later correction of the same key and field wins."""
    session: dict[str, dict[str, Any]] = {}
    frame: dict[str, dict[str, Any]] = {}
    aliases: dict[str, str] = {}
    for kind, key, fld, value in db.execute(
        "SELECT o.kind, o.key, o.field, o.value FROM overrides o JOIN history h ON h.id = o.history_id "
        "WHERE h.undone_at IS NULL ORDER BY o.history_id, o.id"
    ):
        v = json.loads(value) if value is not None else None
        if kind == "session":
            session.setdefault(key, {})[fld] = v
        elif kind == "frame":
            frame.setdefault(key, {})[fld] = v
        else:
            aliases[key.casefold()] = v
    return session, frame, aliases


_COLS = ["id", "path", "sha256", "raw", *rules.FIELDS]


def apply(db: sqlite_utils.Database, paths: Sequence[str] | None = None, fresh: bool = False,
          write: bool = True) -> Applied:
    """Bring frames' columns to their effective values.

    `paths`: only these frames (None: every frame a correction may touch). `fresh`: their
    columns were just written from the headers (scan), so they are the base, not `raw`.
    `write=False` only says what would change (`verify database`)."""
    out = Applied()
    session, frame, aliases = active(db)
    cols = ", ".join(f'"{c}"' for c in _COLS)
    if paths is not None:
        if not (session or frame or aliases) and not fresh:
            return out
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(paths), 500):
            chunk = list(paths[i : i + 500])
            marks = ",".join("?" * len(chunk))
            # a fresh frame with nothing to correct has nothing to do (the common case on scan)
            extra = ("" if not fresh else
                     " AND (raw IS NOT NULL OR sha256 IN (SELECT key FROM overrides WHERE kind = 'frame') "
                     "OR session_id IN (SELECT key FROM overrides WHERE kind = 'session') "
                     "OR target COLLATE NOCASE IN (SELECT key FROM overrides WHERE kind = 'target'))")
            rows += db.execute(f"SELECT {cols} FROM frames WHERE path IN ({marks}){extra}", chunk).fetchall()
    else:
        rows = db.execute(
            f"SELECT {cols} FROM frames WHERE raw IS NOT NULL "
            "OR sha256 IN (SELECT key FROM overrides WHERE kind = 'frame') "
            "OR session_id IN (SELECT key FROM overrides WHERE kind = 'session') "
            "OR target COLLATE NOCASE IN (SELECT key FROM overrides WHERE kind = 'target')"
        ).fetchall()
    updates = []
    for row in rows:
        rec = dict(zip(_COLS, row))
        base = {f: rec[f] for f in rules.FIELDS}
        if not fresh and rec["raw"]:
            base.update(json.loads(rec["raw"]))
        base["bad"], base["bad_reason"] = 0, None  # headers never mark a frame bad
        eff = rules.effective(base, session, frame.get(rec["sha256"] or "", {}), aliases)
        raw = {f: base[f] for f in rules.FIELDS if eff[f] != base[f]}
        raw_json = json.dumps(raw, sort_keys=True, ensure_ascii=False) if raw else None
        diff = [(f, rec[f], eff[f]) for f in rules.FIELDS if rec[f] != eff[f]]
        if not diff and raw_json == rec["raw"]:
            continue
        updates.append([*(eff[f] for f in rules.FIELDS), raw_json, rec["id"]])
        out.changes += [(rec["id"], rec["path"], f, old, new) for f, old, new in diff]
        out.sessions |= {s for s in (rec["session_id"], eff["session_id"]) if s}
        if rec["sha256"]:
            out.sha256s.add(rec["sha256"])
    if updates and write:
        sets = ", ".join(f'"{f}" = ?' for f in rules.FIELDS)
        db.conn.executemany(f"UPDATE frames SET {sets}, raw = ? WHERE id = ?", updates)
    return out


def resolve_target(db: sqlite_utils.Database, name: str) -> str:
    """The target a name stands for after the catalog's target aliases (filters use it)."""
    if not db["overrides"].exists():
        return name
    aliases = {k.casefold(): json.loads(v) for k, v in db.execute(
        "SELECT o.key, o.value FROM overrides o JOIN history h ON h.id = o.history_id "
        "WHERE o.kind = 'target' AND h.undone_at IS NULL ORDER BY o.history_id, o.id")}
    return rules.resolve_target(name, aliases) or name


def decoded(value: str | None) -> Any:
    """An overrides value (JSON text) as the value it is."""
    return None if value is None else json.loads(value)


def raw_values(raw: str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


def has_overrides(db: sqlite_utils.Database) -> bool:
    return db["overrides"].exists() and db.execute("SELECT 1 FROM overrides LIMIT 1").fetchone() is not None


# --- history ---------------------------------------------------------------------------

def aliases_snapshot(db: sqlite_utils.Database) -> Aliases:
    return [tuple(r) for r in db.execute("SELECT old_id, new_id, renamed_at FROM session_aliases ORDER BY old_id")]


def set_aliases(db: sqlite_utils.Database, rows: Iterable[Sequence[str]]) -> None:
    db.execute("DELETE FROM session_aliases")
    db.conn.executemany("INSERT OR REPLACE INTO session_aliases (old_id, new_id, renamed_at) VALUES (?, ?, ?)",
                        [tuple(r) for r in rows])


def record(db: sqlite_utils.Database, entry: dict[str, Any], overrides: Sequence[Override],
           who: str | None, why: str | None) -> int:
    """Insert one history entry (`uuid`, `at`, `command`, `summary`) and its overrides."""
    cur = db.conn.execute(
        "INSERT INTO history (uuid, at, who, command, summary, aliases_added, aliases_removed, undone_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [entry["uuid"], entry["at"], who, entry["command"], entry.get("summary"),
         entry.get("aliases_added"), entry.get("aliases_removed"), entry.get("undone_at")],
    )
    hid = int(cur.lastrowid or 0)
    db.conn.executemany(
        "INSERT INTO overrides (history_id, kind, key, field, value, value_before, who, at, why) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(hid, o.kind, o.key, o.field, _js(o.value), _js(o.before), who, entry["at"], why) for o in overrides],
    )
    return hid


def _js(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def history(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT h.id, h.at, h.who, h.command, h.summary, h.undone_at, COUNT(o.id) AS overrides "
           "FROM history h LEFT JOIN overrides o ON o.history_id = h.id GROUP BY h.id ORDER BY h.id DESC")
    if limit:
        sql += f" LIMIT {int(limit)}"
    return list(db.query(sql))


def entry_overrides(db: sqlite_utils.Database, history_id: int) -> list[dict[str, Any]]:
    return list(db.query("SELECT kind, key, field, value, value_before, who, at, why FROM overrides "
                         "WHERE history_id = ? ORDER BY id", [history_id]))


def frame_overrides(db: sqlite_utils.Database, sha256: str | None, session_id: str | None,
                    target: str | None) -> list[dict[str, Any]]:
    """The corrections (active and undone) that name this frame, its base session or target."""
    return list(db.query(
        "SELECT o.history_id, o.kind, o.key, o.field, o.value, o.value_before, o.who, o.at, o.why, h.undone_at "
        "FROM overrides o JOIN history h ON h.id = o.history_id "
        "WHERE (o.kind = 'frame' AND o.key = ?) OR (o.kind = 'session' AND o.key = ?) "
        "OR (o.kind = 'target' AND o.key = ? COLLATE NOCASE) ORDER BY o.id",
        [sha256 or "", session_id or "", target or ""],
    ))
