"""The latent P53 mechanism of the synthetic cohort.

Each case draws its label first (P53-mutated with probability ``prevalence``), then
every feature from a distribution that depends on the label only (class-conditional,
independent given the label). The posterior probability of mutation given all
features is therefore known exactly::

    logit P(mutated | x) = logit(prevalence) + sum_j log p_j(x_j | mutated) / p_j(x_j | wild-type)

Its AUC is the Bayes-optimal AUC: no model, whatever it sees, can beat it on average.
Continuous features are normal on a transformed scale (log diameter, logit necrosis ...);
their mutated-minus-wild-type shift is multiplied by one common ``scale`` that is solved
numerically so that the Bayes AUC equals ``mechanism.target_bayes_auc``. Binary features
keep their configured odds ratio (rim arterial enhancement: OR 2.5).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, log_ndtr, logit
from sklearn.metrics import roc_auc_score

logger = logging.getLogger(__name__)

_CALIBRATION_SEED = 20260101

#: Features an image of the tumor shows on T2, arterial and portal venous phases (no hepatobiliary phase):
#: the ceiling of an imaging-only model of those phases is the Bayes AUC given these alone.
IMAGING_FEATURES = ("log_diameter_mm", "necrosis_logit", "margin_logit", "rim_aphe", "capsule", "multifocal")
#: Plus what the hepatobiliary phase shows.
IMAGING_FEATURES_HBP = (*IMAGING_FEATURES, "hbp_ratio")


@dataclass(frozen=True)
class Mechanism:
    """Class-conditional feature model with its exact posterior.

    Attributes
    ----------
    prevalence:
        P(mutated).
    continuous:
        name -> (wild-type mean, SD, shift in SD units before scaling).
    binary:
        name -> (P(feature | wild-type), odds ratio mutated vs wild-type).
    grade_cuts:
        Cut points of the standardised grade latent into Edmondson-Steiner grades I-IV.
    scale:
        Common multiplier of the continuous shifts.
    """

    prevalence: float
    continuous: tuple[tuple[str, float, float, float], ...]
    binary: tuple[tuple[str, float, float], ...]
    grade_cuts: tuple[float, float, float]
    scale: float

    @classmethod
    def from_config(cls, mechanism: dict[str, Any], scale: float | None = None) -> Mechanism:
        """Build from the ``mechanism`` section; solve ``scale`` for the target AUC if not given."""
        base = cls(
            prevalence=float(mechanism["prevalence"]),
            continuous=tuple((k, float(v[0]), float(v[1]), float(v[2])) for k, v in mechanism["continuous"].items()),
            binary=tuple((k, float(v[0]), float(v[1])) for k, v in mechanism["binary"].items()),
            grade_cuts=tuple(float(c) for c in mechanism["grade_cuts"]),  # type: ignore[arg-type]
            scale=1.0 if scale is None else float(scale),
        )
        if scale is None:
            solved = _solve_scale(
                json.dumps(mechanism, sort_keys=True),
                float(mechanism["target_bayes_auc"]),
                int(mechanism["calibration_samples"]),
            )
            base = cls(base.prevalence, base.continuous, base.binary, base.grade_cuts, solved)
        return base

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """Draw ``n`` cases: labels, standardised latents (``z_*``) and binary features.

        Returns
        -------
        dict
            ``label`` (0/1), ``z_<name>`` for each continuous feature (standard normal under
            wild-type, shifted by ``scale * shift`` under mutation), ``grade`` (1-4) and each
            binary feature (0/1).
        """
        label = (rng.random(n) < self.prevalence).astype(np.int64)
        out: dict[str, np.ndarray] = {"label": label}
        for name, _mean, _sd, shift in self.continuous:
            out[f"z_{name}"] = rng.standard_normal(n) + label * shift * self.scale
        out["grade"] = 1 + np.searchsorted(self._grade_edges_z(), out["z_grade_latent"]).astype(np.int64)
        for name, p_wild, odds_ratio in self.binary:
            p = np.where(label == 1, _mutated_probability(p_wild, odds_ratio), p_wild)
            out[name] = (rng.random(n) < p).astype(np.int64)
        return out

    def values(self, latents: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Turn standardised latents into the quantities the images and clinical data show."""
        raw = {name: mean + sd * latents[f"z_{name}"] for name, mean, sd, _ in self.continuous}
        albi = np.round(raw["albi"], 2)
        return {
            "tumor_diameter_mm": np.clip(np.exp(raw["log_diameter_mm"]), 12.0, 95.0),
            "necrosis_fraction": 0.6 * expit(raw["necrosis_logit"]),
            "margin_irregularity": 0.25 * expit(raw["margin_logit"]),
            "hbp_ratio": np.clip(raw["hbp_ratio"], 0.2, 0.95),
            "afp_ng_ml": np.round(np.clip(np.exp(raw["log_afp"]), 0.8, 60000.0), 1),
            "albi_score": albi,
            "albi_grade": np.where(albi <= -2.60, 1, np.where(albi <= -1.39, 2, 3)),
            "child_pugh": np.where(albi <= -2.10, "A", "B"),
            "age": np.clip(np.round(raw["age"]), 25, 85).astype(np.int64),
            "grade": latents["grade"],
        }

    # -- the exact posterior ----------------------------------------------------------------
    def log_odds(self, latents: dict[str, np.ndarray], features: Iterable[str] | None = None) -> np.ndarray:
        """Exact posterior log-odds of mutation given every feature of each case, or only ``features``.

        ``features`` names continuous and binary features of the mechanism (``grade_latent`` stands for
        the observed grade category); the features being independent given the label, the posterior
        given a subset is the same sum restricted to it (e.g. :data:`IMAGING_FEATURES`: what an image
        model could at best learn).
        """
        keep = None if features is None else set(features)
        if keep is not None:
            unknown = keep - {c[0] for c in self.continuous} - {b[0] for b in self.binary}
            if unknown:
                raise ValueError(f"Unknown mechanism feature(s) {sorted(unknown)}.")
        total = np.full(latents["label"].shape, logit(self.prevalence), dtype=float)
        for name, _mean, _sd, shift in self.continuous:
            if keep is not None and name not in keep:
                continue
            if name == "grade_latent":
                total += self._grade_log_ratio(latents["grade"])  # only the grade category is observable
                continue
            delta = shift * self.scale
            total += delta * latents[f"z_{name}"] - 0.5 * delta**2
        for name, p_wild, odds_ratio in self.binary:
            if keep is not None and name not in keep:
                continue
            p_mut = _mutated_probability(p_wild, odds_ratio)
            x = latents[name]
            total += np.where(x == 1, np.log(p_mut / p_wild), np.log((1 - p_mut) / (1 - p_wild)))
        return total

    def posterior(self, latents: dict[str, np.ndarray]) -> np.ndarray:
        """Exact P(mutated | all features)."""
        return expit(self.log_odds(latents))

    def _grade_log_ratio(self, grade: np.ndarray) -> np.ndarray:
        delta = self._shift("grade_latent") * self.scale
        edges = np.concatenate([[-np.inf], self._grade_edges_z(), [np.inf]])
        lo, hi = edges[grade - 1], edges[grade]
        return _log_interval_mass(lo - delta, hi - delta) - _log_interval_mass(lo, hi)

    def _shift(self, name: str) -> float:
        return self._spec(name)[2]

    def _spec(self, name: str) -> tuple[float, float, float]:
        for key, mean, sd, shift in self.continuous:
            if key == name:
                return mean, sd, shift
        raise KeyError(name)

    def _grade_edges_z(self) -> np.ndarray:
        """The grade cut points, given on the latent's own scale, in wild-type SD units."""
        mean, sd, _ = self._spec("grade_latent")
        return (np.asarray(self.grade_cuts) - mean) / sd


def _mutated_probability(p_wild: float, odds_ratio: float) -> float:
    odds = odds_ratio * p_wild / (1.0 - p_wild)
    return odds / (1.0 + odds)


def _log_interval_mass(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """log(Phi(hi) - Phi(lo)) for the standard normal CDF Phi, stable in both tails."""
    upper = lo > 0  # mirror intervals in the upper tail so that both CDFs stay small
    a = np.where(upper, -hi, lo)
    b = np.where(upper, -lo, hi)
    log_a, log_b = log_ndtr(a), log_ndtr(b)
    return log_b + np.log1p(-np.exp(np.minimum(log_a - log_b, -1e-300)))


def bayes_auc(mechanism: Mechanism, n: int, seed: int, features: Iterable[str] | None = None) -> float:
    """AUC of the true posterior (given every feature, or only ``features``) on ``n`` freshly drawn cases."""
    latents = mechanism.sample(np.random.default_rng(seed), n)
    return float(roc_auc_score(latents["label"], mechanism.log_odds(latents, features)))


@functools.lru_cache(maxsize=16)
def _solve_scale(mechanism_json: str, target: float, samples: int) -> float:
    """Bisection on the common shift scale so that the Bayes AUC equals ``target``."""
    spec = json.loads(mechanism_json)
    low, high = 0.0, 8.0

    def auc_at(scale: float) -> float:
        return bayes_auc(Mechanism.from_config(spec, scale=scale), samples, _CALIBRATION_SEED)

    floor, ceiling = auc_at(low), auc_at(high)
    if not floor <= target <= ceiling:
        from hccp53.errors import ConfigError

        raise ConfigError(
            f"The mechanism cannot reach a Bayes AUC of {target:.3f}: with these features it lies "
            f"between {floor:.3f} (no continuous signal) and {ceiling:.3f}; change "
            "'mechanism.target_bayes_auc' or the feature shifts."
        )
    for _ in range(30):
        middle = 0.5 * (low + high)
        if auc_at(middle) < target:
            low = middle
        else:
            high = middle
        if high - low < 1e-4:
            break
    scale = 0.5 * (low + high)
    logger.debug("mechanism scale %.4f solved for a target Bayes AUC of %.4f", scale, target)
    return scale
