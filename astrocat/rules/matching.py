"""Which darks, flats, bias and dark-flats go with a group of lights, and why. Pure.

Lights are grouped by everything their calibration depends on (`LightGroup`). Each
kind of calibration has a table of rules (`rules_for`): exact keys (camera, binning,
size, gain, ...) and tolerances (exposure within 0.5 %, temperature within 2 C,
rotator within 2 deg, night within 30 days). Every candidate gets a verdict,
`accepted`, `needs review` or `rejected`, with reasons that give both readings.

Speed: candidates are indexed by their exact keys (`CandidateIndex`), and within a
bucket sorted by the rule's window value (exposure, night), so a group looks at the
few candidates that can match one by one and judges the others a bucket or a
window value at a time.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from datetime import date
from typing import Any, Callable, Iterable, Mapping, Sequence

KINDS = ("dark", "flat", "bias", "darkflat")
KIND_LABELS = {"dark": "darks", "flat": "flats", "bias": "bias", "darkflat": "dark-flats"}
ACCEPTED, REVIEW, REJECTED = "accepted", "needs review", "rejected"
# how many frames the "what to shoot" line suggests
SHOOT_COUNT = {"dark": 20, "flat": 20, "bias": 50, "darkflat": 20}


@dataclass(frozen=True)
class MatchSettings:
    """Tolerances (`[calibration]` in astrocat.toml)."""

    dark_exposure_pct: float = 0.5
    darkflat_exposure_pct: float = 0.5
    temperature_c: float = 2.0
    rotator_deg: float = 2.0
    flat_max_days: int = 30
    dark_max_age_days: int | None = None  # None: darks of any age
    prefer_masters: bool = True


@dataclass(frozen=True, slots=True)
class Frame:
    """The fields matching reads from a cataloged frame."""

    id: int
    frame_type: str
    is_master: bool = False
    camera: str | None = None
    telescope: str | None = None
    filter: str | None = None
    binning: str | None = None
    width: int | None = None
    height: int | None = None
    gain: float | None = None
    offset: float | None = None
    readout_mode: str | None = None
    bayer_pattern: str | None = None
    exposure_s: float | None = None
    temp_c: float | None = None  # sensor temperature: CCD-TEMP, else the set point
    set_temp_c: float | None = None
    rotator_deg: float | None = None
    night: str | None = None
    target: str | None = None
    path: str = ""
    sha256: str | None = None
    session_id: str | None = None
    date_obs: str | None = None
    bad: bool = False

    @property
    def size(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None


_FRAME_KEYS = set(Frame.__slots__)


def frame_from_row(row: Mapping[str, Any]) -> Frame:
    """A Frame from a catalog row (a dict with the frames table's column names)."""
    values = {k: row[k] for k in _FRAME_KEYS if k in row and k not in ("temp_c", "bad", "is_master")}
    temp = row.get("ccd_temp_c")
    values["temp_c"] = temp if temp is not None else row.get("set_temp_c")
    values["is_master"] = bool(row.get("is_master"))
    values["bad"] = bool(row.get("bad"))
    return Frame(**values)


# --- the rules table ------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One condition a candidate must meet.

    how: `exact` (equal values), `pct` (within tolerance percent), `abs` (within
    tolerance units), `angle` (wrap-aware degrees; only when both sides have one),
    `days` (nights at most tolerance days apart)."""

    field: str  # Frame attribute ("size" for width x height)
    how: str
    keyword: str  # the header keyword that carries it (named when a candidate lacks it)
    label: str
    unit: str = ""
    tolerance: float = 0.0


def rules_for(kind: str, s: MatchSettings) -> tuple[Rule, ...]:
    """The table of rules for one kind of calibration frame."""
    camera = Rule("camera", "exact", "INSTRUME", "camera")
    binning = Rule("binning", "exact", "XBINNING", "binning")
    size = Rule("size", "exact", "NAXIS1/NAXIS2", "size")
    gain = Rule("gain", "exact", "GAIN", "gain")
    offset = Rule("offset", "exact", "OFFSET", "offset")
    readout = Rule("readout_mode", "exact", "READOUTM", "readout mode")
    if kind == "dark":
        rules = [camera, binning, size, gain, offset, readout,
                 Rule("exposure_s", "pct", "EXPTIME", "exposure", "s", s.dark_exposure_pct),
                 Rule("temp_c", "abs", "CCD-TEMP", "temperature", "C", s.temperature_c)]
        if s.dark_max_age_days:
            rules.append(Rule("night", "days", "DATE-OBS", "night", "days", s.dark_max_age_days))
        return tuple(rules)
    if kind == "flat":
        return (camera, Rule("telescope", "exact", "TELESCOP", "telescope"),
                Rule("filter", "exact", "FILTER", "filter"), binning, size,
                Rule("rotator_deg", "angle", "ROTATOR", "rotator", "deg", s.rotator_deg),
                Rule("night", "days", "DATE-OBS", "night", "days", s.flat_max_days))
    if kind == "bias":
        return (camera, binning, size, gain, offset, readout)
    if kind == "darkflat":
        return (camera, gain, offset, binning,
                Rule("exposure_s", "pct", "EXPTIME", "exposure", "s", s.darkflat_exposure_pct))
    raise ValueError(kind)


# Rules whose value orders candidates in a bucket: a group bisects the window it accepts.
_WINDOW = {"dark": "exposure_s", "darkflat": "exposure_s", "flat": "night"}


def _value(f: Any, name: str) -> Any:
    return f.size if name == "size" else getattr(f, name)


def fmt_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        text = f"{value:.1f}" if unit in ("C", "deg") else f"{value:g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit and unit != "days" else text


@lru_cache(maxsize=65536)
def night_ordinal(night: str | None) -> int | None:
    if not night:
        return None
    try:
        return date.fromisoformat(night).toordinal()
    except ValueError:
        return None


def angle_apart(a: float, b: float) -> float:
    """Degrees between two angles, the short way round (359 and 1 are 2 apart)."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def judge(rule: Rule, cand: Any, ref: Any, ref_name: str = "light") -> tuple[str, str | None]:
    """(outcome, reason) of one rule: outcome `ok`, `skip` (the reference has no value),
    `missing` (the candidate lacks it) or `fail` (the reason gives both readings)."""
    want, have = _value(ref, rule.field), _value(cand, rule.field)
    if want is None:
        return "skip", None
    if have is None:
        if rule.how == "angle":
            return "skip", None  # compared only when both sides have one
        return "missing", f"{rule.keyword} ({rule.label})"
    if rule.how == "exact":
        ok = have == want
    elif rule.how == "pct":
        ok = abs(have - want) <= abs(want) * rule.tolerance / 100.0 + 1e-9
    elif rule.how == "abs":
        ok = abs(have - want) <= rule.tolerance + 1e-9
    elif rule.how == "angle":
        ok = angle_apart(have, want) <= rule.tolerance + 1e-9
    elif rule.how == "days":
        a, b = night_ordinal(have), night_ordinal(want)
        if a is None or b is None:
            return "missing", f"{rule.keyword} ({rule.label})"
        ok = abs(a - b) <= rule.tolerance
    else:
        raise ValueError(rule.how)
    if ok:
        return "ok", None
    both = f"{rule.label} {fmt_value(have, rule.unit)} vs {ref_name} {fmt_value(want, rule.unit)}"
    if rule.how == "exact":
        return "fail", both
    if rule.how == "pct":
        return "fail", f"{both} differs by more than {rule.tolerance:g} %"
    if rule.how == "days":
        return "fail", f"{both} is {abs(a - b)} days apart, more than {rule.tolerance:g}"
    return "fail", f"{both} exceeds {rule.tolerance:g} {rule.unit}"


# --- light groups ---------------------------------------------------------------------


@dataclass(frozen=True)
class LightGroup:
    """Lights that share everything their calibration depends on."""

    key: tuple[Any, ...]
    frames: tuple[Frame, ...]
    camera: str | None
    telescope: str | None
    filter: str | None
    binning: str | None
    width: int | None
    height: int | None
    gain: float | None
    offset: float | None
    readout_mode: str | None
    bayer_pattern: str | None
    exposure_s: float | None
    temp_c: float | None  # the mean sensor temperature of its lights
    rotator_deg: float | None
    night: str | None
    target: str | None

    @property
    def size(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None

    @property
    def id(self) -> str:
        """A stable, readable id: night, target, filter, exposure, camera."""
        parts = [self.night or "no-night", self.target or "no-target", self.filter or "no-filter",
                 f"{fmt_value(self.exposure_s)}s", self.camera or "no-camera"]
        extra = [f"g{fmt_value(self.gain)}" if self.gain is not None else "",
                 f"o{fmt_value(self.offset)}" if self.offset is not None else "",
                 f"b{self.binning}" if self.binning else "",
                 f"t{_temp_key(self.frames[0])}" if _temp_key(self.frames[0]) is not None else "",
                 f"r{round(self.rotator_deg) % 360}" if self.rotator_deg is not None else "",
                 self.readout_mode or "", self.size or "", self.telescope or ""]
        return "|".join(parts + [e for e in extra if e])


def _temp_key(f: Frame) -> float | None:
    # the cooler's set point is what the user chose; without one, the whole degree
    if f.set_temp_c is not None:
        return float(f.set_temp_c)
    return None if f.temp_c is None else float(round(f.temp_c))


def _circular_mean(angles: Sequence[float]) -> float:
    x = sum(math.cos(math.radians(a)) for a in angles)
    y = sum(math.sin(math.radians(a)) for a in angles)
    return round(math.degrees(math.atan2(y, x)) % 360.0, 2)


def group_lights(lights: Iterable[Frame]) -> list[LightGroup]:
    """Lights grouped by camera, binning, size, gain, offset, readout mode, Bayer pattern,
    exposure, sensor temperature, and (for flats) filter, telescope, rotator and night.
    Bad frames and masters are left out: they are not calibrated."""
    buckets: dict[tuple[Any, ...], list[Frame]] = defaultdict(list)
    for f in lights:
        if f.bad or f.is_master:
            continue
        rot = None if f.rotator_deg is None else round(f.rotator_deg) % 360
        key = (f.target, f.camera, f.binning, f.width, f.height, f.gain, f.offset, f.readout_mode,
               f.bayer_pattern, f.exposure_s, _temp_key(f), f.filter, f.telescope, rot, f.night)
        buckets[key].append(f)
    groups = []
    for key, frames in buckets.items():
        first = frames[0]
        temps = [f.temp_c for f in frames if f.temp_c is not None]
        rots = [f.rotator_deg for f in frames if f.rotator_deg is not None]
        groups.append(LightGroup(
            key=key, frames=tuple(sorted(frames, key=lambda f: (f.date_obs or "", f.id))),
            camera=first.camera, telescope=first.telescope, filter=first.filter, binning=first.binning,
            width=first.width, height=first.height, gain=first.gain, offset=first.offset,
            readout_mode=first.readout_mode, bayer_pattern=first.bayer_pattern, exposure_s=first.exposure_s,
            temp_c=round(sum(temps) / len(temps), 2) if temps else None,
            rotator_deg=_circular_mean(rots) if rots else None, night=first.night, target=first.target,
        ))
    return sorted(groups, key=lambda g: g.id)


# --- the index ------------------------------------------------------------------------


class CandidateIndex:
    """Calibration frames by kind and camera, then by the values of the kind's exact
    rules; in each bucket, frames alike in every value a rule reads form one set
    (a night's 30 darks are usually one to three sets), sorted by the window value."""

    def __init__(self, frames: Iterable[Frame], settings: MatchSettings | None = None):
        self.settings = settings or MatchSettings()
        self.rules = {k: rules_for(k, self.settings) for k in KINDS}
        self.exact = {k: [r for r in self.rules[k] if r.how == "exact" and r.field != "camera"] for k in KINDS}
        self.tolerances = {k: [r for r in self.rules[k] if r.how != "exact"] for k in KINDS}
        self.buckets: dict[str, dict[Any, dict[tuple[Any, ...], _Bucket]]] = {k: defaultdict(dict) for k in KINDS}
        self.by_id: dict[int, Frame] = {}
        self.judged: dict[Any, Any] = {}  # what `_judge_bucket` keeps between references
        fields = {k: tuple(dict.fromkeys(r.field for r in self.rules[k])) for k in KINDS}
        for f in frames:
            kind = f.frame_type
            if kind not in self.rules:
                continue
            self.by_id[f.id] = f
            key = tuple(_value(f, r.field) for r in self.exact[kind])
            cams = self.buckets[kind][f.camera]
            bucket = cams.get(key)
            if bucket is None:
                bucket = cams[key] = _Bucket()
            # masters are told apart one by one; subs by what the rules and the choice read
            sig = (tuple(_value(f, n) for n in fields[kind]), f.night, f.temp_c, f.bad, f.is_master,
                   f.id if f.is_master else None)
            bucket.add(sig, f, _window_key(kind, f))
        for cams in self.buckets.values():
            for per_key in cams.values():
                for bucket in per_key.values():
                    bucket.sort()


def _window_key(kind: str, f: Any) -> float | None:
    name = _WINDOW.get(kind)
    if name is None:
        return None
    if name == "night":
        return night_ordinal(f.night)
    return f.exposure_s


class _Set:
    """Candidates alike in every value the rules read: judged once."""

    __slots__ = ("rep", "frames", "wkey")

    def __init__(self, rep: Frame, wkey: float | None):
        self.rep, self.frames, self.wkey = rep, [rep], wkey


class _Bucket:
    __slots__ = ("sets", "keyed", "keys", "loose", "_good", "_bad")

    def __init__(self) -> None:
        self._good: list[Frame] | None = None
        self._bad: list[_Set] = []
        self.sets: dict[tuple[Any, ...], _Set] = {}
        self.keyed: list[_Set] = []
        self.keys: list[float] = []
        self.loose: list[_Set] = []  # no window value: judged one by one

    def add(self, sig: tuple[Any, ...], f: Frame, wkey: float | None) -> None:
        found = self.sets.get(sig)
        if found is None:
            self.sets[sig] = _Set(f, wkey)
        else:
            found.frames.append(f)

    def sort(self) -> None:
        for st in self.sets.values():
            st.frames.sort(key=lambda f: f.id)
        self.keyed = sorted((st for st in self.sets.values() if st.wkey is not None),
                            key=lambda st: (st.wkey, st.rep.id))
        self.loose = [st for st in self.sets.values() if st.wkey is None]
        self.keys = [st.wkey for st in self.keyed]  # type: ignore[misc]

    def good_and_bad(self) -> tuple[list[Frame], list[_Set]]:
        """Every frame not marked bad (one list, shared: never changed), and the bad sets."""
        if self._good is None:
            sets = list(self.keyed) + self.loose
            self._good = [f for st in sets if not st.rep.bad for f in st.frames]
            self._bad = [st for st in sets if st.rep.bad]
        return self._good, self._bad


# --- verdicts -------------------------------------------------------------------------


@dataclass(eq=False)
class Verdict:
    """One verdict for one or more candidates (frames rejected for the same reasons at
    once share one: a bucket of another gain, darks of another exposure)."""

    status: str
    reasons: list[str]
    frames: list[Frame]
    chosen: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": self.reasons, "chosen": self.chosen,
                "frame_ids": [f.id for f in self.frames], "paths": [f.path for f in self.frames]}


@dataclass
class KindMatch:
    """One kind of calibration for one light group: the verdicts and what was chosen.

    status: `accepted` (frames chosen), `needs review` (only candidates that lack a
    value), `missing` (nothing acceptable), `pinned`, `none` (pinned to nothing),
    `not needed` (bias when dark-flats calibrate the flats, and the reverse)."""

    kind: str
    status: str
    chosen: list[Frame] = field(default_factory=list)
    # the verdicts, or how to make them: a library with a dark set every night has
    # thousands of accepted sets per group, and most callers only want what was chosen
    _verdicts: list[Verdict] | Callable[[], list[Verdict]] = field(default_factory=list)
    note: str = ""
    gap: str | None = None  # `on file` | `nearby` | `missing` when there is no acceptable set
    shoot: str | None = None

    @property
    def verdicts(self) -> list[Verdict]:
        if callable(self._verdicts):
            self._verdicts = self._verdicts()
        return self._verdicts

    def of_status(self, status: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == status]

    def verdict_for(self, frame_id: int) -> Verdict | None:
        for v in self.verdicts:
            if any(f.id == frame_id for f in v.frames):
                return v
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "note": self.note, "gap": self.gap, "shoot": self.shoot,
                "chosen": [f.id for f in self.chosen], "verdicts": [v.as_dict() for v in self.verdicts]}


@dataclass
class GroupMatch:
    group: LightGroup
    kinds: dict[str, KindMatch]

    @property
    def calibrated(self) -> bool:
        return not any(k.gap for k in self.kinds.values())

    def as_dict(self) -> dict[str, Any]:
        g = self.group
        return {"group": g.id, "target": g.target, "night": g.night, "filter": g.filter, "exposure_s": g.exposure_s,
                "camera": g.camera, "telescope": g.telescope, "gain": g.gain, "offset": g.offset,
                "binning": g.binning, "temp_c": g.temp_c, "rotator_deg": g.rotator_deg, "lights": len(g.frames),
                "calibrated": self.calibrated, "kinds": {k: m.as_dict() for k, m in self.kinds.items()}}


def _judge_one(f: Frame, rules: Sequence[Rule], ref: Any, ref_name: str,
               frames: list[Frame] | None = None) -> Verdict:
    frames = list(frames) if frames is not None else [f]
    if f.bad:
        return Verdict(REJECTED, ["marked bad"], frames)
    fails, missing = [], []
    for r in rules:
        outcome, reason = judge(r, f, ref, ref_name)
        if outcome == "fail":
            fails.append(reason)
        elif outcome == "missing":
            missing.append(reason)
    if fails:
        return Verdict(REJECTED, fails + ([f"lacks {', '.join(missing)}"] if missing else []), frames)
    if missing:
        what = "master" if f.is_master else "frame"
        return Verdict(REVIEW, [f"{what} lacks {', '.join(missing)}: check it before use"], frames)
    return Verdict(ACCEPTED, ["meets every rule"], frames)


def candidates(index: CandidateIndex, kind: str, ref: Any, ref_name: str = "light") -> list[Verdict]:
    """Every candidate of this kind with the reference's camera, judged.

    Buckets whose exact values differ are rejected a bucket at a time; in the matching
    bucket (and buckets that only lack values), the window rule's range is bisected and
    sets outside it are rejected a window value at a time."""
    rules = index.rules[kind]
    exact = index.exact[kind]
    want = tuple(_value(ref, r.field) for r in exact)
    out: list[Verdict] = []
    by_camera = index.buckets[kind]
    pools = [(k, b, False) for k, b in by_camera.get(ref.camera, {}).items()]
    if ref.camera is not None:  # frames that do not say their camera: judged, never silently dropped
        pools += [(k, b, True) for k, b in by_camera.get(None, {}).items()]
    for key, bucket, no_camera in pools:
        fails, lacking = [], no_camera
        for r, have, w in zip(exact, key, want):
            if w is not None and have != w:
                if have is None:
                    lacking = True
                else:
                    fails.append(f"{r.label} {fmt_value(have, r.unit)} vs {ref_name} {fmt_value(w, r.unit)}")
        if fails:
            good, bad = bucket.good_and_bad()
            if good:
                out.append(Verdict(REJECTED, fails, good))
            out.extend(Verdict(REJECTED, ["marked bad"], list(st.frames)) for st in bad)
            continue
        # a bucket whose exact values all match needs only the tolerance rules per set
        per_set = rules if lacking else index.tolerances[kind]
        out.extend(_judge_bucket(bucket, kind, per_set, ref, ref_name, index.judged))
    return out


def _judge_bucket(bucket: _Bucket, kind: str, rules: Sequence[Rule], ref: Any, ref_name: str,
                  cache: dict[Any, Any] | None = None) -> list[Verdict]:
    """Verdicts for one bucket's sets. `cache` (one per matching run) keeps what does not
    depend on where the window falls: flats are judged per night, and without it every
    night's group judged every set within its window again and walked every set outside it."""
    cache = {} if cache is None else cache
    out = [_judge_one(st.rep, rules, ref, ref_name, st.frames) for st in bucket.loose]
    wname = _WINDOW.get(kind)
    wrule = next((r for r in rules if r.field == wname), None)
    wref = _window_key(kind, ref) if wrule else None
    if wrule is None or wref is None:
        out.extend(_judge_one(st.rep, rules, ref, ref_name, st.frames) for st in bucket.keyed)
        return out
    if wrule.how == "pct":
        span = abs(wref) * wrule.tolerance / 100.0 + 1e-9
    else:
        span = wrule.tolerance
    lo, hi = bisect_left(bucket.keys, wref - span), bisect_right(bucket.keys, wref + span)
    # within the window a set passes the window rule, so its verdict is the other rules':
    # the same for every reference that reads the same values for them
    others = (id(rules), ref_name, tuple(_value(ref, r.field) for r in rules if r is not wrule))
    for st in bucket.keyed[lo:hi]:
        if judge(wrule, st.rep, ref, ref_name)[0] != "ok":  # (not expected: the bisection says it is in)
            out.append(_judge_one(st.rep, rules, ref, ref_name, st.frames))
            continue
        key = (id(st), others)
        verdict = cache.get(key)
        if verdict is None:
            verdict = cache[key] = _judge_one(st.rep, rules, ref, ref_name, st.frames)
        out.append(verdict)
    # outside the window: one verdict per exposure, or per side for nights (bad frames
    # get their own); the runs of each side are worked out once per bucket and boundary,
    # only their reasons (which name the reference's value) per reference
    per_value = wrule.how != "days"
    for a, b in ((0, lo), (hi, len(bucket.keyed))):
        key = (id(bucket), a, b, per_value)
        runs = cache.get(key)
        if runs is None:
            runs = cache[key] = _side_runs(bucket, a, b, per_value, cache)
        for frames, values in runs:
            out.append(frames if isinstance(frames, Verdict) else _window_verdict(wrule, frames, ref, ref_name, values))
    return out


def _side_runs(bucket: _Bucket, a: int, b: int, per_value: bool, cache: dict[Any, Any]) -> list[tuple[Any, list[Any]]]:
    """`_runs` of bucket.keyed[a:b]. A side of nights without a bad set is one run: a slice
    of the bucket's frames laid end to end (in C, where each night's group would otherwise
    walk every set outside its window in Python)."""
    if per_value or a >= b:
        return _runs(bucket.keyed[a:b], per_value)
    flat = cache.get((id(bucket), "flat"))
    if flat is None:
        frames: list[Frame] = []
        offsets, bad = [0], [0]
        for st in bucket.keyed:
            frames.extend(st.frames)
            offsets.append(len(frames))
            bad.append(bad[-1] + bool(st.rep.bad))
        flat = cache[(id(bucket), "flat")] = (frames, offsets, bad)
    frames, offsets, bad = flat
    if bad[b] != bad[a]:
        return _runs(bucket.keyed[a:b], per_value)
    first, last = bucket.keys[a], bucket.keys[b - 1]
    return [(frames[offsets[a]:offsets[b]], [first] if first == last else [first, last])]


def _runs(part: Sequence[_Set], per_value: bool) -> list[tuple[Any, list[Any]]]:
    """Sets outside a window as (frames, window values) runs, in order; a bad set comes as
    its own "marked bad" Verdict in place of the frames."""
    out: list[tuple[Any, list[Any]]] = []
    run: list[Frame] = []
    values: list[Any] = []
    for st in part:
        if st.rep.bad:
            out.append((Verdict(REJECTED, ["marked bad"], list(st.frames)), []))
            continue
        if per_value and run and values[-1] != st.wkey:
            out.append((run, values))
            run, values = [], []
        run.extend(st.frames)
        if not values or values[-1] != st.wkey:
            values.append(st.wkey)
    if run:
        out.append((run, values))
    return out


def _window_verdict(rule: Rule, frames: list[Frame], ref: Any, ref_name: str, values: list[Any]) -> Verdict:
    if len(values) > 1:  # nights on one side of the window, from the first to the last
        nights = [date.fromordinal(int(values[0])).isoformat(), date.fromordinal(int(values[-1])).isoformat()]
        days = sorted(abs(int(v) - night_ordinal(ref.night)) for v in (values[0], values[-1]))
        return Verdict(REJECTED, [f"nights {nights[0]} to {nights[-1]} vs {ref_name} {ref.night} are {days[0]} to "
                                  f"{days[1]} days apart, more than {rule.tolerance:g}"], frames)
    _, reason = judge(rule, frames[0], ref, ref_name)
    return Verdict(REJECTED, [reason or f"{rule.label} outside the tolerance"], frames)


# --- choosing -------------------------------------------------------------------------


def _distance_days(f: Frame, night: str | None) -> int:
    a, b = night_ordinal(f.night), night_ordinal(night)
    return 10**6 if a is None or b is None else abs(a - b)


def _best_master(masters: Sequence[Verdict], ref_night: str | None, ref_temp: float | None) -> Verdict:
    """The master to use: nearest night, then nearest temperature, then the newest."""
    def temp_off(f: Frame) -> float:
        return abs(f.temp_c - ref_temp) if f.temp_c is not None and ref_temp is not None else 0.0

    return min(masters, key=lambda v: (_distance_days(v.frames[0], ref_night), temp_off(v.frames[0]), -(v.frames[0].id)))


def choose(verdicts: list[Verdict], ref_night: str | None, ref_temp: float | None,
           prefer_masters: bool) -> tuple[list[Frame], str]:
    """The accepted frames to use: the best master (nearest night, then nearest
    temperature) when masters are preferred and one is accepted, else the accepted subs
    of the nearest night. Marks the chosen verdicts; returns (frames, why)."""
    accepted = [v for v in verdicts if v.status == ACCEPTED]
    if not accepted:
        return [], ""
    masters = [v for v in accepted if v.frames[0].is_master]
    subs = [v for v in accepted if not v.frames[0].is_master]

    if masters and (prefer_masters or not subs):
        best = _best_master(masters, ref_night, ref_temp)
        best.chosen = True
        best.reasons = best.reasons + ["chosen: master preferred" + _when(best.frames[0], ref_night)]
        for v in accepted:  # (`is_master`, not `v in masters`: Verdicts compare by value, slowly)
            if v is not best:
                v.reasons = v.reasons + ["not chosen: another master was nearer" if v.frames[0].is_master
                                         else "not chosen: a master is preferred"]
        return list(best.frames), "master"
    nearest = min(_distance_days(v.frames[0], ref_night) for v in subs)
    chosen_nights = {v.frames[0].night for v in subs if _distance_days(v.frames[0], ref_night) == nearest}
    night = min(chosen_nights, key=lambda n: n or "")
    out = []
    for v in accepted:
        is_sub = not v.frames[0].is_master
        if is_sub and v.frames[0].night == night:
            v.chosen = True
            v.reasons = v.reasons + ["chosen" + _when(v.frames[0], ref_night)]
            out.extend(v.frames)
        elif is_sub:
            v.reasons = v.reasons + [f"not chosen: the set of {night} is nearer in time"]
        else:
            v.reasons = v.reasons + ["not chosen: masters are not preferred (prefer_masters = false)"]
    return out, f"{len(out)} subs of {night}"


@dataclass
class Accepted:
    """A judged list's accepted verdicts arranged for `decide`: masters, and subs by night
    (both in the judged order)."""

    masters: list[Verdict]
    subs_by_night: dict[str | None, list[Verdict]]
    ordinals: list[int]  # the subs' nights as day numbers, sorted, each once
    nights_at: dict[int, list[str | None]]
    undated: list[str | None]  # subs' nights without a day number (none, or unreadable)


def arrange(verdicts: Sequence[Verdict]) -> Accepted:
    masters: list[Verdict] = []
    subs: dict[str | None, list[Verdict]] = {}
    for v in verdicts:
        if v.status == ACCEPTED:
            if v.frames[0].is_master:
                masters.append(v)
            else:
                subs.setdefault(v.frames[0].night, []).append(v)
    nights_at: dict[int, list[str | None]] = {}
    undated = []
    for night in subs:
        o = night_ordinal(night)
        if o is None:
            undated.append(night)
        else:
            nights_at.setdefault(o, []).append(night)
    return Accepted(masters, subs, sorted(nights_at), nights_at, undated)


def decide(acc: Accepted, ref_night: str | None, ref_temp: float | None,
           prefer_masters: bool) -> tuple[list[Frame], str]:
    """What `choose` chooses, found by bisecting the nights instead of annotating every
    accepted verdict: (frames, why)."""
    if not acc.masters and not acc.subs_by_night:
        return [], ""
    if acc.masters and (prefer_masters or not acc.subs_by_night):
        return list(_best_master(acc.masters, ref_night, ref_temp).frames), "master"
    ref = night_ordinal(ref_night)
    far = 10**6  # _distance_days of a night without a day number
    if ref is None:
        options = [(far, n) for n in acc.subs_by_night]
    else:
        i = bisect_left(acc.ordinals, ref)
        options = [(abs(o - ref), n) for o in acc.ordinals[max(0, i - 1):i + 1] for n in acc.nights_at[o]]
        options += [(far, n) for n in acc.undated]
    nearest = min(d for d, _ in options)
    night = min({n for d, n in options if d == nearest}, key=lambda n: n or "")
    out = [f for v in acc.subs_by_night[night] for f in v.frames]
    return out, f"{len(out)} subs of {night}"


def _when(f: Frame, ref_night: str | None) -> str:
    if not ref_night or not f.night:
        return ""
    d = _distance_days(f, ref_night)
    return " (same night)" if d == 0 else f" ({f.night}, {d} day{'s' if d != 1 else ''} away)"


# --- matching a group -----------------------------------------------------------------


@dataclass(frozen=True)
class FlatRef:
    """What dark-flats are matched against: the chosen flats' camera, gain, offset,
    binning and exposure."""

    camera: str | None
    gain: float | None
    offset: float | None
    binning: str | None
    exposure_s: float | None
    night: str | None
    temp_c: float | None = None
    width: int | None = None
    height: int | None = None
    readout_mode: str | None = None

    @property
    def size(self) -> str | None:
        return None


def flat_ref(flats: Sequence[Frame]) -> FlatRef | None:
    subs = [f for f in flats if f.exposure_s is not None]
    if not subs:
        return None
    counts: dict[float, int] = defaultdict(int)
    for f in subs:
        counts[f.exposure_s] += 1  # type: ignore[index]
    exposure = max(counts, key=lambda e: (counts[e], -e))
    f = next(x for x in subs if x.exposure_s == exposure)
    return FlatRef(f.camera, f.gain, f.offset, f.binning, exposure, f.night)


def match_group(index: CandidateIndex, group: LightGroup,
                pins: Mapping[str, Sequence[Frame] | None] | None = None,
                memo: dict[tuple[Any, ...], KindMatch] | None = None) -> GroupMatch:
    """Darks, flats, bias and dark-flats for one light group, every candidate judged.

    pins: kind -> frames the user chose (used as they are), or None for "none".
    memo: shared between the groups of one run: groups that differ only in what a kind
    does not depend on (the filter, for darks) share that kind's match."""
    s = index.settings
    pins = pins or {}
    memo = {} if memo is None else memo
    kinds: dict[str, KindMatch] = {}
    for kind in ("dark", "flat", "bias"):
        kinds[kind] = _memo_match(index, kind, group, "light", pins, s, memo)
    flats = kinds["flat"].chosen
    ref = flat_ref(flats)
    if ref is None or all(f.is_master for f in flats):
        dark_flats = KindMatch("darkflat", "not needed",
                               note="no flat subs chosen" if ref is None else "the flats are a master")
        if "darkflat" in pins:
            dark_flats = _pinned("darkflat", pins["darkflat"])
    else:
        dark_flats = _memo_match(index, "darkflat", ref, "flats", pins, s, memo)
    kinds["darkflat"] = dark_flats
    # flats are calibrated by bias or by dark-flats: either will do, so a gap in one is
    # reported as the bias gap, and only when neither is there
    if kinds["bias"].gap and dark_flats.status in (ACCEPTED, "pinned"):
        kinds["bias"].gap, kinds["bias"].shoot = None, None
        kinds["bias"].note = "not needed: dark-flats calibrate the flats"
    elif dark_flats.gap and kinds["bias"].status in (ACCEPTED, "pinned"):
        dark_flats.note = "not needed: bias calibrates the flats"
    dark_flats.gap, dark_flats.shoot = None, None
    return GroupMatch(group, kinds)


def _memo_match(index: CandidateIndex, kind: str, ref: Any, ref_name: str,
                pins: Mapping[str, Sequence[Frame] | None], s: MatchSettings,
                memo: dict[tuple[Any, ...], KindMatch]) -> KindMatch:
    key = (kind, ref_name, ref.camera, tuple(_value(ref, r.field) for r in index.rules[kind]), ref.night,
           getattr(ref, "temp_c", None), _shoot_temp(ref), getattr(ref, "rotator_deg", None) if kind == "flat" else None)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _match_kind(index, kind, ref, ref_name, pins, s, memo)
    # a copy: the bias note and gap below are decided per group
    return replace(found)


def _pinned(kind: str, frames: Sequence[Frame] | None) -> KindMatch:
    if frames is None:
        return KindMatch(kind, "none", note=f"pinned: no {KIND_LABELS[kind]}")
    chosen = list(frames)
    return KindMatch(kind, "pinned", chosen, [Verdict(ACCEPTED, ["pinned by you"], chosen, chosen=True)],
                     note=f"pinned: {len(chosen)} frame{'s' if len(chosen) != 1 else ''}")


def _match_kind(index: CandidateIndex, kind: str, ref: Any, ref_name: str,
                pins: Mapping[str, Sequence[Frame] | None], s: MatchSettings,
                memo: dict[tuple[Any, ...], Any] | None = None) -> KindMatch:
    if kind in pins:
        return _pinned(kind, pins[kind])
    # the verdicts depend only on the values the rules read (the night only where a rule
    # reads it): darks judged once serve every night's groups; the choice is per night
    key = ("verdicts", kind, ref_name, ref.camera, tuple(_value(ref, r.field) for r in index.rules[kind]))
    cached = None if memo is None else memo.get(key)
    if cached is None:
        judged = candidates(index, kind, ref, ref_name)
        cached = (judged, arrange(judged))
        if memo is not None:
            memo[key] = cached
    judged, accepted = cached
    night, temp, prefer = ref.night, getattr(ref, "temp_c", None), s.prefer_masters
    chosen, why = decide(accepted, night, temp, prefer)
    if chosen:
        def annotated() -> list[Verdict]:
            # only accepted verdicts are changed by the choice (chosen, why): the others are shared
            verdicts = [Verdict(v.status, list(v.reasons), v.frames) if v.status == ACCEPTED else v for v in judged]
            choose(verdicts, night, temp, prefer)
            return verdicts

        return KindMatch(kind, ACCEPTED, chosen, annotated, note=why)
    review = [v for v in judged if v.status == REVIEW]
    rejected_near = [v for v in judged if v.status == REJECTED and _near(v, index, kind)]
    m = KindMatch(kind, REVIEW if review else "missing", [], list(judged))
    if review:
        m.gap = "on file"
        m.note = f"{sum(len(v.frames) for v in review)} candidate(s) need review: {review[0].reasons[0]}"
    elif rejected_near:
        m.gap = "nearby"
        m.note = "nearby but outside a tolerance: " + "; ".join(rejected_near[0].reasons)
    else:
        m.gap = "missing"
        m.note = f"no {KIND_LABELS[kind]} on file for this camera and setup"
    m.shoot = shoot_line(kind, ref)
    return m


def _near(v: Verdict, index: CandidateIndex, kind: str) -> bool:
    """Rejected only by a tolerance (not by an exact key, not as bad)."""
    tolerance_labels = {r.label for r in index.rules[kind] if r.how != "exact"}
    return bool(v.reasons) and all(r.split(" ", 1)[0] in tolerance_labels for r in v.reasons)


def shoot_line(kind: str, ref: Any) -> str:
    """What to shoot, in one line: `shoot 20 x 300 s darks at -10 C, gain 100, offset 50,
    bin 1x1 (ASI2600MM Pro)`."""
    n = SHOOT_COUNT[kind]
    settings = []
    temp = _shoot_temp(ref)
    if kind == "dark" and temp is not None:
        settings.append(f"at {temp:g} C")
    if kind == "flat":
        settings.append(f"through {ref.filter}" if getattr(ref, "filter", None) else "without a filter")
    if kind != "flat":
        if ref.gain is not None:
            settings.append(f"gain {fmt_value(ref.gain)}")
        if ref.offset is not None:
            settings.append(f"offset {fmt_value(ref.offset)}")
    if ref.binning:
        settings.append(f"bin {ref.binning}")
    if kind in ("dark", "bias") and getattr(ref, "readout_mode", None):
        settings.append(f"readout {ref.readout_mode}")
    if kind == "flat" and getattr(ref, "rotator_deg", None) is not None:
        settings.append(f"rotator {ref.rotator_deg:.1f} deg")
    what = f"{n} x {fmt_value(ref.exposure_s)} s {KIND_LABELS[kind]}" if kind in ("dark", "darkflat") \
        and ref.exposure_s is not None else f"{n} {KIND_LABELS[kind]}"
    gear = ref.camera or "unknown camera"
    if kind == "flat" and getattr(ref, "telescope", None):
        gear += f" on {ref.telescope}"
    if settings and kind in ("bias", "darkflat"):
        settings[0] = f"at {settings[0]}"
    line = (f"shoot {what} " + ", ".join(settings) if settings else f"shoot {what}") + f" ({gear})"
    if kind == "flat" and ref.night:
        line += f" for the night of {ref.night}"
    return line


def _shoot_temp(ref: Any) -> float | None:
    frames = getattr(ref, "frames", None)
    if frames:
        t = _temp_key(frames[0])
        if t is not None:
            return t
    t = getattr(ref, "temp_c", None)
    return None if t is None else float(round(t))


def match_all(lights: Iterable[Frame], calibration: Iterable[Frame], settings: MatchSettings | None = None,
              pins: Mapping[str, Sequence[Frame] | None] | None = None) -> list[GroupMatch]:
    """Group the lights and match every group (the one entry point most callers need)."""
    index = CandidateIndex(calibration, settings)
    memo: dict[tuple[Any, ...], KindMatch] = {}
    return [match_group(index, g, pins, memo) for g in group_lights(lights)]
