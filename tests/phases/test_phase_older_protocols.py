"""Phase identification on older and plainer protocols (issue 27): a DICOM corpus, one study per failure class.

The studies (``older_protocols.STUDIES``) are written as header-only MR files and loaded by the
loader like any study: a MAGNETOM Vision study whose truncated `…/T1_F` names read as Dixon fat
images, 2D in-phase gradient-echo dynamics, a non-fat-saturated in-phase VIBE pre, a multi-phase
series with short-interval time points, unlabeled post-contrast series only, and a 2D dynamic with
4 slices per time point. Every phase must come from the expected series (and time point), phases a
study lacks must be absent, and where the evidence is thin the confidence must be lowered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from older_protocols import STUDIES, StudySpec, write_study
from phase_factory import make_stack, make_study

from hccp53.dicomio import load_study
from hccp53.phases import PhaseResult, identify_phases, load_rules

BY_NAME = {spec.name: spec for spec in STUDIES}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PhaseResult]:
    root = tmp_path_factory.mktemp("older_protocols")
    return {spec.name: identify_phases(load_study(write_study(root, spec)), require=()) for spec in STUDIES}


def _picks(result: PhaseResult) -> dict[str, tuple[int, int | None]]:
    return {phase: (choice.stack.series_number, choice.stack.temporal_position if choice.stack.temporal_positions > 1
                    else None) for phase, choice in result.phases.items()}


def _record(result: PhaseResult, number: int) -> dict:
    [record] = [c for c in result.considered if c.get("series_number") == number and not c.get("temporal_position")]
    return record


def test_the_corpus_covers_every_failure_class_as_loaded_dicom(corpus: dict) -> None:
    assert len({s.failure for s in STUDIES if s.failure}) == 6
    for spec in STUDIES:
        loaded = [c for c in corpus[spec.name].considered if c.get("kind") != "not loaded"]
        points = sum(len(s.seconds) if isinstance(s.seconds, list) else 1 for s in spec.series)
        assert len(loaded) == points, spec.name   # every series loaded, multi-phase ones split per time point


@pytest.mark.parametrize("name", list(BY_NAME))
def test_each_study_gives_the_expected_phases(corpus: dict, name: str) -> None:
    result = corpus[name]
    assert _picks(result) == BY_NAME[name].expected, {p: c.reason for p, c in result.phases.items()}


@pytest.mark.parametrize("name", [s.name for s in STUDIES if s.thin])
def test_thin_evidence_lowers_the_confidence(corpus: dict, name: str) -> None:
    spec: StudySpec = BY_NAME[name]
    confidence = load_rules().confidence
    for phase in spec.thin:
        choice = corpus[name].phases[phase]
        assert choice.confidence < confidence["text_only"], (phase, choice.confidence, choice.reason)


def test_a_bare_f_suffix_is_no_dixon_fat_image_without_corroboration(corpus: dict) -> None:
    result = corpus["vision_flash2d"]
    record = _record(result, 3)
    assert record["kind"] == "t1_dynamic"
    assert "`F` in its name is not taken as a Dixon fat image (no Dixon ImageType, no Dixon word, no other " \
           "chemical-shift image of the same acquisition)" in record["classification"]
    assert "2D T1 gradient echo (ScanningSequence GR, 2D, TR 140 ms, TE 4.1 ms)" in record["classification"]
    assert "a 2D gradient-echo stack, used because the 3D dynamic T1 stacks give no arterial" in \
        result.phases["ap"].reason
    # `GAD` is in every series' description (the protocol name), so it names no phase
    assert result.phases["pre"].stack.description == "LIVER-GAD-ENHANCEMENT/T1_F"


def test_a_corroborated_f_suffix_is_still_a_dixon_fat_image() -> None:
    water = make_stack("t1_vibe_tra_bh_pre_W", "t1cs", -300, number=3)
    fat = make_stack("t1_vibe_tra_bh_pre_F", "t1cs", -300, number=4)
    typed = make_stack("Ax T1 F", "t1cs", -250, number=5, image_type=("ORIGINAL", "PRIMARY", "DIXON"))
    lone = make_stack("Ax T1 F", "t1cs", -200, number=6)
    records = identify_phases(make_study([water, fat, typed, lone]), require=()).considered
    assert records[1]["status"] == "excluded"
    assert records[1]["reason"] == ("Dixon fat image (name: `F`; series 3 (`t1_vibe_tra_bh_pre_W`) is another "
                                    "chemical-shift image of the same acquisition)")
    assert records[2]["reason"] == "Dixon fat image (name: `F`; ImageType DIXON)"
    assert records[3]["kind"] == "t1_dynamic" and "not taken as a Dixon fat image" in records[3]["classification"]


def test_in_phase_names_are_excluded_unless_they_name_a_phase(corpus: dict) -> None:
    result = corpus["signa_inphase_2d"]
    plain = _record(result, 3)
    assert plain["status"] == "excluded"
    assert plain["reason"] == "in-phase image (name: `IN PHASE`; its description names no phase or time)"
    timed = _record(result, 6)
    assert timed["kind"] == "t1_dynamic" and timed["status"] == "chosen" and timed["phase"] == "pvp"
    assert "`IN PHASE` in its name is not taken as an in-phase image" in timed["classification"]
    assert "lies between the arterial and portal venous windows" in result.phases["pvp"].reason
    dixon = make_study([make_stack("Vibe 70 sec Post_W", "t1/water", 70, number=3),
                        make_stack("Vibe 70 sec Post_in", "t1", 70, number=4)])
    assert identify_phases(dixon, require=()).considered[1]["status"] == "excluded"


def test_a_non_fat_saturated_in_phase_vibe_is_the_pre_and_2d_flash_stays_unused(corpus: dict) -> None:
    result = corpus["vibe_inphase_pre"]
    assert result.phases["pre"].stack.description == "AX VIBE_Pre NON-FAT SAT IN-PHASE"
    assert result.phases["pre"].confidence >= load_rules().confidence["text_and_estimated_timing"]
    flash = _record(result, 3)
    assert flash["status"] == "not used" and flash["kind"] == "other"
    assert flash["reason"].startswith("2D T1 gradient echo (")


def test_time_points_of_one_series_compete_by_their_place_in_the_window(corpus: dict) -> None:
    result = corpus["multiphase_short_interval"]
    pvp = result.phases["pvp"]
    assert pvp.seconds_after_injection == pytest.approx(74)
    assert "2 other time point(s) of its series with the same label" in pvp.reason
    reasons = {a["stack"].temporal_position: a["reason"] for a in pvp.alternatives}
    assert "time point 5 at 74 s lies closer to the middle of the portal venous window (75 s)" in reasons[6]


def test_unlabeled_post_contrast_series_are_ordered_by_time_without_a_pre(corpus: dict) -> None:
    result = corpus["unlabeled_post_only"]
    assert "pre" not in result.phases
    assert "no T1 dynamic series was acquired before the injection" in result.missing["pre"]
    assert result.injection_time.source == "estimated"


def test_a_few_slice_2d_dynamic_is_used_when_3d_gives_no_arterial_phase(corpus: dict) -> None:
    result = corpus["few_slice_2d_dynamic"]
    ap = result.phases["ap"]
    assert ap.stack.slices == 4
    assert "it has only 4 slices (fewer than min_slices 5)" in ap.reason
    rules = load_rules()
    assert ap.confidence < rules.confidence["text_only"] * rules.confidence["two_d_dynamic"]
    dynamic = [c for c in result.considered if c.get("series_number") == 4]
    assert all("only 4 slices" in c["classification"] for c in dynamic)
    # without the 3D stacks' help nothing else changes: the 3D pre and delay are chosen over 2D
    assert result.phases["pre"].stack.slices == 64 and result.phases["dp"].stack.slices == 64


def test_few_slices_are_still_too_few_for_anything_but_a_2d_gradient_echo() -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", number=1, n_slices=4), make_stack("Ax LAVA", "t1", number=2, n_slices=4),
              make_stack("Ax FMPSPGR", "gre2d", 30, number=3, n_slices=2)]
    records = identify_phases(make_study(stacks), require=()).considered
    assert [r["reason"] for r in records] == ["too few slices (4 < 5)", "too few slices (4 < 5)",
                                              "too few slices (2 < 5)"]


def test_2d_stacks_are_not_used_when_3d_stacks_give_arterial_and_portal_phases(tmp_path: Path) -> None:
    stacks = [make_stack("Ax LAVA pre", "t1", -70, number=2), make_stack("Ax LAVA art", "t1", 30, number=3),
              make_stack("Ax LAVA pv", "t1", 70, number=4), make_stack("AX FMPSPGR 20 SEC", "gre2d", 25, number=5)]
    result = identify_phases(make_study(stacks), require=())
    assert {p: c.stack.series_number for p, c in result.phases.items()} == {"pre": 2, "ap": 3, "pvp": 4}
    assert result.considered[3]["status"] == "not used" and "2D T1 gradient echo" in result.considered[3]["reason"]
