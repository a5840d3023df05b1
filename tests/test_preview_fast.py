"""The fast preview path against the one it replaced, on real frames.

The old path: astropy opens every file, astropy's ZScaleInterval(contrast=0.15) and
AsinhStretch(a=0.2) stretch it. The new one reads plain FITS itself, computes the same
zscale limits in closed form and applies the curve through a lookup table. Both are run
here on the same real frames (../shared/realworld, ../shared/fits-samples, the demo) and
compared pixel by pixel, and side by side in a real headless Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from astrocat.site import preview, thumbs
from astrocat.site.thumbs import POOL_MIN_FORK, Thumbs
from astrocat.site.writer import BuildResult
from conftest import SAMPLES, need

REALWORLD = (Path(__file__).resolve().parent.parent.parent / "shared" / "realworld" / "files").resolve()
CHROMIUM = "/usr/bin/chromium"

# (file under ../shared, Bayer pattern): mono CCD and CMOS frames, an 8-bit RGB cube, a
# 16-bit RGGB mosaic, an 8-bit GRBG mosaic, a simulated star field, a globular cluster
REAL_FRAMES = [
    (REALWORLD / "indi" / "m42_test.fits", None),
    (REALWORLD / "als" / "Light_1069.fits", None),
    (REALWORLD / "nebulosa" / "NGC3344.Mono.16.fits", None),
    (REALWORLD / "nebulosa" / "M51.8.Color.Full.fits", None),
    (REALWORLD / "nebulosa" / "Debayer.fits", "RGGB"),
    (REALWORLD / "nebulosa" / "Debayer.GRBG.fits", "GRBG"),
    (REALWORLD / "nebulosa" / "1.fits", None),
    (REALWORLD / "phd2" / "simimage.fit", None),
    (REALWORLD / "stellarphot" / "center_cutout_1.fits", None),
    (REALWORLD / "msumastro" / "neon-on-dome-10-sec-high-res-though-scope.fit", None),
    (SAMPLES / "files" / "nomtam_m13real.fits", None),
    (SAMPLES / "files" / "MountWizzard4_exposure.fits", None),
]


def old_read(path: Path, bayer: str | None) -> np.ndarray:
    """The previous reader: every file through astropy.io.fits.open."""
    return preview._read_fits(path, bayer, preview.THUMB_PX)


def old_stretch(img: np.ndarray) -> np.ndarray:
    """The previous stretch, as it was: astropy's ZScaleInterval and AsinhStretch."""
    from astropy.visualization import AsinhStretch, ZScaleInterval

    img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    interval, curve = ZScaleInterval(contrast=0.15), AsinhStretch(a=0.2)

    def one(ch: np.ndarray) -> np.ndarray:
        lo, hi = interval.get_limits(ch)
        if not hi > lo:
            lo, hi = float(ch.min()), float(ch.max()) or 1.0
            if not hi > lo:
                return np.zeros(ch.shape, dtype=np.uint8)
        return (curve(np.clip((ch - lo) / (hi - lo), 0, 1)) * 255 + 0.5).astype(np.uint8)

    if img.ndim == 3:
        return np.stack([one(img[..., i]) for i in range(img.shape[-1])], axis=-1)
    return one(img)


@pytest.fixture(scope="module")
def real_frames() -> list[tuple[Path, str | None]]:
    need(REALWORLD.is_dir(), f"real frames not found at {REALWORLD} (../shared/realworld)")
    need(SAMPLES.is_dir(), f"real samples not found at {SAMPLES} (../shared/fits-samples)")
    missing = [str(p) for p, _ in REAL_FRAMES if not p.is_file()]
    assert not missing, f"expected real frames are gone: {missing}"
    return REAL_FRAMES


def demo_frames(demo_dir: Path, n: int = 12) -> list[Path]:
    lights = sorted(p for p in (demo_dir / "library").rglob("*.fit*") if "light" in str(p).lower())
    assert len(lights) >= n
    return lights[:: max(1, len(lights) // n)][:n]


def test_plain_fits_reader_reads_what_astropy_reads(real_frames, demo_dir):
    frames = real_frames + [(p, None) for p in demo_frames(demo_dir)]
    for path, bayer in frames:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = preview._read_plain_fits(path, bayer, preview.THUMB_PX)
        assert fast is not None, f"{path}: plain FITS fell back to astropy"
        ref = old_read(path, bayer)
        assert fast.shape == ref.shape and fast.dtype == ref.dtype, path
        np.testing.assert_array_equal(fast, ref, err_msg=str(path))


def test_zscale_limits_are_astropys(real_frames):
    from astropy.visualization import ZScaleInterval

    for path, bayer in real_frames:
        img = np.nan_to_num(preview.read_downsampled(path, bayer))
        for ch in ([img[..., i] for i in range(3)] if img.ndim == 3 else [img]):
            lo, hi = ZScaleInterval(contrast=0.15).get_limits(ch)
            new_lo, new_hi = preview.zscale_limits(ch)
            span = max(float(hi - lo), 1e-9)
            assert abs(new_lo - lo) <= 1e-6 * span and abs(new_hi - hi) <= 1e-6 * span, (path, lo, hi, new_lo, new_hi)


def test_new_stretch_looks_like_the_old_one_on_real_frames(real_frames, demo_dir):
    # Bound: the limits are zscale's to a millionth of the range (above), so the only
    # differences left are rounding at a level boundary (float64 vs float32 arithmetic and
    # the curve sampled at 1/65535 steps, 0.008 of a level at its steepest): a pixel may
    # land one level off, never more, and few do. Half a level on average would already be
    # invisible; background and star cores must land within one level.
    frames = real_frames + [(p, None) for p in demo_frames(demo_dir)]
    for path, bayer in frames:
        img = preview.read_downsampled(path, bayer)
        old, new = old_stretch(img).astype(int), preview.stretch(img).astype(int)
        assert old.shape == new.shape, path
        diff = np.abs(old - new)
        assert diff.max() <= 1 and diff.mean() < 0.1, (path, diff.max(), diff.mean())
        # the sky background (median) and the star cores (99.9th percentile) in the same place
        for q in (50, 99.9):
            assert abs(np.percentile(old, q) - np.percentile(new, q)) <= 1, (path, q)
        assert np.ptp(new) > 50, f"{path}: a real frame stretched to almost nothing"


def test_pathological_inputs_render_without_crashing(tmp_path):
    rng = np.random.default_rng(9)
    noisy = rng.normal(100, 5, (48, 64)).astype(np.float32)
    half_nan = np.where(rng.random((48, 64)) > 0.5, np.nan, noisy).astype(np.float32)
    cases = {
        "constant": (np.full((48, 64), 7, np.int16), {}),
        "zeros": (np.zeros((48, 64), np.float32), {}),
        "all-nan": (np.full((48, 64), np.nan, np.float32), {}),
        "half-nan": (half_nan, {}),
        "infinities": (np.array([[np.inf, -np.inf], [1.0, 2.0]], np.float32), {}),
        "1x1": (np.array([[5]], np.int16), {}),
        "1x3": (np.array([[5.0, 6.0, 7.0]]), {}),
        "huge-bzero": (np.arange(12, dtype=np.int64).reshape(3, 4), {"BZERO": 9.2e18}),
        "huge-bscale": (np.arange(12, dtype=np.int16).reshape(3, 4), {"BZERO": 1e300, "BSCALE": 1e300}),
    }
    out = tmp_path / "thumbs"
    for name, (data, cards) in cases.items():
        p = tmp_path / f"{name}.fits"
        hdu = fits.PrimaryHDU(data)
        for k, v in cards.items():
            hdu.header[k] = v
        hdu.writeto(p, output_verify="ignore")
        t = preview.ensure_thumbnail(out, hashlib.sha256(name.encode()).hexdigest(), p)
        assert t.status == "rendered", (name, t.reason)
        px = np.asarray(Image.open(t.file))
        assert px.shape == data.shape, name
        if name in ("constant", "zeros", "all-nan"):
            assert px.min() == px.max(), name  # nothing in, nothing invented
    half = np.asarray(Image.open(out / f"{hashlib.sha256(b'half-nan').hexdigest()}.png"))
    assert np.ptp(half) > 100  # the finite half still shows its noise
    assert list(out.glob("*.tmp")) == []


def test_plain_reader_falls_back_to_astropy_for_what_it_does_not_read(tmp_path):
    data = (np.arange(48 * 64, dtype=np.int32).reshape(48, 64) % 500).astype(np.int16)
    ext = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data)]).writeto(ext)
    assert preview._read_plain_fits(ext, None, 320) is None  # the image is in an extension
    assert preview.read_downsampled(ext).shape == (48, 64)
    good = tmp_path / "good.fits"
    fits.PrimaryHDU(data).writeto(good)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[:2880 + 1000])  # header whole, data cut short
    assert preview._read_plain_fits(cut, None, 320) is None
    r = preview.ensure_thumbnail(tmp_path / "t", "c" * 64, cut)
    assert r.status == "failed" and str(cut) in r.reason


def _frames(tmp_path: Path, n: int) -> list[dict]:
    rng = np.random.default_rng(4)
    out = []
    for i in range(n):
        data = rng.normal(1000, 30, (48, 64)).astype(np.uint16)
        data[rng.integers(0, 48), rng.integers(0, 64)] = 40000
        p = tmp_path / "frames" / f"f{i:03d}.fits"
        p.parent.mkdir(exist_ok=True)
        fits.PrimaryHDU(data).writeto(p)
        out.append({"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "path": str(p),
                    "bayer_pattern": "RGGB" if i % 5 == 0 else None})
    bad = tmp_path / "frames" / "bad.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"not a header")
    out.append({"sha256": "b" * 64, "path": str(bad), "bayer_pattern": None})
    return out


class _Settings:
    def abs(self, p: str) -> Path:
        return Path(p)


def _make_all(out: Path, frames: list[dict], workers: str, monkeypatch) -> tuple[Thumbs, dict[str, str | None]]:
    monkeypatch.setenv("ASTROCAT_THUMB_WORKERS", workers)
    # the pool starts once this many are missing, forked or (in a process with threads) spawned
    monkeypatch.setattr(thumbs, "POOL_MIN_SPAWN", POOL_MIN_FORK)
    result = BuildResult(out)
    t = Thumbs(out, _Settings(), True, {}, result)  # type: ignore[arg-type]
    t.prefetch(frames)
    started = t._pool is not None
    hrefs = {f["sha256"]: t.href(f, []) for f in frames}
    t.close()
    assert started == (workers != "0")
    return t, hrefs


def test_worker_processes_make_the_same_previews_as_one_process(tmp_path, monkeypatch):
    frames = _frames(tmp_path, max(POOL_MIN_FORK, thumbs.BATCH) + 8)  # a full job and a part one
    inline, inline_hrefs = _make_all(tmp_path / "a", frames, "0", monkeypatch)
    pooled, pooled_hrefs = _make_all(tmp_path / "b", frames, "2", monkeypatch)
    assert inline_hrefs == pooled_hrefs and inline_hrefs["b" * 64] is None
    assert inline.result.thumbs_rendered == pooled.result.thumbs_rendered == len(frames) - 1
    assert list(pooled.failed) == ["b" * 64] and pooled.failed == inline.failed
    a = sorted((tmp_path / "a" / "thumbs").iterdir())
    b = sorted((tmp_path / "b" / "thumbs").iterdir())
    assert [p.name for p in a] == [p.name for p in b] and len(a) == len(frames) - 1
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))


@pytest.fixture(scope="module")
def browser():
    need(os.path.exists(CHROMIUM), f"Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    need(importlib.util.find_spec("playwright") is not None, "the playwright Python package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _png(pixels: np.ndarray) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB" if pixels.ndim == 3 else "L")
    image.thumbnail((preview.THUMB_PX, preview.THUMB_PX), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.browser
def test_side_by_side_screenshots_old_and_new(real_frames, browser, tmp_path):
    """Each real frame, old stretch left and new right, in Chromium; the screenshots are kept
    in the test's tmp folder (printed) and the two halves must look alike."""
    shots = tmp_path / "side-by-side"
    shots.mkdir()
    page = browser.new_page(viewport={"width": 2 * preview.THUMB_PX + 30, "height": preview.THUMB_PX + 10})
    for path, bayer in real_frames:
        img = preview.read_downsampled(path, bayer)
        left, right = _png(old_stretch(img)), _png(preview.stretch(img))
        w, h = Image.open(io.BytesIO(left)).size
        html = ("<!doctype html><body style='margin:0;background:#808080'>"
                f"<img id=old style='position:absolute;left:0;top:0' src='data:image/png;base64,{base64.b64encode(left).decode()}'>"
                f"<img id=new style='position:absolute;left:{w + 20}px;top:0' "
                f"src='data:image/png;base64,{base64.b64encode(right).decode()}'></body>")
        page.set_content(html)
        page.wait_for_function("document.images[0].complete && document.images[1].complete")
        dest = shots / f"{path.stem}.png"
        page.screenshot(path=str(dest))
        shot = np.asarray(Image.open(dest).convert("L")).astype(int)
        assert shot.shape == (preview.THUMB_PX + 10, 2 * preview.THUMB_PX + 30)
        old_half, new_half = shot[:h, :w], shot[:h, w + 20:2 * w + 20]
        assert old_half.std() > 5 and new_half.std() > 5, f"{path}: a blank preview"
        assert (shot[:, w + 5:w + 15] == 128).all()  # the grey gap: the halves are where we put them
        assert np.abs(old_half - new_half).mean() < 0.5, path
    page.close()
    print(f"side-by-side screenshots in {shots}")
    assert len(list(shots.glob("*.png"))) == len(real_frames)
