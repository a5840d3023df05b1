from astrocat.units import human_bytes


def test_human_bytes():
    assert human_bytes(0) == "0 B"
    assert human_bytes(None) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(5 * 1024**3) == "5.0 GB"
    assert human_bytes(3 * 1024**5) == "3072.0 TB"
