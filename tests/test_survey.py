"""The rescan's walk shared with a forked process finds exactly what one process finds:
the same files unchanged, waiting and to read, every path once, and a child that fails
leaves its folders to the parent rather than losing them."""

from __future__ import annotations

import os
import signal
import time

import pytest

from astrocat import catalog
from astrocat.ingest import scan as scan_module
from astrocat.ingest import survey as survey_module
from astrocat.ingest.scan import scan
from astrocat.ingest.survey import PathForms, survey
from astrocat.ingest.walk import split
from organize_util import write_frame

NIGHTS = 40  # more folders than `split` needs before it deals them out


def _tree(settings, now: float) -> tuple[dict[str, tuple[int, float, str]], dict[str, int]]:
    """A library of plain files and the catalog's record of it, with the expected counts
    known by construction: unchanged, touched, new, waiting, back from missing, gone."""
    base = settings.base_dir
    known: dict[str, tuple[int, float, str]] = {}
    old = now - 3600
    want = {"unchanged": 0, "todo": 0, "waiting": 0, "on_record": 0, "seen": 0}

    def put(rel: str, size: int, mtime: float) -> None:
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)
        os.utime(p, (mtime, mtime))
        want["seen"] += 1

    for n in range(NIGHTS):
        night = f"library/2024/2024-11-{n % 28 + 1:02d}_T{n}/light"
        for i in range(5):
            rel = f"{night}/f{i}.fits"
            put(rel, 100 + i, old)
            if i == 0 and n % 7 == 3:  # touched since the last scan: another size
                known[rel] = (99, old, "frame")
                want["todo"] += 1
                want["on_record"] += 1
            elif i == 1 and n % 9 == 4:  # cataloged as missing, now back
                known[rel] = (101, old, "missing")
                want["todo"] += 1
            elif i == 2 and n % 11 == 5:  # new, written just now: waiting
                os.utime(base / rel, (now - 1, now - 1))
                want["waiting"] += 1
            elif i == 3 and n % 5 == 2:  # new
                want["todo"] += 1
            else:
                known[rel] = (100 + i, old, "frame")
                want["unchanged"] += 1
                want["on_record"] += 1
        (base / night / "notes.txt").write_text("not a frame")  # not a candidate: not seen
        known[f"{night}/gone{n}.fits"] = (5, old, "frame")  # cataloged, deleted since
    put("quarantine/direct.fits", 7, old)  # a file in a root itself
    want["todo"] += 1
    os.symlink(base / "quarantine/direct.fits", base / "quarantine/link.fits")
    known["quarantine/link.fits"] = (0, 0.0, "reject")  # a link already on record
    want["seen"] += 1
    want["unchanged"] += 1
    want["on_record"] += 1
    os.mkfifo(base / "quarantine/pipe.fits")  # a FIFO: to record as a reject, never opened
    want["seen"] += 1
    want["todo"] += 1
    return known, want


def _view(s) -> tuple:
    todo = sorted((rel, e.path, e.size, e.mtime, e.reason, kind) for e, rel, kind in s.todo)
    return s.seen, s.unchanged, s.waiting, s.on_record, todo, sorted(s.seen_paths)


def test_the_shared_walk_finds_what_one_process_finds(library, monkeypatch) -> None:
    now = time.time()
    known, want = _tree(library, now)
    roots = [library.quarantine, library.library]
    head, frontier, _ = split(roots)
    assert len(frontier) >= 2 * 8, "the tree is too small to be shared out"
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())

    alone = survey(roots, known, PathForms(library), full=False, settle=30, now=now, parallel=False)
    assert forks == []
    shared = survey(roots, known, PathForms(library), full=False, settle=30, now=now, parallel=True)
    assert forks == [1]

    assert _view(shared) == _view(alone)
    assert len(set(shared.seen_paths)) == len(shared.seen_paths) == want["seen"]
    assert (shared.unchanged, shared.waiting, shared.on_record, len(shared.todo)) == (
        want["unchanged"], want["waiting"], want["on_record"], want["todo"])
    reasons = {rel: e.reason for e, rel, _ in shared.todo if e.reason}
    assert reasons == {"quarantine/pipe.fits": "not a regular file (FIFO)"}


@pytest.mark.parametrize("failure", ["raises", "killed"])
def test_a_child_that_fails_leaves_its_folders_to_the_parent(library, monkeypatch, failure: str) -> None:
    now = time.time()
    known, want = _tree(library, now)
    roots = [library.quarantine, library.library]
    alone = survey(roots, known, PathForms(library), full=False, settle=30, now=now, parallel=False)
    parent = os.getpid()

    def broken(_s):
        assert os.getpid() != parent, "only the child packs its result"
        if failure == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        raise MemoryError

    monkeypatch.setattr(survey_module, "_pack", broken)
    shared = survey(roots, known, PathForms(library), full=False, settle=30, now=now, parallel=True)
    assert _view(shared) == _view(alone)
    assert shared.seen == want["seen"]


def test_scan_with_the_shared_walk_reports_what_changed(library, monkeypatch) -> None:
    """The real scan, forced to share its walk, over real frames: a new frame, one rewritten
    in place, one deleted, each found; then the catalog is as a scan in one process leaves it."""
    frames = []
    for n in range(36):
        p = library.library / "2024" / f"2024-11-{n % 28 + 1:02d}_M31_{n}" / "light" / f"M31_L_{n:03d}.fits"
        write_frame(p, n)
        frames.append(p)
    old = time.time() - 3600
    for p in frames:
        os.utime(p, (old, old))
    results = {}
    real_fork = os.fork
    for share in (False, True):
        monkeypatch.setattr(scan_module, "PARALLEL_MIN_FILES", 0 if share else 10**9)
        forks = []
        monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
        for f in library.catalog.parent.glob(library.catalog.name + "*"):
            f.unlink()
        db = catalog.open_catalog(library.catalog)
        try:
            first = scan(db, library)
            assert (first.new, first.missing) == (36, 0)
            gone, rewritten, added = frames[5], frames[20], library.quarantine / "new.fits"
            gone_bytes = gone.read_bytes()
            gone.unlink()
            rewritten_bytes = rewritten.read_bytes()
            rewritten.unlink()
            write_frame(rewritten, 20, FILTER="Ha")  # same name, new content
            os.utime(rewritten, (old + 60, old + 60))
            write_frame(added, 99)
            os.utime(added, (old, old))
            second = scan(db, library).as_dict()
            rows = sorted(db.execute("SELECT path, filter, location FROM frames").fetchall())
        finally:
            db.conn.close()
        # put the tree back for the other run
        added.unlink()
        gone.write_bytes(gone_bytes)
        rewritten.write_bytes(rewritten_bytes)
        for p in (gone, rewritten):
            os.utime(p, (old, old))
        assert forks == ([1, 1] if share else [])
        second.pop("elapsed_s")
        results[share] = (second, rows)
        assert (second["new"], second["changed"], second["missing"], second["unchanged"]) == (1, 1, 1, 34)
        by_path = {p: (f, loc) for p, f, loc in rows}
        assert by_path[library.rel(gone)] == ("L", "missing")
        assert by_path[library.rel(rewritten)] == ("Ha", "library")
        assert by_path[library.rel(added)] == ("L", "quarantine")
    assert results[True] == results[False]


def test_nothing_is_missing_when_every_file_on_record_was_walked(library) -> None:
    """The shortcut that skips the set difference: taken only when every present record
    was seen, so a file deleted while another appears is still found missing."""
    for n in range(3):
        p = library.library / f"night{n}" / f"f{n}.fits"
        write_frame(p, n)
    db = catalog.open_catalog(library.catalog)
    try:
        assert scan(db, library).new == 3
        assert scan(db, library).missing == 0
        (library.library / "night0" / "f0.fits").unlink()
        write_frame(library.library / "night0" / "other.fits", 7)
        r = scan(db, library)
        assert (r.new, r.missing) == (1, 1)
    finally:
        db.conn.close()


def test_no_process_to_fork_walks_everything_here(library, monkeypatch) -> None:
    now = time.time()
    known, want = _tree(library, now)
    roots = [library.quarantine, library.library]
    alone = survey(roots, known, PathForms(library), full=False, settle=30, now=now, parallel=False)
    open_fds = len(os.listdir("/proc/self/fd"))

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    shared = survey(roots, known, PathForms(library), full=False, settle=30, now=now, parallel=True)
    assert _view(shared) == _view(alone)
    assert shared.seen == want["seen"]
    assert len(os.listdir("/proc/self/fd")) == open_fds, "the pipe was not closed"
