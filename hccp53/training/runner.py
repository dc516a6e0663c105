"""Run a bundle training workflow (``configs/train_*.yaml``) from Python: what ``hccp53 train`` calls.

The configs stay the single description of an experiment; this module only builds a MONAI
:class:`~monai.bundle.ConfigWorkflow` with overrides, checks its properties, writes the split it
used (``split.json``, nnU-Net style) next to the checkpoints, runs it, and turns a data or config
mistake buried in MONAI's config errors back into the library's one-sentence error.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hccp53
from hccp53.errors import ConfigError, HccP53Error

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(hccp53.__file__).resolve().parents[1] / "configs"
#: Task name -> training config file name.
TASKS = {"classifier": "train_classifier.yaml", "segmentation": "train_segmentation.yaml"}
SPLIT_FILE = "split.json"
#: Written when a run has finished (its result): a rerun of the same command skips the folder.
COMPLETE_FILE = "training_complete.json"


def _library_error(error: BaseException) -> HccP53Error | None:
    """The :class:`HccP53Error` at the root of a chain of MONAI config errors, if any."""
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, HccP53Error):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _raise_library_error(error: BaseException) -> None:
    """Re-raise the library's one-sentence error behind ``error``; return if there is none."""
    library = _library_error(error)
    if library is not None and library is not error:
        raise library from error


def build_workflow(task: str, overrides: Mapping[str, Any], extra_configs: Sequence[str | Path] = ()) -> Any:
    """A :class:`~monai.bundle.ConfigWorkflow` of the training config of ``task``, initialised and checked.

    Raises
    ------
    ConfigError
        For an unknown task, a missing extra config or a workflow missing required bundle properties.
    HccP53Error
        The library's error behind a config expression that failed (e.g. a bad datalist).
    """
    from monai.bundle import ConfigWorkflow

    if task not in TASKS:
        raise ConfigError(f"Unknown training task {task!r}; choose one of {list(TASKS)}.")
    files = [str(CONFIG_DIR / TASKS[task])]
    for extra in extra_configs:
        if not Path(extra).is_file():
            raise ConfigError(f"Config file {extra} does not exist.")
        files.append(str(extra))
    workflow = ConfigWorkflow(
        config_file=files,
        meta_file=str(CONFIG_DIR / "metadata.json"),
        logging_file=str(CONFIG_DIR / "logging.conf"),
        workflow_type="train",
        **{"bundle_root": str(CONFIG_DIR.parent), **overrides},
    )
    try:
        workflow.initialize()
        missing = workflow.check_properties()  # builds the datasets: bad data fails here, before training
    except Exception as error:
        _raise_library_error(error)
        raise
    if missing:
        raise ConfigError(f"The {task} config lacks required bundle properties {missing}.")
    return workflow


def write_split(workflow: Any, task: str, path: Path) -> dict[str, Any]:
    """Write the training and validation case ids the workflow uses (and where they came from)."""
    parser = workflow.parser
    split = {
        "task": task,
        "datalist": str(Path(parser.get_parsed_content("datalist")).resolve()),
        "fold": int(parser.get_parsed_content("fold")),
        "phases": list(parser.get_parsed_content("phases")),
        "train": [c.get("case_id", "") for c in parser.get_parsed_content("train#dataset#data")],
        "val": [c.get("case_id", "") for c in parser.get_parsed_content("validate#dataset#data")],
    }
    held_out = parser.get_parsed_content("held_out_fold") if "held_out_fold" in parser else None
    if held_out is not None:
        split["held_out_fold"] = int(held_out)
    path.write_text(json.dumps(split, indent=2) + "\n", encoding="utf-8")
    return split


def train(
    task: str,
    datalist: str | Path,
    output_dir: str | Path,
    fold: int = 0,
    overrides: Mapping[str, Any] | None = None,
    extra_configs: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Train one fold of ``task`` (``classifier`` or ``segmentation``) with the bundle config.

    Parameters
    ----------
    task
        ``"classifier"`` or ``"segmentation"``.
    datalist
        The prepared datalist (``hccp53 synth`` / ``hccp53 prepare``).
    output_dir
        Checkpoints, ``checksums.json``, TensorBoard logs, ``split.json`` and (classifier) ``network.json``
        go here.
    fold
        Cross-validation fold used for validation and early stopping.
    overrides
        Config keys to override (e.g. ``{"max_epochs": 5, "phases": ["t2", "ap", "pvp", "hbp"]}``).
    extra_configs
        Further YAML files merged over the training config.

    Returns
    -------
    dict
        ``split.json``'s content plus ``best_metric``, ``best_epoch`` and ``epochs_run``; for the classifier also
        ``validation`` (AUC and output spread of the published weights) and ``calibration``.
    """
    clock = time.perf_counter()
    output = Path(output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    values = {"datalist": str(Path(datalist).resolve()), "output_dir": str(output), "fold": int(fold),
              **dict(overrides or {})}  # fmt: skip
    if not values.get("resume"):
        _clear_earlier_run(output)
    workflow = build_workflow(task, values, extra_configs)
    try:
        split = write_split(workflow, task, output / SPLIT_FILE)
        held_out = "" if "held_out_fold" not in split else f", fold {split['held_out_fold']} held out of both"
        logger.info("Training %s on %d cases, validating on %d (fold %d%s); output in %s.",
                    task, len(split["train"]), len(split["val"]), fold, held_out, output)  # fmt: skip
        workflow.run()
    except Exception as error:
        _raise_library_error(error)
        raise
    finally:
        workflow.finalize()
    evaluator = workflow.parser.get_parsed_content("validate#evaluator")
    trainer = workflow.parser.get_parsed_content("train#trainer")
    result = {
        **split,
        "best_metric": float(evaluator.state.best_metric),
        "best_epoch": int(evaluator.state.best_metric_epoch),
        "epochs_run": int(trainer.state.epoch),
        "training_seconds": round(time.perf_counter() - clock, 1),  # this run's, from start-up to publication
    }
    if task == "classifier":  # what publish_classifier (the config's last run step) recorded
        network = json.loads((output / "network.json").read_text(encoding="utf-8"))
        result.update({k: network[k] for k in ("validation", "calibration", "held_out") if k in network})
    (output / COMPLETE_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _clear_earlier_run(output: Path) -> None:
    """Before a run from scratch, delete what an earlier run in ``output`` recorded about itself.

    Its resumable checkpoints (a later resume would continue the old run), its ``training_complete.json``
    (a restart stopped part-way would pass for finished) and its validation history (rows for epochs the new
    run never reaches would stay). Its published weights stay until the new run's first validation replaces
    them.
    """
    from hccp53.training.checkpoints import checkpoints
    from hccp53.training.guard import HISTORY_FILE

    stale = [path for _, path in checkpoints(output)] + [output / COMPLETE_FILE, output / HISTORY_FILE]
    for path in stale:
        if path.is_file():
            logger.info("Starting from scratch: the earlier run's %s deleted.", path.name)
            path.unlink()


def training_state(output_dir: str | Path) -> str:
    """``"complete"`` (a finished run), ``"partial"`` (a readable checkpoint, unfinished) or ``"new"``."""
    from hccp53.training.checkpoints import checkpoints, readable

    output = Path(output_dir)
    if (output / COMPLETE_FILE).is_file():
        return "complete"
    if any(readable(path) for _, path in checkpoints(output)):
        return "partial"
    return "new"


def completed_result(output_dir: str | Path) -> dict[str, Any]:
    """The result a finished run recorded in ``training_complete.json``."""
    return json.loads((Path(output_dir) / COMPLETE_FILE).read_text(encoding="utf-8"))
