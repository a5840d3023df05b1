"""`astrocat organize`: real FITS files, a real catalog, real processes and filesystems."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from astrocat import catalog
from astrocat import library
from astrocat.config import Settings
from astrocat.ingest.scan import scan
from astrocat.library.move import _Mover
from astrocat.lock import catalog_lock
from conftest import ROOT, invoke_cli, run_cli
from organize_util import (all_files, can_mount, other_filesystem, set_paths, set_pattern, sha256, tmpfs,
                           write_frame, write_frames)


def frames(base: Path) -> dict[int, tuple[str, str, str]]:
    con = sqlite3.connect(base / "catalog.db")
    try:
        return {i: (p, s, loc) for i, p, s, loc in con.execute("SELECT id, path, sha256, location FROM frames")}
    finally:
        con.close()


def snapshot(*roots: Path) -> dict[str, tuple[str, int]]:
    return {str(f): (sha256(f), f.stat().st_mtime_ns) for f in all_files(*roots)}


def stderr_lines(r) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.strip()]


@pytest.fixture
def lib(library: Settings) -> Settings:
    """The `library` fixture with 6 lights (2 filters) and 2 darks in quarantine, scanned."""
    q = library.quarantine
    write_frames(q / "NINA" / "2024-11-01" / "LIGHT", 4)
    write_frames(q / "NINA" / "2024-11-01" / "HA", 2, start=10, FILTER="Ha", EXPTIME=300.0)
    for i in range(2):
        write_frame(q / "NINA" / "2024-11-01" / "DARK" / f"dark_{i}.fits", 100 + i, IMAGETYP="DARK",
                    OBJECT=None, FILTER=None)
    db = catalog.open_catalog(library.catalog)
    try:
        assert scan(db, library).new == 8
    finally:
        db.conn.close()
    return library


def test_organize_files_frames_by_the_pattern_and_keeps_catalog_rows(lib: Settings) -> None:
    base = lib.base_dir
    before = frames(base)
    mtimes = {sha: f.stat().st_mtime for f in all_files(lib.quarantine) for sha in [sha256(f)]}
    r = invoke_cli("organize", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "organized 8 frames" in r.stdout
    after = frames(base)
    assert set(after) == set(before), "rows are updated in place, not added"
    for fid, (path, sha, loc) in after.items():
        assert loc == "library" and path.startswith("library/2024/2024-11-01_M31/")
        assert sha == before[fid][1]
        assert sha256(base / path) == sha
        assert (base / path).stat().st_mtime == mtimes[sha], "mtime preserved"
    paths = sorted(p for p, _, _ in after.values())
    assert "library/2024/2024-11-01_M31/Light/M31_L_180s_0001.fits" in paths
    assert "library/2024/2024-11-01_M31/Light/M31_Ha_300s_0002.fits" in paths
    assert "library/2024/2024-11-01_M31/Dark/Dark_180s_0001.fits" in paths
    assert not all_files(lib.quarantine)
    # a scan afterwards sees nothing new and nothing missing; list shows library paths
    r = invoke_cli("scan", "--json", cwd=base)
    s = json.loads(r.stdout)
    assert (s["new"], s["missing"], s["changed"], s["unchanged"]) == (0, 0, 0, 8)
    r = invoke_cli("list", "files", "--json", cwd=base)
    assert all(f["path"].startswith("library/") for f in json.loads(r.stdout))
    # the journal holds one finished move per frame
    con = sqlite3.connect(base / "catalog.db")
    assert con.execute("SELECT state, kind, method, COUNT(*) FROM moves GROUP BY 1, 2, 3").fetchall() == [
        ("done", "file", "link", 8)
    ]
    con.close()
    # nothing left to do
    r = invoke_cli("organize", "--dry-run", "--json", cwd=base)
    assert json.loads(r.stdout)["plan"] == []


def test_dry_run_prints_the_plan_and_changes_nothing(lib: Settings) -> None:
    base = lib.base_dir
    before_files = snapshot(lib.quarantine, lib.library)
    before_rows = frames(base)
    r = invoke_cli("organize", "--dry-run", "--json", cwd=base)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dry_run"] is True and out["moved"] == 0
    plan = out["plan"]
    assert len(plan) == 8 and {p["action"] for p in plan} == {"file"}
    assert all(p["destination"].startswith("library/2024/2024-11-01_M31/") and p["method"] == "link" for p in plan)
    r = invoke_cli("organize", "--dry-run", cwd=base)
    assert r.returncode == 0 and "dry run: nothing changed" in r.stdout
    assert "M31_L_180s_0001.fits" in r.stdout
    assert snapshot(lib.quarantine, lib.library) == before_files
    assert frames(base) == before_rows
    assert not any(lib.library.iterdir()), "not even a folder is created"


def test_a_name_collision_takes_the_next_sequence_and_never_overwrites(lib: Settings) -> None:
    base = lib.base_dir
    folder = lib.library / "2024" / "2024-11-01_M31" / "Light"
    folder.mkdir(parents=True)
    stranger = folder / "M31_L_180s_0001.fits"  # not cataloged: someone put it there
    stranger_sha = write_frame(stranger, 999, OBJECT="Someone else")
    other_ext = folder / "m31_l_180s_0002.FIT"
    other_sha = write_frame(other_ext, 998)
    r = invoke_cli("organize", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha256(stranger) == stranger_sha and sha256(other_ext) == other_sha
    names = sorted(p.name for p in folder.iterdir() if "_L_" in p.name or "_l_" in p.name)
    assert names == ["M31_L_180s_0001.fits", "M31_L_180s_0003.fits", "M31_L_180s_0004.fits",
                     "M31_L_180s_0005.fits", "M31_L_180s_0006.fits", "m31_l_180s_0002.FIT"]


def test_the_move_refuses_a_destination_that_appeared_after_planning(lib: Settings) -> None:
    """The no-overwrite guarantee holds in the move itself, not only in the plan."""
    db = catalog.open_catalog(lib.catalog)
    try:
        p = library.plan(db, lib)
        item = p.moves[0]
        dst = lib.abs(item.dst)
        dst.parent.mkdir(parents=True)
        squatter = write_frame(dst, 777, OBJECT="squatter")
        result = library.OrganizeResult(plan=p)
        _Mover(db, lib, result, None, time.perf_counter()).run(p.moves)
    finally:
        db.conn.close()
    assert sha256(dst) == squatter
    assert result.failed == [{"path": item.src, "reason": f"destination exists: {dst}; never overwritten"}]
    assert lib.abs(item.src).exists()
    assert result.moved == len(p.moves) - 1


def test_content_already_in_the_library_goes_to_duplicates_and_is_only_deleted_with_confirm(lib: Settings) -> None:
    base = lib.base_dir
    original = sha256(lib.quarantine / "NINA" / "2024-11-01" / "LIGHT" / "M31_L_180.00s_0000.fits")
    assert invoke_cli("organize", cwd=base).returncode == 0
    filed = lib.library / "2024" / "2024-11-01_M31" / "Light" / "M31_L_180s_0001.fits"
    assert sha256(filed) == original
    # the same frame arrives again (twice: also a duplicate within one run)
    again = lib.quarantine / "again" / "copy 1.fits"
    again.parent.mkdir(parents=True)
    again.write_bytes(filed.read_bytes())
    (lib.quarantine / "again" / "copy2.fits").write_bytes(filed.read_bytes())
    twin_a = lib.quarantine / "twins" / "a.fits"
    twin_sha = write_frame(twin_a, 500)
    (lib.quarantine / "twins" / "b.fits").write_bytes(twin_a.read_bytes())
    assert invoke_cli("scan", "-q", cwd=base).returncode == 0
    r = invoke_cli("organize", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "duplicate quarantine/again/copy 1.fits" in r.stdout and "moved to quarantine/_duplicates/again/copy_1.fits" in r.stdout
    dups = sorted(str(p.relative_to(lib.quarantine)) for p in all_files(lib.quarantine))
    assert dups == ["_duplicates/again/copy2.fits", "_duplicates/again/copy_1.fits", "_duplicates/twins/b.fits"]
    assert sum(1 for f in all_files(lib.library) if sha256(f) == twin_sha) == 1
    # the duplicates stay cataloged in quarantine and are not filed again
    r = invoke_cli("scan", "--json", cwd=base)
    assert json.loads(r.stdout)["new"] == 0
    r = invoke_cli("organize", "--dry-run", "--json", cwd=base)
    assert json.loads(r.stdout)["plan"] == []
    # purge without --confirm deletes nothing
    r = invoke_cli("purge-duplicates", cwd=base)
    assert r.returncode == 0 and "would delete" in r.stdout
    assert len(all_files(lib.quarantine)) == 3
    # a duplicate whose library copy changed is kept even with --confirm
    twin_lib = next(f for f in all_files(lib.library) if sha256(f) == twin_sha)
    data = bytearray(twin_lib.read_bytes())
    data[-1] ^= 1
    twin_lib.write_bytes(bytes(data))
    r = invoke_cli("purge-duplicates", "--confirm", "--json", cwd=base)
    out = json.loads(r.stdout)
    assert r.returncode == 1
    assert [d["path"] for d in out["deleted"]] == ["quarantine/_duplicates/again/copy2.fits",
                                                   "quarantine/_duplicates/again/copy_1.fits"]
    assert out["kept"][0]["path"] == "quarantine/_duplicates/twins/b.fits"
    assert [str(p.relative_to(lib.quarantine)) for p in all_files(lib.quarantine)] == ["_duplicates/twins/b.fits"]
    assert sha256(filed) == original  # the library copy is untouched
    assert sum(1 for p, _, _ in frames(base).values() if "_duplicates" in p) == 1


def test_relayout_refiles_the_library_after_a_pattern_change(lib: Settings) -> None:
    base = lib.base_dir
    assert invoke_cli("organize", cwd=base).returncode == 0
    ids_before = {sha: fid for fid, (_, sha, _) in frames(base).items()}
    set_pattern(lib.config_path, "{target}/{filter}/{night}/{frame_type}_{exposure}_{seq}")
    # a normal organize never moves library frames
    r = invoke_cli("organize", "--dry-run", "--json", cwd=base)
    assert json.loads(r.stdout)["plan"] == []
    r = invoke_cli("organize", "--relayout", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "re-filed 8 frames" in r.stdout
    rows = frames(base)
    assert {sha: fid for fid, (_, sha, _) in rows.items()} == ids_before
    paths = sorted(p for p, _, _ in rows.values())
    assert "library/M31/L/2024-11-01/Light_180s_0001.fits" in paths
    assert "library/M31/NoFilter/2024-11-01/Dark_180s_0001.fits" in paths
    for p, sha, _ in rows.values():
        assert sha256(base / p) == sha
    assert not (lib.library / "2024").exists(), "emptied folders are pruned"
    r = invoke_cli("organize", "--relayout", "--dry-run", "--json", cwd=base)
    assert json.loads(r.stdout)["plan"] == [], "relayout is idempotent"
    r = invoke_cli("scan", "--json", cwd=base)
    assert json.loads(r.stdout)["missing"] == 0


def test_bad_naming_pattern_is_a_usage_error(lib: Settings) -> None:
    set_pattern(lib.config_path, "{year}/{planet}_{seq}")
    r = invoke_cli("organize", cwd=lib.base_dir)
    assert r.returncode == 2
    assert "unknown token {planet}" in r.stderr and "naming_pattern" in r.stderr


def test_calibration_of_a_night_without_lights_waits_then_goes_to_calibration(library: Settings) -> None:
    q = library.quarantine
    for i in range(3):
        write_frame(q / "darks" / f"d{i}.fits", i, IMAGETYP="DARK", OBJECT=None, FILTER=None, INSTRUME="Cam X")
    db = catalog.open_catalog(library.catalog)
    try:
        scan(db, library)
        during = datetime(2024, 11, 2, 9, 0, tzinfo=timezone.utc)  # the morning after: still that night
        r1 = library_organize(db, library, during)
        assert r1.moved == 0 and r1.plan.count("hold") == 3
        assert "waits until the night is over" in r1.plan.items[0].reason
        later = datetime(2024, 11, 2, 13, 0, tzinfo=timezone.utc)
        r2 = library_organize(db, library, later)
        assert r2.moved == 3
    finally:
        db.conn.close()
    got = sorted(str(p.relative_to(library.library)) for p in all_files(library.library))
    assert got == [f"2024/2024-11-01_Calibration/Dark/Dark_180s_000{i}.fits" for i in (1, 2, 3)]


def library_organize(db, settings, now):
    return library.organize(db, settings, now=now)


def library_recover(db, settings):
    return library.recover(db, settings)


def test_frames_cross_filesystems_with_copy_fsync_verify(lib: Settings, tmp_path: Path) -> None:
    with other_filesystem(tmp_path) as other:
        if other is None:
            pytest.skip("no second filesystem here (covered with ASTROCAT_TEST_FORCE_COPY below)")
        set_paths(lib.config_path, library=str(other / "lib"))
        src = {sha256(f): f.stat().st_mtime_ns for f in all_files(lib.quarantine)}
        r = invoke_cli("organize", "--json", cwd=lib.base_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert out["moved"] == 8 and {p["method"] for p in out["plan"]} == {"copy"}
        assert 0 < out["filed_s"] <= out["elapsed_s"]  # copies filed before the run ends
        files = all_files(other / "lib")
        assert {sha256(f): f.stat().st_mtime_ns for f in files} == src
        assert not any(f.name.startswith(".astrocat-tmp") for f in files)
        assert not all_files(lib.quarantine)
        r = invoke_cli("scan", "--json", cwd=lib.base_dir)
        assert (json.loads(r.stdout)["new"], json.loads(r.stdout)["missing"]) == (0, 0)


def test_forced_copy_protocol_on_one_filesystem(lib: Settings) -> None:
    r = invoke_cli("organize", "--json", cwd=lib.base_dir, env={"ASTROCAT_TEST_FORCE_COPY": "1"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["moved"] == 8 and {p["method"] for p in out["plan"]} == {"copy"}
    assert len(all_files(lib.library)) == 8 and not all_files(lib.quarantine)


# --- failure paths: the source stays intact, one clear line -------------------------------


def test_full_disk_stops_with_one_line_and_leaves_sources_intact(lib: Settings, tmp_path: Path) -> None:
    if not can_mount():
        pytest.skip("needs root to mount a small tmpfs (the injected ENOSPC test covers the copy path)")
    big = {}
    for i in range(6):  # 6 x 400 KB into a 2 MB filesystem
        p = lib.quarantine / "big" / f"big_{i}.fits"
        big[str(p)] = write_frame(p, 200 + i, shape=(450, 450))
    with tmpfs(tmp_path / "small", size="2m") as small:
        assert small is not None
        set_paths(lib.config_path, library=str(small))
        assert invoke_cli("scan", "-q", cwd=lib.base_dir).returncode in (0, 1)
        r = invoke_cli("organize", cwd=lib.base_dir)
        assert r.returncode == 1
        lines = stderr_lines(r)
        assert len(lines) == 1, r.stderr
        # the free-space check before each copy, or the kernel's ENOSPC for a copy in flight
        assert "stopped:" in lines[0] and ("not enough free space" in lines[0] or "No space left" in lines[0])
        for path, sha in big.items():
            # each frame is either intact in quarantine or verified in the library, never both or neither
            in_q = Path(path).exists() and sha256(path) == sha
            in_lib = any(sha256(f) == sha for f in all_files(small))
            assert in_q != in_lib, path
        assert not any(f.name.startswith(".astrocat-tmp") for f in all_files(small))
        r = invoke_cli("verify", "database", cwd=lib.base_dir)
        assert r.returncode == 0, r.stdout


def test_kernel_enospc_on_create_is_reported_and_cleaned_up(lib: Settings, tmp_path: Path) -> None:
    """A real ENOSPC from the kernel: a tmpfs that runs out of inodes mid-run."""
    if not can_mount():
        pytest.skip("needs root to mount a tmpfs")
    orig = {sha256(f): f for f in all_files(lib.quarantine)}
    mnt = tmp_path / "fewinodes"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,nr_inodes=8", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("tmpfs nr_inodes not supported")
    try:
        set_paths(lib.config_path, library=str(mnt))
        r = invoke_cli("organize", cwd=lib.base_dir)
        assert r.returncode == 1
        lines = stderr_lines(r)
        assert len(lines) == 1 and "No space left on device" in lines[0], r.stderr
        in_lib = {sha256(f) for f in all_files(mnt)}
        assert not any(f.name.startswith(".astrocat-tmp") for f in all_files(mnt))
        for sha, path in orig.items():
            assert (path.exists() and sha256(path) == sha) != (sha in in_lib)
    finally:
        subprocess.run(["umount", str(mnt)])


def test_injected_enospc_mid_copy_removes_the_partial_copy(lib: Settings) -> None:
    """Without root: the real copy loop fails after 3000 bytes as a full disk would."""
    before = snapshot(lib.quarantine)
    r = invoke_cli("organize", cwd=lib.base_dir,
                env={"ASTROCAT_TEST_FORCE_COPY": "1", "ASTROCAT_TEST_FAIL_WRITE_AFTER": "3000"})
    assert r.returncode == 1
    lines = stderr_lines(r)
    assert len(lines) == 1 and "No space left on device" in lines[0] and "stopped:" in lines[0], r.stderr
    assert snapshot(lib.quarantine) == before
    assert not all_files(lib.library)
    con = sqlite3.connect(lib.catalog)
    states = dict(con.execute("SELECT state, COUNT(*) FROM moves GROUP BY state").fetchall())
    con.close()
    assert states["failed"] >= 1 and states["failed"] + states.get("rolled_back", 0) == 8, states


def test_unwritable_destination_stops_with_one_line(lib: Settings, tmp_path: Path) -> None:
    before = snapshot(lib.quarantine)
    if can_mount():
        ctx = tmpfs(tmp_path / "ro", readonly=True)
        expect = "Read-only file system"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        from contextlib import nullcontext

        ctx = nullcontext(ro)
        expect = "Permission denied"
    with ctx as ro_dir:
        set_paths(lib.config_path, library=str(ro_dir))
        r = invoke_cli("organize", cwd=lib.base_dir)
    assert r.returncode == 1
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert "stopped:" in lines[0] and "cannot create folder" in lines[0] and expect in lines[0]
    assert snapshot(lib.quarantine) == before


def test_a_vanished_source_is_named_and_the_rest_is_filed(lib: Settings) -> None:
    gone = lib.quarantine / "NINA" / "2024-11-01" / "LIGHT" / "M31_L_180.00s_0002.fits"
    gone.unlink()
    r = invoke_cli("organize", cwd=lib.base_dir)
    assert r.returncode == 1
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert "M31_L_180.00s_0002.fits" in lines[0] and "gone since it was scanned" in lines[0]
    assert len(all_files(lib.library)) == 7


@pytest.mark.parametrize("force_copy", ["0", "1"])
def test_a_file_changed_since_it_was_scanned_is_not_moved(lib: Settings, force_copy: str) -> None:
    victim = lib.quarantine / "NINA" / "2024-11-01" / "LIGHT" / "M31_L_180.00s_0001.fits"
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF  # same size, same mtime: only the sha256 can tell
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed_sha = sha256(victim)
    r = invoke_cli("organize", cwd=lib.base_dir, env={"ASTROCAT_TEST_FORCE_COPY": force_copy})
    assert r.returncode == 1
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert "M31_L_180.00s_0001.fits" in lines[0] and "changed since it was scanned (sha256 differs)" in lines[0]
    assert victim.exists() and sha256(victim) == changed_sha
    assert len(all_files(lib.library)) == 7
    assert not any(f.name.startswith(".astrocat-tmp") for f in all_files(lib.library))


# --- hostile names end to end ----------------------------------------------------------------


def test_hostile_header_values_stay_inside_the_library(library: Settings) -> None:
    q = library.quarantine
    hostile = [("../../../../tmp/evil", "../x"), ("CON", "NUL"), ("a/b\\c", "<>:|?*"),
               ("x" * 70, "L" * 70), ("$(touch pwned)", "`id`")]
    for i, (obj, flt) in enumerate(hostile):
        write_frame(q / f"h{i}.fits", 300 + i, OBJECT=obj, FILTER=flt)
    assert invoke_cli("scan", "-q", cwd=library.base_dir).returncode == 0
    r = invoke_cli("organize", cwd=library.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    files = all_files(library.library)
    assert len(files) == len(hostile)
    root = library.library.resolve()
    for f in files:
        assert root in f.resolve().parents
        rel = f.relative_to(library.library).as_posix()
        for part in rel.split("/"):
            assert part.split(".")[0].upper() not in {"CON", "NUL"} and not set(part) & set('<>:|?*\\$`')
    assert not (Path("/tmp") / "evil").exists()


# --- lock ------------------------------------------------------------------------------------


def _paused_organize(base: Path, pause: Path, extra_env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ASTROCAT_TEST_PAUSE_AT": "journaled:1",
           "ASTROCAT_TEST_PAUSE_FILE": str(pause), **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "astrocat", "organize", "-q"], cwd=base, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not pause.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    return proc


def test_a_second_writer_waits_briefly_then_exits_with_a_clear_message(lib: Settings, tmp_path: Path) -> None:
    proc = _paused_organize(lib.base_dir, tmp_path / "paused")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(*args: str, wait_s: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "astrocat", *args], cwd=lib.base_dir,
                                env={**env, "ASTROCAT_LOCK_WAIT_S": wait_s},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # three writers that wait 1.2 s (longer than four start-ups at once), and one that
        # waits up to 20 s, all started together
        t = time.monotonic()
        refused = {cmd: start(cmd, wait_s="1.2") for cmd in ("scan", "organize", "sync")}
        waiter = start("scan", "--json", wait_s="20")
        ended: dict[str, float] = {}
        while len(ended) < len(refused) and time.monotonic() - t < 30:
            ended |= {cmd: time.monotonic() - t for cmd, p in refused.items()
                      if cmd not in ended and p.poll() is not None}
            time.sleep(0.01)
        for cmd, p in refused.items():
            out, err = p.communicate(timeout=30)
            assert p.returncode == 3, (cmd, out, err)
            assert "another astrocat process is writing this catalog" in err
            assert "organize" in err  # names the holder
            assert ended[cmd] >= 1.2, (cmd, ended[cmd])
        # a waiting writer gets in when the holder goes away (here: killed mid-move)
        assert waiter.poll() is None, "it waits"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        assert json.loads(out)["missing"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- sync and demo -----------------------------------------------------------------------------


def test_sync_scans_and_organizes_and_is_quiet_when_nothing_is_new(library: Settings) -> None:
    write_frames(library.quarantine / "tonight", 3)
    r = invoke_cli("sync", "--json", cwd=library.base_dir)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["scan"]["new"] == 3 and rep["organize"]["moved"] == 3
    assert rep["steps"] == ["recover", "scan", "processing-outputs", "organize", "processing-links", "notes", "site",
                            "backup"]  # the site after the notes
    assert "backup" not in rep  # no [backup]: the backup step does nothing
    assert len(all_files(library.library)) == 3
    assert (library.site / "index.html").is_file() and list(library.notes.rglob("*.md"))
    assert rep["site"]["written"] and rep["notes"]["created"]
    r = invoke_cli("sync", "--quiet", cwd=library.base_dir)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    r = invoke_cli("sync", cwd=library.base_dir)
    assert r.returncode == 0 and "sync: 0 new" in r.stdout


def test_sync_runs_registered_steps_in_order_and_recovers_once(library: Settings, monkeypatch) -> None:
    from astrocat import features, pipeline
    from astrocat.library import move as library_move, steps as library_steps

    write_frames(library.quarantine / "tonight", 2)
    seen = []

    def probe_step(ctx):
        seen.append((ctx.report["organize"]["moved"],
                     ctx.db.execute("SELECT COUNT(*) FROM frames WHERE location='library'").fetchone()[0],
                     "site" in ctx.report))

    probe = features.Feature("probe", "Probe", steps=(features.Step("probe", 45, probe_step),))
    monkeypatch.setattr(features, "FEATURES", features.FEATURES + (probe,))
    recoveries = []
    real_recover = library_move.recover

    def counting_recover(*args, **kwargs):
        recoveries.append(1)
        return real_recover(*args, **kwargs)

    # each module that calls recover looks it up in its own namespace: patch both
    monkeypatch.setattr(library_move, "recover", counting_recover)
    monkeypatch.setattr(library_steps, "recover", counting_recover)
    db = catalog.open_catalog(library.catalog)
    try:
        rep = pipeline.run(db, library, "sync").report
    finally:
        db.conn.close()
    # after organize and the notes, before the site; recovery once, not again inside organize
    assert seen == [(2, 2, False)]
    assert rep["steps"] == ["recover", "scan", "processing-outputs", "organize", "processing-links", "notes", "probe",
                            "site", "backup"] and rep["ok"]
    assert len(recoveries) == 1


def test_demo_organizes_its_frames(demo_dir: Path) -> None:
    r = invoke_cli("list", "files", "--json", cwd=demo_dir)
    rows = json.loads(r.stdout)
    assert len(rows) > 300
    assert all(f["path"].startswith("library/") and f["location"] == "library" for f in rows)
    assert "library/2024/2024-08-14_Calibration/Dark/Dark_120s_0001.fits" in {f["path"] for f in rows}
    assert not [f for f in all_files(demo_dir / "quarantine") if f.suffix.lower() in (".fits", ".fit")]


def test_recovery_keeps_the_verified_copy_when_the_source_vanished_meanwhile(lib: Settings, tmp_path: Path) -> None:
    """Killed after the copy was verified but before it got its name; then the source is
    deleted by hand. Recovery must give the temporary copy its name, never drop it."""
    proc = _paused_organize(lib.base_dir, tmp_path / "paused",
                            {"ASTROCAT_TEST_FORCE_COPY": "1", "ASTROCAT_TEST_PAUSE_AT": "verified:1"})
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(lib.catalog)
    rows = con.execute("SELECT src, dst, tmp, sha256 FROM moves WHERE state = 'planned' AND tmp IS NOT NULL").fetchall()
    con.close()
    # the move paused right after its copy was verified (and maybe another one in flight)
    complete = [r for r in rows if (lib.base_dir / r[2]).exists() and sha256(lib.base_dir / r[2]) == r[3]]
    assert complete, rows
    src, dst, tmp, sha = complete[0]
    tmp_file = lib.base_dir / tmp
    assert not (lib.base_dir / dst).exists()
    (lib.base_dir / src).unlink()
    r = run_cli("scan", "--json", cwd=lib.base_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["recovered"]["finished"] >= 1 and out["missing"] == 0
    assert sha256(lib.base_dir / dst) == sha
    assert not tmp_file.exists()
    assert {s for _, s, _ in frames(lib.base_dir).values()} >= {sha}


def test_recovery_refreshes_which_copy_counts(library: Settings, tmp_path: Path) -> None:
    """Two quarantine copies of one frame: the first scanned counts. organize files the other
    (first by path) and sets the counted one aside, and is killed before it refreshes the
    totals; recovery finishes the moves and must move the verdict to the filed copy."""
    q = library.quarantine
    late = q / "b" / "late.fits"
    sha = write_frame(late, 1)
    db = catalog.open_catalog(library.catalog)
    try:
        assert scan(db, library).new == 1
        early = q / "a" / "early.fits"
        early.parent.mkdir()
        early.write_bytes(late.read_bytes())
        assert scan(db, library).new == 1
        counted = "SELECT path, location, counted FROM frames ORDER BY id"
        assert db.execute(counted).fetchall() == [("quarantine/b/late.fits", "quarantine", 1),
                                                  ("quarantine/a/early.fits", "quarantine", 0)]
    finally:
        db.conn.close()
    proc = _paused_organize(library.base_dir, tmp_path / "paused", {"ASTROCAT_TEST_PAUSE_AT": "filed:1"})
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    filed = "library/2024/2024-11-01_M31/Light/M31_L_180s_0001.fits"
    db = catalog.open_catalog(library.catalog)
    try:
        early_row = db.execute("SELECT path, counted FROM frames WHERE id = 2").fetchone()
        assert early_row == (filed, 0), "killed after filing, before the refresh"
        with catalog_lock(library.catalog, "test"):
            rec = library_recover(db, library)
        assert rec.finished >= 1 and not rec.problems
        assert db.execute(counted).fetchall() == [("quarantine/_duplicates/b/late.fits", "duplicate", 0),
                                                  (filed, "library", 1)]
        assert db.execute("SELECT frames FROM sessions").fetchall() == [(1,)]
    finally:
        db.conn.close()
    assert sha256(library.base_dir / filed) == sha


def _remount_ro(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


@contextmanager
def _card(library: Settings, tmp_path: Path) -> Iterator[Path]:
    """Quarantine on its own small tmpfs (a memory card), with 6 frames on it, scanned."""
    with tmpfs(tmp_path / "card", size="8m") as card:
        if card is None:
            pytest.skip("needs root to mount a tmpfs as the card")
        set_paths(library.config_path, quarantine=str(card))
        write_frames(card / "NINA" / "2024-11-01", 6)
        assert invoke_cli("scan", "-q", cwd=library.base_dir).returncode == 0
        yield card


def test_frames_on_a_read_only_card_are_filed_and_the_card_is_left_alone(library: Settings, tmp_path: Path) -> None:
    """The card's lock switch is on: each frame is copied and verified into the library, the
    card keeps every file, and each kept source is named in a warning, not an error."""
    with _card(library, tmp_path) as card:
        _remount_ro(card)
        before = snapshot(card)
        r = invoke_cli("organize", "--json", cwd=library.base_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert out["moved"] == 6 and not out["failed"] and not out["stopped"]
        assert len(out["warnings"]) == 6
        assert all("could not be removed" in w["reason"] and "Read-only file system" in w["reason"]
                   for w in out["warnings"])
        assert snapshot(card) == before
        in_lib = {sha256(f) for f in all_files(library.library)}
        assert in_lib == {sha for sha, _ in before.values()}
        con = sqlite3.connect(library.catalog)
        states = con.execute("SELECT state, COUNT(*) FROM moves GROUP BY state").fetchall()
        con.close()
        assert states == [("done", 6)]  # nothing left for recovery to trip over
        r = invoke_cli("verify", "database", cwd=library.base_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        # the kept sources are new files to the next scan; they are known and left alone (not
        # set aside again), and new frames on the same card are still filed
        subprocess.run(["mount", "-o", "remount,rw", str(card)], check=True)
        more = write_frames(card / "NINA" / "2024-11-02", 2, start=100)
        _remount_ro(card)
        before = snapshot(card)
        assert json.loads(invoke_cli("scan", "--json", cwd=library.base_dir).stdout)["new"] == 8
        r = invoke_cli("organize", "--json", cwd=library.base_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert out["moved"] == 2 and not out["failed"] and not out["stopped"] and not out["duplicates"]
        assert len(out["skipped"]) == 6 and all("could not be removed" in s["reason"] for s in out["skipped"])
        assert snapshot(card) == before
        assert {sha256(f) for f in all_files(library.library)} == in_lib | set(more.values())
        # and again: nothing new, nothing tried
        r = invoke_cli("organize", "--json", cwd=library.base_dir)
        assert r.returncode == 0 and json.loads(r.stdout)["moved"] == 0
        # a true duplicate on the locked card cannot be set aside: that frame fails, alone
        subprocess.run(["mount", "-o", "remount,rw", str(card)], check=True)
        twin = card / "copied_again.fits"
        twin.write_bytes(sorted(all_files(library.library))[0].read_bytes())
        last = write_frames(card / "NINA" / "2024-11-03", 1, start=200)
        _remount_ro(card)
        # new to the scan: the twin, the new frame and the 2 sources the last run had to keep
        assert json.loads(invoke_cli("scan", "--json", cwd=library.base_dir).stdout)["new"] == 4
        r = invoke_cli("organize", "--json", cwd=library.base_dir)
        assert r.returncode == 1, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert out["moved"] == 1 and not out["stopped"] and len(out["skipped"]) == 8
        assert [f["path"] for f in out["failed"]] == [library.rel(twin)]
        assert "not set aside" in out["failed"][0]["reason"] and "Read-only file system" in out["failed"][0]["reason"]
        assert set(last.values()) <= {sha256(f) for f in all_files(library.library)}


def test_recovery_finishes_a_move_whose_source_became_read_only(library: Settings, tmp_path: Path) -> None:
    """Killed after the catalog was updated, before the source was removed; the card is then
    locked. Recovery must finish the move, keep the source, and not fail on it."""
    with _card(library, tmp_path) as card:
        proc = _paused_organize(library.base_dir, tmp_path / "paused", {"ASTROCAT_TEST_PAUSE_AT": "filed:1"})
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _remount_ro(card)
        before = snapshot(card)
        r = run_cli("scan", "--json", cwd=library.base_dir)
        assert r.returncode == 0, r.stdout + r.stderr
        rec = json.loads(r.stdout)["recovered"]
        assert rec["finished"] >= 1 and not rec["problems"]
        assert len(rec["warnings"]) == rec["finished"]
        assert all("Read-only file system" in w["reason"] for w in rec["warnings"])
        assert snapshot(card) == before
        con = sqlite3.connect(library.catalog)
        pending = con.execute("SELECT COUNT(*) FROM moves WHERE state IN ('planned', 'filed')").fetchone()[0]
        con.close()
        assert pending == 0
        r = run_cli("scan", "-q", cwd=library.base_dir)
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr  # said once, not on every run
