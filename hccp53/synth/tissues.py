"""Tissue signals of the phantom per contrast (arbitrary scanner units, liver T1 ~500).

Each tissue has a *water* signal per base contrast, a fat fraction and an apparent
diffusion coefficient. Fat-saturated, Dixon (water, fat, in-phase, opposed-phase) and
diffusion images are all derived from these, so one table serves every series.

Base contrasts: ``t2`` (T2-weighted), ``pre`` (T1 before contrast), ``eap`` (early
arterial, 10-15 s), ``ap`` (late arterial), ``pvp`` (portal venous), ``dp`` (delayed /
transitional), ``hbp`` (hepatobiliary, gadoxetic acid).

The values follow the published appearance of the liver phases: arterial aorta and
renal cortex brightest, portal vein brightest in the portal venous phase, liver
brightest in the hepatobiliary phase, vessels dark (flow void) on T2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

CONTRASTS = ("t2", "pre", "eap", "ap", "pvp", "dp", "hbp")
FAT_SIGNAL = {"t1": 900.0, "t2": 650.0}
FAT_SAT_RESIDUAL = 0.06  # fraction of fat signal left after spectral fat saturation


@dataclass(frozen=True)
class Tissue:
    water: dict[str, float]
    fat_fraction: float
    adc: float  # 1e-3 mm^2/s

    def scaled(self, **factors: float) -> Tissue:
        """A copy whose water signals are multiplied per contrast, e.g. ``scaled(ap=1.5)``."""
        water = dict(self.water)
        for contrast, factor in factors.items():
            water[contrast] = water[contrast] * factor
        return replace(self, water=water)


def _tissue(t2: float, pre: float, eap: float, ap: float, pvp: float, dp: float, hbp: float,
            fat_fraction: float, adc: float) -> Tissue:
    values = dict(zip(CONTRASTS, (t2, pre, eap, ap, pvp, dp, hbp), strict=True))
    return Tissue(values, fat_fraction, adc)


#                      t2     pre   eap    ap    pvp    dp    hbp   fat   ADC
BASE_TISSUES: dict[str, Tissue] = {
    "lung":           _tissue(25,    20,   20,   22,   22,   22,   20, 0.00, 1.0),
    "fat":            _tissue(30,    40,   40,   45,   50,   50,   50, 0.92, 0.3),
    "muscle":         _tissue(160,  320,  360,  420,  470,  460,  440, 0.03, 1.4),
    "viscera":        _tissue(380,  300,  330,  420,  520,  500,  460, 0.35, 1.8),
    "marrow":         _tissue(220,  330,  350,  400,  440,  440,  420, 0.45, 0.6),
    "csf":            _tissue(1500, 110,  110,  110,  120,  130,  140, 0.00, 3.0),
    "kidney_cortex":  _tissue(520,  420,  900, 1350, 1050,  850,  640, 0.00, 2.1),
    "kidney_medulla": _tissue(700,  290,  350,  520, 1100,  950,  680, 0.00, 2.3),
    "spleen":         _tissue(720,  360,  600,  950,  860,  760,  500, 0.00, 0.8),
    "stomach":        _tissue(1200,  90,   90,  120,  200,  220,  200, 0.00, 2.8),
    "liver":          _tissue(290,  520,  540,  640,  830,  790, 1080, 0.02, 1.15),
    "gallbladder":    _tissue(1350, 140,  140,  150,  160,  170,  180, 0.00, 3.0),
    "aorta":          _tissue(60,   140, 1500, 1450,  900,  680,  420, 0.00, 3.0),
    "ivc":            _tissue(90,   140,  200,  300,  900,  700,  420, 0.00, 3.0),
    "portal_vein":    _tissue(110,  150,  220,  650, 1000,  740,  430, 0.00, 3.0),
    "hepatic_vein":   _tissue(100,  150,  180,  220,  940,  720,  420, 0.00, 3.0),
    "necrosis":       _tissue(1100, 160,  160,  165,  175,  185,  170, 0.00, 2.6),
}


def lesion_tissues(
    rng: np.random.Generator, liver: Tissue, rim_aphe: bool, hbp_ratio: float
) -> dict[str, Tissue]:
    """Signals of one case's HCC, relative to its liver, as the literature describes it.

    Mildly T2-hyperintense, T1-hypointense before contrast, arterial-phase
    hyperenhancement (peripheral, with a hypoenhancing centre, when ``rim_aphe``),
    washout in the portal venous and delayed phases, hypointense on the hepatobiliary
    phase by ``hbp_ratio``, and an enhancing capsule in the late phases.
    """
    lw = liver.water
    core = Tissue(
        water={
            "t2": lw["t2"] * rng.uniform(1.3, 1.8),
            "pre": lw["pre"] * rng.uniform(0.70, 0.88),
            "eap": lw["eap"] * rng.uniform(1.05, 1.25),
            "ap": lw["ap"] * (rng.uniform(0.85, 1.0) if rim_aphe else rng.uniform(1.35, 1.75)),
            "pvp": lw["pvp"] * rng.uniform(0.72, 0.90),
            "dp": lw["dp"] * rng.uniform(0.65, 0.85),
            "hbp": lw["hbp"] * hbp_ratio,
        },
        fat_fraction=float(rng.uniform(0.0, 0.08)),
        adc=float(rng.uniform(0.85, 1.05)),
    )
    rim = core.scaled(
        ap=lw["ap"] * rng.uniform(1.6, 2.0) / core.water["ap"],
        eap=lw["eap"] * 1.35 / core.water["eap"],
    ) if rim_aphe else core
    capsule = liver.scaled(t2=0.95, pre=0.85, eap=0.9, ap=0.9, pvp=1.22, dp=1.3, hbp=0.55)
    return {"tumor_core": core, "tumor_rim": rim, "capsule": replace(capsule, fat_fraction=0.0)}
