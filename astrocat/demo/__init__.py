"""A realistic sample library for `astrocat demo`, written offline in a few seconds.

Nine acquisition programs' header conventions, quirks included: N.I.N.A. 3 and
1.9 (unquoted dates), SGP (EXPOSURE only, mount as TELESCOP, sexagesimal site),
ASIAIR, Ekos/INDI (FRAME, E-notation, trailing 'Z'), SharpCap (no frame type:
folder names tell), MaxIm DL ('Light Frame', target only in OBJECT case 'm17'),
Seestar (serial as TELESCOP), TheSkyX (LOCALTIM, SITELONG positive west).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import numpy as np

from astrocat.demo.fitswrite import Raw, star_field, write_fits
from astrocat.units import hours, plural

Echo = Callable[[str], None]

BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass
class Sequence:
    """A run of frames of one kind taken one night by one program."""

    program: str
    night: str  # the evening's local date
    start_local: str  # HH:MM local
    frame_type: str  # light dark flat bias darkflat
    count: int
    exposure_s: float
    target: str | None = None  # OBJECT as the program writes it
    filter: str | None = None
    tz: ZoneInfo = BRUSSELS
    extra: dict[str, Any] = field(default_factory=dict)


# Targets: (RA deg, Dec deg, nebula blob?)
TARGETS = {
    "M31": (10.6847, 41.2690, True),
    "NGC 7000": (314.75, 44.33, True),
    "M42": (83.8221, -5.3911, True),
    "M33": (23.4621, 30.6599, True),
    "IC 1805": (38.175, 61.45, True),
    "M17": (275.196, -16.172, True),
    "M57": (283.396, 33.029, False),
}

# program -> rig constants
RIGS: dict[str, dict[str, Any]] = {
    "nina": {"camera": "ZWO ASI2600MM Pro", "telescope": "Esprit 100", "focal": 550.0, "gain": 100, "offset": 50},
    "nina19": {"camera": "ZWO ASI183MM Pro", "telescope": "Takahashi FC76-DCU", "focal": 456, "gain": 50, "offset": 8},
    "sgp": {"camera": "ZWO ASI294MC Pro", "telescope": "EQMOD ASCOM HEQ5/6", "focal": 420, "gain": 120, "offset": 30},
    "asiair": {"camera": "ZWO ASI533MC Pro", "telescope": "ZWO AM5", "focal": 250, "gain": 100, "offset": 70},
    "ekos": {"camera": "ZWO CCD ASI1600MM Pro", "telescope": "EQMod Mount", "focal": 530.0, "gain": 139.0, "offset": 21},
    "sharpcap": {"camera": "ZWO ASI290MM Mini", "telescope": None, "focal": 600.0, "gain": 300, "offset": 10},
    "maxim": {"camera": "FLI", "telescope": "iTelescope 33", "focal": 1425.0, "gain": None, "offset": None},
    "seestar": {"camera": "Seestar S50", "telescope": "S50_1623087d", "focal": 250, "gain": 80, "offset": None},
    "theskyx": {"camera": "ASCOM Camera", "telescope": None, "focal": None, "gain": None, "offset": None},
}

PLAN: list[Sequence] = [
    # Night 1: N.I.N.A. LRGB on M31 with full calibration
    *[Sequence("nina", "2024-10-03", "21:10", "light", n, 120.0, "M 31", f) for f, n in (("L", 24), ("R", 10), ("G", 10), ("B", 10))],
    *[Sequence("nina", "2024-10-03", "19:30", "flat", 6, 1.5, "FlatWizard", f) for f in ("L", "R", "G", "B")],
    Sequence("nina", "2024-10-03", "06:10", "dark", 10, 120.0),
    Sequence("nina", "2024-10-03", "06:40", "bias", 10, 0.0),
    Sequence("nina", "2024-10-03", "06:50", "darkflat", 6, 1.5),
    # Night 2: N.I.N.A. narrowband on NGC 7000 and more M31
    *[Sequence("nina", "2024-10-05", t, "light", 12, 300.0, "NGC7000", f) for f, t in (("Ha", "20:40"), ("OIII", "21:50"))],
    Sequence("nina", "2024-10-05", "23:30", "light", 10, 180.0, "Messier 31", "Ha 3nm"),
    *[Sequence("nina", "2024-10-05", "19:20", "flat", 5, 3.0, "FlatWizard", f) for f in ("Ha", "OIII")],
    # Night 3: SGP on M42 (OSC, mount as TELESCOP); no darks that night
    Sequence("sgp", "2024-11-02", "23:30", "light", 30, 60.0, "M 42"),
    Sequence("sgp", "2024-11-02", "19:00", "flat", 8, 0.8),
    # Night 4: ASIAIR on IC 1805 with a dual-band filter
    Sequence("asiair", "2024-11-08", "20:15", "light", 30, 180.0, "IC 1805", "L-eXtreme"),
    Sequence("asiair", "2024-11-08", "19:40", "flat", 10, 0.5, None, "L-eXtreme"),
    Sequence("asiair", "2024-11-08", "05:50", "dark", 8, 180.0),
    # Night 5: Ekos / INDI narrowband on M33
    *[Sequence("ekos", "2024-11-09", t, "light", 12, 300.0, "m33", f) for f, t in (("H_Alpha", "19:30"), ("OIII", "20:40"), ("Red", "21:50"))],
    Sequence("ekos", "2024-11-09", "06:00", "dark", 8, 300.0),
    Sequence("ekos", "2024-11-09", "06:45", "flat", 6, 2.0, None, "H_Alpha"),
    Sequence("ekos", "2024-11-09", "06:50", "flat", 6, 2.5, None, "OIII"),  # no Red flats: the gap it shows
    Sequence("ekos", "2024-11-09", "07:00", "bias", 10, 0.0),
    # Night 6: SharpCap (no IMAGETYP at all: folders say what is what) on M57
    Sequence("sharpcap", "2024-11-12", "19:05", "light", 20, 10.0, "M57"),
    Sequence("sharpcap", "2024-11-12", "20:10", "dark", 10, 10.0),
    # Night 7: N.I.N.A. 1.9 with unquoted dates, L on M42
    Sequence("nina19", "2024-11-15", "22:00", "light", 16, 60.0, "Great Orion Nebula", "L"),
    # Night 8: a Seestar S50 in a garden, subs on M31
    Sequence("seestar", "2024-11-20", "19:30", "light", 25, 10.0, "M 31", "LP"),
    # Remote: iTelescope via MaxIm DL on M17 (site longitude sets the night)
    Sequence("maxim", "2024-07-04", "00:00", "light", 8, 300.0, "m17", "SII", tz=ZoneInfo("Australia/Sydney")),
    # TheSkyX in California: LOCALTIM in US format, darks
    Sequence("theskyx", "2024-08-14", "21:40", "dark", 6, 120.0, tz=ZoneInfo("America/Los_Angeles")),
]

SITE = {"lat": 50.8503, "lon": 4.3517, "elev": 60}


def _folder(seq: Sequence) -> str:
    """Quarantine sub-folders the way each program lays out its output."""
    kind = seq.frame_type.upper() if seq.frame_type != "darkflat" else "DARKFLAT"
    if seq.program in ("nina", "nina19"):
        return f"NINA/{seq.night}/{kind}"
    if seq.program == "sgp":
        return f"SGP/{seq.target or 'Calibration'}"
    if seq.program == "asiair":
        return f"ASIAIR/Autorun/{seq.frame_type.capitalize()}"
    if seq.program == "ekos":
        return f"Ekos/{(seq.target or 'calibration')}/{seq.frame_type.capitalize()}"
    if seq.program == "sharpcap":
        return f"SharpCap Captures/{seq.night}/{'Darks' if seq.frame_type == 'dark' else 'M57'}"
    if seq.program == "seestar":
        return "MyWorks/M 31_sub"
    if seq.program == "maxim":
        return "iTelescope/T33"
    return f"SkyX/Images/ {seq.night}"  # TheSkyX's folder with a leading space


def _filename(seq: Sequence, i: int, local: datetime) -> str:
    stamp = local.strftime("%Y-%m-%d_%H-%M-%S")
    flt = seq.filter or ""
    if seq.program in ("nina", "nina19"):
        return f"{stamp}_{flt}_{seq.exposure_s:.2f}s_{i:04d}.fits"
    if seq.program == "sgp":
        return f"{seq.target or seq.frame_type}_{local:%Y-%m-%dT%H%M%S}_{int(seq.exposure_s)}sec__-10C_frame{i + 1}.fit"
    if seq.program == "asiair":
        tgt = f"_{seq.target}" if seq.target else ""
        return f"{seq.frame_type.capitalize()}{tgt}_{seq.exposure_s:.1f}s_Bin1_533MC_gain100_{local:%Y%m%d-%H%M%S}_-10.0C_{i + 1:04d}.fit"
    if seq.program == "ekos":
        utc = local.astimezone(timezone.utc)
        return f"{(seq.target or 'cal').upper()}_{seq.frame_type.capitalize()}_{flt or 'NoFilter'}_{int(seq.exposure_s)}_secs_{utc:%Y-%m-%dT%H-%M-%S}_{i + 1:03d}.fits"
    if seq.program == "sharpcap":
        return f"{local:%H_%M_%S}_{i:04d}.fits"
    if seq.program == "seestar":
        return f"Light_M 31_{seq.exposure_s:.1f}s_LP_{local:%Y%m%d-%H%M%S}.fit"
    if seq.program == "maxim":
        return f"raw-T33-demo-m17-{local:%Y%m%d-%H%M%S}-SII-BIN1-W-300-{i + 1:03d}.fit"
    return f"Dark 2x2 {seq.exposure_s:.3f}secs {6862 + i:08d}.fits"


def _start(seq: Sequence) -> datetime:
    hh, mm = (int(x) for x in seq.start_local.split(":"))
    day = datetime.fromisoformat(seq.night)
    if hh < 12:  # morning calibration belongs to the evening before
        day += timedelta(days=1)
    return day.replace(hour=hh, minute=mm, tzinfo=seq.tz)


def _cards(seq: Sequence, local: datetime, data_shape: tuple[int, int], rng: np.random.Generator) -> list[tuple]:
    rig = RIGS[seq.program]
    utc = local.astimezone(timezone.utc)
    ra, dec = (TARGETS.get(_plain_target(seq.target)) or (None, None, False))[:2]
    ccd = round(-10.0 + float(rng.normal(0, 0.08)), 2)
    p = seq.program
    t = seq.frame_type
    if p == "nina" or p == "nina19":
        imagetyp = {"light": "LIGHT", "flat": "FLAT", "dark": "DARK", "bias": "BIAS", "darkflat": "DARKFLAT"}[t]
        date_loc = local.replace(tzinfo=None).isoformat(timespec="milliseconds")
        date_obs = utc.replace(tzinfo=None).isoformat(timespec="milliseconds")
        cards: list[tuple] = [
            ("IMAGETYP", imagetyp, "Type of exposure"),
            ("EXPOSURE", float(seq.exposure_s), "[s] Exposure duration"),
            ("EXPTIME", float(seq.exposure_s), "[s] Exposure duration"),
        ]
        if p == "nina19":  # N.I.N.A. 1.9.0.900 wrote these two without quotes
            cards += [("DATE-LOC", Raw(date_loc), "Time of observation (local)"),
                      ("DATE-OBS", Raw(date_obs), "Time of observation (UTC)")]
        else:
            cards += [("DATE-LOC", date_loc, "Time of observation (local)"),
                      ("DATE-OBS", date_obs, "Time of observation (UTC)")]
        cards += [
            ("XBINNING", 1, "X axis binning factor"), ("YBINNING", 1, "Y axis binning factor"),
            ("GAIN", rig["gain"], "Sensor gain"), ("OFFSET", rig["offset"], "Sensor gain offset"),
            ("INSTRUME", rig["camera"], "Imaging instrument name"),
            ("SET-TEMP", -10.0, "[degC] CCD temperature setpoint"), ("CCD-TEMP", ccd, "[degC] CCD temperature"),
            ("TELESCOP", rig["telescope"], "Name of telescope"), ("FOCALLEN", rig["focal"], "[mm] Focal length"),
            ("SITELAT", SITE["lat"], "[deg] Observation site latitude"),
            ("SITELONG", SITE["lon"], "[deg] Observation site longitude"),
        ]
        if seq.filter:
            cards.append(("FILTER", seq.filter, "Active filter name"))
        if t in ("light", "flat") and seq.target:
            cards.append(("OBJECT", seq.target, "Name of the object of interest"))
        if ra is not None:
            cards += [("RA", round(ra, 6), "[deg] RA of telescope"), ("DEC", round(dec, 6), "[deg] Declination of telescope")]
        version = "N.I.N.A. 1.9.0.900" if p == "nina19" else "N.I.N.A. 3.1.2.9001 (x64)"
        cards.append(("SWCREATE", version, "Software that created this file"))
        return cards
    if p == "sgp":
        cards = [
            ("OBJECT", seq.target or "", "Object name"),
            ("DATE-LOC", local.replace(tzinfo=None).isoformat(timespec="microseconds") + "0", "Local observation date"),
            ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "0", "UTC observation date"),
            ("IMAGETYP", {"light": "LIGHT", "flat": "FLAT", "dark": "DARK", "bias": "BIAS"}[t].ljust(8), "Type of frame"),
            ("CREATOR", "Sequence Generator Pro v3.1.0.479", "Capture software"),
            ("INSTRUME", rig["camera"], "Instrument name"),
            ("SITELAT", "50 51 1.080", "Latitude of the imaging site in degrees"),
            ("SITELONG", "4 21 6.120", "Longitude of the imaging site in degrees"),
            ("EXPOSURE", int(seq.exposure_s) if seq.exposure_s >= 1 else seq.exposure_s, "Exposure time in seconds"),
            ("CCD-TEMP", ccd, "Camera cooler temperature"), ("SET-TEMP", -10, "Camera cooler target temperature"),
            ("XBINNING", 1, "Camera X Bin"), ("CCDXBIN", 1, "Camera X Bin"),
            ("YBINNING", 1, "Camera Y Bin"), ("CCDYBIN", 1, "Camera Y Bin"),
            ("TELESCOP", rig["telescope"], "Telescope name"),
            ("FOCALLEN", rig["focal"], "The focal length of the telescope in mm"),
            ("GAIN", rig["gain"], "Camera gain"), ("OFFSET", rig["offset"], "Camera offset"),
            ("BAYERPAT", "RGGB", "Bayer pattern"),
        ]
        if ra is not None:
            cards += [("RA", round(ra, 6), "Object Right Ascension in degrees"), ("DEC", round(dec, 6), "Object Declination in degrees")]
        return cards
    if p == "asiair":
        cards = [
            ("CREATOR", "ZWO ASIAIR Plus", "Capture software"), ("OFFSET", rig["offset"], ""),
            ("FOCALLEN", rig["focal"], ""), ("SET-TEMP", -10, ""), ("XBINNING", 1, ""), ("YBINNING", 1, ""),
            ("CCDXBIN", 1, ""), ("CCDYBIN", 1, ""), ("XPIXSZ", 3.76000000238419, ""),
            ("IMAGETYP", t.capitalize(), "Type of image"), ("EXPOSURE", float(seq.exposure_s), ""),
            ("EXPTIME", float(seq.exposure_s), ""), ("CCD-TEMP", ccd, ""),
            ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="microseconds"), ""),
            ("INSTRUME", rig["camera"], ""), ("BAYERPAT", "RGGB", ""), ("GAIN", rig["gain"], ""),
            ("TELESCOP", rig["telescope"], "mount, not the optical tube"),
            ("SITELAT", SITE["lat"], ""), ("SITELONG", SITE["lon"], ""),
        ]
        if seq.filter:
            cards.append(("FILTER", seq.filter, ""))
        if t == "light":
            cards += [("OBJECT", seq.target, ""), ("RA", ra, ""), ("DEC", dec, "")]
        return cards
    if p == "ekos":
        frame = {"light": "Light", "flat": "Flat", "dark": "Dark", "bias": "Bias"}[t]
        cards = [
            ("INSTRUME", rig["camera"], "CCD Name"), ("TELESCOP", rig["telescope"], "Telescope name"),
            ("EXPTIME", float(seq.exposure_s), "Total Exposure Time (s)"),
            ("CCD-TEMP", ccd, "CCD Temperature (Celsius)"),
            ("XBINNING", 1, "Binning factor in width"), ("YBINNING", 1, "Binning factor in height"),
            ("FRAME", frame, "Frame Type"), ("IMAGETYP", f"{frame} Frame", "Frame Type"),
            ("FOCALLEN", rig["focal"], "Focal Length (mm)"),
            ("SITELAT", SITE["lat"], "Latitude of the imaging site in degrees"),
            ("SITELONG", SITE["lon"], "Longitude of the imaging site in degrees"),
            ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z", "UTC start date of observation"),
            ("COMMENT", "Generated by INDI", ""),
            ("GAIN", float(rig["gain"]), "Gain"), ("OFFSET", rig["offset"], "Offset"),
        ]
        if seq.filter:
            cards.append(("FILTER", seq.filter, "Filter"))
        if t == "light":
            cards += [("OBJECT", seq.target, "Object"), ("OBJCTRA", _hms(ra), "Object J2000 RA in Hours"),
                      ("OBJCTDEC", _dms(dec), "Object J2000 DEC in Degrees")]
        return cards
    if p == "sharpcap":
        cards = [
            ("SWCREATE", "SharpCap v4.1.12946.0, 64 bit", ""), ("CCD-TEMP", round(ccd + 20, 1), ""),
            ("XBINNING", 1, ""), ("YBINNING", 1, ""), ("EXPTIME", int(seq.exposure_s), ""),
            ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "0", "System Clock-Frame Grabbed"),
            ("INSTRUME", rig["camera"], ""), ("GAIN", rig["gain"], ""), ("OFFSET", rig["offset"], ""),
            ("FOCALLEN", rig["focal"], ""),
        ]
        if t == "light":
            cards.append(("OBJECT", seq.target, ""))
        return cards
    if p == "seestar":
        return [
            ("CREATOR", "ZWO Seestar S50", "Capture software"), ("PRODUCER", "ZWO", "Powered by ZWO"),
            ("FOCALLEN", 250, "Focal length of telescope in mm"), ("PROGRAM", "4.70", "firmware"),
            ("XBINNING", 1, ""), ("YBINNING", 1, ""), ("IMAGETYP", "Light   ", "Type of image"),
            ("EXPOSURE", float(seq.exposure_s), ""), ("EXPTIME", float(seq.exposure_s), ""),
            ("CCD-TEMP", round(21.875 + float(rng.normal(0, 0.3)), 3), "sensor temperature in C"),
            ("RA", ra, ""), ("DEC", dec, ""), ("SITELONG", SITE["lon"], ""), ("SITELAT", SITE["lat"], ""),
            ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="microseconds"), "Image created time"),
            ("FILTER", seq.filter, ""), ("INSTRUME", rig["camera"], ""), ("BAYERPAT", "GRBG", ""),
            ("GAIN", rig["gain"], ""), ("TELESCOP", rig["telescope"], "Telescope name"),
            ("OBJECT", seq.target, ""),
        ]
    if p == "maxim":
        return [
            ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="seconds"), "[ISO 8601] UTC date/time of exposure start"),
            ("EXPTIME", float(seq.exposure_s), "[sec] Duration of exposure"),
            ("EXPOSURE", float(seq.exposure_s), "[sec] Duration of exposure"),
            ("SET-TEMP", -35.0, "CCD temperature setpoint in C"), ("CCD-TEMP", -34.99, "CCD temperature at start of exposure in C"),
            ("XBINNING", 1, ""), ("YBINNING", 1, ""), ("FILTER", seq.filter, "Filter name"),
            ("IMAGETYP", "Light Frame", "Type of image"),
            ("SITELAT", "-31 16 24", "Latitude of the imaging location"),
            ("SITELONG", "149 03 52", "Longitude of the imaging location"),
            ("FOCALLEN", rig["focal"], "Focal length of telescope in mm"),
            ("SWCREATE", "MaxIm DL Version 6.27 211016 1NURE", "Name of software that created the image"),
            ("OBJECT", seq.target, "Target object name"), ("TELESCOP", rig["telescope"], "Telescope name"),
            ("INSTRUME", rig["camera"], "Detector instrument name"),
            ("OBJCTRA", _hms(ra), "[hms J2000] Target right ascension"),
            ("OBJCTDEC", _dms(dec), "[dms +N J2000] Target declination"),
        ]
    # TheSkyX
    lt = local.replace(tzinfo=None)
    ampm = "PM" if lt.hour >= 12 else "AM"
    hour12 = lt.hour % 12 or 12
    return [
        ("EXPTIME", float(seq.exposure_s), "SBIGFITSEXT Total exposure time in seconds"),
        ("SWCREATE", "TheSkyX Version 10.5.0 Build 12978", "SBIGFITSEXT Name & version of software"),
        ("PICTTYPE", 3, "Image type as index 0= Unknown 1=Light, 2=Bias, 3=Dark, 4=Flat"),
        ("IMAGETYP", "Dark Frame", "SBIGFITSEXT Light, Dark, Bias or Flat"),
        ("XBINNING", 2, ""), ("YBINNING", 2, ""), ("CCD-TEMP", -20.02, ""), ("SET-TEMP", -20.0, ""),
        ("SITELAT", "+38 26 18.00", "SBIGFITSEXT Latitude of the imaging location"),
        ("SITELONG", "+122 30 31.00", "SBIGFITSEXT Longitude of the imaging location"),
        ("OBJECT", "A", "SBIGFITSEXT The name of the object imaged"),
        ("INSTRUME", rig["camera"], "SBIGFITSEXT The model camera used."),
        ("DATE-OBS", utc.replace(tzinfo=None).isoformat(timespec="milliseconds"), "SBIGFITSEXT UTC of start exp. in ISO 8601"),
        ("LOCALTIM", f"{lt.month}/{lt.day}/{lt.year} {hour12:02d}:{lt:%M:%S}.{lt.microsecond // 1000:03d} {ampm} DST", "Local time at exposure start"),
    ]


def _plain_target(obj: str | None) -> str | None:
    if not obj:
        return None
    mapping = {"M 31": "M31", "Messier 31": "M31", "NGC7000": "NGC 7000", "M 42": "M42",
               "m33": "M33", "m17": "M17", "Great Orion Nebula": "M42"}
    return mapping.get(obj, obj)


def _hms(deg: float | None) -> str | None:
    if deg is None:
        return None
    h = deg / 15.0
    hh = int(h)
    mm = int((h - hh) * 60)
    ss = ((h - hh) * 60 - mm) * 60
    return f"{hh:02d} {mm:02d} {ss:05.2f}"


def _dms(deg: float | None) -> str | None:
    if deg is None:
        return None
    sign = "-" if deg < 0 else "+"
    d = abs(deg)
    dd = int(d)
    mm = int((d - dd) * 60)
    ss = ((d - dd) * 60 - mm) * 60
    return f"{sign}{dd:02d} {mm:02d} {ss:04.1f}"


def _pixels(seq: Sequence, rng: np.random.Generator, star_seed: int) -> np.ndarray:
    """Star fields for lights (same stars per target, slight drift), flat/dark/bias levels otherwise."""
    w, h = 64, 48
    if seq.frame_type == "light":
        srng = np.random.default_rng(star_seed)
        n = 18
        stars = [(float(srng.uniform(2, w - 2)) + rng.normal(0, 0.3), float(srng.uniform(2, h - 2)) + rng.normal(0, 0.3),
                  float(srng.uniform(800, 20000))) for _ in range(n)]
        blob = (w / 2, h / 2, 9.0, 900.0) if (TARGETS.get(_plain_target(seq.target)) or (0, 0, False))[2] else None
        return star_field(rng, w, h, stars, background=1400, noise=45, nebula=blob)
    if seq.frame_type in ("flat",):
        return star_field(rng, w, h, (), background=26000, noise=160, nebula=(w / 2, h / 2, 40, 4000))
    level = {"dark": 1050.0, "bias": 1000.0, "darkflat": 1002.0}[seq.frame_type]
    return star_field(rng, w, h, (), background=level, noise=12)


def write_quarantine(quarantine: Path, seed: int = 2024) -> dict[str, int]:
    """Write every sequence of PLAN under `quarantine`. Returns frames per program."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for s_index, seq in enumerate(PLAN):
        folder = quarantine / _folder(seq)
        folder.mkdir(parents=True, exist_ok=True)
        local = _start(seq)
        star_seed = sum(map(ord, _plain_target(seq.target) or "x"))  # same stars per target
        for i in range(seq.count):
            data = _pixels(seq, rng, star_seed)
            cards = [c for c in _cards(seq, local, data.shape, rng) if c[1] is not None]
            name = _filename(seq, i, local)
            path = folder / name
            if path.exists():
                path = folder / f"{path.stem}_{s_index}{path.suffix}"
            write_fits(path, cards, data)
            # mtime as the capture program would leave it: end of the exposure
            end = (local + timedelta(seconds=seq.exposure_s + 2)).timestamp()
            os.utime(path, (end, end))
            local += timedelta(seconds=seq.exposure_s + 8)
            counts[seq.program] = counts.get(seq.program, 0) + 1
    return counts


DEMO_ALIASES = '''
[aliases.camera]
"ZWO CCD ASI1600MM Pro" = "ZWO ASI1600MM Pro"

[aliases.telescope]
"EQMOD ASCOM HEQ5/6" = "Evostar 72ED"

[aliases.filter]
"L-eXtreme" = "L-eXtreme"

[aliases.target]
"Great Orion Nebula" = "M42"

# Two rigs' profiles: pixel scale and field of view on their session pages and notes.
[equipment.camera."ZWO ASI2600MM Pro"]
pixel_um = 3.76
width_px = 6248
height_px = 4176

[equipment.camera."ZWO ASI294MC Pro"]
pixel_um = 4.63
width_px = 4144
height_px = 2822

[equipment.telescope."Esprit 100"]
aperture_mm = 100
focal_length_mm = 550

[equipment.telescope."Evostar 72ED"]
aperture_mm = 72
focal_length_mm = 420
'''


def run(directory: Path, echo: Echo = print, s3_endpoint: str | None = None,
        s3_bucket: str = "astrocat-demo") -> dict[str, Any]:
    """Create the demo library in `directory` and run the pipeline on it; with `s3_endpoint`
    (a local S3-compatible server) the pipeline also backs the library up there."""
    import time

    from astrocat import catalog, pipeline
    from astrocat.config import load, write_default

    started = time.perf_counter()
    directory = directory.resolve()
    cfg = directory / "astrocat.toml"
    if not cfg.exists():
        write_default(directory, timezone="Europe/Brussels")
        text = cfg.read_text(encoding="utf-8")
        # the template's alias tables are empty; the demo shows them in use
        head = text.split("# Raw header names", 1)[0]
        cfg.write_text(head + "# Raw header names -> your names (the demo's own rigs).\n" + DEMO_ALIASES.lstrip(), encoding="utf-8")
    if s3_endpoint and "[backup]" not in cfg.read_text(encoding="utf-8"):
        with cfg.open("a", encoding="utf-8") as f:
            f.write(DEMO_BACKUP.format(bucket=s3_bucket, endpoint=s3_endpoint))
    settings = load(cfg)
    if settings.backup is not None and settings.backup.in_sync:
        from astrocat.backup.client import connect, ensure_bucket

        if ensure_bucket(connect(settings.backup), settings.backup.region):
            echo(f"created bucket {settings.backup.bucket} at {settings.backup.endpoint_url}")
    counts = write_quarantine(settings.quarantine)
    echo(f"wrote {sum(counts.values())} sample frames from {len(counts)} programs into {settings.quarantine}")
    db = catalog.open_catalog(settings.catalog)
    try:
        report = pipeline.run(db, settings, "demo", echo=echo).report
        summary = catalog.stats_summary(db, catalog.FrameFilter())
    finally:
        db.conn.close()
    report["frames_written"] = sum(counts.values())
    echo(
        f"catalog: {plural(summary['frames'], 'frame')}, {hours(summary['integration_s'])} of light on "
        f"{plural(summary['targets'], 'target')} over {plural(summary['nights'], 'night')} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    echo("")
    echo(f"Your demo library is in {directory}. Try:")
    echo(f"  cd {directory}")
    for line in NEXT_COMMANDS:
        echo(f"  {line}")
    return report


DEMO_BACKUP = '''
# The demo backs up to the local S3-compatible server it was given (docs/backup.md).
[backup]
bucket = "{bucket}"
endpoint_url = "{endpoint}"
region = "us-east-1"
frames_storage_class = "STANDARD"
in_sync = true
'''

NEXT_COMMANDS = [
    "astrocat list sessions",
    "astrocat list targets",
    "astrocat stats summary --target M31 --filter Ha",
    "astrocat stats by-filter --target M31",
    "astrocat list files --night 2024-10-03 --type flat",
    "astrocat organize --dry-run      # everything is filed: nothing left to do",
    "astrocat verify files --quick",
    "astrocat datasette --open",
]
