"""The options of the full evaluation (:func:`hccp53.evaluation.workflow.run_evaluation`): what it fits and how.

A module of its own so that the workflow and the fitted models (:mod:`hccp53.evaluation.fitted`), which both read
them, need not import each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hccp53 import DEFAULT_PHASES
from hccp53.evaluation.metrics import Settings


@dataclass
class WorkflowOptions:
    """What the full evaluation fits (see :func:`run_evaluation`)."""

    #: The phases every study has (the bundle's evaluate.yaml says the same); hbp needs a hepatobiliary agent,
    #: and cases without a listed phase are left out of the radiomics model.
    radiomics_phases: Sequence[str] = DEFAULT_PHASES
    #: Candidates of the stepwise selection; None: the clinical keys of the datalist
    #: (:func:`~hccp53.evaluation.clinical.default_clinical_terms`).
    clinical_terms: Sequence[str] | None = None
    #: The deep-learning model of the combined model; None: the best out-of-fold AUC on the training split.
    dl_model: str | None = None
    #: Model name -> CSV of its out-of-fold predictions of the training cases (:func:`~hccp53.evaluation.stacking.
    #: read_held_out`); models not named here use those their folder holds (``--fold all``), if any.
    oof_files: Mapping[str, Path] = field(default_factory=dict)
    radiomics: bool = True
    clinical: bool = True
    cv_folds: int = 0
    seed: int = 20260101
    radiomics_cache: Path | None = None
    #: ICC filter of the radiomics features (None: off): drop features whose ICC(2,1) across the original, eroded and
    #: dilated tumor masks is below this, on the training cases (:mod:`hccp53.radiomics.stability`).
    icc_threshold: float | None = None
    workers: int = 1
    device: str | None = None
    progress: bool = True
    settings: Settings = field(default_factory=Settings)
