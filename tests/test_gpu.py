"""The app on a GPU gives the CPU's result (the app issue: the same result within 1e-3).

Marked ``gpu``: skipped, saying why, where torch sees no CUDA device (tests/conftest.py); run it on a machine
with one (``.venv/bin/python -m pytest -m gpu tests/test_gpu.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from hccp53.deploy import load_volumes, run_study
from hccp53.predictor import Predictor
from hccp53.settings import read_settings

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def predictors() -> dict[str, Predictor]:
    """Both networks on each device, loaded once for the module."""
    return {device: Predictor(ROOT / "models", read_settings(), device=device) for device in ("cpu", "cuda")}


@pytest.mark.parametrize("style", ["siemens", "ge_single"])
def test_the_gpu_gives_the_cpu_result(vendor_cohorts: dict[str, Path], predictors: dict[str, Predictor],
                                      style: str, tmp_path: Path) -> None:  # fmt: skip
    case = sorted((vendor_cohorts[style] / "cases").iterdir())[0]
    assert predictors["cuda"].amp  # the GPU run uses mixed precision, as the app does there
    _, _, volumes = load_volumes(case / "dicom", predictors["cpu"])
    predictions = {device: predictor(volumes) for device, predictor in predictors.items()}
    cpu, gpu = predictions["cpu"], predictions["cuda"]
    labels = {d: sitk.GetArrayFromImage(p.labels) > 0 for d, p in predictions.items()}
    dice = 2 * (labels["cpu"] & labels["cuda"]).sum() / (labels["cpu"].sum() + labels["cuda"].sum())
    assert dice >= 0.99, dice
    assert len(gpu.lesions) == len(cpu.lesions) >= 1
    assert gpu.probability == pytest.approx(cpu.probability, abs=1e-3)
    assert np.allclose([x.p53_probability for x in gpu.lesions], [x.p53_probability for x in cpu.lesions], atol=1e-3)
    result = run_study(case / "dicom", tmp_path / "out", predictors["cuda"])
    assert result["device"].startswith("cuda")
    assert result["p53_probability"] == pytest.approx(cpu.probability, abs=1e-3)
