"""A picture of a case: each phase at the index tumor's centre, with tumor and liver outlines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hccp53 import PHASE_NAMES, PHASES

_TITLES = {**{p: PHASE_NAMES[p] for p in PHASES}, "t2": "T2WI"}


def write_preview(path: Path, volumes: dict[str, np.ndarray], tumor: np.ndarray, liver: np.ndarray,
                  title: str) -> None:
    """Save a one-row PNG: the slice with the most tumor, every phase, outlines in colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = int(np.argmax(tumor.reshape(tumor.shape[0], -1).sum(axis=1)))
    phases = [p for p in _TITLES if p in volumes]
    fig, axes = plt.subplots(1, len(phases), figsize=(2.6 * len(phases), 2.9), squeeze=False)
    for ax, phase in zip(axes[0], phases, strict=True):
        image = volumes[phase][k]
        low, high = np.percentile(image, [1, 99.5])
        ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        ax.contour(liver[k], levels=[0.5], colors=["#39d353"], linewidths=0.6)
        ax.contour(tumor[k], levels=[0.5], colors=["#ff4d4d"], linewidths=0.8)
        ax.set_title(_TITLES[phase], fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{title}: tumor (red) and liver (green) ground truth on the reference grid", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
