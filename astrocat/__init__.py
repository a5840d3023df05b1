"""astrocat: the archive amateur astrophotographers trust with their raw data."""

__version__ = "0.1.0"
