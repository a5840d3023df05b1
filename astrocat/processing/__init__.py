"""Processing sessions: a folder per session with links to the chosen lights and their
matched calibration, recorded in the catalog; the calibration gap report; AstroBin CSV.
Library frames are only ever read: links, not moves."""
