"""Feature stability: the ICC against R's two-way ANOVA, the one-voxel mask perturbations, the ICC filter."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError
from hccp53.radiomics.select import RadiomicsModel
from hccp53.radiomics.stability import feature_icc, icc, perturb_mask

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SCRIPT = ROOT / "scripts" / "golden" / "icc_golden.R"


def ratings(feature: str) -> np.ndarray:
    """One feature of the golden data as a cases x raters array (raters in their order of appearance)."""
    data = pd.read_csv(GOLDEN / "icc_data.csv")
    data = data[data.feature == feature]
    table = data.pivot(index="case", columns="rater", values="value")
    return table[list(dict.fromkeys(data.rater))].to_numpy()


@pytest.mark.parametrize("form, column", [("2,1", "icc21"), ("3,1", "icc31")])
def test_the_icc_is_what_r_computes_from_the_anova_mean_squares(form: str, column: str) -> None:
    golden = pd.read_csv(GOLDEN / "icc_results.csv").set_index("feature")
    for feature, expected in golden[column].items():
        assert float(icc(ratings(feature), form)) == pytest.approx(expected, rel=1e-10, abs=1e-12), feature


def test_many_features_at_once_give_each_one_s_icc() -> None:
    golden = pd.read_csv(GOLDEN / "icc_results.csv").set_index("feature").drop(index="shrout_fleiss")
    stack = np.stack([ratings(f) for f in golden.index], axis=2)  # 40 cases x 3 masks x 6 features
    np.testing.assert_allclose(icc(stack, "2,1"), golden["icc21"], rtol=1e-10)


def test_shrout_and_fleiss_table_2_gives_their_published_values() -> None:
    """Shrout & Fleiss (1979), Table 4: ICC(2,1) = 0.29 and ICC(3,1) = 0.71 on their 6 targets x 4 judges."""
    assert round(float(icc(ratings("shrout_fleiss"), "2,1")), 2) == 0.29
    assert round(float(icc(ratings("shrout_fleiss"), "3,1")), 2) == 0.71


def test_absolute_agreement_penalises_a_shift_between_masks_and_consistency_does_not() -> None:
    golden = pd.read_csv(GOLDEN / "icc_results.csv").set_index("feature")
    assert golden.loc["shifted", "icc21"] < 0.75 < golden.loc["shifted", "icc31"]


def test_a_feature_that_never_varies_has_no_icc() -> None:
    assert np.isnan(icc(np.ones((5, 3))))
    with pytest.raises(InputError, match="at least two cases and two raters"):
        icc(np.ones((1, 3)))
    with pytest.raises(InputError, match="missing or infinite"):
        icc(np.array([[1.0, np.nan], [2.0, 2.0]]))


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript on PATH (scripts/setup_system.sh installs R)")
def test_the_golden_file_is_what_r_computes_now(tmp_path: Path) -> None:
    out = tmp_path / "icc.csv"
    subprocess.run(["Rscript", str(SCRIPT), str(GOLDEN / "icc_data.csv"), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    now, golden = pd.read_csv(out), pd.read_csv(GOLDEN / "icc_results.csv")
    pd.testing.assert_frame_equal(now, golden, rtol=1e-12)


def small_mask() -> sitk.Image:
    """A 3 x 3 x 3 tumor in the middle of a 7 x 7 x 7 grid with anisotropic spacing, and a voxel of another
    label in a corner."""
    array = np.zeros((7, 7, 7), np.uint8)
    array[2:5, 2:5, 2:5] = 1
    array[0, 0, 0] = 2
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing((0.8, 0.8, 3.0))
    mask.SetOrigin((-10.0, 5.0, 2.5))
    return mask


def test_erosion_by_one_voxel_leaves_the_centre_of_a_small_cube() -> None:
    eroded = perturb_mask(small_mask(), "erode")
    array = sitk.GetArrayFromImage(eroded)
    assert array.sum() == 1 and array[3, 3, 3] == 1
    assert eroded.GetSpacing() == (0.8, 0.8, 3.0) and eroded.GetOrigin() == (-10.0, 5.0, 2.5)


def test_dilation_by_one_voxel_adds_the_face_neighbours() -> None:
    dilated = sitk.GetArrayFromImage(perturb_mask(small_mask(), "dilate"))
    assert dilated.sum() == 27 + 6 * 9  # the cube and one 3 x 3 layer on each of its six faces
    assert dilated[1, 3, 3] == 1 and dilated[1, 1, 3] == 0  # a face neighbour is in, an edge neighbour is not
    assert dilated[0, 0, 0] == 0  # the other label is background, not tumor
    assert set(np.unique(dilated)) == {0, 1}


def test_a_tumor_on_the_border_shrinks_there_too() -> None:
    array = np.zeros((4, 4, 4), np.uint8)
    array[:3, :3, :3] = 1
    eroded = sitk.GetArrayFromImage(perturb_mask(sitk.GetImageFromArray(array), "erode"))
    assert eroded.sum() == 1 and eroded[1, 1, 1] == 1


def test_an_unknown_perturbation_is_refused() -> None:
    with pytest.raises(ConfigError, match="'open' is not one of erode, dilate"):
        perturb_mask(small_mask(), "open")  # type: ignore[arg-type]


def stability_cohort(n: int = 60, seed: int = 4) -> tuple[pd.DataFrame, list[pd.DataFrame], np.ndarray]:
    """Features of ``n`` cases and of their eroded and dilated masks.

    ``ap_stable`` carries the label and barely moves with the contour; ``ap_unstable`` carries the label more
    strongly in the original mask but is noise in the perturbed ones; ``t2_noise_*`` are stable noise.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    ids = pd.Index([f"c{i:03d}" for i in range(n)], name="case_id")
    stable = y + rng.normal(0, 0.8, n)
    unstable = 2 * y + rng.normal(0, 0.5, n)
    noise = rng.normal(0, 1, (n, 4))

    def table(stable_part: np.ndarray, unstable_part: np.ndarray, jitter: float) -> pd.DataFrame:
        return pd.DataFrame({"ap_stable": stable_part + rng.normal(0, jitter, n), "ap_unstable": unstable_part,
                             **{f"t2_noise_{j}": noise[:, j] + rng.normal(0, jitter, n) for j in range(4)}},
                            index=ids)  # fmt: skip

    original = table(stable, unstable, 0.0)
    perturbed = [table(stable, rng.normal(0, 1.5, n), 0.05), table(stable, rng.normal(0, 1.5, n), 0.05)]
    return original, perturbed, y


def test_the_icc_filter_drops_an_unstable_feature_and_keeps_a_stable_one() -> None:
    original, perturbed, y = stability_cohort()
    plain = RadiomicsModel(min_univariate=1, p_threshold=0.01).fit(original, y)
    assert "ap_unstable" in plain.names  # the more informative feature, while nothing checks its stability
    model = RadiomicsModel(min_univariate=1, p_threshold=0.01, icc_threshold=0.75).fit(original, y, perturbed=perturbed)
    assert model.icc["ap_stable"] > 0.95 and model.icc["ap_unstable"] < 0.2
    assert "ap_unstable" not in model.names and "ap_stable" in model.names
    assert model.icc_kept == {"ap": {"kept": 1, "of": 2}, "t2": {"kept": 4, "of": 4}}
    assert model.steps["icc_stable"] == 5 and "icc_stable" not in plain.steps


def test_the_icc_reads_only_the_rows_being_fitted() -> None:
    """Perturbed extractions that hold other cases (test cases, say) do not change the ICC or the model."""
    original, perturbed, y = stability_cohort()
    train = original.index[:40]
    own = [p.loc[train] for p in perturbed]
    # the other cases' perturbed features say the unstable feature is perfectly stable
    leaky = [pd.concat([p.loc[train], original.loc[original.index[40:]]]) for p in perturbed]
    fitted = [RadiomicsModel(min_univariate=1, icc_threshold=0.75).fit(original.loc[train], y[:40], perturbed=p)
              for p in (own, leaky)]  # fmt: skip
    pd.testing.assert_series_equal(fitted[0].icc, fitted[1].icc)
    pd.testing.assert_series_equal(fitted[0].icc, feature_icc(original.loc[train], own))
    assert fitted[0].names == fitted[1].names


def test_a_case_whose_perturbed_extraction_failed_is_left_out_of_the_icc(caplog: pytest.LogCaptureFixture) -> None:
    original, perturbed, _ = stability_cohort()
    eroded = perturbed[0].copy()
    eroded.loc["c000"] = np.nan  # nothing left after erosion: a row of NaN (extract_cohort)
    values = feature_icc(original, [eroded, perturbed[1]])
    pd.testing.assert_series_equal(values, feature_icc(original.iloc[1:], [perturbed[0].iloc[1:], perturbed[1]]))
    eroded.loc["c001", "ap_stable"] = np.nan  # one feature failing in one case: that feature only has no ICC
    values = feature_icc(original, [eroded, perturbed[1]])
    assert np.isnan(values["ap_stable"]) and values.drop("ap_stable").notna().all()


def test_the_icc_filter_needs_the_perturbed_features_and_enough_cases() -> None:
    original, perturbed, y = stability_cohort(n=8)
    with pytest.raises(ConfigError, match="needs the features of the perturbed"):
        RadiomicsModel(icc_threshold=0.75).fit(original, y)
    with pytest.raises(InputError, match="Only 8 training cases .* at least 10"):
        RadiomicsModel(icc_threshold=0.75).fit(original, y, perturbed=perturbed)
    with pytest.raises(ConfigError, match="between 0 and 1, not 1.5"):
        RadiomicsModel(icc_threshold=1.5)
    original, perturbed, y = stability_cohort()
    with pytest.raises(InputError, match="ap_stable are missing from a perturbed-mask extraction"):
        RadiomicsModel(icc_threshold=0.75).fit(original, y, perturbed=[perturbed[0].drop(columns="ap_stable")])


def test_the_filter_logs_what_it_kept_per_phase(caplog: pytest.LogCaptureFixture) -> None:
    original, perturbed, y = stability_cohort()
    with caplog.at_level(logging.INFO, logger="hccp53.radiomics.select"):
        RadiomicsModel(min_univariate=1, icc_threshold=0.75).fit(original, y, perturbed=perturbed)
    assert "ICC(2,1) filter at 0.75: 5 of 6 features kept (ap 1/2, t2 4/4)." in caplog.text
