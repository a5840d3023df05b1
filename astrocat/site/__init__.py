"""The static site: catalog queries -> page contexts -> Jinja2 -> files, incrementally.

Every page is described by a context (plain data). The manifest
(`<site>/.astrocat-site.json`) records, per page, a digest of that context plus
the templates ("what the page was built from") and a hash of the bytes written.
A page whose digest is unchanged is neither rendered nor written; a rendered
page whose bytes equal the file on disk is not written either. A rebuild with
nothing changed therefore writes no file at all, the manifest included.

Frames are streamed from SQLite in session order, one session in memory at a
time, so a 100,000-frame catalog builds in bounded memory. The file explorer's
index is written as JavaScript chunks (one per month, split at CHUNK_ROWS) that
assign to a global: `fetch()` of local JSON is refused under file://, a
<script> tag is not.

Safety: Jinja2 autoescape is on for every template and no header value is ever
marked safe; the only Markup is SVG from `charts` (which escapes its inputs) and
Markdown rendered with raw HTML off. JS data files are JSON with <, > and &
escaped, and the explorer writes cells with textContent.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import math
import os
import re
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote, urlsplit

import sqlite_utils
from markupsafe import Markup

from astrocat.rules.naming import WINDOWS_RESERVED
from astrocat.catalog.counts import counted, integrates
from astrocat.progress import ProgressFn
from astrocat import catalog
from astrocat.rules import charts
from astrocat.config import Settings
from astrocat import markdown
from astrocat.rules.naming import note_stem
from astrocat.resources import package_path
from astrocat.units import human_bytes

SITE_FORMAT = 1
MANIFEST_NAME = ".astrocat-site.json"
CHUNK_ROWS = 5000
THUMBS_PER_SESSION = 12
LATEST_SESSIONS = 8
TEMPLATES_DIR = package_path("astrocat.site", "templates")


# Every action the site offers as a command to copy. One table, so the commands
# stay in step with the CLI (docs/site.md lists them).
COMMANDS = {
    "scan": "astrocat scan",
    "organize": "astrocat organize --dry-run",
    "build": "astrocat build --open",
    "datasette": "astrocat datasette",
    "sync": "astrocat sync",
    "backup": "astrocat backup run --dry-run",
    "session_files": "astrocat list files --session {session}",
    "session_processing": "astrocat processing create --session {session}",
    "session_backup": "astrocat backup run --session {session} --dry-run",
    "session_note": "astrocat notes",
    "target_stats": "astrocat stats by-filter --target {target}",
    "target_processing": "astrocat processing create --target {target}",
    "target_files": "astrocat list files --target {target} --type light",
}

# The navigation. Processing, calibration and backups are filled in by their own
# features; until then their pages exist (no broken link) and say how to start.
NAV = [
    ("dashboard", "Dashboard", "index.html"),
    ("sessions", "Sessions", "sessions/index.html"),
    ("targets", "Targets", "targets/index.html"),
    ("files", "Files", "files.html"),
    ("stats", "Statistics", "stats.html"),
    ("processing", "Processing", "processing/index.html"),
    ("calibration", "Calibration", "calibration/index.html"),
    ("backups", "Backups", "backups/index.html"),
]
PLACEHOLDERS = {
    "processing": ("Processing sessions", "Processing sessions set up with matched calibration frames will be listed here.",
                   ["astrocat processing create --session SESSION_ID"]),
    "calibration": ("Calibration coverage", "Which light frames have matching darks, flats and bias will be shown here.",
                    ["astrocat list files --type dark", "astrocat list files --type flat"]),
    "backups": ("Backups", "Backup status (what is safely in S3, what is not yet) will be shown here.",
                ["astrocat backup run --dry-run"]),
}

_LOOPBACK_HOSTS = {"localhost", "::1"}
_SHA_NAME = re.compile(r"^[0-9a-f]{64}$")


# --- small pure helpers ------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def slug(name: str) -> str:
    """A file-name-safe, stable slug; a short hash keeps slugs of different names apart."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "item"
    if s != name or s.upper() in WINDOWS_RESERVED:
        s += "-" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return s


def session_href(sid: str) -> str:
    return f"sessions/{slug(sid)}.html"


def target_href(name: str) -> str:
    return f"targets/{slug(name)}.html"


def note_file_name(name: str) -> str:
    """A note's file name, as the notes feature names it (before any collision suffix)."""
    return note_stem(name) + ".md"


def obsidian_url(path: Path) -> str:
    return "obsidian://open?path=" + quote(str(path), safe="")


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on this machine only (127.0.0.0/8, localhost, ::1)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https"):
        return False
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def command(key: str, **values: str) -> str:
    return COMMANDS[key].format(**{k: shell_quote(v) for k, v in values.items()})


# Subcommands whose features have not landed yet: their actions stay off the pages
# until they do, so every command the site offers to copy actually runs.
NOT_YET_COMMANDS = {"processing", "backup"}


def actions(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(label, cmd) for label, cmd in pairs if cmd.split()[1] not in NOT_YET_COMMANDS]


def month_range(first: str, last: str) -> list[str]:
    """Every YYYY-MM from first to last inclusive."""
    y, m = int(first[:4]), int(first[5:7])
    y1, m1 = int(last[:4]), int(last[5:7])
    out = []
    while (y, m) <= (y1, m1):
        out.append(f"{y:04d}-{m:02d}")
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return out


def evenly(items: list[Any], n: int) -> list[Any]:
    """At most n items spread evenly over the list, first and last included."""
    if len(items) <= n:
        return list(items)
    if n == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def ra_hms(deg: float | None) -> str:
    if deg is None:
        return ""
    total = (deg % 360.0) / 15.0 * 3600.0
    h, rem = divmod(round(total, 1), 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}h {int(m):02d}m {s:04.1f}s"


def dec_dms(deg: float | None) -> str:
    if deg is None:
        return ""
    sign = "−" if deg < 0 else "+"
    total = round(abs(deg) * 3600.0)
    d, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{int(d):02d}° {int(m):02d}′ {int(s):02d}″"


def session_span(first_utc: str | None, last_utc: str | None) -> dict[str, str] | None:
    """'7h 20m' and '17:30–00:50 UTC' from the first and last frame's start time."""
    from datetime import datetime

    if not first_utc or not last_utc:
        return None
    try:
        a = datetime.fromisoformat(first_utc.replace("Z", "+00:00"))
        b = datetime.fromisoformat(last_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    minutes = max(0, round((b - a).total_seconds() / 60))
    return {"duration": f"{minutes // 60}h {minutes % 60:02d}m", "utc": f"{a:%H:%M}–{b:%H:%M} UTC"}


def js_data(payload: Any) -> str:
    """JSON safe to place in a .js file or a <script>: no <, >, & or line separators raw."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_markdown(text: str) -> Markup:
    """The user's Markdown as safe HTML (astrocat.markdown)."""
    return Markup(markdown.render(text))


def _digest(*parts: Any) -> str:
    """A hash of plain data (dicts, lists, strings, numbers, Markup). repr is deterministic
    for these, and several times faster than sorted JSON on 2,500 sessions."""
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def templates_fingerprint(directory: Path = TEMPLATES_DIR) -> str:
    h = hashlib.sha256(f"format {SITE_FORMAT}".encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# --- result and writer -----------------------------------------------------------------


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


class SiteError(Exception):
    """The site cannot be built where asked; the message names the folder and why."""


class SiteBusy(SiteError):
    """Another `astrocat build` is writing the same site folder."""


class Writer:
    """Writes files under `out` only when their content changes; keeps the manifest entries."""

    def __init__(self, out: Path, old: dict[str, Any], fingerprint: str, full: bool) -> None:
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


# --- the build ----------------------------------------------------------------------------


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "svg", "xml", "js", "txt"), default=True,
                                     default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        hours=lambda s: charts.hours(float(s or 0)),
        bytes=human_bytes,
        num=lambda n: f"{n:,}" if isinstance(n, int) else (f"{n:,.1f}" if isinstance(n, float) else n),
        secs=lambda s: "" if s is None else (f"{s:g}" if isinstance(s, (int, float)) else str(s)),
        temp=lambda t: "" if t is None else f"{t:.1f} °C",
        ra=ra_hms,
        dec=dec_dms,
    )
    return env


# The columns of a frame that any page shows: the change key of a session covers them all.
_FRAME_COLS = [
    "id", "path", "size", "sha256", "frame_type", "is_master", "object", "target", "filter", "exposure_s",
    "date_obs", "night", "session_id", "camera", "telescope", "focal_length_mm", "gain", "offset",
    "ccd_temp_c", "set_temp_c", "binning", "width", "height", "bayer_pattern", "software", "location",
    "scanned_at",
]
_REAL_COLS = {"exposure_s", "focal_length_mm", "gain", "offset", "ccd_temp_c", "set_temp_c"}
_ORDER = "ORDER BY session_id, date_obs, path"


class Site:
    """One build: reads the catalog, writes the pages. Use `build()`.

    Change detection is two-level. SQLite concatenates every shown column of every
    frame per session (in C) and we hash that: a session whose key, row and note are
    unchanged is skipped without reading its frames into Python. The hash of all
    session keys (`catalog_key`) lets the dashboard, statistics, targets and the
    explorer's index skip their aggregate queries when nothing changed at all.
    """

    def __init__(self, db: sqlite_utils.Database, settings: Settings, out: Path, thumbnails: bool,
                 full: bool, progress: ProgressFn | None) -> None:
        self.db = db
        self.s = settings
        self.out = out
        self.thumbnails = thumbnails
        self.progress = progress
        self._env = None
        self.result = BuildResult(out)
        self.manifest_path = out / MANIFEST_NAME
        self.old_manifest = self._read_manifest()
        self.fingerprint = templates_fingerprint()
        self.writer = Writer(out, self.old_manifest, self.fingerprint, full)
        self.full = full
        self.thumb_failed: dict[str, str] = dict(self.old_manifest.get("thumb_failures", {}))
        self.thumbs_used: set[str] = set()
        self.failed_used: set[str] = set()
        self.session_thumbs: dict[str, str | None] = {}
        self.explorer: dict[str, Any] = {}
        self.datasette = settings.datasette_url if is_loopback_url(settings.datasette_url) else None
        self.notes = self._notes()
        # what every page depends on besides its own data
        self.context_key = _digest(self.fingerprint, self.datasette, str(self.s.notes), str(self.s.catalog),
                                   self.thumbnails, THUMBS_PER_SESSION)
        self.catalog_key = ""
        self._step = 0
        self._steps = 1

    # -- plumbing

    def _read_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) and data.get("format") == SITE_FORMAT else {}
        except (OSError, ValueError):
            return {}

    def _query(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        cur = self.db.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [name]).fetchone() is not None

    def _notes(self) -> dict[tuple[str, str], dict[str, Any]]:
        if not self._has_table("notes"):
            return {}
        return {(r["kind"], r["key"]): r for r in self._query("SELECT kind, key, path, user_text FROM notes")}

    def _tick(self, label: str) -> None:
        self._step += 1
        if self.progress:
            self.progress(min(self._step, self._steps), self._steps, label)

    def kept(self, rel: str, entry: dict[str, Any]) -> dict[str, Any]:
        self.writer.keep(rel, entry)
        self.result.pages += 1
        return entry.get("meta", {})

    def page(self, rel: str, template: str, *, key: str | None = None, meta: dict[str, Any] | None = None,
             **ctx: Any) -> None:
        """Render `template` to `rel` unless built from the same inputs (`key`, else the context)."""
        root = "../" * rel.count("/")
        digest = key or _digest(self.context_key, template, rel, ctx)
        entry = self.writer.lookup(rel, digest)
        if entry is not None:
            self.kept(rel, entry)
            return
        if self._env is None:
            self._env = _env()  # Jinja2 only when something is rendered
        html = self._env.get_template(template).render(root=root, nav=NAV, rel=rel, **ctx)
        self.result.pages += 1
        self.writer.put(rel, html.encode("utf-8"), digest, meta)

    def data_file(self, rel: str, text: str, meta: dict[str, Any] | None = None) -> None:
        self.result.pages += 1
        self.writer.put(rel, text.encode("utf-8"), meta=meta)

    def note_for(self, kind: str, key: str, default_path: Path) -> dict[str, Any]:
        row = self.notes.get((kind, key))
        path = self.s.notes / row["path"] if row and row.get("path") else default_path
        # %% comments %% are private in Obsidian; [[links]] point into the vault, not the site
        text = (row or {}).get("user_text") or ""
        return {
            "html": render_markdown(text) if text.strip() else None,
            "path": str(path),
            "obsidian": obsidian_url(path),
        }

    def thumb(self, frame: dict[str, Any], failed: list[str] | None = None) -> str | None:
        """Relative href (from the site root) of a frame's thumbnail, rendering it if needed."""
        if not self.thumbnails:
            return None
        sha = frame.get("sha256")
        if not sha:
            return None
        if sha in self.thumb_failed:  # known bad content: report it again, never retry it
            self._failed(sha)
            if failed is not None:
                failed.append(sha)
            return None
        from astrocat.site import preview  # numpy and astropy only when thumbnails are made

        t = preview.ensure_thumbnail(self.out / "thumbs", sha, self.s.abs(frame["path"]), frame.get("bayer_pattern"))
        if t.status == "cached":
            self.result.thumbs_cached += 1
        elif t.status == "rendered":
            self.result.thumbs_rendered += 1
        else:
            if t.status == "failed":
                self.thumb_failed[sha] = t.reason
                self._failed(sha)
                if failed is not None:
                    failed.append(sha)
            return None
        self.thumbs_used.add(f"{sha}.png")
        return f"thumbs/{sha}.png"

    def _failed(self, sha: str) -> None:
        self.failed_used.add(sha)
        reason = self.thumb_failed.get(sha)
        if reason and reason not in self.result.thumb_failures:
            self.result.thumb_failures.append(reason)

    def _reuse_thumbs(self, meta: dict[str, Any]) -> bool:
        """Account for a kept page's thumbnails; False when one of them has gone from disk."""
        if not self.thumbnails:
            return True
        hrefs = [h for h in meta.get("thumbs", []) if h]
        if not all((self.out / h).is_file() for h in hrefs):
            return False
        self.thumbs_used.update(h.rsplit("/", 1)[-1] for h in hrefs)
        self.result.thumbs_cached += len(hrefs)
        for sha in meta.get("failed", []):
            if sha in self.thumb_failed:
                self._failed(sha)
        return True

    # -- the build

    def run(self) -> BuildResult:
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        # one consistent snapshot of the catalog for the whole build (unless the caller holds one)
        began = not self.db.conn.in_transaction
        if began:
            self.db.execute("BEGIN")
        try:
            self._assets()
            sessions = self._sessions()
            targets = self._targets()
            keys = self._session_keys()
            last_scan = self.db.execute("SELECT MAX(scanned_at) FROM frames").fetchone()[0]
            self.catalog_key = _digest(self.context_key, sorted((k or "", v) for k, v in keys.items()), last_scan,
                                       [(s["id"], s["integration_s"]) for s in sessions])
            self._steps = len(sessions) + len(targets) + 8
            self._session_pages(sessions, keys)
            self._explorer(keys)
            self._tick("explorer")
            target_thumbs = self._target_pages(targets)
            self._sessions_index(sessions)
            self._tick("sessions")
            self._targets_index(targets, target_thumbs)
            self._tick("targets")
            self._dashboard(sessions, last_scan)
            self._tick("dashboard")
            self._stats(targets)
            self._tick("stats")
            self._files_page()
            self._placeholders()
            self._tick("pages")
        finally:
            if began:
                self.db.execute("ROLLBACK")
        self._remove_stale()
        self._write_manifest()
        self.result.written = list(self.writer.written)
        self.result.elapsed_s = time.perf_counter() - started
        return self.result

    def _assets(self) -> None:
        static = TEMPLATES_DIR / "static"
        for path in sorted(p for p in static.rglob("*") if p.is_file()):
            self.result.pages += 1
            self.writer.put("assets/" + path.relative_to(static).as_posix(), path.read_bytes())

    def _sessions(self) -> list[dict[str, Any]]:
        out = []
        for r in self._query("SELECT * FROM sessions ORDER BY night DESC, id"):
            for key, empty in (("targets", []), ("filters", []), ("integration_by_filter", {}), ("frames_by_type", {})):
                r[key] = json.loads(r[key]) if r.get(key) else empty
            r["href"] = session_href(r["id"])
            out.append(r)
        return out

    def _targets(self) -> list[dict[str, Any]]:
        out = []
        for r in self._query("SELECT * FROM targets ORDER BY integration_s DESC, name"):
            r["integration_by_filter"] = json.loads(r["integration_by_filter"] or "{}")
            r["filters"] = json.loads(r["filters"] or "[]")
            r["href"] = target_href(r["name"])
            out.append(r)
        return out

    def _session_keys(self) -> dict[str | None, str]:
        """session id (None: frames without a night) -> hash of every shown column of its frames."""
        fmt = "\x1f".join(["%s"] * len(_FRAME_COLS))
        # printf of a REAL is the slow part; micro-units as integers say the same, twice as fast
        cols = ", ".join(f'CAST("{c}" * 1e6 AS INTEGER)' if c in _REAL_COLS else f'"{c}"' for c in _FRAME_COLS)
        sql = (f"SELECT session_id, group_concat(printf('{fmt}', {cols}), char(30)) FROM frames "
               f"WHERE {counted()} GROUP BY session_id")
        return {sid: hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()
                for sid, blob in self.db.execute(sql)}

    def _frames(self, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
        cols = ", ".join(f'"{c}"' for c in _FRAME_COLS)
        for row in self.db.execute(f"SELECT {cols} FROM frames WHERE {counted()} AND {where} {_ORDER}", params):
            yield dict(zip(_FRAME_COLS, row))

    # -- sessions

    def _session_pages(self, sessions: list[dict[str, Any]], keys: dict[str | None, str]) -> None:
        pending: dict[str, tuple[dict[str, Any], str]] = {}
        for s in sessions:
            sid = s["id"]
            key = _digest(self.context_key, "session", s, keys.get(sid), self.notes.get(("session", sid)))
            entry = self.writer.lookup(s["href"], key)
            if entry is not None and self._reuse_thumbs(entry.get("meta", {})):
                self.session_thumbs[sid] = self.kept(s["href"], entry).get("thumb")
                self._tick(sid)
            else:
                pending[sid] = (s, key)
        if not pending:
            return
        if len(pending) == len(sessions):
            batches: list[list[str] | None] = [None]
        else:
            ids = sorted(pending)
            batches = [ids[i : i + 500] for i in range(0, len(ids), 500)]
        for batch in batches:
            if batch is None:
                rows = self._frames("session_id IS NOT NULL", [])
            else:
                rows = self._frames(f"session_id IN ({','.join('?' * len(batch))})", batch)
            current: str | None = None
            group: list[dict[str, Any]] = []
            for f in rows:
                if f["session_id"] != current:
                    if current in pending:
                        self._session_page(*pending.pop(current), group)
                    current, group = f["session_id"], []
                group.append(f)
            if current in pending:
                self._session_page(*pending.pop(current), group)
        # a session row whose frames are all gone still gets its page: links to it never break
        for s, key in list(pending.values()):
            self._session_page(s, key, [])

    def _session_page(self, s: dict[str, Any], key: str, frames: list[dict[str, Any]]) -> None:
        lights = [f for f in frames if f["frame_type"] == "light" and not f["is_master"]]
        by_filter = defaultdict(list)
        for f in lights:
            by_filter[f["filter"] or "(none)"].append(f)
        per = max(1, THUMBS_PER_SESSION // max(1, len(by_filter)))
        chosen = [f for fl in sorted(by_filter) for f in evenly(by_filter[fl], per)][:THUMBS_PER_SESSION]
        thumbs = []
        failed: list[str] = []
        for f in chosen:
            href = self.thumb(f, failed)
            if href:
                thumbs.append({"href": href, "filter": f["filter"] or "", "target": f["target"] or "",
                               "time": (f["date_obs"] or "")[11:19], "exposure_s": f["exposure_s"],
                               "name": os.path.basename(f["path"])})
        groups: dict[tuple[str, str, Any], dict[str, Any]] = {}
        for f in frames:
            gkey = (f["frame_type"], f["filter"] or "", f["exposure_s"])
            g = groups.setdefault(gkey, {"frame_type": f["frame_type"], "filter": f["filter"] or "",
                                         "exposure_s": f["exposure_s"], "frames": 0, "seconds": 0.0, "masters": 0})
            g["frames"] += 1
            g["seconds"] += float(f["exposure_s"] or 0)
            g["masters"] += 1 if f["is_master"] else 0
        order = {"light": 0, "flat": 1, "darkflat": 2, "dark": 3, "bias": 4, "unknown": 5}
        breakdown = sorted(groups.values(), key=lambda g: (order.get(g["frame_type"], 9), g["filter"], g["exposure_s"] or 0))
        calibration = {}
        for kind in ("dark", "flat", "bias", "darkflat"):
            sel = [f for f in frames if f["frame_type"] == kind]
            calibration[kind] = {
                "frames": len(sel),
                "exposures": sorted({f["exposure_s"] for f in sel if f["exposure_s"] is not None}),
                "filters": sorted({f["filter"] for f in sel if f["filter"]}),
            }
        missing = calibration_gaps(lights, calibration)
        files = [{
            "name": os.path.basename(f["path"]), "path": f["path"], "frame_type": f["frame_type"],
            "is_master": bool(f["is_master"]), "object": f["object"], "target": f["target"], "filter": f["filter"],
            "exposure_s": f["exposure_s"], "time": (f["date_obs"] or "")[11:19], "ccd_temp_c": f["ccd_temp_c"],
            "gain": f["gain"], "offset": f["offset"], "binning": f["binning"], "size": f["size"],
        } for f in frames]

        def distinct(col: str) -> list[Any]:
            return sorted({f[col] for f in frames if f[col] is not None}, key=str)

        sid = s["id"]
        year = (s["night"] or "0000")[:4]
        note = self.note_for("session", sid, self.s.notes / "Imaging_Sessions" / year / note_file_name(sid))
        filter_chart = charts.hbar_chart(
            sorted(s["integration_by_filter"].items(), key=lambda kv: -kv[1]),
            title="Integration per filter", x_label="hours of light frames", color_by_name=True, width=1100,
        ) if s["integration_by_filter"] else None
        first = thumbs[0]["href"] if thumbs else None
        self.session_thumbs[sid] = first
        self.page(
            s["href"], "session.html", key=key,
            meta={"thumb": first, "thumbs": [t["href"] for t in thumbs], "failed": failed},
            title=f"Session {sid}", section="sessions", s=s, year=year,
            span=session_span(s.get("first_utc"), s.get("last_utc")), files=files, thumbs=thumbs,
            breakdown=breakdown, calibration=calibration, missing=missing,
            rig={"focal_length_mm": distinct("focal_length_mm"), "gain": distinct("gain"), "offset": distinct("offset"),
                 "binning": distinct("binning"), "software": distinct("software"), "set_temp_c": distinct("set_temp_c"),
                 "bayer_pattern": distinct("bayer_pattern")},
            targets=[{"name": t, "href": target_href(t)} for t in s["targets"]],
            note=note, filter_chart=Markup(filter_chart) if filter_chart else None,
            datasette=(f"{self.datasette}/{quote(self.s.catalog.stem)}/frames?session_id={quote(sid, safe='')}"
                       if self.datasette else None),
            files_href=f"files.html#session={quote(sid, safe='')}",
            processing=[],
            commands=actions([
                ("Create a processing session from these frames", command("session_processing", session=sid)),
                ("List this session's files", command("session_files", session=sid)),
                ("Back up this session", command("session_backup", session=sid)),
                ("Regenerate this session's note", command("session_note", session=sid)),
            ]),
        )
        self._tick(sid)

    # -- the explorer's index

    def _explorer(self, keys: dict[str | None, str]) -> None:
        """Chunks per month; a month whose sessions' keys are unchanged keeps its chunk files."""
        months: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for sid, key in keys.items():
            months[sid[:7] if sid else "undated"].append((sid or "", key))
        old = {} if self.full else self.old_manifest.get("explorer", {})
        for month in sorted(months, key=lambda m: (m == "undated", m)):
            mkey = _digest(self.context_key, sorted(months[month]))
            prev = old.get(month)
            if prev and prev.get("key") == mkey:
                entries = [self.writer.lookup(c["file"]) for c in prev["chunks"]]
                if all(e is not None for e in entries):
                    for c, e in zip(prev["chunks"], entries):
                        self.kept(c["file"], e)
                    self.explorer[month] = prev
                    continue
            if month == "undated":
                rows = self._frames("session_id IS NULL", [])
            else:
                rows = self._frames("session_id >= ? AND session_id < ?", [month, month + "~"])
            writer = ChunkWriter(self, month)
            for f in rows:
                writer.add(f)
            self.explorer[month] = {"key": mkey, "chunks": writer.finish()}
        chunks = [c for m in sorted(self.explorer, key=lambda m: (m == "undated", m)) for c in self.explorer[m]["chunks"]]
        meta_key = _digest(self.catalog_key, chunks)
        entry = self.writer.lookup("data/files-meta.js", state=meta_key)
        if entry is not None:
            self.kept("data/files-meta.js", entry)
            return
        meta = {
            "total": sum(c["rows"] for c in chunks),
            "chunks": chunks,
            "columns": ChunkWriter.COLUMNS,
            "options": self._explorer_options(),
            "nights": list(self.db.execute(
                f"SELECT MIN(night), MAX(night) FROM frames WHERE {counted()}").fetchone()),
        }
        if meta["nights"] == [None, None]:
            meta["nights"] = []
        self.data_file("data/files-meta.js", f"AstrocatFiles.meta({js_data(meta)});\n", meta={"state": meta_key})

    def _explorer_options(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, col in (("target", "target"), ("filter", "filter"), ("camera", "camera"), ("telescope", "telescope")):
            values = [r[0] for r in self.db.execute(
                f'SELECT DISTINCT "{col}" FROM frames WHERE {counted()} AND "{col}" IS NOT NULL')]
            out[key] = sorted((str(v) for v in values), key=str.lower)
        out["type"] = sorted({ft + (" (master)" if m else "") for ft, m in self.db.execute(
            f"SELECT DISTINCT frame_type, is_master FROM frames WHERE {counted()}")}, key=str.lower)
        return out

    # -- targets

    def _target_pages(self, targets: list[dict[str, Any]]) -> dict[str, str | None]:
        """Target pages; returns target -> thumbnail href. Skips everything when nothing changed."""
        thumbs: dict[str, str | None] = {}
        states = {t["name"]: _digest(self.catalog_key, "target", t, self.notes.get(("target", t["name"])))
                  for t in targets}
        pending = []
        for t in targets:
            entry = self.writer.lookup(t["href"], state=states[t["name"]])
            if entry is not None and self._reuse_thumbs(entry.get("meta", {})):
                thumbs[t["name"]] = self.kept(t["href"], entry).get("thumb")
                self._tick(t["name"])
            else:
                pending.append(t)
        if not pending:
            return thumbs
        nights: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        sessions: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        q = f"""SELECT target, night, session_id, COALESCE(filter, '(none)') AS filter, COUNT(*) AS n,
                      SUM(exposure_s) AS secs
               FROM frames WHERE {integrates()} AND target IS NOT NULL
               GROUP BY target, session_id, filter"""
        for r in self._query(q):
            night = r["night"] or "(no date)"
            by_night = nights[r["target"]][night]
            by_night[r["filter"]] = by_night.get(r["filter"], 0.0) + (r["secs"] or 0.0)
            s = sessions[r["target"]].setdefault(r["session_id"] or "", {"id": r["session_id"], "night": night,
                                                                        "frames": 0, "seconds": 0.0, "filters": []})
            s["frames"] += r["n"]
            s["seconds"] += r["secs"] or 0.0
            s["filters"].append(r["filter"])
        best = self._target_frames() if self.thumbnails else {}
        for t in pending:
            name = t["name"]
            failed: list[str] = []
            thumb = self.thumb(best[name], failed) if name in best else None
            thumbs[name] = thumb
            filters = sorted(t["integration_by_filter"], key=lambda f: -t["integration_by_filter"][f])
            rows = [{"night": n, "by_filter": by, "total": sum(by.values())} for n, by in sorted(nights[name].items())]
            sess = sorted(sessions[name].values(), key=lambda s: (s["night"], s["id"] or ""), reverse=True)
            for s in sess:
                s["href"] = session_href(s["id"]) if s["id"] else None
            key = _digest(self.context_key, "target", t, rows, sess, thumb, self.notes.get(("target", name)))
            entry = self.writer.lookup(t["href"], key)
            meta = {"state": states[name], "thumb": thumb, "thumbs": [thumb] if thumb else [], "failed": failed}
            if entry is not None:
                self.kept(t["href"], {**entry, "meta": meta})
                self._tick(name)
                continue
            chart = charts.bar_chart(
                [r["night"] for r in rows], [(f, [r["by_filter"].get(f, 0.0) for r in rows]) for f in filters],
                title="Integration per night, by filter", y_label="hours", width=1100, height=320,
            )
            self.page(
                t["href"], "target.html", key=key, meta=meta,
                title=name, section="targets", t=t, filters=filters, rows=rows, sessions=sess, chart=Markup(chart),
                thumb=thumb, note=self.note_for("target", name, self.s.notes / "Targets" / note_file_name(name)),
                datasette=(f"{self.datasette}/{quote(self.s.catalog.stem)}/frames?target={quote(name, safe='')}"
                           f"&frame_type=light" if self.datasette else None),
                files_href=f"files.html#target={quote(name, safe='')}",
                commands=actions([
                    ("How many hours per filter", command("target_stats", target=name)),
                    ("List the light frames", command("target_files", target=name)),
                    ("Create a processing session for this target", command("target_processing", target=name)),
                ]),
            )
            self._tick(name)
        return thumbs

    def _target_frames(self) -> dict[str, dict[str, Any]]:
        """The frame that stands for each target: its latest night's longest light frame."""
        q = f"""SELECT target, sha256, path, bayer_pattern FROM (
                   SELECT target, sha256, path, bayer_pattern, ROW_NUMBER() OVER (
                       PARTITION BY target ORDER BY night DESC, exposure_s DESC, date_obs DESC, path) AS rn
                   FROM frames WHERE {integrates()} AND target IS NOT NULL)
               WHERE rn = 1"""
        return {r["target"]: r for r in self._query(q)}

    def _targets_index(self, targets: list[dict[str, Any]], thumbs: dict[str, str | None]) -> None:
        rows = [{**t, "thumb": thumbs.get(t["name"])} for t in targets]
        self.page("targets/index.html", "targets.html", title="Targets", section="targets", targets=rows)

    def _sessions_index(self, sessions: list[dict[str, Any]]) -> None:
        years: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in sessions:
            years[(s["night"] or "unknown")[:4]].append(s)
        summary = [{"year": y, "sessions": ss, "integration_s": sum(s["integration_s"] or 0 for s in ss),
                    "lights": sum(s["lights"] or 0 for s in ss)} for y, ss in sorted(years.items(), reverse=True)]
        self.page("sessions/index.html", "sessions.html", title="Imaging sessions", section="sessions", years=summary)

    # -- dashboard and statistics

    def _month_series(self, last_n: int | None = None) -> tuple[list[str], list[tuple[str, list[float]]]]:
        q = f"""SELECT substr(night, 1, 7) AS month, COALESCE(filter, '(none)') AS filter, SUM(exposure_s) AS secs
               FROM frames WHERE {integrates()} AND night IS NOT NULL GROUP BY month, filter"""
        data: dict[str, dict[str, float]] = defaultdict(dict)
        totals: dict[str, float] = defaultdict(float)
        for r in self._query(q):
            data[r["month"]][r["filter"]] = r["secs"] or 0.0
            totals[r["filter"]] += r["secs"] or 0.0
        if not data:
            return [], []
        months = month_range(min(data), max(data))
        if last_n:
            months = months[-last_n:]
        filters = sorted(totals, key=lambda f: -totals[f])
        return months, [(f, [data.get(m, {}).get(f, 0.0) for m in months]) for f in filters]

    def _backup_coverage(self) -> dict[str, Any] | None:
        """Share of the catalog's distinct contents with a backup record, once backups exist."""
        if not self._has_table("backups"):
            return None
        try:
            done = self.db.execute("SELECT COUNT(DISTINCT sha256) FROM backups").fetchone()[0] or 0
        except sqlite3.OperationalError:
            return None
        total = self.db.execute(
            f"SELECT COUNT(DISTINCT sha256) FROM frames WHERE {counted()} AND sha256 IS NOT NULL"
        ).fetchone()[0] or 0
        return {"backed_up": min(done, total), "total": total, "percent": round(100.0 * min(done, total) / total, 1) if total else 0.0}

    def _dashboard(self, sessions: list[dict[str, Any]], last_scan: str | None) -> None:
        latest = [{**s, "thumb": self.session_thumbs.get(s["id"])} for s in sessions[:LATEST_SESSIONS]]
        backup = self._backup_coverage()
        key = _digest(self.catalog_key, "index.html", latest, backup)
        entry = self.writer.lookup("index.html", key)
        if entry is not None:
            self.kept("index.html", entry)
            return
        summary = catalog.stats_summary(self.db, catalog.FrameFilter())
        months, series = self._month_series(last_n=24)
        chart = charts.bar_chart(months, series, title="Integration per month (last 24 months), by filter",
                                 y_label="hours", width=1160, height=320)
        self.page(
            "index.html", "index.html", key=key, title="Dashboard", section="dashboard", summary=summary,
            latest=latest, chart=Markup(chart), last_scan=last_scan, backup=backup, catalog_path=str(self.s.catalog),
            datasette=f"{self.datasette}/{quote(self.s.catalog.stem)}" if self.datasette else None,
            commands=actions([
                ("Read new frames into the catalog", COMMANDS["scan"]),
                ("File them into the library (preview first)", COMMANDS["organize"]),
                ("Rebuild this site and open it", COMMANDS["build"]),
                ("Explore the catalog in Datasette", COMMANDS["datasette"]),
                ("Back up the library (preview first)", COMMANDS["backup"]),
            ]),
        )

    def _stats(self, targets: list[dict[str, Any]]) -> None:
        key = _digest(self.catalog_key, "stats.html", targets)
        entry = self.writer.lookup("stats.html", key)
        if entry is not None:
            self.kept("stats.html", entry)
            return
        flt = catalog.FrameFilter()
        summary = catalog.stats_summary(self.db, flt)
        cumulative = []
        total = 0.0
        for r in self._query(
            f"SELECT night, SUM(exposure_s) AS secs FROM frames WHERE {integrates()} "
            "AND night IS NOT NULL GROUP BY night ORDER BY night"
        ):
            total += r["secs"] or 0.0
            cumulative.append((r["night"], round(total, 3)))
        by_filter = catalog.stats_grouped(self.db, flt, "filter")
        cameras = catalog.list_values(self.db, "camera", flt)
        telescopes = catalog.list_values(self.db, "telescope", flt)
        months, series = self._month_series()
        target_links = {t["name"]: t["href"] for t in targets}
        top = targets[:15]
        by_type = sorted(summary["frames_by_type"].items(), key=lambda kv: -kv[1])
        chart_list = [
            ("growth", charts.line_chart(cumulative, title="Collection growth: cumulative integration",
                                         y_label="hours of light frames", x_label="night", width=1160, height=320)),
            ("months", charts.bar_chart(months, series, title="Integration per month, by filter", y_label="hours",
                                        width=1160, height=320)),
            ("filters", charts.hbar_chart([(r["name"], r["integration_s"]) for r in by_filter],
                                          title="Integration per filter", x_label="hours of light frames",
                                          color_by_name=True, width=560)),
            ("targets", charts.hbar_chart([(t["name"], t["integration_s"]) for t in top],
                                          title=f"Top {len(top)} targets by integration", x_label="hours of light frames",
                                          links=target_links, width=560)),
            ("cameras", charts.hbar_chart([(r["name"], r["integration_s"] or 0) for r in cameras],
                                          title="Integration per camera", x_label="hours of light frames", width=560)),
            ("telescopes", charts.hbar_chart([(r["name"], r["integration_s"] or 0) for r in telescopes],
                                             title="Integration per telescope", x_label="hours of light frames",
                                             width=560)),
            ("types", charts.hbar_chart(by_type, title="Frames by type", x_label="frames", value_format=charts.count,
                                        color_by_name=True, width=560)),
            ("sky", charts.sky_map([(t["name"], t["ra_deg"], t["dec_deg"], t["integration_s"]) for t in targets],
                                   title="Sky map of targets (marker size: integration)", links=target_links,
                                   width=1160, height=560)),
        ]
        self.page(
            "stats.html", "stats.html", key=key, title="Statistics", section="stats", summary=summary,
            charts=[(k, Markup(svg)) for k, svg in chart_list],
            cameras=cameras, telescopes=telescopes, by_filter=by_filter,
        )

    def _files_page(self) -> None:
        self.page("files.html", "files.html", title="File explorer", section="files", wide=True)

    def _placeholders(self) -> None:
        for key, (title, text, cmds) in PLACEHOLDERS.items():
            self.page(f"{key}/index.html", "placeholder.html", title=title, section=key, text=text,
                      commands=[("", c) for c in cmds])

    # -- cleanup and manifest

    def _remove_stale(self) -> None:
        """Delete files an earlier build wrote that this build no longer produces (only those)."""
        for rel in sorted(set(self.writer.old_files) - set(self.writer.files)):
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                continue
            try:
                (self.out / rel).unlink()
                self.result.removed.append(rel)
            except FileNotFoundError:
                pass
        if self.thumbnails:
            thumbs = self.out / "thumbs"
            if thumbs.is_dir():
                for p in thumbs.iterdir():
                    if _SHA_NAME.match(p.stem) and p.suffix == ".png" and p.name not in self.thumbs_used:
                        p.unlink()
                        self.result.removed.append(f"thumbs/{p.name}")

    def _write_manifest(self) -> None:
        data = {
            "format": SITE_FORMAT,
            "generator": "astrocat build",
            "fingerprint": self.fingerprint,
            "files": dict(sorted(self.writer.files.items())),
            "explorer": dict(sorted(self.explorer.items())),
            # failures of frames no page shows any more are forgotten
            "thumb_failures": {k: v for k, v in sorted(self.thumb_failed.items())
                               if k in self.failed_used or not self.thumbnails},
        }
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        try:
            if self.manifest_path.read_text(encoding="utf-8") == text:
                return
        except OSError:
            pass
        tmp = self.manifest_path.with_name(self.manifest_path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.manifest_path)


def calibration_gaps(lights: list[dict[str, Any]], calibration: dict[str, dict[str, Any]]) -> list[str]:
    """What a session's lights lack among the night's own calibration frames. Pure."""
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
    out = Path(os.path.abspath(out or settings.site))
    _check_out_dir(out, settings.site, force)
    from astrocat.lock import LockBusy, catalog_lock

    out.mkdir(parents=True, exist_ok=True)
    try:
        with catalog_lock(out / ".astrocat-build", "build", wait_s=lock_wait_s):
            return Site(db, settings, out, thumbnails, full, progress).run()
    except LockBusy as exc:
        raise SiteBusy(str(exc).replace("writing this catalog", "building this site")) from None


def demo_step(db: sqlite_utils.Database, settings: Settings, echo: Callable[[str], None], report: dict[str, Any]) -> None:
    """The demo's pipeline step: build the site and print where it is."""
    result = build(db, settings)
    report["site"] = result.as_dict()
    echo(f"site: {result.pages} files, {result.thumbs_rendered} thumbnails; open {result.index}")
