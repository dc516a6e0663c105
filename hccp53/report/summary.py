"""The human-readable summary of one study's result: a one-page PDF with a key image of the tumor outline.

The page shows the prediction (probability, status, threshold), the lesions (volume, longest diameter,
probability, segmentation confidence), the phases used and the model, and an axial slice of the reference
phase through the centre of the primary lesion (lesion 1, the most confident) with every lesion's outline.
It says research use only. The app encapsulates it as DICOM with :func:`hccp53.dicomio.pdf.encapsulated_pdf`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

BANNER = "RESEARCH USE ONLY - not for diagnosis. Synthetic-data demo weights unless your site trained its own."


def key_slice(labels: np.ndarray) -> int:
    """The axial slice (z index of a (z, y, x) array) with the most voxels of lesion 1, or the middle one."""
    counts = (labels == 1).sum(axis=(1, 2))
    return int(np.argmax(counts)) if counts.any() else labels.shape[0] // 2


#: Lesions listed on the page; the text above the key image has room for this many.
MAX_LESIONS_LISTED = 5


def summary_pdf(reference: sitk.Image, labels: sitk.Image, result: Mapping[str, Any]) -> bytes:
    """The summary page as PDF bytes (``result`` is the content of ``result.json``)."""
    image = sitk.GetArrayFromImage(reference)
    label_array = sitk.GetArrayFromImage(labels)
    z = key_slice(label_array)
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    fig.text(0.5, 0.965, "P53 mutation of hepatocellular carcinoma - AI result", ha="center", fontsize=15,
             fontweight="bold")  # fmt: skip
    fig.text(0.5, 0.945, BANNER, ha="center", fontsize=8, color="darkred")
    probability = result.get("p53_probability")
    status = result.get("p53_status", "")
    headline = (f"Predicted status: {status}" if probability is None else
                f"Predicted status: {status}   (P53 mutation probability {probability:.3f}, threshold "
                f"{result['threshold']:g})")  # fmt: skip
    fig.text(0.06, 0.91, headline, fontsize=11)
    lesions = list(result.get("lesions", []))
    lines = []
    for lesion in lesions[:MAX_LESIONS_LISTED]:  # two lines each, within the page's width
        lines += [f"Lesion {lesion['index']}{' (primary)' if lesion['index'] == 1 else ''}: "
                  f"{lesion['volume_ml']:.1f} mL, longest diameter {lesion['longest_diameter_mm']:.1f} mm",
                  f"  P53 probability {lesion['p53_probability']:.3f}"
                  + ("" if lesion.get("confidence") is None else
                     f", segmentation confidence {lesion['confidence']:.2f}")]  # fmt: skip
    if len(lesions) > MAX_LESIONS_LISTED:
        lines.append(f"... and {len(lesions) - MAX_LESIONS_LISTED} more lesion(s): see the SR or result.json")
    lines = lines or ["No lesion found."]
    model = result.get("model", {})
    phases = ", ".join(result.get("phases", {}))
    device = result.get("device", "")
    lines += ["", f"Phases used: {phases} (reference {result.get('reference_phase')})",
              f"Model: {model.get('name', '')} {model.get('version', '')}, device {device}"]  # fmt: skip
    fig.text(0.06, 0.885, "\n".join(lines), fontsize=9, va="top", family="monospace")
    ax = fig.add_axes((0.1, 0.08, 0.8, 0.6))
    spacing = reference.GetSpacing()
    ax.imshow(image[z], cmap="gray", aspect=spacing[1] / spacing[0])
    if label_array[z].any():
        ax.contour(label_array[z] > 0, levels=[0.5], colors=["#ff3030"], linewidths=1.2)
    ax.set_title(f"Key image: reference phase, slice {z + 1} of {image.shape[0]}; red = tumor outline", fontsize=9)
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf")
    plt.close(fig)
    return buffer.getvalue()
