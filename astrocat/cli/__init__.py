"""The `astrocat` command line: parse options, call one function, print.

One module per command group adds its commands to the app in `astrocat.cli.app`;
each feature names its modules in the registry (`astrocat.features`), and importing
them here, in registry order, is what registers them (and orders `--help`).

Exit codes (docs/cli.md): 0 success; 1 the command finished but found problems
(rejected files, failed checks); 2 usage or configuration error; 3 another
astrocat process holds the catalog lock; 4 the catalog cannot be opened; 5 a bug in
astrocat (one line, the traceback saved to a file; ASTROCAT_DEBUG=1 prints it instead).
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
    except Exception as exc:  # a bug: the user gets one line, the report gets the traceback
        if os.environ.get("ASTROCAT_DEBUG"):
            raise
        where = _save_traceback()
        what = " ".join(f"{type(exc).__name__}: {exc}".split())
        saved = f"; the traceback is in {where} (please attach it to a report)" if where else ""
        output.error(f"internal error ({what[:300]}): a bug in astrocat{saved}")
        sys.exit(5)


def _save_traceback() -> str | None:
    """Write the current exception's traceback to a file in the temporary folder."""
    import tempfile
    import time
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix=time.strftime("astrocat-error-%Y%m%d-%H%M%S-"), suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"astrocat {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
        return path
    except OSError:
        return None
