"""Fusion of MRI phases for classification (the two strategies of the second source paper).

- :class:`MultiChannelNet` ("MC"): the phases are stacked as input channels of one backbone.
- :class:`FeatureFusionNet` ("FF"): one encoder per phase (or one encoder shared by all phases); the pooled
  per-phase features are concatenated, optionally after a learned softmax weighting over phases, and a
  linear or MLP head classifies them.

A single-sequence model is the one-phase case of either. With ``mask_channel`` both also take the tumor
mask: as one more input channel of the multi-channel backbone, or beside every phase of each feature-fusion
encoder (so each encoder sees its phase and where the tumor is).

Input convention (both classes)
-------------------------------
Either a tensor ``(B, P, *spatial)`` whose channel ``i`` is ``phases[i]`` (what MONAI's
``ConcatItemsd(keys=phases)`` produces from single-channel images), or a dict ``phase -> (B, 1, *spatial)``;
keys beyond ``phases`` are ignored, a missing phase raises ``ValueError``. With ``mask_channel`` the mask is
the last channel of the tensor, or the dict's ``"mask"`` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from hccp53 import parse_phases
from hccp53.errors import ConfigError

#: ``(in_channels, num_classes) -> module`` returning logits ``(B, num_classes)``.
BackboneFactory = Callable[[int, int], nn.Module]
#: ``in_channels -> module`` returning pooled features ``(B, F)``, with an int attribute ``num_features`` = F.
EncoderFactory = Callable[[int], nn.Module]

PhaseInput = torch.Tensor | Mapping[str, torch.Tensor]
#: Name of the tumor-mask input (the dict key, and the channel name in ``channel_def``).
MASK_CHANNEL = "mask"


def check_phases(phases: Sequence[str] | str) -> tuple[str, ...]:
    """Return a network's input ``phases`` as a tuple, read by :func:`hccp53.parse_phases` (one wording).

    Raises
    ------
    ValueError
        If ``phases`` is empty, repeats a phase or names one outside :data:`hccp53.PHASES`.
    """
    try:
        return parse_phases(phases, "the network's phases")
    except ConfigError as error:
        raise ValueError(str(error)) from None


def stack_phases(x: PhaseInput, phases: Sequence[str]) -> torch.Tensor:
    """Return the input as one tensor ``(B, P, *spatial)`` in the order of ``phases``.

    Raises
    ------
    ValueError
        If a dict lacks a phase or holds a tensor with more than one channel, or a tensor has a channel count
        other than ``len(phases)``.
    """
    if isinstance(x, Mapping):
        missing = [p for p in phases if p not in x]
        if missing:
            raise ValueError(
                f"Input is missing phase(s) {missing}; this model needs {list(phases)} (present: {sorted(x)})."
            )
        for p in phases:
            if x[p].ndim < 3 or x[p].shape[1] != 1:
                raise ValueError(
                    f"Phase {p!r} has shape {tuple(x[p].shape)}; expected (B, 1, *spatial), one channel per phase."
                )
        return torch.cat([x[p] for p in phases], dim=1)
    if x.ndim < 3 or x.shape[1] != len(phases):
        raise ValueError(
            f"Input has shape {tuple(x.shape)}; expected (B, {len(phases)}, *spatial) with channels {list(phases)}."
        )
    return x


class MultiChannelNet(nn.Module):
    """Multi-channel fusion: one backbone whose input channels are the phases.

    Parameters
    ----------
    backbone_factory
        ``(in_channels, num_classes) -> nn.Module`` giving logits.
    phases
        Phase keys, in channel order.
    num_classes
        Number of outputs.
    mask_channel
        The tumor mask is one more input channel, after the phases.
    """

    def __init__(
        self, backbone_factory: BackboneFactory, phases: Sequence[str], num_classes: int = 2, mask_channel: bool = False
    ) -> None:
        super().__init__()
        self.phases = check_phases(phases)
        self.num_classes = num_classes
        self.mask_channel = bool(mask_channel)
        self.channels = (*self.phases, MASK_CHANNEL) if self.mask_channel else self.phases
        self.backbone = backbone_factory(len(self.channels), num_classes)

    def forward(self, x: PhaseInput) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for a tensor ``(B, C, *spatial)`` or a dict channel -> ``(B, 1, *spatial)``."""
        return self.backbone(stack_phases(x, self.channels))


class PhaseAttention(nn.Module):
    """Softmax weights over phases from each phase's features: ``w = softmax_p(v · tanh(U f_p))``.

    Parameters
    ----------
    num_features
        Width F of each phase's feature vector.
    hidden
        Width of the scoring layer.
    """

    def __init__(self, num_features: int, hidden: int = 64) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(num_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Weights ``(B, P)`` summing to 1 over phases, for features ``(B, P, F)``."""
        return torch.softmax(self.score(features).squeeze(-1), dim=1)


class FeatureFusionNet(nn.Module):
    """Feature fusion: encode each phase separately, concatenate the pooled features, classify.

    Parameters
    ----------
    encoder_factory
        ``in_channels -> nn.Module`` returning pooled features ``(B, F)``; the module must have an int
        attribute ``num_features`` (F). Each phase is encoded as a one-channel image.
    phases
        Phase keys, in input order.
    num_classes
        Number of outputs.
    shared
        One encoder for all phases (weights shared) if True, one encoder per phase otherwise.
    attention
        Weight each phase's features by a learned softmax over phases (:class:`PhaseAttention`) before
        concatenation.
    hidden_features
        Width of a hidden layer (ReLU) in the head; ``None`` gives a linear head.
    dropout
        Dropout before the head's last linear layer.
    mask_channel
        Each encoder takes two channels: its phase and the tumor mask.

    Raises
    ------
    ValueError
        For bad phases, or an encoder without an int ``num_features``.
    """

    def __init__(
        self,
        encoder_factory: EncoderFactory,
        phases: Sequence[str],
        num_classes: int = 2,
        shared: bool = True,
        attention: bool = False,
        hidden_features: int | None = None,
        dropout: float = 0.0,
        mask_channel: bool = False,
    ) -> None:
        super().__init__()
        self.phases = check_phases(phases)
        self.num_classes = num_classes
        self.shared = shared
        self.mask_channel = bool(mask_channel)
        self.channels = (*self.phases, MASK_CHANNEL) if self.mask_channel else self.phases
        per_encoder = 2 if self.mask_channel else 1
        if shared:
            self.encoder = encoder_factory(per_encoder)
            num_features = self._num_features(self.encoder)
        else:
            self.encoders = nn.ModuleDict({p: encoder_factory(per_encoder) for p in self.phases})
            num_features = self._num_features(self.encoders[self.phases[0]])
        self.num_features = num_features
        self.attention = PhaseAttention(num_features) if attention else None
        fused = num_features * len(self.phases)
        head: list[nn.Module] = []
        if hidden_features is not None:
            head += [nn.Linear(fused, hidden_features), nn.ReLU(inplace=True)]
            fused = hidden_features
        head += [nn.Dropout(dropout), nn.Linear(fused, num_classes)]
        self.head = nn.Sequential(*head)

    @staticmethod
    def _num_features(encoder: nn.Module) -> int:
        n = getattr(encoder, "num_features", None)
        if not isinstance(n, int):
            raise ValueError(
                f"Encoder {type(encoder).__name__} has no int attribute num_features; set it to its feature width."
            )
        return n

    def phase_features(self, x: PhaseInput) -> torch.Tensor:
        """Per-phase pooled features ``(B, P, F)``."""
        x = stack_phases(x, self.channels)
        b, p = x.shape[0], len(self.phases)
        # (B, P, k, *spatial): each phase alone, or with the mask beside it
        if self.mask_channel:
            mask = x[:, p:].unsqueeze(1).expand(b, p, 1, *x.shape[2:])
            inputs = torch.cat([x[:, :p].unsqueeze(2), mask], dim=2)
        else:
            inputs = x.unsqueeze(2)
        if self.shared:
            # All phases through the one encoder in a single batch of B × P images.
            feats = self.encoder(inputs.reshape(b * p, *inputs.shape[2:]))
            return feats.reshape(b, p, -1)
        return torch.stack([self.encoders[name](inputs[:, i]) for i, name in enumerate(self.phases)], dim=1)

    def phase_weights(self, x: PhaseInput) -> torch.Tensor:
        """Attention weights ``(B, P)`` over phases (uniform ``1 / P`` when ``attention`` is off)."""
        feats = self.phase_features(x)
        if self.attention is None:
            return feats.new_full(feats.shape[:2], 1.0 / feats.shape[1])
        return self.attention(feats)

    def forward(self, x: PhaseInput) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for a tensor ``(B, P, *spatial)`` or a dict phase -> ``(B, 1, *spatial)``."""
        feats = self.phase_features(x)
        if self.attention is not None:
            feats = feats * self.attention(feats).unsqueeze(-1)
        return self.head(feats.flatten(1))
