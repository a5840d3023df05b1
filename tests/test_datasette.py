"""Datasette over the catalog: a real Datasette (its own ASGI client, and one real server
process on loopback) on the real demo catalog built by the CLI."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from datasette.app import Datasette

from astrocat import catalog
from astrocat import features
from astrocat.catalog import frames as catalog_frames
from astrocat.datasette import app as datasette_app
from astrocat.config import load
from astrocat.demo.fitswrite import write_fits
from conftest import ROOT, backdate, invoke_cli

FACETS = ["frame_type", "target", "filter", "camera", "telescope", "night", "month"]
FTS_COLUMNS = ["target", "object", "filter", "camera", "telescope", "path"]


# --- helpers ---------------------------------------------------------------------------------


def fetch(catalog_path: Path, *paths: str, expect: int = 200) -> list:
    """GET each path from a fresh Datasette on the catalog (astrocat's metadata and settings)."""
    name = datasette_app.database_name(catalog_path)

    async def go():
        ds = Datasette([str(catalog_path)], metadata=datasette_app.load_metadata(name),
                       settings=datasette_app.SETTINGS)
        await ds.invoke_startup()
        out = []
        for p in paths:
            r = await ds.client.get(p)
            assert r.status_code == expect, (p, r.status_code, r.text[:500])
            out.append(r.json() if "json" in r.headers.get("content-type", "") else r.text)
        return out

    return asyncio.run(go())


def rows_of(catalog_path: Path, query: str, **params: str) -> list[dict]:
    url = f"/catalog/{query}.json?_shape=objects" + (f"&{httpx.QueryParams(params)}" if params else "")
    data = fetch(catalog_path, url)[0]
    assert data["ok"] and not data.get("truncated"), data
    return data["rows"]


def sql(catalog_path: Path, query: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def sql_dicts(catalog_path: Path, query: str, params) -> list[dict]:
    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(query, params)]
    finally:
        conn.close()


def cli_json(*args: str, cwd: Path):
    r = invoke_cli(*args, "--json", cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def tokens(*values) -> set[str]:
    """unicode61's idea of the words in some text, lower-cased."""
    return {t.lower() for v in values if v for t in re.findall(r"[^\W_]+", str(v))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries() -> dict[str, dict]:
    return datasette_app.load_metadata()["databases"]["catalog"]["queries"]


@pytest.fixture(scope="module")
def demo_db(demo_dir: Path) -> Path:
    return demo_dir / "catalog.db"


# --- metadata --------------------------------------------------------------------------------


def test_metadata_validates_against_the_demo_catalog(demo_db):
    md = datasette_app.load_metadata("catalog")
    conn = sqlite3.connect(f"file:{demo_db}?mode=ro", uri=True)
    try:
        assert datasette_app.validate_metadata(md, conn, "catalog") == []
    finally:
        conn.close()
    # what the issue asks for is there
    tables = md["databases"]["catalog"]["tables"]
    assert tables["frames"]["facets"] == FACETS
    assert tables["schema_version"] == {"hidden": True} and tables["moves"] == {"hidden": True}
    for key in ("title", "description", "source", "license"):
        assert md[key]
    assert {"integration_by_target_filter", "sessions_missing_calibration", "duplicate_content",
            "rejected_files", "nights_per_month", "recent_activity", "equipment_usage"} <= set(queries())
    assert datasette_app.query_params(queries()["integration_by_target_filter"]["sql"]) == ["target"]


def test_validation_catches_broken_metadata(demo_db):
    md = copy.deepcopy(datasette_app.load_metadata("catalog"))
    db = md["databases"]["catalog"]
    db["tables"]["frames"]["columns"]["exposure"] = "no such column"
    del db["tables"]["frames"]["columns"]["gain"]
    db["tables"]["frames"]["facets"].append("moon_phase")
    db["tables"]["sessions"]["sort_desc"] = "date"
    db["tables"]["observatories"] = {"description": "not a table"}
    db["tables"]["rejects"]["colour"] = "red"
    del db["tables"]["notes"]
    db["queries"]["broken"] = {"title": "t", "description": "d", "sql": "SELECT nope FROM frames"}
    db["queries"]["writer"] = {"title": "t", "description": "d", "sql": "DELETE FROM frames", "write": True}
    del md["license"]
    conn = sqlite3.connect(f"file:{demo_db}?mode=ro", uri=True)
    try:
        problems = datasette_app.validate_metadata(md, conn, "catalog")
        assert datasette_app.validate_metadata(md, conn, "other") == [
            "missing license", "no entry for database 'other'"]
    finally:
        conn.close()
    text = "\n".join(problems)
    for expected in (
        "missing license",
        "table frames: column exposure: no column 'exposure'",
        "table frames: columns without a description: gain",
        "table frames: facet: no column 'moon_phase'",
        "table sessions: sort_desc: no column 'date'",
        "table observatories: no such table in the catalog",
        "table rejects: unknown key 'colour'",
        "table notes: in the catalog but not in the metadata",
        "query broken: SQL does not compile: no such column: nope",
        "query writer: unknown key 'write'",
        "query writer: not a SELECT",
    ):
        assert expected in text, (expected, problems)
    assert len(problems) == 11, problems


def test_metadata_is_served_and_internal_tables_hidden(demo_db):
    meta, dbinfo, html = fetch(demo_db, "/-/metadata.json", "/catalog.json", "/catalog")
    assert meta["title"] == "astrocat catalog" and "catalog" in meta["databases"]
    hidden = {t["name"]: t["hidden"] for t in dbinfo["tables"]}
    assert hidden["frames"] is False and hidden["sessions"] is False and hidden["notes"] is False
    assert hidden["schema_version"] is True
    assert hidden["frames_fts"] is True and hidden["notes_fts"] is True
    assert "Integration by target and filter" in html


def test_table_pages_use_descriptions_sorts_and_labels(demo_db):
    frames, sessions = fetch(demo_db, "/catalog/frames.json?_size=max&_nocol=header_json&_shape=objects",
                             "/catalog/sessions.json?_size=max&_shape=objects")
    assert frames["human_description_en"] == "sorted by date_obs descending"
    dates = [r["date_obs"] for r in frames["rows"] if r["date_obs"]]
    assert dates == sorted(dates, reverse=True)
    assert len(dates) == sql(demo_db, "SELECT COUNT(*) FROM frames WHERE date_obs IS NOT NULL")[0][0] > 300
    assert "month" in frames["columns"] and "header_json" not in frames["columns"]
    nights = [r["night"] for r in sessions["rows"]]
    assert nights == sorted(nights, reverse=True)
    html = fetch(demo_db, "/catalog/frames?_size=1")[0]
    assert "integration = the sum of exposure_s" in html  # the table description


# --- canned queries --------------------------------------------------------------------------


# The demo files everything and every file is a FITS file: nothing for these two to show
# (test_duplicates_and_rejects_after_a_real_rescan makes some).
EMPTY_ON_THE_DEMO = {"duplicate_content", "rejected_files"}
FILLED = {"target": "m31", "since": "2024-11-01", "reason": "FITS", "q": "M31", "processing_id": "m33-first-look"}


@pytest.mark.parametrize("name", sorted(queries()))
def test_every_canned_query_runs(demo_db, name):
    q = queries()[name]
    params = datasette_app.query_params(q["sql"])
    for given in [{}] + ([{p: FILLED[p] for p in params}] if params else []):
        rows = rows_of(demo_db, name, **given)
        # Datasette serves exactly what SQLite answers; a parameter left out is ''
        assert rows == sql_dicts(demo_db, q["sql"], {p: given.get(p, "") for p in params}), given
        if name in EMPTY_ON_THE_DEMO or (name in ("search", "search_advanced") and not given):
            assert rows == [], given
        else:
            assert rows, given


def test_integration_by_target_and_filter_matches_stats(demo_dir, demo_db):
    rows = rows_of(demo_db, "integration_by_target_filter")
    by_target = cli_json("stats", "by-target", cwd=demo_dir)
    assert len(by_target) == 7
    totals: dict[str, float] = defaultdict(float)
    frames: Counter = Counter()
    for r in rows:
        totals[r["target"]] += r["integration_s"]
        frames[r["target"]] += r["light_frames"]
        assert r["integration_h"] == round(r["integration_s"] / 3600, 2)
    assert set(totals) == {t["name"] for t in by_target}
    for t in by_target:
        assert totals[t["name"]] == pytest.approx(t["integration_s"], abs=0.01), t["name"]
        assert frames[t["name"]] == t["light_frames"]
    summary = cli_json("stats", "summary", cwd=demo_dir)
    assert sum(totals.values()) == pytest.approx(summary["integration_s"], abs=0.01)
    assert sum(frames.values()) == summary["light_frames"]
    # one target, any case; then one target and filter, as `stats summary` answers it
    m31 = rows_of(demo_db, "integration_by_target_filter", target="m31")
    assert {r["target"] for r in m31} == {"M31"} and {r["filter"] for r in m31} == {"L", "R", "G", "B", "Ha", "LP"}
    ha = cli_json("stats", "summary", "--target", "M31", "--filter", "Ha", cwd=demo_dir)
    (row,) = [r for r in m31 if r["filter"] == "Ha"]
    assert row["integration_s"] == pytest.approx(ha["integration_s"], abs=0.01) and row["integration_s"] > 0
    assert row["light_frames"] == ha["light_frames"] and row["nights"] == ha["nights"]
    assert rows_of(demo_db, "integration_by_target_filter", target="Vega") == []


def test_nights_per_month_matches_stats(demo_dir, demo_db):
    rows = {r["month"]: r for r in rows_of(demo_db, "nights_per_month")}
    by_month = cli_json("stats", "by-month", cwd=demo_dir)
    assert {m["name"] for m in by_month} <= set(rows)
    for m in by_month:
        assert rows[m["name"]]["integration_s"] == pytest.approx(m["integration_s"], abs=0.01)
        assert rows[m["name"]]["light_frames"] == m["light_frames"]
        assert rows[m["name"]]["imaging_nights"] == m["nights"]
    nights = dict(sql(demo_db, "SELECT substr(night, 1, 7), COUNT(DISTINCT night) FROM frames GROUP BY 1"))
    assert {k: r["nights"] for k, r in rows.items()} == nights
    assert list(rows) == sorted(rows, reverse=True)


def test_equipment_usage_matches_stats(demo_dir, demo_db):
    rows = {(r["camera"], r["telescope"]): r for r in rows_of(demo_db, "equipment_usage")}
    equipment = cli_json("stats", "equipment", cwd=demo_dir)
    assert len(rows) == len(equipment) > 5
    for e in equipment:
        r = rows[(e["camera"], e["telescope"])]
        assert (r["frames"], r["light_frames"], r["nights"]) == (e["frames"], e["light_frames"], e["nights"])
        assert r["integration_s"] == pytest.approx(e["integration_s"], abs=0.01)


def test_sessions_missing_calibration_agrees_with_a_plain_python_check(demo_dir, demo_db):
    frames = cli_json("list", "files", cwd=demo_dir)
    flats = {(f["session_id"], f["filter"] or "") for f in frames if f["frame_type"] == "flat"}
    darks = {(f["camera"], round(f["exposure_s"], 1)) for f in frames if f["frame_type"] == "dark"}
    want: dict[str, tuple[set, set]] = {}
    for f in frames:
        if f["frame_type"] != "light" or f["is_master"] or not f["session_id"]:
            continue
        no_flat = {f["filter"] or "(none)"} if (f["session_id"], f["filter"] or "") not in flats else set()
        no_dark = {round(f["exposure_s"], 1)} if (f["camera"], round(f["exposure_s"], 1)) not in darks else set()
        acc = want.setdefault(f["session_id"], (set(), set()))
        acc[0].update(no_flat)
        acc[1].update(no_dark)
    want = {k: v for k, v in want.items() if v[0] or v[1]}
    rows = rows_of(demo_db, "sessions_missing_calibration")
    got = {
        r["session_id"]: (
            set(filter(None, (r["filters_without_flats"] or "").split(","))),
            {float(x) for x in filter(None, (r["exposures_without_darks_s"] or "").split(","))},
        )
        for r in rows
    }
    assert got == want
    # the demo's SGP night has lights and flats but no darks; Night 1 is complete
    assert any(k.startswith("2024-11-02") and v == (set(), {60.0}) for k, v in got.items()), got
    assert not any(k.startswith("2024-10-03") for k in got)


def test_recent_activity_since(demo_dir, demo_db):
    all_rows = rows_of(demo_db, "recent_activity")
    sessions = cli_json("list", "sessions", cwd=demo_dir)
    assert [r["session_id"] for r in all_rows] == [s["id"] for s in sessions]
    recent = rows_of(demo_db, "recent_activity", since="2024-11-09")
    assert [r["night"] for r in recent] == sorted((s["night"] for s in sessions if s["night"] >= "2024-11-09"), reverse=True)
    assert 0 < len(recent) < len(all_rows) and all(r["last_scanned"] for r in recent)


def test_duplicates_and_rejects_after_a_real_rescan(demo_copy):
    q = demo_copy / "quarantine"
    original = sorted((demo_copy / "library").rglob("*.fits"))[0]  # the demo filed everything
    (q / "copies").mkdir()
    shutil.copy2(original, q / "copies" / "again.fits")
    (q / "broken.fits").write_bytes(b"this is not a FITS file at all" * 100)
    backdate(q / "broken.fits")  # past the demo library's [scan] settle_s
    r = invoke_cli("scan", cwd=demo_copy)
    assert r.returncode == 1, r.stdout + r.stderr  # 1: some files were rejected
    db = demo_copy / "catalog.db"
    dups = rows_of(db, "duplicate_content")
    want = cli_json("list", "duplicates", cwd=demo_copy)
    assert [(d["sha256"], d["copies"]) for d in dups] == [(w["sha256"], w["copies"]) for w in want] != []
    assert sorted(dups[0]["paths"].split(" | ")) == want[0]["paths"]
    assert dups[0]["extra_bytes"] == original.stat().st_size
    rejects = rows_of(db, "rejected_files")
    want_rejects = cli_json("list", "rejects", cwd=demo_copy)
    assert [(r["path"], r["reason"]) for r in rejects] == [(w["path"], w["reason"]) for w in want_rejects]
    assert rejects[0]["path"] == "quarantine/broken.fits"
    word = re.findall(r"[a-z]{4,}", rejects[0]["reason"].lower())[0]
    assert len(rows_of(db, "rejected_files", reason=word.upper())) == 1
    assert rows_of(db, "rejected_files", reason="zzz-no-such-reason") == []


# --- facets ----------------------------------------------------------------------------------


def test_frame_facets_count_like_sql(demo_db):
    (data,) = fetch(demo_db, "/catalog/frames.json?_size=0&_facet_size=max")
    results = data["facet_results"]
    assert sorted(results) == sorted(FACETS)
    for col in FACETS:
        got = {v["value"]: v["count"] for v in results[col]["results"]}
        want = dict(sql(demo_db, f"SELECT {col}, COUNT(*) FROM frames WHERE {col} IS NOT NULL GROUP BY {col}"))
        assert got == want and got, col
    # the demo's nights: July (remote), August (TheSkyX), October and November
    assert {m for (m,) in sql(demo_db, "SELECT DISTINCT month FROM frames")} == {"2024-07", "2024-08", "2024-10", "2024-11"}
    # a facet under a filter
    (data,) = fetch(demo_db, "/catalog/frames.json?_size=0&_facet_size=max&target=M31")
    got = {v["value"]: v["count"] for v in data["facet_results"]["filter"]["results"]}
    assert got == dict(sql(demo_db, "SELECT filter, COUNT(*) FROM frames WHERE target = 'M31' GROUP BY filter"))
    assert data["filtered_table_rows_count"] == sql(demo_db, "SELECT COUNT(*) FROM frames WHERE target = 'M31'")[0][0]


def test_session_array_facets(demo_dir, demo_db):
    (data,) = fetch(demo_db, "/catalog/sessions.json?_size=0&_facet_size=max")
    got = {v["value"]: v["count"] for v in data["facet_results"]["targets"]["results"]}
    want = Counter(t for s in cli_json("list", "sessions", cwd=demo_dir) for t in s["targets"])
    assert got == dict(want) and got["M31"] == 3


# --- full-text search ------------------------------------------------------------------------


def _search_ids(db: Path, table: str, term: str) -> tuple[set, list[dict]]:
    nocol = "&_nocol=header_json" if table == "frames" else ""
    (data,) = fetch(db, f"/catalog/{table}.json?{httpx.QueryParams({'_search': term})}&_size=max&_shape=objects{nocol}")
    assert data["filtered_table_rows_count"] == len(data["rows"])
    return {r["id"] for r in data["rows"]}, data["rows"]


@pytest.mark.parametrize("term,column,value", [("M31", "target", "M31"), ("OIII", "filter", "OIII"),
                                                ("NGC 7000", "target", "NGC 7000"), ("seestar", "camera", "Seestar S50")])
def test_search_finds_targets_filters_equipment(demo_db, term, column, value):
    ids, rows = _search_ids(demo_db, "frames", term)
    want = {r[0] for r in sql(demo_db, f"SELECT id FROM frames WHERE {column} = ?", (value,))}
    assert want and want <= ids
    for r in rows:  # every hit has every word of the search in an indexed column
        assert tokens(term) <= tokens(*(r[c] for c in FTS_COLUMNS)), r["path"]


def test_search_stems_and_ranks_in_the_canned_query(demo_db):
    # porter: "flats" finds paths with "Flat"; the canned query searches frames and notes
    rows = rows_of(demo_db, "search", q="flats")
    frames = [r for r in rows if r["kind"] == "frame"]  # the demo's notes may mention flats too
    assert frames and all("flat" in r["item"].lower() for r in frames)
    assert len(frames) == sql(demo_db, "SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'flat'")[0][0]
    notes = [r for r in rows if r["kind"] == "note"]
    assert len(notes) == sql(demo_db, "SELECT COUNT(*) FROM notes_fts WHERE notes_fts MATCH 'flat'")[0][0]
    assert rows_of(demo_db, "search", q="") == []


def _write_note(db: Path, note_id: str, text: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO notes (id, kind, key, path, user_text, updated_at) VALUES (?, 'session', ?, ?, ?, '2025-01-01T00:00:00Z') "
            "ON CONFLICT(id) DO UPDATE SET user_text = excluded.user_text",
            (note_id, note_id.split(":", 1)[1], f"sessions/{note_id.split(':', 1)[1]}.md", text),
        )
    conn.close()


def test_search_finds_note_text_and_follows_edits(demo_copy):
    db = demo_copy / "catalog.db"
    _write_note(db, "session:2024-10-05_ASI2600MM_Esprit100", "Seeing was poor; high clouds rolled in after midnight.")
    _write_note(db, "target:M42", "Try shorter subs for the Trapezium core.")
    ids, rows = _search_ids(db, "notes", "cloud")  # porter: cloud ~ clouds
    assert [r["key"] for r in rows] == ["2024-10-05_ASI2600MM_Esprit100"]
    hits = rows_of(db, "search", q="midnight")
    (note_path,) = sql(db, "SELECT path FROM notes WHERE id = 'session:2024-10-05_ASI2600MM_Esprit100'")[0]
    assert [(h["kind"], h["item"]) for h in hits] == [("note", note_path)]
    assert "[midnight]" in hits[0]["match"]
    # the UPDATE trigger: the old words go, the new ones come
    _write_note(db, "session:2024-10-05_ASI2600MM_Esprit100", "Transparent sky, perfect tracking after the zanzibar belt mod.")
    assert _search_ids(db, "notes", "clouds")[0] == set()
    assert len(_search_ids(db, "notes", "zanzibar")[0]) == 1
    # the DELETE trigger
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM notes WHERE id = 'session:2024-10-05_ASI2600MM_Esprit100'")
        assert conn.execute("SELECT COUNT(*) FROM notes_fts WHERE notes_fts MATCH 'zanzibar'").fetchone()[0] == 0
        conn.execute("INSERT INTO notes_fts(notes_fts, rank) VALUES ('integrity-check', 1)")
    conn.close()
    assert len(_search_ids(db, "notes", "trapezium")[0]) == 1


def test_insert_or_replace_keeps_the_index_in_step(demo_copy):
    # sqlite-utils' insert(..., replace=True) is INSERT OR REPLACE: the catalog connection
    # turns on recursive_triggers so the replaced row leaves the index too
    db = catalog.open_catalog(demo_copy / "catalog.db")
    try:
        assert db.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
        note = {"id": "target:M31", "kind": "target", "key": "M31", "path": "targets/M31.md",
                "user_text": "Dust lanes need more Ha.", "updated_at": "2025-01-01T00:00:00Z"}
        with db.conn:
            db["notes"].insert(note, pk="id", replace=True)
            db["notes"].insert({**note, "user_text": "Satellite trails everywhere."}, pk="id", replace=True)
        hits = lambda q: db.execute("SELECT COUNT(*) FROM notes_fts WHERE notes_fts MATCH ?", (q,)).fetchone()[0]
        assert (hits("dust"), hits("satellite"), hits("M31")) == (0, 1, 1)
        db.execute("INSERT INTO notes_fts(notes_fts, rank) VALUES ('integrity-check', 1)")
        with db.conn:
            frame = db.execute("SELECT * FROM frames WHERE target = 'M17' LIMIT 1").fetchone()
            cols = [d[0] for d in db.execute("SELECT * FROM frames LIMIT 0").description if d[0] != "month"]
            row = dict(zip(cols, frame))
            db["frames"].insert({**row, "target": "Omega Nebula"}, pk="id", replace=True)
        assert db.execute("SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'omega'").fetchone()[0] == 1
        db.execute("INSERT INTO frames_fts(frames_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        db.conn.close()


def test_upsert_fires_the_update_trigger(demo_copy):
    db = catalog.open_catalog(demo_copy / "catalog.db")
    try:
        (frame,) = catalog.list_frames(db, catalog.FrameFilter(target="M57"), limit=1)
        row = {**frame, "target": "NGC 6888", "object": "Crescent Nebula"}
        with db.conn:
            catalog.upsert_frames(db, [row])  # INSERT ... ON CONFLICT(path) DO UPDATE
        def match(q):
            return {r[0] for r in db.execute("SELECT rowid FROM frames_fts WHERE frames_fts MATCH ?", (q,))}
        assert match("crescent") == {frame["id"]}
        assert match('"NGC 6888"') == {frame["id"]}
        assert frame["id"] in match("M57")  # its path still says M57
        assert frame["id"] not in match("target: M57")
        assert len(match("target: M57")) == sql(demo_copy / "catalog.db", "SELECT COUNT(*) FROM frames WHERE target = 'M57'")[0][0]
        with db.conn:
            db.execute("DELETE FROM frames WHERE id = ?", (frame["id"],))
        assert match("crescent") == set()
        db.execute("INSERT INTO frames_fts(frames_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        db.conn.close()


def test_scan_keeps_search_in_step(demo_copy):
    settings = load(demo_copy / "astrocat.toml")
    src = sorted((demo_copy / "library").rglob("*.fits"))[0]
    from astropy.io import fits

    with fits.open(src) as hdul:
        cards = [(c.keyword, c.value, c.comment) for c in hdul[0].header.cards
                 if c.keyword not in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BZERO", "BSCALE", "")]
        data = hdul[0].data.copy()
    cards = [(k, "Veil Nebula" if k == "OBJECT" else v, c) for k, v, c in cards]
    if not any(k == "OBJECT" for k, _, _ in cards):
        cards.append(("OBJECT", "Veil Nebula", ""))
    (settings.quarantine / "new").mkdir()
    write_fits(settings.quarantine / "new" / "veil_001.fits", cards, data)
    backdate(settings.quarantine / "new" / "veil_001.fits")  # past the demo library's [scan] settle_s
    r = invoke_cli("scan", "--json", cwd=demo_copy)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["new"] == 1
    ids, rows = _search_ids(demo_copy / "catalog.db", "frames", "veil")
    assert [r["path"] for r in rows] == ["quarantine/new/veil_001.fits"]
    conn = sqlite3.connect(demo_copy / "catalog.db")
    conn.execute("INSERT INTO frames_fts(frames_fts, rank) VALUES ('integrity-check', 1)")
    conn.close()


def test_migration_indexes_frames_already_cataloged(tmp_path, monkeypatch, demo_db):
    # a catalog written before search existed (migrations 1-2), holding the demo's frames
    old = tmp_path / "old.db"
    early = [m for m in features.migrations() if m[0] < 4]
    monkeypatch.setattr(features, "migrations", lambda: early)
    db = catalog.open_catalog(old)
    # the columns of that era: later migrations add their own (6: original_name, 9: rotator_deg)
    cols = [c for c in catalog_frames._WRITE_COLS if c not in ("original_name", "rotator_deg")]
    rows = sql(demo_db, f"SELECT {', '.join(cols)} FROM frames")
    with db.conn:
        db["frames"].insert_all([dict(zip(cols, r)) for r in rows])
    assert not db["frames_fts"].exists()
    db.conn.close()
    monkeypatch.undo()
    db = catalog.open_catalog(old)  # runs migration 4
    try:
        assert catalog.schema_version(db) >= 4
        m31 = db.execute("SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'M31'").fetchone()[0]
        assert m31 == sql(demo_db, "SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'M31'")[0][0] > 0
        # a wiped index comes back with rebuild_fts
        with db.conn:
            db.execute("INSERT INTO frames_fts(frames_fts) VALUES ('delete-all')")
        assert db.execute("SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'M31'").fetchone()[0] == 0
        with db.conn:
            catalog.rebuild_fts(db)
        assert db.execute("SELECT COUNT(*) FROM frames_fts WHERE frames_fts MATCH 'M31'").fetchone()[0] == m31
        assert db.execute("SELECT COUNT(DISTINCT month) FROM frames").fetchone()[0] == 4
    finally:
        db.conn.close()


def test_update_catalog_migrates_an_old_catalog_before_serving(tmp_path, monkeypatch):
    path = tmp_path / "catalog.db"
    early = [m for m in features.migrations() if m[0] < 4]
    monkeypatch.setattr(features, "migrations", lambda: early)
    catalog.open_catalog(path).conn.close()
    monkeypatch.undo()
    with pytest.raises(datasette_app.DatasetteError):
        datasette_app.prepare(path)  # no month column, no search tables yet
    datasette_app.update_catalog(path)
    assert datasette_app.prepare(path)[0] == "catalog"
    assert sql(path, "SELECT MAX(version) FROM schema_version")[0][0] == features.latest_migration()


# --- links for the site ----------------------------------------------------------------------


def test_links_land_on_the_matching_rows(demo_db):
    base = "http://127.0.0.1:8001"
    url = datasette_app.frames_url(base, "catalog", target="NGC 7000", filter="OIII", frame_type="light")
    assert url == ("http://127.0.0.1:8001/catalog/frames?target=NGC+7000&filter=OIII&frame_type=light"
                   "&_nocol=header_json")
    (sid,) = sql(demo_db, "SELECT id FROM sessions WHERE night = '2024-10-03'")[0]
    session = datasette_app.session_frames_url(base, "catalog", sid)
    query = datasette_app.query_url(base, "catalog", "integration_by_target_filter", target="M31")
    frames, sess, integ = fetch(demo_db, *(_path(u).replace("?", ".json?", 1) for u in (url, session, query)))
    assert frames["filtered_table_rows_count"] == sql(
        demo_db, "SELECT COUNT(*) FROM frames WHERE target = 'NGC 7000' AND filter = 'OIII' AND frame_type = 'light'")[0][0] == 12
    assert sess["filtered_table_rows_count"] == sql(demo_db, "SELECT frames FROM sessions WHERE id = ?", (sid,))[0][0]
    facet = {v["value"]: v["count"] for v in sess["facet_results"]["frame_type"]["results"]}
    assert facet == {"light": 54, "flat": 24, "dark": 10, "bias": 10, "darkflat": 6}
    assert {r[0] for r in integ["rows"]} == {"M31"}
    assert datasette_app.table_url(base + "/", "cat", "frames") == "http://127.0.0.1:8001/cat/frames"
    # Datasette's own escaping for names with dots (catalog file "astro.v2.db")
    assert datasette_app.query_url(base, "astro.v2", "search", q="M31") == "http://127.0.0.1:8001/astro~2Ev2/search?q=M31"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def test_server_defaults_and_command_line(library):
    assert datasette_app.address_from_url("http://127.0.0.1:8001") == ("127.0.0.1", 8001)
    assert datasette_app.address_from_url("http://localhost") == ("localhost", 8001)
    assert datasette_app.address_from_url("http://[::1]:9000/") == ("::1", 9000)
    cmd = datasette_app.serve_command(library.catalog, Path("/tmp/m.json"), "127.0.0.1", 8123)
    assert cmd[:4] == [sys.executable, "-m", "datasette", "serve"]
    assert "-i" not in cmd and "--immutable" not in cmd and "--open" not in cmd
    assert cmd[cmd.index("--port") + 1] == "8123" and cmd[cmd.index("--metadata") + 1] == "/tmp/m.json"
    assert ["--setting", "suggest_facets", "off"] == cmd[cmd.index("suggest_facets") - 1: cmd.index("suggest_facets") + 2]
    assert "--open" in datasette_app.serve_command(library.catalog, Path("m.json"), "::1", 1, open_browser=True)
    renamed = datasette_app.load_metadata("mycat")
    assert "mycat" in renamed["databases"] and "catalog" not in renamed["databases"]


def test_a_catalog_with_another_name_gets_the_metadata(demo_db, tmp_path):
    other = tmp_path / "astro.db"
    src = sqlite3.connect(f"file:{demo_db}?mode=ro", uri=True)
    dst = sqlite3.connect(other)
    src.backup(dst)
    src.close()
    dst.close()
    name, md = datasette_app.prepare(other)
    assert name == "astro" and list(md["databases"]) == ["astro"]
    (data,) = fetch(other, "/astro/frames.json?_size=0")
    assert sorted(data["facet_results"]) == sorted(FACETS)
    (rows,) = fetch(other, "/astro/integration_by_target_filter.json?_shape=array&target=M31")
    assert len(rows) == 6


def test_prepare_refuses_metadata_the_catalog_cannot_serve(library):
    db = catalog.open_catalog(library.catalog)
    with db.conn:
        db.execute("DROP INDEX idx_frames_month")
        db.execute("ALTER TABLE frames DROP COLUMN month")  # a catalog from another astrocat
    db.conn.close()
    with pytest.raises(datasette_app.DatasetteError, match=r"metadata.yml: table frames: .*'month'"):
        datasette_app.prepare(library.catalog)


# --- the real command, as a process ----------------------------------------------------------


def _start(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ASTROCAT_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "astrocat", "datasette", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.stdout.read()} {proc.stderr.read()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not up after {timeout} s")


def test_astrocat_datasette_serves_the_catalog_read_only(demo_copy):
    db = demo_copy / "catalog.db"
    conn = sqlite3.connect(db)
    with conn:  # wipe the search index: --rebuild-search must bring it back
        conn.execute("INSERT INTO frames_fts(frames_fts) VALUES ('delete-all')")
    conn.close()
    frames_before = sql(db, "SELECT COUNT(*) FROM frames")[0][0]
    # what the rebuilt index must find for M31: every frame with the word in an indexed column
    m31 = sum(1 for row in sql(db, f"SELECT {', '.join(FTS_COLUMNS)} FROM frames") if "m31" in tokens(*row))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(demo_copy, "--port", str(port), "--rebuild-search")
    try:
        _wait_ready(proc, f"{base}/catalog.json")
        html = httpx.get(f"{base}/catalog/frames?_facet=month").text
        assert "Your own data; astrocat is MIT-licensed" in html and "2024-11" in html
        found = httpx.get(f"{base}/catalog/frames.json", params={"_search": "M31", "_size": "0"}).json()
        assert found["filtered_table_rows_count"] == m31 > 89  # 89 M31 lights, and the calibration filed with them
        integ = httpx.get(f"{base}/catalog/integration_by_target_filter.json", params={"_shape": "array"}).json()
        assert len(integ) == 16
        # read-only: Datasette refuses writes, and its connections are mode=ro anyway
        r = httpx.get(f"{base}/catalog.json", params={"sql": "DELETE FROM frames"})
        assert r.status_code == 400
        r = httpx.get(f"{base}/catalog.json", params={"sql": "select count(*) from frames", "_shape": "array"})
        assert r.json() == [{"count(*)": frames_before}]
        settings = httpx.get(f"{base}/-/settings.json").json()
        assert settings["suggest_facets"] is False and settings["max_returned_rows"] == 5000
        dbs = httpx.get(f"{base}/-/databases.json").json()
        assert dbs[0]["is_mutable"] is True  # plain file + mode=ro, not -i (see docs/datasette.md)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: astrocat stops its Datasette and exits 0
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"Datasette on {base}/catalog" in out
    with socket.socket() as s:  # the server process is gone with it
        s.bind(("127.0.0.1", port))
    assert sql(db, "SELECT COUNT(*) FROM frames")[0][0] == frames_before


def test_sigterm_stops_datasette_too(demo_dir):
    port = free_port()
    proc = _start(demo_dir, "--port", str(port))
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}/-/versions.json")
    finally:
        proc.terminate()  # SIGTERM, as `kill` or systemd would
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    with socket.socket() as s:  # Datasette went with it: the port is free again
        s.bind(("127.0.0.1", port))


def test_astrocat_datasette_refuses_a_busy_port(demo_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = invoke_cli("datasette", "--port", str(port), cwd=demo_dir)
    assert r.returncode == 2
    assert f"127.0.0.1:{port}: already in use" in r.stderr


def test_astrocat_datasette_without_a_catalog(library, tmp_path):
    assert not library.catalog.exists()  # write_default makes no catalog; scan would
    r = invoke_cli("datasette", cwd=library.base_dir)
    assert r.returncode == 4 and "no catalog yet" in r.stderr
    library.catalog.write_bytes(b"not a database, just bytes" * 200)
    r = invoke_cli("datasette", cwd=library.base_dir)
    assert r.returncode == 4 and "not an SQLite database" in r.stderr


def test_demo_suggests_datasette(demo_dir):
    lines = (demo_dir.parent / "demo-stdout.txt").read_text().splitlines()  # the real `astrocat demo`'s
    assert "  astrocat datasette --open" in lines
    assert lines[-1] == "  astrocat datasette --open"
