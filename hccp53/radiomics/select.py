"""Feature selection fitted on the training split only, and the radiomics score (rad-score).

Steps (``RadiomicsModel.fit``):

0. with ``icc_threshold`` (the ICC filter, off unless set): drop features whose intraclass correlation
   (ICC(2,1), :mod:`hccp53.radiomics.stability`) across the original, eroded and dilated tumor masks is below
   the threshold, computed over the rows being fitted only (the training cases, or a fold's fitting cases);
1. drop features that are constant or nearly so (SD below ``min_sd`` after z-scoring is meaningless);
2. z-score with the training mean and SD;
3. univariate filter: Mann-Whitney U test between classes, keep p < ``p_threshold`` (at least
   ``min_univariate`` features, the smallest p-values, if fewer pass);
4. redundancy filter: of every pair with |Spearman r| > ``max_correlation`` keep the one with the smaller p;
5. at most ``max_features`` of the survivors by p-value go to a LASSO-logistic regression whose penalty is
   chosen by stratified ``cv_folds``-fold cross-validation on AUC.

The rad-score is the LASSO's linear predictor. If the LASSO keeps no feature, the model falls back to the
single best univariate feature (logistic regression on it) and logs a warning saying so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, spearmanr
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

from hccp53.errors import ConfigError, InputError
from hccp53.radiomics.stability import IccForm, feature_icc, feature_phase

logger = logging.getLogger(__name__)


class RadiomicsModel:
    """Selection + LASSO-logistic radiomics score (see the module docstring for the parameters).

    ``icc_threshold`` (None: no ICC filter) needs the features of the same cases inside perturbed masks, given to
    :meth:`fit` as ``perturbed``; ``icc_form`` is ``"2,1"`` (absolute agreement, the default) or ``"3,1"``.
    """

    def __init__(self, p_threshold: float = 0.05, min_univariate: int = 10, max_correlation: float = 0.9,
                 max_features: int = 50, cv_folds: int = 5, min_sd: float = 1e-8, icc_threshold: float | None = None,
                 icc_form: IccForm = "2,1") -> None:  # fmt: skip
        if icc_threshold is not None and not 0.0 < icc_threshold < 1.0:
            raise ConfigError(f"The ICC threshold must lie between 0 and 1, not {icc_threshold}.")
        self.icc_threshold = icc_threshold
        self.icc_form = icc_form
        #: ICC of every feature on the fitted rows (empty without the ICC filter)
        self.icc = pd.Series(dtype=float)
        #: phase (``t2``, ``ap`` ..., ``shape``) -> {"kept": features at or above the threshold, "of": features}
        self.icc_kept: dict[str, dict[str, int]] = {}
        self.p_threshold = p_threshold
        self.min_univariate = min_univariate
        self.max_correlation = max_correlation
        self.max_features = max_features
        self.cv_folds = cv_folds
        self.min_sd = min_sd
        self.names: list[str] = []
        self.mean = pd.Series(dtype=float)
        self.sd = pd.Series(dtype=float)
        self.coefficients = pd.Series(dtype=float)
        self.intercept = 0.0
        self.steps: dict[str, int] = {}

    @property
    def selected(self) -> pd.Series:
        """Selected feature -> coefficient (standardised scale), non-zero only."""
        return self.coefficients[self.coefficients != 0]

    def fit(self, features: pd.DataFrame, labels: np.ndarray | list, seed: int = 0,
            perturbed: Sequence[pd.DataFrame] = ()) -> RadiomicsModel:  # fmt: skip
        """Select features and fit the score on these (training) rows only.

        ``perturbed``: the same features extracted inside the eroded and the dilated tumor masks (indexed by case,
        as ``features``); the ICC filter reads only the rows of ``features``, whatever else they hold.

        Raises
        ------
        ConfigError
            The ICC filter is on but no perturbed features are given.
        InputError
            Rows and labels differ in number, one class is missing, or no feature is left.
        """
        y = np.asarray(labels).astype(int)
        x = features.apply(pd.to_numeric, errors="coerce").astype(float)
        if len(x) != len(y):
            raise InputError(f"{len(x)} feature rows do not match {len(y)} labels.")
        if len(np.unique(y)) < 2:
            raise InputError("The radiomics model needs both classes among the training cases.")
        x = x.loc[:, x.notna().all() & np.isfinite(x).all()]
        steps = {"features": features.shape[1], "finite": x.shape[1]}
        if self.icc_threshold is not None:
            x = self._stable(x, perturbed)
            steps["icc_stable"] = x.shape[1]
            if x.shape[1] == 0:
                raise InputError(f"No radiomics feature has an ICC of {self.icc_threshold} or more across the "
                                 "perturbed masks; lower the threshold or switch the ICC filter off.")  # fmt: skip
        sd = x.std(ddof=1)
        x = x.loc[:, sd > self.min_sd * (x.abs().mean() + 1)]
        steps["variable"] = x.shape[1]
        if x.shape[1] == 0:
            raise InputError("No radiomics feature varies across the training cases.")
        mean, sd = x.mean(), x.std(ddof=1)
        z = (x - mean) / sd
        p = pd.Series(mannwhitneyu(z[y == 1], z[y == 0], axis=0).pvalue, index=z.columns).sort_values(kind="stable")
        keep = p[p < self.p_threshold]
        if len(keep) < self.min_univariate:
            keep = p.iloc[: self.min_univariate]
        steps["univariate"] = len(keep)
        survivors = self._decorrelate(z[keep.index], keep)
        steps["decorrelated"] = len(survivors)
        survivors = survivors[: self.max_features]
        steps["lasso_input"] = len(survivors)
        folds = StratifiedKFold(self.cv_folds, shuffle=True, random_state=seed)
        lasso = LogisticRegressionCV(Cs=20, cv=folds, l1_ratios=(1.0,), solver="saga", scoring="roc_auc",
                                     max_iter=5000, random_state=seed, use_legacy_attributes=False)  # fmt: skip
        lasso.fit(z[survivors].to_numpy(), y)
        coefficients = pd.Series(lasso.coef_[0], index=survivors)
        intercept = float(lasso.intercept_[0])
        if not (coefficients != 0).any():
            best = survivors[0]
            logger.warning("The LASSO kept no radiomics feature; the score falls back to the best univariate "
                           "feature %s.", best)  # fmt: skip
            single = LogisticRegression().fit(z[[best]].to_numpy(), y)
            coefficients = pd.Series(0.0, index=survivors)
            coefficients[best] = float(single.coef_[0, 0])
            intercept = float(single.intercept_[0])
        steps["selected"] = int((coefficients != 0).sum())
        chosen = coefficients[coefficients != 0]
        self.names = list(chosen.index)
        self.mean, self.sd = mean[self.names], sd[self.names]
        self.coefficients, self.intercept, self.steps = chosen, intercept, steps
        logger.info("Radiomics selection: %s.", ", ".join(f"{k} {v}" for k, v in steps.items()))
        return self

    def _stable(self, x: pd.DataFrame, perturbed: Sequence[pd.DataFrame]) -> pd.DataFrame:
        """The columns of ``x`` whose ICC over its rows reaches the threshold (NaN, a feature that does not vary
        at all, does not)."""
        if not perturbed:
            raise ConfigError("The ICC filter needs the features of the perturbed (eroded and dilated) masks.")
        values = feature_icc(x, list(perturbed), self.icc_form)
        stable = values >= self.icc_threshold
        self.icc = values
        phases = pd.Series([feature_phase(n) for n in values.index], index=values.index)
        self.icc_kept = {str(ph): {"kept": int(stable[phases == ph].sum()), "of": int((phases == ph).sum())}
                         for ph in dict.fromkeys(phases)}  # fmt: skip
        logger.info("ICC(%s) filter at %s: %d of %d features kept (%s).", self.icc_form, self.icc_threshold,
                    int(stable.sum()), len(values),
                    ", ".join(f"{ph} {v['kept']}/{v['of']}" for ph, v in self.icc_kept.items()))  # fmt: skip
        return x.loc[:, stable.to_numpy()]

    def _decorrelate(self, z: pd.DataFrame, p: pd.Series) -> list[str]:
        """Greedy in p-value order: keep a feature unless it correlates above the limit with one kept."""
        order = list(p.index)
        rho = np.ones((1, 1))
        if len(order) > 1:
            rho = spearmanr(z[order].to_numpy()).statistic
            if np.ndim(rho) == 0:  # two features: scipy gives their correlation, not a matrix
                rho = np.array([[1.0, rho], [rho, 1.0]])
        kept: list[int] = []
        for i in range(len(order)):
            if all(abs(rho[i, j]) <= self.max_correlation for j in kept):
                kept.append(i)
        return [order[i] for i in kept]

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """Rad-score (linear predictor) of each row."""
        if not self.names:
            raise InputError("The radiomics model is not fitted.")
        missing = [n for n in self.names if n not in features.columns]
        if missing:
            raise InputError(f"Radiomics features {', '.join(missing[:3])} are missing; extract with the same "
                             "settings and phases as for fitting.")  # fmt: skip
        z = (features[self.names].astype(float) - self.mean) / self.sd
        return z.to_numpy() @ self.coefficients.to_numpy() + self.intercept

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(P53-mutated) of each row."""
        return 1.0 / (1.0 + np.exp(-self.score(features)))

    def to_json(self, path: str | Path) -> Path:
        """Everything needed to score new cases."""
        path = Path(path)
        path.write_text(json.dumps({"features": self.names, "mean": self.mean.tolist(), "sd": self.sd.tolist(),
                                    "coefficients": self.coefficients.tolist(), "intercept": self.intercept,
                                    "steps": self.steps}, indent=2) + "\n")  # fmt: skip
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> RadiomicsModel:
        content = json.loads(Path(path).read_text())
        model = cls()
        model.names = list(content["features"])
        model.mean = pd.Series(content["mean"], index=model.names)
        model.sd = pd.Series(content["sd"], index=model.names)
        model.coefficients = pd.Series(content["coefficients"], index=model.names)
        model.intercept = float(content["intercept"])
        model.steps = dict(content["steps"])
        return model

