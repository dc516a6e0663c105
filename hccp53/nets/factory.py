"""``build_classifier``: a phase-fusion classifier from a backbone name (what configs call)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monai.networks.nets import EfficientNetBN, resnet34, resnet101
from torch import nn

from hccp53.nets.bounded import BoundedLogOdds
from hccp53.nets.efficientnetv2 import EfficientNetV2
from hccp53.nets.ensemble import EnsembleNet
from hccp53.nets.fusion import FeatureFusionNet, MultiChannelNet
from hccp53.nets.slices import SliceNet

logger = logging.getLogger(__name__)

_V2 = {f"efficientnetv2_{v}": v for v in ("s", "m", "l", "tiny")}
_RESNETS: dict[str, Callable[..., nn.Module]] = {"resnet34": resnet34, "resnet101": resnet101}
#: The stem of a ResNet as He et al. built it: the 7-voxel convolution strides 2, then the max pool halves again.
#: MONAI's constructors default to stride 1, which runs the 64-channel stem at the crop's full resolution: on a
#: 48-voxel crop six times the work per batch (measured on 2 CPU cores: 17.6 s against 2.8 s for ResNet34 MC)
#: for features layer 4 reduces to the same 2-voxel grid anyway.
_RESNET_STEM = {"conv1_t_stride": 2}
_EFFNET_V1 = tuple(f"efficientnet-b{i}" for i in range(8))

#: Backbone names accepted by :func:`build_classifier`.
CLASSIFIER_NAMES: tuple[str, ...] = (*_V2, *_RESNETS, *_EFFNET_V1)
#: Fusion strategies accepted by :func:`build_classifier`.
FUSIONS: tuple[str, ...] = ("multichannel", "feature", "feature_attention")


def _make_backbone(
    name: str,
    spatial_dims: int,
    in_channels: int,
    num_classes: int,
    dropout: float | None,
    drop_path_rate: float | None,
    kwargs: Mapping[str, Any],
) -> nn.Module:
    """One backbone; ``num_classes`` 0 returns a pooled-feature encoder (no dropout) with ``num_features`` set."""
    if name in _V2:
        return EfficientNetV2(
            _V2[name], spatial_dims, in_channels, num_classes, dropout=dropout, drop_path_rate=drop_path_rate, **kwargs
        )
    if name in _RESNETS:
        net = _RESNETS[name](
            spatial_dims=spatial_dims, n_input_channels=in_channels, num_classes=max(num_classes, 1),
            **{**_RESNET_STEM, **kwargs},
        )
        fc_attr = "fc"
        if num_classes > 0 and dropout:  # dropout before the classifier, as EfficientNetV2 has it (seed 2's ResNets)
            net.fc = nn.Sequential(nn.Dropout(dropout), net.fc)
    else:
        net = EfficientNetBN(
            name, pretrained=False, spatial_dims=spatial_dims, in_channels=in_channels,
            num_classes=max(num_classes, 1), **kwargs,
        )  # fmt: skip
        fc_attr = "_fc"
    if num_classes == 0:
        net.num_features = getattr(net, fc_attr).in_features
        setattr(net, fc_attr, nn.Identity())
        if fc_attr == "_fc":
            net._dropout = nn.Identity()  # an encoder returns features; dropout belongs to the fusion head
    return net


def build_classifier(
    name: str,
    phases: Sequence[str],
    spatial_dims: int = 3,
    num_classes: int = 2,
    fusion: str = "multichannel",
    shared: bool = True,
    hidden_features: int | None = None,
    dropout: float | None = None,
    drop_path_rate: float | None = None,
    backbone_kwargs: Mapping[str, Any] | None = None,
    mask_channel: bool = False,
    slices: int | None = None,
    ensemble: int | None = None,
) -> nn.Module:
    """Build a classifier of MRI phases.

    Parameters
    ----------
    name
        Backbone, one of :data:`CLASSIFIER_NAMES`: ``efficientnetv2_s|m|l|tiny`` (:class:`EfficientNetV2`),
        MONAI ``resnet34`` / ``resnet101``, or MONAI ``EfficientNetBN`` (``efficientnet-b0`` … ``-b7``, the v1
        baseline, randomly initialised).
    phases
        Phase keys, in input-channel order; one phase gives a single-sequence model.
    spatial_dims
        2 or 3.
    num_classes
        Number of outputs.
    fusion
        ``"multichannel"`` (:class:`MultiChannelNet`), ``"feature"`` or ``"feature_attention"``
        (:class:`FeatureFusionNet` without / with phase attention).
    shared
        Feature fusion only: one encoder shared by all phases (True) or one per phase.
    hidden_features
        Feature fusion only: hidden width of an MLP head (``None``: linear head).
    dropout
        Dropout before the last linear layer: the EfficientNetV2 classifier's or a ``nn.Dropout`` before a
        MONAI ResNet's ``fc`` for ``multichannel``, the head's for feature fusion (``None``: the variant's
        default, none for a ResNet, 0 for the feature-fusion head). Not settable for a MONAI EfficientNetBN under
        ``multichannel``.
    drop_path_rate
        Stochastic depth of EfficientNetV2 backbones (``None``: the variant's default).
    backbone_kwargs
        Extra keyword arguments of the backbone constructor. A MONAI ResNet's stem strides 2 here
        (``conv1_t_stride=2``, the original ResNet's) unless these say otherwise.
    mask_channel
        Also take the tumor mask as input (see :mod:`hccp53.nets.fusion`).
    slices
        2.5D (:class:`~hccp53.nets.slices.SliceNet`): a 2D classifier of this many axial slices of the 3D crop,
        the case logit being the mean slice logit; ``spatial_dims`` stays 3 (the input). ``None``: no slicing.
    ensemble
        :class:`~hccp53.nets.ensemble.EnsembleNet` of this many networks built with the other arguments
        (the folds of a cross-validation), mean logit. ``None``: one network.

    Returns
    -------
    torch.nn.Module
        Maps a tensor ``(B, P, *spatial)`` (``P + 1`` channels with the mask last) or a dict phase ->
        ``(B, 1, *spatial)`` to logits ``(B, num_classes)``.

    Raises
    ------
    ValueError
        For an unknown name, fusion or phase, an unusable ``spatial_dims``, or an option the backbone lacks.
    """
    if name not in CLASSIFIER_NAMES:
        raise ValueError(f"Unknown classifier {name!r}; choose one of {list(CLASSIFIER_NAMES)}.")
    if fusion not in FUSIONS:
        raise ValueError(f"Unknown fusion {fusion!r}; choose one of {list(FUSIONS)}.")
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    is_v2 = name in _V2
    if drop_path_rate is not None and not is_v2:
        raise ValueError(f"{name} takes no drop_path_rate (only EfficientNetV2 backbones do); leave it unset.")
    if dropout is not None and fusion == "multichannel" and name in _EFFNET_V1:
        raise ValueError(f"{name} has no dropout setting under multichannel fusion; leave dropout unset.")
    if ensemble is not None:
        if ensemble < 1:
            raise ValueError(f"ensemble must be >= 1, got {ensemble}.")
        return EnsembleNet([build_classifier(name, phases, spatial_dims, num_classes, fusion, shared, hidden_features,
                                             dropout, drop_path_rate, backbone_kwargs, mask_channel, slices)
                            for _ in range(ensemble)])  # fmt: skip
    if slices is not None:
        if spatial_dims != 3:
            raise ValueError(f"slices takes 3D crops (spatial_dims 3), got spatial_dims {spatial_dims}.")
        inner = build_classifier(name, phases, 2, num_classes, fusion, shared, hidden_features, dropout,
                                 drop_path_rate, backbone_kwargs, mask_channel)  # fmt: skip
        return SliceNet(inner, slices)
    kwargs = dict(backbone_kwargs or {})
    logger.info("Building %s classifier %s for phases %s%s (%dD).", fusion, name, list(phases),
                " and the tumor mask" if mask_channel else "", spatial_dims)  # fmt: skip

    if fusion == "multichannel":

        def backbone(in_channels: int, n_out: int) -> nn.Module:
            return _make_backbone(name, spatial_dims, in_channels, n_out, dropout, drop_path_rate, kwargs)

        return _quiet_head(MultiChannelNet(backbone, phases, num_classes, mask_channel=mask_channel), num_classes)

    def encoder(in_channels: int) -> nn.Module:
        # An encoder returns features without dropout; dropout goes to the fusion head.
        return _make_backbone(name, spatial_dims, in_channels, 0, 0.0 if is_v2 else None, drop_path_rate, kwargs)

    fused = FeatureFusionNet(
        encoder,
        phases,
        num_classes,
        shared=shared,
        attention=fusion == "feature_attention",
        hidden_features=hidden_features,
        dropout=0.0 if dropout is None else dropout,
        mask_channel=mask_channel,
    )
    return _quiet_head(fused, num_classes)


def _quiet_head(net: nn.Module, num_classes: int) -> nn.Module:
    """``net`` with its last linear layer (the classifier) set to zero, so that it starts at chance.

    The backbones' own initialisations are made for 1000 classes. torchvision's uniform(±1/sqrt(out_features))
    is ±0.71 for two: over EfficientNetV2's 1280 features it gave an untrained network logit differences of
    SD 8.6 (cross-entropy 3.0 where chance is 0.69), and seed 2's EfficientNetV2 MC networks spent their whole
    training (mean loss 1.9 at best) shrinking them. A ResNet's 512 or 2048 non-negative pooled features
    offset every case's logits alike, even under small weights. A zero layer still learns at once: its
    gradient is the features times the error, and the layers below receive gradient from the first step on.
    """
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    if last.out_features != num_classes:  # the last layer registered must be the classifier
        raise AssertionError(f"{type(net).__name__}'s last linear layer has {last.out_features} outputs, not "
                             f"{num_classes}.")  # fmt: skip
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return net


def classifier_from_description(network: Mapping[str, Any]) -> nn.Module:
    """The classifier a trained-model description (``network.json``) names, with random weights.

    ``network`` holds ``backbone``, ``phases``, ``fusion``, ``shared_encoder``, ``dropout`` and optionally
    ``mask_channel``, ``slices`` and ``ensemble`` (see :func:`build_classifier`). A calibration with a
    ``log_odds_range`` wraps the network in :class:`~hccp53.nets.bounded.BoundedLogOdds`, and
    ``bounded_members`` each member of an ensemble (the bounds come with the weights).
    """
    classifier = build_classifier(network["backbone"], network["phases"], spatial_dims=3, num_classes=2,
                                  fusion=network["fusion"], shared=network["shared_encoder"],
                                  dropout=network["dropout"], mask_channel=bool(network.get("mask_channel", False)),
                                  slices=network.get("slices"), ensemble=network.get("ensemble"))  # fmt: skip
    if network.get("bounded_members"):  # an ensemble of calibrated, clamped folds (hccp53.training.ensemble)
        classifier.members = nn.ModuleList(BoundedLogOdds(m) for m in classifier.members)
    if "log_odds_range" in (network.get("calibration") or {}):
        return BoundedLogOdds(classifier)
    return classifier


def segmentation_from_description(description: Mapping[str, Any]) -> nn.Module:
    """The segmentation network a trained-model record (``segmentation.json``) names, with random weights.

    ``description["network"]`` names a network of :mod:`monai.networks.nets` (``"SegResNet"``) and
    ``description["network_args"]`` its constructor's arguments, all plain values (nothing is evaluated).

    Raises
    ------
    ConfigError
        The name is not a MONAI network or the arguments do not fit its constructor.
    """
    from monai.networks import nets

    from hccp53.errors import ConfigError

    name, args = description["network"], description["network_args"]
    factory = getattr(nets, str(name), None)
    if not (isinstance(factory, type) and issubclass(factory, nn.Module)) or not isinstance(args, Mapping):
        raise ConfigError(f"The segmentation record names the network {name!r} with arguments {args!r}; it must "
                          "name a class of monai.networks.nets (e.g. SegResNet) and a mapping of its arguments.")
    try:
        return factory(**args)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"The segmentation record's arguments do not fit {name} ({error}).") from None
