"""The SQLite catalog (sqlite-utils): schema, numbered migrations, upserts, queries.

This module owns the tables `frames`, `rejects`, `sessions`, `targets` and
`schema_version`. Later features add their own tables through `MIGRATIONS`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any


def _import_sqlite_utils() -> ModuleType:
    """Import sqlite-utils without letting it import numpy and pandas.

    sqlite-utils imports them, when installed, only to name column types for their
    scalar types. astrocat never hands it numpy or pandas values (sqlite3 would store
    a numpy number as raw bytes anyway), and numpy alone costs every astrocat command
    ~0.1 s and a BLAS thread pool at start-up (docs/performance.md). They stay
    importable: the block is lifted as soon as sqlite-utils is loaded."""
    if "sqlite_utils" in sys.modules or "numpy" in sys.modules:
        import sqlite_utils
        return sqlite_utils
    blocked = [m for m in ("numpy", "pandas") if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment]  # `import m` raises ImportError
    try:
        import sqlite_utils
    finally:
        for m in blocked:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]
    return sqlite_utils


if TYPE_CHECKING:
    import sqlite_utils
else:
    sqlite_utils = _import_sqlite_utils()

from . import sessions as sessions_rules  # noqa: E402

# The frame fields of DESIGN.md, in order: these are also the --json names.
FRAME_FIELDS = [
    "id", "path", "size", "mtime", "sha256", "frame_type", "is_master", "object", "target",
    "panel", "filter", "exposure_s", "date_obs", "night", "session_id", "camera", "telescope",
    "mount", "focal_length_mm", "gain", "offset", "ccd_temp_c", "set_temp_c", "binning", "width",
    "height", "bayer_pattern", "readout_mode", "ra_deg", "dec_deg", "site_lat", "site_lon",
    "software", "location", "problems", "scanned_at",
]

_FRAME_SQL = """
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT,
    frame_type TEXT NOT NULL DEFAULT 'unknown'
        CHECK (frame_type IN ('light','dark','flat','bias','darkflat','unknown')),
    is_master INTEGER NOT NULL DEFAULT 0,
    object TEXT,
    target TEXT,
    panel TEXT,
    filter TEXT,
    exposure_s REAL,
    date_obs TEXT,
    night TEXT,
    session_id TEXT,
    camera TEXT,
    telescope TEXT,
    mount TEXT,
    focal_length_mm REAL,
    gain REAL,
    "offset" REAL,
    ccd_temp_c REAL,
    set_temp_c REAL,
    binning TEXT,
    width INTEGER,
    height INTEGER,
    bayer_pattern TEXT,
    readout_mode TEXT,
    ra_deg REAL,
    dec_deg REAL,
    site_lat REAL,
    site_lon REAL,
    software TEXT,
    location TEXT NOT NULL DEFAULT 'quarantine',
    problems TEXT,
    scanned_at TEXT,
    header_json TEXT
)
"""

_INDEXED = [
    "sha256", "frame_type", "target", "filter", "night", "session_id", "camera", "telescope",
    "date_obs", "location", "exposure_s",
]


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.execute(_FRAME_SQL)
    for col in _INDEXED:
        db.execute(f"CREATE INDEX idx_frames_{col} ON frames({col})")
    db.execute(
        "CREATE INDEX idx_frames_lights ON frames(frame_type, target, filter, exposure_s)"
    )
    db["rejects"].create(
        {"path": str, "size": int, "mtime": float, "reason": str, "scanned_at": str}, pk="path"
    )
    db["sessions"].create(
        {
            "id": str, "night": str, "camera": str, "telescope": str, "site_lat": float,
            "site_lon": float, "targets": str, "filters": str, "frames": int, "lights": int,
            "darks": int, "flats": int, "biases": int, "darkflats": int,
            "integration_s": float, "integration_by_filter": str, "frames_by_type": str,
            "ccd_temp_min": float, "ccd_temp_max": float, "ccd_temp_mean": float,
            "first_utc": str, "last_utc": str, "bytes": int,
        },
        pk="id",
    )
    db.execute("CREATE INDEX idx_sessions_night ON sessions(night)")
    db["targets"].create(
        {
            "name": str, "frames": int, "integration_s": float, "integration_by_filter": str,
            "filters": str, "sessions": int, "nights": int, "first_night": str,
            "last_night": str, "ra_deg": float, "dec_deg": float,
        },
        pk="name",
    )


def _m2_notes(db: sqlite_utils.Database) -> None:
    # The user's own prose from the Obsidian notes, read back by `astrocat notes`
    # (the notes module owns the rows); the site renders it, Datasette searches it.
    db["notes"].create(
        {"id": str, "kind": str, "key": str, "path": str, "user_text": str, "updated_at": str},
        pk="id",
    )
    db.execute("CREATE INDEX idx_notes_kind_key ON notes(kind, key)")


# Full-text search (FTS5, porter stemming) for Datasette's search box. External-content
# tables: the text lives once, in frames/notes; triggers keep the index in step.
_FTS = {
    # fts table: (content table, rowid column, indexed columns)
    "frames_fts": ("frames", "id", ("target", "object", "filter", "camera", "telescope", "path")),
    "notes_fts": ("notes", "rowid", ("key", "user_text")),
}


def _m4_search(db: sqlite_utils.Database) -> None:
    # `month` for Datasette's month facet: a VIRTUAL generated column (no storage, indexable,
    # invisible to sqlite-utils' column lists) rather than a view, so one `frames` table
    # carries the facets, the search box and the site's links.
    db.execute(
        "ALTER TABLE frames ADD COLUMN month TEXT GENERATED ALWAYS AS (substr(night, 1, 7)) VIRTUAL"
    )
    db.execute("CREATE INDEX idx_frames_month ON frames(month)")
    # Covering partial index for "integration by target and filter": the query reads this
    # index alone, in group order, instead of visiting every light frame's row (frame_type
    # and is_master are in it too, or SQLite visits the rows to re-check them).
    db.execute(
        "CREATE INDEX idx_frames_integration ON frames(frame_type, is_master, target, filter, night, "
        "exposure_s, location) WHERE frame_type = 'light' AND is_master = 0"
    )
    for fts, (table, rowid, cols) in _FTS.items():
        names = ", ".join(cols)
        new = ", ".join(f"new.{c}" for c in cols)
        old = ", ".join(f"old.{c}" for c in cols)
        changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in cols)
        db.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content=\"{table}\", "
            f"content_rowid=\"{rowid}\", tokenize=\"porter unicode61\")"
        )
        # ON CONFLICT DO UPDATE (upsert_frames) fires the UPDATE trigger; the WHEN clause
        # skips rescans that changed none of the indexed text.
        db.execute(
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.{rowid}, {new}); END"
        )
        db.execute(
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.{rowid}, {old}); END"
        )
        db.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE ON {table} WHEN {changed} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.{rowid}, {old}); "
            f"INSERT INTO {fts}(rowid, {names}) VALUES (new.{rowid}, {new}); END"
        )
    rebuild_fts(db)


def rebuild_fts(db: sqlite_utils.Database) -> None:
    """Rebuild the search indexes from frames and notes (after bulk loads or outside edits)."""
    for fts in _FTS:
        if db[fts].exists():
            db.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")

def _m3_moves(db: sqlite_utils.Database) -> None:
    # The organize journal (library.py owns it): every move is written here before a file
    # is touched, so the next run can finish or roll back a move a crash interrupted.
    db.execute(
        """
        CREATE TABLE moves (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER REFERENCES frames(id) ON DELETE SET NULL,
            kind TEXT NOT NULL CHECK (kind IN ('file','duplicate','relayout')),
            method TEXT NOT NULL CHECK (method IN ('link','copy')),
            src TEXT NOT NULL,
            dst TEXT NOT NULL,
            tmp TEXT,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('planned','filed','done','rolled_back','failed')),
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_moves_state ON moves(state)")
    db.execute("CREATE INDEX idx_moves_frame ON moves(frame_id)")


# Numbered migrations, run in order on open; never edit one that has shipped.
MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "frames, rejects, sessions, targets", _m1_initial),
    (2, "notes", _m2_notes),
    (3, "moves (organize journal)", _m3_moves),
    (4, "full-text search, month column, integration index", _m4_search),
]


class CatalogError(Exception):
    """The catalog file cannot be opened or is not an astrocat catalog."""


def open_catalog(path: str | Path, readonly: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) the catalog in WAL mode and run pending migrations."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise CatalogError(f"{path}: no catalog yet; run `astrocat scan` first")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return sqlite_utils.Database(conn)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=30)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        # INSERT OR REPLACE (sqlite-utils' replace=True) then fires DELETE triggers, which
        # keeps the search index in step with rows it replaces.
        db.execute("PRAGMA recursive_triggers=ON")
        migrate(db)
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{path}: not a usable catalog: {exc}") from None
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return row[0] or 0


def migrate(db: sqlite_utils.Database) -> int:
    if not db["schema_version"].exists():
        db["schema_version"].create(
            {"version": int, "name": str, "applied_at": str}, pk="version", if_not_exists=True
        )
    current = schema_version(db)
    for number, name, fn in MIGRATIONS:
        if number <= current:
            continue
        with db.conn:
            fn(db)
            db["schema_version"].insert(
                {"version": number, "name": name, "applied_at": _now()}
            )
    return schema_version(db)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- writes -------------------------------------------------------------------------

_WRITE_COLS = [f for f in FRAME_FIELDS if f != "id"] + ["header_json"]


def upsert_frames(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update frames by path (ON CONFLICT DO UPDATE keeps ids and fires triggers)."""
    upsert_frame_values(db, [frame_values(r) for r in rows])


def frame_values(row: dict[str, Any]) -> list[Any]:
    """A frame row as the parameters of `upsert_frame_values` (scan builds them in its workers)."""
    get = row.get
    # str, float, int and None go in as they are: test their exact types before _cell's rules
    return [v if type(v) in _PLAIN else _cell(v) for v in map(get, _WRITE_COLS)]


_PLAIN = frozenset({str, float, int, type(None)})
_COLS_SQL = ", ".join(f'"{c}"' for c in _WRITE_COLS)
_ROW_MARKS = "(" + ", ".join("?" * len(_WRITE_COLS)) + ")"
_ON_CONFLICT = " ON CONFLICT(path) DO UPDATE SET " + ", ".join(
    f'"{c}"=excluded."{c}"' for c in _WRITE_COLS if c != "path"
)


def upsert_frame_values(db: sqlite_utils.Database, values: Sequence[Sequence[Any]]) -> None:
    """`upsert_frames` for rows already turned into parameters by `frame_values`."""
    if not values:
        return
    # Many rows per statement, not executemany: each statement that fires the search
    # triggers makes FTS5 flush a new index segment, so one row per statement costs a
    # scan ~20 % (benchmarks/bench_fts_triggers.py).
    per_stmt = max(1, min(200, db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(_WRITE_COLS)))
    for i in range(0, len(values), per_stmt):
        chunk = values[i : i + per_stmt]
        sql = f"INSERT INTO frames ({_COLS_SQL}) VALUES {', '.join([_ROW_MARKS] * len(chunk))}{_ON_CONFLICT}"
        db.conn.execute(sql, [v for row in chunk for v in row])


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str) if value else None
    return value


def record_rejects(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        db["rejects"].upsert_all(rows, pk="path")


def forget_rejects(db: sqlite_utils.Database, paths: Iterable[str]) -> None:
    db.conn.executemany("DELETE FROM rejects WHERE path = ?", [(p,) for p in paths])


def known_files(db: sqlite_utils.Database) -> dict[str, tuple[int, float, str]]:
    """path -> (size, mtime, kind) for every cataloged frame and reject."""
    out: dict[str, tuple[int, float, str]] = {}
    for path, size, mtime, location in db.execute(
        "SELECT path, size, mtime, location FROM frames"
    ):
        out[path] = (size, mtime, "missing" if location == "missing" else "frame")
    for path, size, mtime in db.execute("SELECT path, size, mtime FROM rejects"):
        out.setdefault(path, (size, mtime, "reject"))
    return out


def mark_missing(db: sqlite_utils.Database, paths: Iterable[str]) -> list[str]:
    """Set location='missing' for frames whose file is gone; rejects are simply dropped."""
    paths = list(paths)
    db.conn.executemany(
        "UPDATE frames SET location = 'missing' WHERE path = ? AND location != 'missing'",
        [(p,) for p in paths],
    )
    forget_rejects(db, paths)
    return paths


def session_ids_for_paths(db: sqlite_utils.Database, paths: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        q = f"SELECT DISTINCT session_id FROM frames WHERE path IN ({','.join('?' * len(chunk))})"
        out.update(r[0] for r in db.execute(q, chunk) if r[0])
    return out


# --- sessions and targets -----------------------------------------------------------

_SESSION_FRAME_COLS = [
    "frame_type", "is_master", "target", "filter", "exposure_s", "date_obs", "night", "camera",
    "telescope", "ccd_temp_c", "site_lat", "site_lon", "size",
]


def refresh_sessions(db: sqlite_utils.Database, session_ids: Iterable[str] | None = None) -> int:
    """Recompute the `sessions` rows for these ids (all when None) from their frames."""
    cols = ", ".join(f'"{c}"' for c in _SESSION_FRAME_COLS)
    where = "location NOT IN ('missing', 'duplicate') AND session_id IS NOT NULL"
    params: list[Any] = []
    ids = None if session_ids is None else sorted(set(session_ids))
    if ids is not None:
        if not ids:
            return 0
        db.conn.executemany("DELETE FROM sessions WHERE id = ?", [(i,) for i in ids])
    else:
        db.execute("DELETE FROM sessions")
    groups: dict[str, list[dict[str, Any]]] = {}
    batches = [ids[i : i + 500] for i in range(0, len(ids), 500)] if ids is not None else [None]
    for batch in batches:
        sql = f"SELECT session_id, {cols} FROM frames WHERE {where}"
        params = []
        if batch is not None:
            sql += f" AND session_id IN ({','.join('?' * len(batch))})"
            params = list(batch)
        cur = db.execute(sql, params)
        names = ["session_id"] + _SESSION_FRAME_COLS
        for row in cur:
            rec = dict(zip(names, row))
            groups.setdefault(rec["session_id"], []).append(rec)
    rows = [sessions_rules.summarize(sid, frames) for sid, frames in groups.items()]
    if rows:
        db["sessions"].insert_all(rows, pk="id", replace=True)
    return len(rows)


def refresh_targets(db: sqlite_utils.Database) -> int:
    """Recompute the `targets` table from light frames (cheap: one grouped query)."""
    db.execute("DELETE FROM targets")
    rows: dict[str, dict[str, Any]] = {}
    q = """
      SELECT target, filter, COUNT(*), SUM(exposure_s), MIN(night), MAX(night),
             AVG(ra_deg), AVG(dec_deg)
      FROM frames
      WHERE frame_type = 'light' AND is_master = 0 AND target IS NOT NULL
        AND location NOT IN ('missing', 'duplicate')
      GROUP BY target, filter
    """
    for target, flt, n, secs, first_n, last_n, ra, dec in db.execute(q):
        t = rows.setdefault(
            target,
            {"name": target, "frames": 0, "integration_s": 0.0, "by_filter": {},
             "first_night": first_n, "last_night": last_n, "ra_deg": ra, "dec_deg": dec},
        )
        t["frames"] += n
        t["integration_s"] += secs or 0.0
        t["by_filter"][flt or "(none)"] = round(secs or 0.0, 3)
        t["first_night"] = min(filter(None, [t["first_night"], first_n]), default=None)
        t["last_night"] = max(filter(None, [t["last_night"], last_n]), default=None)
        if t["ra_deg"] is None:
            t["ra_deg"], t["dec_deg"] = ra, dec
    counts = {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT target, COUNT(DISTINCT session_id), COUNT(DISTINCT night) FROM frames "
            "WHERE frame_type='light' AND target IS NOT NULL AND location NOT IN ('missing', 'duplicate') GROUP BY target"
        )
    }
    out = []
    for name, t in rows.items():
        by_filter = t.pop("by_filter")
        out.append(
            {
                **t,
                "integration_s": round(t["integration_s"], 3),
                "integration_by_filter": json.dumps(by_filter, sort_keys=True),
                "filters": json.dumps(sorted(by_filter)),
                "sessions": counts.get(name, (0, 0))[0],
                "nights": counts.get(name, (0, 0))[1],
            }
        )
    if out:
        db["targets"].insert_all(out, pk="name", replace=True)
    return len(out)


# --- queries ------------------------------------------------------------------------


@dataclass
class FrameFilter:
    """The filters `list` and `stats` offer; each maps to an indexed column."""

    target: str | None = None
    filter: str | None = None
    frame_type: str | None = None
    night: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    year: int | None = None
    camera: str | None = None
    telescope: str | None = None
    session: str | None = None
    location: str | None = None

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        a = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: list[Any] = []
        eq = {
            "target": self.target, "filter": self.filter, "frame_type": self.frame_type,
            "night": self.night, "camera": self.camera, "telescope": self.telescope,
            "session_id": self.session, "location": self.location,
        }
        for col, val in eq.items():
            if val is not None:
                clauses.append(f"{a}{col} = ? COLLATE NOCASE")
                params.append(val)
        if self.date_from:
            clauses.append(f"{a}night >= ?")
            params.append(self.date_from)
        if self.date_to:
            clauses.append(f"{a}night <= ?")
            params.append(self.date_to)
        if self.year:
            clauses.append(f"{a}night >= ? AND {a}night < ?")
            params += [f"{self.year:04d}-01-01", f"{self.year + 1:04d}-01-01"]
        if self.location is None:
            clauses.append(f"{a}location NOT IN ('missing', 'duplicate')")
        return (" AND ".join(clauses) or "1=1"), params


def list_frames(
    db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None
) -> list[dict[str, Any]]:
    where, params = flt.where()
    cols = ", ".join(f'"{c}"' for c in FRAME_FIELDS)
    sql = f"SELECT {cols} FROM frames WHERE {where} ORDER BY date_obs, path"
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for row in db.execute(sql, params):
        rec = dict(zip(FRAME_FIELDS, row))
        rec["is_master"] = bool(rec["is_master"])
        rec["problems"] = json.loads(rec["problems"]) if rec["problems"] else []
        out.append(rec)
    return out


def list_sessions(
    db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None
) -> list[dict[str, Any]]:
    """Sessions that have at least one frame matching the filter."""
    where, params = flt.where("f")
    sql = (
        "SELECT s.* FROM sessions s WHERE s.id IN "
        f"(SELECT DISTINCT f.session_id FROM frames f WHERE {where}) ORDER BY s.night DESC, s.id"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for rec in db.query(sql, params):
        for key in ("targets", "filters", "integration_by_filter", "frames_by_type"):
            if rec.get(key):
                rec[key] = json.loads(rec[key])
        out.append(rec)
    return out


def list_targets(db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None) -> list[dict[str, Any]]:
    where, params = flt.where("f")
    sql = (
        "SELECT t.* FROM targets t WHERE t.name IN "
        f"(SELECT DISTINCT f.target FROM frames f WHERE {where}) "
        "ORDER BY t.integration_s DESC, t.name"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for rec in db.query(sql, params):
        rec["integration_by_filter"] = json.loads(rec["integration_by_filter"] or "{}")
        rec["filters"] = json.loads(rec["filters"] or "[]")
        rec["integration_h"] = round(rec["integration_s"] / 3600.0, 3)
        out.append(rec)
    return out


def list_values(
    db: sqlite_utils.Database, column: str, flt: FrameFilter, limit: int | None = None
) -> list[dict[str, Any]]:
    """Distinct camera/telescope/filter values with frame counts and light integration."""
    if column not in ("camera", "telescope", "filter", "mount"):
        raise ValueError(column)
    where, params = flt.where()
    sql = (
        f'SELECT "{column}" AS name, COUNT(*) AS frames, '
        "SUM(CASE WHEN frame_type='light' AND is_master=0 THEN exposure_s ELSE 0 END) AS integration_s, "
        "COUNT(DISTINCT night) AS nights, MIN(night) AS first_night, MAX(night) AS last_night "
        f'FROM frames WHERE {where} AND "{column}" IS NOT NULL GROUP BY "{column}" ORDER BY frames DESC'
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for rec in db.query(sql, params):
        rec["integration_h"] = round((rec["integration_s"] or 0) / 3600.0, 3)
        out.append(rec)
    return out


def list_duplicates(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    sql = (
        "SELECT sha256, COUNT(*) AS copies, MAX(size) AS size, json_group_array(path) AS paths "
        "FROM frames WHERE sha256 IS NOT NULL AND location != 'missing' "
        "GROUP BY sha256 HAVING COUNT(*) > 1 ORDER BY size DESC, sha256"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for rec in db.query(sql):
        rec["paths"] = sorted(json.loads(rec["paths"]))
        out.append(rec)
    return out


def list_rejects(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT path, size, reason, scanned_at FROM rejects ORDER BY path"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return list(db.query(sql))


_LIGHT = "frame_type = 'light' AND is_master = 0"


def stats_summary(db: sqlite_utils.Database, flt: FrameFilter) -> dict[str, Any]:
    where, params = flt.where()
    row = db.execute(
        f"""SELECT COUNT(*), SUM(CASE WHEN {_LIGHT} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN {_LIGHT} THEN exposure_s ELSE 0 END), SUM(size),
                   COUNT(DISTINCT night), COUNT(DISTINCT session_id),
                   COUNT(DISTINCT CASE WHEN frame_type='light' THEN target END),
                   MIN(night), MAX(night)
            FROM frames WHERE {where}""",
        params,
    ).fetchone()
    frames, lights, secs, size, nights, sessions, targets, first_n, last_n = row
    by_type = dict(
        db.execute(f"SELECT frame_type, COUNT(*) FROM frames WHERE {where} GROUP BY frame_type", params).fetchall()
    )
    return {
        "frames": frames or 0,
        "light_frames": lights or 0,
        "integration_s": round(secs or 0.0, 3),
        "integration_h": round((secs or 0.0) / 3600.0, 3),
        "bytes": size or 0,
        "nights": nights or 0,
        "sessions": sessions or 0,
        "targets": targets or 0,
        "first_night": first_n,
        "last_night": last_n,
        "frames_by_type": by_type,
        "rejects": db.execute("SELECT COUNT(*) FROM rejects").fetchone()[0],
    }


def stats_grouped(db: sqlite_utils.Database, flt: FrameFilter, group: str) -> list[dict[str, Any]]:
    """Light integration grouped by target, filter or month."""
    expr = {
        "target": "target",
        "filter": "COALESCE(filter, '(none)')",
        "month": "substr(night, 1, 7)",
        "target_filter": "target || ' / ' || COALESCE(filter, '(none)')",
    }[group]
    where, params = flt.where()
    sql = f"""SELECT {expr} AS name, COUNT(*) AS light_frames,
                     SUM(exposure_s) AS integration_s, COUNT(DISTINCT night) AS nights,
                     SUM(size) AS bytes
              FROM frames WHERE {where} AND {_LIGHT} AND {expr} IS NOT NULL
              GROUP BY {expr} ORDER BY {"name" if group == "month" else "integration_s DESC"}"""
    out = []
    for rec in db.query(sql, params):
        rec["integration_s"] = round(rec["integration_s"] or 0.0, 3)
        rec["integration_h"] = round(rec["integration_s"] / 3600.0, 3)
        out.append(rec)
    return out


def stats_equipment(db: sqlite_utils.Database, flt: FrameFilter) -> list[dict[str, Any]]:
    where, params = flt.where()
    sql = f"""SELECT COALESCE(camera, '(unknown)') AS camera, COALESCE(telescope, '(unknown)') AS telescope,
                     COUNT(*) AS frames, SUM(CASE WHEN {_LIGHT} THEN 1 ELSE 0 END) AS light_frames,
                     SUM(CASE WHEN {_LIGHT} THEN exposure_s ELSE 0 END) AS integration_s,
                     COUNT(DISTINCT night) AS nights, SUM(size) AS bytes
              FROM frames WHERE {where} GROUP BY 1, 2 ORDER BY integration_s DESC, frames DESC"""
    out = []
    for rec in db.query(sql, params):
        rec["integration_s"] = round(rec["integration_s"] or 0.0, 3)
        rec["integration_h"] = round(rec["integration_s"] / 3600.0, 3)
        out.append(rec)
    return out
