"""Equipment profiles: the rules (pixel scale, field of view) with numbers worked by hand, the
[equipment] config, raw header names mapped to profiles, and what list, pages and notes show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat.config import ConfigError, load
from astrocat.rules import equipment as eq
from astrocat.site.paths import session_href
from conftest import invoke_cli

ASI2600 = eq.Camera("ASI2600MM", pixel_um=3.76, width_px=6248, height_px=4176)
ESPRIT = eq.Telescope("Esprit 100", aperture_mm=100, focal_length_mm=550)


def test_pixel_scale_by_hand():
    # 206.265 arcsec/mrad x 3.76 um / 400 mm = 1.9389 arcsec/px
    assert eq.pixel_scale_arcsec(3.76, 400) == pytest.approx(1.9389, abs=1e-4)
    assert eq.pixel_scale_arcsec(3.76, 400, binning=2) == pytest.approx(3.8778, abs=1e-4)
    # 206.265 x 3.76 / 550 = 1.4101
    assert eq.pixel_scale_arcsec(3.76, 550) == pytest.approx(1.4101, abs=1e-4)


def test_field_of_view_by_hand():
    # sensor 6248 x 3.76 um = 23.49 mm, 4176 x 3.76 um = 15.70 mm
    assert ASI2600.sensor_mm == pytest.approx((23.492, 15.702), abs=1e-3)
    # 2 atan(11.746 / 400) = 2 x 0.029357 rad = 3.364 deg; 2 atan(7.851 / 400) = 2.249 deg
    assert eq.field_of_view_deg(ASI2600, None, 400) == pytest.approx((3.364, 2.249), abs=1e-3)
    # through the Esprit (550 mm): 2 atan(11.746 / 550) = 2.447 deg, 2 atan(7.851 / 550) = 1.636 deg
    assert eq.field_of_view_deg(ASI2600, ESPRIT) == pytest.approx((2.447, 1.636), abs=1e-3)
    assert ESPRIT.f_ratio == 5.5
    # unknown sizes: no answer rather than a guess
    assert eq.field_of_view_deg(eq.Camera("x", pixel_um=3.76), ESPRIT) is None
    assert eq.field_of_view_deg(ASI2600, eq.Telescope("y", aperture_mm=100)) is None
    assert eq.field_of_view_deg(None, ESPRIT) is None


def test_optics_and_binning():
    o = eq.optics(ASI2600, ESPRIT)
    assert o == {"focal_length_mm": 550, "aperture_mm": 100, "f_ratio": 5.5, "pixel_um": 3.76,
                 "pixel_scale_arcsec": 1.41, "fov_deg": (2.447, 1.636)}
    assert eq.optics(ASI2600, ESPRIT, binning=2)["pixel_scale_arcsec"] == 2.82
    assert eq.binning_factor(["2x2", "2x2", None]) == 2
    assert eq.binning_factor(["1x1", "2x2"]) == 1 and eq.binning_factor([]) == 1 and eq.binning_factor(["2x1"]) == 1


def test_parse_and_find_by_raw_names():
    e = eq.parse({"camera": {"ASI2600MM": {"pixel_um": 3.76, "width_px": 6248, "height_px": 4176,
                                           "names": ["ZWO ASI2600MM Pro"]}},
                  "telescope": {"Esprit 100": {"aperture_mm": 100, "focal_length_mm": 550, "names": ["Esprit100ED"]}}})
    assert e.camera("zwo asi2600mm pro") is e.camera("ASI2600MM") is not None
    assert e.telescope("ESPRIT100ED").name == "Esprit 100"
    assert e.camera("ZWO ASI294MC Pro") is None and e.telescope(None) is None
    assert e.aliases("camera") == {"ASI2600MM": "ASI2600MM", "ZWO ASI2600MM Pro": "ASI2600MM"}
    assert e.field_of_view_deg("ZWO ASI2600MM Pro", "Esprit100ED") == pytest.approx((2.447, 1.636), abs=1e-3)
    assert e.field_of_view_deg("unknown camera", "Esprit 100") is None


@pytest.mark.parametrize(("table", "message"), [
    ({"mount": {}}, "equipment.mount: unknown kind"),
    ({"camera": {"A": {"pixel": 3.76}}}, "unknown key 'pixel'"),
    ({"camera": {"A": {"pixel_um": -1}}}, 'equipment.camera."A".pixel_um must be a positive number'),
    ({"camera": {"A": {"width_px": 100.5}}}, "must be a positive whole number"),
    ({"camera": {"A": {"pixel_um": True}}}, "must be a positive number"),
    ({"telescope": {"B": {"names": "Esprit"}}}, "must be a list of names"),
    ({"telescope": {"B": 550}}, "must be a table"),
])
def test_parse_refuses_bad_values(table, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        eq.parse(table)


EQUIPMENT = '''
[equipment.camera."ASI2600MM"]
pixel_um = 3.76
width_px = 6248
height_px = 4176
names = ["ZWO ASI2600MM Pro"]

[equipment.telescope."Esprit 100"]
aperture_mm = 100
focal_length_mm = 550
names = ["Esprit100ED"]
'''


def light(folder: Path, name: str, *, scope: str, date: str, focal: float | None = None, binning: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    header = fits.Header()
    for key, value in (("IMAGETYP", "Light Frame"), ("OBJECT", "M 31"), ("FILTER", "L"), ("EXPTIME", 60.0),
                       ("DATE-OBS", date), ("INSTRUME", "ZWO ASI2600MM Pro"), ("TELESCOP", scope),
                       ("XBINNING", binning), ("YBINNING", binning)):
        header[key] = value
    if focal:
        header["FOCALLEN"] = focal
    fits.PrimaryHDU(np.zeros((4, 6), dtype=np.uint16), header).writeto(folder / name)


@pytest.fixture
def rig(library):
    cfg = library.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + EQUIPMENT, encoding="utf-8")
    s = load(cfg)
    light(s.quarantine, "a.fits", scope="Esprit100ED", date="2024-11-01T21:00:00")
    light(s.quarantine, "b.fits", scope="Esprit100ED", date="2024-11-01T21:01:00")
    # another night on the mount alone (TELESCOP names it), with FOCALLEN, binned 2x2
    light(s.quarantine, "c.fits", scope="EQMOD HEQ5/6", date="2024-11-02T21:00:00", focal=400, binning=2)
    r = invoke_cli("scan", "--json", cwd=s.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    return s


def test_raw_names_map_to_profiles_and_a_mount_is_a_mount(rig):
    r = invoke_cli("list", "cameras", "--json", cwd=rig.base_dir)
    assert r.returncode == 0, r.stderr
    (cam,) = json.loads(r.stdout)
    assert (cam["name"], cam["raw_names"], cam["frames"]) == ("ASI2600MM", ["ZWO ASI2600MM Pro"], 3)
    assert cam["profile"] == {"name": "ASI2600MM", "pixel_um": 3.76, "width_px": 6248, "height_px": 4176,
                              "sensor_mm": [23.49, 15.7]}
    r = invoke_cli("list", "telescopes", "--json", cwd=rig.base_dir)
    (tel,) = json.loads(r.stdout)  # the mount is not listed as a telescope
    assert (tel["name"], tel["raw_names"], tel["frames"]) == ("Esprit 100", ["Esprit100ED"], 2)
    assert tel["profile"] == {"name": "Esprit 100", "aperture_mm": 100.0, "focal_length_mm": 550.0, "f_ratio": 5.5}
    r = invoke_cli("list", "telescopes", cwd=rig.base_dir)
    assert "Esprit100ED" in r.stdout and "f/5.5" in r.stdout
    assert "TELESCOP values that name a mount, not a telescope: EQMOD HEQ5/6" in r.stdout
    r = invoke_cli("list", "cameras", cwd=rig.base_dir)
    assert "ZWO ASI2600MM Pro" in r.stdout and "3.76 µm · 6248x4176 px" in r.stdout
    # --camera takes a raw name too
    r = invoke_cli("list", "files", "--camera", "ZWO ASI2600MM Pro", "--json", cwd=rig.base_dir)
    assert len(json.loads(r.stdout)) == 3


def test_session_pages_and_notes_show_pixel_scale_and_field(rig):
    r = invoke_cli("build", "--json", cwd=rig.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    r = invoke_cli("list", "sessions", "--json", cwd=rig.base_dir)
    ids = {s["night"]: s["id"] for s in json.loads(r.stdout)}
    esprit = (rig.site / session_href(ids["2024-11-01"])).read_text(encoding="utf-8")
    # 1.41"/px, 2.447 x 1.636 deg, f/5.5 (worked above)
    assert "1.41″/px · field 2.45° × 1.64° · f/5.5" in esprit
    # no telescope profile: the frames' FOCALLEN 400 mm, binned 2x2: 2 x 1.939 = 3.88"/px
    mount = (rig.site / session_href(ids["2024-11-02"])).read_text(encoding="utf-8")
    assert "3.88″/px (bin 2) · field 3.36° × 2.25°" in mount

    r = invoke_cli("notes", "--json", cwd=rig.base_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    notes = {p.name[:10]: p.read_text(encoding="utf-8") for p in (rig.notes / "Imaging_Sessions").rglob("*.md")}
    assert "pixel_scale: 1.41\n" in notes["2024-11-01"]
    assert "| Optics | 1.41″/px · field 2.45° × 1.64° · f/5.5 |" in notes["2024-11-01"]
    assert "pixel_scale: 3.878\n" in notes["2024-11-02"]


def test_bad_equipment_config_is_one_line_and_exit_2(library):
    cfg = library.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[equipment.camera."X"]\npixel_um = "big"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r'equipment\.camera\."X"\.pixel_um must be a positive number'):
        load(cfg)
    r = invoke_cli("list", "cameras", cwd=library.base_dir)
    assert r.returncode == 2
    assert "pixel_um must be a positive number" in r.stderr and "Traceback" not in r.stderr
