"""Hostile inputs for the header reader and `astrocat scan`: giant header values, huge
headers, FIFOs and sockets named *.fits, odd XML encodings, mutated files, files still
being written. Every one ends in a frame or a short reject reason, quickly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat import catalog
from astrocat.config import ConfigError, load, write_default
from astrocat.demo.fitswrite import star_field, write_fits
from astrocat.ingest.headers import HeaderError, read_header
from astrocat.ingest.scan import read_entry, scan
from astrocat.ingest.walk import Entry, walk

from conftest import backdate, run_cli


# --- helpers -------------------------------------------------------------------------


class Overtime(BaseException):
    """Not an Exception: scan's catch-all for one bad file must not swallow it."""


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail if the block runs longer than `seconds`: a spinning loop must not hang the suite."""

    def expired(_sig, _frame):
        raise Overtime(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def card(key: str, value: str = "", comment: str = "") -> bytes:
    """One 80-column card, the value written verbatim (right-justified like a number)."""
    if key in ("COMMENT", "HISTORY", "END"):
        text = f"{key:<8}{value}"
    else:
        text = f"{key:<8}= {value:>20}" + (f" / {comment}" if comment else "")
    assert len(text) <= 80, text
    return text.ljust(80).encode("ascii")


def header(cards: list[bytes], end: bool = True) -> bytes:
    blob = b"".join(cards) + (card("END") if end else b"")
    return blob + b" " * ((-len(blob)) % 2880)


def primary(bitpix: str = "16", naxis: str = "2", axes: tuple[str, ...] = ("4", "3"), extra: list[bytes] = ()) -> list[bytes]:
    cards = [card("SIMPLE", "T"), card("BITPIX", bitpix), card("NAXIS", naxis)]
    cards += [card(f"NAXIS{i}", n) for i, n in enumerate(axes, start=1)]
    return cards + list(extra) + [card("OBJECT", "'M 31'"), card("IMAGETYP", "'LIGHT'"), card("EXPTIME", "60.")]


def write(path: Path, blob: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def reason_of(path: Path) -> str:
    with deadline(10):
        with pytest.raises(HeaderError) as err:
            read_header(path, want_hash=True)
    return str(err.value)


def light(path: Path, seed: int = 0, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = star_field(np.random.default_rng(seed), 32, 24, [(10, 10, 5000)])
    cards = [("IMAGETYP", "LIGHT", ""), ("OBJECT", "M 31", ""), ("FILTER", "Ha", ""), ("EXPTIME", 300.0, ""),
             ("DATE-OBS", "2024-11-01T21:00:00", ""), ("INSTRUME", "ZWO ASI2600MM Pro", "")]
    cards += [(k, v, "") for k, v in extra.items()]
    write_fits(path, cards, data)
    return path


# Every reason a reject may carry: short sentences, numbers and our own words only.
REASON_PATTERNS = [
    r"empty file \(0 bytes\)",
    r"not a FITS file: no SIMPLE card at the start",
    r"header truncated: no END card",
    r"header larger than [\d,]+ cards \(\d+ MB\)",
    r"data truncated: header and data need [\d,]+ bytes, file has [\d,]+",
    r"bad (NAXIS|NAXIS\d{1,3}|BITPIX|PCOUNT|GCOUNT|ZNAXIS|ZNAXIS\d{1,3}|ZBITPIX) value .{1,20} \([a-zA-Z0-9 ,.^\-]+\)",
    r"data size in the header is implausible \(more than \d+ PB\)",
    r"no image: empty primary HDU and no image extension \(header-only or table file\)",
    r"no image: NAXIS = [^\s]{1,24} with a zero-length axis",
    r"no image in the primary HDU of this compressed file",
    r"corrupt compressed file: (not gzip data|not bzip2 data|bad compressed data|ends early)",
    r"unsupported compression: \.Z \(Unix compress\); decompress it first",
    r"not an XISF file: bad signature",
    r"XISF header length \d+ is implausible",
    r"XISF header truncated",
    r"XISF header is not valid XML \(line \d+\)",
    r"XISF header is not valid [A-Za-z0-9\-]+ text",
    r"XISF header declares an unknown encoding",
    r"XISF file has no Image element",
    r"not a regular file \((FIFO|socket|character device|block device)\)",
    r"symbolic link: not followed \(scan the folder it points to instead\)",
    r"broken symbolic link: not followed",
    r"symbolic link loop: not followed",
    r"permission denied",
    r"file vanished during the scan",
    r"(read error|cannot stat) \(E[A-Z0-9]+\)",
]
_REASON = re.compile("|".join(f"(?:{p})" for p in REASON_PATTERNS))
# what Python exception text looks like: none of it may reach a user
RAW_EXCEPTION = re.compile(
    r"Errno|Traceback|object has no attribute|invalid literal|could not convert|not well-formed|"
    r"line \d+, column|Error:|Exception|unexpected|codec can't|\bint\(\)|NoneType|"
    r"Exceeds the limit|out of range|Invalid data stream|Not a gzipped"
)


def assert_short_reason(reason: str, where: str = "") -> None:
    assert _REASON.fullmatch(reason), f"{where}: reason not in the closed set: {reason!r}"
    assert not RAW_EXCEPTION.search(reason), f"{where}: raw exception text: {reason!r}"
    assert len(reason) <= 100, reason


# --- 1. header values that drive loops and sizes --------------------------------------


@pytest.mark.parametrize("naxis", ["2000000000", "1E20", "99999999999999", "1000", "-1", "2.5", "'two'"])
def test_naxis_outside_0_to_999_is_rejected_at_once(tmp_path: Path, naxis: str) -> None:
    p = write(tmp_path / "naxis.fits", header(primary(naxis=naxis, axes=("4", "3"))) + b"\0" * 2880)
    reason = reason_of(p)
    assert reason.startswith("bad NAXIS value ")
    assert reason.endswith("(FITS allows a whole number from 0 to 999)")
    assert_short_reason(reason)


def test_naxis_999_is_read(tmp_path: Path) -> None:
    # the largest NAXIS FITS allows: 999 axes of length 1 hold one 16-bit pixel
    p = write(tmp_path / "many_axes.fits", header(primary(naxis="999", axes=("1",) * 999)) + b"\0" * 2880)
    with deadline(5):
        h = read_header(p).header
    assert h.get("NAXIS") == 999 and h.get("NAXIS999") == 1 and h.data_bytes == 2880


@pytest.mark.parametrize("bitpix", ["7", "0", "24", "-16", "1000000000000", "1E3", "'16'"])
def test_bitpix_outside_the_six_fits_values_is_rejected(tmp_path: Path, bitpix: str) -> None:
    p = write(tmp_path / "bitpix.fits", header(primary(bitpix=bitpix)) + b"\0" * 2880)
    reason = reason_of(p)
    assert reason.startswith("bad BITPIX value ")
    assert reason.endswith("(FITS allows 8, 16, 32, 64, -32, -64)")
    assert_short_reason(reason)


@pytest.mark.parametrize("axes", [("-4", "3"), ("4", "1E30"), ("4", "1000000000000000000000000"), ("4", "'x'")])
def test_bad_axis_length_is_rejected(tmp_path: Path, axes: tuple[str, str]) -> None:
    p = write(tmp_path / "axis.fits", header(primary(axes=axes)) + b"\0" * 2880)
    reason = reason_of(p)
    bad = 1 if axes[0] != "4" else 2
    assert reason.startswith(f"bad NAXIS{bad} value ")
    assert_short_reason(reason)


def test_axes_whose_product_is_astronomical_are_rejected_without_giant_numbers(tmp_path: Path) -> None:
    # each axis is plausible on its own; together they claim 2**160 bytes
    p = write(tmp_path / "cube.fits", header(primary(naxis="4", axes=("1099511627776",) * 4)) + b"\0" * 2880)
    reason = reason_of(p)
    assert reason == "data size in the header is implausible (more than 8 PB)"


@pytest.mark.parametrize("extra,key", [
    ([card("PCOUNT", "-5")], "PCOUNT"),
    ([card("GCOUNT", "-1")], "GCOUNT"),
    ([card("PCOUNT", "1E40")], "PCOUNT"),
    ([card("GCOUNT", "'many'")], "GCOUNT"),
])
def test_bad_pcount_gcount_are_rejected(tmp_path: Path, extra: list[bytes], key: str) -> None:
    p = write(tmp_path / "pg.fits", header(primary(extra=extra)) + b"\0" * 2880)
    reason = reason_of(p)
    assert reason.startswith(f"bad {key} value ")
    assert_short_reason(reason)


def test_giant_gcount_is_an_implausible_size_not_a_seek_error(tmp_path: Path) -> None:
    # header-only primary claiming exabytes of groups: the extension search must not seek there
    cards = [card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "1"), card("NAXIS1", "0"),
             card("PCOUNT", "1000000000"), card("GCOUNT", "1000000000")]
    p = write(tmp_path / "groups.fits", header(cards))
    assert reason_of(p) == "data size in the header is implausible (more than 8 PB)"


# --- 2. tile-compressed files with giant ZNAXIS --------------------------------------


def _fz(path: Path, **patch: str) -> Path:
    """A real tile-compressed file written by astropy, with Z-cards patched in place."""
    data = (np.arange(32 * 24, dtype=np.int32).reshape(24, 32) % 4000).astype(np.int16)
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header=fits.Header([("OBJECT", "M 31")]))])
    hdus.writeto(path)
    blob = bytearray(path.read_bytes())
    for key, value in patch.items():
        i = blob.find(f"{key:<8}= ".encode())
        assert i >= 0 and i % 80 == 0, key
        blob[i : i + 80] = card(key, value)
    path.write_bytes(bytes(blob))
    return path


def test_fz_reads_when_unpatched(tmp_path: Path) -> None:
    h = read_header(_fz(tmp_path / "ok.fits.fz")).header
    assert (h.get("NAXIS"), h.get("NAXIS1"), h.get("NAXIS2"), h.get("OBJECT")) == (2, 32, 24, "M 31")


@pytest.mark.parametrize("patch,key", [
    ({"ZNAXIS": "30000000"}, "ZNAXIS"),
    ({"ZNAXIS": "1E20"}, "ZNAXIS"),
    ({"ZNAXIS": "-2"}, "ZNAXIS"),
    ({"ZNAXIS1": "1000000000000000000000000"}, "ZNAXIS1"),
    ({"ZNAXIS2": "-24"}, "ZNAXIS2"),
    ({"ZBITPIX": "12"}, "ZBITPIX"),
])
def test_fz_with_giant_or_bad_znaxis_is_rejected_at_once(tmp_path: Path, patch: dict, key: str) -> None:
    reason = reason_of(_fz(tmp_path / "bad.fits.fz", **patch))
    assert reason.startswith(f"bad {key} value ")
    assert_short_reason(reason)


# --- 3. huge headers -----------------------------------------------------------------


def test_header_of_90000_cards_with_an_end_card_is_read(tmp_path: Path) -> None:
    history = [card("HISTORY", f"processing step {i}") for i in range(90_000)]
    p = write(tmp_path / "long.fits", header(primary(extra=history)) + b"\0" * 2880)
    with deadline(20):
        h = read_header(p, want_hash=True).header
    assert h.get("OBJECT") == "M 31" and h.get("NAXIS1") == 4
    assert len(h.history) == 90_000


@pytest.mark.parametrize("end", [True, False])
def test_header_beyond_the_limit_is_rejected_with_the_true_reason(tmp_path: Path, end: bool) -> None:
    history = [card("HISTORY", "x")] * 140_000
    p = write(tmp_path / "huge.fits", header(primary(extra=history), end=end) + b"\0" * 2880)
    assert reason_of(p) == "header larger than 131,040 cards (10 MB)"


def test_header_ending_without_end_card_is_truncated(tmp_path: Path) -> None:
    p = write(tmp_path / "noend.fits", header(primary(extra=[card("HISTORY", "x")] * 2000), end=False))
    assert reason_of(p) == "header truncated: no END card"


# --- 6. FIFOs, sockets and devices are never opened ------------------------------------


def _scan_in_process(settings, roots=None):
    db = catalog.open_catalog(settings.catalog)
    try:
        with deadline(30):
            return scan(db, settings, roots)
    finally:
        db.conn.close()


def test_fifo_named_fits_is_rejected_not_skipped_and_never_opened(library) -> None:
    q = library.quarantine
    fifo = q / "night" / "capture.fits"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    result = _scan_in_process(library)  # opening the FIFO would block until the deadline
    assert result.rejects == [{"path": "quarantine/night/capture.fits", "reason": "not a regular file (FIFO)"}]
    assert result.rejected == 1 and result.seen == 1
    # on record, and not re-read: the next run counts it unchanged
    again = _scan_in_process(library)
    assert (again.rejected, again.unchanged) == (0, 1)


def test_fifo_given_as_a_path_is_rejected(library) -> None:
    fifo = library.quarantine / "pipe.fits"
    os.mkfifo(fifo)
    entries = list(walk([fifo]))
    assert [(e.path, e.reason) for e in entries] == [(str(fifo), "not a regular file (FIFO)")]


def test_device_given_as_a_path_is_rejected() -> None:
    entries = list(walk([Path("/dev/null")]))
    assert [(e.path, e.reason) for e in entries] == [("/dev/null", "not a regular file (character device)")]


def test_socket_named_fits_is_rejected(library, monkeypatch) -> None:
    monkeypatch.chdir(library.quarantine)  # a socket path must be short: bind it relative
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind("guider.fits")
        result = _scan_in_process(library)
    finally:
        s.close()
    assert result.rejects == [{"path": "quarantine/guider.fits", "reason": "not a regular file (socket)"}]


def test_reader_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    # a file replaced by a FIFO between the walk and the read: the reader checks too
    fifo = tmp_path / "swapped.fits"
    os.mkfifo(fifo)
    assert reason_of(fifo) == "not a regular file (FIFO)"
    entry = Entry(str(fifo), 100, time.time() - 600)
    settings = load(write_default(tmp_path / "lib", timezone="UTC"))
    with deadline(10):
        assert read_entry(entry, settings) == (None, "not a regular file (FIFO)")


# --- 7. XISF encodings as real programs write them -------------------------------------


def _xisf(path: Path, declaration: str | None, obj: str, encoding: str = "utf-8") -> Path:
    """An XISF file shaped like MountWizzard4's: XML header, then an attached image."""
    body = (
        '<xisf xmlns="http://www.pixinsight.com/xisf" version="1.0">'
        '<Image geometry="32:24:1" sampleFormat="UInt16" colorSpace="Gray" location="attachment:4096:1536">'
        f'<FITSKeyword name="OBJECT" value="{obj}" comment="Object name" />'
        '<FITSKeyword name="IMAGETYP" value="Light Frame" comment="" />'
        '<FITSKeyword name="EXPTIME" value="60" comment="" />'
        "</Image></xisf>"
    )
    xml = ((declaration or "") + body).encode(encoding)
    blob = b"XISF0100" + struct.pack("<I", len(xml)) + b"\0" * 4 + xml
    return write(path, blob.ljust(4096, b"\0") + b"\0" * 1536)


@pytest.mark.parametrize("decl,encoding", [
    ("<?xml version='1.0' encoding='utf8'?>", "utf-8"),  # MountWizzard4 (xisf.py)
    ('<?xml version="1.0" encoding="UTF-8"?>', "utf-8"),  # PixInsight
    ("<?xml version='1.0' encoding='utf-8'?>", "utf-8"),
    ("<?xml version='1.0' encoding='UTF8'?>\n", "utf-8"),
    ("<?xml version='1.0' encoding='latin-1'?>", "latin-1"),
    ('<?xml version="1.0" encoding="ISO-8859-1" standalone="no"?>', "latin-1"),
    ("<?xml version='1.0' encoding='windows-1252'?>", "cp1252"),
    ("<?xml version='1.0'?>", "utf-8"),
    (None, "utf-8"),
])
def test_xisf_encoding_names_real_programs_write(tmp_path: Path, decl: str | None, encoding: str) -> None:
    p = _xisf(tmp_path / "mw4.xisf", decl, "Nébuleuse du Cœur" if encoding != "latin-1" else "Nébuleuse d'Orion", encoding)
    h = read_header(p).header
    assert h.get("OBJECT") == ("Nébuleuse du Cœur" if encoding != "latin-1" else "Nébuleuse d'Orion")
    assert (h.get("NAXIS1"), h.get("NAXIS2"), h.get("IMAGETYP")) == (32, 24, "Light Frame")


def test_xisf_with_an_unknown_encoding_or_bad_bytes_is_rejected_in_words(tmp_path: Path) -> None:
    unknown = _xisf(tmp_path / "a.xisf", "<?xml version='1.0' encoding='klingon-8'?>", "M31")
    assert reason_of(unknown) == "XISF header declares an unknown encoding"
    latin_as_utf8 = _xisf(tmp_path / "b.xisf", "<?xml version='1.0' encoding='utf8'?>", "Nébuleuse", "latin-1")
    assert reason_of(latin_as_utf8) == "XISF header is not valid UTF-8 text"
    broken = write(tmp_path / "c.xisf", _xisf(tmp_path / "c0.xisf", None, "M31").read_bytes().replace(b"</Image>", b"</Imag>"))
    assert reason_of(broken) == "XISF header is not valid XML (line 1)"


def test_mountwizzard4_sample_is_read(samples: Path) -> None:
    h = read_header(samples / "files" / "MountWizzard4_test.xisf").header
    assert h.get("INSTRUME") == "CCD Simulator" and h.get("NAXIS1") == 1280


# --- 8. reasons: "not a FITS file", and never raw exception text -----------------------


@pytest.mark.parametrize("blob", [b"hello\n", b"notes about M31: 300 s subs, Ha\n" * 20, b"SIMPLY NOT FITS", b"\x89PNG\r\n\x1a\n" + b"\0" * 100])
def test_small_non_fits_file_is_not_a_fits_file(tmp_path: Path, blob: bytes) -> None:
    assert reason_of(write(tmp_path / "notes.fits", blob)) == "not a FITS file: no SIMPLE card at the start"


def test_truncated_fits_start_is_still_truncated(tmp_path: Path) -> None:
    p = write(tmp_path / "cut.fits", header(primary())[:500])
    assert reason_of(p) == "header truncated: no END card"


@pytest.mark.parametrize("name,blob,reason", [
    ("junk.fits.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 200, "corrupt compressed file: bad compressed data"),
    ("text.fits.gz", b"plain text, not gzip" * 10, "corrupt compressed file: not gzip data"),
    ("text.fits.bz2", b"plain text, not bzip2" * 10, "corrupt compressed file: not bzip2 data"),
])
def test_corrupt_compressed_files_give_a_short_reason(tmp_path: Path, name: str, blob: bytes, reason: str) -> None:
    assert reason_of(write(tmp_path / name, blob)) == reason


def test_read_errors_are_short_sentences_or_errno_names(tmp_path: Path, library) -> None:
    old = time.time() - 600
    gone = Entry(str(tmp_path / "gone.fits"), 100, old)  # deleted between the walk and the read
    assert read_entry(gone, library) == (None, "file vanished during the scan")
    folder = Entry(str(tmp_path), 100, old)  # replaced by a folder
    assert read_entry(folder, library) == (None, "not a regular file (directory)")
    long_name = Entry(str(tmp_path / ("x" * 300 + ".fits")), 100, old)  # the OS refuses the name
    assert read_entry(long_name, library) == (None, "read error (ENAMETOOLONG)")


def _mutants(folder: Path, src: Path) -> list[Path]:
    """Good files of each kind, then truncated, byte-flipped, junk-carded and giant-valued copies."""
    rng = np.random.default_rng(7)
    good_fits = header(primary(axes=("32", "24"), extra=[card("DATE-OBS", "'2024-11-01T21:00:00'"),
                                                          card("XBINNING", "1"), card("GAIN", "100")]))
    good_fits += b"\0" * (32 * 24 * 2) + b"\0" * ((-(32 * 24 * 2)) % 2880)
    bases = {
        "plain.fits": good_fits,
        "tile.fits.fz": _fz(src / "tile.fits.fz").read_bytes(),
        "mw4.xisf": _xisf(src / "mw4.xisf", "<?xml version='1.0' encoding='utf8'?>", "Nébuleuse").read_bytes(),
    }
    import bz2
    import gzip
    bases["zipped.fits.gz"] = gzip.compress(good_fits)
    bases["zipped.fits.bz2"] = bz2.compress(good_fits)
    out = []
    n = 0

    def add(name: str, blob: bytes) -> None:
        nonlocal n
        n += 1
        out.append(write(folder / f"{n:04d}_{name}", blob))

    for name, blob in bases.items():
        add(name, blob)
        for cut in sorted({0, 1, 7, 8, 9, 16, 79, 80, 81, 500, 2879, 2880, 2881, len(blob) // 2, len(blob) - 1}):
            if cut < len(blob):
                add(name, blob[:cut])
        for _ in range(25):
            b = bytearray(blob)
            for pos in rng.integers(0, min(len(b), 6000), size=int(rng.integers(1, 6))):
                b[pos] = int(rng.integers(0, 256))
            add(name, bytes(b))
    junk = [
        card("NAXIS", "'abc'"), card("NAXIS", "1E400"), card("BITPIX", "1E400"), card("NAXIS1", "-3"),
        card("NAXIS2", "0"), card("NAXIS2", "9" * 60), card("XBINNING", "9" * 60), card("GAIN", "1E308"), card("EXPTIME", "-1E308"),
        card("DATE-OBS", "'9999-99-99T99:99:99'"), card("DATE-OBS", "'-0001-01-01'"), card("CCD-TEMP", "NaN"),
        card("SITELAT", "'91 99 99'"), card("SITELONG", "1E300"), card("RA", "'99:99:99'"), card("FOCALLEN", "'0'"),
        card("SEQNUM", "9" * 40), card("EXPOSURE", "9" * 60), card("PCOUNT", "9" * 30), card("GCOUNT", "0"),
        card("CONTINUE", "'&'"), b"HIERARCH " + b"=" * 71, b"\xff" * 80, card("SIMPLE", "F"), card("END"),
    ]
    for i, j in enumerate(junk):
        # the junk card replaces the card of the same keyword, or follows the structural cards
        cards = primary(axes=("32", "24"))
        keys = [c[:8].strip() for c in cards]
        if j[:8].strip() in keys:
            cards[keys.index(j[:8].strip())] = j
        else:
            cards.insert(5, j)
        add(f"junk{i}.fits", header(cards) + b"\0" * 2880)
    add("text.fits", b"observing log: M31, 40 x 300 s\n")
    for key in ("NAXIS", "NAXIS1", "NAXIS2", "BITPIX", "EXPTIME", "XBINNING", "GAIN", "OFFSET", "CCD-TEMP", "FOCALLEN"):
        for value in ("2000000000", "99999999999999", "1E20", "-1E20", "9" * 70):
            cards = [c for c in primary(axes=("32", "24")) if c[:8].strip() != key.encode()]
            cards.insert(3 if key.startswith("NAXIS") else len(cards), card(key, value))
            add(f"giant_{key}.fits", header(cards) + b"\0" * 2880)
    backdate(*out)
    return out


def test_mutated_files_give_a_frame_or_a_short_reason(library, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASTROCAT_SCAN_WORKERS", "0")  # in this process: no forks on a shared machine
    files = _mutants(library.quarantine / "mutants", tmp_path)
    assert len(files) > 250
    db = catalog.open_catalog(library.catalog)
    try:
        with deadline(120):
            result = scan(db, library)
        assert result.new + result.rejected == len(files) and result.waiting == 0
        for r in result.rejects:
            assert_short_reason(r["reason"], r["path"])
        # every kind of reason above occurs: the mutations reach the checks they are meant to
        reasons = {r["reason"] for r in result.rejects}
        for start in ("not a FITS file", "header truncated", "data truncated", "bad NAXIS value", "bad BITPIX value",
                      "corrupt compressed file", "XISF header", "no image"):
            assert any(x.startswith(start) for x in reasons), start
        assert len(list(db.execute("SELECT path FROM frames"))) == result.new
    finally:
        db.conn.close()


def test_scan_rejects_in_the_catalog_are_short_too(library, monkeypatch) -> None:
    # the CLI prints the same reasons: one line per file, no exception text
    q = library.quarantine
    write(q / "notes.fits", b"hello\n")
    write(q / "giant.fits", header(primary(naxis="2000000000")))
    backdate(q / "notes.fits", q / "giant.fits")
    r = run_cli("scan", cwd=library.base_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "  rejected quarantine/notes.fits: not a FITS file: no SIMPLE card at the start" in r.stdout
    assert "  rejected quarantine/giant.fits: bad NAXIS value 2000000000 (FITS allows a whole number from 0 to 999)" in r.stdout
    assert not RAW_EXCEPTION.search(r.stdout + r.stderr)


# --- 9. files still being written are left for the next run ---------------------------


def _settled(settings, settle_s: float):
    return dataclasses.replace(settings, settle_s=settle_s)


def test_a_fresh_file_waits_and_a_settled_one_is_cataloged(library) -> None:
    s = _settled(library, 30)
    fresh = light(library.quarantine / "fresh.fits")
    old = light(library.quarantine / "old.fits", seed=1)
    backdate(old, seconds=60)
    result = _scan_in_process(s)
    assert (result.new, result.waiting, result.rejected, result.missing) == (1, 1, 0, 0)
    db = catalog.open_catalog(s.catalog)
    try:
        assert [p for (p,) in db.execute("SELECT path FROM frames")] == ["quarantine/old.fits"]
        assert list(db.execute("SELECT path FROM rejects")) == []
    finally:
        db.conn.close()
    assert result.as_dict()["waiting"] == 1
    backdate(fresh, seconds=60)
    again = _scan_in_process(s)
    assert (again.new, again.waiting, again.unchanged) == (1, 0, 1)


def test_settle_s_zero_reads_fresh_files(library) -> None:
    light(library.quarantine / "fresh.fits")
    result = _scan_in_process(_settled(library, 0))
    assert (result.new, result.waiting) == (1, 0)


def test_a_cataloged_file_being_rewritten_waits_and_keeps_its_row(library) -> None:
    s = _settled(library, 30)
    p = light(library.quarantine / "f.fits")
    backdate(p, seconds=600)
    assert _scan_in_process(s).new == 1
    before = p.stat()
    # the capture program rewrites the file in place (e.g. a header update after the exposure)
    data = p.read_bytes()
    p.write_bytes(data + b"\0" * 2880)
    result = _scan_in_process(s)
    assert (result.changed, result.waiting, result.missing, result.new) == (0, 1, 0, 0)
    db = catalog.open_catalog(s.catalog)
    try:
        assert list(db.execute("SELECT size, location FROM frames")) == [(before.st_size, "quarantine")]
    finally:
        db.conn.close()


def test_settle_s_in_the_config(tmp_path: Path) -> None:
    cfg = write_default(tmp_path / "lib", timezone="UTC")
    assert load(cfg).settle_s == 30  # the default an `astrocat init` library gets
    assert "[scan]" in cfg.read_text()
    for value, ok in (("0", 0), ("2.5", 2.5), ("600", 600)):
        cfg.write_text(re.sub(r"settle_s = .*", f"settle_s = {value}", cfg.read_text()))
        assert load(cfg).settle_s == ok
    for bad in ("-1", "'30'", "true", "nan", "inf"):
        cfg.write_text(re.sub(r"settle_s = .*", f"settle_s = {bad}", cfg.read_text()))
        with pytest.raises(ConfigError, match="scan.settle_s must be a number of seconds"):
            load(cfg)


def test_cli_reports_files_still_being_written(tmp_path: Path) -> None:
    cfg = write_default(tmp_path / "lib", timezone="UTC")
    base = cfg.parent
    light(base / "quarantine" / "a.fits")
    light(base / "quarantine" / "b.fits", seed=1)
    old = light(base / "quarantine" / "c.fits", seed=2)
    backdate(old)
    r = run_cli("scan", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 files still being written, left for the next run" in r.stdout
    assert "1 new" in r.stdout
    os.utime(base / "quarantine" / "b.fits")  # still fresh
    backdate(base / "quarantine" / "a.fits")
    r = run_cli("scan", "--json", cwd=base)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert (out["new"], out["waiting"], out["rejected"]) == (1, 1, 0)
