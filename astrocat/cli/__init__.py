"""The `astrocat` command line: parse options, call one function, print.

One module per command group adds its commands to the app in `astrocat.cli.app`;
each feature names its modules in the registry (`astrocat.features`), and importing
them here, in registry order, is what registers them (and orders `--help`).

Exit codes (docs/cli.md): 0 success; 1 the command finished but found problems
(rejected files, failed checks); 2 usage or configuration error; 3 another
astrocat process holds the catalog lock; 4 the catalog cannot be opened.
"""

from __future__ import annotations

import importlib
import os
import sys

from astrocat import features
from astrocat.cli import output
from astrocat.cli.app import app

for _module in features.cli_modules():
    importlib.import_module(_module)

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        output.error("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)
