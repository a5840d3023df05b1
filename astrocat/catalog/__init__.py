"""The SQLite catalog: opening and migrations (`db`), the catalog's tables (`schema`),
writes (`frames`), the one rule of what counts (`counts`), derived summaries
(`derived`) and reads (`queries`). Import what you need from here."""

from astrocat.catalog.counts import counted, counted_out_of_step, integrates, present, refresh_counted
from astrocat.catalog.db import (
    CatalogBusy, CatalogError, CatalogFull, describe, migrate, open_catalog, schema_version, sqlite_utils,
)
from astrocat.catalog.derived import refresh_derived, refresh_sessions, refresh_targets
from astrocat.catalog.frames import (
    forget_rejects, frame_values, known_files, mark_missing, record_rejects, session_ids_for_paths,
    same_frame, sha256s_for_paths, stored_sha256, stored_values,
    upsert_frame_values, upsert_frames,
)
from astrocat.catalog.queries import (
    FrameFilter, list_duplicates, list_frames, list_rejects, list_sessions, list_targets, list_values,
    raw_names, stats_equipment, stats_grouped, stats_summary,
)
from astrocat.catalog.queries import iter_frames
from astrocat.catalog.schema import FRAME_FIELDS, rebuild_fts
from astrocat.catalog.overrides import apply as apply_overrides
from astrocat.catalog.curate import sync as sync_overrides

__all__ = [
    "apply_overrides", "sync_overrides", "CatalogBusy", "CatalogError", "CatalogFull", "FRAME_FIELDS", "describe", "FrameFilter", "counted", "counted_out_of_step", "present", "forget_rejects", "frame_values", "integrates",
    "known_files", "list_duplicates", "list_frames", "list_rejects", "list_sessions", "list_targets",
    "list_values", "mark_missing", "migrate", "open_catalog", "rebuild_fts", "record_rejects", "refresh_counted",
    "raw_names", "same_frame", "stored_sha256", "stored_values",
    "refresh_derived", "refresh_sessions", "refresh_targets", "schema_version", "session_ids_for_paths", "sha256s_for_paths",
    "sqlite_utils", "stats_equipment", "stats_grouped", "stats_summary", "upsert_frame_values", "upsert_frames",
    "iter_frames",
]
