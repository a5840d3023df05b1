"""The previews a build uses: rendered once per content (`thumbs/<sha256>.png`), reused
by kept pages, failures remembered, unused ones deleted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from astrocat.config import Settings
from astrocat.site.writer import BuildResult

_SHA_NAME = re.compile(r"^[0-9a-f]{64}$")


class Thumbs:
    def __init__(self, out: Path, settings: Settings, enabled: bool, known_failures: dict[str, str],
                 result: BuildResult) -> None:
        self.dir = out / "thumbs"
        self.out = out
        self.s = settings
        self.enabled = enabled
        self.result = result
        self.failed: dict[str, str] = dict(known_failures)  # sha256 -> reason, across builds
        self.used: set[str] = set()  # file names under thumbs/ this build shows
        self.failed_used: set[str] = set()

    def href(self, frame: dict[str, Any], failed: list[str] | None = None) -> str | None:
        """Relative href (from the site root) of a frame's preview, rendering it if needed.

        A frame whose preview cannot be made gets its sha256 appended to `failed`."""
        sha = frame.get("sha256")
        if not self.enabled or not sha:
            return None
        if sha in self.failed:  # known bad content: report it again, never retry it
            self._report(sha, failed)
            return None
        from astrocat.site import preview  # numpy and astropy only when previews are made

        t = preview.ensure_thumbnail(self.dir, sha, self.s.abs(frame["path"]), frame.get("bayer_pattern"))
        if t.status == "cached":
            self.result.thumbs_cached += 1
        elif t.status == "rendered":
            self.result.thumbs_rendered += 1
        else:
            if t.status == "failed":
                self.failed[sha] = t.reason
                self._report(sha, failed)
            return None
        self.used.add(f"{sha}.png")
        return f"thumbs/{sha}.png"

    def reuse(self, meta: dict[str, Any]) -> bool:
        """Account for a kept page's previews; False when one of them has gone from disk."""
        if not self.enabled:
            return True
        hrefs = [h for h in meta.get("thumbs", []) if h]
        if not all((self.out / h).is_file() for h in hrefs):
            return False
        self.used.update(h.rsplit("/", 1)[-1] for h in hrefs)
        self.result.thumbs_cached += len(hrefs)
        for sha in meta.get("failed", []):
            if sha in self.failed:
                self._report(sha)
        return True

    def _report(self, sha: str, failed: list[str] | None = None) -> None:
        if failed is not None:
            failed.append(sha)
        self.failed_used.add(sha)
        reason = self.failed.get(sha)
        if reason and reason not in self.result.thumb_failures:
            self.result.thumb_failures.append(reason)

    def remove_unused(self) -> list[str]:
        """Delete previews no page of this build shows; returns their paths under the site."""
        removed = []
        if self.enabled and self.dir.is_dir():
            for p in sorted(self.dir.iterdir()):
                if _SHA_NAME.match(p.stem) and p.suffix == ".png" and p.name not in self.used:
                    p.unlink()
                    removed.append(f"thumbs/{p.name}")
        return removed

    def failures_to_keep(self) -> dict[str, str]:
        """Failures for the manifest: those of frames no page shows any more are forgotten
        (without previews nothing was looked at, so all are kept)."""
        return {k: v for k, v in sorted(self.failed.items()) if k in self.failed_used or not self.enabled}
