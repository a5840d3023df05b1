"""A damaged, locked, newer or full catalog: one clear line and the right exit code, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat import catalog
from astrocat.checks.verify import verify_database
from astrocat.config import load
from conftest import backdate, invoke_cli, need
from organize_util import tmpfs

COMMANDS = [("list", "files"), ("list", "sessions"), ("stats", "summary"), ("scan",), ("notes",),
            ("build", "--no-thumbnails"), ("organize", "--dry-run"), ("verify", "files", "--quick")]


def _one_clean_line(r) -> str:
    assert "Traceback" not in r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_random_bytes_are_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(os.urandom(16384))
    for readonly in (False, True):
        with pytest.raises(catalog.CatalogError, match="not an SQLite database"):
            catalog.open_catalog(path, readonly=readonly)
    assert path.stat().st_size == 16384  # left as it was


def test_commands_on_random_bytes_exit_4(demo_copy: Path) -> None:
    junk = os.urandom(65536)
    for args in COMMANDS:
        (demo_copy / "catalog.db").write_bytes(junk)
        for extra in ("catalog.db-wal", "catalog.db-shm"):
            (demo_copy / extra).unlink(missing_ok=True)
        r = invoke_cli(*args, cwd=demo_copy)
        assert r.returncode == 4, (args, r.stdout + r.stderr)
        assert "not an SQLite database" in _one_clean_line(r), args
        assert (demo_copy / "catalog.db").read_bytes() == junk, f"{args} changed the file"


def _damage_pages(db_path: Path) -> None:
    """Overwrite pages in the middle of the file (the header and schema page stay)."""
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    size = db_path.stat().st_size
    with open(db_path, "r+b") as f:
        for start in range(page * 3, size - page, page * 2):
            f.seek(start)
            f.write(os.urandom(page))


def test_commands_on_damaged_pages_exit_4_in_one_line(demo_copy: Path) -> None:
    path = demo_copy / "catalog.db"
    _damage_pages(path)
    damaged = path.read_bytes()
    for args in COMMANDS:
        path.write_bytes(damaged)  # each command meets the same damage
        for extra in ("catalog.db-wal", "catalog.db-shm"):
            (demo_copy / extra).unlink(missing_ok=True)
        r = invoke_cli(*args, cwd=demo_copy)
        assert r.returncode == 4, (args, r.stdout + r.stderr)
        assert "catalog" in _one_clean_line(r), args


def test_verify_database_reports_a_damaged_file(demo_copy: Path) -> None:
    _damage_pages(demo_copy / "catalog.db")
    settings = load(demo_copy / "astrocat.toml")
    con = sqlite3.connect(settings.catalog)
    rep = verify_database(catalog.sqlite_utils.Database(con), settings)
    con.close()
    assert not rep["clean"] and rep["checks"]["integrity"] == "failed"


def test_verify_database_never_says_ok_for_a_check_it_could_not_run(library, monkeypatch) -> None:
    from astrocat import features

    def fine(db, settings, add):
        pass

    def breaks(db, settings, add):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(features, "checks", lambda: [(("first",), fine), (("second",), breaks), (("third",), fine)])
    db = catalog.open_catalog(library.catalog)
    rep = verify_database(db, library)
    db.conn.close()
    assert rep["checks"] == {"integrity": "failed", "foreign_keys": "ok", "schema": "ok", "first": "ok",
                             "second": "not run", "third": "not run"}
    assert not rep["clean"]


def test_a_newer_catalog_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    db = catalog.open_catalog(path)
    with db.conn:
        db.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 'x')")
    db.conn.close()
    for readonly in (False, True):
        with pytest.raises(catalog.CatalogError, match=r"written by a newer astrocat \(schema 99"):
            catalog.open_catalog(path, readonly=readonly)


def test_cli_refuses_a_newer_catalog_with_exit_4(demo_copy: Path) -> None:
    con = sqlite3.connect(demo_copy / "catalog.db")
    con.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 'x')")
    con.commit()
    con.close()
    for args in (("list", "files"), ("scan",)):
        r = invoke_cli(*args, cwd=demo_copy)
        assert r.returncode == 4
        assert "newer astrocat (schema 99" in _one_clean_line(r)


def test_a_catalog_locked_by_another_client_exits_3(demo_copy: Path, monkeypatch) -> None:
    monkeypatch.setattr(catalog.db, "BUSY_TIMEOUT_S", 0.5)
    # a new frame, so the scan has something to write (a scan with nothing new only reads,
    # which WAL allows beside another client's write transaction)
    new = demo_copy / "quarantine" / "new_light.fits"
    fits.PrimaryHDU(np.zeros((4, 4), dtype=np.uint16),
                    fits.Header([("IMAGETYP", "LIGHT"), ("EXPTIME", 60.0), ("DATE-OBS", "2024-12-01T21:00:00")])
                    ).writeto(new)
    backdate(new)
    holder = sqlite3.connect(demo_copy / "catalog.db", check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        r = invoke_cli("scan", cwd=demo_copy)
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "another program is using the catalog" in _one_clean_line(r)
    assert elapsed < 20


def test_a_full_disk_under_the_catalog_says_so(tmp_path: Path, library) -> None:
    mount = tmp_path / "small"
    with tmpfs(mount, "2m") as ok:
        need(ok, "needs root to mount a tmpfs")
        cat_path = mount / "catalog.db"
        cfg = library.config_path
        text = cfg.read_text(encoding="utf-8").replace('catalog = "catalog.db"', f'catalog = "{cat_path}"')
        assert str(cat_path) in text
        cfg.write_text(text, encoding="utf-8")
        catalog.open_catalog(cat_path).conn.close()
        filler = mount / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        for i in range(40):
            hdu = fits.PrimaryHDU(np.zeros((8, 8), dtype=np.uint16))
            hdu.header["IMAGETYP"] = "LIGHT"
            hdu.header["OBJECT"] = f"M{i + 1} with a long name to fill pages " + "x" * 40
            hdu.header["EXPTIME"] = 60.0
            hdu.header["DATE-OBS"] = f"2024-10-0{1 + i % 9}T21:00:00"
            (library.quarantine / f"f{i}.fits").parent.mkdir(parents=True, exist_ok=True)
            hdu.writeto(library.quarantine / f"f{i}.fits")
            past = time.time() - 3600
            os.utime(library.quarantine / f"f{i}.fits", (past, past))
        before = cat_path.read_bytes()
        r = invoke_cli("scan", cwd=library.base_dir)
        assert r.returncode == 4, r.stdout + r.stderr
        assert "the disk holding the catalog is full" in _one_clean_line(r)
        filler.unlink()
        con = sqlite3.connect(cat_path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        assert len(before) > 0
