"""What counts: the one definition of which frames make up totals.

A frame counts when it is present (not `missing`), not a set-aside duplicate, and the
primary copy of its content: of several present frames with the same sha256 (a filed
frame and its copy on an external drive, or a copy waiting in quarantine) only one
counts, the first by location (library, quarantine, processing, elsewhere), then by id.
Integration also leaves out masters and stacks and frames marked bad (`frames.bad`, a
correction: clouds, a test frame): it is the sum of the good light subs. A bad frame
still counts as a file (frame, session and storage totals); it is never moved or deleted.

`frames.counted` holds the verdict as a column (indexed, so Datasette's canned queries
and facets use it too); `refresh_counted` keeps it true after every change of paths,
locations or contents. Every query reads the SQL fragments below and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

# Locations whose frames never count.
NOT_PRESENT = ("missing", "duplicate")
# Which copy of the same content counts: lower first, then the lower id.
LOCATION_RANK = {"library": 0, "quarantine": 1, "processing": 2}
_RANK_SQL = ("CASE location " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in LOCATION_RANK.items())
             + f" ELSE {len(LOCATION_RANK)} END")
_ABSENT_SQL = "location IN (" + ", ".join(f"'{x}'" for x in NOT_PRESENT) + ")"


def counted(alias: str = "") -> str:
    """SQL: the frame counts toward frame, night, session and storage totals."""
    a = f"{alias}." if alias else ""
    return f"{a}counted = 1"


def integrates(alias: str = "") -> str:
    """SQL: the frame adds its exposure to integration totals (a counted light sub not marked bad)."""
    a = f"{alias}." if alias else ""
    return f"{a}counted = 1 AND {a}bad = 0 AND {a}frame_type = 'light' AND {a}is_master = 0"


def _verdicts_sql() -> str:
    return f"""
        SELECT id, session_id, counted,
               CASE WHEN {_ABSENT_SQL} THEN 0
                    WHEN sha256 IS NULL THEN 1
                    WHEN ROW_NUMBER() OVER (PARTITION BY sha256, ({_ABSENT_SQL})
                                            ORDER BY {_RANK_SQL}, id) = 1 THEN 1
                    ELSE 0 END AS want
        FROM frames"""


def counted_out_of_step(db: sqlite_utils.Database) -> int:
    """How many frames' `counted` disagrees with the rule (0 in a healthy catalog)."""
    return db.execute(f"SELECT COUNT(*) FROM ({_verdicts_sql()}) WHERE counted != want").fetchone()[0]


def refresh_counted(db: sqlite_utils.Database, sha256s: Iterable[str] | None = None) -> set[str]:
    """Recompute `frames.counted` for these contents (all frames when None).

    Frames that left the present locations are always swept. Returns the session ids
    of frames whose verdict changed, so their session rows can be recomputed."""
    want_sql = _verdicts_sql()
    changed: list[tuple[int, str | None, int]] = []
    if sha256s is None:
        rows = db.execute(want_sql).fetchall()
    else:
        shas = sorted({s for s in sha256s if s})
        rows = []
        for i in range(0, len(shas), 500):
            chunk = shas[i : i + 500]
            rows += db.execute(f"{want_sql} WHERE sha256 IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        # `+counted`: look the few absent frames up by location, not every counted one
        rows += db.execute(f"{want_sql} WHERE +counted = 1 AND {_ABSENT_SQL}").fetchall()
    for fid, sid, has, want in rows:
        if has != want:
            changed.append((fid, sid, want))
    if changed:
        db.conn.executemany("UPDATE frames SET counted = ? WHERE id = ?", [(w, f) for f, _, w in changed])
    return {sid for _, sid, _ in changed if sid}



def out_of_step_contents(db: sqlite_utils.Database) -> set[str]:
    """Contents whose present copies do not have exactly one that counts.

    New rows count until judged, so a run stopped between writing frames and judging
    them (a scan killed after its batches committed) leaves two counting copies, or a
    changed file none; judging these contents again repairs it."""
    # Only a content with more than one row, or a lone present copy that does not count,
    # can be out of step: find those from two indexes (sha256; counted), then judge them
    # exactly, rather than group every frame with its row read.
    candidates = [r[0] for r in db.execute(
        "SELECT sha256 FROM frames WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1")]
    candidates += [r[0] for r in db.execute(
        f"SELECT sha256 FROM frames WHERE counted = 0 AND sha256 IS NOT NULL AND {present()}")]
    if not candidates:
        return set()
    rows = db.execute(
        f"SELECT sha256 FROM frames WHERE sha256 IN (SELECT value FROM json_each(?)) AND {present()} "
        "GROUP BY sha256 HAVING SUM(counted) != 1", [json.dumps(sorted(set(candidates)))]
    )
    return {r[0] for r in rows}


def present(alias: str = "") -> str:
    """SQL: the file is there and not set aside (every copy, counted or not)."""
    a = f"{alias}." if alias else ""
    return f"{a}location NOT IN (" + ", ".join(f"'{x}'" for x in NOT_PRESENT) + ")"
