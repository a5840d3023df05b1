"""What the user saved in a processing session's `intermediate/` and `final/` folders:
cataloged as that session's outputs (stage, size, sha256, dimensions), never as frames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrocat.clock import utc_now
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.rules.normalize import to_float

if TYPE_CHECKING:
    import sqlite_utils

STAGES = ("intermediate", "final")
OUTPUT_SUFFIXES = (".xisf", ".fits", ".fit", ".fts", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


def dimensions(path: Path) -> tuple[int | None, int | None]:
    """(width, height) from the header (FITS, XISF) or the image's own header (TIFF, PNG,
    JPEG); (None, None) when it cannot be read: an output is cataloged either way."""
    low = path.name.lower()
    try:
        if low.endswith(".xisf"):
            from xisf import XISF  # the image's geometry, whether or not it carries FITS keywords

            width, height = list(XISF(str(path)).get_images_metadata()[0]["geometry"])[:2]
            return int(width), int(height)
        if low.endswith((".fits", ".fit", ".fts")):
            from astrocat.ingest.headers import read_header

            values = read_header(path).header.values
            w, h = to_float(values.get("NAXIS1")), to_float(values.get("NAXIS2"))
            return (int(w) if w else None, int(h) if h else None)
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            return im.size
    except Exception:  # an unreadable output is still the user's file: cataloged without dimensions
        return None, None


def scan_outputs(db: sqlite_utils.Database, s: Settings) -> dict[str, Any]:
    """Catalog new and changed outputs of every processing session; forget gone ones."""
    added, changed, gone = [], [], []
    known = {r[0]: (r[1], r[2]) for r in db.execute("SELECT path, size, mtime FROM processing_outputs")}
    seen: set[str] = set()
    rows = []
    for (pid, folder) in db.execute("SELECT id, path FROM processing_sessions").fetchall():
        for stage in STAGES:
            root = s.abs(folder) / stage
            if not root.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(root):  # symlinks to folders are not followed
                for name in sorted(files):
                    p = Path(dirpath) / name
                    if not name.lower().endswith(OUTPUT_SUFFIXES) or name.startswith(".") or p.is_symlink():
                        continue
                    try:
                        st = p.stat()
                    except OSError:
                        continue
                    rel = s.rel(p)
                    seen.add(rel)
                    if known.get(rel) == (st.st_size, st.st_mtime):
                        continue
                    try:
                        digest = sha256_file(p)
                    except OSError:
                        continue
                    width, height = dimensions(p)
                    (changed if rel in known else added).append(rel)
                    rows.append({"processing_id": pid, "path": rel, "stage": stage, "size": st.st_size,
                                 "sha256": digest, "width": width, "height": height, "mtime": st.st_mtime,
                                 "scanned_at": utc_now()})
    gone = sorted(set(known) - seen)
    with db.conn:
        for r in rows:
            db.execute("DELETE FROM processing_outputs WHERE path = ?", [r["path"]])
        if rows:
            db["processing_outputs"].insert_all(rows)
        for p in gone:
            db.execute("DELETE FROM processing_outputs WHERE path = ?", [p])
    return {"added": added, "changed": changed, "gone": gone}
