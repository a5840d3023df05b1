"""backups/index.html: coverage per session, bytes per storage class, estimated monthly cost,
the last verify and its result (from the catalog's backup tables; no request to S3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from astrocat.rules.backup import estimate_costs
from astrocat.site.helpers import digest
from astrocat.site.paths import session_href

if TYPE_CHECKING:
    from astrocat.site.build import Site

BACKUPS = "backups/index.html"
_LIB = "location = 'library' AND sha256 IS NOT NULL"


# a catalog built read-only before the backup tables existed: the page shows nothing backed up
_EMPTY = "(SELECT NULL AS sha256, NULL AS size, NULL AS storage_class LIMIT 0)"


def write(site: Site) -> None:
    has = site.has_table("backups") and site.has_table("backup_verify_runs")
    backups = "backups" if has else _EMPTY
    sessions = list(site.query(f"""
        WITH c AS (SELECT session_id, sha256, MAX(size) AS size FROM frames WHERE {_LIB} GROUP BY session_id, sha256)
        SELECT c.session_id AS session, COUNT(*) AS files, SUM(b.sha256 IS NOT NULL) AS backed_up,
               SUM(c.size) AS bytes, COALESCE(SUM(CASE WHEN b.sha256 IS NOT NULL THEN c.size END), 0) AS backed_up_bytes
        FROM c LEFT JOIN {backups} b ON b.sha256 = c.sha256 GROUP BY c.session_id ORDER BY c.session_id DESC"""))
    for s in sessions:
        s["href"] = session_href(s["session"]) if s["session"] else None
        s["percent"] = round(100.0 * s["backed_up"] / s["files"], 1) if s["files"] else 100.0
    classes = list(site.query(f"SELECT storage_class, COUNT(*) AS objects, SUM(size) AS bytes FROM {backups} "
                              "GROUP BY storage_class ORDER BY storage_class"))
    verify = next(site.query(
        "SELECT finished_at, scope, checked, ok, missing, mismatched, unexpected, changed_locally "
        "FROM backup_verify_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"), None) if has else None
    b = site.s.backup
    objects = sum(c["objects"] for c in classes)
    size = sum(c["bytes"] or 0 for c in classes)
    cost = estimate_costs(objects, size, b.frames_class if b else "DEEP_ARCHIVE",
                          overrides=b.prices if b else None)
    totals: dict[str, Any] = {
        "files": sum(s["files"] for s in sessions), "backed_up": sum(s["backed_up"] for s in sessions),
        "bytes": sum(s["bytes"] or 0 for s in sessions), "backed_up_bytes": sum(s["backed_up_bytes"] for s in sessions),
    }
    totals["percent"] = round(100.0 * totals["backed_up"] / totals["files"], 1) if totals["files"] else 100.0
    ctx = {"sessions": sessions, "classes": classes, "verify": verify, "totals": totals,
           "monthly_usd": cost["monthly_usd"], "prices_date": cost["prices_date"],
           "bucket": b.bucket if b else None, "prefix": b.prefix if b else None}
    site.page(BACKUPS, "backups.html", key=digest(site.context_key, BACKUPS, ctx), title="Backups",
              section=BACKUPS, **ctx)
