"""EfficientNetV2 (Tan & Le 2021, "EfficientNetV2: Smaller Models and Faster Training", arXiv:2104.00298).

Implemented on MONAI layer factories so that ``spatial_dims`` 2 (images) and 3 (volumes) share one
definition (torchvision and timm cannot be used in this environment).

Stage tables (``block repeats kernel stride expansion channels``; ``cn`` = Fused-MBConv with expansion 1,
``fused`` = Fused-MBConv, ``mbconv`` = MBConv with squeeze-excitation 0.25 of the block input channels):

- ``s``: paper Table 4; stem 24, head 1280.
- ``m`` and ``l``: the official release (``google/automl`` ``efficientnetv2/effnetv2_configs.py``,
  mirrored in timm's ``_gen_efficientnetv2_m`` / ``_l``); stems 24 and 32, head 1280.
- ``tiny``: ours, for CPU training on 3D tumour crops (0.70M parameters in 3D with 3 input
  channels and 2 classes; 0.53M in 2D)::

      stem   conv3x3 s2              16
      cn     r1 k3 s1 e1             16
      fused  r1 k3 s2 e4             24
      fused  r2 k3 s2 e4             32
      mbconv r2 k3 s2 e4 se0.25      64
      mbconv r2 k3 s1 e4 se0.25      80
      mbconv r2 k3 s2 e4 se0.25     112
      head   conv1x1                 512

Stochastic depth grows linearly with the block index, from 0 at the first block to
``drop_path_rate × (n - 1) / n`` at the last (the reference schedule); dropout precedes the classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.layers.factories import Dropout, Pool
from torch import nn

from hccp53.nets.blocks import ConvNormAct, FusedConvBlock, FusedMBConv, MBConv

SPATIAL_DIMS: tuple[int, ...] = (2, 3)


@dataclass(frozen=True)
class StageSpec:
    """One stage of the network: ``repeats`` blocks of one type; only the first block strides."""

    block: str  # "cn", "fused" or "mbconv"
    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    channels: int
    se_ratio: float = 0.0


@dataclass(frozen=True)
class VariantSpec:
    """A whole network: stem width, stages, head width and default regularisation."""

    stem_channels: int
    stages: tuple[StageSpec, ...]
    head_channels: int
    dropout: float
    drop_path_rate: float


def _s(block: str, r: int, s: int, e: int, c: int, se: float = 0.0) -> StageSpec:
    return StageSpec(block, r, 3, s, e, c, se)


#: Default dropout follows the official configs (0.2 / 0.3 / 0.4); drop path 0.2 (survival 0.8).
VARIANTS: dict[str, VariantSpec] = {
    "s": VariantSpec(
        24,
        (
            _s("cn", 2, 1, 1, 24),
            _s("fused", 4, 2, 4, 48),
            _s("fused", 4, 2, 4, 64),
            _s("mbconv", 6, 2, 4, 128, 0.25),
            _s("mbconv", 9, 1, 6, 160, 0.25),
            _s("mbconv", 15, 2, 6, 256, 0.25),
        ),
        1280,
        0.2,
        0.2,
    ),
    "m": VariantSpec(
        24,
        (
            _s("cn", 3, 1, 1, 24),
            _s("fused", 5, 2, 4, 48),
            _s("fused", 5, 2, 4, 80),
            _s("mbconv", 7, 2, 4, 160, 0.25),
            _s("mbconv", 14, 1, 6, 176, 0.25),
            _s("mbconv", 18, 2, 6, 304, 0.25),
            _s("mbconv", 5, 1, 6, 512, 0.25),
        ),
        1280,
        0.3,
        0.2,
    ),
    "l": VariantSpec(
        32,
        (
            _s("cn", 4, 1, 1, 32),
            _s("fused", 7, 2, 4, 64),
            _s("fused", 7, 2, 4, 96),
            _s("mbconv", 10, 2, 4, 192, 0.25),
            _s("mbconv", 19, 1, 6, 224, 0.25),
            _s("mbconv", 25, 2, 6, 384, 0.25),
            _s("mbconv", 7, 1, 6, 640, 0.25),
        ),
        1280,
        0.4,
        0.2,
    ),
    "tiny": VariantSpec(
        16,
        (
            _s("cn", 1, 1, 1, 16),
            _s("fused", 1, 2, 4, 24),
            _s("fused", 2, 2, 4, 32),
            _s("mbconv", 2, 2, 4, 64, 0.25),
            _s("mbconv", 2, 1, 4, 80, 0.25),
            _s("mbconv", 2, 2, 4, 112, 0.25),
        ),
        512,
        0.2,
        0.1,
    ),
}


def _check_range(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}.")


class EfficientNetV2(nn.Module):
    """EfficientNetV2 classifier for 2D images or 3D volumes.

    Parameters
    ----------
    variant
        ``"s"``, ``"m"``, ``"l"`` or ``"tiny"`` (see the module docstring for the tables).
    spatial_dims
        2 or 3.
    in_channels
        Input channels (e.g. one per MRI phase).
    num_classes
        Outputs of the linear classifier; 0 gives no classifier, ``forward`` then returns the pooled features.
    dropout
        Dropout before the classifier; ``None`` takes the variant's default.
    drop_path_rate
        Stochastic-depth rate of the last block; ``None`` takes the variant's default.

    Raises
    ------
    ValueError
        For an unknown variant, ``spatial_dims`` other than 2 or 3, or out-of-range sizes and rates.

    Attributes
    ----------
    num_features, out_channels
        Width of the pooled feature vector returned by :meth:`features` (the head width).
    """

    def __init__(
        self,
        variant: str = "s",
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        dropout: float | None = None,
        drop_path_rate: float | None = None,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"Unknown EfficientNetV2 variant {variant!r}; choose one of {sorted(VARIANTS)}.")
        if spatial_dims not in SPATIAL_DIMS:
            raise ValueError(f"spatial_dims must be one of {SPATIAL_DIMS}, got {spatial_dims!r}.")
        if in_channels < 1 or num_classes < 0:
            raise ValueError(f"in_channels must be >= 1 and num_classes >= 0, got {in_channels} and {num_classes}.")
        spec = VARIANTS[variant]
        dropout = spec.dropout if dropout is None else dropout
        drop_path_rate = spec.drop_path_rate if drop_path_rate is None else drop_path_rate
        _check_range("dropout", dropout)
        _check_range("drop_path_rate", drop_path_rate)

        self.variant = variant
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.num_features = self.out_channels = spec.head_channels

        self.stem = ConvNormAct(spatial_dims, in_channels, spec.stem_channels, kernel_size=3, stride=2)
        total = sum(stage.repeats for stage in spec.stages)
        blocks: list[nn.Module] = []
        channels = spec.stem_channels
        for stage in spec.stages:
            for i in range(stage.repeats):
                rate = drop_path_rate * len(blocks) / total
                blocks.append(self._make_block(stage, channels, stage.stride if i == 0 else 1, rate))
                channels = stage.channels
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvNormAct(spatial_dims, channels, spec.head_channels, kernel_size=1)
        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.dropout = Dropout[Dropout.DROPOUT, 1](dropout)
        self.classifier: nn.Module = nn.Linear(spec.head_channels, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _make_block(self, stage: StageSpec, in_channels: int, stride: int, rate: float) -> nn.Module:
        args = (self.spatial_dims, in_channels, stage.channels, stage.kernel_size, stride)
        if stage.block == "cn":
            return FusedConvBlock(*args, drop_path_rate=rate)
        if stage.block == "fused":
            return FusedMBConv(*args, expand_ratio=stage.expand_ratio, drop_path_rate=rate)
        return MBConv(*args, expand_ratio=stage.expand_ratio, se_ratio=stage.se_ratio, drop_path_rate=rate)

    def _init_weights(self) -> None:
        """He (fan-out) initialisation for convolutions, uniform for the classifier, as the reference."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.out_features**0.5
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Head activations before pooling, shape ``(B, num_features, *spatial / 32)``."""
        return self.head(self.blocks(self.stem(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features, shape ``(B, num_features)`` (no dropout)."""
        return torch.flatten(self.pool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)``, or the pooled features when ``num_classes`` is 0."""
        return self.classifier(self.dropout(self.features(x)))


def efficientnetv2_s(**kwargs) -> EfficientNetV2:
    """EfficientNetV2-S; keyword arguments as :class:`EfficientNetV2`."""
    return EfficientNetV2(variant="s", **kwargs)


def efficientnetv2_m(**kwargs) -> EfficientNetV2:
    """EfficientNetV2-M; keyword arguments as :class:`EfficientNetV2`."""
    return EfficientNetV2(variant="m", **kwargs)


def efficientnetv2_l(**kwargs) -> EfficientNetV2:
    """EfficientNetV2-L; keyword arguments as :class:`EfficientNetV2`."""
    return EfficientNetV2(variant="l", **kwargs)


def efficientnetv2_tiny(**kwargs) -> EfficientNetV2:
    """The small variant for CPU training on 3D crops; keyword arguments as :class:`EfficientNetV2`."""
    return EfficientNetV2(variant="tiny", **kwargs)
