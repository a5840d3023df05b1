"""What people read in a terminal: messages printed as text (never as rich markup), labels
that agree with their numbers, and tables that fit an 80-column terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import invoke_cli

NARROW = {"COLUMNS": "80"}


# -- messages are text, not markup ----------------------------------------------------------------

def test_init_prints_square_brackets(tmp_path: Path):
    r = invoke_cli("init", str(tmp_path / "lib"))
    assert r.returncode == 0, r.stderr
    assert "change [observatory] timezone if it is wrong" in r.stdout


def test_scan_prints_a_bracketed_path_as_it_is(library):
    bad = library.quarantine / "M31 [red]" / "bad [x].fits"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a FITS file at all" * 200)
    r = invoke_cli("scan", "--quiet", cwd=library.config_path.parent)
    assert r.returncode == 1, r.stderr
    assert re.search(r"rejected \S*M31 \[red\]/bad \[x\]\.fits: ", r.stdout), r.stdout


# -- tables fit the terminal ----------------------------------------------------------------------

def _body_rows(table: str) -> list[list[str]]:
    """The cells of each printed body line of a rich table (between the heading rule and the end)."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    return [[c.strip() for c in line.strip("│").split("│")] for line in lines[start + 1:] if line.startswith("│")]


def test_list_sessions_fits_80_columns(demo_dir: Path):
    sessions = json.loads(invoke_cli("list", "sessions", "--json", cwd=demo_dir).stdout)
    r = invoke_cli("list", "sessions", cwd=demo_dir, env=NARROW)
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    rows = _body_rows(r.stdout)
    # one line per session, the whole id in its first cell (it is what --session takes)
    assert [row[0] for row in rows] == [s["id"] for s in sessions]
    assert {"lights", "integration"} <= set(_heading(r.stdout))


def test_list_files_fits_80_columns(demo_dir: Path):
    frames = json.loads(invoke_cli("list", "files", "--json", cwd=demo_dir).stdout)
    r = invoke_cli("list", "files", cwd=demo_dir, env=NARROW)
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    rows = _body_rows(r.stdout)
    assert len(rows) == len(frames)  # no cell folded onto a second line
    for row, frame in zip(rows, frames):
        path = row[0]
        # a long path loses its middle, never its start or its end (the end is the longer part)
        if path != frame["path"]:
            head, tail = path.split("…")
            assert frame["path"].startswith(head) and frame["path"].endswith(tail), (path, frame["path"])
            assert len(tail) > len(head) >= 8 and len(path) >= 20, path
        assert row[1] == frame["frame_type"]
    # --json stays complete whatever the width
    wide = json.loads(invoke_cli("list", "files", "--json", cwd=demo_dir, env=NARROW).stdout)
    assert wide == frames and "telescope" in wide[0]


def test_wide_terminal_shows_every_column(demo_dir: Path):
    r = invoke_cli("list", "files", "--limit", "3", cwd=demo_dir, env={"COLUMNS": "200"})
    assert _heading(r.stdout) == ["path", "type", "target", "filter", "exp s", "night", "camera", "telescope"]
    assert "…" not in r.stdout


def _heading(table: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith("┃"))
    return [c.strip() for c in line.strip("┃").split("┃")]


# -- labels say what is there ---------------------------------------------------------------------

def test_lights_without_a_target_are_not_called_calibration(library):
    from organize_util import write_frame

    for i in range(2):
        write_frame(library.quarantine / f"Light_{i:04d}.fits", i, OBJECT=None)
    write_frame(library.quarantine / "Dark_0001.fits", 9, OBJECT=None, IMAGETYP="DARK")
    root = library.config_path.parent
    assert invoke_cli("scan", "--quiet", cwd=root).returncode == 0
    [session] = json.loads(invoke_cli("list", "sessions", "--json", cwd=root).stdout)
    assert session["lights"] == 2 and not session["targets"]
    rows = _body_rows(invoke_cli("list", "sessions", cwd=root).stdout)
    assert rows[0][:3] == [session["id"], "no target", "2"]
    assert invoke_cli("build", "--no-thumbnails", "--quiet", cwd=root).returncode == 0
    note = next((library.notes / "Imaging_Sessions").rglob("*.md")).read_text(encoding="utf-8")
    assert "none (no target)" in note and "calibration only" not in note
    index = (library.site / "index.html").read_text(encoding="utf-8")
    assert '<span class="sc-targets">no target</span>' in index


def test_calibration_session_is_called_calibration_only(demo_dir: Path):
    sessions = json.loads(invoke_cli("list", "sessions", "--json", cwd=demo_dir).stdout)
    calib = next(s for s in sessions if not s["lights"])
    rows = {row[0]: row for row in _body_rows(invoke_cli("list", "sessions", cwd=demo_dir).stdout)}
    assert rows[calib["id"]][1] == "calibration only"


def test_counts_agree_with_their_nouns_and_short_sessions_keep_their_seconds(library):
    from organize_util import write_frame

    write_frame(library.quarantine / "M31_L_4s_0001.fits", 0, EXPTIME=4.0)
    root = library.config_path.parent
    r = invoke_cli("scan", "--quiet", cwd=root)
    assert r.stdout.startswith("scanned 1 file in "), r.stdout
    assert ", 0 duplicates, " in r.stdout
    lines = invoke_cli("stats", "summary", cwd=root).stdout.splitlines()
    assert lines[0] == "4 s of light in 1 frame over 1 night"
    assert ", 1 session, 1 target, " in lines[1] and lines[1].startswith("1 frame in all (light 1)")
    assert invoke_cli("stats", "by-target", cwd=root).stdout.strip() == "M31: 4 s in 1 light frame over 1 night"
    assert _body_rows(invoke_cli("list", "sessions", cwd=root).stdout)[0][3] == "4 s"
    assert invoke_cli("list", "targets", cwd=root).stdout.splitlines()[0].strip() == "1 target"
    assert invoke_cli("build", "--no-thumbnails", "--quiet", cwd=root).returncode == 0
    assert "4 s of light in 1 frame over 1 night." in (library.site / "stats.html").read_text(encoding="utf-8")
    index = (library.site / "index.html").read_text(encoding="utf-8")
    assert '<div class="stat-value">4 s</div><div class="stat-label">of light</div>' in index


def test_organize_does_not_count_a_set_aside_duplicate_as_organized(library):
    from organize_util import write_frame

    first = library.quarantine / "M31_L_0001.fits"
    write_frame(first, 0)
    data = first.read_bytes()
    root = library.config_path.parent
    assert invoke_cli("sync", "--quiet", cwd=root).returncode == 0
    (library.quarantine / "copy_of_M31_L_0001.fits").write_bytes(data)
    assert invoke_cli("scan", "--quiet", cwd=root).returncode == 0
    r = invoke_cli("organize", "--quiet", cwd=root)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"organized 0 frames in [\d.]+ s, 1 duplicate \([\d.]+ KB\) set aside in _duplicates/", last), last


def test_stats_tables_show_sizes_and_hours_not_raw_numbers(demo_dir: Path):
    data = json.loads(invoke_cli("stats", "by-target", "--json", cwd=demo_dir).stdout)
    r = invoke_cli("stats", "by-target", cwd=demo_dir)
    assert _heading(r.stdout) == ["target", "integration", "lights", "nights", "size"]
    rows = {row[0]: row for row in _body_rows(r.stdout)}
    for d in data:
        size, integration = rows[d["name"]][4], rows[d["name"]][1]
        assert re.fullmatch(r"\d+\.\d (KB|MB|GB)", size), size
        assert str(d["bytes"]) not in r.stdout
        assert re.fullmatch(r"\d+\.\d\d h|\d+ min|\d+ s", integration), integration
    m57 = next(d for d in data if d["name"] == "M57")  # 20 x 10 s: minutes, not '0.06 h'
    assert rows["M57"][1] == f"{round(m57['integration_s'] / 60)} min"


# -- every listing takes the filters that make sense for it ----------------------------------------

def test_value_listings_take_every_frame_filter(demo_dir: Path):
    import sqlite3

    con = sqlite3.connect(f"file:{demo_dir / 'catalog.db'}?mode=ro", uri=True)

    def values(column: str, where: str) -> dict[str, int]:
        return dict(con.execute(f"SELECT {column}, COUNT(*) FROM frames WHERE counted = 1 AND {column} IS NOT NULL "
                                f"AND {where} GROUP BY {column}").fetchall())

    def listed(*args: str) -> dict[str, int]:
        r = invoke_cli("list", *args, "--json", cwd=demo_dir)
        assert r.returncode == 0, r.stderr
        return {v["name"]: v["frames"] for v in json.loads(r.stdout)}

    flats = listed("filters", "--type", "flat", "--night", "2024-10-03")
    assert flats == values("filter", "frame_type = 'flat' AND night = '2024-10-03'") and len(flats) >= 3
    assert flats != listed("filters", "--night", "2024-10-03")  # --type narrowed it
    assert listed("cameras", "--filter", "Ha") == values("camera", "filter = 'Ha'")
    one_night = listed("cameras", "--session", "2024-10-03_ASI2600MM_Esprit100")
    assert one_night == values("camera", "session_id = '2024-10-03_ASI2600MM_Esprit100'")
    assert one_night["ZWO ASI2600MM Pro"] < listed("cameras")["ZWO ASI2600MM Pro"]  # the other night left out
    assert listed("telescopes", "--from", "2024-11-01", "--to", "2024-11-10", "--type", "light") == values(
        "telescope", "night BETWEEN '2024-11-01' AND '2024-11-10' AND frame_type = 'light'")


def test_duplicates_take_frame_filters_and_rejects_say_they_take_none(library):
    from organize_util import write_frame

    root = library.config_path.parent
    for name, index, target in (("m31", 0, "M31"), ("m42", 1, "M42")):
        first = library.quarantine / f"{name}.fits"
        write_frame(first, index, OBJECT=target)
        (library.quarantine / f"{name}_copy.fits").write_bytes(first.read_bytes())
    assert invoke_cli("scan", "--quiet", cwd=root).returncode == 0
    everything = json.loads(invoke_cli("list", "duplicates", "--json", cwd=root).stdout)
    assert len(everything) == 2
    m42 = json.loads(invoke_cli("list", "duplicates", "--target", "M 42", "--json", cwd=root).stdout)
    assert [d["paths"] for d in m42] == [["quarantine/m42.fits", "quarantine/m42_copy.fits"]]
    assert json.loads(invoke_cli("list", "duplicates", "--night", "2023-01-01", "--json", cwd=root).stdout) == []
    r = invoke_cli("list", "rejects", "--target", "M31", cwd=root)
    assert r.returncode == 2
    assert "Takes only --limit and --json" in " ".join(invoke_cli("list", "rejects", "--help").stdout.split())


def test_stats_take_the_filters_that_make_sense(demo_dir: Path):
    import sqlite3

    con = sqlite3.connect(f"file:{demo_dir / 'catalog.db'}?mode=ro", uri=True)
    sid = "2024-10-03_ASI2600MM_Esprit100"

    def stats(*args: str):
        r = invoke_cli("stats", *args, "--json", cwd=demo_dir)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    flats = con.execute("SELECT COUNT(*) FROM frames WHERE counted = 1 AND frame_type = 'flat' "
                        "AND night = '2024-10-03'").fetchone()[0]
    assert stats("summary", "--type", "flat", "--night", "2024-10-03")["frames"] == flats > 0
    by_filter = {r["name"]: r["light_frames"] for r in stats("by-filter", "--session", sid)}
    assert by_filter == dict(con.execute(
        "SELECT filter, COUNT(*) FROM frames WHERE counted = 1 AND frame_type = 'light' AND session_id = ? "
        "GROUP BY filter", [sid]).fetchall())
    [rig] = stats("equipment", "--night", "2024-10-03")
    assert rig["camera"] == "ZWO ASI2600MM Pro" and rig["frames"] == con.execute(
        "SELECT COUNT(*) FROM frames WHERE counted = 1 AND night = '2024-10-03'").fetchone()[0]
    assert invoke_cli("stats", "by-target", "--type", "flat", cwd=demo_dir).returncode == 2  # lights only


# -- messages printed while a progress bar runs ---------------------------------------------------

_SNIPPET = """
import time
from astrocat.cli import output
from astrocat.cli.app import progress_bar
with progress_bar(False, "Testing") as update:
    update(1, 5, "a"); time.sleep(0.3)
    output.info("a message while the bar runs")
    update(5, 5, "b"); time.sleep(0.3)
output.info("done")
"""


def test_a_message_during_a_progress_bar_starts_its_own_line():
    """`sync` prints what each step did while its bar runs: the message must not be glued
    to the bar's line (rich writes a console straight past its stdout proxy)."""
    import sys

    from conftest import run_in_terminal

    text = run_in_terminal([sys.executable, "-c", _SNIPPET], timeout=30)
    assert "Testing" in text  # the bar did run
    at = text.index("a message while the bar runs")
    assert at == 0 or text[at - 1] in "\r\n", repr(text[max(0, at - 40):at + 30])


def test_long_paths_stay_one_a_line_in_narrow_duplicate_and_plan_tables(library):
    from organize_util import write_frame

    root = library.config_path.parent
    deep = library.quarantine / "2024-11-01 imported from the observatory laptop" / "NINA session folder"
    first = deep / "M31_Light_L_180.00s_gain100_offset50_-10.0C_0001.fits"
    write_frame(first, 0)
    (deep / "second copy of M31_Light_L_180.00s_gain100_offset50_-10.0C_0001.fits").write_bytes(first.read_bytes())
    assert invoke_cli("scan", "--quiet", cwd=root).returncode == 0
    r = invoke_cli("list", "duplicates", cwd=root, env=NARROW)
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    real = sorted(d["paths"] for d in json.loads(invoke_cli("list", "duplicates", "--json", cwd=root).stdout))[0]
    shown = [row[3] for row in _body_rows(r.stdout)]
    assert len(shown) == 2 and all("…" in p for p in shown)  # one line per copy, its middle cut
    for p, full in zip(shown, real):
        head, tail = p.split("…")
        assert full.startswith(head) and full.endswith(tail) and len(head) >= 8 and len(tail) >= 16, (p, full)
    r = invoke_cli("organize", "--dry-run", cwd=root, env=NARROW)
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    rows = _body_rows(r.stdout)
    assert sorted(row[0] for row in rows) == ["duplicate", "file"]
    assert all(row[1].startswith("quarantine/") and row[1].endswith(".fits") for row in rows), rows


def test_processing_list_fits_80_columns_with_whole_ids(demo_dir: Path):
    sessions = json.loads(invoke_cli("processing", "list", "--json", cwd=demo_dir).stdout)
    r = invoke_cli("processing", "list", cwd=demo_dir, env=NARROW)
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    rows = _body_rows(r.stdout)
    # the whole id (what `processing show ID` takes) and the whole target
    assert [(row[0], row[1]) for row in rows] == [(s["id"], s["target"]) for s in sessions]


def test_history_fits_80_columns_with_ids_and_whole_commands(demo_copy: Path):
    ids = [f["id"] for f in json.loads(invoke_cli("list", "files", "--type", "light", "--json", "--limit", "2",
                                                  cwd=demo_copy).stdout)]
    for fid in ids:
        assert invoke_cli("frame", "mark-bad", str(fid), "--reason", "clouds passing over", cwd=demo_copy).returncode == 0
    r = invoke_cli("history", cwd=demo_copy, env=NARROW)
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    history = json.loads(invoke_cli("history", "--json", cwd=demo_copy).stdout)
    rows = _body_rows(r.stdout)  # a wrapped cell continues on lines whose id cell is empty
    assert [row[0] for row in rows if row[0]] == [str(h["id"]) for h in history]  # every id shown, none cut
    # the wrapped command reads back whole
    text = " ".join(row[2] for row in rows)
    for h in history:
        assert h["command"].removeprefix("astrocat ") in " ".join(text.split()), text
