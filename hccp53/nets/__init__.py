"""Networks: EfficientNetV2 on MONAI layers, fusion of MRI phases, and a classifier factory."""

from hccp53.nets.bounded import BoundedLogOdds
from hccp53.nets.efficientnetv2 import (
    VARIANTS,
    EfficientNetV2,
    efficientnetv2_l,
    efficientnetv2_m,
    efficientnetv2_s,
    efficientnetv2_tiny,
)
from hccp53.nets.ensemble import EnsembleNet
from hccp53.nets.factory import (
    CLASSIFIER_NAMES,
    FUSIONS,
    build_classifier,
    classifier_from_description,
    segmentation_from_description,
)
from hccp53.nets.fusion import FeatureFusionNet, MultiChannelNet, PhaseAttention
from hccp53.nets.slices import SliceNet

__all__ = [
    "CLASSIFIER_NAMES",
    "FUSIONS",
    "VARIANTS",
    "BoundedLogOdds",
    "EfficientNetV2",
    "EnsembleNet",
    "FeatureFusionNet",
    "MultiChannelNet",
    "PhaseAttention",
    "SliceNet",
    "build_classifier",
    "classifier_from_description",
    "efficientnetv2_l",
    "efficientnetv2_m",
    "efficientnetv2_s",
    "efficientnetv2_tiny",
    "segmentation_from_description",
]
