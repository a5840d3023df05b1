"""The CLI as a user meets it: init, config discovery and errors, help, list, stats, demo.

In-process (`invoke_cli`) except where the process itself matters (the timezone database
is read at start-up)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import invoke_cli, run_cli

from astrocat.config import ConfigError, find_config, load, write_default

COMMANDS = [
    ["init"], ["scan"], ["demo"], ["list", "files"], ["list", "sessions"], ["list", "targets"],
    ["list", "cameras"], ["list", "telescopes"], ["list", "filters"], ["list", "duplicates"],
    ["list", "rejects"], ["stats", "summary"], ["stats", "by-target"], ["stats", "by-filter"],
    ["stats", "by-month"], ["stats", "equipment"],
]


def test_top_level_help_explains_with_example():
    r = invoke_cli("--help")
    assert r.returncode == 0
    assert "astrocat demo" in r.stdout and "Examples" in r.stdout
    for word in ("scan", "list", "stats", "init", "demo"):
        assert word in r.stdout


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_each_command_help_has_an_example(cmd):
    r = invoke_cli(*cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "astrocat " in r.stdout and ("Example" in r.stdout or "example" in r.stdout), r.stdout


def test_init_creates_config_and_folders(tmp_path):
    r = invoke_cli("init", str(tmp_path / "astro"), "--timezone", "Europe/Brussels")
    assert r.returncode == 0, r.stderr
    assert "timezone    Europe/Brussels (as given)" in r.stdout + r.stderr
    s = load(tmp_path / "astro" / "astrocat.toml")
    for name in ("quarantine", "library", "processing", "notes", "site"):
        assert getattr(s, name).is_dir()
    assert s.catalog.exists() and s.timezone == "Europe/Brussels"
    # init never overwrites a config
    r = invoke_cli("init", str(tmp_path / "astro"))
    assert r.returncode == 2 and "already exists" in r.stderr


def test_timezones_work_without_a_system_database(tmp_path):
    """Windows and slim containers have no /usr/share/zoneinfo: the tzdata package must
    stand in, or every timezone would be refused (and nights fall back to UTC)."""
    env = {"PYTHONTZPATH": str(tmp_path / "no-zoneinfo-here")}
    r = run_cli("init", str(tmp_path / "astro"), "--timezone", "Pacific/Chatham", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("init", str(tmp_path / "other"), env={**env, "TZ": "America/Denver"})
    assert r.returncode == 0, r.stderr
    assert "timezone    America/Denver (this computer's;" in r.stdout + r.stderr
    from conftest import set_settle
    from organize_util import write_frame

    set_settle(tmp_path / "astro" / "astrocat.toml", 0)  # the frame is written just before the scan
    # 04:15 UTC is 18:15 local in Chatham's summer (UTC+13:45): the night of that local day
    write_frame(tmp_path / "astro" / "quarantine" / "m42.fits", **{"DATE-OBS": "2024-01-10T04:15:00"})
    r = run_cli("scan", "-q", cwd=tmp_path / "astro", env=env)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(tmp_path / "astro" / "catalog.db")
    try:
        assert con.execute("SELECT night FROM frames").fetchall() == [("2024-01-10",)]
    finally:
        con.close()


def test_config_discovery_order(tmp_path, monkeypatch):
    a = write_default(tmp_path / "a", timezone="UTC")
    b = write_default(tmp_path / "b", timezone="UTC")
    sub = tmp_path / "a" / "library" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.delenv("ASTROCAT_CONFIG", raising=False)
    assert find_config(cwd=sub) == a  # parent search
    monkeypatch.setenv("ASTROCAT_CONFIG", str(b))
    assert find_config(cwd=sub) == b  # env beats search
    assert find_config(a, cwd=sub) == a  # --config beats env
    monkeypatch.delenv("ASTROCAT_CONFIG")
    with pytest.raises(ConfigError, match="no astrocat.toml"):
        find_config(cwd=tmp_path)


@pytest.mark.parametrize(
    "text, key",
    [
        ('[observatory]\ntimezone = "Mars/Olympus"\n', "observatory.timezone"),
        ('[paths]\nquarantine = 3\n', "paths.quarantine"),
        ('[paths]\nlibary = "x"\n', "paths.libary"),
        ('[aliases.filter]\n"Ha" = 5\n', "aliases.filter"),
        ('[bogus]\nx = 1\n', "bogus"),
        ('[paths\n', "not valid TOML"),
    ],
)
def test_bad_config_one_line_error_naming_the_key(tmp_path, text, key):
    (tmp_path / "astrocat.toml").write_text(text)
    r = invoke_cli("list", "files", cwd=tmp_path)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) <= 2 and key in r.stderr, r.stderr


def test_no_config_is_a_usage_error(tmp_path):
    r = invoke_cli("scan", cwd=tmp_path)
    assert r.returncode == 2 and "astrocat init" in r.stderr


def test_demo_library_lists_and_stats(demo_dir: Path):
    """The demo is a normal library: `cd DIR && astrocat list sessions` works."""
    sessions = json.loads(invoke_cli("list", "sessions", "--json", cwd=demo_dir).stdout)
    assert len(sessions) >= 6
    con = sqlite3.connect(demo_dir / "catalog.db")
    nights = con.execute("SELECT COUNT(DISTINCT night) FROM frames WHERE frame_type='light'").fetchone()[0]
    targets = con.execute("SELECT COUNT(DISTINCT target) FROM frames WHERE target IS NOT NULL").fetchone()[0]
    types = {r[0] for r in con.execute("SELECT DISTINCT frame_type FROM frames")}
    filters = {r[0] for r in con.execute("SELECT DISTINCT filter FROM frames WHERE filter IS NOT NULL")}
    software = {r[0].split()[0] for r in con.execute("SELECT DISTINCT software FROM frames")}
    total = con.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
    assert nights >= 6 and targets >= 4 and total >= 300
    assert {"light", "dark", "flat", "bias", "darkflat"} <= types
    assert {"L", "R", "G", "B", "Ha", "OIII"} <= filters
    assert len(software) >= 4
    assert con.execute("SELECT COUNT(*) FROM rejects").fetchone()[0] == 0

    # "how many hours of Ha on M31?" in one line, equal to the SQL answer
    want = con.execute(
        "SELECT SUM(exposure_s)/3600.0 FROM frames WHERE target='M31' AND filter='Ha' "
        "AND frame_type='light' AND is_master=0"
    ).fetchone()[0]
    r = invoke_cli("stats", "by-target", "--target", "M31", "--filter", "Ha", cwd=demo_dir)
    assert want * 60 == pytest.approx(30)  # half an hour reads as minutes
    assert r.stdout.strip() == "M31: 30 min in 10 light frames over 1 night"
    js = json.loads(invoke_cli("stats", "summary", "--target", "M31", "--filter", "Ha", "--json", cwd=demo_dir).stdout)
    assert js["integration_h"] == pytest.approx(want, abs=1e-3)


def test_list_filters_narrow_results(demo_dir: Path):
    con = sqlite3.connect(demo_dir / "catalog.db")

    def count(where: str) -> int:
        return con.execute(f"SELECT COUNT(*) FROM frames WHERE {where}").fetchone()[0]

    def listed(*args: str) -> list[dict]:
        r = invoke_cli("list", "files", "--json", *args, cwd=demo_dir)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    assert len(listed()) == count("1=1")
    assert len(listed("--target", "M31")) == count("target='M31'")
    assert len(listed("--target", "m31", "--filter", "ha")) == count("target='M31' AND filter='Ha'")
    assert len(listed("--type", "flat", "--night", "2024-10-03")) == count("frame_type='flat' AND night='2024-10-03'")
    assert len(listed("--from", "2024-11-01", "--to", "2024-11-10")) == count("night BETWEEN '2024-11-01' AND '2024-11-10'")
    assert len(listed("--year", "2024")) == count("night LIKE '2024-%'")
    assert len(listed("--camera", "ZWO ASI2600MM Pro")) == count("camera='ZWO ASI2600MM Pro'")
    assert len(listed("--limit", "7")) == 7
    sess = listed("--session", "2024-10-03_ASI2600MM_Esprit100")
    assert len(sess) == count("session_id='2024-10-03_ASI2600MM_Esprit100'") > 0
    r = invoke_cli("list", "files", "--night", "03/10/2024", cwd=demo_dir)
    assert r.returncode == 2 and "--night" in r.stderr
    r = invoke_cli("list", "files", "--type", "science", cwd=demo_dir)
    assert r.returncode == 2 and "--type" in r.stderr


def test_list_other_views(demo_dir: Path):
    targets = json.loads(invoke_cli("list", "targets", "--json", cwd=demo_dir).stdout)
    names = [t["name"] for t in targets]
    assert "M31" in names and "NGC 7000" in names
    m31 = next(t for t in targets if t["name"] == "M31")
    assert set(m31["filters"]) >= {"L", "R", "G", "B", "Ha"}
    tels = {t["name"] for t in json.loads(invoke_cli("list", "telescopes", "--json", cwd=demo_dir).stdout)}
    assert "Esprit 100" in tels and "Evostar 72ED" in tels  # config alias for the SGP mount name
    assert not any("AM5" in t or "EQMod" in t for t in tels)  # mounts are not telescopes
    cams = json.loads(invoke_cli("list", "cameras", "--json", cwd=demo_dir).stdout)
    assert sum(c["frames"] for c in cams) >= 300
    months = json.loads(invoke_cli("stats", "by-month", "--json", cwd=demo_dir).stdout)
    assert [m["name"] for m in months] == sorted(m["name"] for m in months)
    equip = json.loads(invoke_cli("stats", "equipment", "--json", cwd=demo_dir).stdout)
    assert any(e["telescope"] == "Seestar S50" for e in equip)
    table = invoke_cli("list", "sessions", cwd=demo_dir).stdout
    assert "2024-10-03_ASI2600MM_Esprit100" in table


def test_demo_refuses_non_empty_dir(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("mine")
    r = invoke_cli("demo", str(tmp_path / "d"))
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (tmp_path / "d" / "keep.txt").read_text() == "mine"


def test_a_bug_prints_one_line_and_saves_its_traceback(demo_dir: Path, tmp_path: Path):
    """An exception nothing else handles (here: a listing query made to fail) exits 5 with
    one line naming the file that holds the traceback; ASTROCAT_DEBUG=1 shows it instead."""
    import subprocess
    import sys

    code = (
        "import sys; import astrocat.catalog.queries as q\n"
        "def boom(*a, **k):\n    raise RuntimeError('boom\\nsecond line')\n"
        "q.list_sessions = boom\n"
        "import astrocat.cli.listing as l; l.catalog.list_sessions = boom\n"
        "sys.argv = ['astrocat', 'list', 'sessions']\n"
        "from astrocat.cli import main; main()\n"
    )
    env = {**__import__("os").environ, "TMPDIR": str(tmp_path)}
    env.pop("ASTROCAT_DEBUG", None)
    r = subprocess.run([sys.executable, "-c", code], cwd=demo_dir, env=env, capture_output=True, text=True)
    assert r.returncode == 5, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: internal error (RuntimeError: boom second line): a bug in astrocat; "
                               "the traceback is in ")
    [saved] = list(tmp_path.glob("astrocat-error-*.txt"))
    assert saved.name in lines[0]
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("astrocat list sessions\n") and "Traceback" in text and "RuntimeError: boom" in text
    r = subprocess.run([sys.executable, "-c", code], cwd=demo_dir, env={**env, "ASTROCAT_DEBUG": "1"},
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" in r.stderr and "RuntimeError: boom" in r.stderr
