"""One build of the site: a snapshot of the catalog, the pages in order, stale files removed.

Frames are streamed from SQLite in session order, one session in memory at a time,
so a 100,000-frame catalog builds in bounded memory. Change detection is two-level:
SQLite concatenates every shown column of every counted frame per session (in C) and
we hash that, so a session whose key, row and note are unchanged is skipped without
reading its frames into Python; the hash of all session keys (`catalog_key`) lets the
pages of totals skip their aggregate queries when nothing changed at all.

Each kind of page is written by its module in `astrocat.site.pages`; a built feature
with site pages of its own names them in the feature registry (`Feature.pages`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlite_utils

from astrocat import __version__, features
from astrocat.catalog import changes
from astrocat.catalog.counts import counted
from astrocat.config import Settings
from astrocat.progress import ProgressFn
from astrocat.site import jinja
from astrocat.site.external import DatasetteLinks, obsidian_url
from astrocat.site.helpers import digest
from astrocat.site.thumbs import Thumbs
from astrocat.site.writer import (
    MANIFEST_NAME, SITE_FORMAT, BuildResult, SiteBusy, SiteError, Writer, read_manifest, write_manifest,
)

THUMBS_PER_SESSION = 12
# what the last build was made from, beside its manifest (see Site._unchanged_since)
STAMP_NAME = ".astrocat-site-stamp.json"

# The columns of a frame that any page shows: the change key of a session covers them all.
FRAME_COLS = [
    "id", "path", "size", "sha256", "frame_type", "is_master", "object", "target", "filter", "exposure_s",
    "date_obs", "night", "session_id", "camera", "telescope", "focal_length_mm", "gain", "offset",
    "ccd_temp_c", "set_temp_c", "binning", "width", "height", "bayer_pattern", "software", "location",
    "scanned_at", "bad", "bad_reason", "raw",
]
_REAL_COLS = {"exposure_s", "focal_length_mm", "gain", "offset", "ccd_temp_c", "set_temp_c"}
_ORDER = "ORDER BY session_id, date_obs, path"


class Site:
    """One build: reads the catalog, hands each kind of page its data, writes. Use `build()`.

    The page modules use: `db`, `s` (settings), `query`, `frames`, `page`, `data_file`,
    `kept`, `writer`, `thumbs`, `note_for`, `datasette`, `built`, `nav`, `tick` and the keys
    `context_key` (what every page depends on) and `catalog_key` (the whole catalog)."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings, out: Path, thumbnails: bool,
                 full: bool, progress: ProgressFn | None) -> None:
        self.db = db
        self.s = settings
        self.out = out
        self.full = full
        self.progress = progress
        self._env = None
        self.result = BuildResult(out)
        self.manifest_path = out / MANIFEST_NAME
        self.old_manifest = read_manifest(self.manifest_path)
        self.fingerprint = jinja.fingerprint(SITE_FORMAT)
        self.writer = Writer(out, self.old_manifest, full)
        self.thumbs = Thumbs(out, settings, thumbnails, self.old_manifest.get("thumb_failures", {}), self.result)
        self.explorer: dict[str, Any] = {}  # month -> {key, chunks}: the manifest's record of the explorer
        self.datasette = DatasetteLinks(settings.datasette_url, settings.catalog)
        self.built = {f.name for f in features.built()}  # the features whose pages and links exist
        self.nav = [(label, href) for _, label, href in features.nav()]
        # what every page depends on besides its own data
        self.context_key = digest(self.fingerprint, self.datasette.base, str(self.s.notes), str(self.s.catalog),
                                  thumbnails, THUMBS_PER_SESSION, self.nav)
        self.catalog_key = ""
        self._step = 0
        self._steps = 1

    # -- reading the catalog

    def query(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        cur = self.db.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [name]).fetchone() is not None

    def frames(self, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
        """The counted frames matching `where`, every shown column, in session order."""
        cols = ", ".join(f'"{c}"' for c in FRAME_COLS)
        for row in self.db.execute(f"SELECT {cols} FROM frames WHERE {counted()} AND {where} {_ORDER}", params):
            yield dict(zip(FRAME_COLS, row))

    def session_keys(self) -> dict[str | None, str]:
        """session id (None: frames without a night) -> hash of every shown column of its frames."""
        fmt = "\x1f".join(["%s"] * len(FRAME_COLS))
        # printf of a REAL is the slow part; micro-units as integers say the same, twice as fast
        cols = ", ".join(f'CAST("{c}" * 1e6 AS INTEGER)' if c in _REAL_COLS else f'"{c}"' for c in FRAME_COLS)
        sql = (f"SELECT session_id, group_concat(printf('{fmt}', {cols}), char(30)) FROM frames "
               f"WHERE {counted()} GROUP BY session_id")
        return {sid: hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()
                for sid, blob in self.db.execute(sql)}

    @functools.cached_property
    def notes(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(kind, key) -> the note's row; read when a page is rendered (not by a skipped build)."""
        if not self.has_table("notes"):
            return {}
        return {(r["kind"], r["key"]): r for r in self.query("SELECT kind, key, path, user_text FROM notes")}

    def note_for(self, kind: str, key: str, default_path: Path) -> dict[str, Any]:
        """A session's or target's note: its text as HTML, its path and its Obsidian link."""
        row = self.notes.get((kind, key))
        path = self.s.notes / row["path"] if row and row.get("path") else default_path
        text = (row or {}).get("user_text") or ""
        return {
            "html": jinja.render_markdown(text) if text.strip() else None,
            "path": str(path),
            "obsidian": obsidian_url(path),
        }

    # -- writing

    def tick(self, label: str) -> None:
        self._step += 1
        if self.progress:
            self.progress(min(self._step, self._steps), self._steps, label)

    def kept(self, rel: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Keep a file of the previous build as it is; returns its meta."""
        self.writer.keep(rel, entry)
        self.result.pages += 1
        return entry.get("meta", {})

    def page(self, rel: str, template: str, *, key: str | None = None, meta: dict[str, Any] | None = None,
             **ctx: Any) -> None:
        """Render `template` to `rel` unless built from the same inputs (`key`, else the context).

        `section` in the context is the nav href the page belongs to."""
        root = "../" * rel.count("/")
        page_key = key or digest(self.context_key, template, rel, ctx)
        entry = self.writer.lookup(rel, page_key)
        if entry is not None:
            self.kept(rel, entry)
            return
        if self._env is None:
            self._env = jinja.environment()  # Jinja2 only when something is rendered
        html = self._env.get_template(template).render(root=root, nav=self.nav, rel=rel, **ctx)
        self.result.pages += 1
        self.writer.put(rel, html.encode("utf-8"), page_key, meta)

    def data_file(self, rel: str, text: str, meta: dict[str, Any] | None = None) -> None:
        self.result.pages += 1
        self.writer.put(rel, text.encode("utf-8"), meta=meta)

    # -- the build

    def run(self) -> BuildResult:
        from astrocat.site.pages import dashboard, explorer, files, sessions, stats, targets

        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        # one consistent snapshot of the catalog for the whole build (unless the caller holds one)
        began = not self.db.conn.in_transaction
        if began:
            self.db.execute("BEGIN")
        try:
            stamp = self._stamp()
            if stamp is not None and not self.full and self._unchanged_since(stamp):
                self.result.elapsed_s = time.perf_counter() - started
                return self.result
            self._assets()
            session_rows = sessions.rows(self)
            target_rows = targets.rows(self)
            keys = self.session_keys()
            last_scan = self.db.execute("SELECT MAX(scanned_at) FROM frames").fetchone()[0]
            self.catalog_key = digest(self.context_key, sorted((k or "", v) for k, v in keys.items()), last_scan,
                                      [(s["id"], s["integration_s"]) for s in session_rows])
            self._steps = len(session_rows) + len(target_rows) + 8
            session_thumbs = sessions.write_pages(self, session_rows, keys)
            sessions.write_renamed(self, session_rows)
            self.explorer = explorer.write(self, keys)
            self.tick("explorer")
            target_thumbs = targets.write_pages(self, target_rows)
            sessions.write_index(self, session_rows)
            self.tick("sessions")
            targets.write_index(self, target_rows, target_thumbs)
            self.tick("targets")
            dashboard.write(self, session_rows, session_thumbs, last_scan)
            self.tick("dashboard")
            stats.write(self, target_rows)
            self.tick("stats")
            files.write(self)
            for feature in features.built():
                if feature.pages:
                    features.resolve(feature.pages)(self)
            self.tick("pages")
        finally:
            self.thumbs.close()
            if began:
                self.db.execute("ROLLBACK")
        self.result.removed += self._remove_stale()
        self.result.removed += self.thumbs.remove_unused()
        write_manifest(self.manifest_path, {
            "generator": "astrocat build",
            "fingerprint": self.fingerprint,
            "files": dict(sorted(self.writer.files.items())),
            "explorer": dict(sorted(self.explorer.items())),
            "thumb_failures": self.thumbs.failures_to_keep(),
        })
        self._save_stamp(stamp)
        self.result.written = list(self.writer.written)
        self.result.elapsed_s = time.perf_counter() - started
        return self.result

    def _stamp(self) -> dict[str, str] | None:
        """What this build is made from as a whole: the catalog's change token (read in the
        build's snapshot), the settings, the options, the templates and the site's code."""
        token = changes.token(self.db)
        if token is None:
            return None
        return {"token": token, "key": changes.settings_digest(
            self.s, self.fingerprint, _code_digest(), __version__, str(self.out), self.thumbs.enabled,
            sorted(self.built))}

    def _unchanged_since(self, stamp: dict[str, str]) -> bool:
        """True when the previous build was made from the same catalog, settings and code, and
        every file its manifest lists (pages, data, assets, the previews they show) is still
        there: the site is up to date and nothing is read or written. A file edited in place
        is not looked at (nor is it by a full incremental build: only `--full` rewrites it)."""
        old = self.old_manifest
        files = old.get("files")
        try:
            saved = json.loads((self.out / STAMP_NAME).read_text(encoding="utf-8"))
            manifest = hashlib.sha256(self.manifest_path.read_bytes()).hexdigest()
        except (OSError, ValueError):
            return False
        # the manifest as this build left it (one edited or replaced since is not trusted)
        if saved != {**stamp, "manifest": manifest} or not isinstance(files, dict):
            return False
        thumbs: set[str] = set()
        for rel, entry in files.items():
            if not os.path.isfile(os.path.join(self.out, rel)):
                return False
            for href in entry.get("meta", {}).get("thumbs", []):
                if href and href.startswith("thumbs/") and href.count("/") == 1:
                    thumbs.add(href[len("thumbs/"):])  # checked below, with one listing
                elif href and not os.path.isfile(os.path.join(self.out, href)):
                    return False
        if self.thumbs.enabled and thumbs:
            try:
                on_disk = set(os.listdir(self.thumbs.dir))
            except OSError:
                return False
            if not thumbs <= on_disk:
                return False
        self.result.pages = len(files)
        self.result.thumbs_cached = len(thumbs)
        if self.thumbs.enabled:  # reported again, as a build that renders would
            self.result.thumb_failures = list(dict.fromkeys(old.get("thumb_failures", {}).values()))
        return True

    def _save_stamp(self, stamp: dict[str, str] | None) -> None:
        path = self.out / STAMP_NAME
        try:
            if stamp is None:
                path.unlink(missing_ok=True)
                return
            manifest = hashlib.sha256(self.manifest_path.read_bytes()).hexdigest()
            text = json.dumps({**stamp, "manifest": manifest}, sort_keys=True) + "\n"
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                return
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            path.unlink(missing_ok=True)  # no stamp: the next build does its full work

    def _assets(self) -> None:
        static = jinja.TEMPLATES_DIR / "static"
        for path in sorted(p for p in static.rglob("*") if p.is_file()):
            self.result.pages += 1
            self.writer.put("assets/" + path.relative_to(static).as_posix(), path.read_bytes())

    def _remove_stale(self) -> list[str]:
        """Delete files an earlier build wrote that this build no longer produces (only those):
        a session whose frames are gone, the pages of a feature no longer built."""
        removed = []
        for rel in self.writer.stale():
            try:
                (self.out / rel).unlink()
                removed.append(rel)
            except FileNotFoundError:
                pass
        return removed


def _code_digest() -> str:
    """The site's own Python code: a changed astrocat renders the site again."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _check_out_dir(out: Path, default: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out}: not a folder")
    if out.is_dir() and out.resolve() != default.resolve() and not force and not (out / MANIFEST_NAME).exists():
        if any(p.name not in (".DS_Store",) for p in out.iterdir()):
            raise SiteError(f"{out}: folder is not empty and holds no astrocat site; pick an empty folder or pass --force")


def build(db: sqlite_utils.Database, settings: Settings, out: Path | None = None, *, thumbnails: bool = True,
          full: bool = False, force: bool = False, progress: ProgressFn | None = None,
          lock_wait_s: float = 10.0) -> BuildResult:
    """Render the catalog as a static site in `out` (default: settings.site)."""
    from astrocat.lock import LockBusy, catalog_lock

    out = Path(os.path.abspath(out or settings.site))
    _check_out_dir(out, settings.site, force)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with catalog_lock(out / ".astrocat-build", "build", wait_s=lock_wait_s):
            return Site(db, settings, out, thumbnails, full, progress).run()
    except LockBusy as exc:
        raise SiteBusy(str(exc).replace("writing this catalog", "building this site")) from None
