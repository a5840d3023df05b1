"""Generate docs/cli.md from the CLI's own --help, so the reference cannot drift.

Run: python docs/gen_cli.py            (rewrite docs/cli.md)
     python docs/gen_cli.py --check    (exit 1 if docs/cli.md is stale; the test suite does this)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["TYPER_USE_RICH"] = "0"  # plain click help: stable text for Markdown
os.environ["COLUMNS"] = "100"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import typer  # noqa: E402
import typer.main  # noqa: E402

from astrocat.cli import app  # noqa: E402

HEAD = """# CLI reference

Generated from `astrocat --help` by `python docs/gen_cli.py`; do not edit by hand.

Exit codes: `0` success; `1` the command finished but found problems (rejected files, failed
checks); `2` usage or configuration error; `3` another astrocat process holds the catalog lock;
`4` the catalog cannot be opened; `5` a bug in astrocat (one line on stderr, the traceback
saved to a file in the temporary folder; `ASTROCAT_DEBUG=1` prints it instead).
"""


def walk(cmd, path: list[str]):  # noqa: ANN001 - typer's (vendored click) Command
    yield path, cmd
    # typer vendors its own click, so a group is whatever has subcommands, not a click.Group
    commands = getattr(cmd, "commands", {})
    for name in sorted(commands):
        yield from walk(commands[name], path + [name])


def render() -> str:
    root = typer.main.get_command(app)
    parts = [HEAD]
    for path, cmd in walk(root, ["astrocat"]):
        ctx = typer.Context(cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100)
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{cmd.get_help(ctx).rstrip()}\n```\n")
    return "".join(parts)


def main() -> int:
    text = render()
    target = ROOT / "docs" / "cli.md"
    if "--check" in sys.argv:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print("docs/cli.md is stale: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
