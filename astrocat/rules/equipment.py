"""Equipment profiles and what follows from them: pixel scale and field of view. Pure.

`[equipment.camera."NAME"]` gives a camera's pixel size and sensor size in pixels,
`[equipment.telescope."NAME"]` a telescope's aperture and focal length; each may list the
raw header names (INSTRUME, TELESCOP) that are it. From them:

    pixel scale (arcsec/px) = 206.265 x pixel size (um) x binning / focal length (mm)
    field of view (deg)     = 2 atan(sensor size (mm) / (2 x focal length (mm)))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ARCSEC_PER_RADIAN = 206264.806


@dataclass(frozen=True)
class Camera:
    name: str
    pixel_um: float | None = None
    width_px: int | None = None
    height_px: int | None = None
    names: tuple[str, ...] = ()  # raw INSTRUME values that are this camera

    @property
    def sensor_mm(self) -> tuple[float, float] | None:
        if self.pixel_um is None or self.width_px is None or self.height_px is None:
            return None
        return self.width_px * self.pixel_um / 1000.0, self.height_px * self.pixel_um / 1000.0


@dataclass(frozen=True)
class Telescope:
    name: str
    aperture_mm: float | None = None
    focal_length_mm: float | None = None
    names: tuple[str, ...] = ()  # raw TELESCOP values that are this telescope

    @property
    def f_ratio(self) -> float | None:
        if not self.aperture_mm or not self.focal_length_mm:
            return None
        return self.focal_length_mm / self.aperture_mm


def pixel_scale_arcsec(pixel_um: float, focal_length_mm: float, binning: int = 1) -> float:
    """Arcseconds of sky per pixel: 3.76 um at 400 mm -> 1.939."""
    return ARCSEC_PER_RADIAN * pixel_um * binning / 1000.0 / focal_length_mm


def field_of_view_deg(camera: Camera | None, telescope: Telescope | None,
                      focal_length_mm: float | None = None) -> tuple[float, float] | None:
    """(width, height) of the sky a camera sees through a telescope, in degrees; None when
    a size is unknown. `focal_length_mm` (FOCALLEN of the frames) stands in for a telescope
    without a profile, or with a reducer the profile does not know."""
    focal = focal_length_mm or (telescope.focal_length_mm if telescope else None)
    sensor = camera.sensor_mm if camera else None
    if not focal or focal <= 0 or sensor is None:
        return None
    return tuple(math.degrees(2 * math.atan(side / (2 * focal))) for side in sensor)  # type: ignore[return-value]


def optics(camera: Camera | None, telescope: Telescope | None,
           focal_length_mm: float | None = None, binning: int = 1) -> dict[str, Any]:
    """What a page or note says of a camera and telescope pair (missing values are None)."""
    focal = focal_length_mm or (telescope.focal_length_mm if telescope else None)
    fov = field_of_view_deg(camera, telescope, focal)
    scale = pixel_scale_arcsec(camera.pixel_um, focal, binning) if camera and camera.pixel_um and focal else None
    return {
        "focal_length_mm": focal,
        "aperture_mm": telescope.aperture_mm if telescope else None,
        "f_ratio": round(focal / telescope.aperture_mm, 2) if focal and telescope and telescope.aperture_mm else None,
        "pixel_um": camera.pixel_um if camera else None,
        "pixel_scale_arcsec": None if scale is None else round(scale, 3),
        "fov_deg": None if fov is None else (round(fov[0], 3), round(fov[1], 3)),
    }


@dataclass(frozen=True)
class Equipment:
    """Every profile, found by its name or a raw header name (case folded)."""

    cameras: Mapping[str, Camera] = field(default_factory=dict)
    telescopes: Mapping[str, Telescope] = field(default_factory=dict)

    def camera(self, name: str | None) -> Camera | None:
        return _find(self.cameras, name)

    def telescope(self, name: str | None) -> Telescope | None:
        return _find(self.telescopes, name)

    def field_of_view_deg(self, camera: str | None, telescope: str | None,
                          focal_length_mm: float | None = None) -> tuple[float, float] | None:
        """The field of view of the named camera and telescope (e.g. for a search radius)."""
        return field_of_view_deg(self.camera(camera), self.telescope(telescope), focal_length_mm)

    def optics(self, camera: str | None, telescope: str | None, focal_length_mm: float | None = None,
               binning: int = 1) -> dict[str, Any]:
        return optics(self.camera(camera), self.telescope(telescope), focal_length_mm, binning)

    def aliases(self, kind: str) -> dict[str, str]:
        """raw header name -> profile name, for normalisation (kind: camera | telescope); the
        profile's own name too, so a header that writes it in other case maps to it."""
        profiles = self.cameras if kind == "camera" else self.telescopes
        return {raw: p.name for p in profiles.values() for raw in (p.name, *p.names)}


def binning_factor(values: list[Any]) -> int:
    """The binning of a set of frames ('2x2' -> 2) when they share one square binning, else 1."""
    found = {str(v) for v in values if v}
    if len(found) == 1:
        x, _, y = found.pop().partition("x")
        if x.isdigit() and x == y:
            return int(x)
    return 1


def _find(profiles: Mapping[str, Any], name: str | None) -> Any:
    if not name:
        return None
    if name in profiles:
        return profiles[name]
    folded = name.casefold().strip()
    for p in profiles.values():
        if p.name.casefold() == folded or any(n.casefold() == folded for n in p.names):
            return p
    return None


_CAMERA_KEYS = {"pixel_um": float, "width_px": int, "height_px": int, "names": list}
_TELESCOPE_KEYS = {"aperture_mm": float, "focal_length_mm": float, "names": list}


def parse(table: Mapping[str, Any]) -> Equipment:
    """`[equipment]` of astrocat.toml -> Equipment; ValueError names the key at fault."""
    cameras: dict[str, Camera] = {}
    telescopes: dict[str, Telescope] = {}
    for kind in table:
        if kind not in ("camera", "telescope"):
            raise ValueError(f"equipment.{kind}: unknown kind (camera or telescope)")
    for kind, keys, out in (("camera", _CAMERA_KEYS, cameras), ("telescope", _TELESCOPE_KEYS, telescopes)):
        section = table.get(kind, {})
        if not isinstance(section, Mapping):
            raise ValueError(f"equipment.{kind} must be a table of [equipment.{kind}.\"NAME\"] tables")
        for name, spec in section.items():
            where = f'equipment.{kind}."{name}"'
            if not isinstance(spec, Mapping):
                raise ValueError(f"{where} must be a table (pixel_um = 3.76, ...)")
            values: dict[str, Any] = {}
            for key, value in spec.items():
                if key not in keys:
                    raise ValueError(f"{where}: unknown key {key!r} (known: {', '.join(keys)})")
                if keys[key] is list:
                    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                        raise ValueError(f"{where}.{key} must be a list of names")
                    values[key] = tuple(v.strip() for v in value)
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                        or value <= 0 or (keys[key] is int and value != int(value)):
                    raise ValueError(f"{where}.{key} must be a positive {'whole ' if keys[key] is int else ''}"
                                     f"number, got {value!r}")
                values[key] = keys[key](value)
            out[name] = (Camera if kind == "camera" else Telescope)(name=name, **values)
    return Equipment(cameras, telescopes)
