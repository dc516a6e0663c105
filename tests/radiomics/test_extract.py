"""pyradiomics extraction from the synthetic cohort: names, shape once, cache reuse and invalidation, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hccp53.errors import InputError
from hccp53.radiomics import extract
from hccp53.radiomics.extract import PerturbedMaskError, extract_case, extract_cohort


@pytest.fixture(scope="module")
def two_cases(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A datalist of two cases of the session cohort (one training, one test)."""
    content = json.loads((cohort / "datalist.json").read_text())
    small = {**content, "training": content["training"][:1], "test": content["test"][:1]}
    path = tmp_path_factory.mktemp("radiomics") / "datalist.json"
    for case in (*small["training"], *small["test"]):
        for key in ("t2", "ap", "pvp", "hbp", "mask"):
            if key in case:
                case[key] = str(cohort / case[key])
    path.write_text(json.dumps(small))
    return path


def test_features_are_named_by_phase_with_shape_once(two_cases: Path) -> None:
    case = json.loads(two_cases.read_text())["training"][0]
    features = extract_case(case, ("ap", "pvp"))
    assert all(np.isfinite(list(features.values())))
    shape = [k for k in features if k.startswith("shape_")]
    ap = [k for k in features if k.startswith("ap_")]
    assert len(shape) > 10 and len(ap) > 500 and len([k for k in features if k.startswith("pvp_")]) == len(ap)
    assert "ap_wavelet-LLH_glcm_Idm" in features and "ap_log-sigma-2-0-mm-3D_firstorder_Mean" in features
    assert not any(k.startswith(("diagnostics", "ap_original_shape")) for k in features)


def test_cohort_cache_is_reused_and_invalidated(two_cases: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    cache = tmp_path / "features.csv"
    first = extract_cohort(two_cases, ("pvp",), cache=cache, progress=False)
    assert list(first["split"]) == ["training", "test"] and first["label"].isin([0, 1]).all()
    calls = []
    original = extract.extract_case
    monkeypatch.setattr(extract, "extract_case", lambda *a, **k: calls.append(a) or original(*a, **k))
    again = extract_cohort(two_cases, ("pvp",), cache=cache, progress=False)
    assert calls == []
    np.testing.assert_allclose(again.drop(columns=["split", "label"]).to_numpy(dtype=float),
                               first.drop(columns=["split", "label"]).to_numpy(dtype=float))  # fmt: skip
    extract_cohort(two_cases, ("pvp", "ap"), cache=cache, progress=False)  # other phases: the cache is stale
    assert len(calls) == 2


def test_a_stopped_extraction_resumes_from_the_cache(two_cases: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The cache is written as cases are extracted: a run stopped at the second case keeps the first."""
    cache = tmp_path / "features.csv"
    monkeypatch.setattr(extract, "_SAVE_EVERY", 1)
    calls = []
    original = extract.extract_case

    def stop_at_the_second(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args[0]["case_id"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(extract, "extract_case", stop_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        extract_cohort(two_cases, ("pvp",), cache=cache, progress=False)
    first_id = calls[0]
    assert list(pd.read_csv(cache, dtype={"case_id": str})["case_id"]) == [first_id]
    calls.clear()
    monkeypatch.setattr(extract, "extract_case", lambda *a, **k: calls.append(a[0]["case_id"]) or original(*a, **k))
    features = extract_cohort(two_cases, ("pvp",), cache=cache, progress=False)
    assert len(calls) == 1 and calls[0] != first_id  # only the case the stopped run had not finished
    assert len(features) == 2 and not features.drop(columns=["split", "label"]).isna().any().any()


def test_missing_phase_mask_and_empty_mask(two_cases: Path, tmp_path: Path) -> None:
    case = json.loads(two_cases.read_text())["training"][0]
    with pytest.raises(InputError, match="has no phase dp"):
        extract_case({k: v for k, v in case.items() if k != "dp"}, ("dp",))
    with pytest.raises(InputError, match="has no tumor mask"):
        extract_case({k: v for k, v in case.items() if k != "mask"}, ("ap",))
    mask = sitk.ReadImage(case["mask"])
    empty = tmp_path / "empty.nii.gz"
    sitk.WriteImage(mask * 0, str(empty))
    with pytest.raises(InputError, match="has no voxel of label 1"):
        extract_case({**case, "mask": str(empty)}, ("ap",))


def test_cohort_extraction_can_be_restricted_to_some_cases(two_cases: Path) -> None:
    first = json.loads(two_cases.read_text())["training"][0]["case_id"]
    features = extract_cohort(two_cases, ("pvp",), progress=False, case_ids={first})
    assert list(features.index) == [first] and list(features["split"]) == ["training"]


def test_features_inside_the_eroded_and_dilated_masks(two_cases: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    case = json.loads(two_cases.read_text())["training"][0]
    volume = {how: extract_case(case, ("pvp",), perturbation=how)["shape_VoxelVolume"]
              for how in (None, "erode", "dilate")}  # fmt: skip
    assert volume["erode"] < volume[None] < volume["dilate"]
    # a tumor one voxel thick: nothing is left once eroded
    mask = sitk.ReadImage(case["mask"])
    flat = np.zeros(sitk.GetArrayViewFromImage(mask).shape, np.uint8)
    flat[flat.shape[0] // 2, 10:20, 10:20] = 1
    thin = sitk.GetImageFromArray(flat)
    thin.CopyInformation(mask)
    sitk.WriteImage(thin, str(tmp_path / "thin.nii.gz"))
    thin_case = {**case, "case_id": "THIN", "mask": str(tmp_path / "thin.nii.gz")}
    with pytest.raises(PerturbedMaskError, match="no voxel left once eroded by one voxel"):
        extract_case(thin_case, ("pvp",), perturbation="erode")
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": [thin_case, case]}))
    table = extract_cohort(datalist, ("pvp",), parts=("training",), perturbation="erode", progress=False)
    values = table.drop(columns=["split", "label"])
    assert values.loc[thin_case["case_id"]].isna().all() and values.loc[case["case_id"]].notna().all()
    assert "The ICC filter leaves the case out" in caplog.text
    # a missing image stays an error, perturbed mask or not
    datalist.write_text(json.dumps({"training": [{**case, "pvp": str(tmp_path / "missing.nii.gz")}]}))
    with pytest.raises(InputError, match="missing.nii.gz does not exist"):
        extract_cohort(datalist, ("pvp",), parts=("training",), perturbation="dilate", progress=False)
