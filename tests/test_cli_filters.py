"""Filter options are read the way scan reads headers: `--target "M 31"`, `--filter H-alpha`
and a camera or telescope alias from astrocat.toml find the frames cataloged as M31, Ha or
the aliased name, in every command that filters. In-process, on the demo library."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from pathlib import Path

import pytest
from conftest import invoke_cli

# plain SQL for what each command shows of the frames a filter selects (`{w}`: the filter)
COUNTED = "SELECT COUNT(*) FROM frames WHERE counted = 1 AND {w}"
LIGHTS = "SELECT COUNT(*) FROM frames WHERE counted = 1 AND frame_type = 'light' AND is_master = 0 AND {w}"


def rows_of(js) -> int:
    return len(js)


def frames_of(js) -> int:
    return sum(r["frames"] for r in js)


def lights_of(js) -> int:
    return sum(r["light_frames"] for r in js)


ALL = ("--target", "--filter", "--camera", "--telescope")
# (command, the filter options it takes, what to measure in its JSON, the SQL it must equal)
COMMANDS = [
    (("list", "files"), ALL, rows_of, COUNTED),
    (("list", "sessions"), ALL, rows_of, "SELECT COUNT(DISTINCT session_id) FROM frames WHERE counted = 1 AND {w}"),
    (("list", "targets"), ALL, rows_of,
     "SELECT COUNT(DISTINCT target) FROM frames WHERE counted = 1 AND target IS NOT NULL AND {w}"),
    (("list", "cameras"), ("--target",), frames_of, COUNTED + " AND camera IS NOT NULL"),
    (("list", "telescopes"), ("--target",), frames_of, COUNTED + " AND telescope IS NOT NULL"),
    (("list", "filters"), ("--target", "--camera"), frames_of, COUNTED + " AND filter IS NOT NULL"),
    (("stats", "summary"), ALL, lambda js: js["frames"], COUNTED),
    (("stats", "by-target"), ALL, lights_of, LIGHTS + " AND target IS NOT NULL"),
    (("stats", "by-filter"), ALL, lights_of, LIGHTS),
    (("stats", "by-month"), ALL, lights_of, LIGHTS),
    (("stats", "equipment"), ("--target",), frames_of, COUNTED),
    # every present copy: each file has its own header and checksums
    (("validate",), ("--target",), rows_of,
     "SELECT COUNT(*) FROM frames WHERE location NOT IN ('missing', 'duplicate') AND {w}"),
]


def spellings(demo_dir: Path) -> dict[str, tuple[str, str, list[str]]]:
    """option -> (catalog column, the value as cataloged, other ways a user writes it).
    The aliases are the ones in the demo's own astrocat.toml."""
    aliases = tomllib.loads((demo_dir / "astrocat.toml").read_text(encoding="utf-8"))["aliases"]
    (camera_raw, camera), = aliases["camera"].items()
    (telescope_raw, telescope), = aliases["telescope"].items()
    return {
        "--target": ("target", "M31", ["M 31", "messier 31", "Messier31"]),
        "--filter": ("filter", "Ha", ["H-alpha", "Ha 3nm", "h_alpha"]),
        "--camera": ("camera", camera, [camera_raw]),
        "--telescope": ("telescope", telescope, [telescope_raw]),
    }


def run_json(demo_dir: Path, *args: str):
    """(exit code, parsed JSON); a usage error prints no JSON and fails here."""
    r = invoke_cli(*args, "--json", cwd=demo_dir)
    assert r.stdout.lstrip().startswith(("[", "{")), (args, r.returncode, r.stderr)
    return r.returncode, json.loads(r.stdout)


@pytest.fixture(scope="module")
def con(demo_dir: Path):
    c = sqlite3.connect(demo_dir / "catalog.db")
    yield c
    c.close()


@pytest.mark.parametrize("command, options, measure, sql", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_every_filtering_command_reads_names_like_scan(demo_dir: Path, con, command, options, measure, sql) -> None:
    table = spellings(demo_dir)
    for option in options:
        column, cataloged, others = table[option]
        want = con.execute(sql.format(w=f"{column} = ?"), [cataloged]).fetchone()[0]
        assert want > 0, (option, cataloged)
        code, canonical = run_json(demo_dir, *command, option, cataloged)
        assert measure(canonical) == want, (command, option)
        if command != ("validate",):  # validate exits 1 when a file has an error, a finding
            assert code == 0, (command, option)
        for spelled in others:
            # no row holds the spelling, even ignoring case: only normalising it finds the frames
            assert con.execute(f"SELECT COUNT(*) FROM frames WHERE {column} = ? COLLATE NOCASE", [spelled]).fetchone()[0] == 0
            assert run_json(demo_dir, *command, option, spelled) == (code, canonical), (command, option, spelled)


def test_list_files_finds_the_same_paths_for_each_spelling(demo_dir: Path, con) -> None:
    """The rows themselves, not only their number; a target alias from the config too."""
    aliases = tomllib.loads((demo_dir / "astrocat.toml").read_text(encoding="utf-8"))["aliases"]
    (target_raw, target), = aliases["target"].items()
    cases = [
        ("--target", "target", "M31", ["M 31", "messier 31"]),
        ("--target", "target", target, [target_raw]),
        ("--target", "target", "NGC 7000", ["NGC7000", "ngc 7000"]),
        ("--filter", "filter", "Ha", ["H-alpha", "Ha 3nm"]),
    ]
    for option, column, cataloged, others in cases:
        want = sorted(p for (p,) in con.execute(f"SELECT path FROM frames WHERE counted = 1 AND {column} = ?", [cataloged]))
        assert want, cataloged
        for value in (cataloged, *others):
            _, rows = run_json(demo_dir, "list", "files", option, value)
            assert sorted(r["path"] for r in rows) == want, (option, value)


def test_combined_spellings_answer_the_one_line_question(demo_dir: Path, con) -> None:
    """"How many hours of Ha on M31?" asked as people write it, answered with the catalog's names."""
    secs, frames, nights = con.execute(
        "SELECT SUM(exposure_s), COUNT(*), COUNT(DISTINCT night) FROM frames WHERE counted = 1 "
        "AND frame_type = 'light' AND is_master = 0 AND target = 'M31' AND filter = 'Ha'"
    ).fetchone()
    assert (secs, frames, nights) == (1800, 10, 1)  # half an hour reads as minutes
    for target, filter_ in (("M31", "Ha"), ("Messier 31", "H-alpha"), ("m 31", "Ha 3nm")):
        r = invoke_cli("stats", "by-target", "--target", target, "--filter", filter_, cwd=demo_dir)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "M31: 30 min in 10 light frames over 1 night"
        r = invoke_cli("stats", "summary", "--target", target, "--filter", filter_, cwd=demo_dir)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "M31 Ha: 30 min of light in 10 frames over 1 night"
