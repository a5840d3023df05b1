"""Writing the site's files incrementally, and the build manifest that makes it possible.

The manifest (`<site>/.astrocat-site.json`) records, per file, a digest of what it
was built from ("in") and a hash of the bytes written ("out"). A file whose inputs
are unchanged is neither rendered nor written; a rendered file whose bytes equal the
file on disk is not written either. Files are replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SITE_FORMAT = 1
MANIFEST_NAME = ".astrocat-site.json"


class SiteError(Exception):
    """The site cannot be built where asked; the message names the folder and why."""


class SiteBusy(SiteError):
    """Another `astrocat build` is writing the same site folder."""


@dataclass
class BuildResult:
    out_dir: Path
    pages: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    thumbs_rendered: int = 0
    thumbs_cached: int = 0
    thumb_failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "index": str(self.index), "files": self.pages,
            "written": len(self.written), "unchanged": self.pages - len(self.written),
            "removed": len(self.removed), "written_files": self.written, "removed_files": self.removed,
            "thumbnails_rendered": self.thumbs_rendered, "thumbnails_cached": self.thumbs_cached,
            "thumbnail_failures": self.thumb_failures, "elapsed_s": round(self.elapsed_s, 3),
        }


def read_manifest(path: Path) -> dict[str, Any]:
    """The previous build's manifest; {} when absent, unreadable or of another format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("format") == SITE_FORMAT else {}
    except (OSError, ValueError):
        return {}


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    """Write the manifest, unless it already holds exactly this (a no-op build writes nothing)."""
    text = json.dumps({"format": SITE_FORMAT, **data}, indent=1, sort_keys=True) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Writer:
    """Writes files under `out` only when their content changes; keeps the manifest entries."""

    def __init__(self, out: Path, old: dict[str, Any], full: bool) -> None:
        self.out = out
        self.old_files: dict[str, dict[str, Any]] = old.get("files", {})
        self.full = full
        self.files: dict[str, dict[str, Any]] = {}
        self.written: list[str] = []

    def lookup(self, rel: str, digest: str | None = None, state: str | None = None) -> dict[str, Any] | None:
        """The previous entry of `rel` when it was built from the same inputs and its file is still there.

        `digest` compares the page's recorded inputs; `state` compares a coarser key
        kept in its meta (e.g. "nothing in the catalog changed")."""
        old = self.old_files.get(rel)
        if self.full or not old:
            return None
        if digest is not None and old.get("in") != digest:
            return None
        if state is not None and old.get("meta", {}).get("state") != state:
            return None
        if not (self.out / rel).is_file():
            return None
        return old

    def keep(self, rel: str, entry: dict[str, Any]) -> None:
        self.files[rel] = entry

    def put(self, rel: str, data: bytes, digest: str | None = None, meta: dict[str, Any] | None = None) -> None:
        out_hash = hashlib.sha256(data).hexdigest()
        dest = self.out / rel
        entry: dict[str, Any] = {"in": digest or out_hash, "out": out_hash}
        if meta:
            entry["meta"] = meta
        self.files[rel] = entry
        old = self.old_files.get(rel)
        try:
            st = dest.stat()
        except FileNotFoundError:
            st = None
        if st is not None and st.st_size == len(data):
            if self.full:
                if dest.read_bytes() == data:
                    return
            elif old and old.get("out") == out_hash:
                return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
        self.written.append(rel)

    def stale(self) -> list[str]:
        """Files the previous build wrote that this one has not (only those, never outside `out`)."""
        return [rel for rel in sorted(set(self.old_files) - set(self.files))
                if ".." not in Path(rel).parts and not Path(rel).is_absolute()]
