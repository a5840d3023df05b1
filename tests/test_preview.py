"""preview.py: real FITS files in, PNG thumbnails out, cached by sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from astrocat.site import preview
from astrocat.demo.fitswrite import star_field, write_fits


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frame(tmp_path: Path, name: str, data: np.ndarray, cards=()) -> Path:
    p = tmp_path / name
    write_fits(p, list(cards), data)
    return p


def test_mono_frame_becomes_a_grey_png_and_is_cached(tmp_path):
    src = frame(tmp_path, "light.fits", star_field(np.random.default_rng(1), stars=[(30, 20, 20000)]))
    before = src.read_bytes()
    thumbs = tmp_path / "thumbs"
    first = preview.ensure_thumbnail(thumbs, sha(src), src)
    assert first.status == "rendered" and first.file == thumbs / f"{sha(src)}.png"
    img = Image.open(first.file)
    assert img.mode == "L" and img.size == (64, 48)  # small frames are not upscaled
    px = np.asarray(img)
    assert px.max() > 200 and np.median(px) < 120  # a star on a dark sky, stretched
    mtime = first.file.stat().st_mtime_ns
    second = preview.ensure_thumbnail(thumbs, sha(src), src)
    assert second.status == "cached" and second.file.stat().st_mtime_ns == mtime
    assert src.read_bytes() == before  # the source frame is never written


def test_bzero_is_applied_to_the_strided_pixels(tmp_path):
    data = np.full((48, 64), 40000, dtype=np.uint16)  # above 32767: only right with BZERO
    data[10:14, 10:14] = 60000
    img = preview.read_downsampled(frame(tmp_path, "bz.fits", data))
    assert img.dtype == np.float32
    assert img.min() == pytest.approx(40000) and img.max() == pytest.approx(60000)


def test_large_frame_is_strided_and_bounded(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.integers(1000, 1200, size=(1500, 2000)).astype(np.uint16)
    src = frame(tmp_path, "big.fits", data)
    raw = preview.read_downsampled(src, max_px=100)
    assert max(raw.shape) <= 200  # strided to at most 2x the thumbnail size before resampling
    out = preview.ensure_thumbnail(tmp_path / "t", sha(src), src, max_px=100)
    assert max(Image.open(out.file).size) == 100


def test_bayer_frame_is_debayered_to_colour(tmp_path):
    # an RGGB mosaic of a red scene: R sites bright, G and B dark
    data = np.full((48, 64), 1000, dtype=np.uint16)
    data[0::2, 0::2] = 30000
    rng = np.random.default_rng(3)
    data = (data + rng.integers(0, 50, data.shape)).astype(np.uint16)
    src = frame(tmp_path, "osc.fits", data)
    rgb = preview.read_downsampled(src, bayer="RGGB")
    assert rgb.shape == (24, 32, 3)
    assert rgb[..., 0].mean() > 10 * rgb[..., 1].mean() and rgb[..., 2].mean() < 2000
    bgr = preview.read_downsampled(src, bayer="BGGR")
    assert bgr[..., 2].mean() > 10 * bgr[..., 0].mean()  # same mosaic read as BGGR: the bright site is blue
    out = preview.ensure_thumbnail(tmp_path / "t", sha(src), src, bayer="RGGB")
    assert Image.open(out.file).mode == "RGB"


def test_row_order_bottom_up_by_default_top_down_when_declared(tmp_path):
    data = np.full((48, 64), 1000, dtype=np.uint16)
    data[:8, :] = 50000  # bright stored first rows
    bottom_up = preview.read_downsampled(frame(tmp_path, "bu.fits", data))
    top_down = preview.read_downsampled(frame(tmp_path, "td.fits", data, [("ROWORDER", "TOP-DOWN", "")]))
    assert bottom_up[-1].mean() > 40000 and bottom_up[0].mean() < 2000  # FITS row 0 is the bottom
    assert top_down[0].mean() > 40000


def test_rgb_cube_is_read_as_colour(tmp_path):
    cube = np.zeros((3, 48, 64), dtype=np.float32)
    cube[2] = 1.0  # blue plane
    p = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(p)
    img = preview.read_downsampled(p)
    assert img.shape == (48, 64, 3) and img[..., 2].mean() == 1.0 and img[..., 0].mean() == 0.0


def test_compressed_fits_is_previewed(tmp_path):
    data = star_field(np.random.default_rng(4), stars=[(10, 10, 9000)])
    p = tmp_path / "c.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data.astype(np.int32))]).writeto(p)
    out = preview.ensure_thumbnail(tmp_path / "t", sha(p), p)
    assert out.status == "rendered"
    img = Image.open(out.file)
    assert (img.mode, img.size) == ("L", (64, 48))
    px = np.asarray(img)
    # the star at FITS (x=10, y=10) lands on PNG row 47 - 10: FITS rows run bottom-up
    assert px[37, 10] == 255 and np.median(px) < 128


def test_bad_files_fail_with_a_reason_naming_the_file(tmp_path):
    truncated = tmp_path / "truncated.fits"
    good = frame(tmp_path, "good.fits", star_field(np.random.default_rng(5)))
    truncated.write_bytes(good.read_bytes()[:4000])
    notfits = tmp_path / "notes.fits"
    notfits.write_text("this is not a FITS file")
    header_only = tmp_path / "header.fits"
    write_fits(header_only, [("OBJECT", "M31", "")], None)
    thumbs = tmp_path / "t"
    thumbs.mkdir()
    for p in (truncated, notfits, header_only):
        r = preview.ensure_thumbnail(thumbs, sha(p), p)
        assert r.status == "failed" and r.file is None, p
        assert str(p) in r.reason
    assert list(thumbs.iterdir()) == []  # no PNG, no partial .tmp left behind


def test_unsupported_or_unhashed_files_are_skipped(tmp_path):
    raw = tmp_path / "IMG_0001.CR2"  # a camera raw: not an image astrocat previews
    raw.write_bytes(b"II*\0\x10\0\0\0CR")
    assert preview.ensure_thumbnail(tmp_path, sha(raw), raw).status == "skipped"
    xisf = tmp_path / "stack.xisf"
    xisf.write_bytes(b"XISF0100")
    assert preview.ensure_thumbnail(tmp_path, None, xisf).status == "skipped"
    assert preview.ensure_thumbnail(tmp_path, "../../etc/passwd", xisf).status == "skipped"


def test_finished_pictures_get_a_small_copy_and_a_broken_one_fails(tmp_path):
    from PIL import Image

    tiff = tmp_path / "final.tif"
    Image.fromarray((np.arange(600 * 400, dtype=np.uint32).reshape(400, 600) % 65535).astype(np.uint16)).save(tiff)
    t = preview.ensure_thumbnail(tmp_path / "thumbs", sha(tiff), tiff)
    assert t.status == "rendered"
    with Image.open(t.file) as im:
        assert max(im.size) == preview.THUMB_PX and im.mode == "L"
    broken = tmp_path / "stack.tif"
    broken.write_bytes(b"II*\0")
    t = preview.ensure_thumbnail(tmp_path / "thumbs", sha(broken), broken)
    assert t.status == "failed" and "not a readable image" in t.reason


def test_missing_source_fails(tmp_path):
    r = preview.ensure_thumbnail(tmp_path, "a" * 64, tmp_path / "gone.fits")
    assert r.status == "failed" and "not found" in r.reason


def test_flat_image_does_not_crash(tmp_path):
    src = frame(tmp_path, "flat.fits", np.full((48, 64), 1234, dtype=np.uint16))
    r = preview.ensure_thumbnail(tmp_path / "t", sha(src), src)
    assert r.status == "rendered"
    px = np.asarray(Image.open(r.file))
    assert px.shape == (48, 64) and px.min() == px.max()  # no structure in, none invented
