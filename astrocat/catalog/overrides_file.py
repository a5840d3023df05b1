"""The corrections' journal file, `<catalog>.overrides.jsonl`, next to the catalog.

The catalog can be deleted and rebuilt by a scan, or restored from an older copy;
the corrections must survive both. So every history entry (with its overrides) and
every undo is also appended, as one JSON line, to a file beside the catalog. `sync`
(run by scan and by every curation command) imports what the catalog lacks and
re-applies the corrections; when the file lacks what the catalog holds (deleted,
damaged), it is written again from the catalog.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrocat.catalog import overrides as ov
from astrocat.rules.curation import FIELDS as _FIELDS

if TYPE_CHECKING:
    import sqlite_utils

SUFFIX = ".overrides.jsonl"


def journal_path(db: sqlite_utils.Database) -> Path | None:
    """`<catalog>.overrides.jsonl` for a catalog on disk (None in memory)."""
    for _, name, file in db.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file + SUFFIX)
    return None


def _entry_lines(db: sqlite_utils.Database, where: str = "1=1", params: list[Any] | None = None) -> list[str]:
    out = []
    for h in db.query(f"SELECT * FROM history WHERE {where} ORDER BY id", params or []):
        entry = {k: h[k] for k in ("uuid", "at", "who", "command", "summary", "aliases_added", "aliases_removed")}
        entry["overrides"] = ov.entry_overrides(db, h["id"])
        out.append(json.dumps({"entry": entry}, ensure_ascii=False, sort_keys=True))
        if h["undone_at"]:
            out.append(json.dumps({"undo": h["uuid"], "at": h["undone_at"]}, sort_keys=True))
    return out


def append_entry(db: sqlite_utils.Database, history_id: int) -> str | None:
    return _append(db, _entry_lines(db, "id = ?", [history_id])[:1])


def append_undo(db: sqlite_utils.Database, uuid: str, at: str) -> str | None:
    return _append(db, [json.dumps({"undo": uuid, "at": at}, sort_keys=True)])


def _append(db: sqlite_utils.Database, lines: list[str]) -> str | None:
    """Append lines; returns a one-line warning when the file cannot be written (the
    catalog holds the change, and the next command that can writes the file again)."""
    path = journal_path(db)
    if path is None or not lines:
        return None
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return f"{path}: cannot write the corrections' journal ({exc.strerror or exc}); the catalog has the change"
    return None


def rewrite(db: sqlite_utils.Database) -> str | None:
    """Write the whole file again from the catalog (atomically); a warning when it cannot."""
    path = journal_path(db)
    if path is None:
        return None
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in _entry_lines(db)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return f"{path}: cannot write the corrections' journal ({exc.strerror or exc})"
    return None


def read(path: Path) -> tuple[list[dict[str, Any]], dict[str, str], int]:
    """(entries, undone uuid -> when, unreadable lines) from a journal file."""
    entries: list[dict[str, Any]] = []
    undone: dict[str, str] = {}
    bad = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            bad += 1  # a line cut short by a crash: the catalog still has it, and the file is rewritten
            continue
        if isinstance(item, dict) and isinstance(item.get("entry"), dict):
            entries.append(item["entry"])
        elif isinstance(item, dict) and isinstance(item.get("undo"), str):
            undone[item["undo"]] = str(item.get("at") or "")
        else:
            bad += 1
    return entries, undone, bad


def sync(db: sqlite_utils.Database) -> ov.Applied | None:
    """Import the corrections the catalog lacks from the journal file and apply them
    (a rebuilt or restored catalog); write the file again when it lacks some of the
    catalog's. Returns what applying changed, or None when nothing was imported."""
    path = journal_path(db)
    if path is None or not db["history"].exists():
        return None
    known = {u: d for u, d in db.execute("SELECT uuid, undone_at FROM history")}
    if not path.exists():
        if known:
            rewrite(db)
        return None
    try:
        entries, undone, bad = read(path)
    except OSError:
        return None  # unreadable: the catalog's corrections stand; the next write appends
    imported = False
    with db.conn:
        for e in entries:
            if e.get("uuid") in known or not isinstance(e.get("uuid"), str) or not e.get("command"):
                continue
            try:
                rows = _overrides_of(e)
                aliases = [tuple(r) for r in json.loads(e.get("aliases_added") or "[]")]
            except (KeyError, TypeError, ValueError):
                bad += 1  # an entry edited by hand into something else: skipped, the file rewritten
                continue
            e = {**e, "undone_at": undone.get(e["uuid"])}
            why = next((o.get("why") for o in e.get("overrides") or [] if o.get("why")), None)
            ov.record(db, e, rows, e.get("who"), why)
            known[e["uuid"]] = e["undone_at"]
            imported = True
            if not e["undone_at"] and aliases:
                db.conn.executemany("INSERT OR IGNORE INTO session_aliases (old_id, new_id, renamed_at) VALUES (?, ?, ?)",
                                    aliases)
        for uuid, at in undone.items():
            if uuid in known and not known[uuid]:
                db.execute("UPDATE history SET undone_at = ? WHERE uuid = ?", [at, uuid])
                known[uuid] = at
                imported = True
        applied = ov.apply(db) if imported else None
    in_file = {e.get("uuid") for e in entries}
    if bad or set(known) - in_file or {u for u, d in known.items() if d} - set(undone):
        rewrite(db)
    return applied


def _overrides_of(entry: dict[str, Any]) -> list[ov.Override]:
    out = []
    for o in entry.get("overrides") or []:
        if o["kind"] not in ("frame", "session", "target") or o["field"] not in _FIELDS:
            raise ValueError(o["field"])
        out.append(ov.Override(o["kind"], str(o["key"]), o["field"], _load(o.get("value")),
                               _load(o.get("value_before"))))
    return out


def _load(value: Any) -> Any:
    # overrides rows carry JSON text; the file keeps it as text too
    return json.loads(value) if isinstance(value, str) else value
