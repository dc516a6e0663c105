"""Issue 23's check of the one contract between the stages: a trained-model folder with other phases and another
crop runs in the app, the in-process runner, the bundle's configs and `hccp53 evaluate` without another edit.

Both networks are trained for a moment on the session's 8-case cohort with the phases ``[ap, pvp, dp]`` (not
the shipped ``[t2, ap, pvp]``), a 12-voxel crop at 5 mm and 6 mm segmentation voxels; nothing but the folder
tells the consumers so. The networks are untrained in any useful sense: the test is about what each consumer
builds and feeds them, which must be the same to 1e-6 for the same volumes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hccp53.checksums import record_checksums
from hccp53.deploy import RESULT_FILE, STEPS, run_study
from hccp53.model import read_model
from hccp53.predictor import Predictor
from hccp53.settings import read_settings
from hccp53.training.runner import CONFIG_DIR, train
from hccp53.volumes.multiphase import MultiphaseVolumes
from hccp53.volumes.transforms import identity_transform

ROOT = CONFIG_DIR.parent
PHASES = ["ap", "pvp", "dp"]
CLASSIFIER = {"phases": PHASES, "crop_spacing_mm": [5.0, 5.0, 5.0], "crop_size": [12, 12, 12], "crop_jitter": 1,
              "batch_size": 2, "max_epochs": 1, "num_workers": 0, "progress": False, "cache_rate": 0.0}  # fmt: skip
SEGMENTATION = {"phases": PHASES, "spacing_mm": [6.0, 6.0, 6.0], "patch_size": [32, 32, 16], "samples_per_case": 1,
                "batch_size": 2, "max_epochs": 1, "val_interval": 1, "num_workers": 0, "progress": False,
                "cache_rate": 0.0}  # fmt: skip


@pytest.fixture(scope="module")
def folder(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two training runs' weights and records gathered into one trained-model folder, as `make weights` does."""
    root = tmp_path_factory.mktemp("contract")
    datalist = cohort / "datalist.json"
    train("classifier", datalist, root / "classifier", 0, CLASSIFIER)
    train("segmentation", datalist, root / "segmentation", 0, SEGMENTATION)
    models = root / "models"
    models.mkdir()
    for name in ("p53_classifier.pt", "network.json"):
        shutil.copy(root / "classifier" / name, models)
    for name in ("tumor_segmentation.pt", "segmentation.json"):
        shutil.copy(root / "segmentation" / name, models)
    record_checksums(models)
    return models


@pytest.fixture(scope="module")
def predictor(folder: Path) -> Predictor:
    return Predictor(folder, read_settings(), device="cpu")


def test_the_folder_records_what_training_was_given(folder: Path, cohort: Path) -> None:
    record = read_model(folder)
    assert record.phases == ("ap", "pvp", "dp") and record.reference_phase == "pvp"
    assert record.classifier["crop_size"] == [12, 12, 12] and record.segmentation["spacing_mm"] == [6.0, 6.0, 6.0]
    assert record.segmentation["network_args"]["in_channels"] == 3
    for network in (record.classifier, record.segmentation):
        assert network["training"]["datalist_sha256"] == network["training"]["datalist_sha256"]
        assert network["training"]["train_cases"] + network["training"]["val_cases"] == len(
            json.loads((cohort / "datalist.json").read_text())["training"])
        assert network["uid"].startswith("2.25.") and set(network["versions"]) == {"hccp53", "monai", "torch"}
    assert record.classifier["threshold"]["value"] == 0.5 and "training config" in record.classifier["threshold"][
        "chosen"]


def _without_timing_values(document: dict) -> dict:
    return {**document, "timings_s": dict.fromkeys(document["timings_s"], 0.0)}


def test_the_holoscan_app_and_run_study_write_the_same_result(folder: Path, predictor: Predictor, cohort: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    study = cohort / "cases" / "SYN0001" / "dicom"
    app_out, runner_out = tmp_path / "app", tmp_path / "runner"
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "-i", str(study), "-o", str(app_out), "-m",
                           str(folder)], capture_output=True, text=True, check=False, cwd=ROOT, env=dict(os.environ),
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    run_study(study, runner_out, predictor)
    by_app = json.loads((app_out / RESULT_FILE).read_text())
    by_runner = json.loads((runner_out / RESULT_FILE).read_text())
    assert list(by_app["timings_s"]) == list(by_runner["timings_s"]) == [f"{s}_s" for s in STEPS[:-1]]
    assert json.dumps(_without_timing_values(by_app), indent=2) == json.dumps(_without_timing_values(by_runner),
                                                                               indent=2)  # fmt: skip
    assert set(by_app["phases"]) == set(PHASES) and by_app["model"]["uid"] == read_model(folder).uid
    assert set(by_app["registration"]["phases"]) == {"ap", "dp"}  # every phase but the reference, with its report


def _volumes(case: Path, phases: tuple[str, ...]) -> MultiphaseVolumes:
    """A datalist case's NIfTI phases (on the pvp grid already) as the app's volume step hands them on."""
    images = {p: sitk.ReadImage(str(case / "nifti" / f"{p}.nii.gz"), sitk.sitkFloat32) for p in phases}
    return MultiphaseVolumes("pvp", images, {p: identity_transform(images["pvp"]) for p in phases})


def _bundle(config: str, folder: Path, cohort: Path, out: Path) -> None:
    from monai.bundle import ConfigWorkflow

    workflow = ConfigWorkflow(config_file=str(CONFIG_DIR / config), meta_file=str(CONFIG_DIR / "metadata.json"),
                              workflow_type="infer", bundle_root=str(ROOT), datalist=str(cohort / "datalist.json"),
                              models_dir=str(folder), output_dir=str(out), num_workers=0,
                              **({"report_enabled": False} if config == "evaluate.yaml" else {}))  # fmt: skip
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()


def test_the_bundle_inference_config_gives_the_predictor_probabilities(
    folder: Path, predictor: Predictor, cohort: Path, tmp_path: Path
) -> None:
    _bundle("inference.yaml", folder, cohort, tmp_path)
    by_bundle = json.loads((tmp_path / "lesions.json").read_text())
    assert set(by_bundle) == {c["case_id"] for c in json.loads((cohort / "datalist.json").read_text())["test"]}
    compared = 0
    for case_id, lesions in by_bundle.items():
        direct = predictor(_volumes(cohort / "cases" / case_id, predictor.phases))
        assert [round(lesion.volume_ml, 3) for lesion in direct.lesions] == [
            round(lesion["volume_ml"], 3) for lesion in lesions]
        for lesion, expected in zip(direct.lesions, lesions, strict=True):
            assert lesion.p53_probability == pytest.approx(expected["p53_probability"], abs=1e-6)
            assert lesion.confidence == pytest.approx(expected["confidence"], abs=1e-4)
            compared += 1
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"{case_id}_tumor.nii.gz"))) > 0
        labels = sitk.GetArrayFromImage(direct.labels) > 0  # the lesions: components of at least min_lesion_ml
        assert not (labels & ~mask).any()
    assert compared >= 1, "the tiny segmentation network found no lesion: nothing was compared"


def test_hccp53_evaluate_scores_as_the_bundle_evaluate_config(folder: Path, cohort: Path, tmp_path: Path) -> None:
    from hccp53.data.datalist import select_cases
    from hccp53.evaluation.scoring import read_classifier, score_cases

    _bundle("evaluate.yaml", folder, cohort, tmp_path)
    with open(tmp_path / "classifier" / "predictions.csv", newline="") as handle:
        expected = {r["case_id"]: float(r["p53_probability"]) for r in csv.DictReader(handle)}
    model = read_classifier("folder", folder)
    scores = score_cases([model], select_cases(cohort / "datalist.json", "test"), progress=False)
    assert set(scores.index) == set(expected) and model.phases == tuple(PHASES)
    np.testing.assert_allclose([scores.loc[c, "folder"] for c in expected], list(expected.values()), atol=1e-6)


LABEL_PYTHON = ROOT / "label" / ".venv" / "bin" / "python"
#: MONAI Label's infer task on one uploaded 4D stack, run in label/.venv (its own numpy and pydicom pins).
LABEL_INFER = """
import json, sys
from pathlib import Path
root, models, stack, work = (Path(a) for a in sys.argv[1:5])
sys.path[:0] = [str(root / "label"), str(root)]
from lib.bundle import load_bundle
from lib.infer import TumorSegmentation
bundle = load_bundle(root, models)
(work / "studies").mkdir()
task = TumorSegmentation(bundle, work / "studies", bundle.record.reference_phase, [models / "tumor_segmentation.pt"],
                         work / "model")
mask, result = task({"image": str(stack), "device": "cpu"})
print(json.dumps({"mask": mask, "phases": result.get("phases")}))
"""


@pytest.mark.label
@pytest.mark.skipif(not LABEL_PYTHON.exists(), reason="label/.venv does not exist (`make label-setup` creates it)")
def test_monai_labels_infer_task_proposes_the_apps_mask(folder: Path, predictor: Predictor, cohort: Path,
                                                        tmp_path: Path) -> None:  # fmt: skip
    import nibabel as nib

    from hccp53.transforms import sitk_to_metatensor

    case_id = json.loads((cohort / "datalist.json").read_text())["test"][0]["case_id"]
    phases = predictor.record.segmentation_phases
    images = [nib.load(cohort / "cases" / case_id / "nifti" / f"{p}.nii.gz") for p in phases]
    stack = tmp_path / "stack.nii.gz"  # the upload a MONAI Label client sends: the network's phases in order
    nib.save(nib.Nifti1Image(np.stack([np.asarray(i.dataobj, np.float32) for i in images], -1), images[0].affine),
             stack)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(LABEL_PYTHON), "-c", LABEL_INFER, str(ROOT), str(folder), str(stack), str(tmp_path)],
                          capture_output=True, text=True, check=False, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["phases"] == list(phases) == PHASES
    proposed = np.asarray(nib.load(answer["mask"]).dataobj) > 0
    volumes = _volumes(cohort / "cases" / case_id, predictor.phases)
    tensors = {p: sitk_to_metatensor(volumes.images[p]) for p in phases}
    settings = read_settings()
    by_app = predictor.model.segment(tensors, settings.sw_batch_size, settings.sw_overlap)[0][0].numpy() > 0
    assert proposed.shape == by_app.shape and proposed.any()
    assert int((proposed != by_app).sum()) == 0
