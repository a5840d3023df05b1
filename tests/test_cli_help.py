"""The help texts (and so docs/cli.md, generated from them) point only at files that exist."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT

# a file name in running text: docs/organize.md, DESIGN.md, metadata.yml (not <session>.md)
FILE_NAME = re.compile(r"(?<![\w<>/.-])\w[\w./-]*\.(?:md|ya?ml|py)\b")


def help_text() -> str:
    """Every command's --help, as docs/gen_cli.py renders it (its own process: it sets
    TYPER_USE_RICH before typer loads)."""
    code = "import sys; sys.path.insert(0, 'docs'); import gen_cli; print(gen_cli.render())"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_help_names_only_files_in_the_repository() -> None:
    text = help_text()
    assert "## `astrocat list files`" in text and "## `astrocat verify database`" in text  # every subcommand
    named = set(FILE_NAME.findall(text))
    assert "docs/organize.md" in named  # the pattern finds what it is for
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []


def test_the_file_pattern_catches_a_missing_design_note() -> None:
    named = FILE_NAME.findall("prints every field of DESIGN.md per frame; notes in Targets/<target>.md")
    assert named == ["DESIGN.md"] and not (ROOT / "DESIGN.md").exists()


def test_every_command_a_message_names_is_a_real_command() -> None:
    """Hints like "(see `astrocat list files`)" name commands that exist: a group's
    subcommand must be one of that group's (a hint once sent users to `list frames`)."""
    import re
    from pathlib import Path

    from typer.main import get_command

    from astrocat.cli import app

    root = get_command(app)
    named: dict[tuple[str, ...], set[str]] = {}
    for py in (Path(__file__).resolve().parent.parent / "astrocat").rglob("*.py"):
        for m in re.finditer(r"`astrocat ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", py.read_text(encoding="utf-8")):
            named.setdefault(tuple(w for w in m.groups() if w), set()).add(py.name)
    assert len(named) > 40  # the hints are found at all
    wrong = []
    for words, where in sorted(named.items()):
        cmd = root.commands.get(words[0])
        if cmd is None:
            wrong.append((words, sorted(where)))
        elif len(words) > 1 and hasattr(cmd, "commands") and words[1] not in cmd.commands:
            wrong.append((words, sorted(where)))
    assert wrong == []
