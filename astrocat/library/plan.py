"""What organize would do: a destination, or the reason there is none, for each frame.

Reads the catalog and lists destination folders; moves nothing. Names come from
astrocat.rules.naming; this module only finds which names are taken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from astrocat import clock
from astrocat.catalog.counts import integrates
from astrocat.config import DUPLICATES_DIR, Settings
from astrocat.library.files import device_of
from astrocat.library.hooks import force_copy
from astrocat.rules import naming
from astrocat.rules.normalize import compute_night

NO_SHA = "no sha256 in the catalog; run `astrocat scan`"


@dataclass
class PlanItem:
    frame_id: int
    src: str  # catalog path
    dst: str | None  # catalog path
    action: str  # file | duplicate | relayout | hold | skip
    sha256: str | None
    size: int
    reason: str | None = None
    method: str | None = None  # link | copy (filled for moves)
    same_as: str | None = None  # duplicates: the library frame with this content

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "source": self.src, "destination": self.dst,
            "method": self.method, "reason": self.reason, "frame_id": self.frame_id,
            "sha256": self.sha256, "size": self.size,
        }


@dataclass
class Plan:
    items: list[PlanItem] = field(default_factory=list)

    @property
    def moves(self) -> list[PlanItem]:
        return [i for i in self.items if i.action in ("file", "duplicate", "relayout")]

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)


_PLAN_COLS = [
    "id", "path", "size", "sha256", "frame_type", "is_master", "target", "filter", "exposure_s",
    "night", "session_id", "camera", "telescope", "gain", "ccd_temp_c", "set_temp_c", "binning",
    "original_name", "bad", "bad_reason",
]


def duplicates_prefix(settings: Settings) -> str:
    return settings.rel(settings.quarantine / DUPLICATES_DIR) + "/"


def current_night(settings: Settings, now: datetime | None = None) -> str | None:
    """Tonight, by the same rule as frames' nights (configured timezone)."""
    utc = (now or clock.now()).astimezone(timezone.utc).replace(tzinfo=None)
    return compute_night(utc, None, None, settings.timezone)[0]


def duplicate_rendered(src: str, quarantine_root: str) -> naming.Rendered:
    """The name a duplicate gets under quarantine/_duplicates (catalog paths). Pure."""
    inner = src[len(quarantine_root) + 1 :] if src.startswith(quarantine_root + "/") else src.rsplit("/", 1)[-1]
    dup = naming.duplicate_path(inner)
    ext = naming.extension_of(dup)
    folder, _, name = dup[: len(dup) - len(ext)].rpartition("/")
    return naming.Rendered(folder, name, ext)


class _Names:
    """Which names are taken: catalog paths, files on disk, and this run's plan."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings) -> None:
        self.settings = settings
        self.catalog: set[str] = set()
        for (p,) in db.execute("SELECT path FROM frames UNION ALL SELECT path FROM rejects"):
            self.catalog.add(naming.stem_key(p))
        self.planned: set[str] = set()
        self.listings: dict[str, set[str]] = {}
        self.next_seq: dict[tuple[str, naming.Rendered], int] = {}

    def _listing(self, folder: str) -> set[str]:
        got = self.listings.get(folder)
        if got is None:
            got = set()
            try:
                with os.scandir(self.settings.abs(folder)) as it:
                    for de in it:
                        got.add(naming.stem_key(f"{folder}/{de.name}"))
            except OSError:
                pass
            self.listings[folder] = got
        return got

    def taken(self, catalog_path_key: str, folder: str) -> bool:
        return (
            catalog_path_key in self.catalog
            or catalog_path_key in self.planned
            or catalog_path_key in self._listing(folder)
        )

    def allocate(self, rendered: naming.Rendered, root: str) -> str:
        """A free catalog path for `rendered` under catalog folder `root`; reserves it."""
        folder = f"{root}/{rendered.folder}" if rendered.folder else root
        prefix = naming.stem_key(f"{root}/")
        base = (root, rendered)
        # numbers below the last one handed out for this name are taken: start after it
        path, seq = naming.allocate(
            rendered, lambda key: self.taken(prefix + key, folder), start=self.next_seq.get(base, 1)
        )
        self.next_seq[base] = seq + 1
        full = f"{root}/{path}"
        self.planned.add(naming.stem_key(full))
        return full


def _stays_bad(f: dict[str, Any]) -> PlanItem:
    """A frame marked bad is never moved (astrocat frame mark-bad): it stays where it is."""
    return PlanItem(f["id"], f["path"], None, "skip", None, f["size"],
                    f"marked bad ({f['bad_reason'] or 'no reason given'}): stays where it is")


class _LazyNames:
    """_Names, built on the first allocation: reading every catalog path is for runs that file."""

    def __init__(self, db: sqlite_utils.Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.names: _Names | None = None

    def allocate(self, rendered: naming.Rendered, root: str) -> str:
        if self.names is None:
            self.names = _Names(self.db, self.settings)
        return self.names.allocate(rendered, root)


def _frames(db: sqlite_utils.Database, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    cols = ", ".join(f'"{c}"' for c in _PLAN_COLS)
    for row in db.execute(f"SELECT {cols} FROM frames WHERE {where} ORDER BY date_obs, path", params):
        yield dict(zip(_PLAN_COLS, row))


def plan(
    db: sqlite_utils.Database, settings: Settings, relayout: bool = False, now: datetime | None = None
) -> Plan:
    """What organize would do. Reads the catalog and lists destination folders; moves nothing."""
    naming.validate_pattern(settings.naming_pattern)
    lib_root = settings.rel(settings.library)
    dup_prefix = duplicates_prefix(settings)
    out = Plan()
    if relayout:
        todo = list(_frames(db, "location = 'library'", []))
    else:
        todo = list(_frames(db, "location = 'quarantine' AND substr(path, 1, ?) != ?", [len(dup_prefix), dup_prefix]))
    if not todo:
        return out  # the usual cron case: nothing new, nothing to look up
    names = _LazyNames(db, settings)
    # Only what the frames to file need: with nothing but held frames waiting (the usual
    # cron case in the evening) this costs a few index look-ups, not a pass over the catalog.
    lights: dict[str, dict[str, int]] = {}
    sessions_with_lights: set[str] = set()
    todo_sessions = json.dumps(sorted({f["session_id"] for f in todo if f["session_id"]}))
    for sid, target, n in db.execute(
        f"SELECT session_id, target, COUNT(*) FROM frames WHERE {integrates()} "
        "AND session_id IN (SELECT value FROM json_each(?)) GROUP BY session_id, target", [todo_sessions]
    ):
        sessions_with_lights.add(sid)
        if target:
            lights.setdefault(sid, {})[target] = n
    tonight = current_night(settings, now)

    def render(f: dict[str, Any]) -> naming.Rendered:
        cal = naming.main_target(lights.get(f["session_id"] or "", {}))
        return naming.render(settings.naming_pattern, f, f["path"], cal)

    if relayout:
        for f in todo:
            if f["bad"]:
                out.items.append(_stays_bad(f))
                continue
            r = render(f)
            current = f["path"]
            inside = current.startswith(lib_root + "/")
            if inside and r.matches(current[len(lib_root) + 1 :]):
                continue
            if not f["sha256"]:
                out.items.append(PlanItem(f["id"], current, None, "skip", None, f["size"], NO_SHA))
                continue
            dst = names.allocate(r, lib_root)
            out.items.append(PlanItem(f["id"], current, dst, "relayout", f["sha256"], f["size"]))
        _methods(settings, out)
        return out

    todo_shas = json.dumps(sorted({f["sha256"] for f in todo if f["sha256"]}))
    in_library: dict[str, str] = {
        sha: path for sha, path in db.execute(
            "SELECT sha256, MIN(path) FROM frames WHERE sha256 IN (SELECT value FROM json_each(?)) "
            "AND +location = 'library' GROUP BY sha256", [todo_shas]
        )
    }
    q_root = settings.rel(settings.quarantine)
    # Sources a finished move had to leave where they were (a card with its lock switch on):
    # the library holds them already; setting them aside would fail on that card again.
    # (read only when a waiting frame's content is in the library already: the journal is long)
    kept = {(src, sha): dst for src, sha, dst in db.execute(
        "SELECT src, sha256, dst FROM moves WHERE state = 'done' AND kind = 'file' "
        "AND src IN (SELECT value FROM json_each(?))",
        [json.dumps([f["path"] for f in todo if f["sha256"] in in_library])])} if in_library else {}
    for f in todo:
        src = f["path"]
        if f["bad"]:
            out.items.append(_stays_bad(f))
            continue
        if not f["sha256"]:
            out.items.append(PlanItem(f["id"], src, None, "skip", None, f["size"], NO_SHA))
            continue
        same = in_library.get(f["sha256"])
        if same and (src, f["sha256"]) in kept:
            out.items.append(PlanItem(f["id"], src, None, "skip", None, f["size"],
                                      f"kept where it is after an earlier run filed it as {kept[(src, f['sha256'])]} "
                                      "(it could not be removed)"))
            continue
        if same:
            dst = names.allocate(duplicate_rendered(src, q_root), dup_prefix.rstrip("/"))
            out.items.append(PlanItem(f["id"], src, dst, "duplicate", f["sha256"], f["size"],
                                      f"same content as {same}", same_as=same))
            continue
        if naming.hold_calibration(f, (f["session_id"] or "") in sessions_with_lights, tonight):
            out.items.append(PlanItem(
                f["id"], src, None, "hold", f["sha256"], f["size"],
                f"calibration frame of night {f['night']} with no lights yet: waits until the night is over",
            ))
            continue
        dst = names.allocate(render(f), lib_root)
        in_library[f["sha256"]] = dst  # a second copy in this run is a duplicate too
        out.items.append(PlanItem(f["id"], src, dst, "file", f["sha256"], f["size"]))
    _methods(settings, out)
    return out


def _methods(settings: Settings, p: Plan) -> None:
    """link within one filesystem, copy across (device of the destination's nearest folder).

    A source with more than one name is copied too: another name outside (a hard link the
    user made) would otherwise share the library file's inode, and an edit there reach it."""
    copy_always = force_copy()
    devs: dict[str, int] = {}
    for item in p.moves:
        try:
            st = os.stat(settings.abs(item.src))
            folder = os.path.dirname(item.dst or "")
            if folder not in devs:
                devs[folder] = device_of(settings.abs(folder))
            shared = st.st_nlink > 1
            item.method = "copy" if copy_always or shared or st.st_dev != devs[folder] else "link"
        except OSError:
            item.method = "link"  # the source is gone: the move will say so
