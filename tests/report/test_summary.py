"""The summary PDF (``hccp53.report.summary``): what it says, and that it fits the page."""

from __future__ import annotations

import io

import numpy as np
import pypdf
import SimpleITK as sitk

from hccp53.report.summary import MAX_LESIONS_LISTED, summary_pdf


def _images() -> tuple[sitk.Image, sitk.Image]:
    reference = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (6, 40, 40)).astype(np.float32))
    labels = np.zeros((6, 40, 40), dtype=np.uint8)
    labels[3, 15:25, 15:25] = 1
    return reference, sitk.GetImageFromArray(labels)


def _result(lesions: int) -> dict:
    return {"p53_probability": 0.618, "p53_status": "mutated", "threshold": 0.5, "reference_phase": "pvp",
            "phases": {"t2": {}, "ap": {}, "pvp": {}}, "device": "cpu",
            "model": {"name": "hccp53 P53 classifier", "version": "0.1.0"},
            "lesions": [{"index": i, "volume_ml": 39.6 / i, "longest_diameter_mm": 49.4, "p53_probability": 0.618,
                         "confidence": 0.88} for i in range(1, lesions + 1)]}  # fmt: skip


def _page(pdf: bytes) -> tuple[str, float, list[float]]:
    """The page's text, its width, and the right end of every text line (in points)."""
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    ends: list[float] = []

    def visit(text, cm, tm, font, size) -> None:  # noqa: ANN001
        if text.strip():
            ends.append(tm[4] * cm[0] + cm[4] + len(text) * 0.6 * size * tm[0] * cm[0])  # monospace: 0.6 em

    return page.extract_text(visitor_text=visit), float(page.mediabox.width), ends


def test_the_summary_gives_the_prediction_and_each_lesion() -> None:
    text, _, _ = _page(summary_pdf(*_images(), _result(2)))
    assert "Predicted status: mutated" in text and "0.618" in text
    assert "Lesion 1 (primary)" in text and "Lesion 2" in text
    assert "segmentation confidence 0.88" in text
    assert "RESEARCH USE ONLY" in text


def test_long_lesion_lines_and_many_lesions_stay_on_the_page() -> None:
    text, width, ends = _page(summary_pdf(*_images(), _result(MAX_LESIONS_LISTED + 3)))
    assert f"Lesion {MAX_LESIONS_LISTED}" in text and f"Lesion {MAX_LESIONS_LISTED + 1}:" not in text
    assert "and 3 more lesion(s)" in text
    assert ends and max(ends) < width, (max(ends), width)
