"""One case's abdominal phantom: body, organs, vessels and the HCC lesion(s).

Coordinates are DICOM patient LPS in mm: x to the patient's left, y posterior, z toward
the head; the liver dome lies near z = +80 and the kidneys' lower poles near z = -100.
Layers are painted in order, later over earlier (see :mod:`hccp53.synth.render`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from hccp53.synth.shapes import (
    Ellipsoid,
    EllipticCylinder,
    LobulatedEllipsoid,
    Offset,
    Shape,
    Texture,
    Tube,
    Union,
)
from hccp53.synth.tissues import BASE_TISSUES, Tissue, lesion_tissues


@dataclass(frozen=True)
class Layer:
    """A shape filled with a tissue; ``group`` says which ground-truth mask it belongs to."""

    name: str
    shape: Shape
    tissue: str
    group: str | None = None  # "liver", "tumor" or None
    texture: Texture | None = None
    texture_amplitude: float = 0.0


@dataclass(frozen=True)
class Lesion:
    """Ground truth of one HCC (the first lesion of a case is the largest, the index tumor)."""

    centre: tuple[float, float, float]
    diameter_mm: float
    necrosis_fraction: float
    margin_irregularity: float
    rim_aphe: bool
    capsule: bool


@dataclass
class Anatomy:
    layers: list[Layer]
    tissues: dict[str, Tissue]
    lesions: list[Lesion]
    liver: Shape
    liver_centre: np.ndarray
    body_radii: tuple[float, float]
    steatosis: float
    notes: dict[str, float] = field(default_factory=dict)


def _sphere_points(rng: np.random.Generator, n: int = 96) -> np.ndarray:
    points = rng.standard_normal((n, 3))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _inside(shape: Shape, points: np.ndarray) -> bool:
    x, y, z = (points[:, i].astype(np.float32) for i in range(3))
    return bool(np.all(shape.sdf(x, y, z) < 0))


def _outside(shape: Shape, points: np.ndarray) -> bool:
    x, y, z = (points[:, i].astype(np.float32) for i in range(3))
    return bool(np.all(shape.sdf(x, y, z) > 0))


def _liver_shape(rng: np.random.Generator, scale: float, offset: np.ndarray) -> Union:
    right = Ellipsoid(
        tuple((np.array([-55.0, 5.0, 10.0]) + offset).tolist()),
        tuple((np.array([75.0, 80.0, 80.0]) * scale * rng.uniform(0.95, 1.05, 3)).tolist()),
        (float(rng.uniform(-0.15, 0.15)), 0.0, 0.0),
    )
    left = Ellipsoid(
        tuple((np.array([18.0, -38.0, 35.0]) + offset).tolist()),
        tuple((np.array([58.0, 30.0, 34.0]) * scale * rng.uniform(0.9, 1.1, 3)).tolist()),
        (float(rng.uniform(-0.2, 0.2)), 0.0, 0.0),
    )
    caudate = Ellipsoid(
        tuple((np.array([-8.0, 20.0, 25.0]) + offset).tolist()),
        tuple((np.array([22.0, 20.0, 30.0]) * scale).tolist()),
    )
    return Union((right, left, caudate))


def _lesion_body(rng: np.random.Generator, diameter_mm: float, margin_irregularity: float) -> LobulatedEllipsoid:
    """A lobulated ellipsoid at the origin whose volume-equivalent diameter is ``diameter_mm``."""
    radii = diameter_mm / 2.0 * rng.uniform(0.85, 1.15, 3)
    radii *= (diameter_mm / 2.0) / np.cbrt(np.prod(radii))
    return LobulatedEllipsoid(
        (0.0, 0.0, 0.0),
        tuple(radii.tolist()),
        tuple(rng.uniform(-np.pi, np.pi, 3).tolist()),
        amplitude=margin_irregularity,
        frequencies=tuple(tuple((rng.standard_normal(3) * rng.uniform(2.0, 5.0)).tolist()) for _ in range(6)),
        phases=tuple(rng.uniform(0, 2 * np.pi, 6).tolist()),
    )


def _outer_radius(body: LobulatedEllipsoid) -> float:
    """Radius of a sphere holding the lesion and its capsule (<= 2.2 mm), from 4,000 directions."""
    d = _sphere_points(np.random.default_rng(0), 4000).astype(np.float32)
    factor = float(body.radial_factor(d[:, 0], d[:, 1], d[:, 2]).max())
    return max(body.radii) * (factor + 0.02) + 2.5


def _lesion_layers(
    rng: np.random.Generator, index: int, lesion: Lesion, body: LobulatedEllipsoid, texture_range: list[float]
) -> list[Layer]:
    """Capsule, enhancing rim, core and necrosis of one lesion, painted in that order."""
    texture = Texture.random(rng, (5.0, 14.0))
    amplitude = float(rng.uniform(*texture_range))
    radius = float(np.cbrt(np.prod(body.radii)))
    layers: list[Layer] = []
    if lesion.capsule:
        thickness = float(rng.uniform(1.2, 2.2))
        layers.append(Layer(f"lesion{index}_capsule", Offset(body, thickness), "capsule", "tumor"))
    rim = max(3.0, 0.22 * radius)
    layers.append(Layer(f"lesion{index}_rim", body, "tumor_rim", "tumor", texture, amplitude))
    layers.append(Layer(f"lesion{index}_core", Offset(body, -rim), "tumor_core", "tumor", texture, amplitude))
    if lesion.necrosis_fraction > 0.01:
        core_radius = radius * lesion.necrosis_fraction ** (1.0 / 3.0)
        centre = np.asarray(lesion.centre) + rng.normal(0.0, 0.15 * (radius - core_radius), 3)
        necrosis = LobulatedEllipsoid(
            tuple(centre.tolist()),
            tuple((core_radius * rng.uniform(0.85, 1.15, 3)).tolist()),
            amplitude=0.15,
            frequencies=body.frequencies[:4],
            phases=tuple(rng.uniform(0, 2 * np.pi, 4).tolist()),
        )
        layers.append(Layer(f"lesion{index}_necrosis", necrosis, "necrosis", "tumor"))
    return layers


def _place_lesion(
    rng: np.random.Generator,
    liver: Shape,
    avoid: list[Shape],
    radius: float,
    others: list[tuple[np.ndarray, float]],
) -> np.ndarray | None:
    """A centre whose sphere of ``radius`` (+3 mm) lies inside the liver and clear of ``avoid``."""
    lower, upper = liver.bounds()
    directions = _sphere_points(rng)
    for _ in range(400):
        centre = rng.uniform(lower, upper)
        if any(np.linalg.norm(centre - c) < radius + r + 5.0 for c, r in others):
            continue
        points = centre + directions * (radius + 3.0)
        if _inside(liver, np.vstack([centre, points])) and all(_outside(s, points) for s in avoid):
            return centre
    return None


def sample_anatomy(
    rng: np.random.Generator,
    *,
    tumor_diameter_mm: float,
    necrosis_fraction: float,
    margin_irregularity: float,
    hbp_ratio: float,
    rim_aphe: bool,
    capsule: bool,
    satellites: int,
    cirrhosis: bool,
    texture_config: dict,
) -> Anatomy:
    """Draw one case's phantom around its latent tumor features.

    The liver is enlarged (hepatomegaly) when the index tumor does not fit, as a large
    HCC does to a real liver; the tumor's features are never altered to fit.
    """
    body_radii = (float(rng.uniform(145, 175)), float(rng.uniform(105, 125)))
    rx, ry = body_radii
    fat = float(rng.uniform(8, 30))
    layers = [
        Layer("body_fat", EllipticCylinder((0.0, 0.0), body_radii), "fat"),
        Layer("muscle_wall", EllipticCylinder((0.0, 0.0), (rx - fat, ry - fat)), "muscle"),
        Layer("cavity", EllipticCylinder((0.0, 0.0), (rx - fat - 10, ry - fat - 10)), "viscera"),
        Layer("paraspinal_right", EllipticCylinder((-35.0, ry - fat - 30), (24.0, 20.0)), "muscle"),
        Layer("paraspinal_left", EllipticCylinder((35.0, ry - fat - 30), (24.0, 20.0)), "muscle"),
        Layer("vertebra", EllipticCylinder((0.0, 55.0), (19.0, 16.0)), "marrow"),
        Layer("spinal_canal", EllipticCylinder((0.0, 80.0), (7.0, 7.0)), "csf"),
    ]
    liver_offset = rng.normal(0.0, 5.0, 3)
    scale = float(rng.uniform(0.92, 1.08)) * (0.93 if cirrhosis else 1.0)
    main_body = _lesion_body(rng, tumor_diameter_mm, margin_irregularity)
    outer = _outer_radius(main_body)
    gallbladder = Ellipsoid(
        tuple((np.array([-40.0, -45.0, -45.0]) + liver_offset).tolist()), (14.0, 13.0, 32.0), (0.0, 0.3, 0.0)
    )
    while True:
        liver = _liver_shape(rng, scale, liver_offset)
        main_centre = _place_lesion(rng, liver, [gallbladder], outer, [])
        if main_centre is not None:
            break
        scale *= 1.06  # hepatomegaly: grow the liver until the tumor fits
        if scale > 2.5:
            raise RuntimeError(f"cannot place a {tumor_diameter_mm:.0f} mm lesion in the liver")
    liver_centre = np.array([-35.0, 0.0, 10.0]) + liver_offset
    z_top = 10.0 + liver_offset[2] + 80.0 * scale
    layers += [
        Layer("lung_right", Ellipsoid((-80.0, 25.0, z_top + 45), (60.0, 75.0, 80.0)), "lung"),
        Layer("lung_left", Ellipsoid((80.0, 25.0, z_top + 35), (60.0, 75.0, 80.0)), "lung"),
        Layer("kidney_right", Ellipsoid((-72.0, 48.0, -60.0), (30.0, 26.0, 55.0), (0.3, 0.0, 0.0)), "kidney_cortex"),
        Layer("medulla_right", Ellipsoid((-72.0, 48.0, -60.0), (17.0, 14.0, 38.0), (0.3, 0.0, 0.0)), "kidney_medulla"),
        Layer("kidney_left", Ellipsoid((72.0, 48.0, -40.0), (30.0, 26.0, 55.0), (-0.3, 0.0, 0.0)), "kidney_cortex"),
        Layer("medulla_left", Ellipsoid((72.0, 48.0, -40.0), (17.0, 14.0, 38.0), (-0.3, 0.0, 0.0)), "kidney_medulla"),
        Layer(
            "spleen",
            Ellipsoid((88.0, 35.0, 30.0), tuple((np.array([42.0, 30.0, 55.0]) * rng.uniform(0.85, 1.2)).tolist()),
                      (0.5, 0.0, 0.0)),
            "spleen",
        ),
        Layer("stomach", Ellipsoid((50.0, -30.0, 30.0), (40.0, 30.0, 40.0)), "stomach"),
    ]
    liver_texture = Texture.random(rng, (6.0, 30.0), terms=24)
    liver_amplitude = texture_config["liver_cirrhotic" if cirrhosis else "liver"]
    layers.append(Layer("liver", liver, "liver", "liver", liver_texture, liver_amplitude))
    o = liver_offset
    layers += [
        Layer("gallbladder", gallbladder, "gallbladder"),
        Layer("ivc", Tube((-20.0 + o[0], 28.0, -140.0), (-20.0 + o[0], 28.0, z_top - 5), 11.0), "ivc"),
        Layer("aorta", Tube((15.0, 35.0, -140.0), (15.0, 35.0, z_top + 40), 11.0), "aorta"),
        Layer("portal_main", Tube((0.0 + o[0], 5 + o[1], -50 + o[2]), (-35 + o[0], 5 + o[1], -5 + o[2]), 7.0),
              "portal_vein", "liver"),
        Layer("portal_right", Tube((-35 + o[0], 5 + o[1], -5 + o[2]), (-85 + o[0], 10 + o[1], 10 + o[2]), 5.0),
              "portal_vein", "liver"),
        Layer("portal_left", Tube((-35 + o[0], 5 + o[1], -5 + o[2]), (15 + o[0], -28 + o[1], 18 + o[2]), 4.0),
              "portal_vein", "liver"),
    ]
    confluence = (-20.0 + o[0], 28.0, z_top - 20)
    for i, start in enumerate([(-100.0, 0.0, 20.0), (-50.0, -40.0, 25.0), (10.0, -35.0, 40.0)]):
        tip = tuple((np.asarray(start) + o).tolist())
        layers.append(Layer(f"hepatic_vein{i}", Tube(tip, confluence, 4.0), "hepatic_vein", "liver"))

    liver_tissue = BASE_TISSUES["liver"]
    steatosis = float(np.clip(rng.gamma(1.2, 0.05), 0.0, 0.35))
    tissues = dict(BASE_TISSUES)
    tissues["liver"] = Tissue(liver_tissue.water, steatosis, liver_tissue.adc)
    tissues.update(lesion_tissues(rng, liver_tissue, rim_aphe, hbp_ratio))

    lesions = [Lesion(tuple(main_centre.tolist()), tumor_diameter_mm, necrosis_fraction, margin_irregularity,
                      rim_aphe, capsule)]
    bodies = [main_body]
    placed = [(main_centre, outer)]
    for _ in range(satellites):
        diameter = float(rng.uniform(10.0, max(12.0, 0.5 * tumor_diameter_mm)))
        while True:  # a satellite that does not fit is drawn smaller, never dropped
            satellite = _lesion_body(rng, diameter, margin_irregularity)
            r = _outer_radius(satellite)
            centre = _place_lesion(rng, liver, [gallbladder], r, placed)
            if centre is not None:
                break
            if diameter <= 6.0:
                raise RuntimeError("cannot place a satellite lesion in the liver")
            diameter *= 0.8
        placed.append((centre, r))
        bodies.append(satellite)
        lesions.append(Lesion(tuple(centre.tolist()), diameter, necrosis_fraction * 0.5,
                              margin_irregularity, rim_aphe, capsule))
    for index, (lesion, body) in enumerate(zip(lesions, bodies, strict=True)):
        layers += _lesion_layers(rng, index, lesion, replace(body, centre=lesion.centre), texture_config["tumor"])
    return Anatomy(layers, tissues, lesions, liver, liver_centre, body_radii, steatosis, {"liver_scale": scale})
