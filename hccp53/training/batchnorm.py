"""Exact batch-norm statistics for the eval-mode network ("precise BN", Wu & Johnson 2021, arXiv:2105.07576).

During training a batch-norm layer keeps exponential moving averages of its batch means and variances, and
those averages are what eval mode normalises with. After a few hundred steps they still lag behind the
weights, and with a small momentum they keep part of their initial values: that is how the shipped P53
classifier of 2026-11 came to give every case the same probability (``docs/training.md``). Recomputing the
statistics of the current weights over training batches, as a cumulative average, before each validation
removes both the lag and the remainder, so that validation (and early stopping) sees the network the app
will run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from ignite.engine import Engine, Events
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

logger = logging.getLogger(__name__)


def batchnorm_layers(network: nn.Module) -> list[_BatchNorm]:
    """The batch-norm layers of ``network`` that keep running statistics."""
    return [m for m in network.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def recompute_batchnorm(
    network: nn.Module,
    batches: Iterable[Any],
    device: torch.device | str,
    max_batches: int | None = None,
    image_key: str = "image",
) -> int:
    """Replace every batch-norm layer's running statistics by their average over ``batches``.

    Only the batch-norm layers run in training mode; dropout and stochastic depth stay off, as at inference.
    Each layer's statistics are the cumulative average (``momentum=None``) of the batch means and (unbiased)
    variances; weights are untouched and no gradient is computed. The network's modes and momenta are
    restored afterwards.

    Parameters
    ----------
    network
        The network, on ``device``.
    batches
        Training batches: dicts with the input under ``image_key``, or input tensors.
    device
        Where the network runs.
    max_batches
        Use at most this many batches (``None``: all).
    image_key
        Key of the input in dict batches.

    Returns
    -------
    int
        The number of batches used (0 when the network has no batch-norm layer or ``batches`` is empty).
    """
    layers = batchnorm_layers(network)
    if not layers or max_batches == 0:
        return 0
    modes = {m: m.training for m in network.modules()}
    momenta = [layer.momentum for layer in layers]
    used = 0
    try:
        network.eval()
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None
            layer.train()
        with torch.no_grad():
            for batch in batches:
                if max_batches is not None and used >= max_batches:
                    break
                image = batch[image_key] if isinstance(batch, dict) else batch
                network(torch.as_tensor(image).to(device))
                used += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        for module, mode in modes.items():
            module.train(mode)
    if used == 0:
        logger.warning("No batch to recompute the batch-norm statistics from; they were reset to their initial "
                       "values.")  # fmt: skip
    return used


class PreciseBatchNorm:
    """Recompute the network's batch-norm statistics over training batches before each validation.

    Attach it to the validation evaluator, before the handlers that read its results: it runs when the
    evaluator starts, so the evaluated network, and the best checkpoint saved from it, carry statistics that
    match their own weights.

    Parameters
    ----------
    network
        The trained network (the trainer's and the evaluator's).
    loader
        The training data loader.
    device
        Where the network runs.
    max_batches
        Batches to average over (``None`` or a number larger than the loader: one full pass); 0 disables.
    """

    def __init__(
        self, network: nn.Module, loader: Iterable[Any], device: torch.device | str, max_batches: int | None = None
    ) -> None:
        self.network = network
        self.loader = loader
        self.device = device
        self.max_batches = max_batches

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        used = recompute_batchnorm(self.network, self.loader, self.device, self.max_batches)
        logger.debug("batch-norm statistics recomputed over %d training batch(es)", used)
