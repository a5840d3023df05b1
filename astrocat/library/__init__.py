"""Safe moves quarantine -> library: plan, journal, move, verify, recover.

The move protocol ("files are sacred"):

1. journal the intent in table `moves` (state `planned`) and commit;
2. same filesystem: hard-link the source to its new name (refuses to overwrite), or a
   no-overwrite rename where links are not supported; across filesystems: copy to
   `.astrocat-tmp-<id>` in the destination folder, fsync, drop it from the page cache,
   re-read it and check its sha256 against the catalog, then link it to its name;
3. update the frame row and mark the move `filed` in one transaction;
4. remove the source (only if it is still the file that was verified), mark `done`.

A crash at any point leaves a journal row in `planned` or `filed`; `recover()` (run at
the start of scan, organize and sync) then finishes or rolls back each one. The rule it
follows: a file is only removed when another file with the same sha256 exists.

Modules: plan (destinations; moves nothing), move (the mover, `organize()`), recover,
purge (set-aside duplicates), files (no-overwrite placing, durable copies), journal (the
catalog side of a move), hooks (test-only fault injection). This package re-exports the
public API; a test that patches a helper patches it in the module that looks it up.
"""

from __future__ import annotations

from astrocat.config import DUPLICATES_DIR
from astrocat.library.files import positioned_reader as _positioned_reader  # its old name (test_portable)
from astrocat.library.move import OrganizeResult, organize
from astrocat.library.plan import Plan, PlanItem, plan
from astrocat.library.purge import purge_duplicates
from astrocat.library.recover import RecoveryResult, recover, recovery_action

__all__ = [
    "DUPLICATES_DIR", "OrganizeResult", "Plan", "PlanItem", "RecoveryResult", "_positioned_reader", "organize",
    "plan", "purge_duplicates", "recover", "recovery_action",
]
