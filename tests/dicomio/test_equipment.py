"""The algorithm's Contributing Equipment item (IHE AIR 6.5.3.1): its Device UID is the model's and changes with
the weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hccp53.checksums import CHECKSUMS
from hccp53.dicomio.equipment import add_algorithm_equipment, algorithm_equipment
from hccp53.model import CLASSIFIER_RECORD, CLASSIFIER_WEIGHTS, read_model
from hccp53.predictor import algorithm_info

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder)
    return folder


def _retrained(folder: Path) -> None:
    """What publishing new classifier weights does to a folder's records, without training: a new sha256."""
    new = "0123456789abcdef" * 4
    for name, key in ((CLASSIFIER_RECORD, "weights_sha256"), (CHECKSUMS, CLASSIFIER_WEIGHTS)):
        content = json.loads((folder / name).read_text())
        content[key] = new
        (folder / name).write_text(json.dumps(content))


def test_the_device_uid_is_the_model_uid_and_changes_with_the_weights(models: Path) -> None:
    before = algorithm_equipment(algorithm_info(read_model(models), "cpu"))
    _retrained(models)
    record = read_model(models)
    after = algorithm_equipment(algorithm_info(record, "cpu"))
    assert after.DeviceUID == record.uid != before.DeviceUID
    assert before.DeviceUID == read_model(MODELS).uid
    for item in (before, after):
        assert (item.PurposeOfReferenceCodeSequence[0].CodeValue,
                item.PurposeOfReferenceCodeSequence[0].CodingSchemeDesignator) == ("1630", "99IHE")  # fmt: skip
        assert item.Manufacturer == "hccp53" and item.ManufacturerModelName and item.SoftwareVersions


def test_it_is_appended_to_what_is_there_and_declares_its_scheme_once(models: Path) -> None:
    from pydicom.dataset import Dataset

    algorithm = algorithm_info(read_model(models), "cpu")
    dataset = Dataset()
    add_algorithm_equipment(dataset, algorithm)
    add_algorithm_equipment(dataset, algorithm)
    assert len(dataset.ContributingEquipmentSequence) == 2
    assert [item.CodingSchemeDesignator for item in dataset.CodingSchemeIdentificationSequence] == ["99IHE"]
