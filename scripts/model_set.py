#!/usr/bin/env python
"""Run a model set (configs/model_sets/<name>.yaml): generate its cohort, train its models, evaluate, report.

`make evaluation SET=seed1` runs this. Every step is skipped when it is already done and resumes when it
was interrupted, so the same command carries on where a stopped run left off (see ``--help``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hccp53.errors import ConfigError, HccP53Error, OutputError  # noqa: E402
from hccp53.evaluation.model_set import ModelSet, ModelSpec, load_model_set  # noqa: E402

STATE_FILE = "model_set_state.json"
PERMUTED_DATALIST = "datalist_permuted.json"

DESCRIPTION = """\
Run one paper's analysis as a model set (configs/model_sets/<SET>.yaml) on a synthetic cohort:

  1. cohort     `hccp53 synth` writes OUT/cohort (size, seed, split and generator settings of the set)
  2. train      `hccp53 train classifier` trains each model into OUT/models/<NAME>
  3. evaluate   `hccp53 evaluate` scores every model, fits the set's radiomics, clinical and combined
                models and writes OUT/report (report.html, metrics.json, tables, figures), plus
                OUT/report/comparisons.csv (the set's DeLong pairs, Holm-adjusted over those pairs)
                and OUT/report/model_set.yaml (the set that was run)

The same command resumes: a finished step is kept (OUT/model_set_state.json records what each step was
asked to do), an interrupted training continues from its last checkpoint, and a step whose settings
changed since it ran is refused with the folder to remove. Once a model has finished, its resumable
checkpoints (checkpoint_epoch=N.pt, several hundred MB for a 3D ResNet) are deleted unless
--keep-checkpoints is given; the published weights stay.

The scale options (--cases, --epochs, --crop, --batch-size, --folds, --resamples) shrink a set for a smoke
run; give them a separate --out, since a folder made at one scale is refused at another.

The shuffled-label control (--permute-labels SEED, default folder runs/evaluation_<SET>_permuted) runs the
same set on the same cohort with its labels permuted within each training fold and within the test split
(hccp53.evaluation.control), then checks for a leak: every model's test AUC and each fitted model's
cross-validated AUC should lie within 0.5 +/- 2 null SE; OUT/report/leak_check.csv has the figures.

Examples:
  scripts/model_set.py seed1                                   # the full set: runs/evaluation_seed1
  scripts/model_set.py seed2 --dry-run                         # what would run, what is done
  scripts/model_set.py seed1 --out /tmp/s1 --cases 24 --epochs 1 --crop 16 --batch-size 4 --folds 2 \\
      --resamples 200 --workers 0                              # a smoke run of the whole pipeline
  scripts/model_set.py seed2 --permute-labels 1                # the leak test: runs/evaluation_seed2_permuted
  scripts/model_set.py seed2 --permute-labels 1 --models ResNet34_MC   # the same, one network (about 1 h)
"""


@dataclass
class Step:
    """One command of the run, the folder it produces and what it was asked to do (its identity)."""

    key: str
    title: str
    folder: Path
    command: list[str]
    identity: dict[str, Any]
    files: dict[Path, str] = field(default_factory=dict)  # written before the command runs
    inputs: dict[str, Any] = field(default_factory=dict)  # what it reads that may change: a change redoes it


@dataclass(frozen=True)
class Scale:
    """Overrides of a set's scale for a smoke run (None: the set's own)."""

    cases: int | None = None
    epochs: int | None = None
    crop: int | None = None
    batch_size: int | None = None
    folds: int | None = None
    resamples: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _hccp53(*args: str) -> list[str]:
    return [sys.executable, "-m", "hccp53", *args]


def _relative(command: Sequence[str], out: Path) -> list[str]:
    """The command with the run folder written as OUT, and the interpreter as python: its identity."""
    return ["python" if part == sys.executable else part.replace(str(out), "OUT") for part in command]


def cohort_step(model_set: ModelSet, out: Path, scale: Scale) -> Step:
    """``hccp53 synth`` of the set's cohort into OUT/cohort."""
    cohort = model_set.cohort
    config = cohort.synth_config()
    if scale.folds:
        config["split"]["folds"] = scale.folds
    config_text = yaml.safe_dump(config, sort_keys=True)
    config_path = out / "synth.yaml"
    cases = scale.cases or cohort.cases
    command = _hccp53("synth", "--out", str(out / "cohort"), "--cases", str(cases), "--seed", str(cohort.seed),
                      "--style", cohort.style, "--config", str(config_path), "--no-preview", "--no-progress",
                      "--overwrite")  # fmt: skip
    if cohort.prevalence is not None:
        command += ["--prevalence", str(cohort.prevalence)]
    return Step("cohort", f"cohort: {cases} synthetic cases, seed {cohort.seed}, test fraction {cohort.test_fraction}",
                out / "cohort", command, {"command": _relative(command, out), "config": config},
                {config_path: config_text})  # fmt: skip


def permute_step(out: Path, seed: int, cohort_identity: dict[str, Any]) -> Step:
    """The shuffled-label control's datalist, OUT/cohort/datalist_permuted.json (:mod:`hccp53.evaluation.control`)."""
    target = out / "cohort" / PERMUTED_DATALIST
    command = [sys.executable, "-m", "hccp53.evaluation.control", "--datalist", str(out / "cohort" / "datalist.json"),
               "--seed", str(seed), "--out", str(target)]  # fmt: skip
    return Step("permute", f"permute the labels (seed {seed}) within each training fold and the test split", target,
                command, {"command": _relative(command, out), "cohort": _digest(cohort_identity)})  # fmt: skip


def train_step(model: ModelSpec, out: Path, scale: Scale, cohort_identity: dict[str, Any], workers: int | None,
               datalist: Path) -> Step:
    """``hccp53 train classifier`` of one model into OUT/models/<NAME>."""
    folder = out / "models" / model.name
    overrides = dict(model.overrides)
    if scale.crop:
        overrides["crop_size"] = [scale.crop] * 3
    if scale.batch_size:
        overrides["batch_size"] = scale.batch_size
    command = _hccp53("train", "classifier", "--datalist", str(datalist), "--out",
                      str(folder), "--fold", model.fold, "--phases", ",".join(model.phases),
                      "--set", f"backbone={model.backbone}", "--set", f"fusion={model.fusion}",
                      "--no-progress")  # fmt: skip
    for key, value in sorted(overrides.items()):
        command += ["--set", f"{key}={json.dumps(value)}"]  # JSON is YAML: --set reads it back unchanged
    if scale.epochs:
        command += ["--epochs", str(scale.epochs)]
    identity = {"command": _relative(command, out), "cohort": _digest(cohort_identity)}
    if model.fold == "all":  # fold networks that validated on their own fold (before held-out folds) do not count
        identity["out_of_fold"] = "each fold held out of training and validation"
    if workers is not None:
        command += ["--workers", str(workers)]  # how, not what: not part of the identity
    folds = "each fold held out, the next validating" if model.fold == "all" else f"validation fold {model.fold}"
    return Step(f"train {model.name}", f"train {model.name}: {'+'.join(model.phases)}, {model.backbone}, "
                f"{model.fusion}, {folds}", folder, command, identity)  # fmt: skip


def evaluate_step(model_set: ModelSet, out: Path, scale: Scale, model_steps: list[Step],
                  workers: int | None, datalist: Path, report: Path) -> Step:
    """``hccp53 evaluate`` of the trained models into ``report``."""
    spec = model_set.evaluation
    command = _hccp53("evaluate", "--datalist", str(datalist), "--out", str(report),
                      "--overwrite", "--models", *(f"{s.key.split(' ', 1)[1]}={s.folder}" for s in model_steps),
                      "--cv", str(scale.folds or spec.cv), "--resamples", str(scale.resamples or spec.resamples),
                      "--seed", str(spec.seed), "--no-progress")  # fmt: skip
    if spec.radiomics_phases:
        command += ["--radiomics-phases", ",".join(spec.radiomics_phases),
                    "--radiomics-cache", str(out / "radiomics_features.csv")]  # fmt: skip
    else:
        command += ["--no-radiomics"]
    command += ["--clinical", ",".join(spec.clinical)] if spec.clinical else ["--no-clinical"]
    identity = {"command": _relative(command, out),
                "models": {s.key: _digest(s.identity) for s in model_steps}}  # fmt: skip
    if workers is not None:
        command += ["--workers", str(max(1, workers))]  # evaluate's processes: at least one
    return Step("evaluate", f"evaluate: {len(model_steps)} network(s)"
                + "".join(f", {m.lower()}" for m in spec.fitted_models()), report, command, identity)


def plan(model_set: ModelSet, out: Path, scale: Scale = Scale(), workers: int | None = None,
         permute: int | None = None, only: Sequence[str] | None = None) -> list[Step]:
    """Every step of a set's run, in order (``permute``: the shuffled-label control with this seed; ``only``:
    these of its models alone, evaluated into OUT/report_<NAMES> so that the whole set's report stays apart)."""
    cohort = cohort_step(model_set, out, scale)
    control = [] if permute is None else [permute_step(out, permute, cohort.identity)]
    datalist = control[0].folder if control else out / "cohort" / "datalist.json"
    chosen = [m for m in model_set.models if only is None or m.name in only]
    models = [train_step(m, out, scale, cohort.identity, workers, datalist) for m in chosen]
    report = out / ("report" if only is None else f"report_{'+'.join(m.name for m in chosen)}")
    return [cohort, *control, *models, evaluate_step(model_set, out, scale, models, workers, datalist, report)]


def _weights(folder: Path) -> dict[str, str] | None:
    """The sha256 of a model folder's files (its checksums.json), None before it is trained."""
    path = folder / "checksums.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


# -- state ------------------------------------------------------------------------------------------------


class State:
    """OUT/model_set_state.json: per step, its identity and whether it finished (written atomically)."""

    def __init__(self, out: Path, model_set: ModelSet, scale: Scale, permute: int | None = None) -> None:
        self.path = out / STATE_FILE
        self.data: dict[str, Any] = {"set": model_set.name, "version": model_set.version, "scale": scale.as_dict(),
                                     "labels_permuted": permute, "steps": {}}  # fmt: skip
        if self.path.is_file():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                raise OutputError(f"{self.path} is not valid JSON; remove it and the folders beside it to start "
                                  "again.") from None  # fmt: skip
            if saved.get("set") != model_set.name:
                raise OutputError(f"{out} holds a run of model set {saved.get('set')!r}, not {model_set.name!r}; "
                                  "give another --out.")  # fmt: skip
            if saved.get("version") != model_set.version:
                raise OutputError(f"{out} was made by version {saved.get('version')} of model set "
                                  f"{model_set.name!r}, not version {model_set.version} (the networks it trains "
                                  "changed since); give another --out or remove it.")  # fmt: skip
            if saved.get("scale", {}) != scale.as_dict():
                raise OutputError(f"{out} was made at scale {saved.get('scale') or 'full'}, not "
                                  f"{scale.as_dict() or 'full'}; give another --out for another scale.")  # fmt: skip
            if saved.get("labels_permuted") != permute:
                def said(seed: int | None) -> str:
                    return "the true labels" if seed is None else f"labels permuted with seed {seed}"
                raise OutputError(f"{out} was made with {said(saved.get('labels_permuted'))}, not "
                                  f"{said(permute)}; give another --out.")  # fmt: skip
            self.data["steps"] = saved.get("steps", {})

    def status(self, step: Step) -> str:
        """``done``, ``resume`` (started, not finished), ``redo`` (its inputs changed) or ``new``.

        Raises
        ------
        OutputError
            The step's folder exists but this run did not make it, or made it with other settings.
        """
        entry = self.data["steps"].get(step.key)
        if not step.folder.exists():
            return "new"
        if entry is None:
            raise OutputError(f"{step.folder} exists but this run did not make it ({self.path} has no record of "
                              "it); remove it or give another --out.")  # fmt: skip
        if entry["identity"] != step.identity:
            what = sorted(k for k in step.identity if entry["identity"].get(k) != step.identity[k])
            raise OutputError(f"{step.folder} was made with other settings ({', '.join(what)} changed since); "
                              "remove it to redo that step, or give another --out.")  # fmt: skip
        if entry.get("inputs", {}) != step.inputs:
            return "redo"
        return "done" if entry.get("complete") else "resume"

    def record(self, step: Step, complete: bool, seconds: float | None = None) -> None:
        self.data["steps"][step.key] = {"identity": step.identity, "inputs": step.inputs, "complete": complete,
                                        **({"seconds": round(seconds, 1)} if seconds is not None else {})}  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


# -- after the steps --------------------------------------------------------------------------------------


def prune_checkpoints(folder: Path) -> int:
    """Delete the resumable checkpoints of every finished run under ``folder``; returns the bytes freed."""
    from hccp53.training.checkpoints import checkpoints
    from hccp53.training.runner import COMPLETE_FILE

    freed = 0
    for complete in folder.rglob(COMPLETE_FILE):
        for _, checkpoint in checkpoints(complete.parent):
            freed += checkpoint.stat().st_size
            checkpoint.unlink()
    return freed


def write_comparisons(model_set: ModelSet, report: Path, only: Sequence[str] | None = None) -> Path:
    """OUT/report/comparisons.csv: the set's DeLong pairs per split, Holm-adjusted over those pairs alone
    (``only``: the networks run; pairs naming another of the set's networks are left out)."""
    import numpy as np
    import pandas as pd

    from hccp53.stats.roc import holm

    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    not_run = {m.name for m in model_set.models} - set(only or ())
    rows = []
    for split, values in metrics["splits"].items():
        aucs = {name: m["auc"] for name, m in values["models"].items()}
        p_matrix = metrics.get("delong", {}).get(split, {}).get("p", {})
        for a, b in model_set.evaluation.comparisons:
            if only is not None and {a, b} & not_run:
                continue
            p = p_matrix.get(a, {}).get(b) if a in aucs and b in aucs else None
            rows.append({"split": split, "model_a": a, "model_b": b, "auc_a": aucs.get(a), "auc_b": aucs.get(b),
                         "p_delong": np.nan if p is None else p,
                         "note": "" if p is not None else "not in the report (left out; see report.html)"})  # fmt: skip
    table = pd.DataFrame(rows, columns=["split", "model_a", "model_b", "auc_a", "auc_b", "p_delong", "note"])
    table.insert(6, "p_holm", np.nan)
    for split in table["split"].unique():
        rows_of_split = table["split"] == split
        table.loc[rows_of_split, "p_holm"] = holm(table.loc[rows_of_split, "p_delong"].to_numpy(dtype=float))
    path = report / "comparisons.csv"
    table.to_csv(path, index=False)
    return path


def write_leak_check(report: Path, seed: int) -> str:
    """OUT/report/leak_check.csv of a shuffled-label run; returns the figures as a table to print."""
    import pandas as pd

    from hccp53.evaluation.control import leak_check

    rows = leak_check(json.loads((report / "metrics.json").read_text(encoding="utf-8")))
    table = pd.DataFrame(rows, columns=["model", "figure", "auc", "se", "within"])
    table.to_csv(report / "leak_check.csv", index=False)
    beyond = table[~table["within"]]
    lines = [f"leak check, labels permuted with seed {seed} ({report / 'leak_check.csv'}):"]
    lines += [f"  {r.model:<14} {r.figure:<20} {r.auc:.3f}  (0.5 +/- {2 * r.se:.3f}: "
              f"{'within' if r.within else 'BEYOND'})" for r in table.itertuples()]  # fmt: skip
    lines.append("  no model predicts the permuted labels" if beyond.empty else
                 f"  {len(beyond)} figure(s) beyond 0.5 +/- 2 SE: a leak, or chance (5% of figures are, with none)")
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------------------

_VERBS = {"new": ("run", "running"), "resume": ("resume", "resuming"),
          "redo": ("run again (its inputs changed)", "running again (its inputs changed)")}


def run(model_set: ModelSet, out: Path, scale: Scale = Scale(), workers: int | None = None, dry_run: bool = False,
        keep_checkpoints: bool = False, permute: int | None = None, only: Sequence[str] | None = None) -> int:
    """Run (or, ``dry_run``, list) every step of a set, skipping what is done; returns the exit status.
    ``permute``: the shuffled-label control with this seed, ending with the leak check; ``only``: these of the
    set's models alone (:func:`plan`)."""
    steps = plan(model_set, out, scale, workers, permute, only)
    state = State(out, model_set, scale, permute)
    started = time.monotonic()
    for number, step in enumerate(steps, 1):
        if step.key == "evaluate":  # the weights it scores, as they are now: a retrained model redoes the report
            step.inputs["weights"] = {s.key: _weights(s.folder) for s in steps if s.key.startswith("train ")}
        status = state.status(step)
        head = f"[{number}/{len(steps)}] {step.title}"
        if status == "done":
            print(f"{head}: done before, kept ({step.folder})", flush=True)
            continue
        if dry_run:
            print(f"{head}: would {_VERBS[status][0]}\n    {shlex.join(step.command)}")
            continue
        print(f"{head}: {_VERBS[status][1]} ...", flush=True)
        for path, text in step.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        state.record(step, complete=False)
        begin = time.monotonic()
        result = subprocess.run(step.command, cwd=ROOT, check=False)
        if result.returncode != 0:
            print(f"{head}: failed (exit status {result.returncode}); the same command resumes from here.",
                  file=sys.stderr)  # fmt: skip
            return result.returncode
        seconds = time.monotonic() - begin
        state.record(step, complete=True, seconds=seconds)
        freed = 0 if keep_checkpoints or not step.key.startswith("train ") else prune_checkpoints(step.folder)
        note = f"; {freed / 2**20:,.0f} MiB of finished checkpoints deleted" if freed else ""
        resumed = " after resuming (earlier runs of this step not counted)" if status == "resume" else ""
        print(f"{head}: done in {seconds / 60:.1f} min{resumed}{note}", flush=True)
    if dry_run:
        return 0
    report = steps[-1].folder
    if model_set.source is not None:
        (report / "model_set.yaml").write_text(model_set.source.read_text(encoding="utf-8"), encoding="utf-8")
    if model_set.evaluation.comparisons:
        print(f"comparisons: {write_comparisons(model_set, report, only)}")
    if permute is not None:
        print(write_leak_check(report, permute))
    print(f"model set {model_set.name} (version {model_set.version}): report in {report / 'report.html'} "
          f"({(time.monotonic() - started) / 60:.1f} min this run)")  # fmt: skip
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _model_names(text: str, model_set: ModelSet) -> list[str]:
    """The names of ``--models``, checked against the set (one sentence when one is not in it)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = [m.name for m in model_set.models]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise ConfigError(f"--models names {unknown or 'no model'}, which model set {model_set.name} does not have; "
                          f"its models are {known}.")  # fmt: skip
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/model_set.py", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("set", help="a set in configs/model_sets (seed1, seed2) or a model set YAML file")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/evaluation_<SET>)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the steps, what is done and the commands; run none")
    parser.add_argument("--workers", type=int, help="DataLoader workers of training (0: none) and processes of the "
                                                    "evaluation (at least 1); default: theirs, 2")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep finished models' resumable checkpoints (default: delete them)")
    parser.add_argument("--permute-labels", type=int, metavar="SEED",
                        help="the shuffled-label control: labels permuted with this seed, then the leak check "
                             "(default folder: runs/evaluation_<SET>_permuted)")
    parser.add_argument("--models", metavar="NAME[,NAME]",
                        help="train and evaluate only these of the set's models (its cohort, radiomics and fitted "
                             "models as ever; report in OUT/report_<NAMES>, the whole set's OUT/report untouched)")
    scale = parser.add_argument_group("scale (smoke runs; default: the set's)")
    scale.add_argument("--cases", type=_positive, help="cohort size")
    scale.add_argument("--epochs", type=_positive, help="maximum epochs of every model")
    scale.add_argument("--crop", type=_positive, help="crop edge in voxels (crop_size N,N,N)")
    scale.add_argument("--batch-size", type=_positive, help="training batch size")
    scale.add_argument("--folds", type=_positive, help="cross-validation folds of the cohort and of the evaluation")
    scale.add_argument("--resamples", type=_positive, help="bootstrap resamples of the report")
    args = parser.parse_args(argv)
    try:
        model_set = load_model_set(args.set, ROOT)
        suffix = "" if args.permute_labels is None else "_permuted"
        out = (args.out or ROOT / "runs" / f"evaluation_{model_set.name}{suffix}").resolve()
        if args.folds is not None and args.folds < 2:
            raise ConfigError(f"--folds must be at least 2, got {args.folds}.")
        sizes = Scale(args.cases, args.epochs, args.crop, args.batch_size, args.folds, args.resamples)
        only = None if args.models is None else _model_names(args.models, model_set)
        return run(model_set, out, sizes, args.workers, args.dry_run, args.keep_checkpoints, args.permute_labels,
                   only)  # fmt: skip
    except HccP53Error as error:
        print(f"model_set: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("model_set: interrupted; the same command resumes.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
