"""2.5D classification (the first source paper's design): a 2D network on axial slices through the tumor.

:class:`SliceNet` takes the same 3D tumor-centred crop as the 3D classifiers (so the preprocessing, the
evaluation and the app are unchanged), picks ``slices`` axial slices spread evenly over the central half of
the crop, classifies each with one 2D network (every slice is a sample of the 2D network; batch-norm sees
all of them) and returns the mean of the slice logits as the case's logit.
"""

from __future__ import annotations

import torch
from torch import nn


def central_slices(depth: int, slices: int) -> list[int]:
    """``slices`` indices spread evenly over the central half of ``depth`` (the whole axis when it is short)."""
    if slices < 1:
        raise ValueError(f"slices must be >= 1, got {slices}.")
    if slices >= depth:
        return list(range(depth))
    lo, hi = (depth - 1) * 0.25, (depth - 1) * 0.75
    if slices == 1:
        return [(depth - 1) // 2]
    step = (hi - lo) / (slices - 1)
    return [int(round(lo + i * step)) for i in range(slices)]


class SliceNet(nn.Module):
    """A 2D classifier applied to axial slices of a 3D crop; the case logit is the mean slice logit.

    Parameters
    ----------
    network
        A 2D classifier taking ``(N, C, X, Y)`` (e.g. :func:`hccp53.nets.build_classifier` with
        ``spatial_dims=2``).
    slices
        Number of axial slices (the last spatial axis of the RAS crop) per case.
    """

    def __init__(self, network: nn.Module, slices: int) -> None:
        super().__init__()
        if slices < 1:
            raise ValueError(f"slices must be >= 1, got {slices}.")
        self.network = network
        self.slices = int(slices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of a crop ``(B, C, X, Y, Z)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 5:
            raise ValueError("SliceNet takes a tensor (B, C, X, Y, Z): the 3D crop whose axial slices it classifies.")
        index = central_slices(x.shape[-1], self.slices)
        b, c, sx, sy = x.shape[:4]
        stack = x[..., index].permute(0, 4, 1, 2, 3).reshape(b * len(index), c, sx, sy)
        return self.network(stack).view(b, len(index), -1).mean(dim=1)
