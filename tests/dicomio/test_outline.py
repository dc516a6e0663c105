"""Outlines of 2D masks in DICOM SCOORD image coordinates: pixel [r, c] covers columns c..c+1 and rows r..r+1."""

from __future__ import annotations

import numpy as np
import pytest

from hccp53.dicomio.outline import mask_outline, polygon_area
from hccp53.errors import InputError


def test_a_rectangle_is_outlined_along_its_pixel_edges() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True  # rows 2-5, columns 3-8
    outline = mask_outline(mask)
    np.testing.assert_array_equal(outline[0], outline[-1])  # closed
    assert outline[:, 0].min() == pytest.approx(3) and outline[:, 0].max() == pytest.approx(9)  # columns
    assert outline[:, 1].min() == pytest.approx(2) and outline[:, 1].max() == pytest.approx(6)  # rows
    # marching squares cuts each corner by a quarter pixel: 6 x 4 pixels less 4 x 1/8
    assert polygon_area(outline) == pytest.approx(24 - 0.5)


def test_the_largest_piece_is_outlined_at_the_image_border_too() -> None:
    mask = np.zeros((8, 8), bool)
    mask[0:5, 0:5] = True
    mask[6, 6] = True
    outline = mask_outline(mask)
    assert outline.min() == pytest.approx(0) and outline.max() == pytest.approx(5)
    assert polygon_area(outline) == pytest.approx(25 - 0.5)


def test_an_empty_or_3d_mask_is_refused() -> None:
    with pytest.raises(InputError, match="empty"):
        mask_outline(np.zeros((4, 4), bool))
    with pytest.raises(InputError, match="2D mask"):
        mask_outline(np.ones((2, 4, 4), bool))
