"""Opening the catalog: SQLite in WAL mode through sqlite-utils, and its numbered migrations."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from astrocat.clock import utc_now


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


# How long a write waits for another SQLite client (not astrocat: astrocat processes
# take the catalog lock first) before giving up with CatalogBusy.
BUSY_TIMEOUT_S = 10.0
FULL_MARGIN_BYTES = 1 << 20


class CatalogError(Exception):
    """The catalog file cannot be opened or used; the message names it and says why."""


class CatalogBusy(CatalogError):
    """Another program holds a lock on the catalog file."""


class CatalogFull(CatalogError):
    """The disk holding the catalog is full; the catalog itself is unchanged."""


def describe(path: str | Path, exc: sqlite3.Error) -> CatalogError:
    """The one-line error a user sees for an SQLite failure on the catalog at `path`."""
    reason = str(exc) or type(exc).__name__
    low = reason.lower()
    if "locked" in low or "busy" in low:
        return CatalogBusy(f"{path}: another program is using the catalog ({reason}); close it and run again")
    if "full" in low or ("disk i/o" in low and _disk_is_full(Path(path))):
        return CatalogFull(f"{path}: the disk holding the catalog is full; the catalog is unchanged: "
                           "free some space and run again")
    if "not a database" in low:
        return CatalogError(f"{path}: not an SQLite database (damaged, or another kind of file); "
                            "restore the catalog from a backup, or move it away and rescan")
    if "malformed" in low or "corrupt" in low:
        return CatalogError(f"{path}: the catalog is damaged ({reason}); `astrocat verify database` "
                            "shows where; restore it from a backup, or move it away and rescan")
    return CatalogError(f"{path}: not a usable catalog ({reason})")


def _disk_is_full(path: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(path.parent).free < FULL_MARGIN_BYTES
    except OSError:
        return False


def open_catalog(path: str | Path, readonly: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) the catalog in WAL mode and run pending migrations.

    Raises CatalogError (CatalogBusy, CatalogFull) with a one-line message."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise CatalogError(f"{path}: no catalog yet; run `astrocat scan` first")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            db = _database(conn)
            _refuse_newer(db, path)
        except sqlite3.Error as exc:
            raise describe(path, exc) from None
        return db
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"{path.parent}: cannot create the catalog's folder ({exc.strerror or exc})") from None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)
        db = _database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        # INSERT OR REPLACE (sqlite-utils' replace=True) then fires DELETE triggers, which
        # keeps the search index in step with rows it replaces.
        db.execute("PRAGMA recursive_triggers=ON")
        _refuse_newer(db, path)
        migrate(db)
    except sqlite3.Error as exc:
        raise describe(path, exc) from None
    return db


def _database(conn: sqlite3.Connection) -> sqlite_utils.Database:
    # No sqlite-utils plugins: the catalog's SQL must not depend on what else is installed,
    # and finding them reads every installed package's entry points (~20 ms a command).
    return sqlite_utils.Database(conn, execute_plugins=False)


def _refuse_newer(db: sqlite_utils.Database, path: Path) -> None:
    from astrocat.features import latest_migration

    version, known = schema_version(db), latest_migration()
    if version > known:
        db.conn.close()
        raise CatalogError(f"{path}: this catalog was written by a newer astrocat (schema {version}; this "
                           f"astrocat knows schema {known}): upgrade astrocat to use it")


def schema_version(db: sqlite_utils.Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return row[0] or 0


def migrate(db: sqlite_utils.Database, migrations: list | None = None) -> int:
    """Run the pending migrations (default: every feature's, in number order)."""
    from astrocat.features import migrations as registered, resolve

    if migrations is None:
        migrations = registered()
    if not db["schema_version"].exists():
        db["schema_version"].create(
            {"version": int, "name": str, "applied_at": str}, pk="version", if_not_exists=True
        )
    # by set, not by the highest number: a migration merged later with a lower number still runs
    applied = {row[0] for row in db.execute("SELECT version FROM schema_version")}
    ran = False
    for number, name, fn in migrations:
        if number in applied:
            continue
        with db.conn:
            resolve(fn)(db)
            db["schema_version"].insert(
                {"version": number, "name": name, "applied_at": utc_now()}
            )
        ran = True
    if ran and db["changes"].exists():
        # a table a later migration adds is watched by the change token at once
        from astrocat.catalog.changes import watch_all

        with db.conn:
            watch_all(db)
    return schema_version(db)
