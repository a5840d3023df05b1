"""Printing: rich tables for people, JSON for scripts. No logic about frames here."""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from astrocat.units import hours, human_bytes  # noqa: F401  (re-exported for the CLI)

# Piped output gets a wide table rather than rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    sys.stdout.write("\n")


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str | None = None) -> None:
    """columns: (key, heading). Values are printed as text, never as rich markup."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for _, heading in columns:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*[_escape(fmt(row.get(key))) for key, _ in columns])
    console.print(table)
    if not rows:
        console.print("(no rows)")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def error(message: str) -> None:
    # soft_wrap: one error stays one line however long its paths (logs, cron mail, grep)
    err_console.print(f"[bold red]error:[/] {_escape(message)}", soft_wrap=True)


def info(message: str) -> None:
    console.print(message)
