"""Small parsers of DICOM values shared by the loader, the splitter and the volume builder."""

from __future__ import annotations

import numpy as np


def parse_time(value: object) -> float | None:
    """Seconds since midnight from a DICOM TM value ("HHMMSS.ffffff", "HH:MM:SS" too), or None."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace(":", "")
    try:
        hours = int(text[0:2])
        minutes = int(text[2:4]) if len(text) >= 4 else 0
        seconds = float(text[4:]) if len(text) > 4 else 0.0
    except ValueError:
        return None
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        return None
    return hours * 3600.0 + minutes * 60.0 + seconds


def positions_along_normal(positions: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Signed distance of each (0020,0032) position along the slice normal."""
    normal = np.cross(orientation[:3], orientation[3:])
    return positions @ (normal / np.linalg.norm(normal))
