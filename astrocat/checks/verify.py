"""`astrocat verify files` and `astrocat verify database`: report, never fix or delete.

files: every cataloged frame is re-hashed (or, with quick, compared by size and mtime),
and the quarantine and library are walked for files the catalog does not know.
database: SQLite's own integrity and foreign-key checks, then the catalog's invariants.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any

import sqlite_utils

from astrocat.catalog.counts import out_of_step_contents
from astrocat.catalog.derived import out_of_step_sessions
from astrocat.catalog.overrides import apply as apply_overrides
from astrocat import features
from astrocat.progress import ProgressFn
from astrocat import catalog
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.ingest.walk import walk

HASH_THREADS = 4  # hashlib releases the GIL: overlap reading of several files


def _check(settings: Settings, row: tuple, quick: bool) -> dict[str, Any] | None:
    """None when the file is as cataloged, else {path, problem, detail}."""
    path, size, mtime, sha, location = row
    if location == "missing":
        return {"path": path, "problem": "missing", "detail": "marked missing by an earlier scan"}
    full = settings.abs(path)
    try:
        st = os.stat(full)
    except FileNotFoundError:
        return {"path": path, "problem": "missing", "detail": "no such file"}
    except OSError as exc:
        return {"path": path, "problem": "unreadable", "detail": exc.strerror or str(exc)}
    if st.st_size != size:
        return {"path": path, "problem": "changed", "detail": f"size {st.st_size} bytes, cataloged {size}"}
    if quick:
        if st.st_mtime != mtime:
            return {"path": path, "problem": "changed", "detail": "modification time differs from the catalog"}
        return None
    if not sha:
        return {"path": path, "problem": "unhashed", "detail": "no sha256 in the catalog; run `astrocat scan`"}
    try:
        digest = sha256_file(full)
    except OSError as exc:
        return {"path": path, "problem": "unreadable", "detail": exc.strerror or str(exc)}
    if digest != sha:
        return {"path": path, "problem": "changed", "detail": "sha256 differs from the catalog: content changed"}
    return None


def verify_files(
    db: sqlite_utils.Database, settings: Settings, quick: bool = False, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Check every cataloged frame against its file; list uncataloged files."""
    rows = list(db.execute("SELECT path, size, mtime, sha256, location FROM frames ORDER BY path"))
    problems: list[dict[str, Any]] = []
    checked = 0
    with ThreadPoolExecutor(max_workers=1 if quick else HASH_THREADS) as pool:
        for i, res in enumerate(pool.map(lambda r: _check(settings, r, quick), rows), start=1):
            checked += 1
            if res:
                problems.append(res)
            if progress:
                progress(i, len(rows), rows[i - 1][0])
    known = {r[0] for r in rows}
    known.update(p for (p,) in db.execute("SELECT path FROM rejects"))
    roots = [r for r in (settings.quarantine, settings.library) if r.exists()]
    uncataloged = sorted(
        rel for e in walk(roots) if (rel := settings.rel(e.path)) not in known
    )
    counts = Counter(p["problem"] for p in problems)
    return {
        "mode": "quick" if quick else "sha256",
        "checked": checked,
        "ok": checked - len(problems),
        "missing": [p for p in problems if p["problem"] == "missing"],
        "changed": [p for p in problems if p["problem"] == "changed"],
        "unreadable": [p for p in problems if p["problem"] in ("unreadable", "unhashed")],
        "uncataloged": uncataloged,
        "counts": {"missing": counts["missing"], "changed": counts["changed"],
                   "unreadable": counts["unreadable"] + counts["unhashed"], "uncataloged": len(uncataloged)},
        "clean": not problems and not uncataloged,
    }


def verify_database(db: sqlite_utils.Database, settings: Settings) -> dict[str, Any]:
    """SQLite integrity, foreign keys, and the catalog's own invariants.

    A check that cannot run (the file is too damaged) is reported as `not run`, never `ok`."""
    problems: list[dict[str, str]] = []
    ran: list[str] = []
    try:
        frames = _verify_database(db, settings, problems, ran)
    except sqlite3.DatabaseError as exc:
        problems.append({"check": "integrity", "detail": f"the catalog file is damaged: {exc}"})
        frames = 0
    return _db_report(settings, frames, problems, ran)


Add = Callable[[str, str], None]


def _verify_database(db: sqlite_utils.Database, settings: Settings, problems: list[dict[str, str]],
                     ran: list[str]) -> int:
    def add(check: str, detail: str) -> None:
        problems.append({"check": check, "detail": detail})

    integrity = [r[0] for r in db.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        for line in integrity[:50]:
            add("integrity", line)
    ran.append("integrity")
    for table, rowid, parent, _fk in db.execute("PRAGMA foreign_key_check"):
        add("foreign_keys", f"{table} row {rowid} points to a missing {parent} row")
    ran.append("foreign_keys")
    latest = features.latest_migration()
    version = catalog.schema_version(db)
    if version != latest:
        add("schema", f"catalog schema version {version}, this astrocat expects {latest}"
            + ("; the catalog is unfinished, not damaged: the next `astrocat scan` completes it"
               if version < latest else ""))
    ran.append("schema")
    if version < latest:
        return 0  # the other checks read tables and columns a later migration adds: not run
    for names, check in features.checks():
        check(db, settings, add)
        ran.extend(names)
    return db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]


# --- the catalog's own checks (registered in astrocat.features) ---------------------------


def check_files(db: sqlite_utils.Database, settings: Settings, add: Add) -> None:
    """paths_exist, location, sha256, one_row_per_path: each row against its file."""
    by_file: dict[str, list[str]] = {}
    for _id, path, location, sha in db.execute("SELECT id, path, location, sha256 FROM frames"):
        full = os.path.normpath(settings.abs(path))
        by_file.setdefault(full, []).append(path)
        if location == "missing":
            continue
        if not os.path.lexists(full):
            add("paths_exist", f"{path}: cataloged as {location} but the file does not exist")
            continue
        where = settings.location_of(full)
        if where != "external" and where != location:
            add("location", f"{path}: cataloged as {location} but lies in the {where} folder")
        if not sha:
            add("sha256", f"{path}: no sha256")
    for full, paths in by_file.items():
        if len(paths) > 1:
            add("one_row_per_path", f"{full}: {len(paths)} rows ({', '.join(sorted(paths))})")
    both = [p for (p,) in db.execute("SELECT path FROM rejects WHERE path IN (SELECT path FROM frames)")]
    for p in both:
        add("one_row_per_path", f"{p}: both a frame and a reject")


def check_sessions(db: sqlite_utils.Database, settings: Settings, add: Add) -> None:
    """counted, sessions: what an interrupted scan or organize leaves; the next scan repairs both."""
    twice = out_of_step_contents(db)
    if twice:
        add("counted", f"{len(twice)} contents do not have exactly one copy that counts; "
                       "`astrocat scan` judges them again")
    else:
        wrong = catalog.counted_out_of_step(db)
        if wrong:
            add("counted", f"{wrong} frames are counted against the rule (a missing or set-aside file, "
                           "or not the first copy); `astrocat scan` judges them again")
    stale = sorted(out_of_step_sessions(db))
    if stale:
        more = ", ..." if len(stale) > 5 else ""
        add("sessions", f"{len(stale)} sessions disagree with their frames ({', '.join(stale[:5])}{more}); "
                        "`astrocat scan` recomputes them")


def check_journal(db: sqlite_utils.Database, settings: Settings, add: Add) -> None:
    """journal: no organize move left half done."""
    if not db["moves"].exists():
        return
    for mid, src, dst, state in db.execute(
        "SELECT id, src, dst, state FROM moves WHERE state IN ('planned', 'filed')"
    ):
        add("journal", f"move {mid} {src} -> {dst} was interrupted ({state}); `astrocat scan` finishes it")


def check_names() -> list[str]:
    return ["integrity", "foreign_keys", "schema"] + [n for names, _ in features.checks() for n in names]


def _db_report(settings: Settings, frames: int, problems: list[dict[str, str]], ran: list[str]) -> dict[str, Any]:
    failed = {p["check"] for p in problems}
    return {
        "catalog": str(settings.catalog),
        "frames": frames,
        "checks": {c: ("failed" if c in failed else "ok" if c in ran else "not run") for c in check_names()},
        "problems": problems,
        "clean": not problems and set(ran) >= set(check_names()),
    }


def check_overrides(db: sqlite_utils.Database, settings: Settings, add: Add) -> None:
    """overrides: every frame carries the corrections in effect (astrocat frame/session/target)."""
    if not db["overrides"].exists():
        return
    wrong = sorted({(fid, path) for fid, path, *_ in apply_overrides(db, write=False).changes})
    if wrong:
        more = ", ..." if len(wrong) > 5 else ""
        add("overrides", f"{len(wrong)} frames do not carry the corrections in effect "
                         f"({', '.join(p for _, p in wrong[:5])}{more}); `astrocat scan --full` applies them again")
