"""Voxel grids in DICOM patient coordinates (LPS, millimetres).

A :class:`Grid` is what a DICOM series of parallel slices describes: (0020,0032) *Image
Position (Patient)* of the first voxel, (0020,0037) *Image Orientation (Patient)*,
(0028,0030) *Pixel Spacing* and the spacing between slices. Arrays are indexed
``[slice, row, column]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

AXIAL = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))      # rows run to the patient's left, columns posterior
CORONAL = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0))   # rows to the left, columns toward the feet
SAGITTAL = ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0))  # rows posterior, columns toward the feet


@dataclass(frozen=True)
class Grid:
    """A stack of parallel, equally spaced slices.

    Attributes
    ----------
    shape:
        ``(slices, rows, columns)``.
    spacing:
        ``(between slices, between rows, between columns)`` in mm; the last two are DICOM
        (0028,0030) *Pixel Spacing* in its order (row spacing first).
    origin:
        LPS position of the centre of voxel ``[0, 0, 0]``.
    orientation:
        Direction cosines of the row (increasing column index) and of the column (increasing
        row index), as in (0020,0037).
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    orientation: tuple[tuple[float, float, float], tuple[float, float, float]] = AXIAL

    @property
    def axes(self) -> np.ndarray:
        """3x3 matrix whose columns are the column, row and slice directions."""
        row_dir = np.asarray(self.orientation[0], dtype=float)
        col_dir = np.asarray(self.orientation[1], dtype=float)
        return np.stack([row_dir, col_dir, np.cross(row_dir, col_dir)], axis=1)

    @classmethod
    def centred(
        cls,
        centre: np.ndarray,
        shape: tuple[int, int, int],
        spacing: tuple[float, float, float],
        orientation: tuple[tuple[float, float, float], tuple[float, float, float]] = AXIAL,
    ) -> Grid:
        """The grid of ``shape`` and ``spacing`` whose centre lies at ``centre``."""
        grid = cls(shape, spacing, (0.0, 0.0, 0.0), orientation)
        half = (np.asarray(shape[::-1], dtype=float) - 1.0) / 2.0 * np.asarray(spacing[::-1])
        origin = np.asarray(centre, dtype=float) - grid.axes @ half
        return cls(shape, spacing, tuple(float(v) for v in origin), orientation)

    def slice_position(self, index: float) -> np.ndarray:
        """(0020,0032) *Image Position (Patient)* of slice ``index``."""
        return np.asarray(self.origin) + self.axes[:, 2] * self.spacing[0] * index

    def world(
        self, region: tuple[slice, slice, slice] | None = None, slice_offset: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LPS coordinates (x, y, z arrays) of the voxel centres in ``region``.

        ``slice_offset`` (mm, along the slice normal) samples inside the slice thickness,
        which is how partial volume across thick slices is rendered.
        """
        region = region or (slice(0, self.shape[0]), slice(0, self.shape[1]), slice(0, self.shape[2]))
        k = np.arange(region[0].start, region[0].stop, dtype=np.float32) * self.spacing[0] + slice_offset
        r = np.arange(region[1].start, region[1].stop, dtype=np.float32) * self.spacing[1]
        c = np.arange(region[2].start, region[2].stop, dtype=np.float32) * self.spacing[2]
        axes = self.axes.astype(np.float32)
        coords = []
        for dim in range(3):
            value = (
                np.float32(self.origin[dim])
                + axes[dim, 0] * c[None, None, :]
                + axes[dim, 1] * r[None, :, None]
                + axes[dim, 2] * k[:, None, None]
            )
            coords.append(np.broadcast_to(value, (len(k), len(r), len(c))))
        return coords[0], coords[1], coords[2]

    def region(self, lower: np.ndarray, upper: np.ndarray, margin: int = 2) -> tuple[slice, slice, slice] | None:
        """Index ranges covering the LPS box ``[lower, upper]``, or None if it misses the grid."""
        corners = np.array(
            [[x, y, z] for x in (lower[0], upper[0]) for y in (lower[1], upper[1]) for z in (lower[2], upper[2])]
        )
        index = (corners - np.asarray(self.origin)) @ self.axes / np.asarray(self.spacing[::-1])
        low = np.floor(index.min(axis=0)).astype(int) - margin  # (column, row, slice)
        high = np.ceil(index.max(axis=0)).astype(int) + margin + 1
        sizes = self.shape[::-1]
        low = np.clip(low, 0, sizes)
        high = np.clip(high, 0, sizes)
        if np.any(high <= low):
            return None
        return (slice(low[2], high[2]), slice(low[1], high[1]), slice(low[0], high[0]))

    def to_sitk(self, array: np.ndarray) -> sitk.Image:
        """Wrap ``array[slice, row, column]`` as a SimpleITK image with this geometry."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        image.SetSpacing((self.spacing[2], self.spacing[1], self.spacing[0]))
        image.SetOrigin(self.origin)
        image.SetDirection(tuple(float(v) for v in self.axes.flatten()))
        return image
