"""A multiphase phantom with known breath-hold shifts, rendered from the synthetic anatomy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import SimpleITK as sitk

from hccp53.synth import render
from hccp53.synth.anatomy import Anatomy, sample_anatomy
from hccp53.synth.config import load_config
from hccp53.synth.geometry import Grid

TEXTURE = load_config()["image"]["texture"]

# Anatomy displacement per phase (LPS x, y, z in mm), as between breath-holds: mostly along z.
SHIFTS_MM = {
    "pvp": (0.5, -0.8, 1.0),
    "ap": (1.6, -1.2, 6.0),
    "dp": (-1.1, 1.8, -4.5),
    "t2": (-1.5, 1.0, -7.5),
}

# Layers that breathing leaves in place (the sliding phantom): body wall, spine, aorta.
STILL_LAYERS = frozenset({"body_fat", "muscle_wall", "cavity", "paraspinal_right", "paraspinal_left", "vertebra",
                          "spinal_canal", "aorta"})


@dataclass
class Phantom:
    anatomy: Anatomy
    images: dict[str, sitk.Image]
    tumors: dict[str, sitk.Image]    # tumor mask of each phase, on its own grid, at its own shift
    livers: dict[str, sitk.Image]    # liver mask, likewise
    shifts: dict[str, np.ndarray]

    def relative_shift(self, phase: str, reference: str = "pvp") -> np.ndarray:
        """How far the anatomy of ``phase`` lies from that of ``reference`` (mm)."""
        return self.shifts[phase] - self.shifts[reference]

    def tumor_centre(self, phase: str) -> np.ndarray:
        """Where the index tumor's centre lies in ``phase`` (LPS mm)."""
        return np.asarray(self.anatomy.lesions[0].centre) + self.shifts[phase]


def _anatomy(seed: int = 3) -> Anatomy:
    return sample_anatomy(np.random.default_rng(seed), tumor_diameter_mm=30.0, necrosis_fraction=0.1,
                          margin_irregularity=0.1, hbp_ratio=0.5, rim_aphe=False, capsule=True, satellites=0,
                          cirrhosis=False, texture_config=TEXTURE)


def _render_phase(anatomy: Anatomy, grid: Grid, shift: np.ndarray, thickness: float, contrast: str,
                  rng: np.random.Generator, snr: float = 30.0,
                  still: frozenset[str] = frozenset()) -> tuple[sitk.Image, sitk.Image, sitk.Image]:
    """A noisy image of ``contrast`` (bias field, scanner gain), the tumor mask and the liver mask.

    Layers named in ``still`` stay where they are while the others move by ``shift``.
    """
    layers = render.memberships(anatomy, grid, shift, thickness)
    if still:
        fixed = {m.layer.name: m for m in render.memberships(anatomy, grid, np.zeros(3), thickness)}
        moved = {m.layer.name: m for m in layers}
        layers = []
        for layer in anatomy.layers:  # keep the painting order
            source = fixed if layer.name in still else moved
            if layer.name in source:
                layers.append(source[layer.name])
    water, fat = render.t1_components(grid, layers, anatomy.tissues, contrast)
    clean = render.combine(water, fat, "nofs" if contrast == "t2" else "fs")
    sigma = anatomy.tissues["liver"].water[contrast] / snr
    gain = np.float32(rng.uniform(0.8, 2.4))
    image = render.rician(rng, clean * render.bias_field(rng, grid, 0.15), sigma) * gain
    liver, tumor = render.label_masks(grid, layers)
    return grid.to_sitk(image), grid.to_sitk(tumor), grid.to_sitk(liver)


def _make_phantom(full_size: bool = False, seed: int = 3, sliding: bool = False) -> Phantom:
    """Four phases: ap, pvp, dp on one dynamic grid; t2 on a thick-slice grid of its own.

    The default keeps the field of view to ~160 mm around the liver and tumor (80 x 80 x 40
    voxels of 2 x 2 x 3 mm); ``full_size`` renders scanner-sized 256 x 256 x 67 volumes.
    ``sliding`` keeps the body wall, spine and aorta still while the organs move, as in
    breathing, on a coarse grid (3 mm voxels) over the whole body width.
    """
    anatomy = _anatomy(seed)
    centre = (np.asarray(anatomy.lesions[0].centre) + anatomy.liver_centre) / 2.0
    if sliding:
        centre = np.array([0.0, 0.0, centre[2]])
    t2_centre = centre + np.array([1.3, -0.7, 2.1])  # T2 is planned on its own: its grid does not align
    if full_size:
        dynamic = Grid.centred(centre, (67, 256, 256), (3.0, 1.5, 1.5))
        t2 = Grid.centred(t2_centre, (30, 224, 288), (7.0, 1.4, 1.4))
    elif sliding:
        dynamic = Grid.centred(centre, (40, 128, 128), (3.0, 3.0, 3.0))
        t2 = Grid.centred(t2_centre, (20, 112, 112), (6.0, 3.2, 3.2))
    else:
        dynamic = Grid.centred(centre, (40, 80, 80), (3.0, 2.0, 2.0))
        t2 = Grid.centred(t2_centre, (20, 72, 72), (6.0, 2.2, 2.2))
    rng = np.random.default_rng(seed)
    shifts = {phase: np.asarray(shift, dtype=float) for phase, shift in SHIFTS_MM.items()}
    images, tumors, livers = {}, {}, {}
    for phase, shift in shifts.items():
        grid, thickness = (t2, 6.0) if phase == "t2" else (dynamic, 3.0)
        images[phase], tumors[phase], livers[phase] = _render_phase(
            anatomy, grid, shift, thickness, phase, rng, still=STILL_LAYERS if sliding else frozenset())
    return Phantom(anatomy, images, tumors, livers, shifts)


@pytest.fixture(scope="session")
def phantom() -> Phantom:
    """The small phantom (80 x 80 x 40 dynamic grid), rendered once per session."""
    return _make_phantom()


@pytest.fixture(scope="session")
def sliding_phantom() -> Phantom:
    """The organs move between breath-holds, the body wall and spine do not (whole body width, 3 mm voxels)."""
    return _make_phantom(seed=1, sliding=True)


@pytest.fixture(scope="session")
def make_phantom() -> Callable[..., Phantom]:
    """The phantom builder, for other sizes: ``make_phantom(full_size=True)``."""
    return _make_phantom

