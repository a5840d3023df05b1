"""What a run with nothing new may skip, and what it must still see: a note's text edited
behind astrocat's back (even keeping size and mtime), the catalog changed by another
command, a target row left out of step by an interrupted run."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from astrocat import catalog
from astrocat.config import load
from astrocat.ingest.scan import scan

from conftest import invoke_cli


def notes_json(cwd: Path) -> dict:
    r = invoke_cli("notes", "--json", cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def user_text(lib: Path, note_id: str) -> str:
    con = sqlite3.connect(lib / "catalog.db")
    try:
        return con.execute("SELECT user_text FROM notes WHERE id = ?", [note_id]).fetchone()[0]
    finally:
        con.close()


def test_a_second_run_keeps_every_note_and_its_user_text_count(demo_copy):
    first = notes_json(demo_copy)
    second = notes_json(demo_copy)
    total = first["written"] + first["unchanged"]
    assert second["written"] == 0 and second["unchanged"] == total > 10
    assert second["with_user_text"] == first["with_user_text"] == 1  # the demo's hand-written note


def test_an_edit_that_keeps_size_and_mtime_is_still_read_back(demo_copy):
    notes_json(demo_copy)
    notes_json(demo_copy)  # now every note is known as astrocat left it
    path = demo_copy / "notes" / "Targets" / "M31.md"
    st = path.stat()
    text = path.read_text(encoding="utf-8")
    # the user's own line, then the same number of bytes and the old mtime put back
    edited = text + "Tried a new flattener.\n"
    path.write_text(edited, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns
    out = notes_json(demo_copy)
    assert out["written"] == 0
    assert "Tried a new flattener." in user_text(demo_copy, "target:M31")
    # the same size too: one character changed in place
    same_size = edited.replace("Tried a new flattener.", "Tried a new flattenex.")
    assert len(same_size.encode()) == len(edited.encode())
    path.write_text(same_size, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    notes_json(demo_copy)
    assert "Tried a new flattenex." in user_text(demo_copy, "target:M31")


def test_a_catalog_change_by_another_command_reaches_the_note(demo_copy):
    notes_json(demo_copy)
    notes_json(demo_copy)
    db = catalog.open_catalog(demo_copy / "catalog.db")
    sid = db.execute("SELECT session_id FROM frames WHERE target = 'M31' AND filter = 'R' LIMIT 1").fetchone()[0]
    with db.conn:
        db.execute("UPDATE frames SET location = 'missing' WHERE session_id = ? AND filter = 'R'", [sid])
        catalog.refresh_derived(db, [sid], sha256s=None)
    db.conn.close()
    out = notes_json(demo_copy)
    assert f"Imaging_Sessions/{sid[:4]}/{sid}.md" in out["updated"] and "Targets/M31.md" in out["updated"]


def test_a_target_row_out_of_step_is_repaired_by_a_scan_with_nothing_new(demo_copy):
    settings = load(demo_copy / "astrocat.toml")
    db = catalog.open_catalog(settings.catalog)
    try:
        want = db.execute("SELECT name, frames, integration_s FROM targets ORDER BY name").fetchall()
        with db.conn:  # what a run killed between writing frames and recomputing targets leaves
            db.execute("UPDATE targets SET frames = frames + 7, integration_s = 1 WHERE name = 'M31'")
            db.execute("DELETE FROM targets WHERE name = 'NGC 7000'")
        r = scan(db, settings)
        assert (r.new, r.changed, r.missing) == (0, 0, 0)
        assert db.execute("SELECT name, frames, integration_s FROM targets ORDER BY name").fetchall() == want
    finally:
        db.conn.close()
