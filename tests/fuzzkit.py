"""Deterministic hostile mutants of real frames, and a child process runner that measures
the child's peak memory: the fuzz and kill tests share them."""

from __future__ import annotations

import bz2
import functools
import gzip
import os
import random
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CARD, BLOCK = 80, 2880

# values a header may lie with: giant, fractional, negative, not a number, not FITS
LIES = ["2000000000", "1E20", "12", "-1", "0", "1000", "999", "2.5", "'abc'", "9" * 60,
        "T", "NaN", "-2147483648", "99999999999999999999", "1E400", "''"]
LIE_KEYS = ["NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "BITPIX", "ZNAXIS", "ZNAXIS1", "ZNAXIS2", "ZBITPIX",
            "PCOUNT", "GCOUNT", "XTENSION", "SIMPLE", "ZIMAGE"]
BOMB_UNIT = 64 * 2**20  # zeros per compressed member: members are repeated, not recompressed


def card(key: str, value: str) -> bytes:
    text = f"{key:<8}= {value:>20}" if key not in ("END", "COMMENT", "HISTORY", "CONTINUE") else f"{key:<8}{value}"
    return text[:CARD].ljust(CARD).encode("latin-1")


def pad(blob: bytes, fill: bytes = b" ") -> bytes:
    return blob + fill * ((-len(blob)) % BLOCK)


def card_offsets(blob: bytes, key: str, limit: int = 400_000) -> list[int]:
    """Offsets of the cards named `key` with a value, in the first `limit` bytes."""
    want = f"{key:<8}= ".encode()
    return [i for i in range(0, min(len(blob), limit) - CARD + 1, CARD) if blob[i : i + 10] == want]


def end_offset(blob: bytes) -> int | None:
    """Offset of the first header's END card."""
    for i in range(0, min(len(blob), 12_000_000) - CARD + 1, CARD):
        if blob[i : i + 3] == b"END" and blob[i + 3 : i + CARD].strip() == b"":
            return i
    return None


def plain_fits(path: Path) -> bytes | None:
    """The uncompressed FITS bytes of a sample (None for XISF and .Z)."""
    name = path.name.lower()
    raw = path.read_bytes()
    try:
        if name.endswith(".gz"):
            return gzip.decompress(raw)
        if name.endswith(".bz2"):
            return bz2.decompress(raw)
    except (OSError, EOFError, ValueError):
        return None
    if name.endswith((".xisf", ".z")):
        return None
    return raw


def suffix_of(name: str) -> str:
    low = name.lower()
    for s in (".fits.fz", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.bz2", ".fits", ".fit", ".fts", ".fz", ".xisf", ".gz", ".bz2"):
        if low.endswith(s):
            return name[-len(s):]
    return ".fits"


# --- FITS mutations ---------------------------------------------------------------


def flip(rng: random.Random, blob: bytes) -> bytes:
    b = bytearray(blob)
    if not b:
        return b"\x00"
    span = len(b) if rng.random() < 0.3 else min(len(b), 3 * BLOCK)  # mostly the header
    for _ in range(rng.randint(1, 12)):
        b[rng.randrange(span)] = rng.randrange(256)
    return bytes(b)


def truncate(rng: random.Random, blob: bytes) -> bytes:
    if rng.random() < 0.4:  # at or next to a card / block boundary
        unit = rng.choice([CARD, BLOCK])
        cut = unit * rng.randint(0, max(0, min(len(blob), 20 * BLOCK) // unit)) + rng.choice([-1, 0, 1])
    else:
        cut = rng.randrange(len(blob) + 1)
    return blob[: max(0, min(cut, len(blob) - 1))]


def lie(rng: random.Random, blob: bytes) -> bytes:
    """A structural keyword (NAXIS, BITPIX, ZNAXIS, ...) states something impossible."""
    b = bytearray(blob)
    keys = [k for k in LIE_KEYS if card_offsets(blob, k)] or ["NAXIS"]
    for _ in range(rng.randint(1, 2)):
        key = rng.choice(keys)
        offsets = card_offsets(bytes(b), key)
        if offsets:
            i = rng.choice(offsets)
            b[i : i + CARD] = card(key, rng.choice(LIES))
    return bytes(b)


def junk_cards(rng: random.Random, blob: bytes) -> bytes:
    """Replace some non-structural cards of the first header with junk."""
    end = end_offset(blob)
    if end is None or end < 6 * CARD:
        return flip(rng, blob)
    b = bytearray(blob)
    for _ in range(rng.randint(1, 4)):
        i = CARD * rng.randrange(5, end // CARD)
        b[i : i + CARD] = junk_card(rng)
    return bytes(b)


def junk_card(rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(CARD))
    if kind == 1:
        return bytes(rng.randrange(32, 127) for _ in range(CARD))
    if kind == 2:
        return (b"HIERARCH " + b"A " * 30 + b"= '" + b"x" * 20)[:CARD]
    if kind == 3:
        return card("OBJECT", "'" + "unclosed " * 8)
    if kind == 4:
        return card("DATE-OBS", rng.choice(["'9999-99-99T99:99:99'", "'-0001-01-01'", "1E300", "'2024-02-30T25:61:61.999999999'"]))
    if kind == 5:
        return card(rng.choice(["EXPTIME", "GAIN", "CCD-TEMP", "XBINNING", "FOCALLEN", "RA", "DEC", "SITELAT"]),
                    rng.choice(["1E308", "-1E308", "NaN", "Inf", "9" * 68, "'NaN'", "(1,2)", "'\x7f'"]))
    if kind == 6:
        return card("CONTINUE", "'" + "&" * 60 + "'")
    if kind == 7:
        return b"lower   = 'bad keyword'".ljust(CARD)
    return b"=" * CARD


def giant_header(rng: random.Random, blob: bytes) -> bytes:
    """Thousands of extra cards before END: long headers, long CONTINUE chains, or beyond the limit."""
    end = end_offset(blob)
    if end is None:
        return junk_cards(rng, blob)
    kind = rng.randrange(4)
    if kind == 0:  # a long string spread over thousands of CONTINUE cards
        n = rng.choice([2_000, 20_000])
        extra = card("OBJECT", "'" + "M" * 60 + "&'") + card("CONTINUE", "'" + "M" * 66 + "&'") * n
    elif kind == 1:  # many distinct keywords
        extra = b"".join(card(f"K{i:07d}", str(i)) for i in range(rng.choice([5_000, 40_000])))
    elif kind == 2:  # the same keyword many times
        extra = card("EXPTIME", "60.") * 30_000
    else:  # past the reader's header limit (10 MB), with or without an END
        extra = card("COMMENT", "x" * 60) * 140_000
        if rng.random() < 0.5:
            return pad(blob[:end] + extra)
    rest = blob[end:]
    head = blob[:end] + extra
    shift = (-len(head)) % BLOCK  # keep the data block-aligned
    return head + b" " * shift + rest


def compress(rng: random.Random, blob: bytes, kind: str) -> bytes:
    """gzip or bzip2 of a (maybe already mutated) file, sometimes damaged afterwards."""
    packed = gzip.compress(blob, compresslevel=1, mtime=0) if kind == "gz" else bz2.compress(blob, 1)
    damage = rng.randrange(4)
    if damage == 1:
        return packed[: rng.randrange(1, len(packed))]
    if damage == 2:
        b = bytearray(packed)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(2, len(b))] = rng.randrange(256)
        return bytes(b)
    if damage == 3:  # the magic, then junk
        magic = b"\x1f\x8b\x08\x00" if kind == "gz" else b"BZh9"
        return magic + bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    return packed


def _head(*axes: int, bitpix: int = 16) -> bytes:
    cards = [card("SIMPLE", "T"), card("BITPIX", str(bitpix)), card("NAXIS", str(len(axes)))]
    cards += [card(f"NAXIS{i}", str(n)) for i, n in enumerate(axes, 1)]
    cards += [card("IMAGETYP", "'LIGHT'"), card("OBJECT", "'M 31'"), card("EXPTIME", "60."),
              card("DATE-OBS", "'2024-11-01T21:00:00'"), card("END", "")]
    return pad(b"".join(cards))


def _gz(b: bytes) -> bytes:
    return gzip.compress(b, mtime=0)


@functools.lru_cache(maxsize=1)
def _zeros_gz() -> bytes:
    return gzip.compress(bytes(BOMB_UNIT), compresslevel=9, mtime=0)


def scan_bombs() -> list[tuple[str, bytes]]:
    """Small compressed files that expand to far more (multi-member gzip, multi-stream
    bzip2): the scan reads only their headers."""
    zeros_gz = _zeros_gz()
    zeros_bz = bz2.compress(bytes(BOMB_UNIT), 9)
    return [
        ("bomb_zeros_1GB.fits.gz", zeros_gz * 16),  # no FITS header at all
        # a header claiming more than any file could hold, then zeros
        ("bomb_lying_naxis.fits.gz", _gz(_head(2_000_000_000, 2_000_000_000)) + zeros_gz * 4),
        ("bomb_trailing_2GB.fits.bz2", bz2.compress(_head(64, 48) + bytes(8640)) + zeros_bz * 32),
        ("bomb_zeros_2GB.fits.bz2", zeros_bz * 32),
    ]


def preview_bombs() -> list[tuple[str, bytes]]:
    """Compressed frames a scan accepts (their headers are fine) whose previews decompress
    far more than the file holds."""
    zeros_gz = _zeros_gz()
    return [
        # an honest-looking 512 MB frame (header and data agree, all zeros) in 0.5 MB
        ("bomb_512MB_frame.fits.gz", _gz(_head(16384, 16384)) + zeros_gz * 8),
        # a tiny frame followed by 1 GB of zeros
        ("bomb_trailing_1GB.fits.gz", _gz(_head(64, 48) + bytes(8640)) + zeros_gz * 16),
        # 300 bytes whose header claims a 320 GB image (a scan cannot check it without decompressing)
        ("bomb_claims_320GB.fits.gz", _gz(_head(400_000, 400_000) + bytes(28800))),
    ]


# --- XISF mutations ---------------------------------------------------------------


def xisf_parts(blob: bytes) -> tuple[bytes, bytes] | None:
    if len(blob) < 16 or blob[:8] != b"XISF0100":
        return None
    (n,) = struct.unpack("<I", blob[8:12])
    return blob[16 : 16 + n], blob[16 + n :]


def xisf(xml: bytes, rest: bytes = b"", length: int | None = None) -> bytes:
    n = len(xml) if length is None else length
    return b"XISF0100" + struct.pack("<I", n) + b"\0\0\0\0" + xml + rest


XML_KINDS = 12


def hostile_xml(rng: random.Random, xml: bytes, kind: int | None = None) -> tuple[bytes, int | None]:
    """(new XML, header length to claim or None for the true one)."""
    body = xml
    if body.lstrip().startswith(b"<?xml"):
        body = body[body.index(b"?>") + 2 :]
    decl = b"<?xml version='1.0' encoding='UTF-8'?>"
    kind = rng.randrange(XML_KINDS) if kind is None else kind
    image_at = body.find(b"<Image")
    image_end = body.find(b">", image_at) + 1 if image_at >= 0 else -1
    if kind == 0:  # declared encodings that do not match the bytes, or are not encodings
        enc = rng.choice([b"utf-16", b"UTF-32", b"base64", b"rot13", b"x" * 40, b"zlib_codec", b"ebcdic", b"utf-8-sig"])
        return b"<?xml version='1.0' encoding='" + enc + b"'?>" + body, None
    if kind == 1:  # bytes that are not UTF-8
        i = rng.randrange(len(body))
        return decl + body[:i] + bytes(rng.choice([0xFF, 0xC0, 0xED, 0x80]) for _ in range(3)) + body[i:], None
    if kind == 2:  # billion laughs
        ents = b"<!ENTITY a0 'lol'>" + b"".join(b"<!ENTITY a%d '%s'>" % (i, (b"&a%d;" % (i - 1)) * 10) for i in range(1, 10))
        return decl + b"<!DOCTYPE xisf [" + ents + b"]>" + body.replace(b"<Image", b"<Image note='&a9;'", 1), None
    if kind == 3:  # external entities: never fetched, never read
        target = rng.choice([b"file:///etc/passwd", b"http://127.0.0.1:9/x", b"/dev/zero", b"/dev/stdin"])
        dtd = b"<!DOCTYPE xisf [<!ENTITY ext SYSTEM '" + target + b"'>]>"
        return decl + dtd + body.replace(b"<Image", b"<Image note='x'>&ext;<Dummy", 1), None
    if kind == 4 and image_end > 0:  # deep nesting inside the Image element
        depth = rng.choice([1_000, 100_000, 300_000])
        return decl + body[:image_end] + b"<a>" * depth + b"</a>" * depth + body[image_end:], None
    if kind == 5 and image_end > 0:  # deep nesting, never closed
        return decl + body[:image_end] + b"<a>" * 200_000 + body[image_end:], None
    if kind == 6 and image_end > 0:  # a huge attribute
        size = rng.choice([100_000, 5_000_000])
        kw = b"<FITSKeyword name='OBJECT' value='" + b"M" * size + b"' comment=''/>"
        return decl + body[:image_end] + kw + body[image_end:], None
    if kind == 7 and image_at >= 0:  # a huge or hostile geometry
        geometry = rng.choice([b"9" * 1_000_000, b"4294967296:4294967296:1", b"-1:-1:1", b"1:1:99999999999", b"\xd9\xa3:3:1"])
        return decl + body[:image_at] + b"<Image geometry='" + geometry + b"' " + body[image_at + 6 :], None
    if kind == 8 and image_end > 0:  # very many keywords
        kws = b"".join(b"<FITSKeyword name='K%d' value='%d' comment=''/>" % (i, i) for i in range(rng.choice([10_000, 50_000])))
        return decl + body[:image_end] + kws + body[image_end:], None
    if kind == 9:  # the stated header length lies
        return decl + body, rng.choice([0, 1, 15, len(decl) + len(body) // 2, 2**31, 2**32 - 1, 64 * 2**20 + 1])
    if kind == 10:  # no root, two roots, a processing instruction storm
        return decl + rng.choice([b"", body + body, b"<?pi x?>" * 50_000 + body, b"<xisf/>"]), None
    return decl + flip(rng, body), None


# --- the mutant set ---------------------------------------------------------------


@dataclass
class Mutant:
    name: str
    blob: bytes


def mutants(bases: list[Path], seed: int, count: int, bombs: bool = True) -> list[Mutant]:
    """`count` random mutants of `bases`, then (with `bombs`) the scan's compression bombs."""
    rng = random.Random(seed)
    cache: dict[Path, tuple[bytes, bytes | None]] = {}
    out: list[Mutant] = []
    for n in range(count):
        base = rng.choice(bases)
        if base not in cache:
            cache[base] = (base.read_bytes(), plain_fits(base))
        raw, plain = cache[base]
        suffix = suffix_of(base.name)
        parts = xisf_parts(raw) if suffix.lower() == ".xisf" else None
        if parts is not None:
            op = rng.choice(["xml", "xml", "xml", "flip", "truncate"])
            if op == "xml":
                xml, length = hostile_xml(rng, parts[0])
                blob = xisf(xml, parts[1] if rng.random() < 0.5 else b"", length)
            else:
                blob = flip(rng, raw) if op == "flip" else truncate(rng, raw)
        elif plain is not None:
            op = rng.choice(["flip", "truncate", "lie", "lie", "junk", "giant", "gz", "bz2", "raw-flip"])
            if op in ("gz", "bz2"):
                # at most the first 300 kB: the reader wants the header, and compressing is slow
                inner = rng.choice([flip, lie, junk_cards, lambda _r, b: b])(rng, plain[:300_000])
                blob, suffix = compress(rng, inner, op), (".fits.gz" if op == "gz" else ".fits.bz2")
            elif op == "raw-flip":
                blob = flip(rng, raw)
            else:
                mutate = {"flip": flip, "truncate": truncate, "lie": lie, "junk": junk_cards, "giant": giant_header}[op]
                blob = mutate(rng, plain)
                if suffix.lower().endswith((".gz", ".bz2")):  # keep the sample's compression
                    blob = gzip.compress(blob, 1, mtime=0) if suffix.lower().endswith(".gz") else bz2.compress(blob, 1)
        else:  # .Z and the like: bytes only
            op = rng.choice(["flip", "truncate"])
            blob = flip(rng, raw) if op == "flip" else truncate(rng, raw)
        out.append(Mutant(f"{n:04d}_{op}_{base.stem[:24].replace(' ', '_')}{suffix}", blob))
    if bombs:
        out += [Mutant(f"{count + i:04d}_{name}", blob) for i, (name, blob) in enumerate(scan_bombs())]
        # and every kind of hostile XML, twice, in each XISF sample
        for base in bases:
            raw = base.read_bytes()
            parts = xisf_parts(raw) if base.name.lower().endswith(".xisf") else None
            for kind in range(XML_KINDS) if parts else ():
                for variant in range(2):
                    xml, length = hostile_xml(rng, parts[0], kind)
                    name = f"{len(out):04d}_xml{kind}-{variant}_{base.stem[:24]}.xisf"
                    out.append(Mutant(name, xisf(xml, parts[1], length)))
    return out


# --- a child process, bounded in time and measured in memory ----------------------


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float  # the child's and its waited-for children's peak resident memory
    elapsed_s: float


# A small launcher between the test and the measured command: a child's ru_maxrss starts
# at the RSS of the process it was forked from, and pytest is large; forked from this
# launcher, the command's peak is its own. The launcher also caps the address space, so a
# runaway allocation fails in the command instead of starving the machine.
LAUNCHER = """
import os, resource, sys
cap = 3 * 2**30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status = os.waitpid(pid, 0)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {peak_kb}")
"""


def run_measured(argv: list[str], *, timeout: float, cwd: Path | None = None, env: dict | None = None,
                 out_dir: Path) -> Measured:
    """Run argv (argv[0] an absolute path) in its own process group through LAUNCHER;
    kill the group and fail after `timeout` s."""
    out_dir.mkdir(parents=True, exist_ok=True)
    status_file = out_dir / "status"
    status_file.unlink(missing_ok=True)
    started = time.monotonic()
    with open(out_dir / "stdout", "w+b") as fo, open(out_dir / "stderr", "w+b") as fe:
        p = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, str(status_file), *argv], cwd=cwd, env=env,
                             stdout=fo, stderr=fe, start_new_session=True)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise AssertionError(f"hang: {' '.join(argv[-4:])} still running after {timeout} s") from None
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode("utf-8", "replace"), fe.read().decode("utf-8", "replace")
    code, peak_kb = (int(x) for x in status_file.read_text().split())
    return Measured(code, out, err, peak_kb / 1024, time.monotonic() - started)
