"""Appearance styles of the synthetic images: per-case draws of how a scanner, protocol and patient make them look.

A *style* names ranges (``appearance.styles`` in ``defaults.yaml``) from which each case draws its own
appearance from a dedicated random stream: the strength of the receive-coil bias field, the noise level and
type, the enhancement of each post-contrast phase, a contrast curve, parenchymal and tumor texture, the
spatial frequency of the tumor's lobes, and the acquired in-plane resolution and slice profile.

``phantom`` (the default) draws nothing and renders exactly as the generator always has: the same seed gives
the same bytes. ``varied`` is the training range; ``heldout`` differs from it, in the parameters it lists under
``holds_out``, by ranges that ``varied`` never reaches, and is reserved for testing generalisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from hccp53.synth.anatomy import Anatomy, Layer
from hccp53.synth.shapes import LobulatedEllipsoid, Offset, Shape
from hccp53.synth.tissues import Tissue

PHANTOM = "phantom"
STYLES = (PHANTOM, "varied", "heldout")
NOISE_TYPES = ("gaussian", "rician", "chi")
ENHANCED = ("eap", "ap", "pvp", "dp", "hbp")  # contrasts whose signal is pre-contrast + enhancement

#: Each range parameter of a style and the physical bounds its [low, high] must lie in.
RANGES: dict[str, tuple[float, float]] = {
    "bias_field": (0.0, 0.9),            # peak relative amplitude of the receive field (< 1: no sign change)
    "snr_scale": (0.1, 5.0),             # factor on image.snr
    "chi_coils": (2, 32),                # receive channels combined by sum of squares (noise type chi)
    "enhancement_scale": (0.1, 3.0),     # factor on each tissue's enhancement over its pre-contrast signal
    "gamma": (0.3, 3.0),                 # contrast-curve exponent about the liver's signal
    "texture_scale": (0.0, 2.5),         # factor on image.texture amplitudes (2.5 keeps 1 + texture > 0)
    "lobe_frequency_scale": (0.5, 2.0),  # factor on the spatial frequency of the tumor margin's lobes
    "resolution_scale": (1.0, 3.0),      # acquired in-plane pixel / reconstructed pixel (zero-filled k-space)
    "thickness_scale": (1.0, 3.0),       # effective slice profile / slice spacing
}


@dataclass(frozen=True)
class Appearance:
    """One case's drawn appearance (recorded in ``truth.json``)."""

    style: str
    bias_field: float
    snr_scale: float
    noise_type: str
    chi_coils: int
    enhancement_scale: dict[str, float]
    gamma: float
    texture_scale: float
    lobe_frequency_scale: float
    resolution_scale: float
    thickness_scale: float

    def record(self) -> dict[str, Any]:
        """JSON-ready values, rounded as written to ``truth.json``."""
        values = asdict(self)
        return {k: (round(v, 4) if isinstance(v, float) else
                    {p: round(f, 4) for p, f in v.items()} if isinstance(v, dict) else v)
                for k, v in values.items()}


def style_record(appearance: Appearance | None) -> dict[str, Any]:
    """What ``truth.json`` says about a case's appearance (only the style name for ``phantom``)."""
    return {"style": PHANTOM} if appearance is None else appearance.record()


def draw_appearance(rng: np.random.Generator, settings: dict[str, Any]) -> Appearance | None:
    """Draw one case's appearance from the ranges of ``settings["style"]``; None for ``phantom``.

    Parameters
    ----------
    rng:
        The case's own ``appearance`` stream (never shared with another purpose).
    settings:
        The ``appearance`` section of the synth configuration.
    """
    style = settings["style"]
    if style == PHANTOM:
        return None
    spec = settings["styles"][style]

    def uniform(name: str) -> float:
        low, high = spec[name]
        return float(rng.uniform(low, high))

    types = [t for t in NOISE_TYPES if spec["noise_types"].get(t, 0) > 0]
    weights = np.asarray([spec["noise_types"][t] for t in types], dtype=float)
    noise_type = types[int(rng.choice(len(types), p=weights / weights.sum()))]
    coils = int(rng.integers(spec["chi_coils"][0], spec["chi_coils"][1] + 1))
    return Appearance(
        style=style,
        bias_field=uniform("bias_field"),
        snr_scale=uniform("snr_scale"),
        noise_type=noise_type,
        chi_coils=coils if noise_type == "chi" else 1,
        enhancement_scale={phase: uniform("enhancement_scale") for phase in ENHANCED},
        gamma=uniform("gamma"),
        texture_scale=uniform("texture_scale"),
        lobe_frequency_scale=uniform("lobe_frequency_scale"),
        resolution_scale=uniform("resolution_scale"),
        thickness_scale=uniform("thickness_scale"),
    )


def _enhanced(tissue: Tissue, scale: dict[str, float]) -> Tissue:
    pre = tissue.water["pre"]
    water = dict(tissue.water)
    for phase, factor in scale.items():
        water[phase] = max(pre + factor * (water[phase] - pre), 0.0)
    return replace(tissue, water=water)


def _lobes(shape: Shape, factor: float) -> Shape:
    if isinstance(shape, Offset):
        return replace(shape, shape=_lobes(shape.shape, factor))
    if isinstance(shape, LobulatedEllipsoid):
        return replace(shape, frequencies=tuple(tuple(f * factor for f in v) for v in shape.frequencies))
    return shape


def apply_to_anatomy(anatomy: Anatomy, appearance: Appearance) -> Anatomy:
    """The phantom with the case's enhancement curves, texture strengths and tumor lobes.

    Every tissue's enhancement (its signal in a post-contrast phase minus its pre-contrast signal) is scaled by
    that phase's factor, as a larger or smaller dose, injection rate or cardiac output would; the texture
    amplitudes of liver and lesions are scaled; the lesions' lobes change spatial frequency (their amplitude,
    the P53-informative ``margin_irregularity``, is kept).
    """
    tissues = {name: _enhanced(t, appearance.enhancement_scale) for name, t in anatomy.tissues.items()}
    layers: list[Layer] = []
    for layer in anatomy.layers:
        if layer.texture_amplitude > 0:
            layer = replace(layer, texture_amplitude=layer.texture_amplitude * appearance.texture_scale)
        if layer.group == "tumor":
            layer = replace(layer, shape=_lobes(layer.shape, appearance.lobe_frequency_scale))
        layers.append(layer)
    return replace(anatomy, layers=layers, tissues=tissues)


def contrast_curve(image: np.ndarray, reference: float, gamma: float) -> np.ndarray:
    """``reference * (image / reference) ** gamma``: the liver keeps its signal, other tissues move away from it
    (gamma > 1) or toward it (gamma < 1), as a different flip angle, TR or TE reweights tissue contrast."""
    reference = np.float32(max(reference, 1.0))
    return (reference * np.power(np.maximum(image, 0.0) / reference, np.float32(gamma))).astype(np.float32)


def acquisition_blur(image: np.ndarray, resolution_scale: float, thickness_scale: float) -> np.ndarray:
    """Blur by the acquired point spread: an acquired pixel ``resolution_scale`` times the reconstructed one
    (in-plane) and a slice profile ``thickness_scale`` times the slice spacing, as Gaussians whose FWHM
    adds the missing width in quadrature (in voxels of the image's own grid)."""
    fwhm = np.sqrt(np.maximum(np.asarray([thickness_scale, resolution_scale, resolution_scale]) ** 2 - 1.0, 0.0))
    sigma = fwhm / np.sqrt(8.0 * np.log(2.0))
    if not sigma.any():
        return image
    from scipy.ndimage import gaussian_filter  # only styles other than phantom need scipy here
    return gaussian_filter(image, sigma, mode="nearest").astype(np.float32)


def add_noise(rng: np.random.Generator, image: np.ndarray, sigma: float, noise_type: str,
              coils: int = 1) -> np.ndarray:
    """The image with noise of SD ``sigma`` (per channel) of one type.

    ``gaussian``: real-valued noise, clipped at 0 (phase-corrected real images); ``rician``: the magnitude of
    one complex channel; ``chi``: the sum-of-squares magnitude of ``coils`` complex channels that share the
    signal equally (non-central chi: the same noise in tissue, a higher floor in air).
    """
    if noise_type == "gaussian":
        return np.maximum(image + rng.normal(0.0, sigma, image.shape).astype(np.float32), 0.0)
    channels = 1 if noise_type == "rician" else coils
    share = image / np.float32(np.sqrt(channels))
    total = np.zeros_like(image)
    for _ in range(channels):
        real = share + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        imag = rng.normal(0.0, sigma, image.shape).astype(np.float32)
        total += real * real + imag * imag
    return np.sqrt(total)
