"""A sync with nothing new skips the notes and the site on the catalog's change token
(migration 13): these tests prove the skip is taken, and that whatever a user or another
command changes afterwards is still picked up by the next sync."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from astropy.io import fits

from astrocat import catalog
from astrocat.catalog import changes

from conftest import backdate, invoke_cli


def sync(lib: Path) -> dict:
    r = invoke_cli("sync", "--json", cwd=lib)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def token(lib: Path) -> str:
    con = sqlite3.connect(lib / "catalog.db")
    try:
        return con.execute("SELECT token FROM changes").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def synced(demo_copy: Path) -> Path:
    """The demo library after two syncs: the second found nothing new and skipped."""
    sync(demo_copy)
    second = sync(demo_copy)
    assert not second["changed"]
    assert second["notes"]["written"] == 0 and second["site"]["written"] == 0
    # the skips were taken: both outputs remember the catalog's current token
    tok = token(demo_copy)
    stamp = json.loads((demo_copy / "site" / ".astrocat-site-stamp.json").read_text())
    assert stamp["token"] == tok
    con = sqlite3.connect(demo_copy / "catalog.db")
    try:
        assert con.execute("SELECT token FROM output_stamps WHERE name = 'notes'").fetchone()[0] == tok
    finally:
        con.close()
    return demo_copy


def test_a_sync_with_nothing_new_writes_nothing_to_the_catalog(synced):
    before = token(synced)
    out = sync(synced)
    assert token(synced) == before
    assert out["notes"]["unchanged"] > 10 and out["site"]["unchanged"] == out["site"]["files"] > 20


def test_a_frame_modified_in_place_is_read_again(synced):
    con = sqlite3.connect(synced / "catalog.db")
    rel, sid = con.execute("SELECT path, session_id FROM frames WHERE frame_type = 'light' AND location = 'library' "
                           "ORDER BY path LIMIT 1").fetchone()
    con.close()
    path = synced / rel
    with fits.open(path, mode="update") as hdul:  # a test's own copy of a demo frame
        hdul[0].header["EXPTIME"] = 777.0
    backdate(path)
    out = sync(synced)
    assert out["scan"]["changed"] == 1
    con = sqlite3.connect(synced / "catalog.db")
    assert con.execute("SELECT COUNT(*) FROM frames WHERE exposure_s = 777").fetchone()[0] == 1
    con.close()
    assert f"sessions/{sid}.html" in out["site"]["written_files"]
    assert any(p.startswith("Imaging_Sessions/") and sid in p for p in out["notes"]["updated"])


def test_a_deleted_site_page_and_thumbnail_come_back(synced):
    site = synced / "site"
    (site / "stats.html").unlink()
    thumb = sorted((site / "thumbs").glob("*.png"))[0]
    thumb.unlink()
    out = sync(synced)
    assert (site / "stats.html").is_file() and "stats.html" in out["site"]["written_files"]
    assert thumb.is_file()


def test_an_edited_note_is_read_back_and_shown(synced):
    path = synced / "notes" / "Targets" / "M31.md"
    path.write_text(path.read_text(encoding="utf-8") + "Seeing was poor tonight.\n", encoding="utf-8")
    out = sync(synced)
    con = sqlite3.connect(synced / "catalog.db")
    text = con.execute("SELECT user_text FROM notes WHERE id = 'target:M31'").fetchone()[0]
    con.close()
    assert "Seeing was poor tonight." in text
    assert "targets/M31.html" in out["site"]["written_files"]
    assert "Seeing was poor tonight." in (synced / "site" / "targets" / "M31.html").read_text(encoding="utf-8")


def test_a_correction_reaches_the_notes_and_the_site(synced):
    con = sqlite3.connect(synced / "catalog.db")
    fid, sid = con.execute("SELECT id, session_id FROM frames WHERE frame_type = 'light' AND target = 'M31' "
                           "ORDER BY path LIMIT 1").fetchone()
    con.close()
    r = invoke_cli("frame", "set", str(fid), "--exposure", "777", "--why", "wrong header", cwd=synced)
    assert r.returncode == 0, r.stdout + r.stderr
    out = sync(synced)
    assert f"sessions/{sid}.html" in out["site"]["written_files"]
    assert any(p.startswith("Imaging_Sessions/") and sid in p for p in out["notes"]["updated"])
    assert "Targets/M31.md" in out["notes"]["updated"]


def test_a_config_change_renders_the_site_again(synced):
    config = synced / "astrocat.toml"
    text = config.read_text(encoding="utf-8")
    changed, n = re.subn(r'(?m)^url = "http://127\.0\.0\.1:\d+"', 'url = "http://127.0.0.1:8123"', text)
    assert n == 1
    config.write_text(changed, encoding="utf-8")
    out = sync(synced)
    assert out["site"]["written"] > 10
    assert "127.0.0.1:8123" in (synced / "site" / "index.html").read_text(encoding="utf-8")


def test_every_table_changes_the_token_and_a_table_without_triggers_untrusts_it(tmp_path):
    db = catalog.open_catalog(tmp_path / "catalog.db")
    try:
        first = changes.token(db)
        assert first is not None
        with db.conn:
            db.execute("INSERT INTO targets (name) VALUES ('M42')")
        second = changes.token(db)
        with db.conn:
            db.execute("INSERT INTO notes (id, kind, key, path) VALUES ('target:M42', 'target', 'M42', 'M42.md')")
        third = changes.token(db)
        assert len({first, second, third}) == 3
        with db.conn:  # an output's own record is not a change of the catalog
            changes.save_stamp(db, "site", third, "k")
        assert changes.token(db) == third
        with db.conn:
            db.execute("CREATE TABLE later_feature (x)")
        assert changes.token(db) is None
        with db.conn:
            changes.watch_all(db)
        assert changes.token(db) is not None
    finally:
        db.conn.close()


def test_a_session_left_out_of_step_after_a_nothing_new_scan_is_repaired(synced):
    """What a scan killed between its batches and its repair leaves: the repair the next
    scan skips when nothing was written since the last one runs again."""
    con = sqlite3.connect(synced / "catalog.db")
    sid, frames = con.execute("SELECT id, frames FROM sessions ORDER BY id LIMIT 1").fetchone()
    with con:
        con.execute("UPDATE sessions SET frames = frames + 5 WHERE id = ?", [sid])
    con.close()
    out = sync(synced)
    assert out["scan"]["changed"] == 0
    con = sqlite3.connect(synced / "catalog.db")
    assert con.execute("SELECT frames FROM sessions WHERE id = ?", [sid]).fetchone()[0] == frames
    con.close()


def test_a_table_a_later_migration_adds_is_watched_at_once(tmp_path) -> None:
    """migrate() puts the token's triggers on tables a migration after 13 creates, so the
    token stays trusted and a write to the new table changes it."""
    from astrocat import features

    def m99(db) -> None:
        db.execute("CREATE TABLE later_feature (id INTEGER PRIMARY KEY, v TEXT)")

    db = catalog.open_catalog(tmp_path / "c.db")
    try:
        catalog.db.migrate(db, [*features.migrations(), (99, "a later feature", m99)])
        before = changes.token(db)
        assert before is not None
        with db.conn:
            db.execute("INSERT INTO later_feature (v) VALUES ('x')")
        after = changes.token(db)
        assert after is not None and after != before
    finally:
        db.conn.close()
