"""The phantom: tumors inside the liver, lesion appearance per phase, the latent features visible in images."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from hccp53.synth import render
from hccp53.synth.anatomy import sample_anatomy
from hccp53.synth.config import load_config
from hccp53.synth.geometry import Grid

TEXTURE = load_config()["image"]["texture"]


def _anatomy(seed: int, **overrides):
    features = dict(tumor_diameter_mm=40.0, necrosis_fraction=0.1, margin_irregularity=0.1, hbp_ratio=0.5,
                    rim_aphe=False, capsule=True, satellites=0, cirrhosis=False)
    features.update(overrides)
    return sample_anatomy(np.random.default_rng(seed), texture_config=TEXTURE, **features)


def _grid_around(centre, size_mm=240.0, spacing=2.0, slices=60, slice_spacing=3.0) -> Grid:
    n = int(size_mm / spacing)
    return Grid.centred(np.asarray(centre, float), (slices, n, n), (slice_spacing, spacing, spacing))


@pytest.mark.parametrize("seed", range(6))
def test_large_lobulated_tumors_stay_inside_the_liver(seed: int) -> None:
    anatomy = _anatomy(seed, tumor_diameter_mm=90.0, margin_irregularity=0.25, satellites=2)
    assert len(anatomy.lesions) == 3
    grid = _grid_around(anatomy.liver_centre, size_mm=300.0, spacing=2.5, slices=80, slice_spacing=3.0)
    layers = render.memberships(anatomy, grid, np.zeros(3), 3.0)
    liver, tumor = render.label_masks(grid, layers)
    assert tumor.sum() > 0
    assert int((tumor.astype(bool) & ~liver.astype(bool)).sum()) == 0
    equivalent = 2 * (3 * tumor.sum() * np.prod(grid.spacing) / (4 * np.pi)) ** (1 / 3)
    assert 70 < equivalent < 120  # the largest lesion dominates the mask volume


def test_label_masks_do_report_a_tumor_outside_the_liver() -> None:
    """The containment check can fail: move a lesion out of the liver and the masks show it."""
    anatomy = _anatomy(1)
    grid = _grid_around(anatomy.liver_centre, size_mm=300.0, spacing=3.0, slices=70)
    moved = []
    from dataclasses import replace

    for layer in anatomy.layers:
        if layer.group == "tumor" and hasattr(layer.shape, "centre"):
            layer = replace(layer, shape=replace(layer.shape, centre=(120.0, -60.0, 0.0)))
        moved.append(layer)
    anatomy.layers[:] = moved
    liver, tumor = render.label_masks(grid, render.memberships(anatomy, grid, np.zeros(3), 3.0))
    assert (tumor.astype(bool) & ~liver.astype(bool)).sum() > 0


def _lesion_contrast(rim_aphe: bool, seed: int) -> float:
    """Arterial signal of the tumor's outer shell divided by its inner part (noise-free)."""
    anatomy = _anatomy(seed, rim_aphe=rim_aphe, necrosis_fraction=0.0, capsule=False)
    centre = anatomy.lesions[0].centre
    grid = _grid_around(centre, size_mm=80.0, spacing=1.0, slices=40, slice_spacing=1.5)
    layers = render.memberships(anatomy, grid, np.zeros(3), 1.5)
    _, tumor = render.label_masks(grid, layers)
    water, fat = render.t1_components(grid, layers, anatomy.tissues, "ap")
    arterial = render.combine(water, fat, "fs")
    inner = ndimage.binary_erosion(tumor, iterations=8)
    shell = tumor.astype(bool) & ~ndimage.binary_erosion(tumor, iterations=3)
    return float(arterial[shell].mean() / arterial[inner].mean())


def test_rim_arterial_enhancement_is_visible_when_the_latent_says_so() -> None:
    rim = [_lesion_contrast(True, s) for s in range(3)]
    homogeneous = [_lesion_contrast(False, s) for s in range(3)]
    assert min(rim) > 1.3
    assert max(homogeneous) < 1.15


def _median_ratio(path: Path, inside: np.ndarray, reference: np.ndarray) -> float:
    image = nib.load(path).get_fdata()
    return float(np.median(image[inside]) / np.median(image[reference]))


def test_lesion_appearance_in_the_prepared_phases(cohort: Path) -> None:
    """Literature appearance, measured on the noisy prepared volumes: it also checks their registration."""
    datalist = json.loads((cohort / "datalist.json").read_text())
    for case in datalist["training"] + datalist["test"]:
        tumor = nib.load(cohort / case["mask"]).get_fdata() > 0
        liver = nib.load(cohort / case["liver_mask"]).get_fdata() > 0
        core = ndimage.binary_erosion(tumor, iterations=1) if ndimage.binary_erosion(tumor).sum() > 20 else tumor
        parenchyma = ndimage.binary_erosion(liver & ~ndimage.binary_dilation(tumor, iterations=3), iterations=2)

        ratio = {phase: _median_ratio(cohort / case[phase], core, parenchyma)
                 for phase in ("t2", "pvp", "hbp") if phase in case}
        assert ratio["t2"] > 1.05, case["case_id"]           # mildly T2-hyperintense
        assert ratio["pvp"] < 1.0, case["case_id"]           # washout
        if "hbp" in ratio:
            assert ratio["hbp"] < 0.85, case["case_id"]      # hypointense on the hepatobiliary phase


def test_truth_records_lesions_inside_the_reference_grid(truths: dict) -> None:
    for truth in truths.values():
        grid = truth["reference_grid"]
        origin = np.asarray(grid["origin"])
        extent = np.asarray(grid["shape"][::-1]) * np.asarray(grid["spacing"][::-1])
        centre = np.asarray(truth["lesions"][0]["centre_lps_mm"])
        assert np.all(centre > origin - 1) and np.all(centre < origin + extent + 1)
        assert truth["tumor_volume_ml"] > 0.5
