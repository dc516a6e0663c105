"""A calibrated classifier's log-odds, kept inside the range its calibration was fitted on."""

from __future__ import annotations

import torch
from torch import nn


class BoundedLogOdds(nn.Module):
    """A two-class classifier whose log-odds ``z1 - z0`` are clamped to ``[low, high]``.

    A linear calibration (Platt scaling) fitted on a validation fold is only known to hold over the logits
    that fold showed. Outside it, a network trained on a few hundred cases extrapolates: the largest tumors
    of an evaluation set got logits of 9 to 14 (probabilities of 0.9999 and more) where most of the
    validation fold stayed under 2.5, and those few cases flattened the calibration slope on new cases.
    Clamping to the range the calibration was fitted on (by default the validation logits between their
    5th and 95th percentiles, :mod:`hccp53.training.calibration`) keeps the ranking everywhere else;
    docs/training.md has the figures.

    The bounds are a buffer, saved with the weights; ``network.json`` records them under
    ``calibration.log_odds_range``, which is what tells :func:`hccp53.nets.classifier_from_description` to
    build this wrapper.

    Parameters
    ----------
    network
        A classifier returning ``(B, 2)`` logits.
    low, high
        The range of the log-odds (defaults: unbounded; a published network's come from its weights file).
    """

    def __init__(self, network: nn.Module, low: float = -float("inf"), high: float = float("inf")) -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"The log-odds range needs low < high, got [{low}, {high}].")
        self.network = network
        self.register_buffer("bounds", torch.tensor([low, high], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(-d / 2, d / 2)`` with ``d`` the network's log-odds clamped to the range."""
        z = self.network(x)
        bounds = self.bounds.to(z.dtype)
        d = torch.clamp(z[:, 1] - z[:, 0], min=bounds[0], max=bounds[1])
        return torch.stack([-d / 2, d / 2], dim=1)
