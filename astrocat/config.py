"""astrocat.toml -> Settings.

Found by `--config`, then `ASTROCAT_CONFIG`, then `astrocat.toml` in the current
folder or a parent. Relative paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from astrocat import skycat
from astrocat.rules import equipment as equipment_rules
from astrocat.rules.matching import MatchSettings
from astrocat.rules.normalize import Settings as NormalizeSettings

CONFIG_NAME = "astrocat.toml"
# Where organize sets aside quarantine frames whose content is already in the library.
DUPLICATES_DIR = "_duplicates"
DEFAULT_PATTERN = "{year}/{night}_{target}/{frame_type}/{target}_{filter}_{exposure}_{seq}"
# Seconds since its last change before scan reads a file: the capture program may still be writing it.
DEFAULT_SETTLE_S = 30.0


class ConfigError(Exception):
    """A bad or missing configuration; the message names the file and key."""


# S3's single-PUT limit: larger files go up in parts.
DEFAULT_MULTIPART_THRESHOLD = 5 * 1024**3
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER",
                   "DEEP_ARCHIVE")


@dataclass
class BackupSettings:
    """`[backup]`: where and how frames go to S3. Credentials are never here: they come
    from the standard AWS chain (environment, profile, instance role)."""

    bucket: str
    prefix: str = "astrocat"
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None  # S3-compatible services (MinIO, Backblaze B2, Wasabi)
    frames_class: str = "DEEP_ARCHIVE"
    meta_class: str = "STANDARD"  # manifests, database snapshots, notes
    concurrency: int = 4
    bandwidth_limit: int | None = None  # bytes per second, all transfers together
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = 64 * 1024**2
    in_sync: bool = False
    database_versions: int = 7
    transition_days: int = 0  # lifecycle: frames uploaded as STANDARD go to DEEP_ARCHIVE after N days
    restore_days: int = 7  # how long a restored archive copy stays readable
    prices: dict[str, float] = field(default_factory=dict)  # overrides of the dated price table


@dataclass
class Settings:
    config_path: Path
    base_dir: Path
    quarantine: Path
    library: Path
    processing: Path
    notes: Path
    site: Path
    catalog: Path
    timezone: str | None = None
    naming_pattern: str = DEFAULT_PATTERN
    datasette_url: str = "http://127.0.0.1:8001"
    settle_s: float = DEFAULT_SETTLE_S
    camera_aliases: dict[str, str] = field(default_factory=dict)
    telescope_aliases: dict[str, str] = field(default_factory=dict)
    filter_aliases: dict[str, str] = field(default_factory=dict)
    target_aliases: dict[str, str] = field(default_factory=dict)
    backup: BackupSettings | None = None  # [backup], when configured
    equipment: equipment_rules.Equipment = field(default_factory=equipment_rules.Equipment)
    calibration: MatchSettings = field(default_factory=MatchSettings)
    astrobin_filters: dict[str, int] = field(default_factory=dict)

    def normalize_settings(self) -> NormalizeSettings:
        # a profile's raw names map to it; your aliases, listed after them, win
        return NormalizeSettings(
            timezone=self.timezone,
            camera_aliases={**self.equipment.aliases("camera"), **self.camera_aliases},
            telescope_aliases={**self.equipment.aliases("telescope"), **self.telescope_aliases},
            filter_aliases=self.filter_aliases,
            target_aliases=self.target_aliases,
            resolve_name=skycat.catalogue_id,
        )

    def rel(self, path: str | os.PathLike) -> str:
        """The catalog form of a path: relative to the config folder when inside it."""
        p = Path(os.path.abspath(path))
        try:
            return p.relative_to(self.base_dir).as_posix()
        except ValueError:
            return p.as_posix()

    def abs(self, catalog_path: str) -> Path:
        p = Path(catalog_path)
        return p if p.is_absolute() else self.base_dir / p

    def location_of(self, path: str | os.PathLike) -> str:
        """quarantine | duplicate | library | processing | external, by where the file lies.

        `duplicate`: set aside in quarantine/_duplicates; cataloged, but not counted."""
        # string prefixes, not pathlib's `parents`: organize asks this for every frame it files
        p = os.path.normcase(os.path.abspath(path))
        for name in ("quarantine", "library", "processing"):
            root = os.path.normcase(str(getattr(self, name)))
            if p == root or p.startswith(_inside(root)):
                if name == "quarantine" and p.startswith(_inside(os.path.join(root, DUPLICATES_DIR))):
                    return "duplicate"
                return name
        return "external"


def _inside(folder: str) -> str:
    """The prefix of every path inside `folder` (a normalized absolute path)."""
    return folder if folder.endswith(os.sep) else folder + os.sep


TEMPLATE = '''# astrocat configuration. Paths are relative to this file's folder.
# Reference: docs/config.md in the astrocat source.

[paths]
quarantine = "quarantine"   # where new frames land (your capture program's output)
library = "library"         # where `astrocat organize` files them, for good
processing = "processing"   # processing sessions (links to library frames)
notes = "notes"             # Obsidian vault folder for generated notes
site = "site"               # the static HTML site
catalog = "catalog.db"      # the SQLite catalog

[observatory]
# IANA name; used for the night of frames without DATE-LOC or a site longitude.
# Leave empty to use this computer's timezone.
timezone = "{timezone}"

[library]
# Tokens: {{year}} {{night}} {{target}} {{frame_type}} {{filter}} {{exposure}} {{camera}}
#         {{telescope}} {{gain}} {{temp}} {{binning}} {{session}} {{seq}}
naming_pattern = "{pattern}"

[scan]
# Files changed less than this many seconds ago are left for the next run: the capture
# program may still be writing them. 0 reads every file at once.
settle_s = 30

[datasette]
url = "http://127.0.0.1:8001"

# Raw header names -> your names. A mount (TELESCOP = "EQMOD HEQ5/6") is not a telescope:
# map it to your optical tube here, or leave it and astrocat records it as the mount.
[aliases.camera]
# "ZWO ASI2600MM Pro" = "ASI2600MM"

[aliases.telescope]
# "EQMOD HEQ5/6" = "Esprit 100"

[aliases.filter]
# "Astronomik Ha 6nm" = "Ha"

[aliases.target]
# "Great Orion Nebula" = "M42"

# Your equipment: pixel scale and field of view on session pages and notes, and in
# `astrocat list cameras|telescopes`. `names` lists the raw header names that are it.
# [equipment.camera."ZWO ASI2600MM Pro"]
# pixel_um = 3.76
# width_px = 6248
# height_px = 4176
# names = ["ASI2600MM"]
#
# [equipment.telescope."Esprit 100"]
# aperture_mm = 100
# focal_length_mm = 550
# names = ["Esprit100ED"]

[calibration]
# How `astrocat processing` and `astrocat calibration gaps` match calibration frames.
dark_exposure_pct = 0.5       # a dark's exposure within this percent of the lights'
darkflat_exposure_pct = 0.5   # a dark-flat's exposure within this percent of the flats'
temperature_c = 2.0           # sensor temperature within this many degrees C
rotator_deg = 2.0             # flats: rotator angle within this many degrees (when both have one)
flat_max_days = 30            # flats: same night preferred, else the nearest within this many days
dark_max_age_days = 0         # darks older than this many days are refused (0: any age)
prefer_masters = true         # a matching master beats subs

[astrobin.filters]
# Your filters' AstroBin ids, for `astrocat processing astrobin` (the number in the
# filter's AstroBin equipment URL). A filter not listed is left empty in the CSV.
# Ha = 4663
'''

_PATH_KEYS = ("quarantine", "library", "processing", "notes", "site", "catalog")
_ALLOWED = {
    "paths": set(_PATH_KEYS),
    "observatory": {"timezone"},
    "library": {"naming_pattern"},
    "scan": {"settle_s"},
    "datasette": {"url"},
    "aliases": {"camera", "telescope", "filter", "target"},
    "backup": {"bucket", "prefix", "region", "profile", "endpoint_url", "frames_storage_class",
               "meta_storage_class", "concurrency", "bandwidth_limit", "multipart_threshold", "part_size",
               "in_sync", "database_versions", "transition_days", "restore_days", "prices"},
    "equipment": {"camera", "telescope"},
    "calibration": {"dark_exposure_pct", "darkflat_exposure_pct", "temperature_c", "rotator_deg", "flat_max_days",
                    "dark_max_age_days", "prefer_masters"},
    "astrobin": {"filters"},
}


def system_timezone() -> str:
    """The system's IANA timezone name, or 'UTC' when it cannot be told.

    TZ first when it names a zone; then tzlocal, which reads the system's setting
    (/etc/localtime and friends, or the Windows zone mapped to its IANA name)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and _valid_tz(tz):
        return tz
    name = _tzlocal_name()
    return name if name and _valid_tz(name) else "UTC"


def _tzlocal_name() -> str | None:
    # imported here: only commands that need the local zone pay for it
    import logging
    import warnings

    try:
        import tzlocal

        # tzlocal logs and warns about odd system setups (a stale /etc/timezone); keep
        # that off the user's terminal, the answer is checked below anyway
        log = logging.getLogger("tzlocal")
        if not log.handlers:
            log.addHandler(logging.NullHandler())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tzlocal.get_localzone_name()
    except Exception:  # a best guess: conflicting settings, unreadable files, no registry key
        return None


def _valid_tz(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def write_default(directory: Path, timezone: str | None = None) -> Path:
    """Create DIR/astrocat.toml and the folders it names; never overwrite a config."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_NAME
    if path.exists():
        raise ConfigError(f"{path}: already exists; not overwritten")
    tz = timezone or system_timezone()
    if not _valid_tz(tz):
        raise ConfigError(f"timezone {tz!r} is not an IANA timezone name")
    path.write_text(TEMPLATE.format(timezone=tz, pattern=DEFAULT_PATTERN), encoding="utf-8")
    settings = load(path)
    for name in ("quarantine", "library", "processing", "notes", "site"):
        getattr(settings, name).mkdir(parents=True, exist_ok=True)
    return path


def find_config(explicit: str | os.PathLike | None = None, cwd: Path | None = None) -> Path:
    if explicit:
        p = Path(explicit)
        if p.is_dir():
            p = p / CONFIG_NAME
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        return p
    env = os.environ.get("ASTROCAT_CONFIG")
    if env:
        p = Path(env)
        if p.is_dir():
            p = p / CONFIG_NAME
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found (from ASTROCAT_CONFIG)")
        return p
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or its parents; run `astrocat init DIR` or pass --config"
    )


def load(path: str | os.PathLike) -> Settings:
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return from_dict(data, path)


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return value


def _str(value: Any, key: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key} must be a non-empty string, got {value!r}")
    return value


# Folders whose files are told apart by where they lie: none may hold another, or organize
# would re-file the library's frames as new arrivals on every run.
_SEPARATE = ("quarantine", "library", "processing")


def _check_separate(resolved: dict[str, Path], path: Path) -> None:
    for i, a in enumerate(_SEPARATE):
        for b in _SEPARATE[i + 1 :]:
            pa, pb = resolved[a], resolved[b]
            if pa == pb or pa.is_relative_to(pb) or pb.is_relative_to(pa):
                how = "overlap (the same folder)" if pa == pb else "overlap (one is inside the other)"
                raise ConfigError(f"{path}: paths.{a} {pa} and paths.{b} {pb} {how}; "
                                  "give each its own folder")


def from_dict(data: dict[str, Any], path: Path) -> Settings:
    for section, value in data.items():
        if section not in _ALLOWED:
            raise ConfigError(f"{path}: unknown section or key {section!r}")
        if isinstance(value, dict):
            for key in value:
                if key not in _ALLOWED[section]:
                    raise ConfigError(f"{path}: unknown key {section}.{key}")
    base = path.parent
    paths = _table(data, "paths", path)
    resolved: dict[str, Path] = {}
    defaults = {"catalog": "catalog.db"}
    for key in _PATH_KEYS:
        raw = _str(paths.get(key, defaults.get(key, key)), f"paths.{key}", path)
        p = Path(os.path.expanduser(raw))
        resolved[key] = (p if p.is_absolute() else base / p).resolve()
    _check_separate(resolved, path)
    obs = _table(data, "observatory", path)
    tz = obs.get("timezone", "")
    if not isinstance(tz, str):
        raise ConfigError(f"{path}: observatory.timezone must be a string, got {tz!r}")
    tz = tz.strip() or system_timezone()
    if not _valid_tz(tz):
        raise ConfigError(f"{path}: observatory.timezone {tz!r} is not an IANA timezone name")
    lib = _table(data, "library", path)
    pattern = _str(lib.get("naming_pattern", DEFAULT_PATTERN), "library.naming_pattern", path)
    scan = _table(data, "scan", path)
    settle = scan.get("settle_s", DEFAULT_SETTLE_S)
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not math.isfinite(settle) or settle < 0:
        raise ConfigError(f"{path}: scan.settle_s must be a number of seconds, 0 or more, got {settle!r}")
    ds = _table(data, "datasette", path)
    url = _str(ds.get("url", "http://127.0.0.1:8001"), "datasette.url", path)
    _check_url(url, path)
    aliases = _table(data, "aliases", path)
    alias_maps: dict[str, dict[str, str]] = {}
    for kind in ("camera", "telescope", "filter", "target"):
        table = aliases.get(kind, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: aliases.{kind} must be a table of \"raw\" = \"name\"")
        for raw, name in table.items():
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"{path}: aliases.{kind}.{raw!r} must be a non-empty string")
        alias_maps[kind] = {str(k): v.strip() for k, v in table.items()}
    try:
        equipment = equipment_rules.parse(_table(data, "equipment", path))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    calibration = _calibration(_table(data, "calibration", path), path)
    astrobin = _table(data, "astrobin", path)
    filters = astrobin.get("filters", {})
    if not isinstance(filters, dict):
        raise ConfigError(f"{path}: astrobin.filters must be a table of filter = AstroBin id")
    for name, fid in filters.items():
        if isinstance(fid, bool) or not isinstance(fid, int) or fid <= 0:
            raise ConfigError(f"{path}: astrobin.filters.{name} must be a positive whole number, got {fid!r}")
    return Settings(
        config_path=path,
        equipment=equipment,
        calibration=calibration,
        astrobin_filters={str(k): int(v) for k, v in filters.items()},
        base_dir=base,
        timezone=tz,
        naming_pattern=pattern,
        datasette_url=url.rstrip("/"),
        settle_s=float(settle),
        camera_aliases=alias_maps["camera"],
        telescope_aliases=alias_maps["telescope"],
        filter_aliases=alias_maps["filter"],
        target_aliases=alias_maps["target"],
        backup=_backup(data.get("backup"), path),
        **resolved,
    )


def _backup(table: Any, path: Path) -> BackupSettings | None:
    """`[backup]` -> BackupSettings; None when the section is absent."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [backup] must be a table")
    if "bucket" not in table:
        raise ConfigError(f"{path}: [backup] needs bucket = \"your-bucket-name\"")

    def text(key: str, default: str | None = None) -> str | None:
        value = table.get(key, default)
        return None if value is None else _str(value, f"backup.{key}", path).strip()

    def whole(key: str, default: int | None, least: int) -> int | None:
        value = table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{path}: backup.{key} must be a whole number, {least} or more, got {value!r}")
        return value

    def storage(key: str, default: str) -> str:
        value = (text(key, default) or default).upper()
        if value not in STORAGE_CLASSES:
            raise ConfigError(f"{path}: backup.{key} {value!r} is not one of {', '.join(STORAGE_CLASSES)}")
        return value

    endpoint = text("endpoint_url")
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{path}: backup.endpoint_url {endpoint!r} is not an http(s):// address")
    in_sync = table.get("in_sync", False)
    if not isinstance(in_sync, bool):
        raise ConfigError(f"{path}: backup.in_sync must be true or false, got {in_sync!r}")
    prices = table.get("prices", {})
    if not isinstance(prices, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in prices.values()):
        raise ConfigError(f"{path}: [backup.prices] must map price names to numbers (USD), 0 or more")
    part_size = whole("part_size", 64 * 1024**2, 5 * 1024**2)
    return BackupSettings(
        bucket=text("bucket") or "",
        prefix=(text("prefix", "astrocat") or "").strip("/"),
        region=text("region"),
        profile=text("profile"),
        endpoint_url=endpoint,
        frames_class=storage("frames_storage_class", "DEEP_ARCHIVE"),
        meta_class=storage("meta_storage_class", "STANDARD"),
        concurrency=whole("concurrency", 4, 1) or 4,
        bandwidth_limit=whole("bandwidth_limit", None, 1),
        multipart_threshold=whole("multipart_threshold", DEFAULT_MULTIPART_THRESHOLD, 1) or 1,
        part_size=part_size or 0,
        in_sync=in_sync,
        database_versions=whole("database_versions", 7, 1) or 7,
        transition_days=whole("transition_days", 0, 0) or 0,
        restore_days=whole("restore_days", 7, 1) or 7,
        prices={str(k): float(v) for k, v in prices.items()},
    )


def _check_url(url: str, path: Path) -> None:
    """`[datasette] url` is where `astrocat datasette` listens and the site links: http(s),
    a host, and a port that is a number from 1 to 65535 when given."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{path}: datasette.url {url!r} is not an http:// address (e.g. http://127.0.0.1:8001)")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{path}: datasette.url {url!r}: the port must be a number from 1 to 65535")


def _calibration(table: dict[str, Any], path: Path) -> MatchSettings:
    """`[calibration]`: tolerances, each a number of 0 or more (prefer_masters: true/false)."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "prefer_masters":
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: calibration.prefer_masters must be true or false, got {value!r}")
            values[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{path}: calibration.{key} must be a number, 0 or more, got {value!r}")
        if key in ("flat_max_days", "dark_max_age_days"):
            if int(value) != value:
                raise ConfigError(f"{path}: calibration.{key} must be a whole number of days, got {value!r}")
            value = int(value)
        values[key] = value
    if values.get("dark_max_age_days") == 0:
        values["dark_max_age_days"] = None
    return MatchSettings(**values)
