"""`list files` streams: the same output as before, in constant memory whatever the catalog size."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from astrocat import catalog
from astrocat.cli import output
from astrocat.cli.listing import FILE_COLUMNS
from astrocat.config import load
from conftest import ROOT, invoke_cli

KW = {"drop": ("telescope", "camera", "night", "exposure_s"), "shrink": ("path",)}


def _old_json(lib: Path, **filters) -> str:
    """What `list files --json` printed before: the whole list, then one json.dumps."""
    s = load(lib / "astrocat.toml")
    db = catalog.open_catalog(s.catalog)
    try:
        limit = filters.pop("limit", None)
        rows = catalog.list_frames(db, catalog.FrameFilter(**filters).normalized(s.normalize_settings()), limit)
    finally:
        db.conn.close()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        output.print_json(rows)
    return buf.getvalue()


@pytest.mark.parametrize("args, filters", [
    ((), {}),
    (("--target", "M31", "--type", "light"), {"target": "M31", "frame_type": "light"}),
    (("--limit", "3"), {"limit": 3}),
    (("--night", "1999-01-01"), {"night": "1999-01-01"}),  # no frame: an empty array
])
def test_json_is_the_old_output_byte_for_byte(demo_dir, args, filters):
    r = invoke_cli("list", "files", "--json", *args, cwd=demo_dir)
    assert r.returncode == 0, r.stderr
    old = _old_json(demo_dir, **filters)
    assert r.stdout == old
    assert json.loads(r.stdout) == json.loads(old)
    if filters.get("night"):
        assert r.stdout == "[]\n"
    else:
        assert len(json.loads(r.stdout)) >= (3 if "limit" in filters else 20)


def test_json_array_of_awkward_items_matches_json_dumps():
    items = [{"a": [1, {"b": None}], "s": "line\nbreak ✓ \u2028"}, {}, [], "x", 1.5, {"nested": {"deep": []}}]
    items += [{"i": i} for i in range(output.JSON_BATCH * 2 + 3)]  # across several writes
    for sample in (items, items[:1], []):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            output.print_json_array(iter(sample))
        assert buf.getvalue() == json.dumps(sample, ensure_ascii=False, indent=2) + "\n"


@pytest.mark.parametrize("columns", ["40", "50", "60", "80", "120", "200"])
def test_paged_table_is_the_whole_table(demo_dir, monkeypatch, columns):
    """The table a page at a time (forced here on the demo) prints what one rich table prints."""
    s = load(demo_dir / "astrocat.toml")
    db = catalog.open_catalog(s.catalog)
    rows = catalog.list_frames(db, catalog.FrameFilter())
    db.conn.close()
    assert len(rows) > 3 * 7
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(output, "PAGE_ROWS", 7)
    whole, paged = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(whole):
        output.print_table(rows, FILE_COLUMNS, title=output.plural(len(rows), "frame"), **KW)
    with contextlib.redirect_stdout(paged):
        output.print_table_stream(lambda: iter(rows), FILE_COLUMNS, title=lambda n: output.plural(n, "frame"),
                                  stream_rows=3, **KW)
    assert paged.getvalue() == whole.getvalue()
    lines = paged.getvalue().splitlines()
    assert max(len(line) for line in lines) <= int(columns)
    assert sum(line.startswith("│") for line in lines) == len(rows)


def big_catalog(lib: Path, n: int) -> Path:
    """A library whose catalog holds n frames, inserted straight into SQLite (fast)."""
    r = subprocess.run([sys.executable, "-m", "astrocat", "init", str(lib), "--timezone", "UTC"],
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    catalog.open_catalog(lib / "catalog.db").conn.close()  # migrated
    con = sqlite3.connect(lib / "catalog.db")
    rows = []
    for i in range(n):
        night = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        path = f"library/2024/{night}_M{i % 110}/Light/M{i % 110}_Ha_300.00s_gain100_offset50_-10.0C_{i:06d}.fits"
        rows.append((path, 52_000_000, 1.7e9 + i, f"{i:064x}", "light", f"M{i % 110}", f"M{i % 110}", "Ha", 300.0,
                     f"{night}T{i % 24:02d}:00:00", night, f"{night}_ASI2600MM_Esprit100", "ZWO ASI2600MM Pro",
                     "Esprit 100", "library", "[]", "2025-01-01T00:00:00Z", json.dumps({"OBJECT": f"M{i % 110}"})))
    con.executemany(
        "INSERT INTO frames (path, size, mtime, sha256, frame_type, object, target, filter, exposure_s, date_obs, "
        "night, session_id, camera, telescope, location, problems, scanned_at, header_json) "
        "VALUES (" + ",".join("?" * 18) + ")", rows)
    con.commit()
    con.close()
    return lib


def peak_mb(code: str, cwd: Path) -> tuple[float, int]:
    """Peak resident memory (MB) of a whole Python process running `code`, and the bytes it
    printed (to a file: a pipe reader would hold them in memory).

    The peak is the process's own high-water mark (VmHWM, read as it ends), not wait4's
    ru_maxrss: on Linux that also counts the pages of the parent it was forked from (this
    test process), which would hide the difference being measured."""
    wrapped = (f"try:\n    exec({code!r})\nfinally:\n    import sys\n    sys.stderr.write('\\nVmHWM_KB=' + "
               "[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1] + '\\n')\n")
    with tempfile.TemporaryFile() as out:
        p = subprocess.run([sys.executable, "-c", wrapped], cwd=cwd, stdout=out, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"})
        assert p.returncode == 0, p.stderr[-2000:]
        out.seek(0, os.SEEK_END)
        return int(p.stderr.rsplit("VmHWM_KB=", 1)[1].split()[0]) / 1024, out.tell()


CLI = """
import sys
sys.argv = ['astrocat', {args}]
from astrocat.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
"""
OLD_JSON = """
from astrocat import catalog
from astrocat.cli import output
db = catalog.open_catalog('catalog.db')
output.print_json(catalog.list_frames(db, catalog.FrameFilter()))
"""


@pytest.fixture(scope="module")
def fifty_thousand(tmp_path_factory) -> Path:
    return big_catalog(tmp_path_factory.mktemp("big") / "lib", 50_000)


@pytest.mark.slow
def test_json_listing_of_50000_frames_in_bounded_memory(fifty_thousand):
    # The bound: what the same process needs to list ONE frame, plus 25 MB. The old code
    # held every row as a dict and the whole JSON text at once: about 390 MB above the
    # baseline at this size when measured (913 MB in all at 100,000 real frames).
    base, _ = peak_mb(CLI.format(args="'list', 'files', '--json', '--limit', '1'"), fifty_thousand)
    new, printed = peak_mb(CLI.format(args="'list', 'files', '--json'"), fifty_thousand)
    old, old_printed = peak_mb(OLD_JSON, fifty_thousand)
    assert printed == old_printed > 50_000 * 1000  # the same output, over 50 MB of it
    bound = base + 25
    assert new < bound, (base, new, old)
    assert old > bound, (base, new, old)


@pytest.mark.slow
def test_table_listing_of_50000_frames_in_bounded_memory(fifty_thousand):
    base, _ = peak_mb(CLI.format(args="'list', 'files', '--limit', '1'"), fifty_thousand)
    new, printed = peak_mb(CLI.format(args="'list', 'files'"), fifty_thousand)
    assert new < base + 25, (base, new)
    assert printed > 50_000 * 80  # every row, one line each at 80 columns


@pytest.mark.slow
def test_paged_table_of_a_big_catalog_is_one_table_in_80_columns(fifty_thousand):
    r = invoke_cli("list", "files", "--limit", "4500", cwd=fifty_thousand, env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].strip() == "4,500 frames"
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == 4500
    # one header, one bottom edge: no seams between the pages
    assert sum(line.startswith("┏") for line in lines) == 1 and sum(line.startswith("└") for line in lines) == 1
    assert lines[-1].startswith("└")
    assert len({len(line) for line in lines[1:]}) == 1  # every line the same width
    first = json.loads(invoke_cli("list", "files", "--json", "--limit", "1", cwd=fifty_thousand).stdout)[0]["path"]
    head, tail = body[0].split("│")[1].strip().split("…")  # a long path loses its middle only
    assert first.startswith(head) and first.endswith(tail) and len(tail) > len(head) >= 8
