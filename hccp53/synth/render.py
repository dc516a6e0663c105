"""Render the phantom on a series grid: memberships, contrast compositing, noise, bias field.

Rendering is split in two so that one expensive step serves several images:

1. :func:`memberships` evaluates every layer's shape once on a grid for one breath-hold
   position (anatomy shifted by ``shift`` mm). A voxel's membership is the fraction of
   it inside the shape: a linear ramp one pixel wide across the surface, averaged over
   three positions inside thick slices (partial volume along the slice profile).
2. :func:`composite` paints the layers in order, each over the earlier ones with its
   membership as opacity, for one tissue property (water or fat signal of a contrast,
   diffusion-weighted signal, ADC).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hccp53.synth.anatomy import Anatomy, Layer
from hccp53.synth.geometry import Grid
from hccp53.synth.tissues import FAT_SAT_RESIDUAL, FAT_SIGNAL, Tissue


@dataclass
class Membership:
    layer: Layer
    region: tuple[slice, slice, slice]
    weight: np.ndarray       # fraction of each voxel inside the shape, 0..1
    texture: np.ndarray | None  # multiplicative texture (1 + amplitude * field), or None


def memberships(anatomy: Anatomy, grid: Grid, shift: np.ndarray, thickness: float) -> list[Membership]:
    """Every layer's membership on ``grid`` with the anatomy displaced by ``shift`` (mm, LPS)."""
    pixel = float(min(grid.spacing[1], grid.spacing[2]))
    edge = np.float32(max(pixel, 0.8))
    offsets = (-thickness / 3.0, 0.0, thickness / 3.0) if thickness > 2.0 * pixel else (0.0,)
    shift32 = np.asarray(shift, dtype=np.float32)
    result = []
    for layer in anatomy.layers:
        lower, upper = layer.shape.bounds()
        region = grid.region(np.asarray(lower) + shift, np.asarray(upper) + shift)
        if region is None:
            continue
        weight = None
        for offset in offsets:
            x, y, z = grid.world(region, slice_offset=offset)
            m = np.clip(0.5 - layer.shape.sdf(x - shift32[0], y - shift32[1], z - shift32[2]) / edge, 0.0, 1.0)
            weight = m if weight is None else weight + m
        weight = (weight / np.float32(len(offsets))).astype(np.float32)
        if not weight.any():
            continue
        texture = None
        if layer.texture is not None and layer.texture_amplitude > 0:
            x, y, z = grid.world(region)
            field_ = layer.texture(x - shift32[0], y - shift32[1], z - shift32[2])
            texture = (1.0 + np.float32(layer.texture_amplitude) * field_).astype(np.float32)
        result.append(Membership(layer, region, weight, texture))
    return result


def composite(grid: Grid, layers: list[Membership], value: Callable[[Tissue], float],
              tissues: dict[str, Tissue]) -> np.ndarray:
    """Paint ``value(tissue)`` of each layer over the earlier ones (background 0)."""
    image = np.zeros(grid.shape, dtype=np.float32)
    for item in layers:
        v = np.float32(value(tissues[item.layer.tissue]))
        patch = image[item.region]
        fill = v * item.texture if item.texture is not None else v
        patch += item.weight * (fill - patch)
    return image


def t1_components(grid: Grid, layers: list[Membership], tissues: dict[str, Tissue],
                  contrast: str) -> tuple[np.ndarray, np.ndarray]:
    """Water and fat images of a T1-weighted (or ``t2``) contrast."""
    fat_signal = FAT_SIGNAL["t2" if contrast == "t2" else "t1"]
    water = composite(grid, layers, lambda t: t.water[contrast] * (1.0 - t.fat_fraction), tissues)
    fat = composite(grid, layers, lambda t: fat_signal * t.fat_fraction, tissues)
    return water, fat


def combine(water: np.ndarray, fat: np.ndarray, kind: str) -> np.ndarray:
    """Image of a fat-handling ``kind``: fs, nofs, water, fat, in (in-phase), opp (opposed-phase)."""
    if kind == "fs":
        return water + np.float32(FAT_SAT_RESIDUAL) * fat
    if kind in ("nofs", "in"):
        return water + fat
    if kind == "water":
        return water
    if kind == "fat":
        return fat
    if kind == "opp":
        return np.abs(water - fat)
    raise ValueError(f"unknown fat handling {kind!r}")


def diffusion(grid: Grid, layers: list[Membership], tissues: dict[str, Tissue], b_value: float) -> np.ndarray:
    """Fat-saturated diffusion-weighted signal, S0 * exp(-b * ADC)."""
    def signal(t: Tissue) -> float:
        s0 = t.water["t2"] * (1.0 - t.fat_fraction) + FAT_SAT_RESIDUAL * FAT_SIGNAL["t2"] * t.fat_fraction
        return s0 * float(np.exp(-b_value * t.adc * 1e-3))
    return composite(grid, layers, signal, tissues)


def adc_map(grid: Grid, layers: list[Membership], tissues: dict[str, Tissue]) -> np.ndarray:
    """Apparent diffusion coefficient in 1e-6 mm^2/s (0 in air)."""
    return composite(grid, layers, lambda t: t.adc * 1000.0, tissues)


def rician(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of SD ``sigma`` per channel."""
    real = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.sqrt(real * real + imag * imag)


def bias_field(rng: np.random.Generator, grid: Grid, amplitude: float) -> np.ndarray:
    """Smooth multiplicative receive-coil field: exp of a random quadratic in x, y, z."""
    x, y, z = grid.world()
    u, v, w = x / np.float32(200.0), y / np.float32(150.0), z / np.float32(150.0)
    terms = [u, v, w, u * u, v * v, u * v, v * w]
    coefficients = rng.normal(0.0, 1.0, len(terms))
    log_field = sum(np.float32(c) * t for c, t in zip(coefficients, terms, strict=True))
    peak = float(np.max(np.abs(log_field))) or 1.0
    return np.exp(log_field * np.float32(np.log1p(amplitude) / peak)).astype(np.float32)


def label_masks(grid: Grid, layers: list[Membership]) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth liver and tumor masks: the group of the last layer covering each voxel.

    A voxel is tumor when the topmost layer with membership >= 0.5 is part of a lesion; it
    is liver when that layer is liver, intrahepatic vessel or lesion *and* the voxel lies
    inside the liver's own shape. A lesion outside the liver would therefore show up as
    tumor outside the liver mask.
    """
    owner = np.full(grid.shape, -1, dtype=np.int16)
    liver_shape = np.zeros(grid.shape, dtype=bool)
    for index, item in enumerate(layers):
        covered = item.weight >= 0.5
        owner[item.region][covered] = index
        if item.layer.name == "liver":
            liver_shape[item.region] |= covered
    groups = np.array([item.layer.group or "" for item in layers] + [""], dtype=object)
    group_of = groups[owner]  # index -1 picks the trailing "" (background)
    tumor = group_of == "tumor"
    liver = ((group_of == "liver") | tumor) & liver_shape
    return liver.astype(np.uint8), tumor.astype(np.uint8)
