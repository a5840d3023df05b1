"""The `astrocat` command line: parse options, call one function, print.

One module per command group adds its commands to the app in `astrocat.cli.app`;
importing them here, in this order, is what registers them (and orders `--help`).

Exit codes (docs/cli.md): 0 success; 1 the command finished but found problems
(rejected files, failed checks); 2 usage or configuration error; 3 another
astrocat process holds the catalog lock; 4 the catalog cannot be opened.
"""

from __future__ import annotations

import os
import sys

from astrocat.cli import init_scan, listing, stats, organize, checks, outputs, sync_demo  # noqa: F401, I001
from astrocat.cli import output
from astrocat.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        output.error("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
