"""The outline of a 2D mask as a closed polyline in DICOM image coordinates, for an SR's SCOORD.

PS3.3 C.18.6.1.2 (Graphic Data of a SCOORD): points are (column, row) pairs in pixel units, the top left
corner of the top left pixel being (0, 0), so pixel ``[r, c]`` covers columns ``c..c+1`` and rows ``r..r+1``; a
closed POLYLINE repeats its first point as its last. The outline is the 0.5 level line of the mask by
marching squares (``contourpy``, matplotlib's contouring library): it runs along the edges between pixels in
the mask and pixels outside it, cutting each convex corner by half a pixel's diagonal.
"""

from __future__ import annotations

import contourpy
import numpy as np

from hccp53.errors import InputError


def polygon_area(points: np.ndarray) -> float:
    """Area enclosed by a closed polyline ``(N, 2)`` (shoelace formula), in the squared units of ``points``."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """Closed outline ``(N, 2)`` of (column, row) points, first point repeated last, of a 2D mask's largest region.

    Where the mask has several pieces the one enclosing the largest area is outlined; holes are not.

    Raises
    ------
    InputError
        ``mask`` is not 2D or has no pixel set.
    """
    if mask.ndim != 2:
        raise InputError(f"An outline needs a 2D mask, not one of shape {mask.shape}.")
    if not mask.any():
        raise InputError("The mask to outline is empty.")
    padded = np.pad(mask > 0, 1).astype(np.float64)  # a background border closes every line
    lines = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate).lines(0.5)
    outline = max(lines, key=polygon_area)
    # padded index (x = column + 1, y = row + 1) -> DICOM image coordinates (pixel centre at index + 0.5)
    return outline - 0.5
