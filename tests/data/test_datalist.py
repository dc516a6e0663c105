"""Datalist checks before training: bad input gets one clear sentence, good input the right cases."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

from hccp53.data.datalist import (
    class_weights,
    classifier_cases,
    segmentation_cases,
    select_cases,
)
from hccp53.errors import ConfigError, InputError

PHASES = ["t2", "ap", "pvp"]


def _absolute(cohort: Path) -> dict[str, Any]:
    """The cohort's datalist with every NIfTI path made absolute, so a copy can live anywhere."""
    content = json.loads((cohort / "datalist.json").read_text())
    for section in ("training", "test"):
        for case in content[section]:
            for key, value in case.items():
                if isinstance(value, str) and value.endswith((".nii", ".nii.gz")):
                    case[key] = str((cohort / value).resolve())
    return content


def _write(folder: Path, name: str, content: Any) -> Path:
    """Write ``content`` as ``folder/name`` (a distinct name per edit: the reader is cached by path)."""
    path = folder / name
    path.write_text(json.dumps(content) if not isinstance(content, str) else content, encoding="utf-8")
    return path


def _assert_one_sentence(error: pytest.ExceptionInfo[InputError], case_id: str | None = None) -> None:
    message = str(error.value)
    assert "\n" not in message
    if case_id is not None:
        assert case_id in message


@pytest.fixture
def datalist(cohort: Path) -> dict[str, Any]:
    return _absolute(cohort)


# --- the datalist file itself --------------------------------------------------------------------------------------


def test_missing_datalist_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"does not exist") as error:
        classifier_cases(tmp_path / "nowhere.json", PHASES, "train", 0)
    _assert_one_sentence(error, "nowhere.json")


def test_datalist_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.json", '{"training": [')
    with pytest.raises(InputError, match=r"not readable JSON") as error:
        classifier_cases(path, PHASES, "train", 0)
    _assert_one_sentence(error, "broken.json")


@pytest.mark.parametrize("content", [{"test": []}, {"training": {"a": 1}}, [1, 2]], ids=["absent", "dict", "list"])
def test_datalist_without_training_list(tmp_path: Path, content: Any) -> None:
    path = _write(tmp_path, "no_training.json", content)
    with pytest.raises(InputError, match=r"no 'training' list") as error:
        select_cases(path, "training")
    _assert_one_sentence(error)


# --- cases of the cohort's datalist, edited ------------------------------------------------------------------------


def test_phase_file_missing(tmp_path: Path, datalist: dict[str, Any]) -> None:
    case = datalist["training"][0]
    case["ap"] = str(tmp_path / "gone" / "ap.nii.gz")
    path = _write(tmp_path, "missing_phase.json", datalist)
    with pytest.raises(InputError, match=r"ap file .* does not exist") as error:
        classifier_cases(path, PHASES, "training")
    _assert_one_sentence(error, case["case_id"])


def test_case_lacking_a_phase_key(tmp_path: Path, datalist: dict[str, Any]) -> None:
    case = datalist["training"][-1]
    del case["pvp"]
    path = _write(tmp_path, "no_pvp.json", datalist)
    with pytest.raises(InputError, match=r"has no 'pvp'.*incomplete_cases: skip leaves") as error:
        classifier_cases(path, PHASES, "training")
    _assert_one_sentence(error, case["case_id"])


def test_incomplete_cases_can_be_left_out(tmp_path: Path, datalist: dict[str, Any],
                                          caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    case = datalist["training"][-1]
    del case["pvp"]
    path = _write(tmp_path, "no_pvp.json", datalist)
    kept = classifier_cases(path, PHASES, "training", incomplete="skip")
    assert [c["case_id"] for c in kept] == [c["case_id"] for c in datalist["training"][:-1]]
    assert f"1 of {len(datalist['training'])} training cases lack one of" in caplog.text
    assert case["case_id"] in caplog.text


@pytest.mark.parametrize("label", [2, "1", None, 0.5], ids=["two", "string", "null", "half"])
def test_label_other_than_0_or_1(tmp_path: Path, datalist: dict[str, Any], label: Any) -> None:
    case = datalist["training"][1]
    case["label"] = label
    path = _write(tmp_path, f"label_{type(label).__name__}.json", datalist)
    with pytest.raises(InputError, match=r"has label .*labels must be 0 .* or 1") as error:
        classifier_cases(path, PHASES, "training")
    _assert_one_sentence(error, case["case_id"])
    assert repr(label) in str(error.value)


def test_only_one_class_in_the_part(tmp_path: Path, datalist: dict[str, Any]) -> None:
    for case in datalist["training"]:
        case["label"] = 1
    path = _write(tmp_path, "all_mutated.json", datalist)
    with pytest.raises(InputError, match=r"All \d+ cases have label 1; a classifier needs both classes") as error:
        classifier_cases(path, PHASES, "training")
    _assert_one_sentence(error)
    # Segmentation does not look at labels.
    assert len(segmentation_cases(path, PHASES, "training")) == len(datalist["training"])


def test_only_one_class_in_one_fold(tmp_path: Path, datalist: dict[str, Any]) -> None:
    fold = datalist["training"][0]["fold"]
    for case in datalist["training"]:
        if case["fold"] == fold:
            case["label"] = 0
    path = _write(tmp_path, "one_class_val.json", datalist)
    with pytest.raises(InputError, match=r"have label 0; a classifier needs both classes"):
        classifier_cases(path, PHASES, "val", fold)


def test_case_without_fold(tmp_path: Path, datalist: dict[str, Any]) -> None:
    case = datalist["training"][2]
    del case["fold"]
    path = _write(tmp_path, "no_fold.json", datalist)
    for part in ("train", "val"):
        with pytest.raises(InputError, match=r"has no whole-number 'fold'.*part 'training'") as error:
            select_cases(path, part, 0)
        _assert_one_sentence(error, case["case_id"])
    assert len(classifier_cases(path, PHASES, "training")) == len(datalist["training"])


def test_empty_part(tmp_path: Path, datalist: dict[str, Any]) -> None:
    path = _write(tmp_path, "folds.json", datalist)
    unused = max(case["fold"] for case in datalist["training"]) + 1
    with pytest.raises(InputError, match=rf"no val cases \(fold {unused}\)") as error:
        classifier_cases(path, PHASES, "val", unused)
    _assert_one_sentence(error)
    datalist["test"] = []
    path = _write(tmp_path, "no_test.json", datalist)
    with pytest.raises(InputError, match=r"no test cases"):
        select_cases(path, "test")


# --- voxel grids (small images written here) -----------------------------------------------------------------------


def _image(path: Path, size=(8, 8, 6), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)) -> str:
    image = sitk.GetImageFromArray(np.zeros(size[::-1], dtype=np.uint8))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    sitk.WriteImage(image, str(path))
    return str(path)


def _grid_datalist(folder: Path, name: str, **mask_grid: Any) -> Path:
    """Two cases (labels 0 and 1) whose phases share one grid; the first case's mask is on ``mask_grid``."""
    cases = []
    for index in range(2):
        case_dir = folder / name / f"G{index}"
        case_dir.mkdir(parents=True)
        case: dict[str, Any] = {"case_id": f"GRID{index}", "label": index}
        for phase in PHASES:
            case[phase] = _image(case_dir / f"{phase}.nii.gz")
        case["mask"] = _image(case_dir / "mask.nii.gz", **(mask_grid if index == 0 else {}))
        cases.append(case)
    return _write(folder, f"{name}.json", {"training": cases, "test": []})


def test_same_grid_passes(tmp_path: Path) -> None:
    path = _grid_datalist(tmp_path, "same")
    assert [c["case_id"] for c in classifier_cases(path, PHASES, "training")] == ["GRID0", "GRID1"]


@pytest.mark.parametrize(
    "mask_grid",
    [{"size": (8, 8, 5)}, {"spacing": (1.0, 1.0, 2.5)}, {"origin": (0.0, 5.0, 0.0)}],
    ids=["size", "spacing", "origin_5mm"],
)
def test_mask_on_another_grid(tmp_path: Path, mask_grid: dict[str, Any]) -> None:
    path = _grid_datalist(tmp_path, "grid_" + "_".join(mask_grid), **mask_grid)
    with pytest.raises(InputError, match=r"mask .* is not on the voxel grid of t2.*resample") as error:
        classifier_cases(path, PHASES, "training")
    _assert_one_sentence(error, "GRID0")
    with pytest.raises(InputError, match=r"is not on the voxel grid"):
        segmentation_cases(path, PHASES, "training")


def test_unreadable_image(tmp_path: Path) -> None:
    path = _grid_datalist(tmp_path, "unreadable")
    content = json.loads(path.read_text())
    Path(content["training"][0]["ap"]).write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"is not a readable image") as error:
        classifier_cases(_write(tmp_path, "unreadable2.json", content), PHASES, "training")
    _assert_one_sentence(error)


# --- good input ----------------------------------------------------------------------------------------------------


def test_train_and_val_partition_the_training_cases(cohort: Path) -> None:
    datalist = cohort / "datalist.json"
    training = json.loads(datalist.read_text())["training"]
    folds = {case["case_id"]: case["fold"] for case in training}
    train = classifier_cases(datalist, PHASES, "train", 0)
    val = classifier_cases(datalist, PHASES, "val", 0)
    train_ids, val_ids = {c["case_id"] for c in train}, {c["case_id"] for c in val}
    assert not train_ids & val_ids
    assert train_ids | val_ids == set(folds)
    assert all(folds[i] == 0 for i in val_ids) and all(folds[i] != 0 for i in train_ids)
    for case in train + val:
        assert set(case) == {"case_id", "label", "mask", *PHASES}
        assert case["label"] in (0, 1)
        for key in ("mask", *PHASES):
            assert os.path.isabs(case[key]) and Path(case[key]).is_file()


def test_a_held_out_fold_is_left_out_of_training_and_validation(tmp_path: Path, datalist: dict[str, Any]) -> None:
    for index, case in enumerate(datalist["training"]):
        case["fold"] = index % 3
    path = _write(tmp_path, "three_folds.json", datalist)
    folds = {case["case_id"]: case["fold"] for case in datalist["training"]}
    train = {c["case_id"] for c in select_cases(path, "train", fold=1, held_out=0)}
    val = {c["case_id"] for c in select_cases(path, "val", fold=1, held_out=0)}
    assert train == {i for i, f in folds.items() if f == 2}
    assert val == {i for i, f in folds.items() if f == 1}
    assert {c["case_id"] for c in select_cases(path, "train", fold=1)} == {i for i, f in folds.items() if f != 1}
    with pytest.raises(ConfigError, match="cannot also be the validation fold") as error:
        select_cases(path, "train", fold=1, held_out=1)
    assert "\n" not in str(error.value)


def test_segmentation_cases_put_the_mask_under_label(cohort: Path) -> None:
    datalist = cohort / "datalist.json"
    raw = {c["case_id"]: c for c in json.loads(datalist.read_text())["training"]}
    cases = segmentation_cases(datalist, ["pvp"], "val", 0)
    assert cases
    for case in cases:
        assert set(case) == {"case_id", "label", "pvp"}
        assert case["label"] == str((cohort / raw[case["case_id"]]["mask"]).resolve())
        assert Path(case["label"]).is_file()


def test_select_test_cases(cohort: Path) -> None:
    datalist = cohort / "datalist.json"
    expected = [c["case_id"] for c in json.loads(datalist.read_text())["test"]]
    cases = select_cases(datalist, "test")
    assert [c["case_id"] for c in cases] == expected
    assert all("_section" not in c for c in cases)
    assert all(Path(c["pvp"]).is_absolute() for c in cases)


def test_class_weights() -> None:
    labels = [0, 0, 0, 1]
    weights = class_weights([{"label": x} for x in labels])
    assert weights == pytest.approx([4 / 6, 4 / 2])
    assert np.mean([weights[x] for x in labels]) == pytest.approx(1.0)
    with pytest.raises(InputError, match=r"both labels"):
        class_weights([{"label": 1}, {"label": 1}])



def test_fold_must_be_a_whole_number(tmp_path: Path, datalist: dict[str, Any]) -> None:
    datalist["training"][0]["fold"] = "one"
    path = _write(tmp_path, "fold_text.json", datalist)
    with pytest.raises(InputError, match="whole-number 'fold'"):
        select_cases(path, "train", 0)


def test_a_boolean_label_is_refused(tmp_path: Path, datalist: dict[str, Any]) -> None:
    datalist["training"][0]["label"] = True
    path = _write(tmp_path, "label_bool.json", datalist)
    with pytest.raises(InputError, match="labels must be 0"):
        classifier_cases(path, PHASES, "training")


def test_cases_must_be_objects(tmp_path: Path) -> None:
    path = tmp_path / "strings.json"
    path.write_text('{"training": ["x.nii.gz"]}')
    with pytest.raises(InputError, match="must be a list of cases"):
        select_cases(path, "training")


def test_an_edited_datalist_is_read_again(tmp_path: Path, datalist: dict[str, Any]) -> None:
    path = _write(tmp_path, "edited.json", datalist)
    before = len(select_cases(path, "training"))
    datalist["training"] = datalist["training"][:2]
    path.write_text(json.dumps(datalist) + "\n" * 3)  # a different size, whatever the clock's resolution
    assert before > 2 and len(select_cases(path, "training")) == 2


def test_a_grid_mismatch_by_origin_names_the_origin(tmp_path: Path, datalist: dict[str, Any]) -> None:
    case = datalist["training"][0]
    image = sitk.ReadImage(case["mask"])
    image.SetOrigin(tuple(o + 5.0 for o in image.GetOrigin()))
    shifted = tmp_path / "shifted_mask.nii.gz"
    sitk.WriteImage(image, str(shifted))
    case["mask"] = str(shifted)
    path = _write(tmp_path, "origin_named.json", datalist)
    with pytest.raises(InputError, match="origin"):
        classifier_cases(path, PHASES, "training")
