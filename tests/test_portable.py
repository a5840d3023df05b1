"""astrocat runs where POSIX-only calls are missing (Windows): the real CLI in a process
whose `fcntl` module and POSIX-only `os` functions are taken away before astrocat loads."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, set_settle
from organize_util import all_files, sha256, write_frame, write_frames

# What Windows' Python 3.11 lacks and astrocat could reach for on its normal paths.
BLOCKED_OS = ("preadv", "pread", "sendfile", "posix_fadvise", "fchmod", "sched_getaffinity")
WRAPPER = f"""
import os, sys
sys.modules["fcntl"] = None  # `import fcntl` now raises ImportError
for name in {BLOCKED_OS!r}:
    if hasattr(os, name):
        delattr(os, name)
sys.argv = ["astrocat", *sys.argv[1:]]
from astrocat.cli import main
main()
"""


def run_blocked(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Like run_cli, but without fcntl and the POSIX-only os functions. Organize goes
    through the copy protocol (not a rename) so the byte copy itself runs."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "ASTROCAT_TEST_FORCE_COPY": "1", **(env or {})}
    full_env.pop("ASTROCAT_CONFIG", None)
    return subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_wrapper_really_takes_them_away() -> None:
    probe = WRAPPER.split("sys.argv =")[0] + (
        "import importlib\n"
        "try:\n    importlib.import_module('fcntl')\nexcept ImportError:\n    print('no fcntl')\n"
        f"print(sorted(n for n in {BLOCKED_OS!r} if hasattr(os, n)))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.stdout.split("\n")[:2] == ["no fcntl", "[]"], r.stdout + r.stderr


def test_demo_runs_without_posix_only_calls(tmp_path: Path) -> None:
    d = tmp_path / "demo"
    r = run_blocked("demo", str(d))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "traceback" not in r.stderr.lower() and "warning" not in r.stderr.lower(), r.stderr
    con = sqlite3.connect(d / "catalog.db")
    try:
        filed = [p for (p,) in con.execute("SELECT path FROM frames WHERE location = 'library'")]
    finally:
        con.close()
    assert len(filed) > 300
    assert all((d / p).is_file() for p in filed)
    assert not [f for f in all_files(d / "quarantine") if f.suffix.lower() in (".fits", ".fit")]
    assert (d / "site" / "index.html").is_file()


def test_scan_and_organize_copy_without_posix_only_calls(tmp_path: Path) -> None:
    base = tmp_path / "astro"
    r = run_blocked("init", str(base), "--timezone", "UTC")
    assert r.returncode == 0, r.stdout + r.stderr
    set_settle(base / "astrocat.toml", 0)
    originals = write_frames(base / "quarantine" / "tonight", 2)
    # and one larger than the copy's 8 MiB buffer, so the read loop goes round more than once
    big = base / "quarantine" / "tonight" / "M31_L_180.00s_0009.fits"
    originals[str(big)] = write_frame(big, 9, shape=(2400, 2000))
    r = run_blocked("scan", "--json", "-q", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["new"] == 3
    r = run_blocked("organize", "--json", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["moved"] == 3
    filed = all_files(base / "library")
    assert sorted(sha256(f) for f in filed) == sorted(originals.values())
    assert not [f for f in all_files(base / "quarantine") if f.suffix == ".fits"]
    assert not [f for f in filed if f.name.startswith(".astrocat-tmp")]
    # the catalog agrees with the disk: every file re-hashes to what was recorded
    r = run_blocked("verify", "files", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_second_writer_is_refused_without_fcntl(tmp_path: Path) -> None:
    """The lock still keeps a second writer out, and names the first, where fcntl is missing."""
    base = tmp_path / "astro"
    assert run_blocked("init", str(base), "--timezone", "UTC").returncode == 0
    set_settle(base / "astrocat.toml", 0)
    write_frames(base / "quarantine", 1)
    assert run_blocked("scan", "-q", cwd=base).returncode == 0
    pause = tmp_path / "paused"
    holder = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, "organize", "-q"], cwd=base,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ASTROCAT_TEST_PAUSE_AT": "journaled:1",
             "ASTROCAT_TEST_PAUSE_FILE": str(pause)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not pause.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "organize never reached its pause"
            time.sleep(0.02)
        r = run_blocked("scan", cwd=base, env={"ASTROCAT_LOCK_WAIT_S": "0.5"})
        assert r.returncode == 3, r.stdout + r.stderr
        assert "another astrocat process is writing this catalog" in r.stderr and "organize" in r.stderr, r.stderr
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("missing", [(), ("preadv",), ("preadv", "pread")])
def test_each_positioned_read_reads_the_same_bytes(tmp_path: Path, monkeypatch, missing) -> None:
    """preadv where there is one, pread without it (older macOS), seek and read on Windows."""
    from astrocat.library import _positioned_reader

    for name in missing:
        monkeypatch.delattr(os, name, raising=False)
    data = bytes(range(256)) * 40 + b"\r\n\x1a tail"
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        read_at = _positioned_reader(fd)
        buf = memoryview(bytearray(4000))
        got, off = b"", 0
        for want in (4000, 17, 4000, 4000):  # out of step with the file's length
            n = read_at(buf[:want], off)
            got, off = got + bytes(buf[:n]), off + n
        assert got == data and read_at(buf, off) == 0
        assert read_at(buf[:5], 256) == 5 and bytes(buf[:5]) == bytes(range(5))  # positioned, not sequential
    finally:
        os.close(fd)


def test_a_lock_whose_holder_died_is_free_at_once(tmp_path: Path) -> None:
    """The OS lock goes with its process; the holder note it leaves behind is only
    information and does not keep the next writer out."""
    from astrocat.lock import LockBusy, catalog_lock

    catalog = tmp_path / "catalog.db"
    code = ("import os, signal, sys\nfrom pathlib import Path\nfrom astrocat.lock import catalog_lock\n"
            "with catalog_lock(Path(sys.argv[1]), 'organize'):\n"
            "    print('held', flush=True)\n    sys.stdin.readline()\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(catalog)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "held\n"
        with pytest.raises(LockBusy, match=rf"pid {proc.pid} organize"):
            with catalog_lock(catalog, "scan", wait_s=0.2):
                pass
        proc.stdin.write("die\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert f"pid {proc.pid} organize" in (tmp_path / "catalog.db.lock.holder").read_text()
    t = time.monotonic()
    with catalog_lock(catalog, "scan", wait_s=5):
        assert (tmp_path / "catalog.db.lock.holder").read_text() == f"pid {os.getpid()} scan"
    assert time.monotonic() - t < 1
    assert (tmp_path / "catalog.db.lock").exists()  # where it always was
    assert not (tmp_path / "catalog.db.lock.holder").exists()  # a clean release leaves no note


# --- the local timezone ------------------------------------------------------------------------


def test_init_writes_the_zone_named_by_tz(tmp_path: Path) -> None:
    r = run_cli("init", str(tmp_path / "astro"), env={"TZ": "Europe/Brussels"})
    assert r.returncode == 0, r.stderr
    assert 'timezone = "Europe/Brussels"' in (tmp_path / "astro" / "astrocat.toml").read_text()
    assert "timezone    Europe/Brussels (this computer's;" in r.stdout + r.stderr


def test_init_names_the_zone_of_a_zone_file(tmp_path: Path) -> None:
    """TZ may name a zone file rather than a zone (as /etc/localtime does): the zone's
    name is read from its path, not replaced by UTC."""
    import tzdata

    zone_file = tmp_path / "zones" / "Pacific" / "Chatham"
    zone_file.parent.mkdir(parents=True)
    zone_file.write_bytes((Path(tzdata.__file__).parent / "zoneinfo" / "Pacific" / "Chatham").read_bytes())
    r = run_cli("init", str(tmp_path / "astro"), env={"TZ": f":{zone_file}"})
    assert r.returncode == 0, r.stderr
    assert 'timezone = "Pacific/Chatham"' in (tmp_path / "astro" / "astrocat.toml").read_text()


def test_utc_only_when_no_zone_can_be_found(monkeypatch) -> None:
    import tzlocal
    from zoneinfo import ZoneInfoNotFoundError

    from astrocat.config import system_timezone

    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(tzlocal, "get_localzone_name", lambda: "America/Denver")
    assert system_timezone() == "America/Denver"
    monkeypatch.setenv("TZ", "Mars/Olympus")  # not a zone: the system's setting is used instead
    assert system_timezone() == "America/Denver"

    def conflicting() -> str:
        raise ZoneInfoNotFoundError("Multiple conflicting time zone configurations found")

    monkeypatch.setattr(tzlocal, "get_localzone_name", conflicting)
    assert system_timezone() == "UTC"
    monkeypatch.setattr(tzlocal, "get_localzone_name", lambda: None)
    assert system_timezone() == "UTC"


def test_commands_load_tzlocal_and_filelock_only_when_they_need_them(library) -> None:
    """`-X importtime` lists every module a process imports."""
    def imported(*args: str, cwd: Path) -> set[str]:
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "astrocat", *args], cwd=cwd, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}

    listing = imported("list", "files", cwd=library.base_dir)  # the config names its zone; no lock
    assert "astrocat.cli" in listing and not {"tzlocal", "filelock"} & listing
    # a writer takes the lock; on POSIX with flock itself (filelock only where fcntl is missing,
    # see test_a_second_writer_is_refused_without_fcntl)
    assert "filelock" not in imported("scan", "-q", cwd=library.base_dir)
    cfg = library.config_path
    cfg.write_text(cfg.read_text().replace('timezone = "UTC"', 'timezone = ""'))
    assert "tzlocal" in imported("list", "files", cwd=library.base_dir)  # "this computer's zone"
