"""`astrocat validate`: per-file checks with a score and reasons.

Header completeness is a pure rule table (`REQUIRED`) applied to the catalog row;
CHECKSUM/DATASUM (FITS checksum convention) are verified with astropy when a header
carries them, which reads the pixel data. Files are only read, never written.
"""

from __future__ import annotations

from dataclasses import replace

import json
import os
import warnings
from typing import Any, Mapping

import sqlite_utils

from astrocat.progress import ProgressFn
from astrocat import catalog
from astrocat.config import Settings
from astrocat.catalog.queries import resolved
from astrocat.rules.normalize import THESKYX_WEST_NOTE


# frame type -> fields a usable frame of that type must have (errors), and ones it
# should have (warnings). A mono light or flat also needs a filter (see header_issues).
REQUIRED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "light": (("exposure_s", "date_obs", "target"), ("camera", "ccd_temp_c", "binning")),
    "dark": (("exposure_s", "date_obs"), ("camera", "ccd_temp_c", "binning")),
    "flat": (("date_obs",), ("exposure_s", "camera", "binning")),
    "bias": (("date_obs",), ("camera", "binning")),
    "darkflat": (("exposure_s", "date_obs"), ("camera", "binning")),
}
LABELS = {
    "exposure_s": "exposure time (EXPTIME/EXPOSURE)", "date_obs": "observation date (DATE-OBS)",
    "target": "target (OBJECT)", "filter": "filter (FILTER)", "camera": "camera (INSTRUME)",
    "ccd_temp_c": "sensor temperature (CCD-TEMP)", "binning": "binning (XBINNING)",
}
PENALTY = {"error": 30, "warning": 5}


def issue(severity: str, check: str, message: str) -> dict[str, str]:
    return {"severity": severity, "check": check, "message": message}


def header_issues(frame: Mapping[str, Any]) -> list[dict[str, str]]:
    """Completeness of one catalog row for its frame type. Pure."""
    ftype = frame.get("frame_type") or "unknown"
    out: list[dict[str, str]] = []
    if ftype not in REQUIRED:
        return [issue("error", "frame_type", "frame type unknown: no IMAGETYP/FRAME and no folder or file name says")]
    required, recommended = REQUIRED[ftype]
    mono = not frame.get("bayer_pattern")
    if ftype in ("light", "flat") and mono and not frame.get("is_master"):
        required = (*required, "filter")
    for key in required:
        if frame.get(key) in (None, ""):
            extra = " (a mono camera: no BAYERPAT)" if key == "filter" else ""
            out.append(issue("error", "header", f"{ftype} frame without {LABELS.get(key, key)}{extra}"))
    for key in recommended:
        if frame.get(key) in (None, ""):
            out.append(issue("warning", "header", f"no {LABELS.get(key, key)}"))
    exp = frame.get("exposure_s")
    if ftype in ("light", "dark", "darkflat") and isinstance(exp, (int, float)) and exp <= 0:
        out.append(issue("error", "header", f"exposure time {exp:g} s"))
    for problem in frame.get("problems") or []:
        if not handled(str(problem), frame):
            out.append(issue("warning", "scan", str(problem)))
    return out


def handled(problem: str, frame: Mapping[str, Any]) -> bool:
    """True for a scan note about a convention the scan applied: TheSkyX's SITELONG is
    positive west, and a TheSkyX frame whose longitude was converted is not at fault."""
    software = str(frame.get("software") or "").lower()
    return problem == THESKYX_WEST_NOTE and "theskyx" in software and frame.get("site_lon") is not None


def score(issues: list[dict[str, str]]) -> int:
    """100 for a clean file, minus 30 per error and 5 per warning, never below 0."""
    return max(0, 100 - sum(PENALTY.get(i["severity"], 0) for i in issues))


def has_checksum_cards(header: Mapping[str, Any]) -> bool:
    return "CHECKSUM" in header or "DATASUM" in header


def checksum_issues(path: str) -> list[dict[str, str]]:
    """Verify CHECKSUM/DATASUM of every HDU that carries them (astropy reads the data)."""
    from astropy.io import fits

    out: list[dict[str, str]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, disable_image_compression=True) as hdul:
                for index, hdu in enumerate(hdul):
                    hdr = hdu.header
                    if "DATASUM" in hdr:
                        ok = hdu.verify_datasum()
                        if ok == 0:
                            out.append(issue("error", "datasum",
                                             f"DATASUM mismatch in HDU {index}: the pixel data is not what was written"))
                    if "CHECKSUM" in hdr:
                        ok = hdu.verify_checksum()
                        if ok == 0:
                            out.append(issue("error", "checksum",
                                             f"CHECKSUM mismatch in HDU {index}: the header or data changed since it was written"))
    except Exception as exc:  # a corrupt file is a finding, not a crash
        out.append(issue("error", "readable", f"cannot read the file with astropy: {type(exc).__name__}: {exc}"))
    return out


_COLS = ["id", "path", "frame_type", "is_master", "target", "filter", "exposure_s", "date_obs",
         "camera", "ccd_temp_c", "binning", "bayer_pattern", "software", "site_lon", "problems", "header_json", "location"]


def validate(
    db: sqlite_utils.Database,
    settings: Settings,
    flt: catalog.FrameFilter,
    paths: list[str] | None = None,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """One result per cataloged file matching the filter (and under `paths` when given:
    files or folders on disk, or catalog paths): every present copy, since each file
    has its own header and checksums."""
    where, params = replace(resolved(db, flt), every_copy=True).where()
    if paths:
        clauses = []
        for p in (settings.rel(p) if os.path.exists(p) else p.rstrip("/") for p in paths):
            clauses.append("(path = ? OR substr(path, 1, ?) = ?)")
            prefix = p.rstrip("/") + "/"
            params += [p, len(prefix), prefix]
        where += " AND (" + " OR ".join(clauses) + ")"
    cols = ", ".join(f'"{c}"' for c in _COLS)
    rows = [dict(zip(_COLS, r)) for r in db.execute(f"SELECT {cols} FROM frames WHERE {where} ORDER BY path", params)]
    out = []
    for i, row in enumerate(rows, start=1):
        row["problems"] = json.loads(row["problems"]) if row["problems"] else []
        header = json.loads(row["header_json"]) if row["header_json"] else {}
        issues = header_issues(row)
        checksum = "absent"
        if not os.path.exists(settings.abs(row["path"])):
            issues.insert(0, issue("error", "exists", "the file does not exist; run `astrocat scan`"))
        elif has_checksum_cards(header):
            low = row["path"].lower()
            if low.endswith(".xisf"):
                checksum = "absent"
            else:
                found = checksum_issues(str(settings.abs(row["path"])))
                issues = found + issues
                checksum = "failed" if found else "ok"
        s = score(issues)
        out.append({
            "path": row["path"], "frame_type": row["frame_type"], "score": s,
            "ok": not any(x["severity"] == "error" for x in issues), "checksum": checksum,
            "reasons": issues,
        })
        if progress:
            progress(i, len(rows), row["path"])
    return out
