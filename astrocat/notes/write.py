"""Obsidian notes on disk: read the catalog, merge into existing notes, write only what changed.

This module owns the `notes` table: one row per note astrocat has generated
(`id` = `session:<id>` | `target:<name>` | `processing:<id>`, `path` relative to
the notes folder, `user_text` = the user's prose read back from the note). A row
whose file is gone means the user deleted the note: it is not written again
unless `recreate` is set. What a note says is in `content`, how a merge keeps the
user's text in `merge`, where a note lives in `paths`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlite_utils

from astrocat import __version__, features
from astrocat.catalog import changes
from astrocat.catalog.counts import counted
from astrocat.clock import utc_now
from astrocat.config import Settings
from astrocat.notes.content import NoteContent, json_list, processing_note, session_note, target_note
from astrocat.notes.merge import merge, user_text
from astrocat.notes.paths import assign_paths, stem_of
from astrocat.progress import ProgressFn
from astrocat.rules.equipment import binning_factor
from astrocat.rules.naming import note_stem

SESSIONS_DIR = "Imaging_Sessions"
TARGETS_DIR = "Targets"
PROCESSING_DIR = "Processing_Sessions"

# Every kind of note this writer can produce. Which are written is the registry's
# call (features.note_kinds(): the kinds of built features), so the processing
# feature's notes appear when that feature is built, not before.
NOTE_KINDS = ("session", "target", "processing")


def note_kinds(kinds: Iterable[str] | None = None) -> frozenset[str]:
    """The kinds to write: `kinds`, or the built features' note kinds by default."""
    chosen = frozenset(features.note_kinds() if kinds is None else kinds)
    unknown = chosen - set(NOTE_KINDS)
    if unknown:
        raise ValueError(f"no such note kind: {', '.join(sorted(unknown))} (known: {', '.join(NOTE_KINDS)})")
    return chosen


@dataclass
class NotesResult:
    notes_folder: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped_deleted: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    with_user_text: int = 0
    dry_run: bool = False
    elapsed_s: float = 0.0

    @property
    def written(self) -> int:
        return len(self.created) + len(self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "notes_folder": self.notes_folder,
            "dry_run": self.dry_run,
            "written": self.written,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped_deleted": self.skipped_deleted,
            "left_alone": self.left_alone,
            "orphaned": self.orphaned,
            "with_user_text": self.with_user_text,
            "warnings": self.warnings,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# --- reading the catalog ----------------------------------------------------------------


def load_sessions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM sessions ORDER BY id"))


def load_targets(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM targets ORDER BY name"))


def load_detail(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Frames per session, type, target, filter and exposure (one grouped query); frames
    marked bad one row each (`bad` = 1, with `path` and `bad_reason`), outside the totals."""
    sql = f"""
      SELECT session_id, frame_type, is_master, target, filter, exposure_s,
             COUNT(*) AS frames, SUM(COALESCE(exposure_s, 0)) AS seconds
      FROM frames
      WHERE {counted()} AND bad = 0 AND session_id IS NOT NULL
      GROUP BY session_id, frame_type, is_master, target, filter, exposure_s
    """
    bad = f"""
      SELECT session_id, frame_type, is_master, target, filter, exposure_s, 1 AS frames,
             COALESCE(exposure_s, 0) AS seconds, 1 AS bad, path, bad_reason
      FROM frames WHERE {counted()} AND bad = 1 AND session_id IS NOT NULL ORDER BY session_id, date_obs, path
    """
    return list(db.query(sql)) + list(db.query(bad))


def add_optics(db: sqlite_utils.Database, settings: Settings, sessions: list[dict[str, Any]]) -> None:
    """Each session's pixel scale and field of view from the [equipment] profiles; the
    frames' FOCALLEN stands in for a telescope without a profile (when they agree)."""
    focal = {r[0]: r[1] for r in db.execute(
        f"SELECT session_id, MIN(focal_length_mm) FROM frames WHERE {counted()} AND session_id IS NOT NULL "
        "GROUP BY session_id HAVING COUNT(DISTINCT focal_length_mm) = 1")}
    binning = {r[0]: binning_factor([r[1]]) for r in db.execute(
        f"SELECT session_id, MIN(binning) FROM frames WHERE {counted()} AND session_id IS NOT NULL "
        "AND frame_type = 'light' GROUP BY session_id HAVING COUNT(DISTINCT binning) = 1")}
    for s in sessions:
        profile_focal = settings.equipment.optics(s.get("camera"), s.get("telescope"))["focal_length_mm"]
        s["optics"] = settings.equipment.optics(s.get("camera"), s.get("telescope"),
                                                None if profile_focal else focal.get(s["id"]), binning.get(s["id"], 1))


def load_processing_sessions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Processing sessions for notes; none until the processing feature creates its table.

    Read only when the `processing` note kind is on (once that feature is built).
    Each dict has `id` and may carry name, created,
    status, targets, session_ids, filters, integration_s, path (see
    content.processing_note). Columns the table lacks are simply absent.
    """
    if not db["processing_sessions"].exists():
        return []
    cols = set(db["processing_sessions"].columns_dict)
    if "id" not in cols:
        return []
    out = []
    for row in db.query("SELECT * FROM processing_sessions ORDER BY id"):
        rec: dict[str, Any] = {"id": str(row["id"])}
        for key, names in {
            "name": ("name",), "created": ("created", "created_at"), "status": ("status",),
            "targets": ("targets", "target"), "session_ids": ("session_ids", "sessions"),
            "filters": ("filters",), "integration_s": ("integration_s",), "path": ("path",),
        }.items():
            for n in names:
                if n in cols and row[n] is not None:
                    value = row[n]
                    if key in ("targets", "session_ids", "filters") and isinstance(value, str):
                        try:
                            value = json.loads(value)
                        except ValueError:
                            value = [value]
                        if isinstance(value, str):
                            value = [value]
                    rec[key] = value
                    break
        out.append(rec)
    return out


def user_notes(db: sqlite_utils.Database) -> dict[tuple[str, str], str]:
    """(kind, key) -> the user's note text, for the site's session and target pages."""
    if not db["notes"].exists():
        return {}
    return {
        (kind, key): text
        for kind, key, text in db.execute("SELECT kind, key, user_text FROM notes WHERE user_text != ''")
    }


# --- planning --------------------------------------------------------------------------


@dataclass
class _Note:
    id: str
    kind: str
    key: str
    path: str
    existing: str | None = None  # current text, None when there is no file
    stat: tuple[int, int] | None = None  # (mtime_ns, size) when read
    unreadable: str | None = None
    stamp: str | None = None  # the file as last stat'ed (see _stamp); None: no file
    input_key: str | None = None  # digest of everything its text is made from


def _plan(db: sqlite_utils.Database, recorded: dict[str, dict[str, Any]], kinds: Iterable[str] | None = None):
    """The catalog rows the notes need, and the notes to write (of the enabled kinds only).

    Sessions and targets are loaded whatever the kinds: a target note lists its
    sessions' nights even when session notes are off.
    """
    kinds = note_kinds(kinds)
    sessions = load_sessions(db)
    targets = load_targets(db)
    procs = load_processing_sessions(db) if "processing" in kinds else []
    wanted: list[tuple[str, str, str]] = []
    keys: dict[str, tuple[str, str]] = {}
    if "session" in kinds:
        for s in sessions:
            year = (s.get("night") or "unknown")[:4]
            wanted.append((f"session:{s['id']}", f"{SESSIONS_DIR}/{note_stem(year)}", s["id"]))
            keys[f"session:{s['id']}"] = ("session", s["id"])
    for p in procs:
        wanted.append((f"processing:{p['id']}", PROCESSING_DIR, p["id"]))
        keys[f"processing:{p['id']}"] = ("processing", p["id"])
    if "target" in kinds:
        for t in targets:
            wanted.append((f"target:{t['name']}", TARGETS_DIR, t["name"]))
            keys[f"target:{t['name']}"] = ("target", t["name"])
    paths = assign_paths(wanted, {i: r["path"] for i, r in recorded.items() if r.get("path")})
    notes = [_Note(i, *keys[i], paths[i]) for i, _f, _n in wanted]
    return sessions, targets, procs, notes


def _read(root: Path, note: _Note) -> None:
    path = root / note.path
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        return
    except OSError as exc:
        note.unreadable = f"cannot read it: {exc.strerror or exc}"
        note.existing = ""
        return
    note.stat = (st.st_mtime_ns, st.st_size)
    note.stamp = _stamp(st)
    try:
        note.existing = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        note.existing = ""
        note.unreadable = f"it is not UTF-8 text (byte {exc.start})"


def _stamp(st: os.stat_result) -> str:
    """A file as stat sees it: any write (even one that keeps the mtime) changes the ctime."""
    return f"{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_size}:{st.st_ino}"


def _stat_stamp(path: Path | str) -> str | None:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


# (renderer, its arguments before `stems`, its arguments after `stems`)
Inputs = tuple[Callable[..., NoteContent], tuple[Any, ...], tuple[Any, ...]]


def _inputs(sessions, targets, procs, detail) -> dict[str, Inputs]:
    """What each note is rendered from (the note stems come last, from the caller)."""
    by_session: dict[str, list[dict[str, Any]]] = {}
    by_target: dict[str, list[dict[str, Any]]] = {}
    for d in detail:
        by_session.setdefault(d["session_id"], []).append(d)
        if d["frame_type"] == "light" and not d["is_master"] and d["target"] and not d.get("bad"):
            by_target.setdefault(d["target"], []).append(d)
    session_rows = {s["id"]: s for s in sessions}
    procs_of_session: dict[str, list[dict[str, Any]]] = {}
    procs_of_target: dict[str, list[dict[str, Any]]] = {}
    for p in procs:
        for sid in json_list(p.get("session_ids")):
            procs_of_session.setdefault(sid, []).append(p)
        for t in json_list(p.get("targets")):
            procs_of_target.setdefault(t, []).append(p)
    out: dict[str, Inputs] = {}
    for s in sessions:
        out[f"session:{s['id']}"] = (session_note, (s, by_session.get(s["id"], [])),
                                     (procs_of_session.get(s["id"], []),))
    for p in procs:
        out[f"processing:{p['id']}"] = (processing_note, (p,), ())
    for t in targets:
        rows = by_target.get(t["name"], [])
        sess = [session_rows[i] for i in sorted({d["session_id"] for d in rows}) if i in session_rows]
        out[f"target:{t['name']}"] = (target_note, (t, rows, sess), (procs_of_target.get(t["name"], []),))
    return out


def _render(inputs: Inputs, stems: dict[str, str]) -> NoteContent:
    fn, before, after = inputs
    return fn(*before, stems, *after)


def _contents(sessions, targets, procs, detail, stems) -> dict[str, NoteContent]:
    return {i: _render(x, stems) for i, x in _inputs(sessions, targets, procs, detail).items()}


def _code_digest() -> str:
    """The note-writing code itself: a new astrocat that writes notes differently
    renders every note again."""
    from astrocat.notes import content, merge as merge_module, yaml

    h = hashlib.sha256()
    for module in (content, merge_module, yaml):
        try:
            h.update(Path(module.__file__ or "").read_bytes())
        except OSError:
            h.update(f"{module.__name__} {__version__}".encode())
    return h.hexdigest()


def _input_key(base: str, note: _Note, inputs: Inputs) -> str:
    """Digest of a note's inputs: its rows (plain values, so repr is stable), its path,
    and `base` (the code and every note's stem, which links may name)."""
    fn, before, after = inputs
    return hashlib.sha256(repr((base, note.id, note.path, fn.__name__, before, after)).encode()).hexdigest()


# --- writing ---------------------------------------------------------------------------


class _Changed(Exception):
    """The note changed on disk while astrocat was preparing its update."""


def _write(path: Path, text: str, expected: tuple[int, int] | None) -> None:
    """Write through a temporary file and a rename, so a crash never leaves half a note.

    An existing note is fsynced before the rename (it holds the user's words) and
    is only replaced if it is still the file that was read.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # update the linked file, keep the user's link
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.astrocat-tmp")
    data = text.encode("utf-8")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if expected is not None:
            fh.flush()
            os.fsync(fh.fileno())
    try:
        if expected is not None:
            st = os.stat(path)
            if (st.st_mtime_ns, st.st_size) != expected:
                raise _Changed()
            os.chmod(tmp, st.st_mode & 0o7777)
        elif path.exists():
            raise _Changed()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _save_rows(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> None:
    # ON CONFLICT DO UPDATE (not INSERT OR REPLACE) so the FTS triggers see updates
    if not rows:
        return
    cols = ["id", "kind", "key", "path", "user_text", "updated_at", "input_key", "file_stat"]
    sql = (
        f"INSERT INTO notes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        "ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, key=excluded.key, path=excluded.path, "
        "user_text=excluded.user_text, updated_at=excluded.updated_at, "
        "input_key=excluded.input_key, file_stat=excluded.file_stat"
    )
    with db.conn:
        db.conn.executemany(sql, [[r.get(c) for c in cols] for r in rows])


def follow_renamed_sessions(db: sqlite_utils.Database, root: Path, result: NotesResult) -> list[str]:
    """Move the note of each renamed session (catalog `session_aliases`) to its new id:
    the row is re-keyed and the file renamed after the new id when that name is free, so
    the user's text (byte for byte) stays with its session. Returns the new paths."""
    if not db["session_aliases"].exists():
        return []
    recorded = {r["id"]: r for r in db.query("SELECT id, path FROM notes WHERE kind = 'session'")}
    taken = {stem_of(r["path"]).casefold() for r in db.query("SELECT path FROM notes WHERE path IS NOT NULL")}
    moved = []
    for old, new in db.execute("SELECT old_id, new_id FROM session_aliases ORDER BY old_id").fetchall():
        row = recorded.get(f"session:{old}")
        if row is None or f"session:{new}" in recorded:
            continue
        path = row["path"]
        if path:
            folder = path.rsplit("/", 1)[0] if "/" in path else ""
            candidate = f"{folder}/{note_stem(new)}.md" if folder else f"{note_stem(new)}.md"
            src, dst = root / path, root / candidate
            if stem_of(candidate).casefold() not in taken and src.is_file() and not dst.exists():
                try:
                    os.rename(src, dst)
                    taken.add(stem_of(candidate).casefold())
                    path = candidate
                except OSError as exc:
                    result.warnings.append(f"{src}: cannot rename it for session {new}: {exc.strerror or exc}")
        with db.conn:
            db.execute("UPDATE notes SET id = ?, key = ?, path = ? WHERE id = ?",
                       [f"session:{new}", new, path, f"session:{old}"])
        recorded[f"session:{new}"] = {"id": f"session:{new}", "path": path}
        moved.append(path)
    return moved


def write_notes(
    db: sqlite_utils.Database,
    settings: Settings,
    recreate: bool = False,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    *,
    kinds: Iterable[str] | None = None,
) -> NotesResult:
    """Write or update every note under `settings.notes`; read the user's text back.

    Unchanged notes are not written (their mtime stays). Notes the user deleted are
    skipped unless `recreate`. Notes whose markers are broken are left alone with a
    warning. `dry_run` reads everything and writes nothing (files or catalog).
    `kinds` defaults to the note kinds of the built features (see NOTE_KINDS).
    """
    started = time.perf_counter()
    now = utc_now()  # one timestamp for every row of this run
    root = settings.notes
    result = NotesResult(notes_folder=str(root), dry_run=dry_run)
    if not dry_run:
        follow_renamed_sessions(db, root, result)
    stamp_key = changes.settings_digest(settings, _code_digest(), sorted(note_kinds(kinds)), __version__)
    if not dry_run and not recreate and _unchanged_since_last_run(db, root, stamp_key, result):
        result.elapsed_s = time.perf_counter() - started
        return result
    recorded = {r["id"]: r for r in db.query("SELECT * FROM notes")}
    sessions, targets, procs, notes = _plan(db, recorded, kinds)
    fresh_folder = not root.exists()
    if fresh_folder and recorded:
        result.warnings.append(
            f"{root}: the notes folder is missing; writing every note again "
            f"(astrocat remembered {len(recorded)} notes)"
        )
    for note in notes:
        note.stamp = _stat_stamp(root / note.path)

    # A deleted note is neither written nor linked to, so the vault has no dangling links.
    deleted = {
        n.id for n in notes
        if n.stamp is None and n.id in recorded and not recreate and not fresh_folder
    }
    stems = {n.id: stem_of(n.path) for n in notes if n.id not in deleted}
    add_optics(db, settings, sessions)
    inputs = _inputs(sessions, targets, procs, load_detail(db))
    base = hashlib.sha256(repr((_code_digest(), sorted(stems.items()))).encode()).hexdigest()

    rows: list[dict[str, Any]] = []
    total = len(notes)
    for done, note in enumerate(notes, 1):
        if progress:
            progress(done, total, note.path)
        row = recorded.get(note.id)
        if note.id in deleted:
            result.skipped_deleted.append(note.path)
            if row and row.get("user_text"):
                rows.append({**row, "user_text": None, "updated_at": now})
            continue
        note.input_key = _input_key(base, note, inputs[note.id])
        if (row is not None and note.stamp is not None and row.get("input_key") == note.input_key
                and row.get("file_stat") == note.stamp and row["path"] == note.path):
            # made from the same inputs, and the file is as astrocat left it: the same note
            result.unchanged += 1
            result.with_user_text += bool(row["user_text"])
            continue
        _read(root, note)
        if note.existing is None and note.id in recorded and not recreate and not fresh_folder:
            result.skipped_deleted.append(note.path)  # deleted since the stat above
            continue
        if note.unreadable:
            result.left_alone.append(note.path)
            result.warnings.append(f"{root / note.path}: left alone: {note.unreadable}")
            continue
        content = _render(inputs[note.id], stems)
        merged = merge(note.existing, content.frontmatter, content.owned_keys, content.block)
        for w in merged.warnings:
            result.warnings.append(f"{root / note.path}: {w}")
        if merged.text is None:
            result.left_alone.append(note.path)
            continue
        final = merged.text
        if final != note.existing:
            if not dry_run:
                try:
                    _write(root / note.path, final, note.stat)
                except _Changed:
                    result.warnings.append(
                        f"{root / note.path}: changed while astrocat was updating it; left as it is, run again"
                    )
                    continue
                except OSError as exc:
                    result.warnings.append(f"{root / note.path}: cannot write: {exc.strerror or exc}")
                    continue
                note.stamp = _stat_stamp(root / note.path)
            (result.created if note.existing is None else result.updated).append(note.path)
        else:
            result.unchanged += 1
        text = user_text(final) or ""
        if text:
            result.with_user_text += 1
        key = note.input_key
        if row is None or (row["kind"], row["key"], row["path"], row["user_text"] or "",
                           row.get("input_key"), row.get("file_stat")) != (
            note.kind, note.key, note.path, text, key, note.stamp
        ):
            rows.append({"id": note.id, "kind": note.kind, "key": note.key, "path": note.path,
                         "user_text": text, "updated_at": now, "input_key": key, "file_stat": note.stamp})
    wanted = {n.id for n in notes}
    result.orphaned = sorted(r["path"] for i, r in recorded.items() if i not in wanted and r.get("path"))
    if not dry_run:
        _save_rows(db, rows)
        _save_stamp(db, stamp_key, result, notes, deleted)
    result.elapsed_s = time.perf_counter() - started
    return result


def _save_stamp(db: sqlite_utils.Database, key: str, result: NotesResult, notes: list[_Note],
                deleted: set[str]) -> None:
    """After a clean run: the catalog's token (read after this run's own writes) and every
    note file as astrocat left it, so that the next run with the same catalog and settings
    only has to stat the notes. A run with warnings or notes left alone saves nothing."""
    if result.warnings or result.left_alone:
        changes.save_stamp(db, "notes", None, None)
        return
    skipped = set(result.skipped_deleted)
    files = {n.path: n.stamp for n in notes if n.id not in deleted and n.path not in skipped}
    if any(v is None for v in files.values()):
        changes.save_stamp(db, "notes", None, None)
        return
    changes.save_stamp(db, "notes", changes.token(db), key, {
        "files": files, "deleted": result.skipped_deleted, "orphaned": result.orphaned,
        "with_user_text": result.with_user_text,
    })


def _unchanged_since_last_run(db: sqlite_utils.Database, root: Path, key: str, result: NotesResult) -> bool:
    """True (and `result` filled in) when nothing in the catalog changed since the last clean
    run with the same settings and code, and every note is still the file astrocat left
    (mtime, ctime, size, inode: any write changes the ctime) and every deleted one is still
    gone: then no note would be rendered, read or written."""
    current = changes.token(db)
    token, saved_key, detail = changes.read_stamp(db, "notes")
    if current is None or token != current or saved_key != key:
        return False
    files, deleted = detail.get("files"), detail.get("deleted", [])
    if not isinstance(files, dict) or not root.is_dir():
        return False
    base = os.path.join(root, "")  # str joins: this runs for every note on every sync
    for path, stamp in files.items():
        if _stat_stamp(base + path) != stamp:
            return False
    if any(os.path.lexists(root / p) for p in deleted):
        return False
    result.unchanged = len(files)
    result.skipped_deleted = list(deleted)
    result.orphaned = list(detail.get("orphaned", []))
    result.with_user_text = int(detail.get("with_user_text", 0))
    return True
