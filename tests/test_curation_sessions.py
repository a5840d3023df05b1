"""Session corrections: rename (the note follows byte for byte, the old id keeps working),
merge, split, move-frames, set --telescope; and undo restores every table exactly."""

from __future__ import annotations

import pytest

from curatekit import SESSION, cli, cli_json, dump, frame_ids, night, rows, scan, write_light

NEXT = "2024-11-02_ASI2600MM_Star71"


def _two_nights(lib) -> None:
    night(lib, 4)
    for i in range(2):
        write_light(lib.quarantine / "n2" / f"m31_{i}.fits", seed=20 + i, date=f"2024-11-02T22:0{i}:00")
    scan(lib)


def sessions(lib) -> dict[str, int]:
    return dict(rows(lib, "SELECT session_id, COUNT(*) FROM frames GROUP BY session_id"))


def test_rename_carries_the_note_and_its_user_text_byte_for_byte(library) -> None:
    _two_nights(library)
    cli(library, "notes")
    old_note = next(library.notes.rglob(f"{SESSION}.md"))
    text = old_note.read_bytes()
    mine = "\nMy own words: seeing 2\u2033, dew at 23:40 \u2014 keep.\r\n\ttabs and trailing  \n".encode()
    old_note.write_bytes(text + mine)
    cli(library, "session", "rename", SESSION, "2024-11-01_first-light")
    assert sessions(library) == {"2024-11-01_first-light": 4, NEXT: 2}
    cli(library, "notes")
    new_note = old_note.with_name("2024-11-01_first-light.md")
    assert not old_note.exists()
    assert new_note.read_bytes().endswith(mine)
    # the old id keeps working on the command line
    assert len(cli_json(library, "list", "files", "--session", SESSION)) == 4
    assert [s["id"] for s in cli_json(library, "list", "sessions", "--session", SESSION)] == ["2024-11-01_first-light"]
    # a rescan of the same headers keeps the new id
    scan(library, "--full")
    assert sessions(library) == {"2024-11-01_first-light": 4, NEXT: 2}


def test_merge_split_move_and_set(library) -> None:
    _two_nights(library)
    cli(library, "session", "merge", SESSION, NEXT)
    assert sessions(library) == {SESSION: 6}
    assert rows(library, "SELECT old_id, new_id FROM session_aliases") == [(NEXT, SESSION)]
    assert len(cli_json(library, "list", "files", "--session", NEXT)) == 6, "the merged id resolves"
    # split at the second night's first frame: those two go to a new session
    cli(library, "session", "split", SESSION, "--at", "2024-11-02T22:00:00")
    assert sessions(library) == {SESSION: 4, f"{SESSION}-2": 2}
    # move one of the first night's frames over, by id
    fid = frame_ids(library, "date_obs LIKE '2024-11-01%'")[-1]
    cli(library, "session", "move-frames", "--to", f"{SESSION}-2", "--frame-id", str(fid))
    assert sessions(library) == {SESSION: 3, f"{SESSION}-2": 3}
    # and back by time range
    cli(library, "session", "move-frames", "--to", SESSION, "--from", "2024-11-01T21:03:00", "--until",
        "2024-11-01T21:03:59")
    assert sessions(library) == {SESSION: 4, f"{SESSION}-2": 2}
    cli(library, "session", "set", SESSION, "--telescope", "Esprit 100")
    assert rows(library, "SELECT DISTINCT telescope FROM frames WHERE session_id = ?", SESSION) == [("Esprit 100",)]
    assert rows(library, "SELECT DISTINCT telescope FROM frames WHERE session_id != ?", SESSION) == [("Star71",)]
    assert rows(library, "SELECT telescope FROM sessions WHERE id = ?", SESSION) == [("Esprit 100",)]
    before = dump(library, with_ids=False)
    scan(library, "--full")
    assert dump(library, with_ids=False)["frames"] == before["frames"]
    assert cli_json(library, "verify", "database")["clean"] is True


def _cmd_rename(lib):
    return ("session", "rename", SESSION, "renamed")


def _cmd_merge(lib):
    return ("session", "merge", SESSION, NEXT)


def _cmd_split(lib):
    return ("session", "split", SESSION, "--at", "2024-11-01T21:02:00")


def _cmd_move(lib):
    return ("session", "move-frames", "--to", NEXT, "--frame-id", str(frame_ids(lib)[0]))


def _cmd_set(lib):
    return ("session", "set", NEXT, "--telescope", "RedCat 51")


def _cmd_bad(lib):
    return ("frame", "mark-bad", *map(str, frame_ids(lib)[:2]), "--reason", "wind")


def _cmd_frame_set(lib):
    return ("frame", "set", "--session", NEXT, "--target", "M33", "--filter", "OIII", "--type", "flat",
            "--exposure", "5")


def _cmd_alias(lib):
    return ("target", "alias", "M31", "Andromeda Galaxy")


@pytest.mark.parametrize("command", [_cmd_rename, _cmd_merge, _cmd_split, _cmd_move, _cmd_set, _cmd_bad,
                                     _cmd_frame_set, _cmd_alias])
def test_undo_restores_every_table_exactly(library, command) -> None:
    _two_nights(library)
    # an earlier correction that must stay in effect through the undo
    cli(library, "frame", "set", str(frame_ids(library)[-1]), "--filter", "SII")
    cli(library, "session", "rename", NEXT, "second-night")
    cli(library, "session", "rename", "second-night", NEXT)
    before = dump(library)
    args = command(library)
    cli(library, *args)
    assert dump(library) != before, f"{args} changed nothing"
    out = cli(library, "undo")
    assert "changed" in out
    assert dump(library) == before
    assert rows(library, "SELECT COUNT(*) FROM history WHERE undone_at IS NOT NULL") == [(1,)]


def test_undo_by_id_leaves_later_changes_in_effect(library) -> None:
    _two_nights(library)
    first, second = frame_ids(library)[:2]
    cli(library, "frame", "mark-bad", str(first), "--reason", "clouds")
    cli(library, "frame", "set", str(second), "--target", "M33")
    hid = cli_json(library, "history")[-1]["id"]
    cli(library, "undo", str(hid))
    assert rows(library, "SELECT bad FROM frames WHERE id = ?", first) == [(0,)]
    assert rows(library, "SELECT target FROM frames WHERE id = ?", second) == [("M33",)]
    assert "already undone" in cli(library, "undo", str(hid), code=2)


@pytest.mark.parametrize(("args", "message"), [
    (("session", "rename", SESSION, NEXT), "exists already"),
    (("session", "merge", SESSION), "at least one"),
    (("session", "merge", SESSION, SESSION), "itself"),
    (("session", "split", SESSION, "--at", "2024-11-01T20:00:00"), "nothing to split"),
    (("session", "move-frames", "--to", NEXT), "--frame-id"),
])
def test_session_requests_that_cannot_be_done(library, args, message) -> None:
    _two_nights(library)
    before = dump(library)
    assert message in cli(library, *args, code=2)
    assert dump(library) == before


def test_a_note_that_followed_a_rename_follows_its_undo_back(library) -> None:
    _two_nights(library)
    cli(library, "notes")
    note = next(library.notes.rglob(f"{SESSION}.md"))
    mine = "\nWritten by hand: guiding 0.6\u2033 RMS.\n".encode()
    note.write_bytes(note.read_bytes() + mine)
    cli(library, "session", "rename", SESSION, "renamed")
    cli(library, "notes")
    assert not note.exists() and note.with_name("renamed.md").read_bytes().endswith(mine)
    cli(library, "undo")
    cli(library, "notes")
    assert note.read_bytes().endswith(mine)
    assert not note.with_name("renamed.md").exists()
    assert sessions(library) == {SESSION: 4, NEXT: 2}
