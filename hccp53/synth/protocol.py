"""Vendor-style liver MRI protocols: which series a study holds, their names, parameters and timing.

A :class:`StudyPlan` lists :class:`SeriesPlan` objects, each made of :class:`ImageGroup`
objects (the images of one contrast and time within a series). Several groups in one
series reproduce what real scanners write: a GE dynamic acquisition stored as ONE series
whose instances repeat slice positions (split by (0020,0100) *Temporal Position
Identifier*), a Canon ``1_AX_DYN_PRE_a_POST`` series split by (0020,0012) *Acquisition
Number*, Philips mDIXON series holding water/fat/in/opposed images (split by (0008,0008)
*Image Type*), dual-echo in/opposed-phase series (split by echo), and DWI (by b-value).

Series names follow public protocol conventions (see ``DESIGN.md``): GE LAVA / SSFSE /
LAVA-Flex, Siemens VIBE / HASTE / BLADE with ``_SUB`` subtractions and Dixon suffixes,
Philips e-THRIVE / mDIXON / SPAIR with ``s``-prefixed subtractions, Canon FASE and
multi-phase dynamic series; sites may rename post-contrast series to bare labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hccp53.synth.geometry import AXIAL, CORONAL, SAGITTAL, Grid

#: Roles of the dynamic T1 phases in acquisition order (``eap`` is the optional early arterial).
DYNAMIC = ("pre", "eap", "ap", "pvp", "dp", "hbp")


@dataclass
class ImageGroup:
    """Images of one contrast and acquisition time inside a series.

    Attributes
    ----------
    contrast:
        Base contrast (``t2``, ``pre``, ``eap``, ``ap``, ``pvp``, ``dp``, ``hbp``), ``dwi`` or ``adc``.
    fat:
        Fat handling: ``fs``, ``nofs``, ``water``, ``fat``, ``in``, ``opp``.
    breath_hold:
        Index of the breath-hold (anatomy position) the images were acquired in.
    start_s:
        Acquisition start in seconds after the study began.
    image_type:
        (0008,0008) *Image Type*.
    header:
        Further attributes of these images (TemporalPositionIdentifier, EchoTime, ...).
    phase:
        The ground-truth phase key when this group is the phase's best image.
    subtract:
        For a derived subtraction: the role of the pre-contrast image to subtract.
    grid:
        A grid of its own (localizer planes); None uses the series grid.
    """

    contrast: str
    fat: str = "fs"
    b_value: float = 0.0
    breath_hold: int = 0
    start_s: float = 0.0
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "OTHER")
    header: dict[str, Any] = field(default_factory=dict)
    phase: str | None = None
    subtract: str | None = None
    grid: Grid | None = None


@dataclass
class SeriesPlan:
    number: int
    description: str
    kind: str                  # profile geometry: dynamic, t2, t2_coronal, chemical_shift, dwi, localizer, ...
    technique: dict[str, Any]  # MR Image module attributes shared by the series
    groups: list[ImageGroup]
    grid: Grid
    thickness: float
    noise: str                 # which SNR range applies: t1, t2, dwi_b0
    gain_group: str            # series sharing a gain share their receiver scaling (pre/post dynamics)
    start_s: float
    duration_s: float
    shared_acquisition_time: bool = False
    descending: bool = True    # InstanceNumber 1 is the last slice along the normal (most superior when axial)


@dataclass
class StudyPlan:
    vendor: str
    equipment: dict[str, Any]
    field_strength: float
    series: list[SeriesPlan]
    injection_s: float
    agent: str                  # gadoxetic | extracellular
    agent_text: str             # (0018,0010) as written; may be empty
    bolus_start_written: bool
    breath_holds: int
    naming: str                 # vendor | site | uninformative
    reference_phase: str = "pvp"


_EQUIPMENT = {
    "ge": {"Manufacturer": "GE MEDICAL SYSTEMS", "models": {1.5: "SIGNA Artist", 3.0: "SIGNA Architect"},
           "SoftwareVersions": "27\\LX\\MR Software release:RX27.0_R02_1831.b", "descending": True},
    "siemens": {"Manufacturer": "SIEMENS", "models": {1.5: "MAGNETOM Aera", 3.0: "MAGNETOM Skyra"},
                "SoftwareVersions": "syngo MR E11", "descending": False},
    "philips": {"Manufacturer": "Philips Medical Systems", "models": {1.5: "Ingenia", 3.0: "Ingenia Elition X"},
                "SoftwareVersions": "5.7.1\\5.7.1.2", "descending": True},
    "canon": {"Manufacturer": "CANON_MEC", "models": {1.5: "Vantage Orian", 3.0: "Vantage Galan 3T"},
              "SoftwareVersions": "V7.0*R003", "descending": False},
}

_GADOXETIC_NAMES = ("Primovist", "EOVIST", "Gd-EOB-DTPA", "gadoxetate disodium")
_EXTRACELLULAR_NAMES = ("Gadavist", "gadobutrol", "Dotarem", "gadoterate meglumine", "Clariscan")


def _choice(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


# -- sequence parameters ---------------------------------------------------------------------------

def _t2_technique(rng: np.random.Generator, vendor: str, single_shot: bool, fat_sat: bool) -> dict[str, Any]:
    sequence_names = {"ge": "ssfse" if single_shot else "fse-xl",
                      "siemens": "*haste2d1" if single_shot else "*tse2d1_23",
                      "philips": "TSE" if not single_shot else "SSH_TSE", "canon": "FASE2D" if single_shot else "FSE2D"}
    options = ["FS"] if fat_sat else []
    if vendor == "ge":
        options += ["FAST_GEMS", "NPW"]
    return {
        "ScanningSequence": "SE", "SequenceVariant": "SK\\SP" if not single_shot else "SK",
        "ScanOptions": "\\".join(options), "MRAcquisitionType": "2D",
        "RepetitionTime": round(float(rng.uniform(1500, 2200) if single_shot else rng.uniform(3000, 6000)), 1),
        "EchoTime": round(float(rng.uniform(80, 100)), 2),
        "EchoTrainLength": int(rng.integers(80, 140)) if single_shot else int(rng.integers(14, 28)),
        "FlipAngle": 90.0 if single_shot else 130.0, "SequenceName": sequence_names[vendor],
    }


def _gre3d_technique(rng: np.random.Generator, vendor: str, fat_sat: bool, dixon: bool) -> dict[str, Any]:
    options = {"ge": ["FAST_GEMS", "EDR_GEMS", "FILTERED_GEMS", "ACC_GEMS"], "siemens": ["PFP"],
               "philips": ["PFP"], "canon": ["PFF"]}[vendor]
    if fat_sat:
        options = ["FS", *options]
    names = {"ge": "efgre3d", "siemens": "*fl3d1" if not dixon else "*fl3d2", "philips": "T1FFE", "canon": "FFE3D"}
    return {
        "ScanningSequence": "GR", "SequenceVariant": "SP\\SS" if vendor == "ge" else "SP",
        "ScanOptions": "\\".join(options), "MRAcquisitionType": "3D",
        "RepetitionTime": round(float(rng.uniform(3.0, 4.6) if not dixon else rng.uniform(5.0, 7.0)), 2),
        "EchoTime": round(float(rng.uniform(1.2, 2.0)), 2), "EchoTrainLength": 1 if not dixon else 2,
        "FlipAngle": float(rng.choice([9.0, 10.0, 12.0, 15.0])), "SequenceName": names[vendor],
    }


def _dual_echo_technique(rng: np.random.Generator, vendor: str) -> dict[str, Any]:
    return {
        "ScanningSequence": "GR", "SequenceVariant": "SP", "ScanOptions": "FAST_GEMS" if vendor == "ge" else "",
        "MRAcquisitionType": "2D", "RepetitionTime": round(float(rng.uniform(140, 210)), 1),
        "EchoTime": 2.3, "EchoTrainLength": 2, "FlipAngle": 70.0,
        "SequenceName": {"ge": "fgre", "siemens": "*fl2d2", "philips": "T1FFE", "canon": "FFE2D"}[vendor],
    }


def _dwi_technique(rng: np.random.Generator, vendor: str) -> dict[str, Any]:
    return {
        "ScanningSequence": "EP", "SequenceVariant": "SK\\SP",
        "ScanOptions": "FS\\EPI_GEMS" if vendor == "ge" else "FS",
        "MRAcquisitionType": "2D", "RepetitionTime": round(float(rng.uniform(3500, 6500)), 1),
        "EchoTime": round(float(rng.uniform(55, 75)), 1), "EchoTrainLength": 1, "FlipAngle": 90.0,
        "SequenceName": {"ge": "epi2", "siemens": "*ep_b800t", "philips": "DwiSE", "canon": "EPI2D"}[vendor],
    }


def _localizer_technique(vendor: str) -> dict[str, Any]:
    return {"ScanningSequence": "GR", "SequenceVariant": "SP", "ScanOptions": "", "MRAcquisitionType": "2D",
            "RepetitionTime": 5.2, "EchoTime": 1.6, "EchoTrainLength": 1, "FlipAngle": 30.0,
            "SequenceName": {"ge": "fgre", "siemens": "*fl2d1", "philips": "FFE", "canon": "FFE2D"}[vendor]}


# -- geometry --------------------------------------------------------------------------------------

def _grid(profile: dict[str, Any], centre: np.ndarray, fov: float,
          orientation: tuple[tuple[float, float, float], tuple[float, float, float]] = AXIAL) -> tuple[Grid, float]:
    """The slab of a profile entry (matrix, slice spacing, coverage) centred at ``centre``; and its thickness."""
    rows, cols = profile["matrix"]
    pixel = fov / cols
    slices = max(1, int(round(profile["coverage_mm"] / profile["spacing_z"])))
    grid = Grid.centred(centre, (slices, rows, cols), (profile["spacing_z"], pixel, pixel), orientation)
    return grid, float(profile["thickness"])


# -- naming ----------------------------------------------------------------------------------------

def _dynamic_names(rng: np.random.Generator, vendor: str, timing: dict[str, float], dixon: bool) -> dict[str, str]:
    """Vendor-style description of each dynamic role, from its delay after injection (s)."""
    minutes = {role: max(1, int(round(timing[role] / 60.0))) for role in ("dp", "hbp") if role in timing}
    if vendor == "ge":
        if dixon:
            return {"pre": "WATER: Ax LAVA-Flex pre", "eap": "WATER: Ax LAVA-Flex early art",
                    "ap": "WATER: Ax LAVA-Flex art", "pvp": "WATER: Ax LAVA-Flex pv",
                    "dp": f"WATER: Ax LAVA-Flex {minutes.get('dp', 3)}min",
                    "hbp": f"WATER: Ax LAVA-Flex {minutes.get('hbp', 20)}min"}
        nominal = {"eap": 12, "ap": _choice(rng, ("20", "25", "30")), "pvp": _choice(rng, ("60", "70", "90"))}
        return {"pre": _choice(rng, ("lava pre", "Ax LAVA pre")), "eap": "Ax LAVA BH post gad 12sec",
                "ap": f"Ax LAVA BH post gad {nominal['ap']}sec", "pvp": f"Ax LAVA BH post gad {nominal['pvp']}sec",
                "dp": f"AX LAVA-XV BH +C {minutes.get('dp', 3)} MINS",
                "hbp": _choice(rng, (f"AX LAVA-XV BH +C {minutes.get('hbp', 20)} MINS", "Ax LAVA 20 MIN HBP"))}
    if vendor == "siemens":
        if dixon:
            return {"pre": "t1_vibe_dixon_tra_bh_pre_W", "eap": "Vibe 12 sec Post_W", "ap": "Vibe 20 sec Post_W",
                    "pvp": "Vibe 70 sec Post_W", "dp": f"Vibe {minutes.get('dp', 3)} min Post_W",
                    "hbp": f"Vibe {minutes.get('hbp', 20)} min Post_W"}
        if rng.random() < 0.5:
            base = "AX VIBE FS CAIPI"
            return {"pre": f"{base} PRE", "eap": f"{base} EARLY ARTERIAL", "ap": f"{base} ARTERIAL",
                    "pvp": f"{base} VENOUS", "dp": _choice(rng, (f"{base} EQU", f"{base} {minutes.get('dp', 3)} MIN")),
                    "hbp": f"{base} {minutes.get('hbp', 20)} MIN"}
        base = "t1_vibe_fs_tra_p2_320_bh"
        return {"pre": base, "eap": f"{base}_ART1", "ap": f"{base}_ART", "pvp": f"{base}_PV",
                "dp": f"{base}_{minutes.get('dp', 3)}MIN", "hbp": f"{base}_{minutes.get('hbp', 20)}MIN"}
    if vendor == "philips":
        if dixon:
            return {"pre": "mDIXON PRE", "eap": "mDIXON +C EARLY", "ap": "mDIXON +C 1ST", "pvp": "mDIXON +C 2ND",
                    "dp": "mDIXON +C 3RD", "hbp": f"mDIXON {minutes.get('hbp', 20)}min HBP"}
        return {"pre": "e-THRIVE_PRE", "eap": "e-THRIVE_A1", "ap": "e-THRIVE_A", "pvp": "e-THRIVE_V",
                "dp": "e-THRIVE_E", "hbp": f"{minutes.get('hbp', 20)}min_e_THRIVE_TRA_GAD"}
    return {"pre": "AX_DYN_PRE", "eap": "AX_DYN_EARLY", "ap": "AX_DYN_ART", "pvp": "AX_DYN_PVP",
            "dp": f"AX_POST_{minutes.get('dp', 3)}_MIN_DELAY", "hbp": f"AX_POST_{minutes.get('hbp', 20)}_MIN_DELAY"}


def _site_names(timing: dict[str, float], roles: list[str]) -> dict[str, str]:
    """Bare site labels: PRE, A1 (A2), V60, 3min, 20min."""
    names = {"pre": "PRE"}
    arterial = [r for r in roles if r in ("eap", "ap")]
    for i, role in enumerate(arterial, start=1):
        names[role] = f"A{i}"
    if "pvp" in timing:
        names["pvp"] = f"V{int(round(timing['pvp'] / 10.0) * 10)}"
    for role in ("dp", "hbp"):
        if role in timing:
            names[role] = f"{int(round(timing[role] / 60.0))}min"
    return names


# -- the study -------------------------------------------------------------------------------------

def plan_study(
    rng: np.random.Generator,
    config: dict[str, Any],
    profile_name: str,
    liver_centre: np.ndarray,
    body_radii: tuple[float, float],
) -> StudyPlan:
    """Draw one case's protocol: vendor, contrast agent, series, geometry and timing."""
    proto = config["protocol"]
    profile = config["profiles"][profile_name]
    vendors = list(proto["vendors"])
    weights = np.array([proto["vendors"][v] for v in vendors], dtype=float)
    vendor = vendors[int(rng.choice(len(vendors), p=weights / weights.sum()))]
    field_strength = 3.0 if rng.random() < proto["field_strength_3t_fraction"] else 1.5
    equipment = dict(_EQUIPMENT[vendor])
    descending = bool(equipment.pop("descending"))
    equipment["ManufacturerModelName"] = equipment.pop("models")[field_strength]
    equipment["DeviceSerialNumber"] = str(int(rng.integers(10000, 99999)))
    equipment["StationName"] = f"MR{int(rng.integers(1, 9))}"

    gadoxetic = rng.random() < proto["gadoxetic_fraction"]
    hbp = gadoxetic and rng.random() < proto["hbp_acquired_fraction"]
    agent_text = "" if rng.random() < proto["agent_text_empty_fraction"] else _choice(
        rng, _GADOXETIC_NAMES if gadoxetic else _EXTRACELLULAR_NAMES)
    dwi = rng.random() < proto["dwi_fraction"]
    early = rng.random() < proto["early_arterial_fraction"]
    t2_late = gadoxetic and hbp and rng.random() < proto["t2_after_contrast_fraction"]
    dixon_cs = vendor != "canon" and rng.random() < proto["dixon_fraction"]
    dixon_dynamic = vendor in ("ge", "siemens", "philips") and rng.random() < proto["dixon_dynamic_fraction"]
    ge_single = vendor == "ge" and rng.random() < proto["ge_single_series_fraction"]
    subtractions = vendor in ("siemens", "philips") and not dixon_dynamic and rng.random() < proto[
        "subtraction_fraction"]
    naming = "vendor"
    if not ge_single and vendor != "canon":
        draw = rng.random()
        if draw < proto["uninformative_label_fraction"]:
            naming = "uninformative"
        elif draw < proto["uninformative_label_fraction"] + proto["site_label_fraction"]:
            naming = "site"

    windows = proto["timing_s"]
    injection = 560.0 + float(rng.uniform(0, 40))
    delays = {"ap": rng.uniform(*windows["arterial"]), "pvp": rng.uniform(*windows["portal_venous"]),
              "dp": rng.uniform(*windows["delayed"])}
    if early:
        delays["eap"] = rng.uniform(*windows["early_arterial"])
    if hbp:
        delays["hbp"] = rng.uniform(*windows["hepatobiliary"])
    delays = {k: round(float(v), 1) for k, v in delays.items()}
    roles = [r for r in DYNAMIC if r == "pre" or r in delays]

    fov = float(np.clip(2 * body_radii[0] + rng.uniform(30, 60), 340, 440))
    centre = np.array([rng.normal(0, 4), rng.normal(0, 4), liver_centre[2] + rng.normal(0, 8)])
    series: list[SeriesPlan] = []
    breath_hold = 0
    number = 101 if vendor == "philips" else 1  # Philips numbers series 101, 201, 301 ...
    techniques_t1 = _gre3d_technique(rng, vendor, fat_sat=not dixon_dynamic, dixon=dixon_dynamic)

    def add(description: str, kind: str, technique: dict[str, Any], groups: list[ImageGroup], grid: Grid,
            thickness: float, noise: str, gain_group: str, start: float, duration: float, **extra: Any) -> None:
        nonlocal number
        series.append(SeriesPlan(number, description, kind, technique, groups, grid, thickness, noise, gain_group,
                                 start, duration, descending=descending, **extra))
        number = number + 1 if vendor != "philips" else number + 100  # Philips numbers series 101, 201, ...

    def next_bh() -> int:
        nonlocal breath_hold
        breath_hold += 1
        return breath_hold

    # Localizer: three orthogonal planes in one series.
    loc = profile["localizer"]
    loc_groups = []
    for orientation in (SAGITTAL, CORONAL, AXIAL):
        n = int(loc["slices_per_plane"])
        pixel = 480.0 / loc["matrix"][1]
        grid = Grid.centred(np.array([0.0, 0.0, liver_centre[2]]), (n, *loc["matrix"]), (15.0, pixel, pixel),
                            orientation)
        loc_groups.append(ImageGroup("t2", "nofs", breath_hold=0, start_s=5.0,
                                     image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), grid=grid))
    add({"ge": "3-Plane Loc SSFSE", "siemens": "localizer", "philips": "SURVEY", "canon": "Locator"}[vendor],
        "localizer", _localizer_technique(vendor), loc_groups, loc_groups[0].grid, float(loc["thickness"]), "t2",
        "localizer", 0.0, 20.0)
    if vendor in ("ge", "philips"):
        cal_grid, cal_thick = _grid(profile["calibration"], centre, 500.0)
        add("ASSET Cal" if vendor == "ge" else "SenseRefScan", "calibration", _localizer_technique(vendor),
            [ImageGroup("pre", "nofs", breath_hold=0, start_s=40.0)], cal_grid, cal_thick, "t1", "calibration",
            40.0, 15.0)

    def add_t2(start: float) -> None:
        single_shot = rng.random() < 0.5
        fat_sat = not single_shot or rng.random() < 0.3
        names = {"ge": ("Ax SSFSE T2", "AX T2 FRFSE FS RTr"), "siemens": ("t2_haste_tra_bh", "AX T2 FS BLADE NAV"),
                 "philips": ("T2W_SSH", "T2 SPAIR"), "canon": ("AX T2 FASE BH", "AX T2 FSE FS")}[vendor]
        grid, thick = _grid(profile["t2"], centre + rng.normal(0, 3, 3), fov * float(rng.uniform(0.92, 1.08)))
        add(names[0 if single_shot else 1], "t2", _t2_technique(rng, vendor, single_shot, fat_sat),
            [ImageGroup("t2", "fs" if fat_sat else "nofs", breath_hold=next_bh(), start_s=start, phase="t2")],
            grid, thick, "t2", "t2", start, 110.0)
        grid, thick = _grid(profile["t2_coronal"], np.array([0.0, 10.0, liver_centre[2]]), fov, CORONAL)
        add({"ge": "Cor SSFSE", "siemens": "t2_haste_cor_bh", "philips": "T2W_SSH_COR", "canon": "COR FASE BH"}[vendor],
            "t2_coronal", _t2_technique(rng, vendor, True, False),
            [ImageGroup("t2", "nofs", breath_hold=next_bh(), start_s=start + 120)], grid, thick, "t2", "t2_cor",
            start + 120, 60.0)

    def add_dwi(start: float) -> None:
        grid, thick = _grid(profile["dwi"], centre, fov)
        bh = next_bh()  # free breathing: one mean position
        b_values = (50.0, 400.0, 800.0) if vendor in ("ge", "siemens") else (0.0, 800.0)
        groups = [ImageGroup("dwi", b_value=b, breath_hold=bh, start_s=start,
                             image_type=("ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"),
                             header={"DiffusionBValue": b}) for b in b_values]
        label = "b" + "_".join(str(int(b)) for b in b_values)
        name = {"ge": f"Ax DWI {label}", "siemens": f"ep2d_diff_{label}_tra_p2", "philips": f"DWI_{label}",
                "canon": f"AX DWI {label}"}[vendor]
        technique = _dwi_technique(rng, vendor)
        add(name, "dwi", technique, groups, grid, thick, "dwi_b0", "dwi", start, 180.0)
        adc_name = {"ge": f"ADC (10^-6 mm^2/s):{name}", "siemens": f"{name}_ADC", "philips": f"dADC_{name}",
                    "canon": f"{name}_ADC"}[vendor]
        add(adc_name, "dwi", technique,  # derived from the DWI: same sequence parameters
            [ImageGroup("adc", breath_hold=bh, start_s=start, image_type=("DERIVED", "PRIMARY", "DIFFUSION", "ADC"))],
            grid, thick, "dwi_b0", "adc", start + 1, 180.0)

    if not t2_late:
        add_t2(70.0)
    # Chemical-shift imaging.
    cs_grid, cs_thick = _grid(profile["chemical_shift"], centre + rng.normal(0, 2, 3), fov)
    cs_bh = next_bh()
    te_opp, te_in = (2.3, 4.6) if field_strength == 1.5 else (1.15, 2.3)
    if dixon_cs:
        if vendor == "philips":
            groups = [ImageGroup("pre", fat, breath_hold=cs_bh, start_s=260.0,
                                 image_type=("DERIVED" if fat in ("water", "fat") else "ORIGINAL", "PRIMARY", code,
                                             code)) for fat, code in
                      [("water", "W"), ("fat", "F"), ("in", "IP"), ("opp", "OP")]]
            add("mDIXON", "chemical_shift", _gre3d_technique(rng, vendor, False, True), groups, cs_grid, cs_thick,
                "t1", "cs", 260.0, 18.0)
        else:
            technique = _gre3d_technique(rng, vendor, False, True)
            for fat in ("water", "fat", "in", "opp"):
                name = {"ge": {"water": "WATER: Ax LAVA-Flex", "fat": "FAT: Ax LAVA-Flex",
                               "in": "InPhase: Ax LAVA-Flex", "opp": "OutPhase: Ax LAVA-Flex"}[fat],
                        "siemens": "t1_vibe_dixon_tra_bh_" + {"water": "W", "fat": "F", "in": "in", "opp": "opp"}[fat]}[
                    vendor]
                kind = ("DERIVED", "PRIMARY", "DIXON", {"water": "WATER", "fat": "FAT", "in": "IN_PHASE",
                                                        "opp": "OPPOSED_PHASE"}[fat])
                add(name, "chemical_shift", technique,
                    [ImageGroup("pre", fat, breath_hold=cs_bh, start_s=260.0, image_type=kind)],
                    cs_grid, cs_thick, "t1", "cs", 260.0, 18.0)
    else:
        groups = [ImageGroup("pre", fat, breath_hold=cs_bh, start_s=260.0,
                             image_type=("ORIGINAL", "PRIMARY", "OTHER"),
                             header={"EchoTime": te, "EchoNumbers": echo})
                  for echo, (fat, te) in enumerate((("opp", te_opp), ("in", te_in)), start=1)]
        name = {"ge": "Ax DUAL ECHO", "siemens": "t1_fl2d_opp-in_tra_bh", "philips": "T1_FFE_IP_OP",
                "canon": "AX T1 FFE IN/OUT"}[vendor]
        add(name, "chemical_shift", _dual_echo_technique(rng, vendor), groups, cs_grid, cs_thick, "t1", "cs",
            260.0, 20.0)
    if dwi and not t2_late:
        add_dwi(330.0)

    # Dynamic T1 series: one grid for all phases; each phase its own breath-hold.
    dyn_grid, dyn_thick = _grid(profile["dynamic"], centre, fov)
    start_of = {"pre": injection - 60.0 - float(rng.uniform(0, 30))}
    start_of.update({role: injection + delays[role] for role in roles if role != "pre"})
    fat_kind = "water" if dixon_dynamic else "fs"
    names = _dynamic_names(rng, vendor, delays, dixon_dynamic)
    if naming == "site":
        names.update(_site_names(delays, roles))
    elif naming == "uninformative":
        names = {role: "Ax 3D T1" if role == "pre" else "Ax 3D T1 post" for role in roles}
    dixon_type = ("DERIVED", "PRIMARY", "DIXON", "WATER")
    base_type = dixon_type if dixon_dynamic and vendor != "philips" else ("ORIGINAL", "PRIMARY", "OTHER")
    bh_of = {role: next_bh() for role in roles}

    def dynamic_group(role: str, **header: Any) -> ImageGroup:
        return ImageGroup(role, fat_kind, breath_hold=bh_of[role], start_s=start_of[role], image_type=base_type,
                          header=header, phase=None if role == "eap" else role)

    def philips_dixon_groups(role: str) -> list[ImageGroup]:
        out = []
        for fat, code in (("water", "W"), ("fat", "F"), ("in", "IP"), ("opp", "OP")):
            derived = "DERIVED" if fat in ("water", "fat") else "ORIGINAL"
            phase = role if fat == "water" and role != "eap" else None
            out.append(ImageGroup(role, fat, breath_hold=bh_of[role], start_s=start_of[role],
                                  image_type=(derived, "PRIMARY", code, code), phase=phase))
        return out

    single_roles: list[str] = []
    if ge_single:
        single_roles = [r for r in roles if r not in ("hbp",)]
        if rng.random() < 0.5:
            single_roles = [r for r in single_roles if r != "pre"]
    elif vendor == "canon":
        single_roles = [r for r in roles if r in ("pre", "eap", "ap", "pvp")]
    def add_single_series() -> None:
        shared = vendor == "ge" and rng.random() < 0.5
        acquisition_numbers = vendor == "canon" or rng.random() < 0.5
        first = start_of[single_roles[0]]
        groups = []
        for position, role in enumerate(single_roles, start=1):
            if vendor == "ge":
                # GE also writes (0018,1060) Trigger Time here, but it is Type 2C (ECG/pulse gating only) and
                # dciodvfy rejects it otherwise, so the generator leaves it out.
                header: dict[str, Any] = {
                    "TemporalPositionIdentifier": position, "NumberOfTemporalPositions": len(single_roles),
                    "AcquisitionNumber": position if acquisition_numbers else 1}
            else:
                header = {"AcquisitionNumber": position}
            groups.append(dynamic_group(role, **header))
        name = ({"ge": _choice(rng, ("Ax LAVA MultiPhase", "Ax LAVA BH Dyn"))}.get(vendor)
                or ("1_AX_DYN_PRE_a_POST" if "pre" in single_roles else "1_AX_DYN_a_POST"))
        add(name, "dynamic", techniques_t1, groups, dyn_grid, dyn_thick, "t1", "dynamic", first - 5.0,
            start_of[single_roles[-1]] - first + 20.0, shared_acquisition_time=shared)

    sub_name = {"siemens": lambda n: f"{n}_SUB", "philips": lambda n: f"s{n}"}
    for role in roles:
        if role in single_roles:
            if role == single_roles[0]:
                add_single_series()
            continue
        if t2_late and role == "hbp":
            add_t2(injection + delays["dp"] + 60.0)
            if dwi:
                add_dwi(injection + delays["dp"] + 260.0)
        groups = philips_dixon_groups(role) if (dixon_dynamic and vendor == "philips") else [dynamic_group(role)]
        add(names[role], "dynamic", techniques_t1, groups, dyn_grid, dyn_thick, "t1", "dynamic",
            start_of[role] - 3.0, 20.0)
        if subtractions and role in ("eap", "ap", "pvp"):
            sub = ImageGroup(role, fat_kind, breath_hold=bh_of[role], start_s=start_of[role],
                             image_type=("DERIVED", "PRIMARY", "SUBTRACTION"), subtract="pre")
            add(sub_name[vendor](names[role]), "dynamic", techniques_t1, [sub], dyn_grid, dyn_thick, "t1",
                "dynamic", start_of[role] + 25.0, 1.0)

    return StudyPlan(vendor, equipment, field_strength, series, injection, "gadoxetic" if gadoxetic else
                     "extracellular", agent_text, rng.random() < proto["bolus_start_time_fraction"],
                     breath_hold + 1, naming)
