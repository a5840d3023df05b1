"""What is backed up: coverage per session, bytes per storage class, the last verify."""

from __future__ import annotations

from typing import Any

from astrocat.config import Settings
from astrocat.rules.backup import estimate_costs

_LIB = "location = 'library' AND sha256 IS NOT NULL"


def ready(db: Any) -> bool:
    """The backup tables exist (a catalog opened read-only may predate them)."""
    return db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                      "('backups', 'backup_restores', 'backup_verify_runs')").fetchone()[0] == 3


_EMPTY = "(SELECT NULL AS sha256, NULL AS size, NULL AS storage_class, NULL AS state, NULL AS uploaded_at LIMIT 0)"


def sessions(db: Any, not_backed_up: bool = False) -> list[dict[str, Any]]:
    """Per session: distinct library contents and bytes, and how many are backed up."""
    backups = "backups" if ready(db) else _EMPTY
    cur = db.execute(
        f"""
        WITH c AS (SELECT session_id, sha256, MAX(size) AS size FROM frames WHERE {_LIB} GROUP BY session_id, sha256)
        SELECT COALESCE(c.session_id, '(no session)'), COUNT(*), SUM(c.size),
               SUM(b.sha256 IS NOT NULL), COALESCE(SUM(CASE WHEN b.sha256 IS NOT NULL THEN c.size END), 0)
        FROM c LEFT JOIN {backups} b ON b.sha256 = c.sha256
        GROUP BY c.session_id ORDER BY c.session_id
        """)
    rows = [{"session": s, "frames": n, "bytes": size or 0, "backed_up": done, "backed_up_bytes": done_bytes,
             "complete": done == n} for s, n, size, done, done_bytes in cur.fetchall()]
    return [r for r in rows if not r["complete"]] if not_backed_up else rows


def status(db: Any, settings: Settings) -> dict[str, Any]:
    b = settings.backup
    assert b is not None
    total, size = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM (SELECT sha256, MAX(size) AS size FROM frames WHERE {_LIB} "
        "GROUP BY sha256)").fetchone()
    has = ready(db)
    backups = "backups" if has else _EMPTY
    done, done_bytes = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {backups} WHERE sha256 IN "
        f"(SELECT sha256 FROM frames WHERE {_LIB})").fetchone()
    by_class = {c: {"objects": n, "bytes": s} for c, n, s in db.execute(
        f"SELECT storage_class, COUNT(*), SUM(size) FROM {backups} GROUP BY storage_class ORDER BY storage_class")}
    states = dict(db.execute(f"SELECT state, COUNT(*) FROM {backups} GROUP BY state").fetchall())
    last_upload = db.execute(f"SELECT MAX(uploaded_at) FROM {backups}").fetchone()[0]
    run = db.execute("SELECT started_at, finished_at, scope, checked, ok, missing, mismatched, unexpected, "
                     "changed_locally FROM backup_verify_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
                     ).fetchone() if has else None
    last_verify = None
    if run:
        last_verify = dict(zip(("started_at", "finished_at", "scope", "checked", "ok", "missing", "mismatched",
                                "unexpected", "changed_locally"), run))
        last_verify["clean"] = not any(run[5:])
    pending = db.execute("SELECT COUNT(*) FROM backup_restores WHERE state = 'pending'").fetchone()[0] if has else 0
    stored = db.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {backups}").fetchone()
    return {
        "bucket": b.bucket, "prefix": b.prefix, "endpoint_url": b.endpoint_url,
        "frames": total, "bytes": size, "backed_up": done, "backed_up_bytes": done_bytes,
        "not_backed_up": total - done, "percent": round(100.0 * done / total, 1) if total else 100.0,
        "by_storage_class": by_class, "states": states, "last_upload": last_upload, "last_verify": last_verify,
        "pending_restores": pending,
        "monthly_usd": estimate_costs(stored[0], stored[1], b.frames_class, overrides=b.prices)["monthly_usd"],
    }
