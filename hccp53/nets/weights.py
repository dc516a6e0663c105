"""Weights on disk: safe loading (``torch.load(..., weights_only=True)``) after the checksum matches.

Every weights file the project writes gets its sha256 recorded next to it in ``checksums.json``
(:func:`hccp53.checksums.record_checksums`); :func:`load_weights` refuses a file whose checksum differs from
the one expected, so a truncated copy or a swapped file fails loudly instead of predicting nonsense.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from hccp53.checksums import CHECKSUMS, expected_checksum, sha256_of
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

def load_weights(
    network: nn.Module, path: str | Path, sha256: str | None = None, require_checksum: bool = True
) -> nn.Module:
    """Load a state dict saved by the bundle (plain, or under ``"model"``) into ``network``.

    Parameters
    ----------
    network
        Module to load into (its device is kept).
    path
        Weights file.
    sha256
        Expected checksum; ``None`` looks it up in ``checksums.json`` beside the file.
    require_checksum
        Refuse a file with no known checksum.

    Raises
    ------
    InputError
        If the file is missing, its checksum is unknown (when required) or differs, or it does not fit the network.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Weights file {path} does not exist; train one (`hccp53 train`) or pass the models folder.")
    expected = sha256 or expected_checksum(path)
    if expected is None and require_checksum:
        raise InputError(f"No checksum recorded for {path.name}; add it to {CHECKSUMS} beside the file.")
    if expected is not None:
        actual = sha256_of(path)
        if actual != expected:
            raise InputError(
                f"Weights file {path.name} has sha256 {actual[:12]}..., not the recorded "
                f"{expected[:12]}...; the file is corrupt or not the one the model card describes."
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad archive
        raise InputError(f"Weights file {path.name} cannot be read as a torch state dict ({error}).") from error
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise InputError(f"Weights file {path.name} holds a {type(state).__name__}, not a state dict.")
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"Weights file {path.name} does not fit the configured network ({first}).") from error
    logger.info("Loaded weights %s (sha256 %s...).", path.name, (expected or "unchecked")[:12])
    return network
