"""Read the primary header of FITS and XISF files without touching pixel data.

A plain FITS header is parsed here, card by card, rather than through astropy:
it reads only the header blocks, and it tolerates what real acquisition programs
write (unquoted dates, duplicate and lower-case keywords, '=' in column 10,
HIERARCH and CONTINUE cards) where astropy raises a VerifyError.

`read_header(path)` returns a `Header`; unreadable files raise `HeaderError`
with a one-line reason that the scanner records in `rejects`.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import hashlib
import math
import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

from astrocat.hashing import sha256_file

BLOCK = 2880
CARD = 80
CHUNK = 1 << 20  # hashing chunk: constant memory for any file size
# A header past 10 MB is not a real header; the limit bounds the memory one file may take.
MAX_HEADER_BLOCKS = 3640
MAX_HEADER_BYTES = MAX_HEADER_BLOCKS * BLOCK  # 10,483,200 bytes
MAX_HEADER_CARDS = MAX_HEADER_BYTES // CARD  # 131,040
# Header values that size loops and data are bounded: FITS allows at most 999 axes,
# and a data size past 8 PiB (2**53 bytes, also the limit of an exact float and far
# below seek's) is a corrupt header, not a frame.
MAX_NAXIS = 999
MAX_DATA_BYTES = 1 << 53
BITPIX_VALUES = (8, 16, 32, 64, -32, -64)

FITS_SUFFIXES = (".fits", ".fit", ".fts")
COMPRESSED_SUFFIXES = (".gz", ".fz", ".bz2")
XISF_SUFFIX = ".xisf"


class HeaderError(Exception):
    """The file cannot be read as an image header; the message is the reason."""


class ImplausibleHeader(HeaderError):
    """A header whose size or structural values no real file has: the reason, wherever in the file."""


_NOT_REGULAR = (
    (stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
)


def not_regular_reason(mode: int) -> str | None:
    """None for a regular file, else why it is not read, e.g. 'not a regular file (FIFO)'."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), None)
    return f"not a regular file ({kind})" if kind else "not a regular file"


def _open_regular(name: str) -> BinaryIO:
    """Open a regular file for reading; anything else is refused without blocking.

    Opening a FIFO waits for a writer, and opening a device can act on it (a tape
    rewinds): the type is checked before the open, and again after it (the path may
    have been replaced in between), the open itself made non-blocking."""
    reason = not_regular_reason(os.stat(name).st_mode)
    if reason:
        raise HeaderError(reason)
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        reason = not_regular_reason(os.fstat(fd).st_mode)
        if reason:
            raise HeaderError(reason)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


@dataclass
class Header:
    """Keyword -> value (first occurrence wins), with comments and problems noted."""

    values: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, list[Any]] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    format: str = "fits"
    data_bytes: int | None = None  # what the header says the primary data holds

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def add(self, key: str, value: Any, comment: str = "") -> None:
        key = key.strip().upper()
        if not key:
            return
        if key in ("COMMENT", "HISTORY", ""):
            text = value if isinstance(value, str) else str(value)
            self.history.append(f"{key} {text}".rstrip() if key else text)
            if comment:
                self.history.append(f"{key} {comment}")
            return
        if key in self.values:
            if self.values[key] != value:
                self.duplicates.setdefault(key, [self.values[key]]).append(value)
            return
        self.values[key] = value
        if comment:
            self.comments[key] = comment

    def as_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.values)
        if self.history:
            out["COMMENT/HISTORY"] = self.history[:50]
        if self.duplicates:
            out["_duplicates"] = self.duplicates
        return out


# every name ending is_candidate accepts, for one str.endswith per file (a scan walks them all)
CANDIDATE_ENDINGS = tuple(
    f + c for f in FITS_SUFFIXES for c in ("",) + COMPRESSED_SUFFIXES
) + (XISF_SUFFIX, ".fits.z")


def is_candidate(name: str) -> bool:
    """True for names astrocat reads: .fits/.fit/.fts (any case, optionally .gz/.fz/.bz2), .xisf.

    `.fits.Z` is recognised too, so that it is rejected with a reason rather than ignored."""
    return name.lower().endswith(CANDIDATE_ENDINGS)


# --- card parsing -----------------------------------------------------------------

_INT_MATCH = re.compile(r"^[+-]?\d+$").match
_FLOAT_MATCH = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$").match
_KEY_MATCH = re.compile(r"^[A-Z0-9_\-]+$").match


def parse_value(text: str) -> tuple[Any, str]:
    """Parse the value/comment field of a card (the text after '= ')."""
    s = text.lstrip()
    if s.startswith("'"):
        # string: '' is an escaped quote; the closing quote is a lone '.
        # str.find, not a character loop: this runs for most cards of every file scanned.
        i, out, rest = 1, [], ""
        while True:
            j = s.find("'", i)
            if j < 0:  # no closing quote: the rest of the card is the value
                out.append(s[i:])
                break
            if s.startswith("'", j + 1):
                out.append(s[i:j + 1])
                i = j + 2
                continue
            out.append(s[i:j])
            rest = s[j + 1 :]
            break
        comment = rest.split("/", 1)[1].strip() if "/" in rest else ""
        return "".join(out).rstrip(), comment
    raw, _, comment = s.partition("/")
    # a date written without quotes contains no '/', but a US date (8/14/2023) would:
    # such values only occur quoted in the samples, so '/' starts the comment.
    raw = raw.strip()
    comment = comment.strip()
    if raw == "T":
        return True, comment
    if raw == "F":
        return False, comment
    if _INT_MATCH(raw):
        return int(raw), comment
    if _FLOAT_MATCH(raw):
        return float(raw.replace("D", "E").replace("d", "e")), comment
    if raw == "":
        return None, comment
    return raw, comment  # unquoted text (N.I.N.A. 1.9 dates) is kept as a string




def parse_cards(data: bytes | bytearray, header: Header) -> bool:
    """Add the cards of header bytes to `header`; True once END is reached.

    A long string (a value ending in '&' carried on by CONTINUE cards) is joined within
    one call: give it the whole header, not block by block."""
    text = data.decode("latin-1")
    add = header.add
    # the long string being read: [key, parts, comments]; its last part ends with '&'
    long: list | None = None
    for start in range(0, len(text), CARD):
        card = text[start : start + CARD]
        key8 = card[:8]
        key = key8.strip().upper()
        rest = card[8:]
        if long is not None:
            if key != "CONTINUE":  # the string ended with an '&' of its own
                _add_long(add, long)
                long = None
            else:
                part, comment = parse_value(rest)
                if isinstance(part, str):
                    parts = long[1]
                    parts[-1] = parts[-1][:-1]  # the '&' only marked the continuation
                    parts.append(part)
                    if comment:
                        long[2].append(comment)
                    if part.endswith("&"):
                        continue
                _add_long(add, long)  # a last part (or a CONTINUE holding no string)
                long = None
                continue
        if rest.startswith("= ") and key and key not in _SPECIAL_KEYS:
            # the common case first: a plain value card (same result as the rules below)
            val, comment = parse_value(rest[2:])
        else:
            if key == "END" and card[3:].strip() == "":
                return True
            if not key and not card.strip():
                continue
            if key in ("COMMENT", "HISTORY") or (not key and card.strip()):
                add(key or "COMMENT", card[8:].strip())
                continue
            if key == "CONTINUE":  # none is expected here: a string ending in '&' comes first
                continue
            if key == "HIERARCH":
                body = card[8:]
                if "=" not in body:
                    continue
                hkey, _, rest = body.partition("=")
                val, comment = parse_value(rest)
                key = hkey.strip().upper()
            elif rest.startswith("= "):
                val, comment = parse_value(rest[2:])
            elif rest.lstrip().startswith("="):
                # '=' displaced from column 9 (seen in the wild): still a value card
                header.problems.append(f"malformed card {key}: '=' not in column 9")
                val, comment = parse_value(rest.lstrip()[1:])
            else:
                add("COMMENT", card.strip())
                continue
        if not _KEY_MATCH(key8.strip()):  # before upper-casing: lower-case keys are non-standard
            header.problems.append(f"non-standard keyword {key8.strip()!r}")
        if "&" in rest and isinstance(val, str) and val.endswith("&"):
            long = [key, [val], [comment] if comment else []]  # added once its CONTINUE cards are read
            continue
        add(key, val, comment)
    if long is not None:
        _add_long(add, long)
    return False


def _add_long(add: Callable[[str, Any, str], None], long: list) -> None:
    """Add a long string: its parts joined, its cards' comments joined with blanks (as astropy)."""
    key, parts, comments = long
    # each part lost its trailing blanks, but an empty last part leaves those of the one before
    add(key, "".join(parts).rstrip(), " ".join(comments))


# keys the fast path of parse_cards leaves to the general rules
_SPECIAL_KEYS = frozenset({"END", "COMMENT", "HISTORY", "CONTINUE", "HIERARCH"})


_NAXIS_RULE = "FITS allows a whole number from 0 to 999"
_LENGTH_RULE = "must be a whole number from 0 to 2^53"
_BITPIX_RULE = "FITS allows 8, 16, 32, 64, -32, -64"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 20 else text[:17] + "..."


def _whole(values: dict[str, Any], key: str, default: int, high: int, rule: str) -> int:
    """The header's whole number for `key` in 0..high (blank: default), else ImplausibleHeader."""
    value = values.get(key)
    if value is None:
        return default
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        n = int(value)  # '2.' or '2E0': sloppy, but a whole number
    if n is None or not 0 <= n <= high:
        raise ImplausibleHeader(f"bad {key} value {_show(value)} ({rule})")
    return n


def _bitpix(values: dict[str, Any], key: str, default: int | None) -> int | None:
    value = values.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or value not in BITPIX_VALUES:
        raise ImplausibleHeader(f"bad {key} value {_show(value)} ({_BITPIX_RULE})")
    return int(value)


def data_size(values: dict[str, Any]) -> int:
    """Bytes of data after a header, padded to whole blocks (FITS standard 4.4.1).

    Raises ImplausibleHeader for values outside what FITS allows: every loop and
    size here is bounded by them."""
    bitpix = _bitpix(values, "BITPIX", 8)
    naxis = _whole(values, "NAXIS", 0, MAX_NAXIS, _NAXIS_RULE)
    if naxis == 0:
        return 0
    axes = [_whole(values, f"NAXIS{i}", 0, MAX_DATA_BYTES, _LENGTH_RULE) for i in range(1, naxis + 1)]
    if values.get("GROUPS") is True and axes[0] == 0:
        axes = axes[1:]  # random groups: NAXIS1 = 0 is not a dimension (FITS 6)
    pcount = _whole(values, "PCOUNT", 0, MAX_DATA_BYTES, _LENGTH_RULE)
    gcount = _whole(values, "GCOUNT", 1, MAX_DATA_BYTES, _LENGTH_RULE) or 1
    n = math.prod(axes)  # at most 999 factors below 2**53: a cheap exact product
    size = abs(bitpix or 8) // 8 * gcount * (pcount + n)
    if size > MAX_DATA_BYTES:
        raise ImplausibleHeader("data size in the header is implausible (more than 8 PB)")
    return -(-size // BLOCK) * BLOCK


def _read_fits_header(stream: BinaryIO, first: bytes = b"") -> tuple[Header, bytes]:
    """Read one HDU header from `stream`; `first` holds bytes already read.

    Returns the header and the bytes consumed so far (for hashing)."""
    consumed = bytearray(first)
    pos = 0
    while True:
        while len(consumed) - pos < BLOCK:
            more = stream.read(max(BLOCK, CHUNK - len(consumed)) if pos == 0 else BLOCK)
            if not more:
                if pos == 0 and len(consumed) == 0:
                    raise HeaderError("empty file")
                _check_start(consumed)  # a short text file is not FITS, not a truncated FITS
                raise HeaderError("header truncated: no END card")
            consumed += more
        if pos == 0:
            _check_start(consumed)
        end = _end_card(consumed, pos, pos + BLOCK)
        pos += BLOCK
        if end >= 0:
            break
        if pos >= MAX_HEADER_BYTES:
            raise ImplausibleHeader(f"header larger than {MAX_HEADER_CARDS:,} cards ({MAX_HEADER_BYTES // 10**6} MB)")
    # parsed whole, not block by block: a long string's CONTINUE card may open a block
    header = Header()
    parse_cards(consumed[: end + CARD], header)
    header.data_bytes = data_size(header.values)
    return header, bytes(consumed)


def _check_start(data: bytes | bytearray) -> None:
    """A FITS HDU starts with a SIMPLE or XTENSION card; fewer bytes must start one of them."""
    head = bytes(data[:9])
    if not (b"SIMPLE  =".startswith(head) or b"XTENSION=".startswith(head)):
        raise HeaderError("not a FITS file: no SIMPLE card at the start")


@dataclass
class ReadResult:
    header: Header
    sha256: str | None = None


def read_header(path: str | os.PathLike, want_hash: bool = False) -> ReadResult:
    """Read the image header of `path` (and its sha256 when asked, in the same pass)."""
    name = os.fspath(path)
    low = name.lower()
    if low.endswith(".z"):
        raise HeaderError("unsupported compression: .Z (Unix compress); decompress it first")
    if low.endswith(XISF_SUFFIX):
        return _read_xisf(name, want_hash)
    if low.endswith(".fz"):
        return _read_fz(name, want_hash)
    if low.endswith(".gz") or low.endswith(".bz2"):
        return _read_compressed(name, want_hash)
    return _read_plain(name, want_hash)


def _hash_rest(f: BinaryIO, h: "hashlib._Hash") -> int:
    """Hash from the current position to the end of the file, at most CHUNK bytes at a time."""
    total = 0
    try:
        left = os.fstat(f.fileno()).st_size - f.tell()
    except (OSError, ValueError, AttributeError):
        left = CHUNK
    while True:
        # Ask for no more than is left: read(n) allocates n bytes even at the end of
        # the file, and 1 MiB per small file is most of the cost of reading it.
        # Past the expected end (EOF, or a file still growing) read small blocks.
        chunk = f.read(min(CHUNK, left) if left > 0 else BLOCK)
        if not chunk:
            return total
        h.update(chunk)
        total += len(chunk)
        left -= len(chunk)


def _read_plain(name: str, want_hash: bool) -> ReadResult:
    with _open_regular(name) as f:  # unbuffered: whole-block reads need no buffer
        size_on_disk = os.fstat(f.fileno()).st_size
        first = f.read(min(CHUNK, max(size_on_disk, BLOCK)))
        header, consumed = _read_fits_header(f, first)
        if not _has_image(header.values):
            return _read_extension_image(name, f, header, consumed, want_hash)
        digest = None
        if want_hash:
            h = hashlib.sha256(consumed)
            _hash_rest(f, h)
            digest = h.hexdigest()
    _check_primary(header)
    need = _header_length(consumed) + (header.data_bytes or 0)
    if size_on_disk < need:
        raise HeaderError(
            f"data truncated: header and data need {need:,} bytes, file has {size_on_disk:,}"
        )
    return ReadResult(header, digest)


def _has_image(values: dict[str, Any]) -> bool:
    try:
        naxis = int(values.get("NAXIS", 0) or 0)
        return naxis >= 2 and all(int(values.get(f"NAXIS{i}", 0) or 0) > 0 for i in (1, 2))
    except (TypeError, ValueError):
        return False


def _read_extension_image(
    name: str, f: BinaryIO, primary: Header, consumed: bytes, want_hash: bool
) -> ReadResult:
    """The primary HDU holds no image: look for a (tile-compressed) image extension."""
    offset = _header_length(consumed) + (primary.data_bytes or 0)
    size_on_disk = os.fstat(f.fileno()).st_size
    for _ in range(8):  # the image is normally the first extension
        if offset >= size_on_disk:
            break
        f.seek(offset)
        try:
            ext, used = _read_fits_header(f)
        except ImplausibleHeader:
            raise  # the true reason, not "no image"
        except HeaderError:
            break
        if ext.get("ZIMAGE") is True:
            digest = sha256_file(name) if want_hash else None
            return ReadResult(_uncompressed_view(primary, ext), digest)
        if ext.get("XTENSION") == "IMAGE" and _has_image(ext.values):
            digest = sha256_file(name) if want_hash else None
            return ReadResult(_merged_view(primary, ext), digest)
        offset += _header_length(used) + (ext.data_bytes or 0)
    naxis = primary.get("NAXIS")
    if naxis == 0:
        raise HeaderError("no image: empty primary HDU and no image extension (header-only or table file)")
    raise HeaderError(f"no image: NAXIS = {naxis} with a zero-length axis")


def _end_card(data: bytes | bytearray, start: int = 0, stop: int | None = None) -> int:
    """Where the END card is in data[start:stop] (start on a card boundary), else -1."""
    i = data.find(b"END", start, stop)
    while i >= 0:
        # an END card: at a card boundary, nothing but blanks after it
        if (i - start) % CARD == 0 and data[i + 3 : i + CARD].strip() == b"":
            return i
        i = data.find(b"END", i + 1, stop)
    return -1


def _header_length(consumed: bytes) -> int:
    """Length in bytes of the primary header (up to and including the END block)."""
    end = _end_card(consumed)
    return (end // BLOCK + 1) * BLOCK if end >= 0 else len(consumed)


def _check_primary(header: Header) -> None:
    if header.get("SIMPLE") is not True and "SIMPLE" in header.values:
        header.problems.append("SIMPLE is not T")


def _read_compressed(name: str, want_hash: bool) -> ReadResult:
    is_gzip = name.lower().endswith(".gz")
    opener, magic, kind = (gzip.open, b"\x1f\x8b", "gzip") if is_gzip else (bz2.open, b"BZh", "bzip2")
    with _open_regular(name) as raw:
        digest = sha256_file(name) if want_hash else None
        if raw.read(len(magic)) != magic:
            raise HeaderError(f"corrupt compressed file: not {kind} data")
        raw.seek(0)
        try:
            with opener(raw, "rb") as f:
                header, _ = _read_fits_header(f)
        except EOFError:
            raise HeaderError("corrupt compressed file: ends early") from None
        except OSError as exc:
            if exc.errno:  # a real read error, for the caller to report
                raise
            raise HeaderError("corrupt compressed file: bad compressed data") from None
        except (zlib.error, ValueError):
            raise HeaderError("corrupt compressed file: bad compressed data") from None
    if not _has_image(header.values):
        raise HeaderError("no image in the primary HDU of this compressed file")
    _check_primary(header)
    return ReadResult(header, digest)


def _read_fz(name: str, want_hash: bool) -> ReadResult:
    """Tile-compressed FITS: the image lives in an extension with ZIMAGE = T."""
    return _read_plain(name, want_hash)


_COMPRESSION_KEYS = re.compile(
    r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|TTYPE\d+|TFORM\d+|TUNIT\d+|"
    r"ZIMAGE|ZCMPTYPE|ZBITPIX|ZNAXIS\d*|ZTILE\d+|ZNAME\d+|ZVAL\d+|ZQUANTIZ|ZDITHER0|"
    r"ZSIMPLE|ZEXTEND|ZHECKSUM|ZDATASUM|ZTENSION|ZPCOUNT|ZGCOUNT|THEAP|CHECKSUM|DATASUM)$"
)


# What the views leave out of each HDU: the extension's XTENSION; the primary's keywords about
# its own (empty) data, as the image HDU's describe the image; and beneath a tile-compressed
# image, also what an uncompressed image standing alone has not.
_EXTENSION_KEYS = re.compile(r"^XTENSION$")
_PRIMARY_DATA_KEYS = re.compile(r"^(BITPIX|NAXIS\d*)$")
_FZ_PRIMARY_KEYS = re.compile(r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND)$")


def _uncompressed_view(primary: Header, ext: Header) -> Header:
    """The header as the uncompressed image would have it (FITS tiled image convention)."""
    out = Header(format="fits.fz")
    out.add("SIMPLE", True)
    out.add("BITPIX", _bitpix(ext.values, "ZBITPIX", None))
    naxis = _whole(ext.values, "ZNAXIS", 0, MAX_NAXIS, _NAXIS_RULE)
    out.add("NAXIS", naxis)
    for i in range(1, naxis + 1):
        out.add(f"NAXIS{i}", _whole(ext.values, f"ZNAXIS{i}", 0, MAX_DATA_BYTES, _LENGTH_RULE))
    _fill(out, ext, _COMPRESSION_KEYS)
    _fill(out, primary, _FZ_PRIMARY_KEYS)
    out.history = primary.history + ext.history
    out.problems = primary.problems + ext.problems
    return out


def _merged_view(primary: Header, ext: Header) -> Header:
    """An IMAGE extension's header with the primary's keywords filled in beneath it."""
    out = Header(format=primary.format)
    _fill(out, ext, _EXTENSION_KEYS)
    _fill(out, primary, _PRIMARY_DATA_KEYS)
    out.history = primary.history + ext.history
    out.problems = primary.problems + ext.problems
    return out


def _fill(out: Header, hdu: Header, skip: re.Pattern[str]) -> None:
    """Give `out` the keywords of `hdu` it lacks, except those `skip` matches.

    Each keyword comes whole from one HDU: value, comment and the duplicates written in
    that HDU. A keyword both HDUs hold is no duplicate: the first HDU filled in wins."""
    for key, val in hdu.values.items():
        if key in out.values or skip.match(key):
            continue
        out.values[key] = val
        if key in hdu.comments:
            out.comments[key] = hdu.comments[key]
        if key in hdu.duplicates:
            out.duplicates[key] = list(hdu.duplicates[key])


# --- XISF ---------------------------------------------------------------------------

_XISF_NS = "{http://www.pixinsight.com/xisf}"

# XISF properties that stand in for FITS keywords when the keyword is absent
_XISF_PROPERTY_KEYS: dict[str, tuple[str, float | None]] = {
    "Instrument:Camera:Name": ("INSTRUME", None),
    "Instrument:Telescope:Name": ("TELESCOP", None),
    "Instrument:ExposureTime": ("EXPTIME", None),
    "Instrument:Sensor:Temperature": ("CCD-TEMP", None),
    "Instrument:Sensor:TargetTemperature": ("SET-TEMP", None),
    "Instrument:Camera:XBinning": ("XBINNING", None),
    "Instrument:Camera:YBinning": ("YBINNING", None),
    "Instrument:Camera:Gain": ("GAIN", None),
    "Instrument:Filter:Name": ("FILTER", None),
    "Instrument:Telescope:FocalLength": ("FOCALLEN", 1000.0),  # metres -> mm
    "Observation:Location:Latitude": ("SITELAT", None),
    "Observation:Location:Longitude": ("SITELONG", None),
    "Observation:Object:RA": ("RA", None),
    "Observation:Object:Dec": ("DEC", None),
    "Observation:Object:Name": ("OBJECT", None),
    "Observation:Time:Start": ("DATE-OBS", None),
    "PCL:CFASourcePattern": ("BAYERPAT", None),
    "XISF:CreatorApplication": ("XISF-CREATOR", None),
}


def _read_xisf(name: str, want_hash: bool) -> ReadResult:
    with _open_regular(name) as f:
        head = f.read(16)
        if len(head) < 16 or head[:8] != b"XISF0100":
            raise HeaderError("not an XISF file: bad signature")
        (length,) = struct.unpack("<I", head[8:12])
        if length <= 0 or length > 64 * 1024 * 1024:
            raise HeaderError(f"XISF header length {length} is implausible")
        xml_bytes = f.read(length)
        if len(xml_bytes) < length:
            raise HeaderError("XISF header truncated")
        digest = None
        if want_hash:
            h = hashlib.sha256(head + xml_bytes)
            _hash_rest(f, h)
            digest = h.hexdigest()
    import xml.etree.ElementTree as ET  # only XISF files need it: not at start-up

    try:
        root = ET.fromstring(_xisf_text(xml_bytes))
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else 1
        raise HeaderError(f"XISF header is not valid XML (line {line})") from None
    header = Header(format="xisf")
    image = root.find(f"{_XISF_NS}Image")
    if image is None:
        image = root.find("Image")
    if image is None:
        raise HeaderError("XISF file has no Image element")
    for kw in image.iter():
        if kw.tag.endswith("FITSKeyword"):
            key = kw.get("name", "")
            raw = kw.get("value", "")
            comment = kw.get("comment", "")
            val: Any
            if key.upper() in ("COMMENT", "HISTORY"):
                header.add(key, comment or raw)
                continue
            val = raw.strip()
            if val.startswith("'") and val.endswith("'") and len(val) >= 2:
                val = val[1:-1].replace("''", "'").rstrip()
            header.add(key, val, comment)
    geometry = image.get("geometry", "")
    parts = [p for p in geometry.split(":") if _GEOMETRY_PART(p)]
    if len(parts) >= 2:
        header.add("NAXIS1", int(parts[0]))
        header.add("NAXIS2", int(parts[1]))
        header.add("NAXIS", 2 if len(parts) < 3 or parts[2] == "1" else 3)
        if len(parts) >= 3 and parts[2] != "1":
            header.add("NAXIS3", int(parts[2]))
    for prop in root.iter():
        if not prop.tag.endswith("Property"):
            continue
        pid = prop.get("id", "")
        if pid not in _XISF_PROPERTY_KEYS:
            continue
        key, scale = _XISF_PROPERTY_KEYS[pid]
        val = prop.get("value")
        if val is None:
            val = (prop.text or "").strip()
        if scale is not None:
            try:
                val = float(val) * scale
            except ValueError:
                continue
        if key not in header.values:
            header.add(key, val)
    return ReadResult(header, digest)


_GEOMETRY_PART = re.compile(r"[0-9]{1,9}").fullmatch  # ASCII digits, a bounded number
_XML_DECLARATION = re.compile(rb"\s*<\?xml\b[^>]*?\?>").match
_XML_ENCODING = re.compile(rb"""\bencoding\s*=\s*(['"])([A-Za-z0-9._\-]{1,40})\1""").search


def _xisf_text(xml_bytes: bytes) -> str:
    """The XISF header as text, decoded by the encoding its XML declaration names.

    Python's XML parser knows only the canonical spellings ('UTF-8', not MountWizzard4's
    'utf8'); Python's codec names cover what programs write, so the text is decoded here
    and the parser is given it without the declaration (blanked, to keep line numbers)."""
    data = xml_bytes.rstrip(b"\0")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    encoding = "utf-8"
    declaration = _XML_DECLARATION(data)
    if declaration:
        named = _XML_ENCODING(declaration.group(0))
        if named:
            try:
                encoding = codecs.lookup(named.group(2).decode("ascii")).name
            except LookupError:
                raise HeaderError("XISF header declares an unknown encoding") from None
        data = re.sub(rb"[^\n]", b" ", declaration.group(0)) + data[declaration.end():]
    try:
        return data.decode(encoding)
    except LookupError:  # a codec that is not a text encoding (base64, rot13)
        raise HeaderError("XISF header declares an unknown encoding") from None
    except UnicodeError:
        raise HeaderError(f"XISF header is not valid {encoding.upper()} text") from None


def header_from_text(text: str) -> Header:
    """Parse header text of 80-character cards (one per line, or packed)."""
    lines = text.splitlines()
    if len(lines) == 1 and len(text) > CARD:
        lines = [text[i : i + CARD] for i in range(0, len(text), CARD)]
    buf = "".join(line[:CARD].ljust(CARD) for line in lines)
    header = Header()
    parse_cards(buf.encode("latin-1", "replace"), header)
    return header


__all__ = [
    "Header",
    "HeaderError",
    "ImplausibleHeader",
    "not_regular_reason",
    "ReadResult",
    "read_header",
    "is_candidate",
    "sha256_file",
    "header_from_text",
    "parse_value",
]
