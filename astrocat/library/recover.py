"""Finish or roll back the moves a crash interrupted, from the journal and what is on disk.

The rule: a file is only removed when another file with the same sha256 exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from astrocat import catalog
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.library.files import Collision, describe, fsync_dir, place, same_file
from astrocat.library.journal import finish, point_frame


@dataclass
class RecoveryResult:
    finished: int = 0
    rolled_back: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"finished": self.finished, "rolled_back": self.rolled_back, "problems": self.problems,
                "warnings": self.warnings}

    @property
    def total(self) -> int:
        return self.finished + self.rolled_back + len(self.problems)


def recovery_action(state: str, src: str, dst: str, tmp: str) -> str:
    """What to do with an interrupted move, from what is on disk. Pure.

    src/dst/tmp are 'absent', 'match' (sha256 as journaled) or 'other'. Returns 'forward'
    (the destination is good: point the catalog at it, drop the source),
    'place_tmp' (only the verified temporary copy is left: give it its name),
    'back' (keep the source, drop what the move made) or 'lost' (report; touch nothing).
    """
    if dst == "match":
        return "forward"
    if src == "match":
        return "back"
    if tmp == "match" and dst == "absent":
        return "place_tmp"  # the source is gone or changed: the verified copy is the frame
    if src == "other":
        return "back"  # changed by someone else since it was scanned: keep it as it is
    return "lost"


def _probe(path: str, sha: str, same_as: str | None = None) -> str:
    if not os.path.lexists(path):
        return "absent"
    if same_as and same_file(path, same_as):
        return "match"
    try:
        return "match" if sha256_file(path) == sha else "other"
    except OSError:
        return "other"


def recover(db: sqlite_utils.Database, settings: Settings) -> RecoveryResult:
    """Finish or roll back every move a crash interrupted, then bring the derived tables in
    step with the frames. Idempotent. Caller holds the lock."""
    result = RecoveryResult()
    changed: set[str] = set()
    if not db["moves"].exists():
        return result
    rows = list(db.query(
        "SELECT id, frame_id, kind, method, src, dst, tmp, sha256, size, state FROM moves "
        "WHERE state IN ('planned', 'filed') ORDER BY id"
    ))
    for m in rows:
        src = str(settings.abs(m["src"]))
        dst = str(settings.abs(m["dst"]))
        tmp = str(settings.abs(m["tmp"])) if m["tmp"] else None
        s_src = _probe(src, m["sha256"])
        s_dst = _probe(dst, m["sha256"], same_as=src if s_src == "match" else None)
        s_tmp = _probe(tmp, m["sha256"]) if tmp else "absent"
        action = recovery_action(m["state"], s_src, s_dst, s_tmp)
        if action == "place_tmp":
            assert tmp is not None
            try:
                if place(tmp, dst) == "link":
                    os.unlink(tmp)
                fsync_dir(os.path.dirname(dst))
                action, s_dst, s_tmp = "forward", "match", "absent"
            except (OSError, Collision) as exc:
                result.problems.append({"path": m["src"], "reason": f"cannot restore {tmp} to {dst}: {exc}"})
                continue
        if action == "forward":
            st = os.stat(dst)
            with db.conn:
                if m["frame_id"] is not None:
                    point_frame(db, settings, m["frame_id"], m["dst"], st)
                db.conn.execute("UPDATE moves SET state = 'filed' WHERE id = ?", (m["id"],))
            note = "finished by recovery"
            try:
                if s_src == "match" and os.path.lexists(src):
                    os.unlink(src)
                    fsync_dir(os.path.dirname(src))
                if tmp and os.path.lexists(tmp):
                    os.unlink(tmp)  # a complete copy that already has its name (same file or same bytes)
            except OSError as exc:
                # the frame is filed and verified; a source we may not delete (read-only card) stays
                note += f"; not removed: {describe(exc)}"
                result.warnings.append({"path": m["src"], "reason": f"filed as {m['dst']}; {note}"})
            with db.conn:
                finish(db, "done", [(m["id"], note)])
            result.finished += 1
            changed.add(m["sha256"])
        elif action == "back":
            # the source is intact: remove what the move created, if it is ours
            if tmp and os.path.lexists(tmp):
                os.unlink(tmp)
                fsync_dir(os.path.dirname(tmp))
            with db.conn:
                if m["state"] == "filed" and m["frame_id"] is not None:
                    point_frame(db, settings, m["frame_id"], m["src"], os.stat(src))
                finish(db, "rolled_back", [(m["id"], "rolled back by recovery")])
            result.rolled_back += 1
            changed.add(m["sha256"])
        else:
            reason = "neither the source nor a verified copy exists"
            result.problems.append({"path": m["src"], "reason": f"interrupted move to {m['dst']}: {reason}"})
            with db.conn:
                finish(db, "failed", [(m["id"], reason)])
    if changed:
        # the interrupted run stopped before its own refresh: which copy counts (and so
        # session and target totals) may be stale for these contents
        with db.conn:
            catalog.refresh_derived(db, sha256s=changed)
    return result
