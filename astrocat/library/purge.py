"""Delete the set-aside duplicates whose content is verified in the library."""

from __future__ import annotations

import os
from typing import Any

import sqlite_utils

from astrocat import catalog
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.library.files import describe
from astrocat.library.plan import duplicates_prefix


def purge_duplicates(db: sqlite_utils.Database, settings: Settings, confirm: bool = False) -> dict[str, Any]:
    """Delete files in quarantine/_duplicates whose content is verified in the library.

    Without confirm nothing is deleted: the result lists what would be. Both copies are
    re-hashed first; a duplicate whose library copy is missing or differs is kept.
    """
    prefix = duplicates_prefix(settings)
    rows = list(db.query(
        "SELECT d.id, d.path, d.sha256, d.size, d.session_id, "
        "(SELECT MIN(l.path) FROM frames l WHERE l.sha256 = d.sha256 AND l.location = 'library') AS library_path "
        "FROM frames d WHERE d.location IN ('quarantine', 'duplicate') AND substr(d.path, 1, ?) = ? ORDER BY d.path",
        [len(prefix), prefix],
    ))
    out: dict[str, Any] = {"confirm": confirm, "deleted": [], "would_delete": [], "kept": [], "bytes": 0}
    sessions: set[str] = set()
    for r in rows:
        dup = settings.abs(r["path"])
        if not r["library_path"]:
            out["kept"].append({"path": r["path"], "reason": "no library copy with the same sha256 in the catalog"})
            continue
        lib = settings.abs(r["library_path"])
        try:
            if sha256_file(lib) != r["sha256"]:
                out["kept"].append({"path": r["path"], "reason": f"library copy {r['library_path']} no longer matches"})
                continue
            if sha256_file(dup) != r["sha256"]:
                out["kept"].append({"path": r["path"], "reason": "changed since it was scanned"})
                continue
        except OSError as exc:
            out["kept"].append({"path": r["path"], "reason": f"cannot read: {describe(exc)}"})
            continue
        entry = {"path": r["path"], "same_as": r["library_path"], "size": r["size"]}
        if not confirm:
            out["would_delete"].append(entry)
            out["bytes"] += r["size"]
            continue
        try:
            os.unlink(dup)
        except FileNotFoundError:
            pass  # gone already: what was asked for; the catalog row goes below
        except OSError as exc:  # one file that cannot go (a read-only folder) stops nothing
            out["kept"].append({"path": r["path"], "reason": f"cannot delete: {describe(exc)}"})
            continue
        with db.conn:
            db.conn.execute("DELETE FROM frames WHERE id = ?", (r["id"],))
        if r["session_id"]:
            sessions.add(r["session_id"])
        out["deleted"].append(entry)
        out["bytes"] += r["size"]
    if sessions:
        with db.conn:
            catalog.refresh_derived(db, sessions)
    return out
