"""configs/radiomics.yaml keeps the tumor whole and gives every filtered image a usable number of grey levels."""

from __future__ import annotations

import json
from pathlib import Path

import SimpleITK as sitk

from hccp53 import DEFAULT_PHASES
from hccp53.radiomics.check import check_cohort, preprocessing_report
from hccp53.radiomics.extract import DEFAULT_SETTINGS


def _reports(cohort: Path, settings: Path, cases: int = 3) -> list[tuple[str, str, dict]]:
    datalist = json.loads((cohort / "datalist.json").read_text())
    out = []
    for case in datalist["training"][:cases]:
        mask = sitk.ReadImage(str(cohort / case["mask"]))
        for phase in DEFAULT_PHASES:
            image = sitk.ReadImage(str(cohort / case[phase]), sitk.sitkFloat32)
            out.append((case["case_id"], phase, preprocessing_report(image, mask, settings)))
    return out


def test_the_default_settings_keep_the_tumor_and_16_to_128_grey_levels(cohort: Path) -> None:
    for case_id, phase, report in _reports(cohort, DEFAULT_SETTINGS):
        assert report["clipped_fraction"] == 0.0, (case_id, phase)
        assert len(report["bins"]) == 1 + 2 + 8  # original, two LoG sigmas, eight wavelet decompositions
        outside = {name: n for name, n in report["bins"].items() if not 16 <= n <= 128}
        assert not outside, (case_id, phase, outside)


def test_the_check_finds_what_the_former_settings_did(cohort: Path, tmp_path: Path) -> None:
    """The settings before issue 24: 3-SD outlier clipping of the whole image and a fixed bin width of 25."""
    former = tmp_path / "radiomics.yaml"
    text = DEFAULT_SETTINGS.read_text().replace("  binCount: 32", "  removeOutliers: 3\n  binWidth: 25")
    former.write_text(text)
    table = check_cohort(cohort / "datalist.json", DEFAULT_PHASES, former, cases=3)  # the per-case check
    assert len(table) == 3 * len(DEFAULT_PHASES) and not table["ok"].any()
    assert table.loc[table["phase"] == "ap", "clipped_fraction"].max() > 0.05  # the enhancing tumor is the outlier
    assert table["min_bins"].min() < 16 and table["outside"].str.contains("wavelet").all()


def test_the_per_case_check_passes_every_case_with_the_default_settings(cohort: Path) -> None:
    table = check_cohort(cohort / "datalist.json", ("ap",), DEFAULT_SETTINGS, cases=2)
    assert list(table.columns) == ["case_id", "phase", "clipped_fraction", "min_bins", "max_bins", "outside", "ok"]
    assert table["ok"].all() and (table["outside"] == "").all()
