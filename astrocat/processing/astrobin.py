"""AstroBin's acquisition CSV for one processing session, from what it links."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from astrocat.config import Settings
from astrocat.processing.sessions import get
from astrocat.rules import astrobin

if TYPE_CHECKING:
    import sqlite_utils


def csv_for(db: sqlite_utils.Database, s: Settings, pid: str) -> str:
    get(db, pid)
    lights = list(db.query(
        "SELECT f.night, f.filter, f.exposure_s, f.gain, f.binning, f.set_temp_c, f.ccd_temp_c "
        "FROM processing_frames pf JOIN frames f ON f.id = pf.frame_id "
        "WHERE pf.processing_id = ? AND pf.role = 'light'", [pid]))
    masters = {r[0] for r in db.execute(
        "SELECT f.id FROM processing_frames pf JOIN frames f ON f.id = pf.frame_id "
        "WHERE pf.processing_id = ? AND f.is_master = 1", [pid])}
    # the calibration chosen for each row's light groups (a frame counted once per row)
    used: dict[tuple[Any, ...], dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for night, filt, exposure, gain, kind, chosen in db.execute(
            "SELECT night, filter, exposure_s, gain, kind, chosen FROM processing_groups WHERE processing_id = ?",
            [pid]):
        used[(night, filt, exposure, gain)][kind] |= set(json.loads(chosen or "[]"))
    counts: dict[tuple[Any, ...], dict[str, int | None]] = {}
    for key, kinds in used.items():
        # a master's frame count is not known: the cell stays empty rather than say 1
        counts[key] = {k: (None if ids & masters else len(ids)) for k, ids in kinds.items()}
    return astrobin.to_csv(astrobin.rows(lights, counts, s.astrobin_filters))
