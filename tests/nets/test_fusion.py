"""Phase fusion: multi-channel vs feature fusion, shared encoders, attention, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hccp53.nets.efficientnetv2 import EfficientNetV2
from hccp53.nets.fusion import FeatureFusionNet, MultiChannelNet, check_phases

SPATIAL = (32, 32, 32)


def backbone(in_channels: int, num_classes: int) -> nn.Module:
    return EfficientNetV2("tiny", spatial_dims=3, in_channels=in_channels, num_classes=num_classes)


def encoder(in_channels: int) -> nn.Module:
    return EfficientNetV2("tiny", spatial_dims=3, in_channels=in_channels, num_classes=0, dropout=0.0)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("phases", [("ap",), ("t2", "ap", "pvp")])
@pytest.mark.parametrize("kind", ["multichannel", "feature", "feature_attention", "feature_unshared"])
def test_output_shapes(phases: tuple[str, ...], kind: str) -> None:
    if kind == "multichannel":
        model = MultiChannelNet(backbone, phases, num_classes=2)
    else:
        model = FeatureFusionNet(encoder, phases, 2, shared=kind != "feature_unshared",
                                 attention=kind == "feature_attention", hidden_features=16)  # fmt: skip
    with torch.no_grad():
        assert model.eval()(torch.randn(2, len(phases), *SPATIAL)).shape == (2, 2)


def test_unshared_encoders_have_p_times_the_parameters() -> None:
    phases = ("t2", "ap", "pvp")
    shared = FeatureFusionNet(encoder, phases, 2, shared=True)
    unshared = FeatureFusionNet(encoder, phases, 2, shared=False)
    assert n_params(unshared.encoders) == len(phases) * n_params(shared.encoder)
    assert n_params(unshared.head) == n_params(shared.head)
    assert n_params(unshared) - n_params(shared) == (len(phases) - 1) * n_params(shared.encoder)


def test_attention_weights_sum_to_one() -> None:
    model = FeatureFusionNet(encoder, ("t2", "ap", "pvp", "hbp"), 2, attention=True).eval()
    with torch.no_grad():
        w = model.phase_weights(torch.randn(3, 4, *SPATIAL))
    assert w.shape == (3, 4)
    assert (w > 0).all()
    torch.testing.assert_close(w.sum(dim=1), torch.ones(3))


def test_dict_input_equals_tensor_input_and_ignores_extra_phases() -> None:
    torch.manual_seed(0)
    phases = ("t2", "ap", "pvp")
    model = FeatureFusionNet(encoder, phases, 2, shared=False, attention=True).eval()
    x = torch.randn(2, 3, *SPATIAL)
    as_dict = {p: x[:, i : i + 1] for i, p in enumerate(phases)} | {"hbp": torch.zeros(2, 1, *SPATIAL)}
    with torch.no_grad():
        torch.testing.assert_close(model(as_dict), model(x))


@pytest.mark.parametrize("model_cls", ["multichannel", "feature"])
def test_dict_missing_phase_raises(model_cls: str) -> None:
    phases = ("t2", "ap", "pvp")
    model = MultiChannelNet(backbone, phases) if model_cls == "multichannel" else FeatureFusionNet(encoder, phases)
    x = {"t2": torch.zeros(1, 1, *SPATIAL), "ap": torch.zeros(1, 1, *SPATIAL)}
    with pytest.raises(ValueError, match=r"Input is missing phase\(s\) \['pvp'\]; this model needs"):
        model(x)


def test_wrong_channel_count_raises() -> None:
    model = MultiChannelNet(backbone, ("t2", "ap", "pvp"))
    with pytest.raises(ValueError, match=r"expected \(B, 3, \*spatial\) with channels \['t2', 'ap', 'pvp'\]"):
        model(torch.zeros(1, 2, *SPATIAL))
    with pytest.raises(ValueError, match=r"Phase 't2' has shape \(1, 2, 32, 32, 32\)"):
        model({p: torch.zeros(1, 2, *SPATIAL) for p in ("t2", "ap", "pvp")})


@pytest.mark.parametrize(
    ("phases", "match"),
    [((), r"^No phase given in the network's phases; use some of t2, pre, ap, pvp, dp, hbp\.$"),
     (("t2", "art"), r"^Unknown phase\(s\) art in the network's phases; use some of t2, pre"),
     (("ap", "ap"), r"^Phase\(s\) ap given more than once in the network's phases; use some of")],
)
def test_bad_phases_raise(phases: tuple[str, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_phases(phases)


def test_encoder_without_num_features_raises() -> None:
    def bad_encoder(in_channels: int) -> nn.Module:
        return nn.Sequential(nn.Conv3d(in_channels, 4, 3), nn.AdaptiveAvgPool3d(1), nn.Flatten())

    with pytest.raises(ValueError, match="Encoder Sequential has no int attribute num_features"):
        FeatureFusionNet(bad_encoder, ("ap",))


@pytest.mark.parametrize("kind", ["multichannel", "feature", "feature_unshared"])
def test_the_mask_channel_is_one_more_input_and_is_used(kind: str) -> None:
    phases = ("t2", "ap", "pvp")
    if kind == "multichannel":
        model = MultiChannelNet(backbone, phases, 2, mask_channel=True)
    else:
        model = FeatureFusionNet(encoder, phases, 2, shared=kind == "feature", mask_channel=True)
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(2, 4, *SPATIAL)
    with torch.no_grad():
        out = model(x)
        as_dict = model({"t2": x[:, :1], "ap": x[:, 1:2], "pvp": x[:, 2:3], "mask": x[:, 3:]})
        no_mask = torch.cat([x[:, :3], torch.zeros_like(x[:, 3:])], dim=1)
        # an untrained feature-fusion head is nearly constant: compare the features it is given instead
        seen = model.backbone if kind == "multichannel" else model.phase_features
        reaches = not torch.allclose(seen(x), seen(no_mask))
    assert out.shape == (2, 2)
    torch.testing.assert_close(as_dict, out)
    assert reaches  # the mask reaches the backbone's output / every encoder's features
    with pytest.raises(ValueError, match="expected"):
        model(x[:, :3])  # the phases without the mask
