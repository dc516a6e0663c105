"""The collapse guard: a classifier trained on an obvious signal must rank by it and spread its outputs.

The cohort here has one signal, tumor size (mutated tumors are larger), on three phases of noise with a
bright sphere: any working recipe separates it. Before the batch-norm fix (2026-12) the eval-mode network
gave such cohorts one probability for every case; this test keeps that from landing again. Also unit tests
of the pieces: exact batch-norm statistics, the Platt fold into the last layer, and the refusal to publish
constant outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from hccp53.checksums import record_checksums
from hccp53.cli import main
from hccp53.nets import build_classifier
from hccp53.training.batchnorm import recompute_batchnorm
from hccp53.training.calibration import fold_platt, network_logits, publish_classifier
from hccp53.training.guard import HISTORY_FILE, CollapsedModelError, output_spread

PHASES = ("t2", "ap", "pvp")


def _size_cohort(folder: Path, cases: int = 48, seed: int = 0) -> Path:
    """Cases of 3 noisy phases with one bright sphere; label 1 = radius 7-10 mm, label 0 = 3-6 mm."""
    rng = np.random.default_rng(seed)
    shape, spacing = (28, 28, 28), 2.0
    affine = np.diag([spacing, spacing, spacing, 1.0])
    grid = np.stack(np.meshgrid(*[np.arange(n) * spacing for n in shape], indexing="ij"), axis=-1)
    entries = []
    for i in range(cases):
        label = i % 2
        radius = rng.uniform(7.0, 10.0) if label else rng.uniform(3.0, 6.0)
        centre = (np.asarray(shape) / 2 + rng.uniform(-2, 2, 3)) * spacing
        sphere = np.linalg.norm(grid - centre, axis=-1) <= radius
        case = {"case_id": f"S{i:03d}", "label": label, "fold": (i // 2) % 4}
        for p, phase in enumerate(PHASES):
            image = rng.normal(100.0, 10.0, shape) + sphere * (60.0 + 20.0 * p)
            nib.save(nib.Nifti1Image(image.astype(np.float32), affine), folder / f"{case['case_id']}_{phase}.nii.gz")
            case[phase] = f"{case['case_id']}_{phase}.nii.gz"
        nib.save(nib.Nifti1Image(sphere.astype(np.uint8), affine), folder / f"{case['case_id']}_mask.nii.gz")
        case["mask"] = f"{case['case_id']}_mask.nii.gz"
        entries.append(case)
    path = folder / "datalist.json"
    path.write_text(json.dumps({"training": entries, "test": []}))
    return path


@pytest.fixture(scope="module")
def size_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _size_cohort(tmp_path_factory.mktemp("size_cohort"))


def test_training_on_an_obvious_signal_ranks_and_spreads(size_cohort: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cls"
    code = main(["train", "classifier", "--datalist", str(size_cohort), "--out", str(out), "--epochs", "6",
                 "--workers", "0", "--no-progress", "--set", "batch_size=8", "--set", "crop_size=[24, 24, 24]",
                 "--set", "crop_jitter=2", "--set", "early_stop_patience=6",
                 "--set", "learning_rate=0.003"])  # fmt: skip
    assert code == 0, capsys.readouterr().err[-3000:]
    history = json.loads((out / HISTORY_FILE).read_text())
    assert [row["epoch"] for row in history] == list(range(1, 7))
    published = json.loads((out / "network.json").read_text())
    validation = published["validation"]
    assert validation["cases"] == len(json.loads((out / "split.json").read_text())["val"]) == 12
    # what the published weights give, in eval mode, on the held-out fold
    assert validation["auc"] >= 0.9, validation
    assert validation["probability_sd"] >= 0.15, validation
    calibration = published["calibration"]
    assert calibration["method"] == "platt" and calibration["slope"] > 0
    assert calibration["calibrated_spread"]["probability_sd"] >= 0.15, calibration
    # the published log-odds are the Platt fit of the raw logits clipped to their 5th-95th percentiles
    predictions = np.genfromtxt(out / "validation_predictions.csv", delimiter=",", names=True, dtype=None)
    raw, logit = predictions["raw_logit"], predictions["logit"]
    lo, hi = calibration["raw_logit_range"]
    np.testing.assert_allclose((lo, hi), np.percentile(raw, [5, 95]), rtol=1e-5)
    np.testing.assert_allclose(logit, calibration["slope"] * np.clip(raw, lo, hi) + calibration["intercept"],
                               atol=1e-3)  # fmt: skip
    assert calibration["log_odds_range"] == pytest.approx([logit.min(), logit.max()], abs=1e-3)
    assert "weights and split.json" in capsys.readouterr().out


def test_recomputed_statistics_equal_those_of_the_whole_data() -> None:
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv3d(1, 4, 3), nn.BatchNorm3d(4, momentum=0.01), nn.Dropout(0.5))
    data = [torch.randn(6, 1, 8, 8, 8) * 3 + 2 for _ in range(5)]
    network.train()
    used = recompute_batchnorm(network, data, "cpu")
    assert used == 5 and network.training  # the mode is restored
    bn = network[1]
    assert bn.momentum == 0.01
    with torch.no_grad():
        outputs = [network[0](x) for x in data]
    means = torch.stack([o.mean((0, 2, 3, 4)) for o in outputs]).mean(0)
    variances = torch.stack([o.var((0, 2, 3, 4), unbiased=True) for o in outputs]).mean(0)
    torch.testing.assert_close(bn.running_mean, means, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, variances, rtol=1e-4, atol=1e-5)
    assert recompute_batchnorm(network, data, "cpu", max_batches=2) == 2


def _as_if_trained(network: nn.Module) -> nn.Module:
    """``network`` with random linear layers: an untrained classifier's last layer is zero (every case at chance),
    and these tests need logits that differ between cases."""
    for module in network.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.05)
    return network


def test_platt_folded_into_the_last_layer_gives_the_scaled_probability() -> None:
    torch.manual_seed(1)
    network = _as_if_trained(build_classifier("efficientnetv2_tiny", PHASES, spatial_dims=3))
    x = torch.randn(4, 3, 32, 32, 32)
    recompute_batchnorm(network, [x], "cpu", max_batches=1)  # statistics of these inputs: their logits differ
    network.eval()
    with torch.no_grad():
        before = network(x)
    d = before[:, 1] - before[:, 0]
    assert d.std() > 0.1
    fold_platt(network, 1.7, -0.4)
    with torch.no_grad():
        after = torch.softmax(network(x), dim=1)[:, 1]
    torch.testing.assert_close(after, torch.sigmoid(1.7 * d - 0.4), rtol=1e-5, atol=1e-6)


def test_the_calibrated_network_clamps_its_log_odds_and_is_rebuilt_from_its_description(tmp_path: Path) -> None:
    from hccp53.nets import BoundedLogOdds, EnsembleNet, classifier_from_description
    from hccp53.nets.weights import load_weights
    from hccp53.training.calibration import calibrate

    torch.manual_seed(2)
    description = {"backbone": "efficientnetv2_tiny", "phases": list(PHASES), "fusion": "multichannel",
                   "shared_encoder": True, "dropout": 0.2, "ensemble": 2}  # fmt: skip
    network = _as_if_trained(classifier_from_description(description)).eval()
    x = torch.randn(12, 3, 24, 24, 24)
    with torch.no_grad():
        raw = network(x)
    fold_platt(network, 3.0 / float((raw[:, 1] - raw[:, 0]).std()), 0.0)  # an untrained net's logits: spread them
    with torch.no_grad():
        raw = network(x)
    d = (raw[:, 1] - raw[:, 0]).numpy().astype(np.float64)
    labels = (d > np.median(d)).astype(int)
    labels[:2] = 1 - labels[:2]  # not separable: a finite Platt slope
    calibrated, fit = calibrate(network, d, labels, [10, 90])
    assert isinstance(calibrated, BoundedLogOdds) and isinstance(calibrated.network, EnsembleNet)
    lo, hi = np.percentile(d, [10, 90])
    expected = fit["slope"] * np.clip(d, lo, hi) + fit["intercept"]
    with torch.no_grad():
        out = calibrated(x)
    torch.testing.assert_close(out[:, 1] - out[:, 0], torch.as_tensor(expected, dtype=torch.float32), rtol=1e-4,
                               atol=1e-4)  # fmt: skip
    assert np.sum(np.isclose(expected, fit["log_odds_range"][1])) >= 2  # the top cases share the upper bound
    # a second Platt fit folds through the clamp (what the ensemble's pooled calibration does)
    fold_platt(calibrated, 2.0, 0.5)
    with torch.no_grad():
        again = calibrated(x)
    torch.testing.assert_close(again[:, 1] - again[:, 0], 2.0 * (out[:, 1] - out[:, 0]) + 0.5, rtol=1e-4, atol=1e-4)
    fold_platt(calibrated, 0.5, -0.25)  # and back
    # what a consumer builds from network.json holds the bounds once the weights are loaded
    torch.save(calibrated.state_dict(), tmp_path / "w.pt")
    record_checksums(tmp_path)
    rebuilt = classifier_from_description({**description, "calibration": fit}).eval()
    assert isinstance(rebuilt, BoundedLogOdds)
    load_weights(rebuilt, tmp_path / "w.pt")
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), out)


class _Constant(nn.Module):
    """A "trained" network whose output ignores its input (what a collapsed classifier looks like)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.zeros(len(x), 1)) + 1e-6 * x.flatten(1)[:, :1]


def test_constant_outputs_are_not_published(tmp_path: Path) -> None:
    network = _Constant()
    torch.save(network.state_dict(), tmp_path / "p53_classifier.pt")
    record_checksums(tmp_path)
    labels = torch.tensor([0, 1] * 8)
    batches = [{"image": torch.randn(16, 3, 4, 4, 4), "label": labels}]
    with pytest.raises(CollapsedModelError, match=r"nearly the same output to every validation case .* not published"):
        publish_classifier(network, batches, "cpu", tmp_path, "p53_classifier.pt", "network.json", 0.01)
    assert not (tmp_path / "p53_classifier.pt").exists()
    assert (tmp_path / "p53_classifier.pt.collapsed").is_file()


def test_network_logits_and_spread() -> None:
    network = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    batches = [{"image": torch.randn(5, 8), "label": torch.tensor([[1.0, 0.0]] * 5)}]
    logits, labels = network_logits(network, batches, "cpu")
    assert logits.shape == (5,) and labels.tolist() == [0] * 5
    spread = output_spread(np.array([-1.0, 1.0]))
    assert spread["logit_sd"] == pytest.approx(1.0)
    assert spread["probability_sd"] == pytest.approx(1 / (1 + np.exp(-1)) - 0.5)
