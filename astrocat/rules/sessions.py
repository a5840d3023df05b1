"""Imaging sessions: frames grouped by night + camera + telescope. Pure: no I/O.

A session id is readable and stable: it is derived only from the night and the
rig (`2024-11-01_ASI2600MM_Star71`), so frames arriving later the same night
join the same session and the id never changes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any, Iterable, Mapping

# words that identify a vendor or a model suffix rather than the rig itself
_DROP_WORDS = {"zwo", "qhy", "qhyccd", "touptek", "player", "one", "pro", "cool", "mini", "usb", "camera"}


def rig_slug(name: str | None, fallback: str) -> str:
    """'ZWO ASI2600MM Pro' -> 'ASI2600MM'; 'William Optics RedCat 51' -> 'WilliamOpticsRedCat51'."""
    if not name:
        return fallback
    words = re.findall(r"[A-Za-z0-9]+", name)
    kept = [w for w in words if w.lower() not in _DROP_WORDS] or words
    slug = "".join(w[:1].upper() + w[1:] if w.islower() else w for w in kept)
    return slug[:40] or fallback


def session_id(night: str | None, camera: str | None, telescope: str | None, focal_length_mm: float | None = None) -> str | None:
    """The stable id of the session a frame belongs to (None without a night)."""
    if not night:
        return None
    scope_fallback = f"{int(round(focal_length_mm))}mm" if focal_length_mm else "NoScope"
    return f"{night}_{rig_slug(camera, 'NoCamera')}_{rig_slug(telescope, scope_fallback)}"


def targets_label(targets: Iterable[str] | None, lights: int | None) -> str:
    """What a session shot: 'M31, NGC 7000'; 'no target' when its lights name none;
    'calibration only' when it has no lights."""
    names = [t for t in targets or () if t]
    if names:
        return ", ".join(names)
    return "no target" if lights else "calibration only"


def summarize(sid: str, frames: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One `sessions` row: counts and integration per filter and type, temperatures, span."""
    frames = list(frames)
    by_type: dict[str, int] = defaultdict(int)
    by_filter: dict[str, float] = defaultdict(float)
    targets: set[str] = set()
    filters: set[str] = set()
    temps: list[float] = []
    utc: list[str] = []
    integration = 0.0
    size = 0
    lat = lon = None
    for f in frames:
        ftype = f.get("frame_type") or "unknown"
        by_type[ftype] += 1
        size += f.get("size") or 0
        if f.get("ccd_temp_c") is not None:
            temps.append(float(f["ccd_temp_c"]))
        if f.get("date_obs"):
            utc.append(f["date_obs"])
        if lat is None and f.get("site_lat") is not None:
            lat, lon = f.get("site_lat"), f.get("site_lon")
        if ftype == "light" and not f.get("is_master") and not f.get("bad"):  # as counts.integrates()
            secs = float(f.get("exposure_s") or 0.0)
            integration += secs
            key = f.get("filter") or "(none)"
            by_filter[key] += secs
            if f.get("filter"):
                filters.add(f["filter"])
            if f.get("target"):
                targets.add(f["target"])
    first = frames[0] if frames else {}
    return {
        "id": sid,
        "night": first.get("night"),
        "camera": first.get("camera"),
        "telescope": first.get("telescope"),
        "site_lat": lat,
        "site_lon": lon,
        "targets": json.dumps(sorted(targets)),
        "filters": json.dumps(sorted(filters)),
        "frames": len(frames),
        "lights": by_type.get("light", 0),
        "darks": by_type.get("dark", 0),
        "flats": by_type.get("flat", 0),
        "biases": by_type.get("bias", 0),
        "darkflats": by_type.get("darkflat", 0),
        "integration_s": round(integration, 3),
        "integration_by_filter": json.dumps({k: round(v, 3) for k, v in sorted(by_filter.items())}),
        "frames_by_type": json.dumps(dict(sorted(by_type.items()))),
        "ccd_temp_min": min(temps) if temps else None,
        "ccd_temp_max": max(temps) if temps else None,
        "ccd_temp_mean": round(sum(temps) / len(temps), 2) if temps else None,
        "first_utc": min(utc) if utc else None,
        "last_utc": max(utc) if utc else None,
        "bytes": size,
    }
