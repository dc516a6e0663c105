"""build_classifier: every backbone name builds and runs a small 3D forward under each fusion."""

from __future__ import annotations

import pytest
import torch

from hccp53.nets import build_classifier
from hccp53.nets.fusion import FeatureFusionNet, MultiChannelNet

NAMES = [
    "efficientnetv2_s",
    "efficientnetv2_m",
    "efficientnetv2_l",
    "efficientnetv2_tiny",
    "resnet34",
    "resnet101",
    "efficientnet-b0",
]
#: The smallest cube every backbone accepts: EfficientNet and ResNet downsample by 32.
SMALLEST = (32, 32, 32)


@pytest.mark.parametrize("fusion", ["multichannel", "feature_attention"])
@pytest.mark.parametrize("name", NAMES)
def test_builds_and_runs_3d(name: str, fusion: str) -> None:
    model = build_classifier(name, phases=("t2", "ap", "pvp"), spatial_dims=3, num_classes=2, fusion=fusion).eval()
    assert isinstance(model, MultiChannelNet if fusion == "multichannel" else FeatureFusionNet)
    with torch.no_grad():
        assert model(torch.randn(2, 3, *SMALLEST)).shape == (2, 2)


@pytest.mark.parametrize("name", ["resnet34", "efficientnetv2_tiny"])
def test_feature_encoders_return_features_without_dropout(name: str) -> None:
    # Stochastic depth is switched off: this test is about the encoder's dropout, which must be gone.
    no_drop_path = {"drop_path_rate": 0.0} if name.startswith("efficientnetv2") else {}
    model = build_classifier(name, phases=("ap",), fusion="feature", **no_drop_path).train()
    x = torch.randn(2, 1, *SMALLEST)
    # Train-mode batch-norm is deterministic for a fixed batch, so only dropout could make the two calls differ.
    with torch.no_grad():
        torch.testing.assert_close(model.phase_features(x), model.phase_features(x))
    assert model.phase_features(x).shape == (2, 1, model.num_features)


def test_efficientnet_v1_encoder_has_no_dropout() -> None:
    # MONAI's EfficientNetBN also drops connections in train mode (its own stochastic depth), so check the layer.
    model = build_classifier("efficientnet-b0", phases=("ap",), fusion="feature")
    assert isinstance(model.encoder._dropout, torch.nn.Identity)
    assert isinstance(model.encoder._fc, torch.nn.Identity)
    assert model.num_features == 1280


def test_single_phase_unshared_2d() -> None:
    model = build_classifier("efficientnetv2_tiny", phases=["pvp"], spatial_dims=2, fusion="feature", shared=False,
                             hidden_features=8, dropout=0.1).eval()  # fmt: skip
    with torch.no_grad():
        assert model({"pvp": torch.randn(2, 1, 64, 64)}).shape == (2, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "vit"}, r"Unknown classifier 'vit'; choose one of \['efficientnetv2_s'"),
        ({"fusion": "late"}, r"Unknown fusion 'late'; choose one of \['multichannel', 'feature', 'feature_att"),
        ({"spatial_dims": 4}, "spatial_dims must be 2 or 3, got 4"),
        ({"name": "resnet34", "drop_path_rate": 0.1}, "resnet34 takes no drop_path_rate"),
        ({"name": "efficientnet-b0", "dropout": 0.1}, "efficientnet-b0 has no dropout setting under multichannel"),
        ({"phases": ("t1",)}, r"Unknown phase\(s\) t1 in the network's phases"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_classifier(**{"name": "efficientnetv2_tiny", "phases": ("t2", "ap", "pvp"), **kwargs})


def test_slices_classify_axial_slices_with_a_2d_network_and_average_their_logits() -> None:
    import torch

    from hccp53.nets import SliceNet, build_classifier
    from hccp53.nets.slices import central_slices

    torch.manual_seed(0)
    net = build_classifier("efficientnetv2_tiny", ("t2", "ap", "pvp"), slices=3).eval()
    assert isinstance(net, SliceNet) and net.network.backbone.spatial_dims == 2
    x = torch.randn(2, 3, 24, 24, 16)
    index = central_slices(16, 3)
    assert index == [4, 8, 11]
    with torch.no_grad():
        expected = torch.stack([net.network(x[..., i]) for i in index]).mean(0)
        torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-6)
    assert central_slices(4, 9) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="spatial_dims 3"):
        build_classifier("efficientnetv2_tiny", ("t2",), spatial_dims=2, slices=3)


def test_a_resnet_takes_the_configs_dropout_before_its_classifier() -> None:
    """Seed 2's ResNet34 (multi-channel) and ResNet101 (feature fusion) build with train_classifier.yaml's dropout."""
    import torch
    from torch import nn

    from hccp53.nets import build_classifier

    mc = build_classifier("resnet34", ("ap", "pvp", "dp"), dropout=0.3, mask_channel=True)
    fc = mc.backbone.fc
    assert isinstance(fc, nn.Sequential) and isinstance(fc[0], nn.Dropout) and fc[0].p == 0.3
    assert isinstance(fc[1], nn.Linear) and fc[1].out_features == 2
    ff = build_classifier("resnet101", ("ap", "pvp", "dp"), fusion="feature", dropout=0.3)
    with torch.no_grad():
        assert mc.eval()(torch.randn(1, 4, 16, 16, 16)).shape == (1, 2)
        assert ff.eval()(torch.randn(1, 3, 16, 16, 16)).shape == (1, 2)
    unset = build_classifier("resnet34", ("ap",), dropout=None)  # as the recipes trained before: same weights' keys
    assert isinstance(unset.backbone.fc, nn.Linear)


def test_a_resnets_stem_strides_two_unless_told_otherwise() -> None:
    """The original ResNet's stem (stride 2), not MONAI's full-resolution one; backbone_kwargs can still ask for it."""
    from hccp53.nets import build_classifier

    default = build_classifier("resnet34", ("ap", "pvp", "dp"), mask_channel=True)
    assert default.backbone.conv1.stride == (2, 2, 2)
    full = build_classifier("resnet34", ("ap",), backbone_kwargs={"conv1_t_stride": 1})
    assert full.backbone.conv1.stride == (1, 1, 1)
