"""EfficientNetV2: parameter counts against published figures, shapes, stochastic depth, SE, gradients."""

from __future__ import annotations

from functools import cache

import pytest
import torch
from monai.networks.layers import DropPath

from hccp53.nets.blocks import MBConv, SqueezeExcitation
from hccp53.nets.efficientnetv2 import VARIANTS, EfficientNetV2

# Reference parameter counts of the 2D ImageNet models (3 input channels, 1,000 classes): timm's
# `tf_efficientnetv2_s/m/l` model cards (huggingface/pytorch-image-models, ports of the official
# google/automl weights): 21.46M / 54.14M / 118.52M. The paper's Table 7 rounds them to 22M / 54M / 120M.
REFERENCE_PARAMS = {"s": 21.46e6, "m": 54.14e6, "l": 118.52e6}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@cache
def imagenet_model(variant: str) -> EfficientNetV2:
    """The 2D ImageNet configuration, built once per test session."""
    return EfficientNetV2(variant, spatial_dims=2, in_channels=3, num_classes=1000)


@pytest.mark.parametrize("variant", ["s", "m", "l"])
def test_parameter_count_matches_published(variant: str) -> None:
    count = n_params(imagenet_model(variant))
    assert count == pytest.approx(REFERENCE_PARAMS[variant], rel=0.03)


def test_tiny_variant_is_small() -> None:
    count = n_params(EfficientNetV2("tiny", spatial_dims=3, in_channels=3, num_classes=2))
    assert 3e5 <= count <= 2e6


@pytest.mark.parametrize("variant", ["s", "m", "l", "tiny"])
@pytest.mark.parametrize("train", [False, True])
def test_forward_shapes_2d(variant: str, train: bool) -> None:
    model = imagenet_model(variant).train(train)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64))
        feats = model.features(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 1000)
    assert feats.shape == (2, model.num_features) == (2, model.out_channels) == (2, 1280 if variant != "tiny" else 512)


@pytest.mark.parametrize(("variant", "shape"), [("tiny", (2, 3, 32, 64, 64)), ("s", (2, 2, 32, 32, 32))])
@pytest.mark.parametrize("train", [False, True])
def test_forward_shapes_3d(variant: str, shape: tuple[int, ...], train: bool) -> None:
    model = EfficientNetV2(variant, spatial_dims=3, in_channels=shape[1], num_classes=2).train(train)
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == (2, 2)
        assert model.feature_map(torch.randn(shape)).shape == (2, model.num_features, 1, *(s // 32 for s in shape[3:]))


def test_no_classifier_returns_features() -> None:
    model = EfficientNetV2("tiny", spatial_dims=3, in_channels=1, num_classes=0).eval()
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.features(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variant": "xl"}, r"Unknown EfficientNetV2 variant 'xl'; choose one of \['l', 'm', 's', 'tiny'\]"),
        ({"spatial_dims": 1}, r"spatial_dims must be one of \(2, 3\), got 1"),
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\), got 1.5"),
        ({"drop_path_rate": -0.1}, r"drop_path_rate must be in \[0, 1\)"),
        ({"in_channels": 0}, r"in_channels must be >= 1"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EfficientNetV2(**{"variant": "tiny", **kwargs})


def test_drop_path_grows_linearly() -> None:
    rate = 0.2
    model = EfficientNetV2("s", spatial_dims=2, drop_path_rate=rate)
    total = sum(stage.repeats for stage in VARIANTS["s"].stages)
    expected = {i: rate * i / total for i in range(total)}
    for i, block in enumerate(model.blocks):
        if block.has_skip:
            assert isinstance(block.drop_path, DropPath) or i == 0
            got = block.drop_path.drop_prob if isinstance(block.drop_path, DropPath) else 0.0
            assert got == pytest.approx(expected[i])
    assert model.blocks[-1].drop_path.drop_prob == pytest.approx(rate * (total - 1) / total)


def _tiny3d(dropout: float, drop_path_rate: float) -> EfficientNetV2:
    torch.manual_seed(0)
    return EfficientNetV2("tiny", spatial_dims=3, in_channels=3, num_classes=2, dropout=dropout,
                          drop_path_rate=drop_path_rate)  # fmt: skip


@pytest.mark.parametrize(("dropout", "drop_path_rate", "train_differs"), [(0.0, 0.5, True), (0.5, 0.5, True),
                                                                         (0.0, 0.0, False)])  # fmt: skip
def test_stochastic_depth_train_vs_eval(dropout: float, drop_path_rate: float, train_differs: bool) -> None:
    model = _tiny3d(dropout, drop_path_rate)
    x = torch.randn(4, 3, 32, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.train()
        a, b = model(x), model(x)
        assert (not torch.allclose(a, b)) is train_differs
        model.eval()
        torch.testing.assert_close(model(x), model(x))


def test_squeeze_excitation_matches_formula() -> None:
    torch.manual_seed(0)
    se = SqueezeExcitation(spatial_dims=2, channels=4, reduced_channels=2)
    x = torch.randn(2, 4, 3, 5)
    # Hand computation: y = x * sigmoid(W2 silu(W1 mean(x) + b1) + b2).
    w1, b1 = se.reduce.weight.reshape(2, 4), se.reduce.bias
    w2, b2 = se.expand.weight.reshape(4, 2), se.expand.bias
    z = x.mean(dim=(2, 3))
    h = z @ w1.T + b1
    h = h * (1.0 / (1.0 + torch.exp(-h)))
    s = 1.0 / (1.0 + torch.exp(-(h @ w2.T + b2)))
    torch.testing.assert_close(se(x), x * s[:, :, None, None])


def test_mbconv_se_width_is_quarter_of_block_input() -> None:
    block = MBConv(2, in_channels=64, out_channels=128, expand_ratio=4, se_ratio=0.25)
    se = next(m for m in block.modules() if isinstance(m, SqueezeExcitation))
    assert (se.reduce.in_channels, se.reduce.out_channels) == (256, 16)


def test_gradient_reaches_every_parameter() -> None:
    model = _tiny3d(dropout=0.2, drop_path_rate=0.0).train()
    x = torch.randn(2, 3, 32, 32, 32)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1]))
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
