"""Building blocks of EfficientNetV2 (Tan & Le 2021, arXiv:2104.00298), for 2D or 3D inputs.

Every layer comes from the MONAI layer factories (``Conv``, ``Norm``, ``Pool``) indexed by
``spatial_dims``, so one definition serves images and volumes. The activation is ``nn.SiLU`` (the
paper's Swish with beta = 1): MONAI's ``Act["swish"]`` computes the same function but without the fused
kernel. Batch-norm keeps the reference epsilon (1e-3) but PyTorch's default momentum (0.1), not the
TensorFlow decay 0.99 (PyTorch momentum 0.01) of the reference and of MONAI's ``EfficientNetBN``: after ``n``
training steps a running statistic still holds ``(1 - momentum) ** n`` of its initial value, 2 % after 384
steps at 0.01. Our crops train for a few hundred steps, and the depth-wise layers' true variance is about
1e-3, so that remainder of the initial variance (1) swamped it and the eval-mode network gave every case the
same output (2026-12, ``docs/training.md``). A larger momentum is not enough on its own (on the 30 steps of
``tests/training/test_collapse_guard.py`` momentum 0.1 collapses as well), so training also recomputes the
statistics exactly before each validation (:func:`hccp53.training.batchnorm.recompute_batchnorm`).
"""

from __future__ import annotations

import torch
from monai.networks.layers import DropPath
from monai.networks.layers.factories import Conv, Norm, Pool
from torch import nn

#: Batch-norm settings: the reference epsilon, PyTorch's momentum (see the module docstring for why not 0.01).
BN_KWARGS: dict[str, float] = {"eps": 1e-3, "momentum": 0.1}


class ConvNormAct(nn.Sequential):
    """Convolution (no bias), batch-norm and, optionally, SiLU; "same" padding for odd kernels.

    Parameters
    ----------
    spatial_dims
        2 or 3.
    in_channels, out_channels
        Channel counts.
    kernel_size, stride
        Convolution kernel size and stride (isotropic).
    groups
        Convolution groups (``in_channels`` for a depth-wise convolution).
    act
        Whether a SiLU follows the batch-norm.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        conv_type = Conv[Conv.CONV, spatial_dims]
        norm_type = Norm[Norm.BATCH, spatial_dims]
        layers: list[nn.Module] = [
            conv_type(
                in_channels,
                out_channels,
                kernel_size=kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            norm_type(out_channels, **BN_KWARGS),
        ]
        if act:
            layers.append(nn.SiLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as used by EfficientNet.

    ``y = x * sigmoid(W2 · silu(W1 · mean(x) + b1) + b2)``, where the mean is over all spatial positions
    and ``W1`` / ``W2`` are 1×1 convolutions with bias (``channels → reduced_channels → channels``).

    Parameters
    ----------
    spatial_dims
        2 or 3.
    channels
        Channels of the tensor being gated (the expanded channels inside an MBConv block).
    reduced_channels
        Bottleneck width; EfficientNet uses ``round(0.25 × block input channels)``.
    """

    def __init__(self, spatial_dims: int, channels: int, reduced_channels: int) -> None:
        super().__init__()
        conv_type = Conv[Conv.CONV, spatial_dims]
        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.reduce = conv_type(channels, reduced_channels, kernel_size=1, bias=True)
        self.act = nn.SiLU(inplace=True)
        self.expand = conv_type(reduced_channels, channels, kernel_size=1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
        return x * s


class _ResidualBlock(nn.Module):
    """A block body with an identity shortcut and stochastic depth when shapes allow one."""

    def __init__(self, body: nn.Module, has_skip: bool, drop_path_rate: float) -> None:
        super().__init__()
        self.body = body
        self.has_skip = has_skip
        self.drop_path = DropPath(drop_path_rate) if has_skip and drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.has_skip:
            y = self.drop_path(y) + x
        return y


class FusedConvBlock(_ResidualBlock):
    """Fused-MBConv with expansion 1: a single k×k conv-BN-SiLU (timm's ``cn`` block of stage 0)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        drop_path_rate: float = 0.0,
    ) -> None:
        body = ConvNormAct(spatial_dims, in_channels, out_channels, kernel_size, stride)
        super().__init__(body, stride == 1 and in_channels == out_channels, drop_path_rate)


class FusedMBConv(_ResidualBlock):
    """Fused-MBConv (paper Fig. 2): k×k expansion conv-BN-SiLU, then 1×1 projection conv-BN (no SE).

    Parameters
    ----------
    spatial_dims, in_channels, out_channels, kernel_size, stride
        As for :class:`ConvNormAct`; ``stride`` applies to the expansion convolution.
    expand_ratio
        Hidden width = ``in_channels × expand_ratio``.
    drop_path_rate
        Stochastic-depth probability of this block (used only when it has an identity shortcut).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        expand_ratio: int = 4,
        drop_path_rate: float = 0.0,
    ) -> None:
        mid = in_channels * expand_ratio
        body = nn.Sequential(
            ConvNormAct(spatial_dims, in_channels, mid, kernel_size, stride),
            ConvNormAct(spatial_dims, mid, out_channels, kernel_size=1, act=False),
        )
        super().__init__(body, stride == 1 and in_channels == out_channels, drop_path_rate)


class MBConv(_ResidualBlock):
    """MBConv (inverted residual): 1×1 expansion, k×k depth-wise conv, squeeze-excitation, 1×1 projection.

    Parameters
    ----------
    spatial_dims, in_channels, out_channels, kernel_size, stride
        As for :class:`ConvNormAct`; ``stride`` applies to the depth-wise convolution.
    expand_ratio
        Hidden width = ``in_channels × expand_ratio``.
    se_ratio
        SE bottleneck = ``round(in_channels × se_ratio)`` (of the block input, as in the reference code);
        0 disables SE.
    drop_path_rate
        Stochastic-depth probability of this block (used only when it has an identity shortcut).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        expand_ratio: int = 4,
        se_ratio: float = 0.25,
        drop_path_rate: float = 0.0,
    ) -> None:
        mid = in_channels * expand_ratio
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(spatial_dims, in_channels, mid, kernel_size=1))
        layers.append(ConvNormAct(spatial_dims, mid, mid, kernel_size, stride, groups=mid))
        if se_ratio > 0:
            layers.append(SqueezeExcitation(spatial_dims, mid, max(1, round(in_channels * se_ratio))))
        layers.append(ConvNormAct(spatial_dims, mid, out_channels, kernel_size=1, act=False))
        super().__init__(nn.Sequential(*layers), stride == 1 and in_channels == out_channels, drop_path_rate)
