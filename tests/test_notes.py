"""`astrocat notes` on a real catalog: the demo library (built once by a real `astrocat demo`
process), with the notes command run in-process (invoke_cli): no signal, lock or start-up is
under test here."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import yaml

import pytest

from astrocat import catalog, features
from astrocat.config import load
from astrocat.demo.steps import DEMO_NOTE
from astrocat.notes import write_notes
from astrocat.notes.content import PROPERTY_TYPES
from astrocat.notes.merge import BEGIN, END, split_note
from astrocat.notes.write import NOTE_KINDS

from conftest import invoke_cli

WIKILINK = re.compile(r"\[\[([^\[\]|#^]+)(?:[#^][^\[\]|]*)?(?:\\?\|[^\[\]]*)?\]\]")
PY_TYPES = {"text": (str,), "number": (int, float), "date": (date,), "list": (list,), "checkbox": (bool,)}


def notes_json(cwd: Path, *args: str) -> tuple[int, dict]:
    r = invoke_cli("notes", "--json", *args, cwd=cwd)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.returncode, json.loads(r.stdout)


def vault_problems(folder: Path) -> list[str]:
    """Everything that would make the vault unclean; [] when it is clean."""
    problems: list[str] = []
    files = sorted(folder.rglob("*.md"))
    stems = {p.stem for p in files}
    types_seen: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        parts = split_note(text)
        if parts.fm_inner is None:
            problems.append(f"{path}: no frontmatter")
            continue
        try:
            fm = yaml.safe_load(parts.text[parts.fm_inner[0]:parts.fm_inner[1]])
        except yaml.YAMLError as exc:
            problems.append(f"{path}: frontmatter is not YAML: {exc}")
            continue
        if not isinstance(fm, dict):
            problems.append(f"{path}: frontmatter is not a mapping")
            continue
        for key, value in fm.items():
            declared = PROPERTY_TYPES.get(key)
            if declared is None:
                problems.append(f"{path}: undeclared property {key!r}")
                continue
            if isinstance(value, bool) and declared != "checkbox" or not isinstance(value, PY_TYPES[declared]):
                problems.append(f"{path}: {key} = {value!r} is not a {declared}")
            kind = "list" if isinstance(value, list) else "date" if isinstance(value, date) else \
                "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
            types_seen.setdefault(key, set()).add(kind)
        for tag in fm.get("tags") or []:
            if not (re.fullmatch(r"[\w\-]+(?:/[\w\-]+)*", tag) and re.search(r"[^\d/]", tag)):
                problems.append(f"{path}: invalid tag {tag!r}")
        for link in WIKILINK.findall(text):
            if link.strip() not in stems:
                problems.append(f"{path}: [[{link}]] points at no note")
    for key, kinds in types_seen.items():
        if len(kinds) > 1:
            problems.append(f"property {key!r} has several types across the vault: {sorted(kinds)}")
    return problems


def session_note_path(lib: Path, night: str = "2024-10-03") -> Path:
    found = sorted((lib / "notes" / "Imaging_Sessions" / night[:4]).glob(f"{night}_*.md"))
    assert found, f"no session note for {night}"
    return found[0]


def mtimes(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_demo_vault_is_clean_and_complete(demo_dir):
    folder = demo_dir / "notes"
    assert vault_problems(folder) == []
    db = sqlite3.connect(demo_dir / "catalog.db")
    n_sessions = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    n_targets = db.execute("SELECT COUNT(*) FROM targets").fetchone()[0]
    assert len(list((folder / "Imaging_Sessions").rglob("*.md"))) == n_sessions >= 5
    assert len(list((folder / "Targets").glob("*.md"))) == n_targets >= 5
    assert (folder / "Targets" / "NGC 7000.md").is_file()
    n_processing = db.execute("SELECT COUNT(*) FROM processing_sessions").fetchone()[0]
    assert len(list((folder / "Processing_Sessions").glob("*.md"))) == n_processing == 1  # the demo makes one
    rows = db.execute("SELECT id, path FROM notes").fetchall()
    assert len(rows) == n_sessions + n_targets + n_processing and all((folder / p).is_file() for _, p in rows)
    # sessions and targets link both ways
    m31 = (folder / "Targets" / "M31.md").read_text(encoding="utf-8")
    s = session_note_path(demo_dir)
    assert f"[[{s.stem}]]" in m31 and "[[M31]]" in s.read_text(encoding="utf-8")


def test_demo_hand_written_note_round_trips_into_the_catalog(demo_dir):
    text = session_note_path(demo_dir).read_text(encoding="utf-8")
    assert DEMO_NOTE in text
    db = catalog.open_catalog(demo_dir / "catalog.db", readonly=True)
    (user_text,) = db.execute("SELECT user_text FROM notes WHERE id LIKE 'session:2024-10-03%'").fetchone()
    assert user_text == DEMO_NOTE.strip()
    hits = db.execute(
        "SELECT n.id FROM notes_fts JOIN notes n ON n.rowid = notes_fts.rowid WHERE notes_fts MATCH 'guide'"
    ).fetchall()  # porter stemming: 'guide' finds 'Guiding'
    assert [h[0] for h in hits] == [f"session:{session_note_path(demo_dir).stem}"]
    from astrocat.notes import user_notes

    assert user_notes(db) == {("session", session_note_path(demo_dir).stem): DEMO_NOTE.strip()}


def test_datasette_search_finds_note_text(demo_dir):
    from datasette.app import Datasette

    async def search():
        ds = Datasette([str(demo_dir / "catalog.db")])
        r = await ds.client.get("/catalog/notes.json?_search=dew+heater&_shape=array")
        return r.status_code, r.json()

    status, rows = asyncio.run(search())
    assert status == 200
    assert [r["key"] for r in rows] == [session_note_path(demo_dir).stem]


def test_unchanged_regeneration_writes_no_file(demo_copy):
    folder = demo_copy / "notes"
    old = 1_000_000_000
    for p in folder.rglob("*.md"):
        os.utime(p, (old, old))
    before = mtimes(folder)
    code, out = notes_json(demo_copy)
    assert code == 0 and out["written"] == 0 and out["unchanged"] == len(before) and out["warnings"] == []
    assert mtimes(folder) == before  # same files, nothing touched, no temp files left


def test_catalog_changes_show_and_user_edits_survive(demo_copy):
    path = session_note_path(demo_copy)
    sid = path.stem
    text = path.read_text(encoding="utf-8")
    # the user edits: a property of their own, a tag, text above the block, an own section
    text = text.replace("night: 2024-10-03\n", "night: 2024-10-03\nseeing: 3\nrig_notes: \"new focuser\"\n", 1)
    text = text.replace("  - astrocat/session\n", "  - astrocat/session\n  - best-night\n", 1)
    text = text.replace("---\n" + BEGIN, "---\n> [!tip] Best M31 night this year\n\n" + BEGIN, 1)
    text += "\n## Processing ideas\n\n```\n%% not a marker %%\n---\n```\ntrailing spaces   \n"
    path.write_text(text, encoding="utf-8")
    parts = split_note(text)
    outside_before = parts.text[parts.body_start:parts.begin[0]]
    outside_after = parts.text[parts.end[1]:]
    # the catalog changes: the R frames of that night went missing
    db = catalog.open_catalog(demo_copy / "catalog.db")
    db.execute("UPDATE frames SET location = 'missing' WHERE session_id = ? AND filter = 'R'", [sid])
    catalog.refresh_derived(db, [sid], sha256s=None)
    db.conn.commit()
    db.conn.close()

    code, out = notes_json(demo_copy)
    assert code == 0, out["warnings"]
    assert f"Imaging_Sessions/2024/{sid}.md" in out["updated"] and "Targets/M31.md" in out["updated"]
    new = path.read_text(encoding="utf-8")
    p2 = split_note(new)
    assert p2.text[p2.body_start:p2.begin[0]] == outside_before
    assert p2.text[p2.end[1]:] == outside_after
    block = p2.text[p2.begin[1]:p2.end[0]]
    assert "| [[M31]] | R |" not in block and "| [[M31]] | L | 24 |" in block
    fm = yaml.safe_load(p2.text[p2.fm_inner[0]:p2.fm_inner[1]])
    assert fm["seeing"] == 3 and fm["rig_notes"] == "new focuser"
    assert "filter/R" not in fm["tags"] and "best-night" in fm["tags"] and "R" not in fm["filters"]
    assert "seeing: 3\nrig_notes: \"new focuser\"\n" in new  # the user's lines as they wrote them
    # the user's text is read back, and a second run changes nothing
    db = sqlite3.connect(demo_copy / "catalog.db")
    (user_text,) = db.execute("SELECT user_text FROM notes WHERE id = ?", [f"session:{sid}"]).fetchone()
    assert "Best M31 night" in user_text and "Processing ideas" in user_text and DEMO_NOTE.strip() in user_text
    code, out = notes_json(demo_copy)
    assert out["written"] == 0


def test_deleted_note_stays_deleted_until_recreate(demo_copy):
    folder = demo_copy / "notes"
    m42 = folder / "Targets" / "M42.md"
    m42.unlink()
    code, out = notes_json(demo_copy)
    assert code == 0 and out["skipped_deleted"] == ["Targets/M42.md"] and not m42.exists()
    # the notes that linked to it now name it without a link: no dangling links
    assert vault_problems(folder) == []
    assert "[[M42]]" not in (folder / "Imaging_Sessions" / "2024" / "2024-11-02_ASI294MC_Evostar72ED.md").read_text(encoding="utf-8")
    code, out = notes_json(demo_copy)
    assert out["skipped_deleted"] == ["Targets/M42.md"] and out["written"] == 0 and not m42.exists()

    r = invoke_cli("notes", "--recreate", cwd=demo_copy)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and m42.is_file()
    assert "[[M42]]" in (folder / "Imaging_Sessions" / "2024" / "2024-11-02_ASI294MC_Evostar72ED.md").read_text(encoding="utf-8")
    assert vault_problems(folder) == []


def test_note_without_markers_is_left_alone_with_a_warning(demo_copy):
    path = session_note_path(demo_copy)
    text = path.read_text(encoding="utf-8").replace(BEGIN + "\n", "").replace(END + "\n", "")
    path.write_bytes(text.encode("utf-8"))
    os.utime(path, (1_000_000_000, 1_000_000_000))
    db = catalog.open_catalog(demo_copy / "catalog.db")
    db.execute("UPDATE frames SET location = 'missing' WHERE session_id = ? AND filter = 'B'", [path.stem])
    catalog.refresh_derived(db, [path.stem], sha256s=None)
    db.conn.commit()
    db.conn.close()
    r = invoke_cli("notes", cwd=demo_copy)
    assert r.returncode == 1
    assert path.name in r.stdout and "markers were removed" in r.stdout
    assert path.read_bytes() == text.encode("utf-8") and path.stat().st_mtime_ns == 1_000_000_000 * 10**9
    code, out = notes_json(demo_copy)
    assert code == 1 and out["left_alone"] == [f"Imaging_Sessions/2024/{path.name}"]


def test_symlinked_note_is_updated_through_the_link(demo_copy, tmp_path):
    path = demo_copy / "notes" / "Targets" / "M57.md"
    real = tmp_path / "elsewhere" / "M57.md"
    real.parent.mkdir()
    shutil.move(path, real)
    path.symlink_to(real)
    real.write_text(real.read_text(encoding="utf-8").replace("lights: 20", "lights: 1") + "mine\n", encoding="utf-8")
    code, out = notes_json(demo_copy)
    assert code == 0 and out["updated"] == ["Targets/M57.md"]
    assert path.is_symlink() and "lights: 20\n" in real.read_text(encoding="utf-8")
    assert real.read_text(encoding="utf-8").endswith("mine\n")


def test_non_utf8_note_is_left_alone(demo_copy):
    path = demo_copy / "notes" / "Targets" / "M57.md"
    data = path.read_bytes() + "Ringnebel, schön\n".encode("latin-1")
    path.write_bytes(data)
    code, out = notes_json(demo_copy)
    assert code == 1 and any("M57.md" in w and "UTF-8" in w for w in out["warnings"])
    assert path.read_bytes() == data


def test_dry_run_writes_nothing(demo_copy):
    folder = demo_copy / "notes"
    shutil.rmtree(folder)
    db = sqlite3.connect(demo_copy / "catalog.db")
    db.execute("DELETE FROM notes")
    db.commit()
    code, out = notes_json(demo_copy, "--dry-run")
    assert code == 0 and out["dry_run"] and len(out["created"]) >= 10 and out["written"] == len(out["created"])
    assert not folder.exists()
    assert db.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    code, out2 = notes_json(demo_copy)
    assert sorted(out2["created"]) == sorted(out["created"])
    assert vault_problems(folder) == []


def test_missing_notes_folder_is_written_again(demo_copy):
    folder = demo_copy / "notes"
    count = len(list(folder.rglob("*.md")))
    shutil.rmtree(folder)
    code, out = notes_json(demo_copy)
    assert code == 1 and "notes folder is missing" in out["warnings"][0]
    assert len(out["created"]) == count and vault_problems(folder) == []


def add_processing_session(lib: Path) -> str:
    """One row in the processing feature's `processing_sessions` table."""
    s = session_note_path(lib).stem
    db = sqlite3.connect(lib / "catalog.db")
    db.execute("INSERT INTO processing_sessions (id, name, target, targets, session_ids, created, status, path, "
               "link_mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               ["2024-12-01_M31_LRGB", "M31 LRGB", "M31", '["M31"]', json.dumps([s]), "2024-12-01T20:00:00Z",
                "planned", "processing/2024-12-01_M31_LRGB", "symlink"])
    db.commit()
    db.close()
    return s


def test_processing_notes_are_written_now_that_the_feature_is_built(demo_copy):
    assert "processing" in features.note_kinds()
    add_processing_session(demo_copy)
    code, out = notes_json(demo_copy)
    assert code == 0 and out["written"] >= 1
    folder = demo_copy / "notes"
    assert (folder / "Processing_Sessions" / "2024-12-01_M31_LRGB.md").is_file()
    assert "2024-12-01_M31_LRGB" in (folder / "Targets" / "M31.md").read_text(encoding="utf-8")


def test_processing_sessions_get_notes_and_links(demo_copy):
    """The processing note kind, switched on as the registry will once the feature is built."""
    s = add_processing_session(demo_copy)
    settings = load(demo_copy / "astrocat.toml")
    db = catalog.open_catalog(settings.catalog)
    try:
        out = write_notes(db, settings, kinds=("session", "target", "processing"))
    finally:
        db.conn.close()
    assert out.warnings == [] and "Processing_Sessions/2024-12-01_M31_LRGB.md" in out.created
    folder = demo_copy / "notes"
    proc = (folder / "Processing_Sessions" / "2024-12-01_M31_LRGB.md").read_text(encoding="utf-8")
    assert f"[[{s}]]" in proc and "[[M31]]" in proc and "created: 2024-12-01" in proc
    assert "[[2024-12-01_M31_LRGB]]" in (folder / "Targets" / "M31.md").read_text(encoding="utf-8")
    assert '  - "[[2024-12-01_M31_LRGB]]"' in session_note_path(demo_copy).read_text(encoding="utf-8")
    assert vault_problems(folder) == []


def test_every_registered_note_kind_can_be_written(library):
    registered = {k for f in features.FEATURES for k in f.note_kinds}
    assert registered and registered <= set(NOTE_KINDS)
    db = catalog.open_catalog(library.catalog)
    try:
        with pytest.raises(ValueError, match="no such note kind: calibration"):
            write_notes(db, library, kinds=("session", "calibration"))
    finally:
        db.conn.close()


def test_notes_folder_that_is_a_file_is_a_usage_error(library):
    library.notes.rmdir() if library.notes.is_dir() else None
    library.notes.write_text("oops")
    r = invoke_cli("notes", cwd=library.base_dir)
    assert r.returncode == 2 and "notes folder is a file" in r.stderr


def test_empty_catalog_writes_nothing(library):
    code, out = notes_json(library.base_dir)
    assert code == 0 and out["written"] == 0 and out["unchanged"] == 0
    assert not any(library.notes.rglob("*.md"))
