"""The catalog's change stamp: one token that every write to the catalog replaces.

Triggers on every table (migration 13) set `changes.token` to a fresh random value
whenever a row is inserted, updated or deleted, so an output (the site, the notes)
that remembers the token it was made from knows, with one read, that nothing in the
catalog changed since. The token is random rather than a counter so that a catalog
rebuilt or restored from an older copy never repeats a token an output remembers.

A table created later without triggers makes the token untrusted (`token` returns
None) until `watch_all` is run again: outputs then do their full work.
`output_stamps` (not watched) holds what an output keeps in the catalog.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

    from astrocat.config import Settings

UNWATCHED = {"changes", "output_stamps", "schema_version"}
_TRIGGER = "changes_{table}_{op}"


def _watched_tables(db: sqlite_utils.Database) -> list[str]:
    """Every ordinary table but the stamp's own, SQLite's and full-text search's internals."""
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    virtual = [n for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
    return sorted(
        n for n, sql in rows
        if n not in UNWATCHED and not n.startswith("sqlite_") and n not in virtual
        and not any(n.startswith(v + "_") for v in virtual)
    )


def watch_all(db: sqlite_utils.Database) -> None:
    """Create the token's triggers on every watched table that lacks them."""
    existing = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for table in _watched_tables(db):
        for op in ("INSERT", "UPDATE", "DELETE"):
            name = _TRIGGER.format(table=table, op=op.lower())
            if name not in existing:
                db.execute(f'CREATE TRIGGER "{name}" AFTER {op} ON "{table}" BEGIN '
                           "UPDATE changes SET token = lower(hex(randomblob(16))) WHERE id = 1; END")


def _m13_changes(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL)")
    db.execute("INSERT INTO changes VALUES (1, lower(hex(randomblob(16))))")
    db.execute("CREATE TABLE output_stamps (name TEXT PRIMARY KEY, token TEXT, key TEXT, detail TEXT)")
    watch_all(db)


def token(db: sqlite_utils.Database) -> str | None:
    """The catalog's current change token; None when it cannot be trusted (no migration 13,
    or a table without triggers)."""
    try:
        row = db.execute("SELECT token FROM changes WHERE id = 1").fetchone()
    except Exception:  # sqlite3.OperationalError: an older catalog
        return None
    if row is None:
        return None
    triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for table in _watched_tables(db):
        if _TRIGGER.format(table=table, op="update") not in triggers:
            return None
    return row[0]


def settings_digest(settings: Settings, *extra: Any) -> str:
    """Everything an output may take from the configuration (the settings as loaded, with
    their paths and the environment's part), plus `extra`."""
    return hashlib.sha256(repr((settings, extra)).encode("utf-8", "surrogatepass")).hexdigest()


def read_stamp(db: sqlite_utils.Database, name: str) -> tuple[str | None, str | None, dict[str, Any]]:
    """(token, key, detail) an output saved with `save_stamp`; Nones when there is none."""
    try:
        row = db.execute("SELECT token, key, detail FROM output_stamps WHERE name = ?", [name]).fetchone()
    except Exception:
        return None, None, {}
    if row is None:
        return None, None, {}
    try:
        detail = json.loads(row[2] or "{}")
    except ValueError:
        detail = {}
    return row[0], row[1], detail if isinstance(detail, dict) else {}


def save_stamp(db: sqlite_utils.Database, name: str, token_: str | None, key: str | None,
               detail: dict[str, Any] | None = None) -> None:
    """Remember what an output was made from (None: forget it, the next run does it all)."""
    try:
        with db.conn:
            db.execute("INSERT INTO output_stamps (name, token, key, detail) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET token = excluded.token, key = excluded.key, "
                       "detail = excluded.detail",
                       [name, token_, key, json.dumps(detail or {}, sort_keys=True)])
    except Exception as exc:  # an older catalog without the table: nothing to remember
        if "no such table" not in str(exc):
            raise
