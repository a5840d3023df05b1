"""The calibration gap report: every light group's matches, and what to shoot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from astrocat.config import Settings
from astrocat.catalog import matching as load
from astrocat.processing.sessions import ProcessingError
from astrocat.rules.matching import GroupMatch, match_all

if TYPE_CHECKING:
    import sqlite_utils


def match_library(db: sqlite_utils.Database, s: Settings, target: str | None = None) -> list[GroupMatch]:
    """Every light group of the library (or of one target), matched."""
    lights = load.lights(db, target)
    cal = load.calibration(db, {f.camera for f in lights})
    return match_all(lights, cal, s.calibration)


def gaps(db: sqlite_utils.Database, s: Settings, target: str | None = None) -> dict[str, Any]:
    """{groups, calibrated, gaps: [{group, target, night, filter, exposure_s, lights,
    missing: [{kind, gap, note, shoot}]}]}"""
    groups = match_library(db, s, target)
    out = []
    for g in groups:
        missing = [{"kind": k, "gap": m.gap, "note": m.note, "shoot": m.shoot}
                   for k, m in g.kinds.items() if m.gap]
        if missing:
            grp = g.group
            out.append({"group": grp.id, "target": grp.target, "night": grp.night, "filter": grp.filter,
                        "exposure_s": grp.exposure_s, "camera": grp.camera, "lights": len(grp.frames),
                        "missing": missing})
    return {"groups": len(groups), "calibrated": sum(1 for g in groups if g.calibrated), "gaps": out}


def explain(db: sqlite_utils.Database, s: Settings, group_id: str) -> GroupMatch:
    """One group by its id (or the start of it, when only one group starts so)."""
    groups = match_library(db, s)
    exact = [g for g in groups if g.group.id == group_id]
    found = exact or [g for g in groups if g.group.id.startswith(group_id)]
    if not found:
        raise ProcessingError(f"no light group {group_id!r} (`astrocat calibration gaps` lists them)")
    if len(found) > 1:
        raise ProcessingError(f"{group_id!r} names {len(found)} light groups; give more of the id, e.g. "
                              f"{found[0].group.id!r}")
    return found[0]




