"""An ensemble of classifiers of one architecture (the folds of a cross-validation), as one network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class EnsembleNet(nn.Module):
    """The mean of its members' logits.

    Each member of a published ensemble is already calibrated on its own validation fold
    (:mod:`hccp53.training.calibration`), so the mean of their logits is the ensemble's calibrated log-odds
    up to the shrinkage that averaging brings.

    Parameters
    ----------
    members
        Networks taking the same input and returning logits of the same shape.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("An ensemble needs at least one member.")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean logits ``(B, num_classes)``."""
        return torch.stack([member(x) for member in self.members]).mean(dim=0)
