"""Processing sessions: create (plan, link, record), list, show, add files, status,
archive, delete, pins, and link repair after organize re-files frames.

Every function takes the open catalog and the settings; the CLI holds the lock."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from astrocat.clock import utc_now
from astrocat.config import Settings
from astrocat.catalog import matching as load
from astrocat.processing import links
from astrocat.processing.schema import STATUSES
from astrocat.rules.matching import KIND_LABELS, KINDS, Frame, GroupMatch, match_all
from astrocat.rules.naming import safe_component

if TYPE_CHECKING:
    import sqlite_utils

# the session folder's layout (WBPP and Siril read it as it is: see docs/processing.md)
LIGHTS_DIR = "lights"
CALIBRATION_DIRS = {"dark": "calibration/darks", "flat": "calibration/flats", "bias": "calibration/bias",
                    "darkflat": "calibration/darkflats"}
WORK_DIRS = ("intermediate", "final")
NO_FILTER_DIR = "no_filter"
# siril/<filter>/ holds what Siril's standard scripts look for in their working folder,
# as links to the folders above (flats are kept per filter for this)
SIRIL_DIR = "siril"
SIRIL_VIEW = {"lights": "lights/{f}", "darks": "calibration/darks", "flats": "calibration/flats/{f}",
              "biases": "calibration/bias"}


def filter_dir(name: str | None) -> str:
    return safe_component(name) or NO_FILTER_DIR


class ProcessingError(Exception):
    """A processing request that cannot be done; `usage` when the user asked for something
    that does not exist or cannot be (exit 2), else a problem met while doing it (exit 1)."""

    def __init__(self, message: str, usage: bool = True):
        super().__init__(message)
        self.usage = usage


def slug(name: str) -> str:
    """The session's id and folder name: lower case, safe, words joined by '-'."""
    text = re.sub(r"\s+", "-", name.strip().lower())
    s = safe_component(text, 80)
    if not s:
        raise ProcessingError(f"{name!r}: not usable as a processing session name")
    return s


@dataclass
class LinkPlan:
    role: str  # light | dark | flat | bias | darkflat
    frame: Frame
    link_path: str  # relative to the session folder


@dataclass
class CreateResult:
    id: str
    folder: str
    dry_run: bool
    groups: list[GroupMatch]
    links: list[LinkPlan]
    modes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    replaced: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        by_role = Counter(p.role for p in self.links)
        return {
            "id": self.id, "folder": self.folder, "dry_run": self.dry_run, "replaced": self.replaced,
            "lights": by_role.get("light", 0), "calibration": {k: by_role.get(k, 0) for k in KINDS},
            "link_modes": dict(self.modes), "problems": self.problems,
            "groups": [g.as_dict() for g in self.groups],
        }


def exists(db: sqlite_utils.Database, pid: str) -> bool:
    return db.execute("SELECT 1 FROM processing_sessions WHERE id = ?", [pid]).fetchone() is not None


def folder_of(s: Settings, pid: str) -> Path:
    return s.processing / pid


def pins_of(db: sqlite_utils.Database, pid: str) -> dict[str, Sequence[Frame] | None]:
    """kind -> the pinned frames (by content, whatever their path now), or None for `none`."""
    out: dict[str, Sequence[Frame] | None] = {}
    for kind, shas in db.execute("SELECT kind, sha256s FROM processing_pins WHERE processing_id = ?", [pid]):
        if shas is None:
            out[kind] = None
            continue
        wanted = json.loads(shas)
        found: dict[str, Frame] = {}
        for f in load.by_sha256(db, wanted):
            found.setdefault(f.sha256 or "", f)
        out[kind] = [found[h] for h in wanted if h in found]
    return out


def plan(db: sqlite_utils.Database, s: Settings, *, target: str | None, session_ids: Sequence[str] = (),
         filters: Sequence[str] = (), date_from: str | None = None, date_to: str | None = None,
         frame_ids: Sequence[int] = (), pid: str | None = None) -> tuple[list[GroupMatch], list[LinkPlan]]:
    """The light groups, their matches and the links a session would have."""
    lights = load.lights(db, target, session_ids, filters, date_from, date_to, frame_ids)
    if not lights:
        raise ProcessingError("no light frames match" + (f" target {target!r}" if target else "")
                              + (f", sessions {', '.join(session_ids)}" if session_ids else "")
                              + (f", filters {', '.join(filters)}" if filters else "")
                              + (f", nights {date_from or '...'} to {date_to or '...'}" if date_from or date_to else ""))
    cal = load.calibration(db, {f.camera for f in lights})
    pins = pins_of(db, pid) if pid else {}
    groups = match_all(lights, cal, s.calibration, pins)
    return groups, layout(groups)


def layout(groups: Sequence[GroupMatch]) -> list[LinkPlan]:
    """lights/<filter>/<file>, calibration/<kind>/<file>: each frame once per folder,
    a taken name gets the frame id before its extension."""
    out: list[LinkPlan] = []
    taken: set[str] = set()
    seen: set[tuple[str, int]] = set()

    def add(role: str, folder: str, f: Frame) -> None:
        if (folder, f.id) in seen:
            return
        seen.add((folder, f.id))
        name = os.path.basename(f.path) or f"frame_{f.id}.fits"
        rel = f"{folder}/{name}"
        if rel in taken:
            stem, dot, ext = name.partition(".")
            rel = f"{folder}/{stem}_{f.id}{dot}{ext}"
        taken.add(rel)
        out.append(LinkPlan(role, f, rel))

    for g in groups:
        for f in g.group.frames:
            add("light", f"{LIGHTS_DIR}/{filter_dir(g.group.filter)}", f)
    for g in groups:
        for kind in KINDS:
            folder = CALIBRATION_DIRS[kind] + (f"/{filter_dir(g.group.filter)}" if kind == "flat" else "")
            for f in g.kinds[kind].chosen:
                add(kind, folder, f)
    return out


def make_siril_views(folder: Path, filters: Sequence[str]) -> None:
    """siril/<filter>/{lights,darks,flats,biases}: relative links to the session's folders,
    so Siril's standard scripts run in siril/<filter>/ as they are. Skipped where the
    filesystem has no symbolic links (WBPP needs none of this)."""
    for filt in sorted(set(filters)):
        view = folder / SIRIL_DIR / filt
        view.mkdir(parents=True, exist_ok=True)
        for name, target in SIRIL_VIEW.items():
            link = view / name
            dest = target.format(f=filt)
            (folder / dest).mkdir(parents=True, exist_ok=True)
            if os.path.lexists(link):
                continue
            try:
                os.symlink(os.path.join("..", "..", dest), link, target_is_directory=True)
            except OSError:
                return


def remove_siril_views(folder: Path) -> None:
    root = folder / SIRIL_DIR
    if not root.is_dir():
        return
    for view in root.iterdir():
        if view.is_symlink() or not view.is_dir():
            continue
        for link in view.iterdir():
            if link.is_symlink() and link.name in SIRIL_VIEW:
                os.unlink(link)  # the link, never the folder it points to
        try:
            view.rmdir()
        except OSError:
            pass  # Siril's own process/ folder, or your files: left alone
    try:
        root.rmdir()
    except OSError:
        pass


def create(db: sqlite_utils.Database, s: Settings, name: str, *, target: str | None,
           session_ids: Sequence[str] = (), filters: Sequence[str] = (), date_from: str | None = None,
           date_to: str | None = None, link_mode: str = "symlink", dry_run: bool = False,
           replace: bool = False) -> CreateResult:
    """Make processing/<slug>/ with the chosen lights and their matched calibration linked,
    and record it. `replace` re-creates an existing session (its pins and status kept)."""
    if link_mode not in links.LINK_MODES:
        raise ProcessingError(f"--link {link_mode!r}: expected {', '.join(links.LINK_MODES)}")
    pid = slug(name)
    old = _row(db, pid)
    if old and not replace:
        raise ProcessingError(f"processing session {pid!r} already exists; add --replace to re-create it "
                              "(your pins are kept)")
    groups, plans = plan(db, s, target=target, session_ids=session_ids, filters=filters, date_from=date_from,
                         date_to=date_to, pid=pid)
    folder = folder_of(s, pid)
    result = CreateResult(pid, s.rel(folder), dry_run, groups, plans, replaced=bool(old))
    if dry_run:
        return result
    if old:
        result.problems += _remove_links(db, s, pid)
        with db.conn:
            for table in ("processing_frames", "processing_groups"):
                db.execute(f"DELETE FROM {table} WHERE processing_id = ?", [pid])
    for sub in (LIGHTS_DIR, *CALIBRATION_DIRS.values(), *WORK_DIRS):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for p in plans:
        try:
            used = links.make_link(s.abs(p.frame.path), folder / p.link_path, link_mode)
        except links.LinkError as exc:
            result.problems.append(str(exc))
            continue
        result.modes[used] += 1
        rows.append({"processing_id": pid, "link_path": p.link_path, "frame_id": p.frame.id,
                     "sha256": p.frame.sha256, "role": p.role, "link_mode": used})
    lights = [p.frame for p in plans if p.role == "light"]
    make_siril_views(folder, [filter_dir(g.group.filter) for g in groups])
    now = utc_now()
    record = {
        "id": pid, "name": name, "target": target,
        "targets": json.dumps(sorted({f.target for f in lights if f.target})),
        "session_ids": json.dumps(sorted({f.session_id for f in lights if f.session_id})),
        "filters": json.dumps(sorted({f.filter for f in lights if f.filter})),
        "status": old["status"] if old else "planned", "created": old["created"] if old else now, "updated": now,
        "path": s.rel(folder), "link_mode": link_mode, "date_from": date_from, "date_to": date_to,
        "filter_choice": json.dumps(list(filters)) if filters else None,
        "integration_s": sum(f.exposure_s or 0.0 for f in lights), "lights": len(lights), "groups": len(groups),
        "calibrated_groups": sum(1 for g in groups if g.calibrated),
    }
    with db.conn:
        db["processing_sessions"].upsert(record, pk="id")
        db["processing_frames"].insert_all(rows)
        db["processing_groups"].insert_all(group_rows(pid, groups))
    return result


def group_rows(pid: str, groups: Sequence[GroupMatch]) -> list[dict[str, Any]]:
    out = []
    for g in groups:
        for kind, m in g.kinds.items():
            out.append({
                "processing_id": pid, "group_id": g.group.id, "kind": kind, "filter": g.group.filter,
                "night": g.group.night, "exposure_s": g.group.exposure_s, "gain": g.group.gain,
                "lights": len(g.group.frames),
                "status": m.status, "gap": m.gap, "note": m.note, "shoot": m.shoot,
                "chosen": json.dumps([f.id for f in m.chosen]),
                "verdicts": json.dumps([v.as_dict() for v in m.verdicts]),
            })
    return out


def _row(db: sqlite_utils.Database, pid: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM processing_sessions WHERE id = ?", [pid]))
    return rows[0] if rows else None


def get(db: sqlite_utils.Database, pid: str) -> dict[str, Any]:
    row = _row(db, pid)
    if row is None:
        known = [r[0] for r in db.execute("SELECT id FROM processing_sessions ORDER BY id")]
        raise ProcessingError(f"no processing session {pid!r}"
                              + (f" (known: {', '.join(known[:10])})" if known else " (none yet)"))
    return row


def list_sessions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query(
        "SELECT id, name, target, status, created, lights, integration_s, groups, calibrated_groups, path "
        "FROM processing_sessions ORDER BY created, id"))


def show(db: sqlite_utils.Database, s: Settings, pid: str) -> dict[str, Any]:
    """The session, its frames per role and filter, its groups' verdicts, its pins and the
    state of its links."""
    row = get(db, pid)
    frames = list(db.query(
        "SELECT pf.role, pf.link_path, pf.link_mode, pf.frame_id, f.filter, f.exposure_s, f.path AS frame_path "
        "FROM processing_frames pf LEFT JOIN frames f ON f.id = pf.frame_id WHERE pf.processing_id = ? "
        "ORDER BY pf.role, pf.link_path", [pid]))
    groups = list(db.query("SELECT * FROM processing_groups WHERE processing_id = ? ORDER BY group_id, kind", [pid]))
    for g in groups:
        g["chosen"] = json.loads(g["chosen"] or "[]")
        g["verdicts"] = json.loads(g["verdicts"] or "[]")
    pins = [{"kind": k, "frames": None if v is None else len(json.loads(v)), "source": src}
            for k, v, src in db.execute("SELECT kind, sha256s, source FROM processing_pins WHERE processing_id = ?",
                                        [pid])]
    by_role = Counter(f["role"] for f in frames)
    return {**row, "frames": frames, "by_role": dict(by_role), "groups": groups, "pins": pins,
            "broken_links": check_links(db, s, pid)}


def check_links(db: sqlite_utils.Database, s: Settings, pid: str) -> list[str]:
    """Links of the session that do not reach their frame's file."""
    folder = folder_of(s, pid)
    bad = []
    for link_path, mode in db.execute(
            "SELECT link_path, link_mode FROM processing_frames WHERE processing_id = ?", [pid]):
        p = folder / link_path
        if not (p.is_file() if mode == "symlink" else os.path.lexists(p)):
            bad.append(link_path)
    return bad


def set_status(db: sqlite_utils.Database, pid: str, status: str) -> None:
    if status not in STATUSES:
        raise ProcessingError(f"status {status!r}: expected {', '.join(STATUSES)}")
    get(db, pid)
    with db.conn:
        db.execute("UPDATE processing_sessions SET status = ?, updated = ? WHERE id = ?", [status, utc_now(), pid])


def _remove_links(db: sqlite_utils.Database, s: Settings, pid: str) -> list[str]:
    folder = folder_of(s, pid)
    remove_siril_views(folder)
    problems = []
    for (link_path,) in db.execute("SELECT link_path FROM processing_frames WHERE processing_id = ?", [pid]):
        try:
            links.remove_link(folder / link_path, folder, s.library)
        except (links.LinkError, OSError) as exc:
            problems.append(str(exc))
    return problems


def delete(db: sqlite_utils.Database, s: Settings, pid: str, dry_run: bool = False) -> dict[str, Any]:
    """Remove the session's links and its catalog rows. Library frames and their rows,
    the files you saved in intermediate/ and final/, and your pins are left alone.
    `dry_run`: say how many links would go, change nothing."""
    get(db, pid)
    folder = folder_of(s, pid)
    n = db.execute("SELECT COUNT(*) FROM processing_frames WHERE processing_id = ?", [pid]).fetchone()[0]
    if dry_run:
        return {"id": pid, "links_removed": n, "problems": [], "folder": s.rel(folder), "dry_run": True}
    problems = _remove_links(db, s, pid)
    flats = CALIBRATION_DIRS["flat"]
    for sub in (*(f"{flats}/{d.name}" for d in (folder / flats).glob("*")), *CALIBRATION_DIRS.values(),
                *(f"{LIGHTS_DIR}/{d.name}" for d in (folder / LIGHTS_DIR).glob("*")), LIGHTS_DIR, "calibration"):
        try:
            (folder / sub).rmdir()  # only when empty
        except OSError:
            pass
    with db.conn:
        for table in ("processing_frames", "processing_groups", "processing_outputs"):
            db.execute(f"DELETE FROM {table} WHERE processing_id = ?", [pid])
        db.execute("DELETE FROM processing_sessions WHERE id = ?", [pid])
    return {"id": pid, "links_removed": n - len(problems), "problems": problems, "folder": s.rel(folder)}


def archive(db: sqlite_utils.Database, s: Settings, pid: str, dry_run: bool = False) -> dict[str, Any]:
    """Mark it archived and remove its links (the catalog keeps what it used).
    `dry_run`: say how many links would go, change nothing."""
    get(db, pid)
    if dry_run:
        n = db.execute("SELECT COUNT(*) FROM processing_frames WHERE processing_id = ?", [pid]).fetchone()[0]
        return {"id": pid, "problems": [], "links_removed": n, "dry_run": True}
    problems = _remove_links(db, s, pid)
    set_status(db, pid, "archived")
    return {"id": pid, "problems": problems}


def add_files(db: sqlite_utils.Database, s: Settings, pid: str, frame_ids: Sequence[int] = (),
              session_ids: Sequence[str] = ()) -> dict[str, Any]:
    """Link more frames into the session: lights go under lights/<filter>/, calibration
    frames under their kind's folder. Frames already in the session are skipped."""
    row = get(db, pid)
    frames = load.by_ids(db, list(frame_ids)) if frame_ids else []
    if session_ids:
        frames += load.lights(db, None, session_ids)
    missing = sorted(set(frame_ids) - {f.id for f in frames})
    if missing:
        raise ProcessingError(f"no counted frame with id {', '.join(map(str, missing))}")
    if not frames:
        raise ProcessingError("nothing to add: give --frame-id or --session")
    have = {r[0] for r in db.execute("SELECT frame_id FROM processing_frames WHERE processing_id = ?", [pid])}
    taken = {r[0] for r in db.execute("SELECT link_path FROM processing_frames WHERE processing_id = ?", [pid])}
    folder = folder_of(s, pid)
    added, problems, rows = 0, [], []
    for f in frames:
        if f.id in have or f.bad:
            continue
        have.add(f.id)
        role = f.frame_type if f.frame_type in CALIBRATION_DIRS else "light"
        sub = (f"{LIGHTS_DIR}/{filter_dir(f.filter)}" if role == "light"
               else CALIBRATION_DIRS[role] + (f"/{filter_dir(f.filter)}" if role == "flat" else ""))
        rel = f"{sub}/{os.path.basename(f.path)}"
        if rel in taken:
            stem, dot, ext = os.path.basename(f.path).partition(".")
            rel = f"{sub}/{stem}_{f.id}{dot}{ext}"
        try:
            used = links.make_link(s.abs(f.path), folder / rel, row["link_mode"])
        except links.LinkError as exc:
            problems.append(str(exc))
            continue
        taken.add(rel)
        rows.append({"processing_id": pid, "link_path": rel, "frame_id": f.id, "sha256": f.sha256, "role": role,
                     "link_mode": used})
        added += 1
    with db.conn:
        db["processing_frames"].insert_all(rows)
        db.execute("UPDATE processing_sessions SET updated = ? WHERE id = ?", [utc_now(), pid])
    return {"id": pid, "added": added, "problems": problems}


def pin(db: sqlite_utils.Database, pid: str, kind: str, spec: str | None) -> dict[str, Any]:
    """Pin a kind of calibration for the session: an imaging session id (its frames of
    that kind) or comma-separated frame ids; None pins "none". Takes effect at the next
    `processing create --replace`; kept by content, so rescans and re-filing keep it."""
    if kind not in KINDS:
        raise ProcessingError(f"{kind!r}: expected one of {', '.join(KINDS)}")
    if spec is None:
        shas, source, count = None, "none", 0
    else:
        ids = [x.strip() for x in spec.split(",") if x.strip()]
        if ids and all(x.isdigit() for x in ids):
            frames = load.by_ids(db, [int(x) for x in ids])
            missing = sorted(set(map(int, ids)) - {f.id for f in frames})
            if missing:
                raise ProcessingError(f"no counted frame with id {', '.join(map(str, missing))}")
        else:
            frames = load.of_session(db, spec, kind)
            if not frames:
                raise ProcessingError(f"session {spec!r} has no {KIND_LABELS[kind]} (or no such session)")
        wrong = [f.id for f in frames if f.frame_type != kind]
        if wrong:
            raise ProcessingError(f"frame(s) {', '.join(map(str, wrong))} are not {KIND_LABELS[kind]}")
        shas = json.dumps([f.sha256 for f in frames if f.sha256])
        source, count = spec, len(frames)
    with db.conn:
        db["processing_pins"].upsert({"processing_id": pid, "kind": kind, "sha256s": shas, "source": source,
                                      "pinned_at": utc_now()}, pk=("processing_id", "kind"))
    return {"id": pid, "kind": kind, "frames": count, "source": source}


def unpin(db: sqlite_utils.Database, pid: str, kind: str) -> bool:
    with db.conn:
        cur = db.execute("DELETE FROM processing_pins WHERE processing_id = ? AND kind = ?", [pid, kind])
    return cur.rowcount > 0


def repair_links(db: sqlite_utils.Database, s: Settings) -> dict[str, Any]:
    """Point every processing session's symlinks at their frame's current file (organize
    re-files frames; a hard link or a copy needs nothing). Returns what was repaired and
    what cannot be (the frame's file is gone)."""
    if not db["processing_frames"].exists():
        return {"repaired": [], "broken": []}
    repaired, broken = [], []
    rows = db.execute(
        "SELECT pf.processing_id, pf.link_path, f.path, f.location FROM processing_frames pf "
        "LEFT JOIN frames f ON f.id = pf.frame_id WHERE pf.link_mode = 'symlink'").fetchall()
    for pid, link_path, frame_path, location in rows:
        link = folder_of(s, pid) / link_path
        if frame_path is None or location == "missing":
            broken.append(f"{pid}/{link_path}")
            continue
        target = s.abs(frame_path)
        if not os.path.lexists(link) or links.points_to(link, target):
            continue
        try:
            links.repoint(link, target)
            repaired.append(f"{pid}/{link_path}")
        except OSError as exc:
            broken.append(f"{pid}/{link_path}: {exc.strerror or exc}")
    return {"repaired": repaired, "broken": broken}


def verify_links(db: sqlite_utils.Database, s: Settings, add: Any) -> None:
    """processing_links (`verify database`): every link of a processing session that is not
    archived reaches its frame's file."""
    if not db["processing_sessions"].exists():
        return
    for (pid,) in db.execute("SELECT id FROM processing_sessions WHERE status != 'archived' ORDER BY id").fetchall():
        for link_path in check_links(db, s, pid):
            add("processing_links", f"{s.rel(folder_of(s, pid) / link_path)}: link does not reach its frame "
                                    "(`astrocat organize` repoints links; else re-create the session)")
