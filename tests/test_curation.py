"""Corrections as data: they survive every rescan, a relayout, a rebuilt catalog and a
rebuild of the site and notes; bad frames leave integration by exactly their exposure.

Real FITS files written by astropy, scanned by the real CLI (in-process), a real catalog."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from conftest import invoke_cli
from curatekit import SESSION, cli, cli_json, dump, frame_ids, night, rows, scan, write_light
from organize_util import set_pattern

RENAMED = "2024-11-01_M31_first_light"


def _curated(lib) -> dict[str, str]:
    """Six lights of one session (two name Big Spiral, a name the sky catalog does not know) and four corrections; returns the
    sha256 of the frames the corrections name."""
    night(lib, 4)
    for i in (10, 11):
        write_light(lib.quarantine / "n1" / f"andromeda_{i}.fits", obj="Big Spiral", seed=i,
                    date=f"2024-11-01T21:{i}:00")
    scan(lib)
    first, second = frame_ids(lib)[:2]
    sha = dict(rows(lib, "SELECT id, sha256 FROM frames"))
    cli(lib, "frame", "set", str(first), "--filter", "OIII", "--exposure", "120", "--why", "wheel stuck")
    cli(lib, "frame", "mark-bad", str(second), "--reason", "clouds")
    cli(lib, "target", "alias", "Big Spiral", "M31")
    cli(lib, "session", "rename", SESSION, RENAMED)
    return {"set": sha[first], "bad": sha[second]}


def _assert_curated(lib, sha: dict[str, str]) -> None:
    """The corrected catalog, written out by hand: what every reader must see."""
    by_sha = {r[0]: r[1:] for r in rows(lib, "SELECT sha256, filter, exposure_s, bad, bad_reason, target, session_id "
                                             "FROM frames WHERE location != 'missing'")}
    assert len(by_sha) == 6
    assert by_sha[sha["set"]][:2] == ("OIII", 120.0)
    assert by_sha[sha["bad"]][2:4] == (1, "clouds")
    assert {r[4] for r in by_sha.values()} == {"M31"}, "the Big Spiral frames joined M31"
    assert {r[5] for r in by_sha.values()} == {RENAMED}
    assert sum(r[2] for r in by_sha.values()) == 1
    # headers are still readable: the raw values of the corrected fields
    raw = dict(rows(lib, "SELECT sha256, raw FROM frames WHERE raw IS NOT NULL"))
    assert json.loads(raw[sha["set"]]) == {"filter": "Ha", "exposure_s": 300.0, "session_id": SESSION}
    # 4 good lights of 300 s and the corrected 120 s one; the bad 300 s one is left out
    summary = cli_json(lib, "stats", "summary")
    assert summary["integration_s"] == 4 * 300 + 120
    assert summary["frames"] == 6 and summary["sessions"] == 1
    by_target = cli_json(lib, "stats", "by-target")
    assert [(t["name"], t["integration_s"]) for t in by_target] == [("M31", 1320.0)]
    assert rows(lib, "SELECT id, integration_s, frames FROM sessions") == [(RENAMED, 1320.0, 6)]


@pytest.fixture
def curated(library):
    return library, _curated(library)


def test_corrections_show_everywhere_at_once(curated) -> None:
    lib, sha = curated
    _assert_curated(lib, sha)
    history = cli_json(lib, "history")
    assert [h["summary"] for h in history] == [
        "6 values of 6 frames changed", "2 values of 2 frames changed", "2 values of 1 frame changed",
        "2 values of 1 frame changed"]


def test_corrections_survive_a_rescan_and_scan_full(curated) -> None:
    lib, sha = curated
    out = scan(lib)
    assert out["changed"] == 0 and out["new"] == 0
    _assert_curated(lib, sha)
    out = scan(lib, "--full")
    # a file whose header says what it said is not "changed", corrected or not
    assert out["changed"] == 0 and out["unchanged"] == 6
    _assert_curated(lib, sha)


def test_sync_says_a_frame_marked_bad_was_not_filed(curated) -> None:
    """A frame marked bad stays where it is (here: the quarantine), and sync says so rather
    than leave the user wondering why the quarantine is not empty."""
    lib, _ = curated
    bad_path = rows(lib, "SELECT path FROM frames WHERE bad = 1")[0][0]
    out = cli(lib, "sync")
    assert "organized 5, 0 duplicates, 0 held, 1 not filed (`astrocat organize --dry-run` says why);" in out
    assert bad_path.startswith("quarantine/") and (lib.base_dir / bad_path).is_file()
    plan = json.loads(cli(lib, "organize", "--dry-run", "--json"))["plan"]
    assert [(i["action"], i["source"], i["reason"]) for i in plan] == [
        ("skip", bad_path, "marked bad (clouds): stays where it is")]


def test_corrections_survive_organize_and_a_relayout(curated) -> None:
    lib, sha = curated
    bad_path = rows(lib, "SELECT path FROM frames WHERE bad = 1")[0][0]
    out = cli(lib, "organize")
    assert "1 skipped" in out
    _assert_curated(lib, sha)
    paths = [r[0] for r in rows(lib, "SELECT path FROM frames WHERE bad = 0")]
    # filed under the corrected values: the OIII frame by its filter, every frame under M31
    assert len(paths) == 5 and all(p.startswith("library/2024/2024-11-01_M31/") for p in paths), paths
    assert sum("_OIII_" in p for p in paths) == 1
    set_pattern(lib.config_path, "{target}/{filter}/{night}/{frame_type}_{exposure}_{seq}")
    cli(lib, "organize", "--relayout")
    paths = sorted(r[0] for r in rows(lib, "SELECT path FROM frames"))
    assert sum(p.startswith("library/M31/OIII/") for p in paths) == 1
    assert sum(p.startswith("library/M31/Ha/") for p in paths) == 4
    # a bad frame is never moved or deleted: it is where it was
    assert rows(lib, "SELECT path FROM frames WHERE bad = 1") == [(bad_path,)]
    assert (lib.base_dir / bad_path).is_file()
    _assert_curated(lib, sha)
    scan(lib, "--full")
    _assert_curated(lib, sha)


def test_corrections_survive_a_catalog_deleted_and_rebuilt_by_scan(curated) -> None:
    lib, sha = curated
    journal = lib.catalog.with_name(lib.catalog.name + ".overrides.jsonl")
    assert journal.is_file()
    for suffix in ("", "-wal", "-shm"):
        p = lib.catalog.with_name(lib.catalog.name + suffix)
        if p.exists():
            p.unlink()
    out = scan(lib)
    assert out["new"] == 6
    _assert_curated(lib, sha)
    history = cli_json(lib, "history")
    assert [h["command"].split()[1:3] for h in history] == [
        ["session", "rename"], ["target", "alias"], ["frame", "mark-bad"], ["frame", "set"]]
    # the old session id keeps resolving in the rebuilt catalog too
    assert len(cli_json(lib, "list", "files", "--session", SESSION)) == 6
    # and undo still works on what came back from the journal
    cli(lib, "undo")
    assert {r[0] for r in rows(lib, "SELECT session_id FROM frames")} == {SESSION}


def test_a_rebuilt_catalog_keeps_an_undo_made_before_the_loss(curated) -> None:
    lib, sha = curated
    cli(lib, "undo")  # the rename
    lib.catalog.unlink()
    for suffix in ("-wal", "-shm"):
        lib.catalog.with_name(lib.catalog.name + suffix).unlink(missing_ok=True)
    scan(lib)
    assert {r[0] for r in rows(lib, "SELECT session_id FROM frames")} == {SESSION}
    assert rows(lib, "SELECT bad_reason FROM frames WHERE bad = 1") == [("clouds",)]


def test_corrections_survive_a_rebuild_of_site_and_notes(curated) -> None:
    lib, sha = curated
    cli(lib, "build", "--no-thumbnails")
    cli(lib, "build", "--no-thumbnails", "--full")
    _assert_curated(lib, sha)
    page = (lib.site / "sessions" / f"{RENAMED}.html").read_text(encoding="utf-8")
    bad_name = os.path.basename(rows(lib, "SELECT path FROM frames WHERE bad = 1")[0][0])
    assert f"<s>{bad_name}</s>" in page and "bad: clouds" in page
    assert 'class="corrected"' in page
    # the old id's page leads to the new one
    old = (lib.site / "sessions" / f"{SESSION}.html").read_text(encoding="utf-8")
    assert f"{RENAMED}.html" in old and "refresh" in old
    note = next(lib.notes.rglob(f"{RENAMED}.md")).read_text(encoding="utf-8")
    assert "## Frames marked bad" in note
    assert f"~~{bad_name.replace('_', chr(92) + '_')}~~" in note and "clouds" in note
    assert "22 min" in note, "the note's total is 1320 s: the bad frame is left out"
    # an incremental build and notes run follow an undo of the bad mark
    cli(lib, "frame", "unmark-bad", "--path", "*")
    cli(lib, "build", "--no-thumbnails")
    page = (lib.site / "sessions" / f"{RENAMED}.html").read_text(encoding="utf-8")
    assert "<s>" not in page and "bad: clouds" not in page
    note = next(lib.notes.rglob(f"{RENAMED}.md")).read_text(encoding="utf-8")
    assert "Frames marked bad" not in note and "27 min" in note


def test_bad_frames_leave_stats_integration_by_exactly_their_exposure(library) -> None:
    night(library, 3)
    write_light(library.quarantine / "n1" / "short.fits", exptime=37.5, seed=9, date="2024-11-01T22:00:00")
    scan(library)
    before = cli_json(library, "stats", "summary")
    assert before["integration_s"] == 937.5
    short = rows(library, "SELECT id FROM frames WHERE exposure_s = 37.5")[0][0]
    cli(library, "frame", "mark-bad", str(short), "--reason", "satellite")
    after = cli_json(library, "stats", "summary")
    assert before["integration_s"] - after["integration_s"] == 37.5
    assert after["frames"] == before["frames"] == 4, "a bad frame is still a file of the catalog"
    assert (library.base_dir / rows(library, "SELECT path FROM frames WHERE id = ?", short)[0][0]).is_file()
    by_filter = cli_json(library, "stats", "by-filter")
    assert [(f["name"], f["integration_s"]) for f in by_filter] == [("Ha", 900.0)]
    cli(library, "frame", "unmark-bad", str(short))
    assert cli_json(library, "stats", "summary")["integration_s"] == 937.5
    assert cli_json(library, "verify", "database")["clean"] is True


def test_frame_set_by_session_and_by_path_glob(library) -> None:
    night(library, 3)
    write_light(library.quarantine / "other" / "x.fits", seed=7, date="2024-11-03T21:00:00")
    scan(library)
    cli(library, "frame", "set", "--path", "quarantine/n1/*_00[01].fits", "--type", "flat")
    assert rows(library, "SELECT COUNT(*) FROM frames WHERE frame_type = 'flat'") == [(2,)]
    cli(library, "frame", "set", "--session", SESSION, "--target", "ngc7000")
    assert rows(library, "SELECT target, COUNT(*) FROM frames GROUP BY target ORDER BY target") == [
        ("M31", 1), ("NGC 7000", 3)]


def test_dry_run_changes_nothing_and_says_what_would_change(library) -> None:
    night(library, 2)
    scan(library)
    fid = frame_ids(library)[0]
    before = dump(library)
    out = cli(library, "frame", "set", str(fid), "--target", "M33", "--dry-run")
    assert "would change" in out and "target M31 -> M33" in out
    assert dump(library) == before
    assert rows(library, "SELECT COUNT(*) FROM history") == [(0,)]
    journal = library.catalog.with_name(library.catalog.name + ".overrides.jsonl")
    assert not journal.exists() or journal.read_text() == ""


def test_show_prints_effective_and_header_values(library) -> None:
    night(library, 1)
    scan(library)
    fid = frame_ids(library)[0]
    cli(library, "frame", "set", str(fid), "--exposure", "60", "--why", "EXPTIME written in ms")
    shown = cli_json(library, "show", str(fid))
    assert shown["frame"]["exposure_s"] == 60.0
    assert shown["raw"] == {"exposure_s": 300.0}
    assert [(o["field"], o["value"], o["value_before"], o["why"]) for o in shown["overrides"]] == [
        ("exposure_s", 60.0, 300.0, "EXPTIME written in ms")]
    text = cli(library, "show", str(fid))
    assert "300.0  (corrected)" in text


@pytest.mark.parametrize(("args", "message"), [
    (("frame", "set", "99999", "--target", "M1"), "no frame with id 99999"),
    (("frame", "set", "1"), "nothing to set"),
    (("frame", "set", "1", "--type", "selfie"), "--type 'selfie'"),
    (("frame", "mark-bad", "1"), "--reason"),
    (("session", "rename", "nope", "x"), "no session nope"),
    (("session", "split", SESSION, "--at", "tea time"), "expected a UTC date and time"),
    (("target", "rename", "M99", "M100"), "no target M99"),
    (("target", "assign"), "--suggested"),
    (("undo", "42"), "no change 42"),
    (("show", "nope"), "no such frame"),
])
def test_bad_requests_are_one_line_usage_errors(library, args, message) -> None:
    night(library, 2)
    scan(library)
    out = cli(library, *args, code=2)
    assert message in out
    assert "Traceback" not in out


def test_undo_with_nothing_to_undo(library) -> None:
    night(library, 1)
    scan(library)
    assert "nothing to undo" in cli(library, "undo", code=2)


def _journal(lib):
    return lib.catalog.with_name(lib.catalog.name + ".overrides.jsonl")


def _delete_catalog(lib) -> None:
    for suffix in ("", "-wal", "-shm"):
        lib.catalog.with_name(lib.catalog.name + suffix).unlink(missing_ok=True)


def test_a_damaged_journal_gives_back_what_it_can_and_is_written_again(library) -> None:
    night(library, 2)
    scan(library)
    first, second = frame_ids(library)
    cli(library, "frame", "set", str(first), "--target", "M33")
    cli(library, "frame", "mark-bad", str(second), "--reason", "clouds")
    journal = _journal(library)
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    # the second entry cut short by a crash, and a line of something else
    journal.write_text(lines[0] + "\n" + lines[1][:40] + "\n[1, 2]\n", encoding="utf-8")
    _delete_catalog(library)
    scan(library)
    assert rows(library, "SELECT target, bad FROM frames ORDER BY date_obs") == [("M33", 0), ("M31", 0)]
    # written again from the catalog: one whole entry, nothing unreadable
    again = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert [e["entry"]["command"] for e in again] == [f"astrocat frame set {first} --target M33"]


def test_a_journal_that_cannot_be_written_leaves_a_warning_not_a_failure(library) -> None:
    night(library, 1)
    scan(library)
    _journal(library).mkdir()  # a folder where the file should be: every write fails
    out = cli(library, "frame", "set", str(frame_ids(library)[0]), "--target", "M33")
    assert "warning:" in out and "cannot write the corrections' journal" in out
    assert rows(library, "SELECT target FROM frames") == [("M33",)]
    assert "Traceback" not in out


def test_a_correction_the_frames_already_carry_records_nothing(library) -> None:
    night(library, 2)
    scan(library)
    out = cli(library, "frame", "set", "--path", "*", "--target", "M 31")
    assert "nothing to change" in out
    assert rows(library, "SELECT COUNT(*) FROM history") == [(0,)]
    assert "--target: give a name" in cli(library, "frame", "set", "--path", "*", "--target", " ", code=2)
    # an alias for a name no frame has yet is recorded: frames scanned later join the target
    cli(library, "target", "alias", "Andromeda", "M31")
    assert rows(library, "SELECT COUNT(*) FROM history") == [(1,)]


def test_verify_database_finds_a_frame_out_of_step_with_its_corrections(library) -> None:
    night(library, 2)
    scan(library)
    fid = frame_ids(library)[0]
    cli(library, "frame", "set", str(fid), "--target", "M33")
    assert cli_json(library, "verify", "database")["checks"]["overrides"] == "ok"
    con = sqlite3.connect(library.catalog)
    with con:
        con.execute("UPDATE frames SET target = 'M31' WHERE id = ?", (fid,))  # an outside edit
    con.close()
    r = invoke_cli("verify", "database", "--json", cwd=library.base_dir)
    assert r.returncode == 1
    problems = json.loads(r.stdout)["problems"]
    assert any("do not carry the corrections" in str(p) for p in problems), problems
    scan(library, "--full")
    assert rows(library, "SELECT target FROM frames WHERE id = ?", fid) == [("M33",)]
    assert cli_json(library, "verify", "database")["clean"] is True


def test_a_catalog_restored_from_an_older_copy_takes_back_later_corrections(library, tmp_path) -> None:
    night(library, 3)
    scan(library)
    a, b, c = frame_ids(library)
    cli(library, "frame", "set", str(a), "--target", "M33")
    backup = tmp_path / "backup.db"
    src, dst = sqlite3.connect(library.catalog), sqlite3.connect(backup)
    src.backup(dst)
    src.close()
    dst.close()
    cli(library, "frame", "mark-bad", str(b), "--reason", "clouds")
    cli(library, "undo", "1")  # the M33 correction, undone after the backup was taken
    _delete_catalog(library)
    backup.replace(library.catalog)
    scan(library)
    got = dict(rows(library, "SELECT id, target || '/' || bad FROM frames"))
    assert got == {a: "M31/0", b: "M31/1", c: "M31/0"}
    assert [(h["id"], bool(h["undone_at"])) for h in cli_json(library, "history")] == [(2, False), (1, True)]


def test_a_correction_is_refused_while_another_astrocat_holds_the_catalog(library) -> None:
    from astrocat.lock import catalog_lock
    from conftest import run_cli

    night(library, 1)
    scan(library)
    before = dump(library)
    with catalog_lock(library.catalog, "test holder"):
        # a real second process: the lock is between processes
        r = run_cli("frame", "mark-bad", str(frame_ids(library)[0]), "--reason", "clouds",
                    cwd=library.base_dir, env={"ASTROCAT_LOCK_WAIT_S": "0.5"})
    assert r.returncode == 3, r.stderr
    assert "test holder" in r.stderr and "Traceback" not in r.stderr
    assert dump(library) == before
