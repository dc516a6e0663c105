"""The app's work on one study (hccp53.deploy), end to end on every vendor style, with the demo weights.

Checks the issue's list: the phases chosen, the SEG overlapping the true tumor (Dice >= 0.7), the
probability equal to the library called directly on the same volumes, SR and SEG valid for dciodvfy and
readable by dsrdump and highdicom, the SR valid for PixelMed's TID 1500 validator, the model's UID as the
Device UID of every object's algorithm item, and bad input leaving the output folder empty.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
import SimpleITK as sitk

from hccp53.deploy import KEY_SLICE_SR_FILE, PDF_FILE, RESULT_FILE, SEG_FILE, SR_FILE, STEPS, run_study
from hccp53.dicomio import load_study
from hccp53.dicomio.sr import read_result
from hccp53.errors import HccP53Error
from hccp53.phases import identify_phases
from hccp53.predictor import Predictor
from hccp53.settings import read_settings
from hccp53.volumes.study import study_volumes

ROOT = Path(__file__).resolve().parents[1]
STYLES = ("ge_single", "ge_separate", "siemens", "philips", "philips_mdixon", "canon")


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(ROOT / "models", read_settings(), device="cpu")


@pytest.fixture(scope="module")
def runs(vendor_cohorts: dict[str, Path], predictor: Predictor,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, dict]]:  # fmt: skip
    out = {}
    for style in STYLES:
        case = sorted((vendor_cohorts[style] / "cases").iterdir())[0]
        folder = tmp_path_factory.mktemp(style) / "out"
        out[style] = (case, folder, run_study(case / "dicom", folder, predictor))
    return out


def _truth(case: Path) -> dict:
    return json.loads((case / "truth.json").read_text())


@pytest.mark.parametrize("style", STYLES)
def test_the_phases_chosen_are_the_true_series(runs: dict, predictor: Predictor, style: str) -> None:
    case, folder, result = runs[style]
    truth = _truth(case)["phases"]
    assert {p: (c["series_instance_uid"], c["temporal_position"]) for p, c in result["phases"].items()} == {
        p: (truth[p]["series_instance_uid"], truth[p].get("temporal_position")) for p in ("t2", "ap", "pvp")}
    for phase, chosen in result["phases"].items():  # the identity `hccp53 phases --json` gives, and the confidence
        assert set(chosen) == {"series_instance_uid", "series_number", "series_description", "temporal_position",
                               "temporal_positions", "selector", "confidence"}, phase
        assert chosen["series_number"] == truth[phase]["series_number"] and 0.0 < chosen["confidence"] <= 1.0
    written = json.loads((folder / RESULT_FILE).read_text())
    assert written["p53_probability"] == pytest.approx(result["p53_probability"])
    assert written["device"] == "cpu" and written["model"]["sha256"]["p53_classifier.pt"]
    assert list(written["timings_s"]) == [f"{step}_s" for step in STEPS[:-1]]  # every step but the writer, in order
    assert written["model"]["uid"] == predictor.record.uid and written["reference_phase"] == "pvp"
    assert set(written["registration"]["phases"]) == {"t2", "ap"}


@pytest.mark.parametrize("style", STYLES)
def test_the_seg_overlaps_the_true_tumor(runs: dict, style: str) -> None:
    case, folder, result = runs[style]
    seg = hd.seg.segread(folder / SEG_FILE)
    study = load_study(case / "dicom")
    reference = identify_phases(study, require=("t2", "ap", "pvp")).phases["pvp"].stack
    sources = [i.sop_instance_uid for i in reference.instances]
    labels = seg.get_pixels_by_source_instance(source_sop_instance_uids=sources, combine_segments=True,
                                               relabel=False, skip_overlap_checks=True)  # fmt: skip
    truth = sitk.ReadImage(str(case / "nifti" / "tumor_mask.nii.gz"))
    from hccp53.dicomio.volume import slice_layout, stack_to_image

    grid = stack_to_image(study, reference)
    truth = sitk.GetArrayFromImage(sitk.Resample(truth, grid, sitk.Transform(), sitk.sitkNearestNeighbor))
    truth = truth[slice_layout(reference)[0]] > 0
    predicted = labels > 0
    dice = 2 * (truth & predicted).sum() / (truth.sum() + predicted.sum())
    assert dice >= 0.7, dice
    assert seg.number_of_segments == len(result["lesions"]) >= 1


@pytest.mark.parametrize("style", ["ge_single", "siemens"])
def test_the_probability_is_the_library_on_the_same_volumes(runs: dict, predictor: Predictor, style: str) -> None:
    case, _, result = runs[style]
    study = load_study(case / "dicom")
    volumes = study_volumes(study, identify_phases(study, require=predictor.phases), phases=predictor.phases,
                            reference_phase=predictor.reference_phase, register=True)
    direct = predictor(volumes)
    assert result["p53_probability"] == pytest.approx(direct.probability, abs=1e-6)
    assert [round(lesion.volume_ml, 6) for lesion in direct.lesions] == [
        round(lesion["volume_ml"], 6) for lesion in result["lesions"]]


def test_classify_reuses_the_tensors_segment_made_unchanged(vendor_cohorts: dict[str, Path],
                                                            predictor: Predictor) -> None:  # fmt: skip
    import torch

    from hccp53.transforms import sitk_to_metatensor

    case = sorted((vendor_cohorts["siemens"] / "cases").iterdir())[0]
    study = load_study(case / "dicom")
    volumes = study_volumes(study, identify_phases(study, require=predictor.phases), phases=predictor.phases,
                            reference_phase=predictor.reference_phase, register=True)
    images = volumes.images
    segmented = predictor.segment(volumes)
    assert set(segmented.tensors) == set(predictor.phases)
    classified = predictor.classify(segmented)
    fresh = {p: sitk_to_metatensor(images[p]) for p in predictor.phases}
    for phase, tensor in segmented.tensors.items():  # segmentation and classification left them as made
        assert torch.equal(tensor.as_tensor(), fresh[phase].as_tensor())
        assert torch.equal(tensor.affine, fresh[phase].affine)
    again = predictor.classify(replace(segmented, tensors=fresh))
    probabilities = [lesion.p53_probability for lesion in classified.lesions]
    assert probabilities == [lesion.p53_probability for lesion in again.lesions]
    assert classified.tensors == {} and classified.probability == classified.lesions[0].p53_probability
    with pytest.raises(HccP53Error, match="lacks the t2, ap, pvp tensor"):
        predictor.classify(replace(segmented, tensors={}))


@pytest.mark.parametrize("style", STYLES)
def test_sr_and_seg_are_valid_and_read_back(runs: dict, style: str) -> None:
    case, folder, result = runs[style]
    for name in (SR_FILE, SEG_FILE, KEY_SLICE_SR_FILE):
        check = subprocess.run(["dciodvfy", str(folder / name)], capture_output=True, text=True, check=False)
        assert not [line for line in check.stderr.splitlines() if line.startswith("Error")], (name, check.stderr)
    dump = subprocess.run(["dsrdump", str(folder / SR_FILE)], capture_output=True, text=True, check=False)
    assert dump.returncode == 0 and "Probability of TP53 mutation" in dump.stdout
    back = read_result(pydicom.dcmread(folder / SR_FILE))
    assert back["p53_probability"] == pytest.approx(result["p53_probability"], abs=1e-6)
    assert back["p53_status"] == result["p53_status"] and back["threshold"] == result["threshold"]
    assert [lesion["volume_ml"] for lesion in back["lesions"]] == pytest.approx(
        [lesion["volume_ml"] for lesion in result["lesions"]], abs=1e-3)
    assert [lesion["confidence"] for lesion in back["lesions"]] == pytest.approx(
        [lesion["confidence"] for lesion in result["lesions"]], abs=1e-4)
    # argmax voxels of background, liver and tumor: the tumor's softmax is above 1/3 on each
    assert all(1 / 3 <= lesion["confidence"] <= 1 for lesion in result["lesions"])
    seg = pydicom.dcmread(folder / SEG_FILE, stop_before_pixels=True)
    assert {lesion["referenced_seg_uid"] for lesion in back["lesions"]} == {seg.SOPInstanceUID}
    assert seg.StudyInstanceUID == back["study_instance_uid"] == result["study_instance_uid"]


@pytest.mark.parametrize("name", [SR_FILE, KEY_SLICE_SR_FILE])
@pytest.mark.parametrize("style", STYLES)
def test_pixelmed_finds_no_template_error_in_the_sr(runs: dict, style: str, name: str, validate_sr) -> None:
    """PixelMed's DicomSRValidator with template checking, on the result SR and the key-slice SR: no error, and
    no warning but "not in template" on the private-coded predicted status (issue 25)."""
    _, folder, _ = runs[style]
    report = validate_sr(folder / name)
    print(f"{style} {name}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    assert report.root_template_checked and report.errors == [], report.output
    assert report.other_warnings == [] and len(report.warnings) <= 1, report.output


@pytest.mark.parametrize("name", [SR_FILE, SEG_FILE, PDF_FILE, KEY_SLICE_SR_FILE])
def test_every_object_names_the_model_as_contributing_equipment(runs: dict, predictor: Predictor, name: str) -> None:
    _, folder, result = runs[STYLES[0]]
    dataset = pydicom.dcmread(folder / name, stop_before_pixels=True)
    (item,) = [item for item in dataset.ContributingEquipmentSequence
               if item.PurposeOfReferenceCodeSequence[0].CodeValue == "1630"]  # IHE AIR "Processing Algorithm"
    assert item.DeviceUID == result["model"]["uid"] == predictor.record.uid


def test_bad_input_leaves_no_output(vendor_cohorts: dict[str, Path], predictor: Predictor, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HccP53Error):
        run_study(empty, tmp_path / "out", predictor)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    case = sorted((vendor_cohorts["siemens"] / "cases").iterdir())[0]  # one series per phase
    study = tmp_path / "no_ap"
    study.mkdir()
    ap_uid = _truth(case)["phases"]["ap"]["series_instance_uid"]
    for k, path in enumerate(sorted((case / "dicom").rglob("*"))):
        if path.is_file() and pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID != ap_uid:
            (study / f"{k:05d}.dcm").write_bytes(path.read_bytes())
    with pytest.raises(HccP53Error, match="arterial"):
        run_study(study, tmp_path / "out2", predictor)
    assert not (tmp_path / "out2").exists() and not list(tmp_path.glob(".out2*"))


def test_an_output_folder_that_is_a_mount_point_is_filled_in_place(
    vendor_cohorts: dict[str, Path], predictor: Predictor, tmp_path: Path, mount_point_stand_in
) -> None:
    """A MAP runner mounts /var/holoscan/output: renaming it fails with EBUSY, as the old publish step did."""
    out = tmp_path / "output"
    out.mkdir()
    mount_point_stand_in(out)
    case = sorted((vendor_cohorts["siemens"] / "cases").iterdir())[0]
    result = run_study(case / "dicom", out, predictor)
    assert sorted(p.name for p in out.iterdir()) == sorted([RESULT_FILE, SEG_FILE, SR_FILE, KEY_SLICE_SR_FILE,
                                                            PDF_FILE])
    assert json.loads((out / RESULT_FILE).read_text())["p53_probability"] == result["p53_probability"]
    assert [p.name for p in tmp_path.iterdir()] == ["output"]
