"""Ground truth of one case: prepared volumes on the reference grid, masks, DICOM SEG, truth.json.

The reference grid is the portal venous phase's series grid (``DESIGN.md``: all phases of
a case on one voxel grid). Each phase's acquired image (what a DICOM reader gets: stored
values times the rescale slope, noise and bias included) is resampled onto it with the
*true* breath-hold displacement compensated, i.e. a perfect rigid registration; the
masks are rendered directly on it. ``hccp53 prepare`` (from DICOM) must come close to this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import SimpleITK as sitk
from highdicom.sr.coding import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from hccp53 import PHASES, __version__
from hccp53.dicomio.codes import LIVER, TUMOR_CATEGORY, TUMOR_TYPE
from hccp53.synth import render
from hccp53.synth.anatomy import Anatomy
from hccp53.synth.dicom_writer import Uids
from hccp53.synth.geometry import Grid
from hccp53.synth.protocol import ImageGroup, SeriesPlan, StudyPlan

#: Phases written to the prepared datalist: the phase keys (``eap`` is a distractor, never a datalist key).
DATALIST_PHASES: tuple[str, ...] = PHASES

ANATOMICAL_STRUCTURE = CodedConcept("91723000", "SCT", "Anatomical Structure")
# the tumor segment is coded as the app's SEG codes it (CID 7150 / 7194; see hccp53.dicomio.codes: HCC itself,
# SCT 25370001, is in none of the context groups a SEG's segmented property may take its codes from)


@dataclass(frozen=True)
class RenderedCase:
    """What the ground truth of one case is made from, handed over by the case writer once its DICOM is written.

    Attributes
    ----------
    folder, case_id:
        The case's folder (``cases/<case_id>``) and identifier.
    plan, anatomy:
        The study plan (series, phases, reference phase) and the phantom.
    uids:
        The case's deterministic UIDs.
    shifts:
        The breath-hold displacement (x, y, z) in mm of each breath hold.
    phase_groups:
        Phase -> (series, index of its image group).
    rendered:
        (series number, group index) -> the acquired image a reader gets (rescale applied).
    datasets:
        Series number -> the written instances as (dataset, group index, slice index).
    layers:
        The tissue memberships of a group on a grid (the writer's cached :func:`render.memberships`).
    appearance:
        The case's appearance style and its drawn values (:func:`hccp53.synth.appearance.style_record`).
    """

    folder: Path
    case_id: str
    plan: StudyPlan
    anatomy: Anatomy
    uids: Uids
    shifts: np.ndarray
    phase_groups: Mapping[str, tuple[SeriesPlan, int]]
    rendered: Mapping[tuple[int, int], np.ndarray]
    datasets: Mapping[int, Sequence[tuple[Dataset, int, int]]]
    layers: Callable[[SeriesPlan, ImageGroup, Grid], list[render.Membership]]
    appearance: Mapping[str, Any]


def _write_nifti(image: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


def write_ground_truth(writer: RenderedCase, preview: bool) -> dict[str, Any]:
    """Write ``nifti/``, ``truth/seg.dcm``, ``truth.json`` (and ``preview.png``); return the datalist entry."""
    folder = writer.folder
    ref_series, ref_g = writer.phase_groups[writer.plan.reference_phase]
    ref_group = ref_series.groups[ref_g]
    ref_grid = ref_series.grid
    ref_shift = writer.shifts[ref_group.breath_hold]
    reference = ref_grid.to_sitk(np.zeros(ref_grid.shape, dtype=np.float32))

    entry: dict[str, Any] = {}
    volumes: dict[str, np.ndarray] = {}
    for phase in PHASES:  # the datalist keys; ``eap`` is a distractor, never one
        if phase not in writer.phase_groups:
            continue
        series, g = writer.phase_groups[phase]
        group = series.groups[g]
        grid = group.grid or series.grid
        moving = grid.to_sitk(writer.rendered[(series.number, g)].astype(np.float32))
        offset = writer.shifts[group.breath_hold] - ref_shift
        transform = sitk.TranslationTransform(3, tuple(float(v) for v in offset))
        resampled = sitk.Resample(moving, reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        _write_nifti(resampled, folder / "nifti" / f"{phase}.nii.gz")
        entry[phase] = f"cases/{writer.case_id}/nifti/{phase}.nii.gz"
        volumes[phase] = sitk.GetArrayFromImage(resampled)

    layers = writer.layers(ref_series, ref_group, ref_grid)
    liver, tumor = render.label_masks(ref_grid, layers)
    _write_nifti(ref_grid.to_sitk(tumor), folder / "nifti" / "tumor_mask.nii.gz")
    _write_nifti(ref_grid.to_sitk(liver), folder / "nifti" / "liver_mask.nii.gz")
    entry["mask"] = f"cases/{writer.case_id}/nifti/tumor_mask.nii.gz"
    entry["liver_mask"] = f"cases/{writer.case_id}/nifti/liver_mask.nii.gz"

    _write_seg(writer, ref_series.number, ref_g, liver, tumor, folder / "truth" / "seg.dcm")
    truth = _truth_record(writer, ref_grid, tumor)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    if preview:
        from hccp53.synth.preview import write_preview

        write_preview(folder / "preview.png", volumes, tumor, liver, writer.case_id)
    return entry


def _write_seg(writer: RenderedCase, series_number: int, group_index: int, liver: np.ndarray,
               tumor: np.ndarray, path: Path) -> None:
    """DICOM SEG (binary) of liver and tumor, referencing the reference-phase images."""
    records = sorted((k, ds) for ds, g, k in writer.datasets[series_number] if g == group_index)
    sources = [ds for _, ds in records]
    slices = [k for k, _ in records]
    pixels = np.stack([liver[slices], tumor[slices]], axis=-1).astype(bool)
    algorithm = hd.AlgorithmIdentificationSequence(
        name="hccp53 synthetic phantom ground truth", family=codes.cid7162.MorphologicalOperations,
        version=__version__)
    segments = [
        hd.seg.SegmentDescription(1, "Liver", ANATOMICAL_STRUCTURE, LIVER,
                                  hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm,
                                  tracking_uid=writer.uids("tracking", "liver"), tracking_id="liver"),
        hd.seg.SegmentDescription(2, "Tumor", TUMOR_CATEGORY, TUMOR_TYPE,
                                  hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm,
                                  tracking_uid=writer.uids("tracking", "tumor"), tracking_id="tumor"),
    ]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments, series_instance_uid=writer.uids("seg-series"), series_number=900,
        sop_instance_uid=writer.uids("seg-instance"), instance_number=1, manufacturer="hccp53",
        manufacturer_model_name="hccp53 synth", software_versions=__version__, device_serial_number="0",
        series_description="Synthetic ground truth (research use)", content_label="GROUND_TRUTH",
        content_description="Liver and tumor masks of the synthetic phantom",
    )
    # Deterministic output: replace the creation times and the random UIDs highdicom draws.
    ref = sources[0]
    for keyword in ("SeriesDate", "ContentDate", "InstanceCreationDate"):
        setattr(seg, keyword, ref.ContentDate)
    for keyword in ("SeriesTime", "ContentTime", "InstanceCreationTime"):
        setattr(seg, keyword, ref.ContentTime)
    for item in seg.get("ContributingEquipmentSequence", []):
        item.ContributionDateTime = f"{ref.ContentDate}{ref.ContentTime}"
    organisation = writer.uids("seg-dimension-organisation")
    seg.DimensionOrganizationSequence[0].DimensionOrganizationUID = organisation
    for item in seg.DimensionIndexSequence:
        item.DimensionOrganizationUID = organisation
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path, enforce_file_format=True)


def _truth_record(writer: RenderedCase, ref_grid: Any, tumor: np.ndarray) -> dict[str, Any]:
    """Everything a test needs to check phase identification, registration and masks."""
    plan = writer.plan
    phases = {}
    for phase in PHASES:  # the datalist keys; ``eap`` is a distractor, never one
        if phase not in writer.phase_groups:
            continue
        series, g = writer.phase_groups[phase]
        group = series.groups[g]
        record = {
            "series_instance_uid": writer.uids("series", series.number),
            "series_number": series.number,
            "series_description": series.description,
            "seconds_after_injection": round(group.start_s - plan.injection_s, 1),
            "breath_hold_shift_mm": [round(float(v), 3) for v in writer.shifts[group.breath_hold]],
        }
        if len(series.groups) > 1:
            times = sorted({other.start_s for other in series.groups})
            if len(times) > 1:  # several time points in one series: GE multi-phase, Canon dynamic
                record["temporal_position"] = times.index(group.start_s) + 1
            record["selector"] = dict(group.header) if group.header else {"ImageType": list(group.image_type)}
        phases[phase] = record
    voxel_ml = float(np.prod(ref_grid.spacing)) / 1000.0
    return {
        "case_id": writer.case_id,
        "vendor": plan.vendor,
        "field_strength_t": plan.field_strength,
        "contrast_agent": plan.agent,
        "contrast_agent_text": plan.agent_text,
        "naming": plan.naming,
        "reference_phase": plan.reference_phase,
        "phases": phases,
        "series": [
            {"series_number": s.number, "series_description": s.description, "kind": s.kind,
             "groups": [{"contrast": g.contrast, "fat": g.fat, "image_type": list(g.image_type),
                         "phase": g.phase, **({"b_value": g.b_value} if g.contrast == "dwi" else {})}
                        for g in s.groups]}
            for s in plan.series
        ],
        "lesions": [
            {"centre_lps_mm": [round(c, 2) for c in lesion.centre], "diameter_mm": round(lesion.diameter_mm, 2),
             "necrosis_fraction": round(lesion.necrosis_fraction, 4), "rim_aphe": lesion.rim_aphe,
             "capsule": lesion.capsule}
            for lesion in writer.anatomy.lesions
        ],
        "tumor_volume_ml": round(float(tumor.sum()) * voxel_ml, 3),
        "appearance": dict(writer.appearance),
        "reference_grid": {"shape": list(ref_grid.shape), "spacing": list(ref_grid.spacing),
                           "origin": [round(v, 4) for v in ref_grid.origin]},
    }
