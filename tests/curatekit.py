"""Shared by the curation tests: real FITS files written by astropy, the CLI in-process,
and full dumps of the catalog's tables for exact before/after comparisons."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
from astropy.io import fits

from conftest import invoke_cli

SESSION = "2024-11-01_ASI2600MM_Star71"


def write_light(path: Path, obj: str | None = "M 31", flt: str = "Ha", date: str = "2024-11-01T21:00:00",
                exptime: float = 300.0, seed: int = 0, ra: float | None = None, dec: float | None = None,
                imagetyp: str = "LIGHT", scope: str = "Star71") -> Path:
    """A small FITS frame as a capture program writes it (astropy does the writing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(0, 4000, size=(16, 24), dtype=np.uint16)
    hdu = fits.PrimaryHDU(data)
    h = hdu.header
    h["IMAGETYP"] = imagetyp
    if obj is not None:
        h["OBJECT"] = obj
    h["FILTER"] = flt
    h["EXPTIME"] = exptime
    h["DATE-OBS"] = date
    h["INSTRUME"] = "ZWO ASI2600MM Pro"
    h["TELESCOP"] = scope
    if ra is not None and dec is not None:
        h["RA"] = ra
        h["DEC"] = dec
    hdu.writeto(path)
    return path


def night(lib, n: int = 4, start_minute: int = 0, **kw) -> list[Path]:
    """n lights of M 31 in Ha, a minute apart, in the quarantine."""
    return [write_light(lib.quarantine / "n1" / f"m31_{i + start_minute:03d}.fits", seed=i + start_minute,
                        date=f"2024-11-01T21:{i + start_minute:02d}:00", **kw) for i in range(n)]


def cli(lib, *args: str, code: int = 0) -> str:
    r = invoke_cli(*args, cwd=lib.base_dir)
    assert r.returncode == code, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def cli_json(lib, *args: str):
    r = invoke_cli(*args, "--json", cwd=lib.base_dir)
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


def scan(lib, *extra: str) -> dict:
    return cli_json(lib, "scan", *extra)


def rows(lib, sql: str, *params) -> list[tuple]:
    con = sqlite3.connect(lib.catalog)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def frame_ids(lib, where: str = "1=1", *params) -> list[int]:
    return [r[0] for r in rows(lib, f"SELECT id FROM frames WHERE {where} ORDER BY date_obs, id", *params)]


# What a correction may change: every column a reader sees (scanned_at and mtime too: a
# correction must not touch them), keyed by content so a rebuilt catalog compares.
FRAME_DUMP = ("SELECT sha256, path, target, filter, frame_type, exposure_s, session_id, telescope, bad, "
              "bad_reason, raw, counted, location, night FROM frames ORDER BY sha256, path")


def dump(lib, with_ids: bool = True) -> dict[str, list[tuple]]:
    """Every row of the tables a correction touches."""
    out = {
        "frames": rows(lib, FRAME_DUMP),
        "sessions": rows(lib, "SELECT * FROM sessions ORDER BY id"),
        "targets": rows(lib, "SELECT * FROM targets ORDER BY name"),
        "session_aliases": rows(lib, "SELECT old_id, new_id FROM session_aliases ORDER BY old_id"),
    }
    if with_ids:
        out["frames_full"] = rows(lib, "SELECT * FROM frames ORDER BY id")
        out["session_aliases"] = rows(lib, "SELECT * FROM session_aliases ORDER BY old_id")
    return out
