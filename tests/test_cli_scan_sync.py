"""`astrocat scan` and `astrocat sync` through the one pipeline: what they report and
their exit codes. In-process, on a fresh library with real FITS files."""

from __future__ import annotations

import json
import sqlite3

from conftest import invoke_cli
from organize_util import write_frames

from astrocat.config import Settings


def test_scan_exits_1_when_an_interrupted_move_cannot_be_recovered(library: Settings) -> None:
    """organize journaled a move and was killed; then the frame was deleted by hand. Neither
    the source nor a copy is left: scan, which finishes interrupted moves first, says so
    with a non-zero exit code."""
    frames = write_frames(library.quarantine / "tonight", 2)
    assert invoke_cli("scan", "-q", cwd=library.base_dir).returncode == 0
    src = sorted(frames)[0]
    rel = library.rel(src)
    con = sqlite3.connect(library.catalog)
    with con:
        fid, sha, size = con.execute("SELECT id, sha256, size FROM frames WHERE path = ?", [rel]).fetchone()
        con.execute(
            "INSERT INTO moves (frame_id, kind, method, src, dst, tmp, sha256, size, state, started_at) "
            "VALUES (?, 'file', 'copy', ?, 'library/2024/m31.fits', 'library/2024/.m31.fits.tmp', ?, ?, 'planned', "
            "'2024-11-02T03:00:00Z')", [fid, rel, sha, size])
    con.close()
    (library.base_dir / rel).unlink()

    r = invoke_cli("scan", "--json", cwd=library.base_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert [p["path"] for p in report["recovered"]["problems"]] == [rel]
    assert report["rejected"] == 0 and report["missing"] == 1
    # recorded as failed: the next scan has nothing left to recover
    r = invoke_cli("scan", cwd=library.base_dir)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_scan_prints_the_unrecoverable_move_as_one_error_line(library: Settings) -> None:
    frames = write_frames(library.quarantine / "tonight", 1)
    assert invoke_cli("scan", "-q", cwd=library.base_dir).returncode == 0
    rel = library.rel(next(iter(frames)))
    con = sqlite3.connect(library.catalog)
    with con:
        con.execute(
            "INSERT INTO moves (kind, method, src, dst, sha256, size, state, started_at) "
            "VALUES ('file', 'copy', ?, 'library/x.fits', ?, 1, 'planned', '2024-11-02T03:00:00Z')",
            [rel, "0" * 64])
    con.close()
    (library.base_dir / rel).unlink()
    r = invoke_cli("scan", cwd=library.base_dir)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and rel in errors[0] and "interrupted move" in errors[0], r.stderr
    assert "recovered 1 interrupted move" in r.stdout


def test_sync_reports_whether_it_changed_anything(library: Settings) -> None:
    write_frames(library.quarantine / "tonight", 2)
    r = invoke_cli("sync", "--json", cwd=library.base_dir)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert first["changed"] is True and first["scan"]["new"] == 2 and first["organize"]["moved"] == 2
    second = json.loads(invoke_cli("sync", "--json", cwd=library.base_dir).stdout)
    assert second["changed"] is False and second["ok"] is True


def test_quiet_sync_speaks_when_something_is_rejected(library: Settings) -> None:
    write_frames(library.quarantine / "tonight", 1)
    (library.quarantine / "tonight" / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b"\0" * 10)
    r = invoke_cli("sync", "--quiet", cwd=library.base_dir)
    assert r.returncode == 1
    assert "rejected quarantine/tonight/broken.fits" in r.stdout and "sync: 1 new" in r.stdout, r.stdout
