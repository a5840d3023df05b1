"""A night's calibration frames, and what a session's lights lack among them. Pure."""

from __future__ import annotations

from typing import Any

from astrocat.rules.naming import CALIBRATION_TYPES


def night_calibration(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per calibration type (dark, flat, bias, darkflat): how many frames, at which
    exposures, through which filters. Frames marked bad (`bad`) match nothing."""
    out = {}
    for kind in CALIBRATION_TYPES:
        sel = [f for f in frames if f["frame_type"] == kind and not f.get("bad")]
        out[kind] = {
            "frames": len(sel),
            "exposures": sorted({f["exposure_s"] for f in sel if f["exposure_s"] is not None}),
            "filters": sorted({f["filter"] for f in sel if f["filter"]}),
        }
    return out


def calibration_gaps(lights: list[dict[str, Any]], calibration: dict[str, dict[str, Any]]) -> list[str]:
    """What the lights lack among the night's own calibration frames (`night_calibration`):
    darks at each light exposure, flats through each light filter, bias or dark-flats."""
    if not lights:
        return []
    missing = []
    light_filters = sorted({f["filter"] for f in lights if f["filter"]})
    light_exps = sorted({f["exposure_s"] for f in lights if f["exposure_s"] is not None})
    if not calibration["dark"]["frames"]:
        missing.append("no darks this night")
    else:
        lacking = [e for e in light_exps if e not in calibration["dark"]["exposures"]]
        if lacking:
            missing.append("no darks at " + ", ".join(f"{e:g} s" for e in lacking))
    if not calibration["flat"]["frames"]:
        missing.append("no flats this night")
    else:
        lacking_f = [fl for fl in light_filters if fl not in calibration["flat"]["filters"]]
        if lacking_f:
            missing.append("no flats for " + ", ".join(lacking_f))
    if not calibration["bias"]["frames"] and not calibration["darkflat"]["frames"]:
        missing.append("no bias or dark-flats")
    return missing
