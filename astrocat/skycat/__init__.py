"""The offline sky catalog: deep-sky objects by designation, common name or position.

OpenNGC (the `pyongc` package's SQLite file, read-only) with Messier, NGC, IC and its
addendum (Caldwell, Barnard, Melotte, ...), the cross-identifiers astrophotographers use
(LBN, Sh2, Caldwell numbers; not the surveys' UGC or PGC) and common names, plus the popular names in `astrocat.skycat.names`. Nothing is read until
the first question: common names come from a small table of their own (about 6 ms), the
other questions from an index of the whole database (about 0.1 s); each then lives for
the process.

    lookup("Heart Nebula")  -> SkyObject(id="IC 1805", ...)
    nearest(10.68, 41.27, 1.0) -> [(SkyObject(id="M31", ...), 0.0), ...]
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import re
import sqlite3
from dataclasses import dataclass, field

from astrocat.rules import normalize
from astrocat.skycat.names import CONSTELLATIONS, GENERIC_WORDS, POPULAR_NAMES, TYPES

# identifiers worth showing beside the designation (the rest are survey numbers)
_SHOWN_IDS = re.compile(r"^(C|LBN|LDN|SH\s*2|MEL|CR|VDB|ABELL|ARP|B)[\s-]*\d", re.I)
_ANY_SHOWN = re.compile(r"(?:^|,)\s*(C|LBN|LDN|SH\s*2|MEL|CR|VDB|ABELL|ARP|B)[\s-]*\d", re.I)
# kinds of record nearest() never offers
_NOT_OBJECTS = {"Dup", "NonEx"}


@dataclass(frozen=True)
class SkyObject:
    """One catalogued object; `id` is the designation astrocat files it under (M31, IC 1805)."""

    id: str
    names: tuple[str, ...]
    ra_deg: float | None
    dec_deg: float | None
    type: str | None
    constellation: str | None
    common_name: str | None
    size_arcmin: float | None = None  # major axis: ranks a suggestion (a faint galaxy beside M31 is not the target)
    magnitude: float | None = None  # V, else B


@dataclass
class _Rec:
    name: str  # OpenNGC's name: NGC0224, IC1805, B033
    type: str
    ra: float | None  # degrees
    dec: float | None
    const: str
    messier: str
    main: str  # the record a duplicate stands for (its own name otherwise)
    size: float | None = None
    mag: float | None = None
    # cross-identifiers astrophotographers use (Sh2-155, LBN 654, C20); not the surveys' (UGC, PGC, IRAS)
    ids: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)


@dataclass
class _Index:
    records: dict[str, _Rec]
    ids: dict[str, str]  # designation key -> record name
    common: dict[str, tuple[str, str]]  # common-name key -> (designation, main record name)
    short: dict[str, tuple[str, str]]  # the same without 'Nebula', 'Galaxy', ...
    popular: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # main -> (designation, names)


def database_path() -> str | None:
    """Where OpenNGC's data lies (pyongc.DBPATH), or None when pyongc is not installed.

    Found without importing pyongc, whose import asks importlib.metadata for its version
    (80 ms): the file is `ongc.db` in the package's folder."""
    try:
        spec = importlib.util.find_spec("pyongc")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "ongc.db")
        if os.path.isfile(path):
            return path
    return None


def stamp() -> str:
    """Which data answers (OpenNGC's file, astrocat's names): the catalog keeps each target's
    facts until this changes, so a command need not build the index to recompute them."""
    path = database_path()
    if path is None:
        return f"{_names_digest()}:none"
    st = os.stat(path)
    return f"{_names_digest()}:{st.st_size}:{int(st.st_mtime)}"


@functools.lru_cache(maxsize=1)
def _names_digest() -> str:
    """A digest of astrocat's own names: editing them changes the stamp by itself."""
    import hashlib

    return hashlib.sha256(repr((POPULAR_NAMES, TYPES, CONSTELLATIONS, GENERIC_WORDS)).encode()).hexdigest()[:12]


def available() -> bool:
    return bool(_index().records)


def lookup(name: str | None) -> SkyObject | None:
    """The object a designation ("M 31", "NGC0281", "Sh2-155", "LBN 654") or a common
    name ("Andromeda Galaxy", "Heart", "Pacman Nebula") names, or None."""
    if not name or not name.strip():
        return None
    idx = _index()
    rec_name = idx.ids.get(_id_key(name))
    if rec_name is not None:
        return _object(idx, idx.records[rec_name], canonical(name))
    hit = _common_hit(idx, name)
    if hit is None:
        return None
    designation, main = hit
    return _object(idx, idx.records[main], designation)


def catalogue_id(name: str | None) -> str | None:
    """The designation a common name stands for ("Heart Nebula" -> "IC 1805"), None for
    anything else (designations are filed as written: NGC 224 stays NGC 224).

    Answered from the common names alone (a few ms to read), not the whole index: a scan
    asks this of every OBJECT that is not a designation."""
    if not name or not name.strip():
        return None
    common, short = _names()
    if not common:
        return None
    hit = common.get(_name_key(name)) or short.get(_name_key(name))
    m = _BRACKETED.match(name) if hit is None else None
    if m:  # "Prawn Nebula (IC 4628)": the designation in brackets, else the name before them (once)
        inner = normalize.designation(m.group(2))
        if inner:
            return inner
        hit = common.get(_name_key(m.group(1))) or short.get(_name_key(m.group(1)))
    return None if hit is None else hit[0]


def nearest(ra_deg: float, dec_deg: float, radius_deg: float) -> list[tuple[SkyObject, float]]:
    """Objects within radius_deg of (ra_deg, dec_deg), closest first, with their separation in degrees."""
    idx = _index()
    found = []
    for rec in idx.records.values():
        if rec.ra is None or rec.dec is None or rec.type in _NOT_OBJECTS or abs(rec.dec - dec_deg) > radius_deg:
            continue
        sep = separation_deg(ra_deg, dec_deg, rec.ra, rec.dec)
        if sep <= radius_deg:
            found.append((sep, rec.name))
    found.sort()
    return [(_object(idx, idx.records[n], None), round(sep, 6)) for sep, n in found]


def identify(ra_deg: float, dec_deg: float, radius_deg: float) -> SkyObject | None:
    """The object a frame centred here most likely shows, within radius_deg: the largest
    object whose extent holds the centre (a frame on NGC 206 shows M31), else the closest.

    OpenNGC gives each object's major axis; an object without one is taken as a point."""
    found = nearest(ra_deg, dec_deg, radius_deg)
    holding = [(o, sep) for o, sep in found if o.size_arcmin and sep <= o.size_arcmin / 120.0]
    if holding:
        return max(holding, key=lambda h: (h[0].size_arcmin, -h[1]))[0]
    return found[0][0] if found else None


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance in degrees (haversine: exact at small separations)."""
    p1, p2 = math.radians(dec1), math.radians(dec2)
    dp, dl = p2 - p1, math.radians(ra2 - ra1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def canonical(designation: str) -> str:
    """A designation as astrocat writes it: NGC0224 -> NGC 224, B033 -> B33, Mel022 -> Mel 22."""
    name = normalize.canonical_target(designation)[0] or designation.strip()
    m = re.fullmatch(r"([A-Za-z]{2,})\s*0*(\d+)", name)
    return f"{m.group(1)} {m.group(2)}" if m else name


# --- keys -----------------------------------------------------------------------------


_PREFIXES = [(re.compile(p), r) for p, r in (
    (r"^messier\b", "m"), (r"^caldwell\b", "c"), (r"^(?:sharpless|sh)\s*(?:2\s*[-_ ]\s*)?(?=\d)", "sh2-"))]
_TOKENS = re.compile(r"[a-z]+|\d+")
_BRACKETED = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")
_ARTICLE = re.compile(r"^the\s+")
_NOT_WORD = re.compile(r"[\W_]+")


def _id_key(text: str) -> str:
    """A designation's key: case, spaces, dashes and leading zeros do not matter (NGC0224 = ngc 224)."""
    s = text.casefold().strip()
    if s[:1] in ("m", "c", "s"):
        for pattern, replacement in _PREFIXES:
            s = pattern.sub(replacement, s)
    return "".join(t.lstrip("0") or "0" if t.isdigit() else t for t in _TOKENS.findall(s))


def _name_key(text: str) -> str:
    return _NOT_WORD.sub("", _ARTICLE.sub("", text.casefold().strip()))


def _short_key(text: str) -> str | None:
    s = " ".join(_ARTICLE.sub("", text.casefold().strip()).split())
    for word in sorted(GENERIC_WORDS, key=len, reverse=True):
        if s.endswith(" " + word):
            key = _name_key(s[: -len(word) - 1])
            return key if len(key) >= 3 and not key.isdigit() else None
    return None


def _common_hit(idx: _Index, name: str) -> tuple[str, str] | None:
    key = _name_key(name)
    return idx.common.get(key) or idx.short.get(key)


Names = dict[str, tuple[str, str]]  # name key -> (designation, OpenNGC record it names)


def _name_tables(entries: list[tuple[str, str, str, bool]]) -> tuple[Names, Names]:
    """(full names, short names) from (common name, designation, record, popular) in priority
    order: the first entry of a name wins; a short name ("Veil") is kept when it names one
    object only, and a popular name's short form always."""
    common: Names = {}
    short: Names = {}
    pending: dict[str, list[tuple[str, str]]] = {}
    for name, designation, record, popular in entries:
        common.setdefault(_name_key(name), (designation, record))
        key = _short_key(name)
        if key and popular:
            short.setdefault(key, (designation, record))  # "Rosette" is the Rosette Nebula, NGC 2237
        elif key:
            pending.setdefault(key, []).append((designation, record))
    for key, hits in pending.items():
        if key not in common and key not in short and len({r for _, r in hits}) == 1:
            short[key] = hits[0]
    return common, short


@functools.lru_cache(maxsize=1)
def _names() -> tuple[Names, Names]:
    """The common-name tables alone, from the few records that have one."""
    if database_path() is None:
        return {}, {}  # without OpenNGC nothing is found, not even astrocat's own names
    entries = [(n, d, d, True) for d, names in POPULAR_NAMES.items() for n in names]
    for name, messier, commons in _query(
            "SELECT name, messier, commonnames FROM objects WHERE commonnames != '' AND type != 'Dup' "
            "ORDER BY notngc, name"):
        rec = _Rec(name, "", None, None, "", messier or "", name)
        target = _preferred(rec) or canonical(name)
        entries += [(c.strip(), target, name, False) for c in commons.split(",") if c.strip()]
    return _name_tables(entries)


def _query(sql: str) -> list[tuple]:
    """Rows of OpenNGC's database (read-only, never written), or none without it."""
    path = database_path()
    if path is None:
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


# --- building the index -----------------------------------------------------------------


def _preferred(rec: _Rec) -> str | None:
    if rec.name.startswith("M") and rec.name[1:].isdigit():
        return f"M{int(rec.name[1:])}"
    return f"M{int(rec.messier)}" if rec.messier.strip().isdigit() else None


def _object(idx: _Index, rec: _Rec, designation: str | None) -> SkyObject:
    main = idx.records.get(rec.main, rec)
    popular_id, popular = idx.popular.get(main.name, (None, ()))
    oid = _preferred(main) or designation or popular_id or canonical(main.name)
    names = [oid, canonical(main.name), _preferred(main), popular_id] + [canonical(i) for i in main.ids]
    common = [re.sub(r"^the\s+", "", c) for c in main.common]
    names += list(popular) + common
    ra, dec = (main.ra, main.dec) if main.ra is not None else (rec.ra, rec.dec)
    return SkyObject(
        id=oid,
        names=tuple(dict.fromkeys(n for n in names if n)),
        ra_deg=None if ra is None else round(ra, 6),
        dec_deg=None if dec is None else round(dec, 6),
        type=TYPES.get(main.type, main.type) if main.type else None,
        constellation=CONSTELLATIONS.get(main.const or rec.const) or (main.const or rec.const or None),
        common_name=(popular or common or [None])[0],
        size_arcmin=main.size,
        magnitude=main.mag,
    )


@functools.lru_cache(maxsize=1)
def _index() -> _Index:
    rows = _query("SELECT name, type, ra, dec, const, messier, ngc, ic, identifiers, commonnames, majax, vmag, bmag "
                  "FROM objects ORDER BY notngc, name")
    records: dict[str, _Rec] = {}
    for name, typ, ra, dec, const, messier, ngc, ic, idents, commons, size, vmag, bmag in rows:
        main = name
        if typ == "Dup":  # the record it duplicates is named in its NGC or IC cross-reference
            main = f"NGC{ngc}" if ngc else f"IC{ic}" if ic else name
        records[name] = _Rec(
            name, typ or "", None if ra is None else math.degrees(ra), None if dec is None else math.degrees(dec),
            const or "", messier or "", main, size, vmag if vmag is not None else bmag,
            ids=[i.strip() for i in idents.split(",") if _SHOWN_IDS.match(i.strip())]
            if _ANY_SHOWN.search(idents or "") else [],
            common=[c.strip() for c in (commons or "").split(",") if c.strip()],
        )
    ids: dict[str, str] = {}
    for rec in records.values():  # OpenNGC's own names first, then Messier numbers, then cross-ids
        ids.setdefault(_id_key(rec.name), rec.name)
    for rec in records.values():
        if rec.messier.strip().isdigit():
            ids.setdefault(f"m{int(rec.messier)}", rec.name)
    for rec in records.values():
        if rec.type == "Dup" and rec.main == rec.name and rec.messier.strip().isdigit():
            rec.main = ids.get(f"m{int(rec.messier)}", rec.name)  # M102, the duplicate of M101
        for ident in (rec.ids if rec.type != "Dup" else []):
            ids.setdefault(_id_key(ident), rec.name)
    idx = _Index(records, ids, {}, {})
    entries = []
    for designation, names in POPULAR_NAMES.items():  # popular names first: they name the designation used
        rec_name = ids.get(_id_key(designation))
        if rec_name is not None:
            main = records[rec_name].main
            idx.popular[main] = (designation, names)
            entries += [(n, designation, main, True) for n in names]
    for rec in records.values():
        if rec.common and rec.type != "Dup":
            target = _preferred(rec) or canonical(rec.name)
            entries += [(n, target, rec.name, False) for n in rec.common]
    idx.common, idx.short = _name_tables(entries)
    return idx
