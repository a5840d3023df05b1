"""The catalog's own tables (`frames`, `rejects`, `sessions`, `targets`) and their migrations.

Other features add their tables through migrations of their own, declared in
`astrocat.features`; migration numbers are global and never reused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

# The frame fields, in order: these are also the --json names.
FRAME_FIELDS = [
    "id", "path", "size", "mtime", "sha256", "frame_type", "is_master", "object", "target",
    "panel", "filter", "exposure_s", "date_obs", "night", "session_id", "camera", "telescope",
    "mount", "focal_length_mm", "gain", "offset", "ccd_temp_c", "set_temp_c", "binning", "width",
    "height", "bayer_pattern", "readout_mode", "ra_deg", "dec_deg", "site_lat", "site_lon",
    "software", "location", "problems", "scanned_at", "original_name", "rotator_deg",
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


def _m5_counted(db: sqlite_utils.Database) -> None:
    # Which frames count (astrocat.catalog.counts), as a column: the CLI, site, notes
    # and Datasette's canned queries all filter on it. New rows count until judged.
    from astrocat.catalog.counts import refresh_counted
    from astrocat.catalog.derived import refresh_sessions, refresh_targets

    db.execute("ALTER TABLE frames ADD COLUMN counted INTEGER NOT NULL DEFAULT 1")
    db.execute("DROP INDEX IF EXISTS idx_frames_integration")
    db.execute(
        "CREATE INDEX idx_frames_integration ON frames(counted, frame_type, is_master, target, filter, "
        "night, exposure_s) WHERE frame_type = 'light' AND is_master = 0"
    )
    db.execute("CREATE INDEX idx_frames_counted_session ON frames(counted, session_id)")
    refresh_counted(db, None)
    # sessions and targets read columns later migrations add (frames.bad): the last of
    # those recomputes them, so a catalog created today does not meet them half-made
    if "bad" in db["frames"].columns_dict:
        refresh_sessions(db)
        refresh_targets(db)


def _m6_original_name(db: sqlite_utils.Database) -> None:
    # The name the capture program gave a file: organize renames it, and a header that says
    # too little (no date, no target) leaves nothing better to name it by. Frames not yet
    # filed still have it; a filed frame's first journaled move remembers where it came from.
    from astrocat.rules.naming import original_name

    db.execute("ALTER TABLE frames ADD COLUMN original_name TEXT")
    sources: dict[int, str] = {}
    if db["moves"].exists():
        for frame_id, src in db.execute(
            "SELECT frame_id, src FROM moves WHERE frame_id IS NOT NULL AND state IN ('filed', 'done') ORDER BY id DESC"
        ):
            sources[frame_id] = src  # the earliest move wins
    rows = [
        (original_name(sources.get(fid) or path), fid)
        for fid, path, location in db.execute("SELECT id, path, location FROM frames")
        if fid in sources or location != "library"
    ]
    db.conn.executemany("UPDATE frames SET original_name = ? WHERE id = ?", rows)


def _m7_session_aliases(db: sqlite_utils.Database) -> None:
    # A session id is made of the night, camera and telescope, so editing an alias renames
    # sessions. The trigger notes which contents left which session for which; derived then
    # records a rename (all of one session's contents, and nothing else, now in another)
    # as old_id -> new_id, so notes follow their session and the old id keeps resolving.
    db.execute(
        "CREATE TABLE session_aliases (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL, renamed_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_session_aliases_new ON session_aliases(new_id)")
    db.execute("CREATE TABLE session_moves (old_id TEXT NOT NULL, new_id TEXT NOT NULL, sha256 TEXT)")
    db.execute(
        "CREATE TRIGGER frames_session_moved AFTER UPDATE OF session_id ON frames "
        "WHEN old.session_id IS NOT new.session_id AND old.session_id IS NOT NULL AND new.session_id IS NOT NULL "
        "BEGIN INSERT INTO session_moves (old_id, new_id, sha256) VALUES (old.session_id, new.session_id, old.sha256); END"
    )


def _m14_rescan_index(db: sqlite_utils.Database) -> None:
    # Every sync compares each walked file with (path, size, mtime, location): read from
    # this narrow index, 100,000 frames take 0.09 s instead of 0.14 s through the table.
    db.execute("CREATE INDEX idx_frames_rescan ON frames(path, size, mtime, location)")


# The catalog's own migrations; numbers are global across features (astrocat.features).
MIGRATIONS = [
    (1, "frames, rejects, sessions, targets", _m1_initial),
    (4, "full-text search, month column, integration index", _m4_search),
    (5, "frames.counted: the one rule of which frames count", _m5_counted),
    (6, "frames.original_name: the file's name before organize", _m6_original_name),
    (7, "session_aliases: renamed sessions keep resolving", _m7_session_aliases),
]
