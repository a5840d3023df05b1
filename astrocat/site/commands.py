"""The commands the site offers to copy, where a server would have a button.

One table, so the commands stay in step with the CLI (docs/site.md lists them), and
every one passes `astrocat.features.command_available`: a page never offers a command
of a feature that is not built.
"""

from __future__ import annotations

import shlex

from astrocat import features

COMMANDS = {
    "scan": "astrocat scan",
    "organize": "astrocat organize --dry-run",
    "build": "astrocat build --open",
    "datasette": "astrocat datasette",
    "session_files": "astrocat list files --session {session}",
    "session_note": "astrocat notes",
    "target_stats": "astrocat stats by-filter --target {target}",
    "target_files": "astrocat list files --target {target} --type light",
}


def command(key: str, **values: str) -> str:
    """The command `key` with its values shell-quoted (a target may hold spaces or quotes)."""
    return COMMANDS[key].format(**{k: shlex.quote(v) for k, v in values.items()})


def actions(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label, command) pairs whose command runs in this astrocat."""
    return [(label, cmd) for label, cmd in pairs if features.command_available(cmd)]
