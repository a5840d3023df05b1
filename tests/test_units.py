from astrocat.units import human_bytes, plural


def test_human_bytes():
    assert human_bytes(0) == "0 B"
    assert human_bytes(None) == "0 B"
    assert human_bytes(999) == "999 B"
    assert human_bytes(1000) == "1.0 KB"  # decimal multiples: 1 KB = 1000 bytes
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(11_200) == "11.2 KB"
    assert human_bytes(999_960) == "1.0 MB"  # not '1000.0 KB'
    assert human_bytes(5 * 1024**3) == "5.4 GB"
    assert human_bytes(3 * 10**15) == "3000.0 TB"


def test_plural():
    assert plural(1, "session") == "1 session"
    assert plural(0, "frame") == "0 frames"
    assert plural(2, "target") == "2 targets"
    assert plural(1200, "frame") == "1,200 frames"
    assert plural(3, "match", "matches") == "3 matches"
