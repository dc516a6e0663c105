"""Smoke tests of every bundle workflow on a tiny synthetic cohort: train (1 epoch), evaluate, infer, export.

Each workflow runs through :class:`monai.bundle.ConfigWorkflow` with ``check_properties()``, with the
networks and crops shrunk by config overrides so that the whole module runs in a couple of minutes on
two CPU cores. The 2-process ``torchrun`` run uses the gloo backend.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigWorkflow, ckpt_export, verify_net_in_out

from hccp53.checksums import expected_checksum, record_checksums, sha256_of
from hccp53.nets.weights import load_weights
from hccp53.training.runner import CONFIG_DIR, train

ROOT = CONFIG_DIR.parent
META = str(CONFIG_DIR / "metadata.json")
# small enough for CI: 16^3 crops at 4 mm, 32x32x16 patches at 6 mm
CLASSIFIER = {"crop_spacing_mm": [4.0, 4.0, 4.0], "crop_size": [16, 16, 16], "crop_jitter": 2, "batch_size": 2,
              "max_epochs": 1, "num_workers": 0, "progress": False, "cache_rate": 0.0}  # fmt: skip
SEGMENTATION = {"spacing_mm": [6.0, 6.0, 6.0], "patch_size": [32, 32, 16], "samples_per_case": 1, "batch_size": 2,
                "max_epochs": 1, "val_interval": 1, "num_workers": 0, "progress": False, "cache_rate": 0.0}  # fmt: skip


@pytest.fixture(scope="module")
def trained(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both networks trained one epoch with `hccp53 train`'s runner, gathered into a models folder."""
    root = tmp_path_factory.mktemp("bundle")
    datalist = cohort / "datalist.json"
    results = {
        "classifier": train("classifier", datalist, root / "classifier", 0, CLASSIFIER),
        "segmentation": train("segmentation", datalist, root / "segmentation", 0, SEGMENTATION),
    }
    models = root / "models"
    models.mkdir()
    shutil.copy(root / "classifier" / "p53_classifier.pt", models)
    shutil.copy(root / "classifier" / "network.json", models)  # as `make weights` does: each network's record
    shutil.copy(root / "segmentation" / "tumor_segmentation.pt", models)
    shutil.copy(root / "segmentation" / "segmentation.json", models)
    record_checksums(models)
    (root / "results.json").write_text(json.dumps(results))
    return {"root": root, "models": models, "datalist": datalist}


@pytest.mark.parametrize("task", ["classifier", "segmentation"])
def test_training_writes_weights_checksums_and_split(trained: dict[str, Path], task: str) -> None:
    out = trained["root"] / task
    weights = out / ("p53_classifier.pt" if task == "classifier" else "tumor_segmentation.pt")
    assert weights.is_file() and (out / "checkpoint_epoch=1.pt").is_file()
    assert expected_checksum(weights) == sha256_of(weights)
    split = json.loads((out / "split.json").read_text())
    datalist = json.loads(trained["datalist"].read_text())
    expected_val = sorted(c["case_id"] for c in datalist["training"] if c["fold"] == 0)
    assert sorted(split["val"]) == expected_val
    assert not set(split["train"]) & set(split["val"])
    assert list((out / "tensorboard").iterdir()), "no TensorBoard event file"
    result = json.loads((trained["root"] / "results.json").read_text())[task]
    assert result["epochs_run"] == 1 and 0.0 <= result["best_metric"] <= 1.0


@pytest.mark.parametrize("config", ["train_classifier.yaml", "train_segmentation.yaml"])
def test_training_configs_have_the_bundle_properties(trained: dict[str, Path], config: str) -> None:
    overrides = CLASSIFIER if "classifier" in config else SEGMENTATION
    workflow = ConfigWorkflow(config_file=str(CONFIG_DIR / config), meta_file=META, workflow_type="train",
                              bundle_root=str(ROOT), datalist=str(trained["datalist"]),
                              output_dir=str(trained["root"] / "props"), **overrides)  # fmt: skip
    workflow.initialize()
    assert workflow.check_properties() == []


def test_resume_continues_from_the_last_checkpoint(trained: dict[str, Path]) -> None:
    out = trained["root"] / "resumed"
    shutil.copytree(trained["root"] / "classifier", out)
    result = train("classifier", trained["datalist"], out, 0, {**CLASSIFIER, "max_epochs": 2, "resume": True})
    assert result["epochs_run"] == 2
    assert (out / "checkpoint_epoch=2.pt").is_file()


def _infer_workflow(config: str, trained: dict[str, Path], out: Path) -> ConfigWorkflow:
    # the papers' report needs more than 8 cases: tests/evaluation/test_workflow.py runs it on 36
    report = {"report_enabled": False} if config == "evaluate.yaml" else {}
    workflow = ConfigWorkflow(
        config_file=str(CONFIG_DIR / config), meta_file=META, workflow_type="infer", bundle_root=str(ROOT),
        datalist=str(trained["datalist"]), models_dir=str(trained["models"]), output_dir=str(out), num_workers=0,
        **report,  # phases, spacing, crop and networks come from models_dir's records alone
    )  # fmt: skip
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    return workflow


def test_evaluate_writes_predictions_and_dice(trained: dict[str, Path]) -> None:
    out = trained["root"] / "evaluation"
    _infer_workflow("evaluate.yaml", trained, out)
    test_ids = {c["case_id"] for c in json.loads(trained["datalist"].read_text())["test"]}
    with open(out / "classifier" / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["case_id"] for r in rows} == test_ids
    assert all(0.0 <= float(r["p53_probability"]) <= 1.0 for r in rows)
    with open(out / "segmentation" / "test_dice_raw.csv", newline="") as handle:
        dice = list(csv.DictReader(handle))
    assert {r["filename"] for r in dice} == test_ids


def test_score_cases_equals_the_bundle_evaluation(trained: dict[str, Path]) -> None:
    """`hccp53 evaluate`'s scoring of a trained classifier folder gives evaluate.yaml's probabilities."""
    from hccp53.data.datalist import select_cases
    from hccp53.evaluation.scoring import read_classifier, score_cases

    out = trained["root"] / "evaluation"
    if not (out / "classifier" / "predictions.csv").is_file():
        _infer_workflow("evaluate.yaml", trained, out)
    with open(out / "classifier" / "predictions.csv", newline="") as handle:
        expected = {r["case_id"]: float(r["p53_probability"]) for r in csv.DictReader(handle)}
    model = read_classifier("MC", trained["root"] / "classifier")
    assert model.phases == ("t2", "ap", "pvp") and list(model.crop[1]) == CLASSIFIER["crop_size"]
    scores = score_cases([model], select_cases(trained["datalist"], "test"), progress=False)
    assert set(scores.index) == set(expected)
    for case_id, probability in expected.items():
        assert scores.loc[case_id, "MC"] == pytest.approx(probability, abs=1e-5)
    # with the crop cache: the first pass writes one file per case, the second reads them, same scores
    cache = trained["root"] / "crop_cache"
    score_cases([model], select_cases(trained["datalist"], "test")[:1], progress=False, cache_dir=cache)
    # one case cached, the others not: cached and fresh crops go into one batch
    first = score_cases([model], select_cases(trained["datalist"], "test"), progress=False, cache_dir=cache)
    assert len(list(cache.glob("*.pt"))) == len(expected)
    second = score_cases([model], select_cases(trained["datalist"], "test"), progress=False, cache_dir=cache)
    assert (first["MC"] - scores["MC"]).abs().max() < 1e-6 and (second["MC"] - scores["MC"]).abs().max() < 1e-6


def test_inference_writes_masks_and_lesions(trained: dict[str, Path]) -> None:
    out = trained["root"] / "inference"
    _infer_workflow("inference.yaml", trained, out)
    lesions = json.loads((out / "lesions.json").read_text())
    test_ids = {c["case_id"] for c in json.loads(trained["datalist"].read_text())["test"]}
    assert set(lesions) == test_ids
    assert all((out / f"{case}_tumor.nii.gz").is_file() for case in test_ids)


def test_evaluation_refuses_weights_whose_checksum_differs(trained: dict[str, Path], tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained["models"], models)
    with open(models / "p53_classifier.pt", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(RuntimeError) as error:
        _infer_workflow("evaluate.yaml", {**trained, "models": models}, tmp_path / "out")
    chain, current = [], error.value
    while current is not None:
        chain.append(str(current))
        current = current.__cause__
    assert any("sha256" in message for message in chain)


def test_torchscript_exports_match_the_networks(trained: dict[str, Path], tmp_path: Path) -> None:
    """`ckpt_export` of both networks: TorchScript gives the eager network's output; in/out shapes verified.

    The classifier is exported as published (``inference.yaml``'s ``classifier_def`` builds what the models
    folder's ``network.json`` describes, calibration clamp included), not as the training config builds it.
    """
    classifier_ts = tmp_path / "classifier.ts"
    ckpt_export(
        net_id="classifier_def", filepath=str(classifier_ts), ckpt_file=str(trained["models"] / "p53_classifier.pt"),
        meta_file=META, config_file=str(CONFIG_DIR / "inference.yaml"), use_trace=True,
        input_shape=[1, 4, 16, 16, 16], bundle_root=str(ROOT), models_dir=str(trained["models"]),
    )  # fmt: skip
    segmentation_ts = tmp_path / "segmentation.ts"
    ckpt_export(net_id="network_def", filepath=str(segmentation_ts),
                ckpt_file=str(trained["models"] / "tumor_segmentation.pt"), meta_file=META,
                config_file=str(CONFIG_DIR / "inference.yaml"), bundle_root=str(ROOT),
                models_dir=str(trained["models"]))  # fmt: skip
    from monai.networks.nets import SegResNet

    from hccp53.nets import classifier_from_description

    torch.manual_seed(0)
    description = json.loads((trained["models"] / "network.json").read_text())
    eager = load_weights(classifier_from_description(description), trained["models"] / "p53_classifier.pt")
    x = torch.rand(2, 4, 16, 16, 16)  # t2, ap, pvp and the tumor mask (the config's default mask_channel)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(classifier_ts))(x), eager.eval()(x), rtol=1e-4, atol=1e-5)
    record = json.loads((trained["models"] / "segmentation.json").read_text())
    args = record["network_args"]
    seg = SegResNet(3, 8, 3, len(record["output_classes"]), blocks_down=tuple(args["blocks_down"]),
                    blocks_up=tuple(args["blocks_up"]))  # fmt: skip
    seg = load_weights(seg, trained["models"] / "tumor_segmentation.pt").eval()
    y = torch.rand(1, 3, 32, 32, 16)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(segmentation_ts))(y), seg(y), rtol=1e-4, atol=1e-5)
    verify_net_in_out(net_id="network_def", meta_file=META, config_file=str(CONFIG_DIR / "train_classifier.yaml"),
                      bundle_root=str(ROOT))  # fmt: skip
    meta = json.loads(Path(META).read_text())
    seg_meta = tmp_path / "segmentation_metadata.json"
    seg_meta.write_text(json.dumps({**meta, "network_data_format": meta["segmentation_data_format"]}))
    verify_net_in_out(net_id="network_def", meta_file=str(seg_meta),
                      config_file=str(CONFIG_DIR / "train_segmentation.yaml"), bundle_root=str(ROOT))  # fmt: skip


def test_two_process_torchrun_training_on_cpu(cohort: Path, tmp_path: Path) -> None:
    """The multi-GPU overlay under torchrun with 2 CPU processes (gloo); the weights load into the network that
    network.json describes, with no DistributedDataParallel prefixes."""
    out = tmp_path / "ddp"
    configs = f"['{CONFIG_DIR / 'train_classifier.yaml'}','{CONFIG_DIR / 'multi_gpu_train.yaml'}']"
    overrides = []
    for key, value in {**CLASSIFIER, "datalist": str(cohort / "datalist.json"), "output_dir": str(out),
                       "bundle_root": str(ROOT)}.items():  # fmt: skip
        text = value if isinstance(value, str) else str(value) if isinstance(value, bool) else json.dumps(value)
        overrides += [f"--{key}", text]  # Fire reads True/False as booleans, "false" as a string
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "monai.bundle", "run", "--config_file", configs, *overrides]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    weights = out / "p53_classifier.pt"
    assert expected_checksum(weights) == sha256_of(weights)
    from hccp53.nets import classifier_from_description

    plain = classifier_from_description(json.loads((out / "network.json").read_text()))
    load_weights(plain, weights)  # no "module." prefixes


@pytest.mark.parametrize(("backbone", "fusion"), [("resnet34", "multichannel"), ("resnet101", "feature")])
def test_seed_2s_resnets_train_with_the_default_config(cohort: Path, tmp_path: Path, backbone: str,
                                                      fusion: str) -> None:  # fmt: skip
    """Seed 2's best backbones (ResNet34 under multi-channel, ResNet101 under feature fusion) on its DCE phases,
    with every other value of train_classifier.yaml as it is (its dropout included)."""
    phases = ["ap", "pvp", "dp"]
    result = train("classifier", cohort / "datalist.json", tmp_path / backbone, 0,
                   {**CLASSIFIER, "backbone": backbone, "fusion": fusion, "phases": phases})  # fmt: skip
    network = json.loads((tmp_path / backbone / "network.json").read_text())
    assert network["backbone"] == backbone and network["fusion"] == fusion and network["dropout"] == 0.3
    assert network["phases"] == phases and result["epochs_run"] == 1
