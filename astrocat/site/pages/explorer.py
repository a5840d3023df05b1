"""The file explorer's index: `data/files-<month>[-n].js` chunks and `data/files-meta.js`.

The index is JavaScript that assigns to a global, not JSON: `fetch()` of a local file
is refused under file://, a <script> tag is not. Rows are the counted frames only, and
so are the filter options: a value seen only on a set-aside duplicate or a missing
file is not offered.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from astrocat.catalog.counts import counted
from astrocat.site.helpers import digest, js_data
from astrocat.site.paths import session_href

if TYPE_CHECKING:
    from astrocat.site.build import Site

CHUNK_ROWS = 5000
META = "data/files-meta.js"


def _month_order(month: str) -> tuple[bool, str]:
    return (month == "undated", month)


def write(site: Site, keys: dict[str | None, str]) -> dict[str, Any]:
    """Chunks per month, then the meta file; a month whose sessions' keys are unchanged keeps
    its chunk files. Returns month -> {key, chunks} for the manifest."""
    months: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sid, key in keys.items():
        months[sid[:7] if sid else "undated"].append((sid or "", key))
    old = {} if site.full else site.old_manifest.get("explorer", {})
    record: dict[str, Any] = {}
    for month in sorted(months, key=_month_order):
        mkey = digest(site.context_key, sorted(months[month]))
        prev = old.get(month)
        if prev and prev.get("key") == mkey:
            entries = [site.writer.lookup(c["file"]) for c in prev["chunks"]]
            if all(e is not None for e in entries):
                for c, e in zip(prev["chunks"], entries):
                    site.kept(c["file"], e)
                record[month] = prev
                continue
        if month == "undated":
            frames = site.frames("session_id IS NULL", [])
        else:
            frames = site.frames("session_id >= ? AND session_id < ?", [month, month + "~"])
        writer = ChunkWriter(site, month)
        for f in frames:
            writer.add(f)
        record[month] = {"key": mkey, "chunks": writer.finish()}
    chunks = [c for m in sorted(record, key=_month_order) for c in record[m]["chunks"]]
    meta_key = digest(site.catalog_key, chunks)
    entry = site.writer.lookup(META, state=meta_key)
    if entry is not None:
        site.kept(META, entry)
        return record
    nights = list(site.db.execute(f"SELECT MIN(night), MAX(night) FROM frames WHERE {counted()}").fetchone())
    meta = {
        "total": sum(c["rows"] for c in chunks),
        "chunks": chunks,
        "columns": ChunkWriter.COLUMNS,
        "options": options(site),
        "nights": [] if nights == [None, None] else nights,
    }
    site.data_file(META, f"AstrocatFiles.meta({js_data(meta)});\n", meta={"state": meta_key})
    return record


def options(site: Site) -> dict[str, list[str]]:
    """The values each of the explorer's select boxes offers: those of counted frames."""
    out: dict[str, list[str]] = {}
    for col in ("target", "filter", "camera", "telescope"):
        values = [r[0] for r in site.db.execute(
            f'SELECT DISTINCT "{col}" FROM frames WHERE {counted()} AND "{col}" IS NOT NULL')]
        out[col] = sorted((str(v) for v in values), key=str.lower)
    out["type"] = sorted({ft + (" (master)" if m else "") for ft, m in site.db.execute(
        f"SELECT DISTINCT frame_type, is_master FROM frames WHERE {counted()}")}, key=str.lower)
    return out


class ChunkWriter:
    """One month of the explorer's index: `data/files-<month>[-n].js`, split at CHUNK_ROWS.

    Repeated strings (folder, target, filter, camera...) are stored once per chunk
    in a dictionary and referenced by index, which keeps 100,000 rows small; each
    chunk has its own dictionaries, so chunks never depend on one another.
    """

    COLUMNS = ["name", "dir", "type", "target", "filter", "exposure_s", "night", "time", "camera", "telescope",
               "session", "session_page", "ccd_temp_c", "gain", "size", "object"]
    DICT_COLUMNS = {"dir", "type", "target", "filter", "camera", "telescope", "session", "session_page", "object"}

    def __init__(self, site: Site, month: str) -> None:
        self.site = site
        self.month = month
        self.part = 1
        self.rows: list[list[Any]] = []
        self.dicts: list[dict[str, int]] = [{} for _ in self.COLUMNS]
        self.chunks: list[dict[str, Any]] = []

    def add(self, f: dict[str, Any]) -> None:
        if len(self.rows) >= CHUNK_ROWS:
            self._flush()
            self.part += 1
        d, _, name = f["path"].rpartition("/")
        sid = f["session_id"]
        exp, temp, gain = f["exposure_s"], f["ccd_temp_c"], f["gain"]
        row = [
            name, d, f["frame_type"] + (" (master)" if f["is_master"] else ""), f["target"], f["filter"],
            exp if exp is None or math.isfinite(exp) else None, f["night"], (f["date_obs"] or "")[11:19] or None,
            f["camera"], f["telescope"], sid, session_href(sid) if sid else None,
            temp if temp is None or math.isfinite(temp) else None,
            gain if gain is None or math.isfinite(gain) else None, f["size"], f["object"],
        ]
        dicts = self.dicts
        for i in _DICT_AT:
            v = row[i]
            if v is not None:
                table = dicts[i]
                idx = table.get(v)
                if idx is None:
                    idx = table[v] = len(table)
                row[i] = idx
        self.rows.append(row)

    def _flush(self) -> None:
        if not self.rows:
            return
        name = self.month if self.part == 1 else f"{self.month}-{self.part}"
        rel = f"data/files-{name}.js"
        dicts = [list(self.dicts[i]) if c in self.DICT_COLUMNS else None for i, c in enumerate(self.COLUMNS)]
        payload = {"name": name, "columns": self.COLUMNS, "dicts": dicts, "rows": self.rows}
        self.site.data_file(rel, f"AstrocatFiles.chunk({js_data(payload)});\n")
        # keys in sorted order, as they come back from the manifest, so keys and bytes match
        self.chunks.append({"file": rel, "name": name, "rows": len(self.rows)})
        self.rows = []
        self.dicts = [{} for _ in self.COLUMNS]

    def finish(self) -> list[dict[str, Any]]:
        self._flush()
        return self.chunks


_DICT_AT = [i for i, c in enumerate(ChunkWriter.COLUMNS) if c in ChunkWriter.DICT_COLUMNS]
