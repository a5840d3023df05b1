"""The one progress callback type: `progress(done, total, label)`."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]
