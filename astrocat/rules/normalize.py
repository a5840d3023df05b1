"""Raw header (+ path) -> normalised frame fields. Pure: no I/O.

Every program writes FITS differently (see docs/headers.md); the differences
live in the tables below, not in scattered conditionals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FRAME_TYPES = ("light", "dark", "flat", "bias", "darkflat", "unknown")

# --- tables -------------------------------------------------------------------------

# IMAGETYP / FRAME / CALFRAME values (lower-cased, whitespace folded) -> (type, is_master)
FRAME_TYPE_VALUES: dict[str, tuple[str, bool]] = {}
for _names, _type in (
    (("light", "light frame", "lights", "object", "science", "light_frame", "snapshot"), "light"),
    (("dark", "dark frame", "darks", "dark_frame"), "dark"),
    (("flat", "flat field", "flat frame", "flats", "flatfield", "sky flat", "dome flat", "flat_frame"), "flat"),
    (("bias", "bias frame", "zero", "offset", "biases", "bias_frame"), "bias"),
    (("dark flat", "darkflat", "flat dark", "flatdark", "dark-flat", "flat-dark", "darkflats", "dark_flat"), "darkflat"),
):
    for _n in _names:
        FRAME_TYPE_VALUES[_n] = (_type, False)
        FRAME_TYPE_VALUES[f"master {_n}"] = (_type, True)
        FRAME_TYPE_VALUES[f"master{_n}"] = (_type, True)
        FRAME_TYPE_VALUES[f"master_{_n}"] = (_type, True)

# TheSkyX / SBIG PICTTYPE index
PICTTYPE = {1: "light", 2: "bias", 3: "dark", 4: "flat"}

# keywords that carry the frame type, in the order they are trusted
FRAME_TYPE_KEYS = ("IMAGETYP", "FRAME", "FRAMETYP", "CALFRAME")

# path tokens (folder and file names) that name a frame type, for programs that write none
PATH_TYPE_TOKENS: dict[str, str] = {
    "light": "light", "lights": "light", "raw": "light",
    "dark": "dark", "darks": "dark",
    "flat": "flat", "flats": "flat", "flatfield": "flat", "flatfields": "flat",
    "bias": "bias", "biases": "bias", "biasframes": "bias", "zero": "bias", "zeros": "bias",
    "darkflat": "darkflat", "darkflats": "darkflat", "flatdark": "darkflat", "flatdarks": "darkflat",
}

EXPOSURE_KEYS = ("EXPTIME", "EXPOSURE", "EXP", "EXPOSURE_S")
CAMERA_KEYS = ("INSTRUME", "CAMERA_MODEL")
TELESCOPE_KEYS = ("TELESCOP",)
FOCAL_KEYS = ("FOCALLEN", "FOCAL")
GAIN_KEYS = ("GAIN",)
OFFSET_KEYS = ("OFFSET", "BLKLEVEL")
CCD_TEMP_KEYS = ("CCD-TEMP", "DET-TEMP", "CCD_TEMP", "TEMPERAT", "SENSOR-TEMP")
SET_TEMP_KEYS = ("SET-TEMP", "SETTEMP", "SET_TEMP")
SOFTWARE_KEYS = ("SWCREATE", "CREATOR", "SOFTWARE", "PROGRAM", "XISF-CREATOR", "ORIGIN")
READOUT_KEYS = ("READOUTM", "READMODE", "READOUT")
BAYER_KEYS = ("BAYERPAT", "CFAIMAGE", "COLORTYP")
STACK_COUNT_KEYS = ("STACKCNT", "NCOMBINE", "SNAPSHOT")
# The camera's rotation, mechanical first (what moves the vignetting flats record):
# N.I.N.A. ROTATOR (mechanical) and ROTATANG, SGP POSANGLE, ROTPA/ROTANGLE (others),
# MaxIm's solved PA last. OBJCTROT (a planned sky angle) and CROTA (a solve's twist) are
# not the rotator.
ROTATOR_KEYS = ("ROTATOR", "ROTATANG", "ROTANGLE", "POSANGLE", "ROTPA", "PA")

# A TELESCOP value is a mount when it names a driver (decisive: `ASCOM.X.Telescope`, an
# `ACP->...` chain, EQMod, a simulator) or, unless it names a tube, a mount model. Brands
# (Sky-Watcher, Celestron) make both, so a brand alone decides nothing.
MOUNT_DRIVER_PATTERN = re.compile(
    r"(->|eqmod|\bascom\b.*(telescope|mount)|^ascom\.|simulator|\bmount\b|lx200|onstep|"
    r"\bindi\b.*\btelescope\b)",
    re.IGNORECASE,
)
MOUNT_MODEL_PATTERN = re.compile(
    r"(\bh?eq-?[3568](\b|-|r|pro|/)|\beqm-?35|\baz-?gti|\baz-?eq[56]|\bgti\b|star ?adventurer|"
    r"ioptron|\bcem-?\d+|\bgem-?\d+|\bzwo am\d|\bam[3-5]\b|losmandy|\bg-?11\b|10 ?micron|"
    r"\bgm ?\d{4}|paramount|\bmach ?\d|rainbow|\brst-?\d+|celestron (cge|cgx|cgem|avx)|\bavx\b|"
    r"\bcgx\b|\bcgem\b|wave ?1[05]0)",
    re.IGNORECASE,
)
# tube models and the focal length or ratio people write into TELESCOP ('200/1000', 'f/5')
TUBE_PATTERN = re.compile(
    r"(esprit|evostar|\d*pds\b|quattro|skymax|skyliner|explorer|\bmak\b|maksutov|\b\d{2,3}p\b|"
    r"\b\d{2,3} ?ed\b|\bed ?\d{2,3}\b|refractor|newton|reflector|dobson|\bapo\b|\brasa\b|"
    r"\bsct\b|edge ?hd|\bc(5|6|8|9\.25|11|14)\b|redcat|askar|\bfsq|\bfc-?\d+|\btoa-?\d+|"
    r"ritchey|\brc ?\d+|\bf/\d|\b\d{2,4} ?mm\b|\b\d{2,3} ?/ ?\d{3,4}\b)",
    re.IGNORECASE,
)
# telescope/camera names that smart telescopes write with serial numbers
SMART_SCOPES = (
    (re.compile(r"^S50(_|$)", re.I), "Seestar S50"),
    (re.compile(r"^S30( Pro)?(_|$)", re.I), "Seestar S30"),
    (re.compile(r"^DWARF ?II$", re.I), "DWARF II"),
    (re.compile(r"^DWARF ?(III|3)$", re.I), "DWARF 3"),
)

# filter names -> canonical; keys lower-cased with spaces, '-' and '_' removed
FILTER_ALIASES: dict[str, str] = {
    "l": "L", "lum": "L", "luminance": "L", "clear": "L", "lumen": "L",
    "r": "R", "red": "R", "g": "G", "green": "G", "b": "B", "blue": "B",
    "ha": "Ha", "halpha": "Ha", "h": "Ha", "hydrogenalpha": "Ha",
    "oiii": "OIII", "o3": "OIII", "o": "OIII", "oxygen": "OIII",
    "sii": "SII", "s2": "SII", "s": "SII", "sulfur": "SII", "sulphur": "SII",
    "hb": "Hb", "hbeta": "Hb", "nii": "NII", "n2": "NII",
}
# FILTER values that mean "no filter in the path"; lower-cased, spaces, '-' and '_' removed
NO_FILTER = {"", "none", "nofilter", "empty", "null", "na", "n/a", "open"}
_FILTER_WIDTH = re.compile(r"^(.*?)(\d+(\.\d+)?)\s*nm$", re.I)

# OBJECT values that mean "no target"
NO_TARGET = {
    "", "unknown", "flatwizard", "flat wizard", "none", "null", "object", "sky_object",
    "sky object", "target", "na", "n/a", "-", "default", "snapshot",
}

_CATALOGS = [
    (re.compile(r"^(?:m|messier)[\s_\-]*0*(\d{1,3})$", re.I), "M{0}"),
    (re.compile(r"^ngc[\s_\-]*0*(\d{1,4})\s*([a-z]?)$", re.I), "NGC {0}{1}"),
    (re.compile(r"^ic[\s_\-]*0*(\d{1,4})\s*([a-z]?)$", re.I), "IC {0}{1}"),
    (re.compile(r"^(?:sh\s*2|sharpless(?:\s*2)?)[\s_\-]+0*(\d{1,3})$", re.I), "Sh2-{0}"),
    (re.compile(r"^(?:c|caldwell)[\s_\-]*0*(\d{1,3})$", re.I), "C{0}"),
    (re.compile(r"^(?:b|barnard)[\s_\-]*0*(\d{1,3})$", re.I), "B{0}"),
    (re.compile(r"^ldn[\s_\-]*0*(\d{1,4})$", re.I), "LDN {0}"),
    (re.compile(r"^lbn[\s_\-]*0*(\d{1,4})$", re.I), "LBN {0}"),
    (re.compile(r"^vdb[\s_\-]*0*(\d{1,3})$", re.I), "vdB {0}"),
    (re.compile(r"^abell[\s_\-]*0*(\d{1,4})$", re.I), "Abell {0}"),
    (re.compile(r"^arp[\s_\-]*0*(\d{1,3})$", re.I), "Arp {0}"),
]
# 'M31 Panel 2', 'M31_Mosaic_P3', 'M31 mosaic 4', 'M31 Tile 1' (NINA, ASIAIR and Telescopius plans)
_PANEL = re.compile(r"^(.*?)[\s_\-]*(?:panel|pane|tile|mosaic[\s_\-]*(?:panel|p)?)[\s_\-]*(\d+)$", re.I)
_MOSAIC_SUFFIX = re.compile(r"^(.*?)[\s_\-]+mosaic$", re.I)


@dataclass
class Settings:
    """The parts of the configuration that normalisation needs."""

    timezone: str | None = None
    camera_aliases: Mapping[str, str] = field(default_factory=dict)
    telescope_aliases: Mapping[str, str] = field(default_factory=dict)
    filter_aliases: Mapping[str, str] = field(default_factory=dict)
    target_aliases: Mapping[str, str] = field(default_factory=dict)
    # common name -> catalogue designation ("Heart Nebula" -> "IC 1805"), or None: the caller's
    # sky catalog (astrocat.skycat.catalogue_id); rules look nothing up themselves
    resolve_name: Callable[[str], str | None] | None = None


# --- value helpers ------------------------------------------------------------------


def clean_str(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    s = " ".join(str(value).split())
    return s or None


def to_float(value: Any) -> float | None:
    """Numbers, numbers stored as strings (incl. comma decimals), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
    else:
        s = str(value).strip().replace(",", ".") if str(value).count(",") == 1 else str(value).strip()
        try:
            f = float(s.replace("D", "E"))
        except ValueError:
            return None
    return f if math.isfinite(f) else None


def first(values: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        v = values.get(k)
        if v is not None and not (isinstance(v, str) and not v.strip()):
            return k, v
    return None, None


_SEXA = re.compile(
    r"^\s*([+-])?\s*(\d+(?:\.\d+)?)\s*([NSEW])?[\s:dh°]+(\d+(?:\.\d+)?)['m:\s]*(?:(\d+(?:\.\d+)?)[\":\s]*(?::?(\d+))?)?\s*([NSEW])?\s*$",
    re.I,
)


def parse_angle(value: Any) -> float | None:
    """Decimal or sexagesimal angle ('51 3 0.000', '-22:57:08:99', '51N 28 12') -> degrees."""
    f = to_float(value)
    if f is not None:
        return f
    if not isinstance(value, str):
        return None
    m = _SEXA.match(value)
    if not m:
        return None
    sign_s, d, hemi1, mnt, sec, frac, hemi2 = m.groups()
    deg = float(d) + float(mnt) / 60 + (float(sec) if sec else 0.0) / 3600
    if frac:  # PRISM writes hundredths of a second as a fourth field
        deg += float(f"0.{frac}") / 3600
    negative = sign_s == "-" or (hemi1 or hemi2 or "").upper() in ("S", "W")
    return -deg if negative else deg


def parse_hours(value: Any) -> float | None:
    """Sexagesimal or decimal hours -> degrees."""
    h = parse_angle(value)
    return None if h is None else h * 15.0


_DATE_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


def parse_iso(value: Any) -> datetime | None:
    """ISO 8601 with 0-7 decimals, optional 'Z' or offset; naive result when no zone."""
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value)
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), micro)
    except ValueError:
        return None
    if tz:
        if tz == "Z":
            dt = dt.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            off = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            dt = dt.replace(tzinfo=timezone(sign * off))
    return dt


_US_LOCAL = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(AM|PM)?", re.I
)


def parse_us_local(value: Any) -> datetime | None:
    """TheSkyX LOCALTIM: '8/14/2023 07:40:00.470 PM DST' -> naive local datetime."""
    if not isinstance(value, str):
        return None
    m = _US_LOCAL.match(value)
    if not m:
        return None
    mo, d, y, hh, mm, ss, frac, ampm = m.groups()
    hour = int(hh)
    if ampm:
        hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
    try:
        return datetime(int(y), int(mo), int(d), hour, int(mm), int(ss), int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None


def format_utc(dt: datetime) -> str:
    """UTC ISO 8601 with milliseconds and 'Z'."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def night_of_local(local: datetime) -> str:
    """The night a local time belongs to: the local date at (local time - 12 h)."""
    return (local - timedelta(hours=12)).date().isoformat()


def compute_night(
    utc: datetime | None,
    local: datetime | None,
    site_lon: float | None,
    tz_name: str | None,
) -> tuple[str | None, str]:
    """(night, source) by the DESIGN rule: DATE-LOC/LOCALTIM, site longitude, timezone, UTC."""
    if local is not None:
        return night_of_local(local), "local"
    if utc is None:
        return None, "none"
    if site_lon is not None:
        return night_of_local(utc + timedelta(hours=site_lon / 15.0)), "longitude"
    if tz_name:
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is not None:
            aware = utc.replace(tzinfo=timezone.utc).astimezone(zone)
            return night_of_local(aware.replace(tzinfo=None)), "timezone"
    return night_of_local(utc), "utc"


def precess_to_j2000(ra_deg: float, dec_deg: float, equinox: float) -> tuple[float, float]:
    """Approximate precession (IAU 1976 rates) from an equinox of date to J2000."""
    t = 2000.0 - equinox
    m = 46.1244 / 3600.0  # deg / year
    n = 20.0431 / 3600.0
    ra = math.radians(ra_deg)
    dec = math.radians(dec_deg)
    if abs(math.cos(dec)) < 1e-9:
        return ra_deg, dec_deg
    dra = (m + n * math.sin(ra) * math.tan(dec)) * t
    ddec = n * math.cos(ra) * t
    return (ra_deg + dra) % 360.0, max(-90.0, min(90.0, dec_deg + ddec))


# --- field rules --------------------------------------------------------------------


def _fold(s: str) -> str:
    return " ".join(s.lower().replace("_", " ").split())


def frame_type_from_header(values: Mapping[str, Any]) -> tuple[str | None, bool, str | None]:
    """(type, is_master, keyword) from IMAGETYP/FRAME/CALFRAME/PICTTYPE, or (None, False, None)."""
    for key in FRAME_TYPE_KEYS:
        raw = clean_str(values.get(key))
        if raw:
            hit = FRAME_TYPE_VALUES.get(_fold(raw)) or FRAME_TYPE_VALUES.get(_fold(raw).replace(" ", ""))
            if hit:
                return hit[0], hit[1], key
    pict = values.get("PICTTYPE")
    if isinstance(pict, int) and pict in PICTTYPE:
        return PICTTYPE[pict], False, "PICTTYPE"
    return None, False, None


_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


def frame_type_from_path(path: str) -> tuple[str | None, bool]:
    """Infer the type from file then folder names (SharpCap, DWARF, Siril write none)."""
    parts = path.replace("\\", "/").split("/")
    if parts:
        parts[-1] = re.sub(r"(\.(fits|fit|fts|xisf|gz|fz|bz2))+$", "", parts[-1], flags=re.I)
    master = False
    for part in reversed(parts):
        tokens = [t for t in _TOKEN_SPLIT.split(part.lower()) if t]
        if any(t.startswith("master") for t in tokens):
            master = True
        for i, tok in enumerate(tokens):
            tok = tok.removeprefix("master")
            pair = tok + (tokens[i + 1] if i + 1 < len(tokens) else "")
            if pair in ("darkflat", "flatdark"):
                return "darkflat", master
            if tok in PATH_TYPE_TOKENS:
                return PATH_TYPE_TOKENS[tok], master
    return None, master


def canonical_filter(raw: Any, aliases: Mapping[str, str] | None = None) -> str | None:
    name = clean_str(raw)
    if not name:
        return None
    if aliases:
        for k, v in aliases.items():
            if k.lower() == name.lower():
                return v
    key = re.sub(r"[\s_\-]", "", name.lower())
    if key in NO_FILTER:
        return None
    if key in FILTER_ALIASES:
        return FILTER_ALIASES[key]
    m = _FILTER_WIDTH.match(re.sub(r"[\s_\-]", "", name))
    if m:  # 'Ha 3nm', 'Oiii-7nm' -> base name without bandwidth
        base = m.group(1).lower()
        if base in FILTER_ALIASES:
            return FILTER_ALIASES[base]
    return name


def designation(name: str) -> str | None:
    """A catalogue designation as astrocat writes it ('m 31' -> M31, 'NGC7000' -> NGC 7000),
    or None when the name is not one."""
    for pattern, fmt in _CATALOGS:
        cm = pattern.match(name.strip())
        if cm:
            return fmt.format(*[g.upper() if g and g.isalpha() else (g or "") for g in cm.groups()])
    return None


def canonical_target(
    raw: Any, aliases: Mapping[str, str] | None = None, resolve: Callable[[str], str | None] | None = None,
) -> tuple[str | None, str | None]:
    """(target, panel) from an OBJECT value: 'M 31' -> M31, 'NGC7000' -> NGC 7000, and with
    `resolve` (common name -> designation) 'Andromeda Galaxy Panel 2' -> (M31, 2).

    Your aliases win over the sky catalog; a designation is kept as written (NGC 224 stays)."""
    name = clean_str(raw)
    if not name or name.lower() in NO_TARGET:
        return None, None
    if aliases:
        for k, v in aliases.items():
            if k.lower() == name.lower():
                return v, None
    panel = None
    m = _PANEL.match(name)
    if m and m.group(1).strip():
        name, panel = m.group(1).strip(" _-"), m.group(2)
    m = _MOSAIC_SUFFIX.match(name)
    if m and m.group(1).strip():
        name = m.group(1).strip()
    formatted = designation(name)
    name = formatted or name
    if aliases:
        for k, v in aliases.items():
            if k.lower() == name.lower():
                return v, panel
    if name.lower() in NO_TARGET:
        return None, panel
    if resolve is not None and not formatted:
        name = resolve(name) or name
    return name, panel


def alias(raw: str | None, aliases: Mapping[str, str]) -> str | None:
    if raw is None:
        return None
    for k, v in aliases.items():
        if k.lower() == raw.lower():
            return v
    return None


def is_mount(telescop: str) -> bool:
    """True when a TELESCOP value names a mount or its driver, not an optical tube."""
    if MOUNT_DRIVER_PATTERN.search(telescop):
        return True
    return not TUBE_PATTERN.search(telescop) and MOUNT_MODEL_PATTERN.search(telescop) is not None


def equipment(values: Mapping[str, Any], s: Settings) -> tuple[str | None, str | None, str | None]:
    """(camera, telescope, mount): a TELESCOP that names a mount is not a telescope."""
    _, cam_raw = first(values, CAMERA_KEYS)
    cam_raw = clean_str(cam_raw)
    camera = alias(cam_raw, s.camera_aliases) or cam_raw
    _, tel_raw = first(values, TELESCOPE_KEYS)
    tel_raw = clean_str(tel_raw)
    telescope = alias(tel_raw, s.telescope_aliases)
    mount = None
    if telescope is not None and tel_raw and is_mount(tel_raw):
        mount = tel_raw  # an alias or profile names the tube on that mount; the mount stays known
    if telescope is None and tel_raw:
        for pattern, name in SMART_SCOPES:
            if pattern.search(tel_raw):
                telescope = name
                break
        else:
            if is_mount(tel_raw):
                mount = tel_raw
            else:
                telescope = tel_raw
    if camera:
        for pattern, name in SMART_SCOPES:
            if pattern.search(camera):
                camera = name
    return camera, telescope, mount


def binning(values: Mapping[str, Any]) -> str | None:
    x = values.get("XBINNING", values.get("CCDXBIN"))
    y = values.get("YBINNING", values.get("CCDYBIN", x))
    xf, yf = to_float(x), to_float(y)
    if xf:
        return f"{int(xf)}x{int(yf or xf)}"
    raw = clean_str(values.get("BINNING"))
    if raw:
        m = re.match(r"^(\d+)\s*[*xX]\s*(\d+)$", raw)
        if m:
            return f"{m.group(1)}x{m.group(2)}"
        if raw.isdigit():
            return f"{raw}x{raw}"
    return None


def exposure(values: Mapping[str, Any]) -> tuple[float | None, list[str]]:
    """Per-sub exposure: stacks carry totals (ASIDeepStack EXPTIME) beside per-frame EXPOSURE."""
    notes: list[str] = []
    exptime = to_float(values.get("EXPTIME"))
    expo = to_float(values.get("EXPOSURE"))
    stack = to_float(first(values, STACK_COUNT_KEYS)[1])
    if exptime is not None and expo is not None and abs(exptime - expo) > 1e-6:
        if stack and stack > 1 and abs(exptime - expo * stack) <= max(1.0, 0.01 * exptime):
            notes.append(f"EXPTIME {exptime:g} is a stack total; per-sub EXPOSURE {expo:g} used")
            return expo, notes
        notes.append(f"EXPTIME {exptime:g} and EXPOSURE {expo:g} disagree; EXPTIME used")
        return exptime, notes
    key, raw = first(values, EXPOSURE_KEYS)
    if raw is None:
        return None, notes
    val = to_float(raw)
    if val is None:
        notes.append(f"{key} {raw!r} is not a number")
    elif val < 0:
        notes.append(f"{key} {val:g} is negative")
        val = None
    return val, notes


def software(values: Mapping[str, Any], history: list[str] | None = None) -> str | None:
    key, raw = first(values, SOFTWARE_KEYS)
    if raw is not None:
        sw = clean_str(raw)
        # Seestar writes its firmware version in PROGRAM; CREATOR wins by key order
        return sw
    for line in history or []:
        if "Generated by INDI" in line:
            return "INDI"
        m = re.search(r"(PixInsight \d[\w.\-]*)", line)
        if m:
            return m.group(1)
    return None


# the note `site` leaves when it converted TheSkyX's west-positive SITELONG (a handled
# convention, not a fault of the file)
THESKYX_WEST_NOTE = "TheSkyX SITELONG is positive west: sign flipped"


def site(values: Mapping[str, Any], sw: str | None) -> tuple[float | None, float | None, list[str]]:
    """(lat, lon east-positive): OBSGEO/LAT-OBS first; TheSkyX SITELONG is positive west."""
    notes: list[str] = []
    lat = parse_angle(first(values, ("OBSGEO-B", "LAT-OBS", "SITELAT"))[1])
    lon_key, lon_raw = first(values, ("OBSGEO-L", "LONG-OBS", "SITELONG", "SITELON"))
    lon = parse_angle(lon_raw)
    if lon is not None and lon_key in ("SITELONG", "SITELON") and sw and "theskyx" in sw.lower():
        lon = -lon
        notes.append(THESKYX_WEST_NOTE)
    if lat is not None and lon is not None and abs(lat) < 1e-9 and abs(lon) < 1e-9:
        return None, None, notes  # 0/0 is a placeholder, not a site
    if lat is not None and not -90 <= lat <= 90:
        notes.append(f"site latitude {lat} out of range")
        lat = None
    if lon is not None:
        if not -360 <= lon <= 360:
            notes.append(f"site longitude {lon} out of range")
            lon = None
        elif lon > 180:
            lon -= 360
    return lat, lon, notes


def coordinates(
    values: Mapping[str, Any], comments: Mapping[str, str]
) -> tuple[float | None, float | None, list[str]]:
    """(ra_deg, dec_deg) J2000 from RA/DEC (deg; DWARF II: hours) or OBJCTRA/OBJCTDEC."""
    notes: list[str] = []
    ra = dec = None
    raw_ra, raw_dec = values.get("RA"), values.get("DEC")
    if raw_ra is not None and raw_dec is not None:
        if isinstance(raw_ra, str) and re.search(r"\d\s+\d|:", raw_ra.strip()):
            ra = parse_hours(raw_ra)  # MaxIm/PinPoint: RA as a sexagesimal string
        else:
            ra = to_float(raw_ra)
            if ra is not None and "[h]" in comments.get("RA", "").lower():
                ra *= 15.0
        dec = parse_angle(raw_dec)
        if ra == 0 and dec == 0:
            ra = dec = None  # DWARF writes 0/0 when it does not know
    if ra is None or dec is None:
        r, d = values.get("OBJCTRA"), values.get("OBJCTDEC")
        if r is not None and d is not None:
            ra, dec = parse_hours(r), parse_angle(d)
    if ra is None or dec is None:
        ra1, dec1 = to_float(values.get("CRVAL1")), to_float(values.get("CRVAL2"))
        if ra1 is not None and dec1 is not None and str(values.get("CTYPE1", "")).startswith("RA"):
            ra, dec = ra1, dec1
    if ra is None or dec is None or (ra == 0 and dec == 0):
        return None, None, notes  # 0/0 is what programs write when they do not know
    if not (0 <= ra < 360.0001 and -90 <= dec <= 90):
        notes.append(f"coordinates out of range: RA {ra}, Dec {dec}")
        return None, None, notes
    equinox = to_float(values.get("EQUINOX"))
    if equinox and abs(equinox - 2000.0) > 0.5 and 1800 < equinox < 2200:
        ra, dec = precess_to_j2000(ra, dec, equinox)
        notes.append(f"coordinates precessed from equinox {equinox:.2f} to J2000")
    return round(ra % 360.0, 6), round(dec, 6), notes


def observation_time(values: Mapping[str, Any]) -> tuple[datetime | None, datetime | None, list[str]]:
    """(utc, local) naive datetimes; DATE-OBS may lack quotes, end in Z or have 0-7 decimals."""
    notes: list[str] = []
    utc = None
    raw = values.get("DATE-OBS")
    if raw is not None:
        dt = parse_iso(str(raw))
        if dt is None:
            # old FITS: DATE-OBS='dd/mm/yy' with TIME-OBS
            dt = _old_date(raw, values.get("TIME-OBS") or values.get("UT"))
        if dt is None:
            notes.append(f"DATE-OBS {raw!r} is not a date")
        else:
            utc = dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt
    elif values.get("DATE") is not None and values.get("TIME-OBS") is not None:
        utc = _old_date(values.get("DATE"), values.get("TIME-OBS"))
    local = None
    raw_loc = values.get("DATE-LOC")
    if raw_loc is not None:
        loc = parse_iso(str(raw_loc))
        if loc is not None:
            local = loc.replace(tzinfo=None)
    if local is None and values.get("LOCALTIM") is not None:
        local = parse_us_local(values.get("LOCALTIM"))
    return utc, local, notes


def _old_date(d: Any, t: Any) -> datetime | None:
    if not isinstance(d, str):
        return None
    m = re.match(r"^(\d{2})/(\d{2})/(\d{2})$", d.strip())
    if not m:
        return None
    day, month, yy = (int(x) for x in m.groups())
    year = 1900 + yy if yy >= 50 else 2000 + yy
    hh = mm = ss = 0
    if isinstance(t, str):
        tm = re.match(r"^(\d{1,2}):(\d{2}):(\d{2})", t.strip())
        if tm:
            hh, mm, ss = (int(x) for x in tm.groups())
    try:
        return datetime(year, month, day, hh, mm, ss)
    except ValueError:
        return None


def bayer(values: Mapping[str, Any]) -> str | None:
    for key in BAYER_KEYS:
        raw = clean_str(values.get(key))
        if raw and re.fullmatch(r"[RGB]{4}", raw.upper()):
            return raw.upper()
    return None


def rotator(values: Mapping[str, Any]) -> float | None:
    """The rotator angle in degrees, 0 to 360 (a name in ROTATOR falls through to the next key)."""
    for key in ROTATOR_KEYS:
        angle = to_float(values.get(key))
        if angle is not None:
            return round(angle % 360.0, 2) % 360.0
    return None


def _int(value: Any) -> int | None:
    f = to_float(value)
    return None if f is None else int(round(f))


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def normalize(
    values: Mapping[str, Any],
    path: str,
    settings: Settings | None = None,
    comments: Mapping[str, str] | None = None,
    history: list[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Return (frame fields, problems) for one header. Never raises on header content."""
    s = settings or Settings()
    comments = comments or {}
    problems: list[str] = []

    ftype, is_master, _ = frame_type_from_header(values)
    path_type, path_master = frame_type_from_path(path)
    if ftype is None:
        ftype = path_type
    is_master = is_master or path_master
    stack = to_float(first(values, STACK_COUNT_KEYS)[1])
    if stack and stack > 1:
        is_master = True
    if any("Integration with" in line or "ImageIntegration" in line for line in history or []):
        is_master = True

    exposure_s, notes = exposure(values)
    problems += notes
    obj = clean_str(values.get("OBJECT"))
    target, panel = canonical_target(obj, s.target_aliases, s.resolve_name)
    if ftype is None:
        ftype = "light" if exposure_s is not None and target else "unknown"
    if ftype != "light":
        target, panel = None, None  # calibration frames have no target

    sw = software(values, history)
    utc, local, notes = observation_time(values)
    problems += notes
    lat, lon, notes = site(values, sw)
    problems += notes
    night, _ = compute_night(utc, local, lon, s.timezone)
    ra, dec, notes = coordinates(values, comments)
    problems += notes
    camera, telescope, mount = equipment(values, s)

    width = _int(values.get("NAXIS1")) or _int(values.get("IMAGEW"))
    height = _int(values.get("NAXIS2")) or _int(values.get("IMAGEH"))

    frame = {
        "frame_type": ftype,
        "is_master": bool(is_master),
        "object": obj,
        "target": target,
        "panel": panel,
        "filter": canonical_filter(values.get("FILTER"), s.filter_aliases),
        "exposure_s": _round(exposure_s, 4),
        "date_obs": format_utc(utc) if utc else None,
        "night": night,
        "camera": camera,
        "telescope": telescope,
        "mount": mount,
        "focal_length_mm": _round(to_float(first(values, FOCAL_KEYS)[1]), 1),
        "gain": _round(to_float(first(values, GAIN_KEYS)[1]), 2),
        "offset": _round(to_float(first(values, OFFSET_KEYS)[1]), 2),
        "ccd_temp_c": _round(to_float(first(values, CCD_TEMP_KEYS)[1]), 2),
        "set_temp_c": _round(to_float(first(values, SET_TEMP_KEYS)[1]), 2),
        "binning": binning(values),
        "width": width,
        "height": height,
        "bayer_pattern": bayer(values),
        "readout_mode": clean_str(first(values, READOUT_KEYS)[1]),
        "ra_deg": ra,
        "dec_deg": dec,
        "site_lat": _round(lat, 6),
        "site_lon": _round(lon, 6),
        "software": sw,
        "rotator_deg": rotator(values),
    }
    if frame["focal_length_mm"] is not None and frame["focal_length_mm"] <= 0:
        frame["focal_length_mm"] = None
    if utc is None:
        problems.append("no observation date (DATE-OBS)")
    return frame, problems
