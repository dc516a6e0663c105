"""The segmentation network's lesion-confidence floor (hccp53.model.lesion_floor, ``python -m hccp53.model``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hccp53.errors import InputError
from hccp53.model import read_model
from hccp53.model.__main__ import main
from hccp53.model.lesion_floor import choose_floor
from hccp53.predictor import algorithm_info

ROOT = Path(__file__).resolve().parents[2]


def _lesion(confidence: float, true: bool, index: int = 2, study: str = "SYN0001") -> dict:
    return {"style": "varied", "study": study, "index": index, "confidence": confidence, "true": true,
            "away": not true, "volume_ml": 1.0}  # fmt: skip


def test_separated_lesions_get_the_floor_halfway_between_them() -> None:
    chosen = choose_floor([_lesion(0.44, False), _lesion(0.50, False), _lesion(0.71, True), _lesion(0.90, True),
                           _lesion(0.10, False, index=1)])  # a study's first lesion does not count  # fmt: skip
    assert chosen["min_lesion_confidence"] == pytest.approx(0.605)
    evidence = chosen["min_lesion_confidence_evidence"]
    assert (evidence["false_lesions"], evidence["true_lesions"]) == (2, 2)
    assert (evidence["false_kept"], evidence["true_dropped"]) == (0, 0)


def test_overlapping_lesions_get_the_floor_with_the_fewest_errors() -> None:
    # true at 0.55 sits among the false ones: 0.525 keeps the false 0.60, 0.70 drops the true 0.55 (1 error
    # each); the lower is chosen
    chosen = choose_floor([_lesion(0.40, False), _lesion(0.50, False), _lesion(0.60, False), _lesion(0.55, True),
                           _lesion(0.80, True), _lesion(0.85, True)])  # fmt: skip
    assert chosen["min_lesion_confidence"] == pytest.approx(0.525)
    evidence = chosen["min_lesion_confidence_evidence"]
    assert evidence["false_kept"] + evidence["true_dropped"] == 1


def test_without_a_false_lesion_there_is_no_floor_to_set() -> None:
    with pytest.raises(InputError, match="No false lesion"):
        choose_floor([_lesion(0.8, True), _lesion(0.2, False, index=1)])


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(ROOT / "models", folder)
    return folder


def _file(path: Path, uid: str, lesions: list[dict], floor: float = 0.0) -> Path:
    path.write_text(json.dumps({"model_uid": uid, "profile": "full", "min_lesion_confidence": floor,
                                "lesions": lesions}))  # fmt: skip
    return path


def test_the_command_writes_the_floor_and_its_evidence_into_the_record(
        models: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    uid = read_model(models).uid
    lesions = [_lesion(0.44, False), _lesion(0.71, True, study="SYN0002"), _lesion(0.9, True, index=1)]
    other = _file(tmp_path / "b.json", uid, [_lesion(0.9, True, index=1)])  # another cohort: its SYN0001 differs
    assert main(["lesion-floor", str(models), "--lesions", str(_file(tmp_path / "a.json", uid, lesions)),
                 str(other)]) == 0
    assert "floor 0.575" in capsys.readouterr().out
    record = read_model(models)  # still a valid folder: the weights, their sha256 and the UID are unchanged
    assert record.uid == uid and record.min_lesion_confidence == pytest.approx(0.575)
    evidence = record.segmentation["min_lesion_confidence_evidence"]
    assert evidence["styles"] == ["varied"] and evidence["studies"] == 3
    # the UID follows the weights only, so the SR's algorithm parameters name the floor in effect
    assert algorithm_info(record, "cpu").parameters["min_lesion_confidence"] == "0.575"
    assert evidence["files"] == ["a.json", "b.json"]


@pytest.mark.parametrize(("uid", "style", "floor", "message"), [
    ("2.25.1", "varied", 0.0, "measured with model 2.25.1, not this folder's"),
    (None, "heldout", 0.0, "held-out style"),
    (None, "varied", 0.6, "floor in effect"),
])  # fmt: skip
def test_lesions_of_another_model_of_the_held_out_style_or_behind_a_floor_are_refused(
        models: Path, tmp_path: Path, capsys: pytest.CaptureFixture, uid: str | None, style: str, floor: float,
        message: str) -> None:  # fmt: skip
    lesions = [{**_lesion(0.4, False), "style": style}, _lesion(0.8, True)]
    path = _file(tmp_path / "lesions.json", uid or read_model(models).uid, lesions, floor)
    before = (models / "segmentation.json").read_bytes()
    assert main(["lesion-floor", str(models), "--lesions", str(path)]) == 1
    assert message in capsys.readouterr().err
    assert (models / "segmentation.json").read_bytes() == before  # nothing written


def test_new_weights_published_into_the_folder_do_not_inherit_its_floor(models: Path) -> None:
    from hccp53.model import finish_record

    path = models / "segmentation.json"
    record = json.loads(path.read_text())
    record.update({"min_lesion_confidence": 0.6, "min_lesion_confidence_evidence": {"files": ["a.json"]}})
    path.write_text(json.dumps(record))
    finish_record(models, "tumor_segmentation.pt", "segmentation.json", {})  # the same weights: the floor stays
    assert json.loads(path.read_text())["min_lesion_confidence"] == 0.6
    weights = models / "tumor_segmentation.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")  # other weights (a retraining into this folder)
    finish_record(models, "tumor_segmentation.pt", "segmentation.json", {})
    published = json.loads(path.read_text())
    assert "min_lesion_confidence" not in published and "min_lesion_confidence_evidence" not in published
    assert published["network"] == record["network"]  # the rest of the record is kept
