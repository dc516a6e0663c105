"""Model sets: one paper's evaluation as a named, versioned file (``configs/model_sets/<name>.yaml``).

A model set names everything ``make evaluation SET=<name>`` needs to reproduce one source paper's analysis
on a synthetic cohort: the cohort to generate (``hccp53 synth``: size, seed, split, generator settings), the
deep-learning models to train (``hccp53 train classifier``: phases, backbone, fusion, folds, overrides of
``configs/train_classifier.yaml``), the fitted models of ``hccp53 evaluate`` (radiomics phases, clinical
candidates) and the DeLong comparisons the report states. :func:`load_model_set` reads and checks such a
file; ``scripts/model_set.py`` runs it.

Example (abridged ``configs/model_sets/seed2.yaml``)::

    name: seed2
    version: 1
    cohort: {cases: 320, seed: 320, test_fraction: 0.3, folds: 5}
    training: {fold: all}
    models:
      - {name: ResNet34_MC, backbone: resnet34, fusion: multichannel, phases: [ap, pvp, dp]}
    evaluation:
      radiomics_phases: [ap, pvp, dp]
      clinical: [age, sex, log10_afp_ng_ml, rim_aphe_read]
      comparisons: [[Combined, ResNet34_MC]]
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from hccp53 import parse_phases
from hccp53.errors import ConfigError

#: Where the named sets live, relative to the repository root (the bundle root).
SETS_DIR = Path("configs") / "model_sets"
#: Names ``hccp53 evaluate`` gives its fitted models (:mod:`hccp53.evaluation.fitted`).
RADIOMICS, CLINICAL, COMBINED = "Radiomics", "Clinical", "Combined"
#: Keys of ``configs/train_classifier.yaml`` a model entry sets itself (or the runner sets), never as an override.
_RESERVED_OVERRIDES = ("phases", "backbone", "fusion", "fold", "datalist", "output_dir", "resume", "progress")
#: Model names: they become folder names and column names of the report.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")

#: Keys of each part of a set file -> whether the key is required.
_TOP_KEYS = {"name": True, "version": True, "description": False, "paper": False, "cohort": True,
             "training": False, "models": True, "evaluation": False}  # fmt: skip
_TRAINING_KEYS = {"fold": False, "overrides": False}
_EVALUATION_KEYS = dict.fromkeys(("radiomics_phases", "clinical", "cv", "resamples", "seed", "comparisons"), False)
_STYLES = ("phantom", "varied", "heldout")


@dataclass(frozen=True)
class CohortSpec:
    """The synthetic cohort of a set: ``hccp53 synth`` arguments and generator settings."""

    cases: int
    seed: int
    test_fraction: float
    folds: int = 5
    prevalence: float | None = None
    style: str = "phantom"
    generator: Mapping[str, Any] = field(default_factory=dict)

    def synth_config(self) -> dict[str, Any]:
        """The YAML settings ``hccp53 synth --config`` takes: the generator settings plus the split."""
        config = yaml.safe_load(yaml.safe_dump(dict(self.generator))) or {}
        config.setdefault("split", {}).update(test_fraction=self.test_fraction, folds=self.folds)
        return config


@dataclass(frozen=True)
class ModelSpec:
    """One deep-learning model of a set: what ``hccp53 train classifier`` is asked to train."""

    name: str
    phases: tuple[str, ...]
    backbone: str
    fusion: str
    fold: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    paper: str = ""


@dataclass(frozen=True)
class EvaluationSpec:
    """What ``hccp53 evaluate`` fits beside the networks, and what the set's report compares."""

    radiomics_phases: tuple[str, ...] | None = None
    clinical: tuple[str, ...] | None = None
    cv: int = 5
    resamples: int = 2000
    seed: int = 0
    comparisons: tuple[tuple[str, str], ...] = ()

    def fitted_models(self) -> tuple[str, ...]:
        """Names of the models ``hccp53 evaluate`` fits: radiomics, clinical and (with either) combined."""
        names = ([RADIOMICS] if self.radiomics_phases else []) + ([CLINICAL] if self.clinical else [])
        return (*names, COMBINED) if names else ()


@dataclass(frozen=True)
class ModelSet:
    """A named, versioned model set (see the module docstring)."""

    name: str
    version: int
    cohort: CohortSpec
    models: tuple[ModelSpec, ...]
    evaluation: EvaluationSpec
    description: str = ""
    paper: str = ""
    source: Path | None = None

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``."""
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)


def set_path(name_or_path: str | Path, root: str | Path = ".") -> Path:
    """The file of a set: a name in ``configs/model_sets/`` (``seed1``) or a path to a YAML file.

    Raises
    ------
    ConfigError
        No such set or file.
    """
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"Model set file {path} does not exist; give a set name such as seed1 or a YAML file.")
        return path
    path = Path(root) / SETS_DIR / f"{text}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(root) / SETS_DIR).glob("*.yaml"))
        raise ConfigError(f"There is no model set {text!r} in {SETS_DIR}; choose one of {known} or give a YAML file.")
    return path


def load_model_set(name_or_path: str | Path, root: str | Path = ".") -> ModelSet:
    """Read and check a model set.

    Parameters
    ----------
    name_or_path
        A set name (a file ``configs/model_sets/<name>.yaml`` under ``root``) or a path to a YAML file.
    root
        The repository (bundle) root; it also holds ``configs/train_classifier.yaml``, whose top-level keys are
        the overrides a set may give.

    Returns
    -------
    ModelSet
        The set, every default filled in.

    Raises
    ------
    ConfigError
        One sentence naming the key or value that is wrong: an unknown or missing key, a phase, backbone or
        fusion that does not exist, a training override that is not a key of the training config, generator
        settings ``hccp53 synth`` refuses, or a comparison of a model the set does not have.
    """
    path = set_path(name_or_path, root)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"Model set {path} is not valid YAML ({error}).") from None
    return parse_model_set(data, where=str(path), root=root, source=path)


def parse_model_set(data: Any, where: str = "the model set", root: str | Path = ".",
                    source: Path | None = None) -> ModelSet:
    """Check the mapping read from a model set file and build the :class:`ModelSet` (see :func:`load_model_set`)."""
    top = _mapping(data, where)
    _keys(top, _TOP_KEYS, where)
    name = top["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: name must be a word of letters, digits and underscores, got {name!r}.")
    version = top["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{where}: version must be a positive integer (raise it when the set changes), got "
                          f"{version!r}.")  # fmt: skip
    cohort = _cohort(_mapping(top["cohort"], f"{where}: cohort"), f"{where}: cohort")
    training = _mapping(top.get("training") or {}, f"{where}: training")
    _keys(training, _TRAINING_KEYS, f"{where}: training")
    config_keys = _training_config_keys(root)
    default_fold = _fold(training.get("fold", "0"), cohort.folds, f"{where}: training.fold")
    default_overrides = _overrides(training.get("overrides") or {}, config_keys, f"{where}: training.overrides")
    models_data = top["models"]
    if not isinstance(models_data, list) or not models_data:
        raise ConfigError(f"{where}: models must be a non-empty list of models to train.")
    models = tuple(_model(item, k, default_fold, default_overrides, cohort.folds, config_keys, where)
                   for k, item in enumerate(models_data))  # fmt: skip
    names = [m.name for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: model name(s) {twice} are given more than once; each model needs its own name.")
    evaluation = _evaluation(_mapping(top.get("evaluation") or {}, f"{where}: evaluation"), names,
                             f"{where}: evaluation")  # fmt: skip
    return ModelSet(name=name, version=version, cohort=cohort, models=models, evaluation=evaluation,
                    description=str(top.get("description", "")).strip(), paper=str(top.get("paper", "")).strip(),
                    source=source)  # fmt: skip


# -- the parts -------------------------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(value).__name__}.")
    return value


def _keys(data: Mapping[str, Any], allowed: Mapping[str, bool], where: str) -> None:
    """Refuse unknown keys and missing required ones (``allowed``: key -> required)."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; the keys are {sorted(allowed)}.")
    missing = sorted(k for k, required in allowed.items() if required and k not in data)
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}.")


def _positive_int(value: Any, where: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where} must be an integer of at least {minimum}, got {value!r}.")
    return value


def _cohort(data: Mapping[str, Any], where: str) -> CohortSpec:
    _keys(data, {"cases": True, "seed": True, "test_fraction": True, "folds": False, "prevalence": False,
                 "style": False, "generator": False}, where)  # fmt: skip
    fraction = data["test_fraction"]
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise ConfigError(f"{where}.test_fraction must lie strictly between 0 and 1 (0.2 for 8:2), got {fraction!r}.")
    prevalence = data.get("prevalence")
    if prevalence is not None and (not isinstance(prevalence, (int, float)) or not 0 < prevalence < 1):
        raise ConfigError(f"{where}.prevalence must lie strictly between 0 and 1, got {prevalence!r}.")
    style = data.get("style", "phantom")
    if style not in _STYLES:
        raise ConfigError(f"{where}.style must be one of {list(_STYLES)}, got {style!r}.")
    cohort = CohortSpec(cases=_positive_int(data["cases"], f"{where}.cases", 2),
                        seed=_positive_int(data["seed"], f"{where}.seed", 0), test_fraction=float(fraction),
                        folds=_positive_int(data.get("folds", 5), f"{where}.folds", 2),
                        prevalence=None if prevalence is None else float(prevalence), style=style,
                        generator=_mapping(data.get("generator") or {}, f"{where}.generator"))  # fmt: skip
    if "split" in cohort.generator:
        raise ConfigError(f"{where}.generator must not hold 'split'; give test_fraction and folds in the cohort.")
    _check_generator(cohort, where)
    return cohort


def _check_generator(cohort: CohortSpec, where: str) -> None:
    """Let ``hccp53 synth``'s own loader judge the generator settings, exactly as the run will give them."""
    from hccp53.synth.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synth.yaml"
        path.write_text(yaml.safe_dump(cohort.synth_config()), encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as error:
            raise ConfigError(f"{where}: {str(error).replace(str(path), 'the generator settings')}") from None


def _training_config_keys(root: str | Path) -> frozenset[str]:
    """Top-level keys of ``configs/train_classifier.yaml``: what a model's ``overrides`` may set."""
    path = Path(root) / "configs" / "train_classifier.yaml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise ConfigError(f"Cannot read {path}, which says which training overrides exist; run from the "
                          "repository root.") from None  # fmt: skip
    return frozenset(config)


def _overrides(data: Any, config_keys: frozenset[str], where: str) -> dict[str, Any]:
    overrides = _mapping(data, where)
    unknown = sorted(set(overrides) - config_keys)
    if unknown:
        raise ConfigError(f"{where}: {unknown} are not keys of configs/train_classifier.yaml; override only its "
                          "keys (batch_size, dropout, max_epochs, ...).")  # fmt: skip
    reserved = sorted(set(overrides) & set(_RESERVED_OVERRIDES))
    if reserved:
        raise ConfigError(f"{where}: {reserved} are set by the model entry or the runner, not as overrides; give "
                          "phases, backbone, fusion and fold as keys of the model.")  # fmt: skip
    return dict(overrides)


def _fold(value: Any, folds: int, where: str) -> str:
    text = str(value).strip().lower()
    if text == "all":
        return text
    if not text.isdigit() or int(text) >= folds:
        raise ConfigError(f"{where} must be 'all' or a fold number from 0 to {folds - 1}, got {value!r}.")
    return text


def _model(data: Any, index: int, default_fold: str, default_overrides: Mapping[str, Any], folds: int,
           config_keys: frozenset[str], where: str) -> ModelSpec:
    from hccp53.nets.factory import CLASSIFIER_NAMES, FUSIONS

    here = f"{where}: models[{index}]"
    data = _mapping(data, here)
    _keys(data, {"name": True, "phases": True, "backbone": False, "fusion": False, "fold": False,
                 "overrides": False, "paper": False}, here)  # fmt: skip
    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name) or name in (RADIOMICS, CLINICAL, COMBINED):
        raise ConfigError(f"{here}: name must be a word of letters, digits and underscores other than "
                          f"{RADIOMICS}, {CLINICAL} and {COMBINED}, got {name!r}.")  # fmt: skip
    here = f"{where}: model {name}"
    phases = parse_phases(data["phases"], f"{here}'s phases")
    backbone = data.get("backbone", "efficientnetv2_tiny")
    if backbone not in CLASSIFIER_NAMES:
        raise ConfigError(f"{here}: unknown backbone {backbone!r}; choose one of {list(CLASSIFIER_NAMES)}.")
    fusion = data.get("fusion", "multichannel")
    if fusion not in FUSIONS:
        raise ConfigError(f"{here}: unknown fusion {fusion!r}; choose one of {list(FUSIONS)}.")
    overrides = {**default_overrides, **_overrides(data.get("overrides") or {}, config_keys, f"{here}.overrides")}
    fold = _fold(data["fold"], folds, f"{here}.fold") if "fold" in data else default_fold
    return ModelSpec(name=name, phases=phases, backbone=backbone, fusion=fusion, fold=fold, overrides=overrides,
                     paper=str(data.get("paper", "")).strip())  # fmt: skip


def _evaluation(data: Mapping[str, Any], model_names: list[str], where: str) -> EvaluationSpec:
    _keys(data, _EVALUATION_KEYS, where)
    radiomics = data.get("radiomics_phases")
    radiomics_phases = None if radiomics is None else parse_phases(radiomics, f"{where}.radiomics_phases")
    clinical = data.get("clinical")
    if clinical is not None and (not isinstance(clinical, list) or not clinical
                                 or not all(isinstance(c, str) and c.strip() for c in clinical)):  # fmt: skip
        raise ConfigError(f"{where}.clinical must be a list of clinical keys (or null for no clinical model), got "
                          f"{clinical!r}.")  # fmt: skip
    spec = EvaluationSpec(radiomics_phases=radiomics_phases,
                          clinical=None if clinical is None else tuple(c.strip() for c in clinical),
                          cv=_positive_int(data.get("cv", 5), f"{where}.cv", 2),
                          resamples=_positive_int(data.get("resamples", 2000), f"{where}.resamples", 100),
                          seed=_positive_int(data.get("seed", 0), f"{where}.seed", 0))  # fmt: skip
    known = [*model_names, *spec.fitted_models()]
    pairs = []
    for k, pair in enumerate(data.get("comparisons") or []):
        if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]:
            raise ConfigError(f"{where}.comparisons[{k}] must be a pair of two different model names, got {pair!r}.")
        unknown = [n for n in pair if n not in known]
        if unknown:
            raise ConfigError(f"{where}.comparisons[{k}] names {unknown}, which the set does not have; its models "
                              f"are {known}.")  # fmt: skip
        pairs.append((str(pair[0]), str(pair[1])))
    return replace(spec, comparisons=tuple(pairs))
