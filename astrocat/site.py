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

from . import catalog, charts, preview
from .config import Settings

SITE_FORMAT = 1
MANIFEST_NAME = ".astrocat-site.json"
CHUNK_ROWS = 5000
THUMBS_PER_SESSION = 12
LATEST_SESSIONS = 8
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "site_templates"

Progress = Callable[[int, int, str], None]

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
    "session_note": "astrocat notes --session {session}",
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

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_NOTE_UNSAFE = re.compile(r'[\\/:*?"<>|#^\[\]\x00-\x1f\x7f]')
_LOOPBACK_HOSTS = {"localhost", "::1"}


# --- small pure helpers ------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def slug(name: str) -> str:
    """A file-name-safe, stable slug; a short hash keeps slugs of different names apart."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "item"
    if s != name or s.upper() in _WINDOWS_RESERVED:
        s += "-" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return s


def session_href(sid: str) -> str:
    return f"sessions/{slug(sid)}.html"


def target_href(name: str) -> str:
    return f"targets/{slug(name)}.html"


def note_file_name(name: str) -> str:
    """A note's file name: the name with characters unsafe in file names or Obsidian links as `_`."""
    return (_NOTE_UNSAFE.sub("_", name).strip().strip(".") or "_") + ".md"


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


def human_bytes(n: float | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def js_data(payload: Any) -> str:
    """JSON safe to place in a .js file or a <script>: no <, >, & or line separators raw."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})

    def image(self, tokens, idx, options, env):  # noqa: ANN001 - markdown-it's renderer signature
        token = tokens[idx]
        src = token.attrGet("src") or ""
        if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.I) or src.startswith("//"):
            # an image from outside the site would be fetched: show it as a link instead
            alt = self.renderInlineAsText(token.children or [], options, env)
            return f'<a href="{charts.esc(src)}" rel="noopener noreferrer">{charts.esc(alt or src)}</a>'
        return self.image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    return md


def render_markdown(text: str) -> Markup:
    """CommonMark with raw HTML off; images from outside the site become plain links."""
    return Markup(_markdown().render(text or ""))


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str, separators=(",", ":")).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


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


class Writer:
    """Writes files under `out` only when their content changes; keeps the manifest."""

    def __init__(self, out: Path, old: dict[str, Any], fingerprint: str, full: bool) -> None:
        self.out = out
        self.old_files: dict[str, dict[str, str]] = old.get("files", {}) if old.get("fingerprint") == fingerprint else {}
        self.old_any: dict[str, dict[str, str]] = old.get("files", {})
        self.fingerprint = fingerprint
        self.full = full
        self.files: dict[str, dict[str, str]] = {}
        self.written: list[str] = []

    def unchanged(self, rel: str, digest: str) -> bool:
        """True (and the page is kept) when the page was built from the same inputs."""
        old = self.old_files.get(rel)
        if self.full or not old or old.get("in") != digest or not (self.out / rel).is_file():
            return False
        self.files[rel] = old
        return True

    def put(self, rel: str, data: bytes, digest: str | None = None) -> None:
        out_hash = hashlib.sha256(data).hexdigest()
        dest = self.out / rel
        self.files[rel] = {"in": digest or out_hash, "out": out_hash}
        old = self.old_any.get(rel)
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


class Site:
    """One build: reads the catalog, writes the pages. Use `build()`."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings, out: Path, thumbnails: bool,
                 full: bool, progress: Progress | None) -> None:
        self.db = db
        self.s = settings
        self.out = out
        self.thumbnails = thumbnails
        self.progress = progress
        self.env = _env()
        self.result = BuildResult(out)
        self.manifest_path = out / MANIFEST_NAME
        self.old_manifest = self._read_manifest()
        self.fingerprint = templates_fingerprint()
        self.writer = Writer(out, self.old_manifest, self.fingerprint, full)
        self.thumb_failed: dict[str, str] = dict(self.old_manifest.get("thumb_failures", {}))
        self.thumbs_used: set[str] = set()
        self.failed_used: set[str] = set()
        self.datasette = settings.datasette_url if is_loopback_url(settings.datasette_url) else None
        self.notes = self._notes()

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

    def page(self, rel: str, template: str, **ctx: Any) -> None:
        """Render `template` to `rel` unless the page's inputs are unchanged."""
        root = "../" * rel.count("/")
        digest = _digest(self.fingerprint, template, rel, ctx)
        self.result.pages += 1
        if self.writer.unchanged(rel, digest):
            return
        html = self.env.get_template(template).render(root=root, nav=NAV, rel=rel, **ctx)
        self.writer.put(rel, html.encode("utf-8"), digest)

    def data_file(self, rel: str, text: str) -> None:
        self.result.pages += 1
        self.writer.put(rel, text.encode("utf-8"))

    def note_for(self, kind: str, key: str, default_path: Path) -> dict[str, Any]:
        row = self.notes.get((kind, key))
        path = self.s.abs(row["path"]) if row and row.get("path") else default_path
        text = (row or {}).get("user_text") or ""
        return {
            "html": render_markdown(text) if text.strip() else None,
            "path": str(path),
            "obsidian": obsidian_url(path),
        }

    def thumb(self, frame: dict[str, Any]) -> str | None:
        """Relative href (from the site root) of a frame's thumbnail, rendering it if needed."""
        if not self.thumbnails:
            return None
        sha = frame.get("sha256")
        if not sha:
            return None
        if sha in self.thumb_failed:  # known bad content: report it again, never retry it
            if self.thumb_failed[sha] not in self.result.thumb_failures:
                self.result.thumb_failures.append(self.thumb_failed[sha])
            self.failed_used.add(sha)
            return None
        t = preview.ensure_thumbnail(self.out / "thumbs", sha, self.s.abs(frame["path"]), frame.get("bayer_pattern"))
        if t.status == "cached":
            self.result.thumbs_cached += 1
        elif t.status == "rendered":
            self.result.thumbs_rendered += 1
        else:
            if t.status == "failed":
                self.thumb_failed[sha] = t.reason
                self.failed_used.add(sha)
                self.result.thumb_failures.append(t.reason)
            return None
        self.thumbs_used.add(f"{sha}.png")
        return f"thumbs/{sha}.png"

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
            total_steps = len(sessions) + len(targets) + 8
            step = [0]

            def tick(label: str) -> None:
                step[0] += 1
                if self.progress:
                    self.progress(step[0], total_steps, label)

            session_thumbs, target_frames = self._stream_frames(sessions, tick)
            target_thumbs = {name: self.thumb(f) for name, f in target_frames.items()}
            self._target_pages(targets, target_thumbs, tick)
            self._sessions_index(sessions)
            tick("sessions")
            self._targets_index(targets, target_thumbs)
            tick("targets")
            self._dashboard(sessions, session_thumbs)
            tick("dashboard")
            self._stats(targets)
            tick("stats")
            self._files_page()
            tick("files")
            self._placeholders()
            tick("placeholders")
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

    # -- sessions: one streaming pass over the frames

    _FRAME_COLS = [
        "id", "path", "size", "sha256", "frame_type", "is_master", "object", "target", "filter", "exposure_s",
        "date_obs", "night", "session_id", "camera", "telescope", "focal_length_mm", "gain", "offset",
        "ccd_temp_c", "set_temp_c", "binning", "width", "height", "bayer_pattern", "software", "location",
    ]

    def _stream_frames(self, sessions: list[dict[str, Any]], tick: Callable[[str], None]
                       ) -> tuple[dict[str, str | None], dict[str, dict[str, Any]]]:
        """Session pages and explorer chunks from one ordered pass over `frames`."""
        by_id = {s["id"]: s for s in sessions}
        cols = ", ".join(f'"{c}"' for c in self._FRAME_COLS)
        cur = self.db.execute(
            f"SELECT {cols} FROM frames WHERE location != 'missing' ORDER BY session_id, date_obs, path"
        )
        session_thumbs: dict[str, str | None] = {}
        target_best: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        chunks = ChunkWriter(self)
        current: str | None = None
        group: list[dict[str, Any]] = []

        def flush() -> None:
            if current is not None and current in by_id:
                session_thumbs[current] = self._session_page(by_id[current], group)
                tick(current)

        for row in cur:
            f = dict(zip(self._FRAME_COLS, row))
            chunks.add(f)
            if f["frame_type"] == "light" and not f["is_master"] and f["target"]:
                key = (f["night"] or "", f["exposure_s"] or 0.0, f["date_obs"] or "")
                best = target_best.get(f["target"])
                if best is None or key > best[0]:
                    target_best[f["target"]] = (key, {k: f[k] for k in ("sha256", "path", "bayer_pattern")})
            sid = f["session_id"]
            if sid != current:
                flush()
                current, group = sid, []
            group.append(f)
        flush()
        chunks.finish()
        return session_thumbs, {name: best[1] for name, best in target_best.items()}

    def _session_page(self, s: dict[str, Any], frames: list[dict[str, Any]]) -> str | None:
        lights = [f for f in frames if f["frame_type"] == "light" and not f["is_master"]]
        by_filter = defaultdict(list)
        for f in lights:
            by_filter[f["filter"] or "(none)"].append(f)
        per = max(1, THUMBS_PER_SESSION // max(1, len(by_filter)))
        chosen = [f for fl in sorted(by_filter) for f in evenly(by_filter[fl], per)][:THUMBS_PER_SESSION]
        thumbs = []
        for f in chosen:
            href = self.thumb(f)
            if href:
                thumbs.append({"href": href, "filter": f["filter"] or "", "target": f["target"] or "",
                               "time": (f["date_obs"] or "")[11:19], "exposure_s": f["exposure_s"],
                               "name": os.path.basename(f["path"])})
        groups: dict[tuple[str, str, Any], dict[str, Any]] = {}
        for f in frames:
            key = (f["frame_type"], f["filter"] or "", f["exposure_s"])
            g = groups.setdefault(key, {"frame_type": f["frame_type"], "filter": f["filter"] or "",
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
        light_filters = sorted({f["filter"] for f in lights if f["filter"]})
        light_exps = sorted({f["exposure_s"] for f in lights if f["exposure_s"] is not None})
        missing = []
        if lights:
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
        span = session_span(s.get("first_utc"), s.get("last_utc"))
        note = self.note_for("session", sid, self.s.notes / "Imaging_Sessions" / year / note_file_name(sid))
        filter_chart = charts.hbar_chart(
            sorted(s["integration_by_filter"].items(), key=lambda kv: -kv[1]),
            title="Integration per filter", x_label="hours of light frames", color_by_name=True, width=1100,
        ) if s["integration_by_filter"] else None
        self.page(
            s["href"], "session.html",
            title=f"Session {sid}", section="sessions", s=s, year=year, span=span, files=files, thumbs=thumbs,
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
            commands=[
                ("Create a processing session from these frames", command("session_processing", session=sid)),
                ("List this session's files", command("session_files", session=sid)),
                ("Back up this session", command("session_backup", session=sid)),
                ("Regenerate this session's note", command("session_note", session=sid)),
            ],
        )
        return thumbs[0]["href"] if thumbs else None

    # -- targets

    def _target_pages(self, targets: list[dict[str, Any]], thumbs: dict[str, str | None],
                      tick: Callable[[str], None]) -> None:
        nights: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        sessions: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        q = """SELECT target, night, session_id, COALESCE(filter, '(none)') AS filter, COUNT(*) AS n,
                      SUM(exposure_s) AS secs
               FROM frames WHERE frame_type = 'light' AND is_master = 0 AND target IS NOT NULL
                 AND location != 'missing'
               GROUP BY target, session_id, filter"""
        for r in self._query(q):
            night = r["night"] or "(no date)"
            nights[r["target"]][night][r["filter"]] = nights[r["target"]][night].get(r["filter"], 0.0) + (r["secs"] or 0.0)
            s = sessions[r["target"]].setdefault(r["session_id"] or "", {"id": r["session_id"], "night": night, "frames": 0,
                                                                        "seconds": 0.0, "filters": []})
            s["frames"] += r["n"]
            s["seconds"] += r["secs"] or 0.0
            s["filters"].append(r["filter"])
        for t in targets:
            name = t["name"]
            filters = sorted(t["integration_by_filter"], key=lambda f: -t["integration_by_filter"][f])
            rows = [{"night": n, "by_filter": by, "total": sum(by.values())} for n, by in sorted(nights[name].items())]
            sess = sorted(sessions[name].values(), key=lambda s: (s["night"], s["id"] or ""), reverse=True)
            for s in sess:
                s["href"] = session_href(s["id"]) if s["id"] else None
            chart = charts.bar_chart(
                [r["night"] for r in rows], [(f, [r["by_filter"].get(f, 0.0) for r in rows]) for f in filters],
                title="Integration per night, by filter", y_label="hours", width=1100, height=320,
            )
            note = self.note_for("target", name, self.s.notes / "Targets" / note_file_name(name))
            self.page(
                t["href"], "target.html", title=name, section="targets", t=t, filters=filters, rows=rows,
                sessions=sess, chart=Markup(chart), thumb=thumbs.get(name), note=note,
                datasette=(f"{self.datasette}/{quote(self.s.catalog.stem)}/frames?target={quote(name, safe='')}"
                           f"&frame_type=light" if self.datasette else None),
                files_href=f"files.html#target={quote(name, safe='')}",
                commands=[
                    ("How many hours per filter", command("target_stats", target=name)),
                    ("List the light frames", command("target_files", target=name)),
                    ("Create a processing session for this target", command("target_processing", target=name)),
                ],
            )
            tick(name)

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
        q = """SELECT substr(night, 1, 7) AS month, COALESCE(filter, '(none)') AS filter, SUM(exposure_s) AS secs
               FROM frames WHERE frame_type = 'light' AND is_master = 0 AND night IS NOT NULL
                 AND location != 'missing' GROUP BY month, filter"""
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
            "SELECT COUNT(DISTINCT sha256) FROM frames WHERE location != 'missing' AND sha256 IS NOT NULL"
        ).fetchone()[0] or 0
        return {"backed_up": min(done, total), "total": total, "percent": round(100.0 * min(done, total) / total, 1) if total else 0.0}

    def _dashboard(self, sessions: list[dict[str, Any]], session_thumbs: dict[str, str | None]) -> None:
        summary = catalog.stats_summary(self.db, catalog.FrameFilter())
        last_scan = self.db.execute("SELECT MAX(scanned_at) FROM frames").fetchone()[0]
        months, series = self._month_series(last_n=24)
        chart = charts.bar_chart(months, series, title="Integration per month (last 24 months), by filter",
                                 y_label="hours", width=1160, height=320)
        latest = [{**s, "thumb": session_thumbs.get(s["id"])} for s in sessions[:LATEST_SESSIONS]]
        self.page(
            "index.html", "index.html", title="Dashboard", section="dashboard", summary=summary, latest=latest,
            chart=Markup(chart), last_scan=last_scan, backup=self._backup_coverage(),
            catalog_path=str(self.s.catalog),
            datasette=f"{self.datasette}/{quote(self.s.catalog.stem)}" if self.datasette else None,
            commands=[
                ("Read new frames into the catalog", COMMANDS["scan"]),
                ("File them into the library (preview first)", COMMANDS["organize"]),
                ("Rebuild this site and open it", COMMANDS["build"]),
                ("Explore the catalog in Datasette", COMMANDS["datasette"]),
                ("Back up the library (preview first)", COMMANDS["backup"]),
            ],
        )

    def _stats(self, targets: list[dict[str, Any]]) -> None:
        flt = catalog.FrameFilter()
        summary = catalog.stats_summary(self.db, flt)
        cumulative = []
        total = 0.0
        for r in self._query(
            "SELECT night, SUM(exposure_s) AS secs FROM frames WHERE frame_type='light' AND is_master=0 "
            "AND night IS NOT NULL AND location != 'missing' GROUP BY night ORDER BY night"
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
            "stats.html", "stats.html", title="Statistics", section="stats", summary=summary,
            charts=[(key, Markup(svg)) for key, svg in chart_list],
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
        for rel in sorted(set(self.writer.old_any) - set(self.writer.files)):
            path = self.out / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                continue
            try:
                path.unlink()
                self.result.removed.append(rel)
            except FileNotFoundError:
                pass
        if self.thumbnails:
            thumbs = self.out / "thumbs"
            if thumbs.is_dir():
                for p in thumbs.iterdir():
                    if preview._SHA.match(p.stem) and p.suffix == ".png" and p.name not in self.thumbs_used:
                        p.unlink()
                        self.result.removed.append(f"thumbs/{p.name}")

    def _write_manifest(self) -> None:
        data = {
            "format": SITE_FORMAT,
            "generator": "astrocat build",
            "fingerprint": self.fingerprint,
            "files": dict(sorted(self.writer.files.items())),
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


class ChunkWriter:
    """The explorer's index: `data/files-<month>[-n].js` chunks and `data/files-meta.js`.

    Chunks follow the month of the night, so new frames touch only their month's
    chunk. Repeated strings (folder, target, filter, camera...) are stored once per
    chunk in a dictionary and referenced by index, which keeps 100,000 rows small.
    """

    COLUMNS = ["name", "dir", "type", "target", "filter", "exposure_s", "night", "time", "camera", "telescope",
               "session", "session_page", "ccd_temp_c", "gain", "size", "object"]
    DICT_COLUMNS = {"dir", "type", "target", "filter", "camera", "telescope", "session", "session_page", "object"}

    def __init__(self, site: Site) -> None:
        self.site = site
        self.key: str | None = None
        self.part = 1
        self.rows: list[list[Any]] = []
        self.dicts: dict[str, dict[str, int]] = {}
        self.chunks: list[dict[str, Any]] = []
        self.options: dict[str, set[str]] = {k: set() for k in ("type", "target", "filter", "camera", "telescope")}
        self.nights: list[str] = []
        self.total = 0

    def add(self, f: dict[str, Any]) -> None:
        key = (f["night"] or "")[:7] or "undated"
        if key != self.key:
            self._flush()
            self.key, self.part = key, 1
        elif len(self.rows) >= CHUNK_ROWS:
            self._flush()
            self.part += 1
        path = f["path"]
        d, _, name = path.rpartition("/")
        values = {
            "name": name, "dir": d, "type": f["frame_type"] + (" (master)" if f["is_master"] else ""),
            "target": f["target"], "filter": f["filter"], "exposure_s": f["exposure_s"], "night": f["night"],
            "time": (f["date_obs"] or "")[11:19] or None, "camera": f["camera"], "telescope": f["telescope"],
            "session": f["session_id"], "session_page": session_href(f["session_id"]) if f["session_id"] else None,
            "ccd_temp_c": f["ccd_temp_c"], "gain": f["gain"], "size": f["size"],
            "object": f["object"],
        }
        row = []
        for col in self.COLUMNS:
            v = values[col]
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            if col in self.DICT_COLUMNS and v is not None:
                table = self.dicts.setdefault(col, {})
                v = table.setdefault(str(v), len(table))
            row.append(v)
        self.rows.append(row)
        for k in self.options:
            if values[k] is not None:
                self.options[k].add(str(values[k]))
        if f["night"]:
            if not self.nights:
                self.nights = [f["night"], f["night"]]
            else:
                self.nights = [min(self.nights[0], f["night"]), max(self.nights[1], f["night"])]
        self.total += 1

    def _flush(self) -> None:
        if not self.rows:
            return
        name = self.key if self.part == 1 else f"{self.key}-{self.part}"
        rel = f"data/files-{name}.js"
        dicts = [list(self.dicts.get(c, {})) if c in self.DICT_COLUMNS else None for c in self.COLUMNS]
        payload = {"name": name, "columns": self.COLUMNS, "dicts": dicts, "rows": self.rows}
        self.site.data_file(rel, f"AstrocatFiles.chunk({js_data(payload)});\n")
        self.chunks.append({"name": name, "file": rel, "rows": len(self.rows)})
        self.rows, self.dicts = [], {}

    def finish(self) -> None:
        self._flush()
        meta = {
            "total": self.total,
            "chunks": self.chunks,
            "columns": self.COLUMNS,
            "options": {k: sorted(v, key=str.lower) for k, v in self.options.items()},
            "nights": self.nights,
        }
        self.site.data_file("data/files-meta.js", f"AstrocatFiles.meta({js_data(meta)});\n")


def _check_out_dir(out: Path, default: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out}: not a folder")
    if out.is_dir() and out.resolve() != default.resolve() and not force and not (out / MANIFEST_NAME).exists():
        if any(p.name not in (".DS_Store",) for p in out.iterdir()):
            raise SiteError(f"{out}: folder is not empty and holds no astrocat site; pick an empty folder or pass --force")


def build(db: sqlite_utils.Database, settings: Settings, out: Path | None = None, *, thumbnails: bool = True,
          full: bool = False, force: bool = False, progress: Progress | None = None) -> BuildResult:
    """Render the catalog as a static site in `out` (default: settings.site)."""
    out = Path(os.path.abspath(out or settings.site))
    _check_out_dir(out, settings.site, force)
    from .lock import LockBusy, catalog_lock

    out.mkdir(parents=True, exist_ok=True)
    try:
        with catalog_lock(out / ".astrocat-build", "build"):
            return Site(db, settings, out, thumbnails, full, progress).run()
    except LockBusy as exc:
        raise SiteError(str(exc).replace("writing this catalog", "building this site")) from None


def demo_step(db: sqlite_utils.Database, settings: Settings, echo: Callable[[str], None], report: dict[str, Any]) -> None:
    """The demo's pipeline step: build the site and print where it is."""
    result = build(db, settings)
    report["site"] = result.as_dict()
    echo(f"site: {result.pages} files, {result.thumbs_rendered} thumbnails; open {result.index}")
