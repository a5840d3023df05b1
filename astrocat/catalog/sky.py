"""Targets and the sky catalog: each target's type, constellation, common name and, when its
frames carry none, coordinates (astrocat.skycat); and common names already cataloged as
targets (`Heart Nebula`) turned into designations (IC 1805) when the catalog upgrades."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from astrocat import skycat
from astrocat.rules.normalize import canonical_target

if TYPE_CHECKING:
    import sqlite_utils

# the targets columns migration 11 adds
COLUMNS = {"object_type": str, "constellation": str, "common_name": str, "sky_names": str, "coords_from": str,
           "sky_version": str}
_FACTS = ("object_type", "constellation", "common_name", "sky_names")


def has_columns(db: sqlite_utils.Database) -> bool:
    return "coords_from" in {r[1] for r in db.execute("PRAGMA table_info(targets)")}


def known_facts(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """The facts the targets table holds now, by name (read before it is recomputed)."""
    cols = ", ".join(("name", "ra_deg", "dec_deg", "coords_from", "sky_version") + _FACTS)
    cur = db.execute(f"SELECT {cols} FROM targets WHERE sky_version IS NOT NULL")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur}


def add_facts(row: dict[str, Any], old: dict[str, Any] | None = None, version: str | None = None) -> dict[str, Any]:
    """A targets row with what the sky catalog knows of its name; frame coordinates win.

    `old`: the row's facts from before, reused when the same sky data gave them (no index
    to build on every scan); `version`: skycat.stamp()."""
    version = version or skycat.stamp()
    framed = row.get("ra_deg") is not None and row.get("dec_deg") is not None
    if old is not None and old["sky_version"] == version and (framed or old["coords_from"] != "frames"):
        facts = {k: old[k] for k in _FACTS}
        if framed:
            facts["coords_from"] = "frames"
        elif old["coords_from"] == "catalog":
            facts.update(ra_deg=old["ra_deg"], dec_deg=old["dec_deg"], coords_from="catalog")
        else:
            facts["coords_from"] = None
        return {**row, **facts, "sky_version": version}
    obj = skycat.lookup(row["name"])
    facts: dict[str, Any] = {"object_type": None, "constellation": None, "common_name": None,
                             "sky_names": "[]", "coords_from": "frames" if framed else None, "sky_version": version}
    if obj is not None:
        others = [n for n in obj.names if n != row["name"]]
        facts.update(object_type=obj.type, constellation=obj.constellation, common_name=obj.common_name,
                     sky_names=json.dumps(others))
        if not framed and obj.ra_deg is not None and obj.dec_deg is not None:
            facts.update(ra_deg=obj.ra_deg, dec_deg=obj.dec_deg, coords_from="catalog")
    return {**row, **facts}


def _m11_target_sky(db: sqlite_utils.Database) -> None:
    # Frames cataloged before the sky catalog keep a common name as their target until
    # rescanned with --full; the upgrade renames them now (only where the target is still
    # what the OBJECT header gives: a value set by hand is left alone).
    from astrocat.catalog.derived import refresh_sessions, refresh_targets

    for col, kind in COLUMNS.items():
        db["targets"].add_column(col, kind)
    pairs = db.execute(
        "SELECT DISTINCT object, target FROM frames WHERE target IS NOT NULL AND object IS NOT NULL"
    ).fetchall()
    sessions: set[str] = set()
    for obj, target in pairs:
        if canonical_target(obj)[0] != target:
            continue
        new = skycat.catalogue_id(target)
        if new and new != target:
            sessions |= {r[0] for r in db.execute(
                "SELECT DISTINCT session_id FROM frames WHERE object = ? AND target = ? AND session_id IS NOT NULL",
                [obj, target])}
            db.execute("UPDATE frames SET target = ? WHERE object = ? AND target = ?", [new, obj, target])
    if sessions:
        refresh_sessions(db, sessions)
    refresh_targets(db)
