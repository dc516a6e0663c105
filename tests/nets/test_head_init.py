"""Every classifier starts at chance, whatever its backbone, and leaves it after one optimiser step."""

from __future__ import annotations

import math

import pytest
import torch

from hccp53.nets import build_classifier


@pytest.mark.parametrize(
    ("name", "fusion"),
    [("efficientnetv2_tiny", "multichannel"), ("efficientnetv2_tiny", "feature_attention"),
     ("resnet34", "multichannel"), ("resnet34", "feature"), ("efficientnet-b0", "multichannel")],
)  # fmt: skip
def test_untrained_classifier_is_at_chance_and_learns(name: str, fusion: str) -> None:
    torch.manual_seed(0)
    dropout = None if name.startswith("efficientnet-") else 0.3
    net = build_classifier(name, ["ap", "pvp", "dp"], 3, 2, fusion, dropout=dropout, mask_channel=True)
    x, y = torch.randn(4, 4, 32, 32, 32), torch.tensor([0, 1, 0, 1])
    net.train()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)  # torchvision's head init gave 3.0 here
    loss.backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    net.eval()
    with torch.no_grad():
        logits = net(x)
    assert (logits[:, 1] - logits[:, 0]).std() > 0  # out of the constant start: the cases differ
