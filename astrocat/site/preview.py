"""FITS and XISF -> stretched PNG thumbnails, cached by the frame's sha256.

FITS pixels are read memory-mapped and raw (`do_not_scale_image_data`), then strided
so a 60-megapixel frame costs a few hundred kilobytes of reads, not its size.
Whole-file compressed FITS (.gz, .bz2) and XISF (through the `xisf` package, imported
only here) are decoded in memory, up to MAX_DECODED_BYTES.
Plain FITS is read without astropy (the structural cards, then the strided pixels).
Colour (Bayer) frames are debayered by 2x2 superpixels; every channel gets a
ZScale interval and an asinh stretch (unlinked, which neutralises the sky).
The source file is opened read-only and never written.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THUMB_PX = 320  # longest side of a thumbnail
XISF_SUFFIX = ".xisf"
PREVIEW_SUFFIXES = tuple(f + c for f in (".fits", ".fit", ".fts") for c in ("", ".fz", ".gz", ".bz2")) + (
    ".fz", XISF_SUFFIX)
# Whole-file compressed FITS and XISF are decoded in memory: a header claiming more is refused
MAX_DECODED_BYTES = 2 * 2**30
# A whole-file compressed FITS (.gz, .bz2) is decompressed for its preview only this far:
# a 120-megapixel 16-bit frame fits; a gzip "bomb" (a tiny file claiming a huge image, or
# a frame followed by a gigabyte of zeros) is refused or cut before it costs the build.
MAX_COMPRESSED_PREVIEW_BYTES = 256 * 2**20
_SHA = re.compile(r"^[0-9a-f]{64}$")
# 2x2 superpixel layout: pattern -> (row, col) of R, the two Gs, B
_BAYER = {
    "RGGB": ((0, 0), (0, 1), (1, 0), (1, 1)),
    "BGGR": ((1, 1), (0, 1), (1, 0), (0, 0)),
    "GRBG": ((0, 1), (0, 0), (1, 1), (1, 0)),
    "GBRG": ((1, 0), (0, 0), (1, 1), (0, 1)),
}


_BITPIX = (8, 16, 32, 64, -32, -64)
_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_COMPRESSED = (".fz", ".gz", ".bz2")
_STRUCTURAL = {b"SIMPLE", b"BITPIX", b"NAXIS", b"NAXIS1", b"NAXIS2", b"NAXIS3", b"BZERO", b"BSCALE", b"ROWORDER"}
_MAX_HEADER_BLOCKS = 3640  # a header past 10 MB is not a real header
_READ_WHOLE_BYTES = 4 * 2**20  # smaller images are read in one call; larger ones memory-mapped and strided


class PreviewError(Exception):
    """The file has no image this module can preview; the message says why."""


@dataclass
class Thumb:
    status: str  # "cached" | "rendered" | "failed" | "skipped"
    file: Path | None = None
    reason: str = ""


def can_preview(path: str) -> bool:
    return path.lower().endswith(PREVIEW_SUFFIXES)


def _stride(n_rows: int, n_cols: int, max_px: int) -> int:
    """Sampling step so the strided image is at most 2*max_px on its longest side."""
    return max(1, math.ceil(max(n_rows, n_cols) / (2 * max_px)))


def read_downsampled(path: str | os.PathLike, bayer: str | None = None, max_px: int = THUMB_PX) -> np.ndarray:
    """float32 image, HxW (mono) or HxWx3 (colour), strided to about 2*max_px, top row first."""
    with warnings.catch_warnings():
        # astropy warns about truncated or odd files; failures are reported as PreviewError
        warnings.simplefilter("ignore")
        if str(path).lower().endswith(XISF_SUFFIX):
            return _read_xisf(path, bayer, max_px)
        if not str(path).lower().endswith(_COMPRESSED):
            img = _read_plain_fits(path, bayer, max_px)
            if img is not None:
                return img
        return _read_fits(path, bayer, max_px)


def _read_plain_fits(path: str | os.PathLike, bayer: str | None, max_px: int) -> np.ndarray | None:
    """An uncompressed FITS file whose primary HDU holds the image, read without astropy:
    the few structural cards of the primary header, then the pixels strided from the file
    (read whole when small, memory-mapped when large). None for anything else (an image in
    an extension, a truncated file, an odd header): astropy then reads it and says why."""
    try:
        with open(path, "rb") as f:
            cards, data_start = _structural_cards(f)
            if cards is None:
                return None
            naxis = cards.get("NAXIS")
            bitpix = cards.get("BITPIX")
            if naxis not in (2, 3) or bitpix not in _DTYPES or cards.get("SIMPLE") is not True:
                return None
            shape = tuple(cards.get(f"NAXIS{i}") for i in range(naxis, 0, -1))
            if not all(isinstance(n, int) and n > 0 for n in shape):
                return None
            dtype = np.dtype(_DTYPES[bitpix])
            n_bytes = math.prod(shape) * dtype.itemsize
            if os.fstat(f.fileno()).st_size < data_start + n_bytes:
                return None  # truncated: astropy's reading gives the reason
            if n_bytes <= _READ_WHOLE_BYTES:
                f.seek(data_start)
                data = np.frombuffer(f.read(n_bytes), dtype=dtype).reshape(shape)
            else:
                data = np.memmap(f, dtype=dtype, mode="r", offset=data_start, shape=shape)
    except (OSError, ValueError):
        return None
    bzero, bscale = cards.get("BZERO", 0.0), cards.get("BSCALE", 1.0)
    if not isinstance(bzero, (int, float)) or not isinstance(bscale, (int, float)):
        return None
    img = _downsample(data, naxis == 3, bayer, max_px, float(bscale or 1), float(bzero))
    bottom_up = str(cards.get("ROWORDER", "BOTTOM-UP")).strip().upper() != "TOP-DOWN"
    return img[::-1] if bottom_up else img


def _structural_cards(f) -> tuple[dict[str, object] | None, int]:  # noqa: ANN001 - a binary file
    """The primary header's structural values (SIMPLE, BITPIX, NAXISn, BZERO, BSCALE, ROWORDER)
    and where its data starts; (None, 0) when the header is not plain FITS."""
    cards: dict[str, object] = {}
    for block_no in range(_MAX_HEADER_BLOCKS):
        block = f.read(2880)
        if len(block) < 2880 or (block_no == 0 and not block.startswith(b"SIMPLE  =")):
            return None, 0
        for i in range(0, 2880, 80):
            key = block[i:i + 8].rstrip()
            if key == b"END":
                return cards, (block_no + 1) * 2880
            if key in _STRUCTURAL and block[i + 8:i + 10] == b"= ":
                value = _card_value(block[i + 10:i + 80])
                if value is None:
                    return None, 0
                cards.setdefault(key.decode(), value)
    return None, 0


def _card_value(raw: bytes) -> object:
    """A card's value: True/False, an int, a float or a string; None when unreadable."""
    text = raw.decode("ascii", "replace").strip()
    if text.startswith("'"):
        end = text.find("'", 1)
        return text[1:end].rstrip() if end > 0 else None
    text = text.split("/", 1)[0].strip()
    if text in ("T", "F"):
        return text == "T"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace("D", "E").replace("d", "e"))
    except ValueError:
        return None


def _read_fits(path: str | os.PathLike, bayer: str | None, max_px: int) -> np.ndarray:
    """FITS, tile-compressed (.fz) or whole-file compressed (.gz, .bz2: astropy decompresses).

    FITS stores the bottom row first unless ROWORDER says TOP-DOWN (as N.I.N.A.
    and most CMOS drivers write); the Bayer pattern applies to the stored order.
    """
    from astropy.io import fits

    whole_file = str(path).lower().endswith((".gz", ".bz2"))  # decompressed into memory, not memmapped
    try:
        source = _decompressed_prefix(path) if whole_file else path
        hdul = fits.open(source, memmap=not whole_file, do_not_scale_image_data=True, mode="readonly",
                         lazy_load_hdus=True)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise PreviewError(f"not a readable FITS file: {_short(exc)}") from None
    except KeyError as exc:  # astropy sizes the data from BITPIX/NAXISn before any check
        raise PreviewError(f"not a readable FITS file: no valid {exc.args[0]} keyword") from None
    try:
        for hdu in hdul:
            naxis = hdu.header.get("NAXIS", 0)
            if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) or naxis not in (2, 3):
                continue
            shape = tuple(hdu.header.get(f"NAXIS{i}", 0) for i in range(naxis, 0, -1))
            if min(shape) <= 0:
                continue
            bitpix = hdu.header.get("BITPIX")
            if bitpix not in _BITPIX:  # a header lie astropy would meet as a KeyError
                raise PreviewError(f"bad BITPIX value {bitpix!r}" if bitpix is not None else "no BITPIX keyword")
            if whole_file:
                _check_size(math.prod(shape) * abs(bitpix) // 8)
            bzero = float(hdu.header.get("BZERO", 0) or 0)
            bscale = float(hdu.header.get("BSCALE", 1) or 1)
            bottom_up = str(hdu.header.get("ROWORDER", "BOTTOM-UP")).strip().upper() != "TOP-DOWN"
            data = hdu.data  # a memmap view for plain HDUs: nothing is read yet
            if data is None:
                continue
            img = _downsample(data, naxis == 3, bayer, max_px, bscale, bzero)
            return img[::-1] if bottom_up else img
        raise PreviewError("no 2-D image in the file")
    except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError) as exc:
        raise PreviewError(f"cannot read the image: {_short(exc)}") from None
    finally:
        hdul.close()


def _decompressed_prefix(path: str | os.PathLike):
    """The start of a .gz/.bz2 FITS file, decompressed as far as its primary header says
    (header + image), never past MAX_COMPRESSED_PREVIEW_BYTES, as an in-memory file."""
    import bz2
    import gzip
    import io

    opener = gzip.open if str(path).lower().endswith(".gz") else bz2.open
    limit = MAX_COMPRESSED_PREVIEW_BYTES
    with opener(path, "rb") as f:
        head = bytearray()
        while True:  # header blocks up to END
            block = f.read(2880)
            if len(block) < 2880:
                raise PreviewError("compressed FITS ends inside its header")
            head += block
            if any(block[i:i + 8] == b"END     " for i in range(0, 2880, 80)):
                break
            if len(head) > 10 * 2**20:
                raise PreviewError("compressed FITS header larger than 10 MB")
        cards = {bytes(head[i:i + 8]).strip(): bytes(head[i + 10:i + 80]).split(b"/")[0].strip()
                 for i in range(0, len(head), 80)}
        try:
            naxis = int(cards.get(b"NAXIS", b"0"))
            bitpix = int(cards.get(b"BITPIX", b"0"))
            dims = [int(cards.get(b"NAXIS%d" % i, b"0")) for i in range(1, min(naxis, 999) + 1)]
        except ValueError:
            raise PreviewError("compressed FITS with unreadable NAXIS/BITPIX") from None
        need = math.prod(dims) * abs(bitpix) // 8 if naxis else 0
        if need > limit:
            raise PreviewError(f"compressed FITS image of {need:,} bytes: too large for a preview "
                               f"(limit {limit:,})")
        # an image in the primary HDU: exactly header + data; else (an extension) up to the limit
        want = need + (-need) % 2880 if need else limit + 1
        rest = f.read(want)
        if not need and len(rest) > limit:
            raise PreviewError(f"compressed FITS larger than {limit:,} bytes: too large for a preview")
    return io.BytesIO(bytes(head) + rest)


def _read_xisf(path: str | os.PathLike, bayer: str | None, max_px: int) -> np.ndarray:
    """The first image of a monolithic XISF file (PixInsight's format), through the `xisf`
    package. XISF stores the top row first; its pixels are read whole, so size is bounded."""
    try:
        from xisf import XISF

        xisf = XISF(str(path))
        meta = xisf.get_images_metadata()
        if not meta:
            raise PreviewError("no image in the XISF file")
        width, height, channels = (list(meta[0]["geometry"]) + [1])[:3]
        _check_size(int(width) * int(height) * int(channels) * np.dtype(meta[0]["dtype"]).itemsize)
        data = xisf.read_image(0, data_format="channels_first")  # planes, each HxW
    except PreviewError:
        raise
    except Exception as exc:  # the decoder fails in many ways on a damaged file
        raise PreviewError(f"not a readable XISF file: {_short(exc)}") from None
    if data.ndim != 3 or min(data.shape) <= 0:
        raise PreviewError("no 2-D image in the XISF file")
    colour = data.shape[0] >= 3
    return _downsample(data if colour else data[0], colour, bayer, max_px, 1.0, 0.0)


def _check_size(n_bytes: int) -> None:
    if n_bytes > MAX_DECODED_BYTES:
        raise PreviewError(f"image of {n_bytes / 2**30:.1f} GiB too large to preview from a compressed file")


def _downsample(data: np.ndarray, planes: bool, bayer: str | None, max_px: int, bscale: float,
                bzero: float) -> np.ndarray:
    """Stride `data` (HxW, or CxHxW when `planes`) to about 2*max_px; debayer a mosaic."""
    if planes:
        chans_in = [data[i] for i in range(min(3, data.shape[0]))]
        step = _stride(*chans_in[0].shape, max_px)
        chans = [np.asarray(p[::step, ::step], dtype=np.float32) * bscale + bzero for p in chans_in]
        return np.stack(chans if len(chans) == 3 else [chans[0]] * 3, axis=-1)
    pattern = (bayer or "").strip().upper()
    if pattern in _BAYER and data.shape[0] >= 2 and data.shape[1] >= 2:
        step = 2 * _stride(data.shape[0] // 2, data.shape[1] // 2, max_px)
        rows, cols = (data.shape[0] // 2) * 2, (data.shape[1] // 2) * 2
        grid = data[:rows, :cols]

        def at(rc: tuple[int, int]) -> np.ndarray:
            return np.asarray(grid[rc[0]::step, rc[1]::step], dtype=np.float32) * bscale + bzero

        r_at, g1_at, g2_at, b_at = _BAYER[pattern]
        r, g1, g2, b = at(r_at), at(g1_at), at(g2_at), at(b_at)
        h = min(x.shape[0] for x in (r, g1, g2, b))
        w = min(x.shape[1] for x in (r, g1, g2, b))
        return np.stack([r[:h, :w], (g1[:h, :w] + g2[:h, :w]) / 2, b[:h, :w]], axis=-1)
    step = _stride(*data.shape, max_px)
    return np.asarray(data[::step, ::step], dtype=np.float32) * bscale + bzero


def stretch(img: np.ndarray) -> np.ndarray:
    """ZScale limits + asinh curve to uint8, per channel for colour images.

    The limits are IRAF's zscale (as astropy's ZScaleInterval computes them: a line fitted
    to at most 1,000 sorted samples with k-sigma rejection), with the line fitted in closed
    form: the same limits at a seventh of the cost. The curve is a lookup table."""
    img = img.astype(np.float32, copy=False)
    if not np.isfinite(img).all():  # NaN and infinities count as 0, as they always have
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)

    def one(ch: np.ndarray) -> np.ndarray:
        lo, hi = zscale_limits(ch)
        if not hi > lo:
            lo, hi = float(ch.min()), float(ch.max()) or 1.0
            if not hi > lo:
                return np.zeros(ch.shape, dtype=np.uint8)
        # ch in [lo, hi] -> 0..LUT_SIZE-1 (float64: a huge BZERO leaves no float32 precision)
        scale = (_LUT_SIZE - 1) / (float(hi) - float(lo))
        index = np.clip(np.subtract(ch, float(lo), dtype=np.float64) * scale, 0, _LUT_SIZE - 1)
        return _asinh_lut()[index.astype(np.intp)]

    if img.ndim == 3:
        return np.stack([one(img[..., i]) for i in range(img.shape[-1])], axis=-1)
    return one(img)


ZSCALE_CONTRAST = 0.15
ASINH_A = 0.2
_LUT_SIZE = 1 << 16


def zscale_limits(values: np.ndarray, contrast: float = ZSCALE_CONTRAST, n_samples: int = 1000,
                  krej: float = 2.5, max_iterations: int = 5) -> tuple[float, float]:
    """(low, high) display limits by zscale, arithmetic as astropy's ZScaleInterval.

    The weighted polyfit of a 0/1-weighted line is an ordinary least-squares line through
    the kept samples, which is what is computed here directly."""
    flat = values.ravel()
    stride = int(max(1.0, flat.size / n_samples))
    samples = np.sort(flat[::stride][:n_samples].astype(np.float64))
    npix = len(samples)
    if npix == 0:
        return 0.0, 0.0
    vmin, vmax = float(samples[0]), float(samples[-1])
    minpix = max(5, int(npix * 0.5))
    x = np.arange(npix, dtype=np.float64)
    kernel = np.ones(max(1, int(npix * 0.01)), dtype=bool)
    bad = np.zeros(npix, dtype=bool)
    ngood, last = npix, npix + 1
    slope = None
    for _ in range(max_iterations):
        if ngood >= last or ngood < minpix:
            break
        good = ~bad
        xg, yg = x[good], samples[good]
        mean_x, mean_y = xg.sum() / ngood, yg.sum() / ngood
        dx = xg - mean_x
        slope = float(dx @ (yg - mean_y)) / float(dx @ dx)
        resid = samples - (mean_y + slope * (x - mean_x))
        kept = resid[good]
        kept = kept - kept.sum() / ngood
        threshold = krej * math.sqrt(float(kept @ kept) / ngood)
        bad = np.convolve(bad | (np.abs(resid) > threshold), kernel, mode="same")
        last, ngood = ngood, int(npix - np.count_nonzero(bad))
    if slope is None or ngood < minpix:
        return vmin, vmax
    slope /= contrast
    center = (npix - 1) // 2
    median = float(np.median(samples))
    return max(vmin, median - (center - 1) * slope), min(vmax, median + (npix - center) * slope)


_lut: np.ndarray | None = None


def _asinh_lut() -> np.ndarray:
    """uint8 of asinh(x / a) / asinh(1 / a) for x in [0, 1] at 1/65535 steps (astropy's AsinhStretch)."""
    global _lut
    if _lut is None:
        x = np.linspace(0.0, 1.0, _LUT_SIZE)
        _lut = (np.arcsinh(x / ASINH_A) / np.arcsinh(1.0 / ASINH_A) * 255 + 0.5).astype(np.uint8)
    return _lut


def render_png(source: str | os.PathLike, dest: Path, bayer: str | None = None, max_px: int = THUMB_PX) -> None:
    """Write a stretched PNG of `source` to `dest` (atomically)."""
    from PIL import Image

    pixels = np.ascontiguousarray(stretch(read_downsampled(source, bayer, max_px)))
    image = Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L")
    image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    image.save(tmp, "PNG", optimize=False)
    os.replace(tmp, dest)


# Finished images (processing outputs) are already stretched: shown as they are, made small.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def render_picture_png(source: str | os.PathLike, dest: Path, max_px: int = THUMB_PX) -> None:
    """A small PNG of a PNG, JPEG or TIFF (16-bit TIFFs scaled to 8 bits), atomically."""
    from PIL import Image

    try:
        with Image.open(source) as im:
            im.draft("RGB", (max_px, max_px))  # JPEG: decode at a fraction of the size
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                im = im.point(lambda v: v / 256).convert("L")
            elif im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            im.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".tmp")
            im.save(tmp, "PNG", optimize=False)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PreviewError(f"not a readable image: {_short(exc)}") from None
    os.replace(tmp, dest)


def ensure_thumbnail(thumbs_dir: Path, sha256: str | None, source: Path, bayer: str | None = None,
                     max_px: int = THUMB_PX) -> Thumb:
    """The cached thumbnail `thumbs_dir/<sha256>.png`, rendering it only when absent."""
    if not sha256 or not _SHA.match(sha256):
        return Thumb("skipped", reason="no content hash")
    dest = thumbs_dir / f"{sha256}.png"
    if dest.is_file():
        return Thumb("cached", dest)
    picture = str(source).lower().endswith(PICTURE_SUFFIXES)
    if not can_preview(str(source)) and not picture:
        return Thumb("skipped", reason="not a FITS or XISF image")
    if not source.is_file():
        return Thumb("failed", reason=f"{source}: file not found")
    try:
        if picture:
            render_picture_png(source, dest, max_px)
        else:
            render_png(source, dest, bayer, max_px)
    except PreviewError as exc:
        return Thumb("failed", reason=f"{source}: {exc}")
    except Exception as exc:  # a file no decoder foresaw: one frame without a preview, never a failed build
        return Thumb("failed", reason=f"{source}: cannot render a preview: {_short(exc)}")
    return Thumb("rendered", dest)


def render_batch(thumbs_dir: str, items: list[tuple[str, str, str | None]],
                 max_px: int = THUMB_PX) -> list[tuple[str, str]]:
    """ensure_thumbnail for each (sha256, source path, Bayer pattern): a worker process's job.
    Returns (status, reason) for each: small to send back."""
    out = Path(thumbs_dir)
    return [(t.status, t.reason) for t in (ensure_thumbnail(out, sha, Path(source), bayer, max_px)
                                           for sha, source, bayer in items)]


def _short(exc: Exception) -> str:
    """The exception as one short line (decoders' messages can be long or empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."
