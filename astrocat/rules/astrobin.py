"""AstroBin's "Import acquisitions from CSV": rows and text. Pure.

One row per night x filter x exposure x gain. A value astrocat does not know is left
empty, never invented (AstroBin reads an empty cell as unknown)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

HEADER = ("date,filter,number,duration,iso,binning,gain,sensorCooling,fNumber,darks,flats,flatDarks,bias,"
          "bortle,meanSqm,meanFwhm,temperature")
COLUMNS = tuple(HEADER.split(","))
# our calibration kinds -> AstroBin's columns
CAL_COLUMNS = {"dark": "darks", "flat": "flats", "darkflat": "flatDarks", "bias": "bias"}


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _binning(value: str | None) -> str:
    """AstroBin takes one number: 1x1 -> 1; an unequal binning is left empty."""
    if not value:
        return ""
    x, _, y = value.partition("x")
    return x if x == y and x.isdigit() else ""


def rows(lights: Iterable[Mapping[str, Any]], calibration: Mapping[tuple[Any, ...], Mapping[str, int | None]],
         filter_ids: Mapping[str, int]) -> list[dict[str, str]]:
    """lights: frames with night, filter, exposure_s, gain, binning, set_temp_c, ccd_temp_c.
    calibration: (night, filter, exposure_s, gain) -> kind -> frames used (None: unknown,
    e.g. a master whose frame count is not known)."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for f in lights:
        groups[(f.get("night"), f.get("filter"), f.get("exposure_s"), f.get("gain"))].append(f)
    out = []
    for key in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        frames = groups[key]
        night, filt, exposure, gain = key
        temps = [f.get("set_temp_c") if f.get("set_temp_c") is not None else f.get("ccd_temp_c") for f in frames]
        temps = [t for t in temps if t is not None]
        bins = {f.get("binning") for f in frames}
        fid = filter_ids.get(filt) if filt else None
        row = dict.fromkeys(COLUMNS, "")
        row.update({
            "date": night or "", "filter": str(fid) if fid else "", "number": str(len(frames)),
            "duration": _num(exposure), "binning": _binning(bins.pop()) if len(bins) == 1 else "",
            "gain": _num(gain), "sensorCooling": str(round(sum(temps) / len(temps))) if temps else "",
        })
        cal = calibration.get(key, {})
        for kind, col in CAL_COLUMNS.items():
            n = cal.get(kind)
            row[col] = "" if n is None else str(n)
        out.append(row)
    return out


def to_csv(table: Iterable[Mapping[str, str]]) -> str:
    """The header line, then one line per row; no quoting is needed (no value holds a comma)."""
    lines = [HEADER] + [",".join(r.get(c, "").replace(",", " ") for c in COLUMNS) for r in table]
    return "\n".join(lines) + "\n"
