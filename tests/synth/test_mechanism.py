"""The latent P53 mechanism: exact posterior, Bayes AUC in the configured range, effect directions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from hccp53.errors import ConfigError
from hccp53.synth.config import load_config
from hccp53.synth.mechanism import IMAGING_FEATURES, IMAGING_FEATURES_HBP, Mechanism


@pytest.fixture(scope="module")
def mechanism() -> Mechanism:
    return Mechanism.from_config(load_config()["mechanism"])


@pytest.fixture(scope="module")
def latents(mechanism: Mechanism) -> dict[str, np.ndarray]:
    return mechanism.sample(np.random.default_rng(11), 100_000)


def _reference_posterior(mechanism: Mechanism, case: dict[str, float]) -> float:
    """Bayes' rule written out with scipy densities, independently of Mechanism.log_odds."""
    like = {0: 1.0 - mechanism.prevalence, 1: mechanism.prevalence}
    for label in (0, 1):
        for name, _mean, _sd, shift in mechanism.continuous:
            if name == "grade_latent":
                continue
            like[label] *= stats.norm.pdf(case[f"z_{name}"], loc=label * shift * mechanism.scale)
        cuts = [-np.inf, *mechanism.grade_cuts, np.inf]
        grade = int(case["grade"])
        delta = label * mechanism._shift("grade_latent") * mechanism.scale
        like[label] *= stats.norm.cdf(cuts[grade] - delta) - stats.norm.cdf(cuts[grade - 1] - delta)
        for name, p_wild, odds_ratio in mechanism.binary:
            odds = odds_ratio * p_wild / (1 - p_wild)
            p = odds / (1 + odds) if label else p_wild
            like[label] *= p if case[name] == 1 else 1 - p
    return like[1] / (like[0] + like[1])


def test_posterior_matches_bayes_rule_written_out(mechanism: Mechanism, latents: dict[str, np.ndarray]) -> None:
    posterior = mechanism.posterior(latents)
    for i in range(0, 100_000, 9_973):
        case = {k: v[i] for k, v in latents.items()}
        assert posterior[i] == pytest.approx(_reference_posterior(mechanism, case), abs=1e-12)


def test_posterior_is_calibrated(mechanism: Mechanism, latents: dict[str, np.ndarray]) -> None:
    posterior = mechanism.posterior(latents)
    bins = np.clip((posterior * 10).astype(int), 0, 9)
    for b in range(10):
        inside = bins == b
        if inside.sum() > 2000:
            assert latents["label"][inside].mean() == pytest.approx(posterior[inside].mean(), abs=0.02)


def test_prevalence_and_rim_odds_ratio(latents: dict[str, np.ndarray]) -> None:
    label = latents["label"]
    assert label.mean() == pytest.approx(0.57, abs=0.01)
    rim = latents["rim_aphe"]
    odds = [rim[label == k].mean() / (1 - rim[label == k].mean()) for k in (0, 1)]
    assert odds[1] / odds[0] == pytest.approx(2.5, rel=0.08)


def test_mutated_tumors_are_larger_more_necrotic_darker_on_hbp(
    mechanism: Mechanism, latents: dict[str, np.ndarray]
) -> None:
    values = mechanism.values(latents)
    mutated = latents["label"] == 1
    assert np.median(values["tumor_diameter_mm"][mutated]) > np.median(values["tumor_diameter_mm"][~mutated])
    assert values["necrosis_fraction"][mutated].mean() > values["necrosis_fraction"][~mutated].mean()
    assert values["margin_irregularity"][mutated].mean() > values["margin_irregularity"][~mutated].mean()
    assert values["hbp_ratio"][mutated].mean() < values["hbp_ratio"][~mutated].mean()
    assert np.median(values["afp_ng_ml"][mutated]) > np.median(values["afp_ng_ml"][~mutated])
    assert values["grade"][mutated].mean() > values["grade"][~mutated].mean()
    # Overlap: the classes are far from separable by size alone.
    assert 0.55 < roc_auc_score(latents["label"], values["tumor_diameter_mm"]) < 0.75


@pytest.mark.parametrize("target", [0.70, 0.80, 0.90])
def test_scale_is_solved_for_the_target_auc(target: float) -> None:
    config = load_config(mechanism__target_bayes_auc=target, mechanism__calibration_samples=50_000)
    mechanism = Mechanism.from_config(config["mechanism"])
    latents = mechanism.sample(np.random.default_rng(5), 50_000)
    assert roc_auc_score(latents["label"], mechanism.log_odds(latents)) == pytest.approx(target, abs=0.01)


def test_unreachable_target_is_a_clear_error() -> None:
    config = load_config(mechanism__calibration_samples=20_000)
    config["mechanism"]["binary"] = {"rim_aphe": [0.2, 80.0]}  # alone already above the target
    config["mechanism"]["target_bayes_auc"] = 0.56
    with pytest.raises(ConfigError, match="cannot reach a Bayes AUC of 0.560"):
        Mechanism.from_config(config["mechanism"])



def test_posterior_given_imaging_features_matches_bayes_rule(mechanism: Mechanism, latents: dict) -> None:
    """The subset posterior is Bayes' rule over the imaging features alone (independent given the label)."""
    log_odds = mechanism.log_odds(latents, IMAGING_FEATURES)
    continuous = {c[0]: c for c in mechanism.continuous}
    binary = {b[0]: b for b in mechanism.binary}
    for i in range(0, 100_000, 19_997):
        like = {0: 1.0 - mechanism.prevalence, 1: mechanism.prevalence}
        for label in (0, 1):
            for name in IMAGING_FEATURES:
                if name in continuous:
                    shift = continuous[name][3]
                    like[label] *= stats.norm.pdf(latents[f"z_{name}"][i], loc=label * shift * mechanism.scale)
                else:
                    _, p_wild, odds_ratio = binary[name]
                    odds = odds_ratio * p_wild / (1 - p_wild)
                    p = odds / (1 + odds) if label else p_wild
                    like[label] *= p if latents[name][i] == 1 else 1 - p
        assert log_odds[i] == pytest.approx(np.log(like[1] / like[0]), abs=1e-9)


def test_imaging_only_ceiling_is_below_the_full_bayes_auc(mechanism: Mechanism, latents: dict) -> None:
    every = [c[0] for c in mechanism.continuous] + [b[0] for b in mechanism.binary]
    np.testing.assert_array_equal(mechanism.log_odds(latents, every), mechanism.log_odds(latents))
    full = roc_auc_score(latents["label"], mechanism.log_odds(latents))
    imaging = roc_auc_score(latents["label"], mechanism.log_odds(latents, IMAGING_FEATURES))
    with_hbp = roc_auc_score(latents["label"], mechanism.log_odds(latents, IMAGING_FEATURES_HBP))
    assert imaging < with_hbp < full
    with pytest.raises(ValueError, match="Unknown mechanism feature"):
        mechanism.log_odds(latents, ["tumor_colour"])
