"""The trained-model folder's records (hccp53.model): read, checked against the weights, upgraded, built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hccp53.errors import ConfigError, InputError
from hccp53.model import SEGMENTATION_RECORD, read_model, upgrade_folder, weights_uid
from hccp53.nets import EnsembleNet, SliceNet, classifier_from_description, segmentation_from_description

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder)
    return folder


def test_the_record_builds_the_networks_it_describes() -> None:
    record = read_model(MODELS)
    network = segmentation_from_description(record.segmentation)
    assert type(network).__name__ == record.segmentation["network"] == "SegResNet"
    description = {**record.classifier, "slices": 5, "ensemble": 2}
    description.pop("calibration")
    built = classifier_from_description(description)
    assert isinstance(built, EnsembleNet) and all(isinstance(m, SliceNet) for m in built.members)


@pytest.mark.parametrize(("change", "message"), [
    ({"network": "NotANetwork"}, "must name a class of monai.networks.nets"),
    ({"network": "SegResNet", "network_args": {"no_such_argument": 1}}, "do not fit SegResNet"),
])  # fmt: skip
def test_a_segmentation_record_that_names_no_network_is_refused(change: dict, message: str) -> None:
    record = read_model(MODELS)
    with pytest.raises(ConfigError, match=message):
        segmentation_from_description({**record.segmentation, **change})


def test_the_uid_is_the_weights(models: Path) -> None:
    record = read_model(models)
    assert record.uid == weights_uid(record.sha256["p53_classifier.pt"], record.sha256["tumor_segmentation.pt"])
    assert record.uid != weights_uid(record.sha256["p53_classifier.pt"], "0" * 64)
    assert record.uid.startswith("2.25.") and len(record.uid) <= 64


def test_a_record_of_other_weights_is_refused(models: Path) -> None:
    path = models / SEGMENTATION_RECORD
    path.write_text(json.dumps({**json.loads(path.read_text()), "weights_sha256": "f" * 64}))
    with pytest.raises(ConfigError, match="describes weights with sha256 ffffffffffff.*not of these weights"):
        read_model(models)


def test_a_folder_without_records_says_how_to_upgrade_and_the_upgrade_restores_them(models: Path) -> None:
    """A bundle 0.3 folder: a two-class (background, tumor) SegResNet and a classifier record without the fields
    records gained since; the upgrade describes the segmentation network as bundle 0.3's config trained it."""
    import torch

    from hccp53.model.load import load_segmentation_network
    from hccp53.model.record import segmentation_description

    config = ROOT / "configs" / "train_segmentation.yaml"
    old = segmentation_description(config, {"reference_phase": "pvp", "liver": False})
    torch.manual_seed(0)
    torch.save(segmentation_from_description(old).state_dict(), models / "tumor_segmentation.pt")
    (models / SEGMENTATION_RECORD).unlink()
    classifier = json.loads((models / "network.json").read_text())
    for key in ("weights_sha256", "uid", "versions", "normalisation", "output_classes", "threshold"):
        classifier.pop(key)
    (models / "network.json").write_text(json.dumps(classifier))  # as bundle 0.3 shipped it
    with pytest.raises(ConfigError, match=r"python -m hccp53.model upgrade"):
        read_model(models)
    upgraded = upgrade_folder(models, config, "pvp")
    assert upgraded.segmentation["output_classes"] == ["background", "tumor"]
    assert upgraded.segmentation["network_args"]["out_channels"] == 2
    assert {k: upgraded.segmentation[k] for k in old} == old
    assert upgraded.threshold == 0.5 and upgraded.phases == read_model(MODELS).phases
    load_segmentation_network(upgraded, device="cpu")  # the weights fit the network the record describes


def test_a_folder_without_weights_or_with_unknown_phases_is_refused(models: Path) -> None:
    path = models / SEGMENTATION_RECORD
    path.write_text(json.dumps({**json.loads(path.read_text()), "phases": ["t2", "venous"]}))
    with pytest.raises(ConfigError, match="names the phases .* each must be one of"):
        read_model(models)
    (models / "tumor_segmentation.pt").unlink()
    with pytest.raises(InputError, match="has no tumor_segmentation.pt"):
        read_model(models)
    with pytest.raises(InputError, match="does not exist"):
        read_model(models / "nowhere")


def test_a_map_models_path_holding_the_folder_is_followed_into_it(tmp_path: Path) -> None:
    """`-m models` packs the folder as /opt/holoscan/models/models while HOLOSCAN_MODEL_PATH names its parent."""
    from hccp53.model import load_model

    model_path = tmp_path / "opt" / "holoscan" / "models"
    shutil.copytree(MODELS, model_path / "models")
    assert read_model(model_path).folder == model_path / "models"
    assert load_model(model_path, "cpu").record.uid == read_model(MODELS).uid
    shutil.copytree(MODELS, model_path / "retrained")
    with pytest.raises(InputError, match=r"holds 2 trained-model folders \(models, retrained\); point at one"):
        read_model(model_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="has no p53_classifier.pt"):
        read_model(empty)
