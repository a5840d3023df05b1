"""Shared fixtures: real files, a real catalog, the CLI run as a real process."""

from __future__ import annotations

import gc
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = (ROOT.parent / "shared" / "fits-samples").resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Container images often set PYTHONDONTWRITEBYTECODE. Then each of the suite's CLI processes
# compiles astrocat from source (+0.1 s each, and there are hundreds) and every xdist worker
# rewrites every test module again (+1.5 s each): let this run and its processes keep bytecode.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# A run started in the background by a shell (`pytest ... &`) inherits SIGINT ignored, and so
# would every CLI process it starts: tests that press Ctrl-C on one (SIGINT) would wait on a
# process that cannot hear it. A handler here makes the children start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_in_terminal(args: list[str], cwd: Path | None = None, columns: int = 80, timeout: float = 60) -> str:
    """Run a process in a pseudo-terminal (as a person would, so progress bars draw) and
    return what it showed, escape sequences removed. Asserts it exits 0."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": str(columns)}
    proc = subprocess.Popen(args, cwd=cwd, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    assert proc.wait(timeout=timeout) == 0, raw.decode("utf-8", "replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode("utf-8", "replace"))


def need(condition: bool, why: str) -> None:
    """Skip locally when a test dependency is missing; under CI=true, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def samples() -> Path:
    need(SAMPLES.is_dir(), f"real header samples not found at {SAMPLES} (../shared/fits-samples)")
    return SAMPLES


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m astrocat ARGS` as a separate process from this source tree."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    full_env.pop("ASTROCAT_CONFIG", None) if not (env and "ASTROCAT_CONFIG" in env) else None
    return subprocess.run(
        [sys.executable, "-m", "astrocat", *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout, input=input,
    )


@dataclass
class Ran:
    """What `invoke_cli` returns: the fields of a CompletedProcess that tests read."""

    returncode: int
    stdout: str
    stderr: str


def invoke_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None) -> Ran:
    """Run the CLI in this process (typer's CliRunner): for argument, output and exit-code
    tests, ~50x cheaper than `run_cli`. Keep `run_cli` where signals, locks, crashes or
    start-up matter. An exception that escapes the CLI fails the test with its traceback:
    no traceback may ever reach a user."""
    from typer.testing import CliRunner

    from astrocat.cli import app

    full_env = {"COLUMNS": "200", "ASTROCAT_CONFIG": None, **(env or {})}
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        r = CliRunner().invoke(app, list(args), env=full_env, input=input, catch_exceptions=True)
    finally:
        os.chdir(old)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Ran(r.exit_code, r.stdout, r.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def library(tmp_path: Path):
    """A fresh `astrocat init` library (UTC timezone) and its Settings.

    With `[scan] settle_s = 0`: tests write frames and scan them at once, where a
    library left at the default would leave them for the next run (tests of that
    rule set settle_s themselves)."""
    from astrocat.config import load, write_default

    cfg = write_default(tmp_path / "lib", timezone="UTC")
    set_settle(cfg, 0)
    return load(cfg)


def set_settle(config: Path, seconds: float) -> None:
    """Set `[scan] settle_s` in an astrocat.toml written by `astrocat init`."""
    text = config.read_text(encoding="utf-8")
    assert len(re.findall(r"(?m)^settle_s = ", text)) == 1, "no settle_s line to change"
    config.write_text(re.sub(r"(?m)^settle_s = .*$", f"settle_s = {seconds}", text), encoding="utf-8")


def backdate(*paths: Path, seconds: float = 3600) -> None:
    """Give files the mtime of a capture that ended `seconds` ago: past `[scan] settle_s`,
    so a scan right after writing them reads them (as a capture program's files would be)."""
    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory, worker_id) -> Path:
    """The demo library, built once per test run by the real `astrocat demo` command.

    Under xdist the workers share one build (the first to take the lock builds it); tests
    that change it work on `demo_copy`."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # the run's folder, shared by the workers
    d = root / "shared-demo" / "astrocat-demo"
    with FileLock(str(root / "shared-demo.lock")):
        if not (d.parent / "demo-stdout.txt").exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            r = run_cli("demo", str(d), timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr
            (d.parent / "demo-stdout.txt").write_text(r.stdout)  # for tests of what the demo prints
    return d


RAM_TMP = Path("/dev/shm")
RAM_TMP_NEEDED = 3 << 30  # the whole suite peaks near 2 GB there


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config) -> None:
    """Temporary folders in RAM (/dev/shm) when it has room: the suite writes many small files
    (frames, libraries, sites, demo copies), and creating one there costs a twentieth of ext4's.
    `--basetemp` or ASTROCAT_TEST_TMP=disk keep pytest's default. xdist's workers inherit it."""
    if config.option.basetemp or hasattr(config, "workerinput") or os.environ.get("ASTROCAT_TEST_TMP") == "disk":
        return
    try:
        if not os.access(RAM_TMP, os.W_OK) or shutil.disk_usage(RAM_TMP).free < RAM_TMP_NEEDED:
            return
        prefix = f"astrocat-tests-{os.getuid()}-"  # /dev/shm: Linux only, where getuid exists
        for old in RAM_TMP.glob(prefix + "*"):  # a failed run's, kept until its run is gone
            if not _alive(old.name[len(prefix):].split("-", 1)[0]):
                shutil.rmtree(old, ignore_errors=True)
        config.option.basetemp = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=RAM_TMP)
    except OSError:
        return
    config.stash[_ram_tmp] = Path(config.option.basetemp)


_ram_tmp = pytest.StashKey[Path]()


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except OSError:
        return True  # someone else's process
    return True


def pytest_xdist_auto_num_workers(config) -> int | None:
    """`-n auto`: one worker more than this process may use cores. About a third of a worker's
    time goes to waiting (on CLI processes, Chromium, Datasette, the crash test's kills),
    which the extra worker fills. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 1


def pytest_sessionfinish(session, exitstatus) -> None:
    """A passed run's RAM folder goes at once; a failed run's stays for a look until the next."""
    tmp = session.config.stash.get(_ram_tmp, None)
    if tmp is not None and exitstatus == 0:
        shutil.rmtree(tmp, ignore_errors=True)


def pytest_collection_finish(session) -> None:
    """What is loaded by now (astropy, Datasette, the test modules) lives for the whole run:
    keep it out of every garbage collection (pytest alone runs five at the end)."""
    gc.freeze()


def pytest_collection_modifyitems(config, items) -> None:
    """Longest first: under xdist the slow tests start at once instead of ending the run."""
    def weight(item) -> int:
        if item.get_closest_marker("slow"):
            return 0
        if item.get_closest_marker("browser"):
            return 1
        return 2

    items.sort(key=weight)  # stable: the file order is kept within each group


@pytest.fixture
def demo_copy(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo library, for tests that change it."""
    dest = tmp_path / "demo"
    # the catalog through SQLite's backup API: other workers may hold it open (WAL files
    # come and go), and the copy must be one consistent snapshot
    shutil.copytree(demo_dir, dest, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n.startswith("catalog.db")])
    src = sqlite3.connect(f"file:{demo_dir / 'catalog.db'}?mode=ro", uri=True)
    dst = sqlite3.connect(dest / "catalog.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return dest
