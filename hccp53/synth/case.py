"""Generate one synthetic case: its latent truth, DICOM study and prepared ground truth.

Every case draws from its own random streams, seeded by ``(seed, case index)``, so a case
is the same whatever the cohort size, worker count or order of completion. The streams
are split by purpose (latents, lesion count, anatomy, protocol, noise, identity):
``--no-images`` gives the same labels, probabilities and clinical data as a full run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hccp53 import PHASES
from hccp53.synth import render
from hccp53.synth.anatomy import Anatomy, sample_anatomy
from hccp53.synth.appearance import (
    Appearance,
    acquisition_blur,
    add_noise,
    apply_to_anatomy,
    contrast_curve,
    draw_appearance,
    style_record,
)
from hccp53.synth.dicom_writer import MAX_STORED, StudyInfo, Uids, write_series
from hccp53.synth.geometry import Grid
from hccp53.synth.mechanism import Mechanism
from hccp53.synth.protocol import ImageGroup, SeriesPlan, StudyPlan, plan_study
from hccp53.synth.truth import RenderedCase, write_ground_truth

logger = logging.getLogger(__name__)

_FAMILY = ("CHEN", "WANG", "LI", "ZHANG", "LIU", "NGUYEN", "TANAKA", "KIM", "SMITH", "GARCIA", "MUELLER",
           "ROSSI", "DUBOIS", "KOWALSKI", "SILVA", "OKAFOR", "HASSAN", "IVANOV", "JOHANSSON", "PATEL")
_GIVEN = {"M": ("WEI", "JUN", "HAO", "MINH", "HIROSHI", "JOHN", "CARLOS", "LUCA", "PIERRE", "OMAR"),
          "F": ("LI", "MEI", "YAN", "LAN", "YUKI", "MARY", "ANA", "GIULIA", "CLAIRE", "FATIMA")}


@dataclass
class CaseResult:
    """What the cohort writer needs from one case."""

    case_id: str
    row: dict[str, Any]
    datalist_entry: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)


def case_id_of(index: int) -> str:
    return f"SYN{index + 1:04d}"


def _streams(seed: int, index: int) -> dict[str, np.random.Generator]:
    # appended, never inserted: SeedSequence.spawn gives child i the same seed whatever the count, so the earlier
    # streams (and every earlier value of a seed) are unchanged
    names = ("latents", "anatomy", "protocol", "noise", "identity", "lesions", "reader", "appearance")
    children = np.random.SeedSequence([seed, index]).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


def _read_signs(rng: np.random.Generator, latent: dict[str, Any], values: dict[str, Any],
                reader: dict[str, Any]) -> dict[str, int]:
    """The imaging signs a radiologist reports (rim APHE, capsule, necrosis, non-smooth margin), each the truth
    called wrong with probability ``reader["error_rate"]``."""
    truth = {"rim_aphe_read": bool(latent["rim_aphe"]), "capsule_read": bool(latent["capsule"]),
             "necrosis_read": float(values["necrosis_fraction"]) > reader["necrosis_threshold"],
             "nonsmooth_margin_read": float(values["margin_irregularity"]) > reader["margin_threshold"]}  # fmt: skip
    return {sign: int(present != bool(rng.random() < reader["error_rate"])) for sign, present in truth.items()}


def _clinical(rng: np.random.Generator, latent: dict[str, Any], values: dict[str, Any],
              lesion_count: int, signs: dict[str, int]) -> dict[str, Any]:
    measured = float(values["tumor_diameter_mm"]) + float(rng.normal(0.0, 2.0))
    return {
        "age": int(values["age"]),
        "sex": "M" if latent["male"] else "F",
        "afp_ng_ml": float(values["afp_ng_ml"]),
        "hbv": int(latent["hbv"]),
        "cirrhosis": int(latent["cirrhosis"]),
        "albi_score": float(values["albi_score"]),
        "albi_grade": int(values["albi_grade"]),
        "child_pugh": str(values["child_pugh"]),
        "tumor_size_mm": round(max(measured, 8.0), 1),
        "tumor_number": lesion_count,
        **signs,
    }


def generate_case(
    out_root: Path,
    index: int,
    seed: int,
    config: dict[str, Any],
    profile: str,
    mechanism: Mechanism,
    images: bool = True,
    preview: bool = True,
) -> CaseResult:
    """Generate case ``index`` under ``out_root/cases/<case_id>`` and return its summary.

    Parameters
    ----------
    images:
        False draws only the latent truth and clinical data (fast; for large cohorts).
    preview:
        Write ``preview.png``: every phase at the index tumor's centre with the mask outline.
    """
    case_id = case_id_of(index)
    streams = _streams(seed, index)
    clock = time.perf_counter()
    latent = {k: v[0] for k, v in mechanism.sample(streams["latents"], 1).items()}
    latent_arrays = {k: np.asarray([v]) for k, v in latent.items()}
    values = {k: v[0] for k, v in mechanism.values(latent_arrays).items()}
    probability = float(mechanism.posterior(latent_arrays)[0])
    row: dict[str, Any] = {
        "case_id": case_id, "label": int(latent["label"]), "true_probability": round(probability, 6),
        "rim_aphe": int(latent["rim_aphe"]), "capsule": int(latent["capsule"]),
        "multifocal": int(latent["multifocal"]), "edmondson_grade": int(values["grade"]),
        "tumor_diameter_mm": round(float(values["tumor_diameter_mm"]), 2),
        "necrosis_fraction": round(float(values["necrosis_fraction"]), 4),
        "margin_irregularity": round(float(values["margin_irregularity"]), 4),
        "hbp_ratio": round(float(values["hbp_ratio"]), 4),
    }
    satellites = int(streams["lesions"].integers(1, 3)) if latent["multifocal"] else 0
    if not images:
        signs = _read_signs(streams["reader"], latent, values, config["reader"])
        row.update(_clinical(streams["identity"], latent, values, 1 + satellites, signs))
        return CaseResult(case_id, row, timings={"latents": time.perf_counter() - clock})

    anatomy = sample_anatomy(
        streams["anatomy"],
        tumor_diameter_mm=float(values["tumor_diameter_mm"]),
        necrosis_fraction=float(values["necrosis_fraction"]),
        margin_irregularity=float(values["margin_irregularity"]),
        hbp_ratio=float(values["hbp_ratio"]),
        rim_aphe=bool(latent["rim_aphe"]), capsule=bool(latent["capsule"]),
        satellites=satellites, cirrhosis=bool(latent["cirrhosis"]),
        texture_config=config["image"]["texture"],
    )
    appearance = draw_appearance(streams["appearance"], config["appearance"])
    if appearance is not None:
        anatomy = apply_to_anatomy(anatomy, appearance)
    plan = plan_study(streams["protocol"], config, profile, anatomy.liver_centre, anatomy.body_radii)
    clinical = _clinical(streams["identity"], latent, values, len(anatomy.lesions),
                         _read_signs(streams["reader"], latent, values, config["reader"]))
    row.update(clinical)
    timings = {"latents_anatomy": time.perf_counter() - clock}

    writer = _CaseWriter(out_root / "cases" / case_id, case_id, seed, config, plan, anatomy, streams, clinical,
                         appearance)
    entry = writer.run(preview, timings)
    entry.update({"case_id": case_id, "label": int(latent["label"]), "clinical": clinical})
    row.update({
        "vendor": plan.vendor, "field_strength_t": plan.field_strength, "contrast_agent": plan.agent,
        "naming": plan.naming, "phases_present": " ".join(p for p in PHASES if p in writer.phase_groups),
        "lesions": len(anatomy.lesions), "steatosis": round(anatomy.steatosis, 3),
        "series": len(plan.series), "instances": writer.instances,
    })
    if appearance is not None:  # the phantom's rows keep their columns (and bytes)
        row["style"] = appearance.style
    return CaseResult(case_id, row, entry, timings)


class _CaseWriter:
    """Renders and writes one case; holds the per-case caches that rendering shares."""

    def __init__(self, folder: Path, case_id: str, seed: int, config: dict[str, Any], plan: StudyPlan,
                 anatomy: Anatomy, streams: dict[str, np.random.Generator], clinical: dict[str, Any],
                 appearance: Appearance | None = None) -> None:
        self.folder = folder
        self.case_id = case_id
        self.config = config
        self.plan = plan
        self.anatomy = anatomy
        self.appearance = appearance
        self.noise_rng = streams["noise"]
        self.uids = Uids(seed, case_id)
        self.instances = 0
        sd = np.asarray(config["protocol"]["breath_hold_shift_mm"], dtype=float)[::-1]  # (x, y, z)
        shifts = self.noise_rng.normal(0.0, 1.0, (plan.breath_holds, 3)) * sd
        shifts[0] = 0.0
        self.shifts = shifts
        self.phase_groups: dict[str, tuple[SeriesPlan, int]] = {}
        for series in plan.series:
            for g, group in enumerate(series.groups):
                if group.phase:
                    self.phase_groups[group.phase] = (series, g)
        self.study = self._study_info(streams["identity"], clinical)
        self._memberships: dict[tuple[int, int, int], list[render.Membership]] = {}
        self._gains: dict[str, float] = {}
        self._rendered: dict[tuple[int, int], np.ndarray] = {}
        self._datasets: dict[int, list] = {}

    def _study_info(self, rng: np.random.Generator, clinical: dict[str, Any]) -> StudyInfo:
        sex = clinical["sex"]
        day = dt.date(2018, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
        start = dt.datetime.combine(day, dt.time(7, 30)) + dt.timedelta(minutes=int(rng.integers(0, 9 * 60)))
        birth = day - dt.timedelta(days=int(clinical["age"] * 365.25 + rng.integers(1, 364)))
        return StudyInfo(
            patient_name=f"{_FAMILY[int(rng.integers(len(_FAMILY)))]}^{_GIVEN[sex][int(rng.integers(10))]}",
            patient_id=f"{int(rng.integers(10**7, 10**8))}",
            birth_date=birth.strftime("%Y%m%d"), sex=sex, age_years=int(clinical["age"]),
            weight_kg=round(float(rng.normal(68 if sex == "M" else 58, 9)), 1),
            study_uid=self.uids("study"), study_start=start,
            accession=f"A{int(rng.integers(10**8, 10**9))}", frame_of_reference_uid=self.uids("frame-of-reference"),
        )

    # -- rendering ------------------------------------------------------------------------------
    def _layers(self, series: SeriesPlan, group: ImageGroup, grid: Grid) -> list[render.Membership]:
        key = (series.number, group.breath_hold, id(grid))
        if key not in self._memberships:
            self._memberships[key] = render.memberships(self.anatomy, grid, self.shifts[group.breath_hold],
                                                        series.thickness)
        return self._memberships[key]

    def _gain(self, series: SeriesPlan) -> float:
        if series.gain_group not in self._gains:
            self._gains[series.gain_group] = 1.0 if series.gain_group == "adc" else float(
                self.noise_rng.uniform(0.8, 2.4))
        return self._gains[series.gain_group]

    def _clean(self, series: SeriesPlan, group: ImageGroup, grid: Grid) -> tuple[np.ndarray, float]:
        """Noise-free image of a group and the liver's signal in it (the noise reference)."""
        layers = self._layers(series, group, grid)
        tissues = self.anatomy.tissues
        liver = tissues["liver"]
        if group.contrast == "dwi":
            s0 = liver.water["t2"] * (1.0 - liver.fat_fraction)
            return render.diffusion(grid, layers, tissues, group.b_value), s0
        if group.contrast == "adc":
            return render.adc_map(grid, layers, tissues), liver.adc * 1000.0
        water, fat = render.t1_components(grid, layers, tissues, group.contrast)
        return render.combine(water, fat, group.fat), liver.water[group.contrast]

    def _image(self, series: SeriesPlan, g: int) -> tuple[Grid, np.ndarray]:
        group = series.groups[g]
        grid = group.grid or series.grid
        if group.subtract:
            pre_series, pre_group = self.phase_groups[group.subtract]
            post = self._rendered[self._phase_key(group.contrast)]
            pre = self._rendered[(pre_series.number, pre_group)]
            return grid, np.clip(post - pre, 0.0, None)
        clean, liver_signal = self._clean(series, group, grid)
        look = self.appearance
        if look is not None:
            if group.contrast != "adc":  # the ADC map is computed, not weighted
                clean = contrast_curve(clean, liver_signal, look.gamma)
            clean = acquisition_blur(clean, look.resolution_scale, look.thickness_scale)
        snr_range = self.config["image"]["snr"][series.noise]
        snr = float(self.noise_rng.uniform(*snr_range)) * (1.2 if self.plan.field_strength == 3.0 else 1.0)
        if look is not None:
            snr *= look.snr_scale
        sigma = max(liver_signal, 1.0) / snr
        if group.contrast == "adc":
            sigma = 60.0
        amplitude = self.config["image"]["bias_field_amplitude"] if look is None else look.bias_field
        bias = render.bias_field(self.noise_rng, grid, amplitude)
        gain = self._gain(series)
        if look is None:
            noisy = render.rician(self.noise_rng, clean * bias, sigma)
        else:
            noisy = add_noise(self.noise_rng, clean * bias, sigma, look.noise_type, look.chi_coils)
        image = noisy * np.float32(gain)
        self._rendered[(series.number, g)] = image
        return grid, image

    def _phase_key(self, role: str) -> tuple[int, int]:
        for series in self.plan.series:
            for g, group in enumerate(series.groups):
                if group.contrast == role and group.subtract is None and group.fat in ("fs", "water") \
                        and series.kind == "dynamic":
                    return series.number, g
        raise KeyError(role)

    # -- writing --------------------------------------------------------------------------------
    def run(self, preview: bool, timings: dict[str, float]) -> dict[str, Any]:
        dicom_dir = self.folder / "dicom"
        position = "FFS" if self.plan.vendor in ("ge", "canon") else "HFS"
        render_s = write_s = 0.0
        for series in self.plan.series:
            clock = time.perf_counter()
            images = [(series.groups[g], *self._image(series, g)) for g in range(len(series.groups))]
            render_s += time.perf_counter() - clock
            clock = time.perf_counter()
            # Philips stores values / slope; round the slope as the header will hold it (4 decimals).
            slope = round(float(self.noise_rng.uniform(1.2, 3.5)), 4) if self.plan.vendor == "philips" else None
            step = np.float32(slope or 1.0)
            quantised = []
            for g, (group, grid, values) in enumerate(images):
                values = np.clip(np.rint(values / step), 0, MAX_STORED) * step  # what a reader will see
                if (series.number, g) in self._rendered:
                    self._rendered[(series.number, g)] = values
                quantised.append((group, grid, values))
            written = write_series(dicom_dir / f"S{series.number:04d}", self.plan, series, quantised, self.study,
                                   self.uids, slope, position)
            self._datasets[series.number] = written
            self.instances += len(written)
            write_s += time.perf_counter() - clock
        timings["render"] = render_s
        timings["dicom"] = write_s
        clock = time.perf_counter()
        entry = self._ground_truth(preview)
        timings["ground_truth"] = time.perf_counter() - clock
        return entry

    def _ground_truth(self, preview: bool) -> dict[str, Any]:
        rendered = RenderedCase(self.folder, self.case_id, self.plan, self.anatomy, self.uids, self.shifts,
                                self.phase_groups, self._rendered, self._datasets, self._layers,
                                style_record(self.appearance))  # fmt: skip
        return write_ground_truth(rendered, preview)
