"""Reading the catalog: the filters every command, page and note uses, listings and totals.

Which frames count is not decided here but in `astrocat.catalog.counts`; every query
below takes its WHERE clause from `FrameFilter.where` and those fragments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator

from astrocat.catalog.counts import counted, integrates, present
from astrocat.catalog.derived import resolve_session
from astrocat.catalog.overrides import resolve_target
from astrocat.catalog.schema import FRAME_FIELDS
from astrocat.rules import normalize
from astrocat.rules.normalize import Settings as NormalizeSettings

if TYPE_CHECKING:
    import sqlite_utils


@dataclass
class FrameFilter:
    """The filters every listing, total and page offers; each maps to an indexed column.

    Without a `location` it selects the frames that count (`astrocat.catalog.counts`),
    or with `every_copy` every present file (checks that look at each file); with a
    `location`, every frame cataloged there (`duplicate`, `missing`, ...)."""

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
    every_copy: bool = False  # every present copy of a content, not only the one that counts

    def normalized(self, ns: NormalizeSettings | None = None) -> FrameFilter:
        """This filter with its names read the way scan reads headers.

        `--target "M 31"`, `--target "Andromeda Galaxy"`, `--filter H-alpha` and a camera or
        telescope alias find the frames whose catalog value is M31, Ha or the aliased name."""
        ns = ns or NormalizeSettings()
        target = normalize.canonical_target(self.target, ns.target_aliases, ns.resolve_name)[0] if self.target else None
        return replace(
            self,
            target=target or self.target,
            filter=normalize.canonical_filter(self.filter, ns.filter_aliases) if self.filter else None,
            camera=normalize.alias(self.camera, ns.camera_aliases) or self.camera,
            telescope=normalize.alias(self.telescope, ns.telescope_aliases) or self.telescope,
        )

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
            clauses.append(present(alias) if self.every_copy else counted(alias))
        return (" AND ".join(clauses) or "1=1"), params


def resolved(db: sqlite_utils.Database, flt: FrameFilter) -> FrameFilter:
    """The filter with the catalog's names read (`_resolved`), for queries outside this module."""
    return _resolved(db, flt)


def _resolved(db: sqlite_utils.Database, flt: FrameFilter) -> FrameFilter:
    """The filter with a renamed session's old id read as its current one, and a target
    alias (`astrocat target alias`) as the target it names."""
    if flt.target is not None:
        flt = replace(flt, target=resolve_target(db, flt.target))
    if flt.session is None:
        return flt
    return replace(flt, session=resolve_session(db, flt.session))


_CURATED = ["bad", "bad_reason"]  # marked bad (astrocat frame mark-bad): listed, outside integration


def list_frames(
    db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None
) -> list[dict[str, Any]]:
    return list(iter_frames(db, flt, limit))


def iter_frames(
    db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The frames of `list_frames`, one at a time from the cursor: constant memory for any catalog."""
    where, params = _resolved(db, flt).where()
    fields = FRAME_FIELDS + _CURATED if "bad" in db["frames"].columns_dict else FRAME_FIELDS
    cols = ", ".join(f'"{c}"' for c in fields)
    sql = f"SELECT {cols} FROM frames WHERE {where} ORDER BY date_obs, path"
    sql += _limit(limit)
    for row in db.execute(sql, params):
        rec = dict(zip(fields, row))
        rec["is_master"] = bool(rec["is_master"])
        rec["problems"] = json.loads(rec["problems"]) if rec["problems"] else []
        yield rec


def list_sessions(
    db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None
) -> list[dict[str, Any]]:
    """Sessions that have at least one frame matching the filter."""
    where, params = _resolved(db, flt).where("f")
    sql = (
        "SELECT s.* FROM sessions s WHERE s.id IN "
        f"(SELECT DISTINCT f.session_id FROM frames f WHERE {where}) ORDER BY s.night DESC, s.id"
    )
    sql += _limit(limit)
    out = []
    for rec in db.query(sql, params):
        for key in ("targets", "filters", "integration_by_filter", "frames_by_type"):
            if rec.get(key):
                rec[key] = json.loads(rec[key])
        out.append(rec)
    return out


def list_targets(db: sqlite_utils.Database, flt: FrameFilter, limit: int | None = None) -> list[dict[str, Any]]:
    where, params = _resolved(db, flt).where("f")
    sql = (
        "SELECT t.* FROM targets t WHERE t.name IN "
        f"(SELECT DISTINCT f.target FROM frames f WHERE {where}) "
        "ORDER BY t.integration_s DESC, t.name"
    )
    sql += _limit(limit)
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
    where, params = _resolved(db, flt).where()
    sql = (
        f'SELECT "{column}" AS name, COUNT(*) AS frames, '
        f"SUM(CASE WHEN {integrates()} THEN exposure_s ELSE 0 END) AS integration_s, "
        "COUNT(DISTINCT night) AS nights, MIN(night) AS first_night, MAX(night) AS last_night "
        f'FROM frames WHERE {where} AND "{column}" IS NOT NULL GROUP BY "{column}" ORDER BY frames DESC'
    )
    sql += _limit(limit)
    out = []
    for rec in db.query(sql, params):
        rec["integration_h"] = round((rec["integration_s"] or 0) / 3600.0, 3)
        out.append(rec)
    return out


# the raw header keywords a camera or telescope value comes from (astrocat.rules.normalize)
_RAW_KEYS = {"camera": ("INSTRUME", "CAMERA_MODEL"), "telescope": ("TELESCOP",)}


def raw_names(db: sqlite_utils.Database, kind: str, flt: FrameFilter | None = None) -> list[dict[str, Any]]:
    """The raw header names (INSTRUME, TELESCOP) behind the catalog's camera or telescope
    values: [{raw, name, mount, frames}], `name` None where a TELESCOP names a mount."""
    keys = _RAW_KEYS[kind]
    raw = "COALESCE(" + ", ".join(f"json_extract(header_json, '$.\"{k}\"')" for k in keys) + ", NULL)"
    where, params = _resolved(db, flt or FrameFilter()).where()
    sql = (f'SELECT {raw} AS raw, "{kind}" AS name, mount, COUNT(*) AS frames FROM frames '
           f"WHERE {where} AND {raw} IS NOT NULL GROUP BY 1, 2, 3 ORDER BY frames DESC, raw")
    return [{"raw": str(r["raw"]).strip(), "name": r["name"], "mount": r["mount"], "frames": r["frames"]}
            for r in db.query(sql, params)]


def list_duplicates(
    db: sqlite_utils.Database, limit: int | None = None, flt: FrameFilter | None = None
) -> list[dict[str, Any]]:
    """Contents present at more than one path; with a filter, those with a copy it matches
    (the copies share their headers, so any copy answers for the content)."""
    params: list[Any] = []
    narrow = ""
    if flt is not None:
        where, params = replace(_resolved(db, flt), every_copy=True).where()
        narrow = f" AND sha256 IN (SELECT sha256 FROM frames WHERE {where})"
    sql = (
        "SELECT sha256, COUNT(*) AS copies, MAX(size) AS size, json_group_array(path) AS paths "
        f"FROM frames WHERE sha256 IS NOT NULL AND location != 'missing'{narrow} "
        "GROUP BY sha256 HAVING COUNT(*) > 1 ORDER BY size DESC, sha256"
    )
    sql += _limit(limit)
    out = []
    for rec in db.query(sql, params):
        rec["paths"] = sorted(json.loads(rec["paths"]))
        out.append(rec)
    return out


def list_rejects(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT path, size, reason, scanned_at FROM rejects ORDER BY path"
    sql += _limit(limit)
    return list(db.query(sql))


_LIGHT = integrates()


def stats_summary(db: sqlite_utils.Database, flt: FrameFilter) -> dict[str, Any]:
    where, params = _resolved(db, flt).where()
    row = db.execute(
        f"""SELECT COUNT(*), SUM(CASE WHEN {_LIGHT} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN {_LIGHT} THEN exposure_s ELSE 0 END), SUM(size),
                   COUNT(DISTINCT night), COUNT(DISTINCT session_id),
                   COUNT(DISTINCT CASE WHEN {_LIGHT} THEN target END),
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
    where, params = _resolved(db, flt).where()
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
    where, params = _resolved(db, flt).where()
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


def _limit(limit: int | None) -> str:
    return f" LIMIT {int(limit)}" if limit else ""
