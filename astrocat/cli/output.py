"""Printing: rich tables for people, JSON for scripts. No logic about frames here.

Every message is printed as text: square brackets in a path or a hint (`[observatory]`)
are never read as rich markup unless a caller asks for markup explicitly."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from typing import Any, Callable, Iterable, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from astrocat.units import hours, human_bytes, plural  # noqa: F401  (re-exported for the CLI)

PIPED_WIDTH = 200  # piped output gets wide tables rather than rich's 80-column default
MIN_SHRUNK = 16  # a path truncated in the middle keeps at least this many characters
MIN_PATH = 32  # ... but columns are dropped before a path gets shorter than this
MIN_CLIP = 10  # a name cut at the end keeps at least this many
JSON_BATCH = 256  # items per write of a streamed JSON array
STREAM_ROWS = 2000  # a longer table is laid out from column widths and printed a page at a time
PAGE_ROWS = 500

err_console = Console(stderr=True, highlight=False, emoji=False)


def terminal_width() -> int:
    """$COLUMNS when set, else the terminal's width, else PIPED_WIDTH (read at each print,
    so a resized terminal or a test's COLUMNS is honoured)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return PIPED_WIDTH


def _console() -> Console:
    return Console(highlight=False, emoji=False, width=terminal_width())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    sys.stdout.write("\n")


def print_json_array(items: Iterable[Any]) -> None:
    """The bytes `print_json(list(items))` prints, written as the items come (constant memory)."""
    out: list[str] = []
    first = True
    for item in items:
        # an item of a list indented by 2 is the item dumped alone with every line indented
        # by 2 more (a JSON string never holds a raw newline)
        text = json.dumps(item, ensure_ascii=False, indent=2, default=str).replace("\n", "\n  ")
        out.append(("[\n  " if first else ",\n  ") + text)
        first = False
        if len(out) >= JSON_BATCH:
            sys.stdout.write("".join(out))
            out.clear()
    out.append("[]\n" if first else "\n]\n")
    sys.stdout.write("".join(out))


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


def middle_truncate(text: str, width: int) -> str:
    """'library/2024/…/M31_L_0001.fits': the start and the end (the file name) of a path kept."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    # the file name matters more than the folders: keep it whole when there is room
    name = len(text) - text.rstrip("/").rfind("/")
    tail = name if name <= width - 9 else (width - 1) * 3 // 5
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail:]


def end_truncate(text: str, width: int) -> str:
    """'M31, NGC 70…': a list of names cut at the end."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _table(cells: list[list[str]], headings: list[str], title: str | None, wrap: list[bool],
           widths: list[int] | None = None, show_header: bool = True) -> Table:
    table = Table(title=escape(title) if title else None, header_style="bold", show_lines=False,
                  show_header=show_header)
    for i, (heading, may_wrap) in enumerate(zip(headings, wrap)):
        # a cell either fits on one line or ends in an ellipsis: never split a character at a time
        table.add_column(escape(heading), no_wrap=not may_wrap, overflow="fold" if may_wrap else "ellipsis",
                         width=widths[i] if widths else None)
    for row in cells:
        table.add_row(*[escape(c) for c in row])
    return table


def _cut_widths(widths: dict[str, int], floor: dict[str, int], over: int) -> dict[str, int]:
    """Take `over` characters off the cuttable columns, a character at a time from the
    widest (so two long paths end up sharing the room), none below its floor.
    Returns the columns cut and their new widths."""
    widths = dict(widths)
    cut: dict[str, int] = {}
    while over > 0:
        room = [k for k in widths if widths[k] > floor[k]]
        if not room:
            break
        k = max(room, key=lambda c: widths[c])
        widths[k] -= 1
        cut[k] = widths[k]
        over -= 1
    return cut


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str | None = None, *,
    drop: Iterable[str] = (), shrink: Iterable[str] = (), clip: Iterable[str] = (), wrap: Iterable[str] = (),
) -> None:
    """columns: (key, heading). Values are printed as text, never as rich markup.

    When the table is wider than the terminal, the columns in `drop` go first (in that
    order), then the columns in `shrink` (paths) are truncated in the middle and those in
    `clip` at the end; what is still too wide ends in an ellipsis, except the columns in
    `wrap` (free text), which wrap."""
    console = _console()
    width = console.width
    keys = [k for k, _ in columns]
    heading = dict(columns)
    text = {k: [fmt(r.get(k)) for r in rows] for k in keys}
    wrap_set = set(wrap)
    # column -> (shortest it may be cut to, how to cut)
    cutters = {k: (MIN_SHRUNK, middle_truncate) for k in shrink if k in keys}
    cutters.update({k: (MIN_CLIP, end_truncate) for k in clip if k in keys and k not in cutters})

    def cell(k: str, i: int, cut: dict[str, int]) -> str:
        if k not in cut:
            return text[k][i]
        return "\n".join(cutters[k][1](line, cut[k]) for line in text[k][i].split("\n"))  # a path a line

    def build(ks: list[str], cut: dict[str, int]) -> Table:
        cells = [[cell(k, i, cut) for k in ks] for i in range(len(rows))]
        return _table(cells, [heading[k] for k in ks], title, [k in wrap_set for k in ks])

    def natural(t: Table) -> int:
        return Measurement.get(console, console.options.update(width=10**6), t).maximum

    # a column is dropped only when the table cannot fit even with its cells cut short
    # (paths no shorter than MIN_PATH for that decision)
    shortest = {k: MIN_PATH if f is middle_truncate else lo for k, (lo, f) in cutters.items()}
    shown = list(keys)
    for k in [k for k in drop if k in keys]:
        if natural(build(shown, shortest)) <= width or len(shown) <= 1:
            break
        shown.remove(k)
    table = build(shown, {})
    over = natural(table) - width
    if over > 0 and cutters:
        # take the characters from the widest cuttable column first, so that two paths
        # (organize's source and destination) end up sharing the room
        widths = {k: max((len(line) for t in text[k] for line in t.split("\n")), default=0)
                  for k in cutters if k in shown}
        floor = {k: max(cutters[k][0], len(heading[k])) for k in widths}
        table = build(shown, _cut_widths(widths, floor, over))
    console.print(table)
    if not rows:
        console.print("(no rows)")


def print_table_stream(
    rows: Callable[[], Iterable[dict[str, Any]]], columns: Sequence[tuple[str, str]],
    title: Callable[[int], str] | None = None, *, drop: Iterable[str] = (), shrink: Iterable[str] = (),
    clip: Iterable[str] = (), wrap: Iterable[str] = (), stream_rows: int = STREAM_ROWS,
) -> None:
    """`print_table` for a listing of any length: `rows()` gives a new iterator each call.

    Up to `stream_rows` rows, exactly `print_table`. Past that, in constant memory: one
    pass over the rows measures each column (the longest line of its cells), the same
    rules as `print_table` then choose the columns to drop and the widths to cut to, and
    a second pass prints the rows a page at a time as one table of fixed column widths."""
    drop, shrink, clip, wrap = list(drop), list(shrink), list(clip), list(wrap)
    it = iter(rows())
    head = list(itertools.islice(it, stream_rows + 1))
    if len(head) <= stream_rows:
        print_table(head, columns, title(len(head)) if title else None, drop=drop, shrink=shrink, clip=clip, wrap=wrap)
        return
    keys = [k for k, _ in columns]
    heading = dict(columns)
    longest = dict.fromkeys(keys, 0)
    n = 0
    for r in itertools.chain(head, it):
        n += 1
        for k in keys:
            longest[k] = max(longest[k], max(cell_len(line) for line in fmt(r.get(k)).split("\n")))
    del head
    console = _console()
    width = console.width
    cutters = {k: (MIN_SHRUNK, middle_truncate) for k in shrink if k in keys}
    cutters.update({k: (MIN_CLIP, end_truncate) for k in clip if k in keys and k not in cutters})

    def col_width(k: str, cut: dict[str, int]) -> int:
        return max(cell_len(heading[k]), min(longest[k], cut.get(k, longest[k])))

    def natural(ks: list[str], cut: dict[str, int]) -> int:  # a rich table: 1 space each side, edges
        return sum(col_width(k, cut) + 3 for k in ks) + 1

    # the choices print_table makes from the cells, made here from their widths
    shortest = {k: MIN_PATH if f is middle_truncate else lo for k, (lo, f) in cutters.items()}
    shown = list(keys)
    for k in [k for k in drop if k in keys]:
        if natural(shown, shortest) <= width or len(shown) <= 1:
            break
        shown.remove(k)
    over = natural(shown, {}) - width
    cut: dict[str, int] = {}
    if over > 0 and cutters:
        widths = {k: longest[k] for k in cutters if k in shown}
        floor = {k: max(cutters[k][0], len(heading[k])) for k in widths}
        cut = _cut_widths(widths, floor, over)
    fixed = {k: col_width(k, cut) for k in shown}
    room = width - len(shown) - 1  # what the vertical lines leave
    if sum(fixed[k] + 2 for k in shown) > room:  # still too wide: narrowed evenly, as rich does
        from rich._ratio import ratio_reduce

        padded = [fixed[k] + 2 for k in shown]
        padded = ratio_reduce(sum(padded) - room, [1] * len(padded), padded, padded)
        fixed = {k: max(1, w - 2) for k, w in zip(shown, padded)}
    wrap_set = set(wrap)

    def cell(r: dict[str, Any], k: str) -> str:
        text = fmt(r.get(k))
        if k not in cut:
            return text
        return "\n".join(cutters[k][1](line, cut[k]) for line in text.split("\n"))

    pages = iter(rows())
    page = list(itertools.islice(pages, PAGE_ROWS))
    shown_widths = [fixed[k] for k in shown]
    # the first page through rich (title, header, borders and their styles), the rest line by
    # line at the same widths, as rich draws a row (a row rich might draw otherwise goes to rich)
    table = _table([[cell(r, k) for k in shown] for r in page], [heading[k] for k in shown],
                   title(n) if title else None, [k in wrap_set for k in shown], widths=shown_widths)
    with console.capture() as captured:
        console.print(table)
    lines = captured.get().splitlines(keepends=True)
    bottom = lines.pop()
    sys.stdout.write("".join(lines))
    plain = not (wrap_set & set(shown))
    while True:
        page = list(itertools.islice(pages, PAGE_ROWS))
        if not page:
            break
        out = []
        for r in page:
            cells = [cell(r, k) for k in shown]
            if plain and all(c.isprintable() and cell_len(c) == len(c) for c in cells):
                out.append("│ " + " │ ".join(_fit(c, w) for c, w in zip(cells, shown_widths)) + " │\n")
                continue
            one = _table([cells], [heading[k] for k in shown], None, [k in wrap_set for k in shown],
                         widths=shown_widths, show_header=False)
            with console.capture() as captured:
                console.print(one)
            out.extend(captured.get().splitlines(keepends=True)[1:-1])  # no edges
        sys.stdout.write("".join(out))
    sys.stdout.write(bottom)
    sys.stdout.flush()


def _fit(text: str, width: int) -> str:
    """A printable cell of one-column characters as rich draws it in a no-wrap column: padded,
    or cut with an ellipsis."""
    if len(text) <= width:
        return text.ljust(width)
    return text[:width - 1] + "…" if width > 0 else ""


def error(message: str) -> None:
    # soft_wrap: one error stays one line however long its paths (logs, cron mail, grep)
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def info(message: str, *, markup: bool = False) -> None:
    """One message as text; `markup=True` only for a message written with rich markup.

    In a terminal a long message wraps between words; piped, it stays one line (grep, logs)."""
    console = _console()
    proxied = getattr(sys.stdout, "rich_proxied_file", None)
    terminal = (proxied or sys.stdout).isatty()
    if proxied is not None and terminal:
        # a progress bar is live in this terminal: rich's console would write past its stdout
        # proxy, into the bar's line; through the proxy the message lands above the bar
        # (a piped stdout is written directly, so the pipe still gets every message)
        with console.capture() as captured:
            console.print(message, markup=markup, soft_wrap=False)
        sys.stdout.write(captured.get())
        sys.stdout.flush()
        return
    console.print(message, markup=markup, soft_wrap=not terminal)
