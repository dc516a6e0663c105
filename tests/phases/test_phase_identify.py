"""Phase identification on hand-built studies: competition, agents, timing sources, errors, JSON."""

from __future__ import annotations

import json

import pytest
from phase_factory import T0, by_description, dynamic_study, make_stack, make_study

from hccp53.errors import ConfigError, InputError
from hccp53.phases import PhaseError, identify_phases, load_rules
from hccp53.phases.classify import text_phase
from hccp53.phases.rules import DEFAULT_RULES_PATH, normalise

STANDARD = [("Ax LAVA pre", -70), ("Ax LAVA art", 30), ("Ax LAVA pv", 70), ("Ax LAVA 3 min", 180)]
REQUIRED = ("t2", "ap", "pvp")  # the phases the shipped classifier needs


def _rules_with(tmp_path, old: str, new: str):
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "phase_rules.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# -- competition -----------------------------------------------------------------------------------

def test_late_arterial_wins_over_an_early_arterial_acquisition() -> None:
    study = dynamic_study([("Ax LAVA pre", -70), ("AX VIBE ARTERIAL", 12), ("AX VIBE ARTERIAL", 31),
                           ("Ax LAVA pv", 70)])
    result = identify_phases(study, require=REQUIRED)
    ap = result.phases["ap"]
    assert ap.stack.series_number == 4 and ap.seconds_after_injection == pytest.approx(31)
    assert "series 3 (`AX VIBE ARTERIAL`) before it is an early arterial acquisition" in ap.reason
    [early] = ap.alternatives
    assert early["stack"].series_number == 3 and "early arterial" in early["reason"]
    assert by_description(result, "AX VIBE ARTERIAL")[0]["label"] == "eap"


def test_fat_saturated_original_is_preferred_over_dixon_water_of_the_same_acquisition(tmp_path) -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1),
              make_stack("Ax VIBE pre", "t1", -70, number=2),
              make_stack("Ax VIBE art", "t1", 30, number=3, agent="Primovist"),
              make_stack("Ax VIBE FS pv", "t1", 70, number=4, agent="Primovist"),
              make_stack("Ax VIBE Dixon pv_W", "t1/water", 70.5, number=5, agent="Primovist")]
    result = identify_phases(make_study(stacks), require=REQUIRED)
    pvp = result.phases["pvp"]
    assert pvp.stack.series_number == 4
    assert "image kind is preferred" in pvp.alternatives[0]["reason"]
    water_first = _rules_with(tmp_path, "prefer_images: [fat_saturated, dixon_water, original, derived]",
                              "prefer_images: [dixon_water, fat_saturated, original, derived]")
    chosen = identify_phases(make_study(stacks), require=REQUIRED, rules=water_first).phases["pvp"]
    assert chosen.stack.series_number == 5


def test_a_repeated_acquisition_gives_the_later_one() -> None:
    study = dynamic_study(STANDARD + [("Ax LAVA pv", 95)])
    pvp = identify_phases(study, require=REQUIRED).phases["pvp"]
    assert pvp.seconds_after_injection == pytest.approx(95)
    assert "acquired later" in pvp.alternatives[0]["reason"]


def test_identical_descriptions_resolve_by_timing_alone() -> None:
    study = dynamic_study([("Ax 3D T1", -80), ("Ax 3D T1 post", 28), ("Ax 3D T1 post", 66),
                           ("Ax 3D T1 post", 170), ("Ax 3D T1 post", 1250)], agent="", bolus=False)
    result = identify_phases(study, require=REQUIRED)
    seconds = {k: v.stack.series_number for k, v in result.phases.items()}
    assert seconds == {"t2": 1, "pre": 2, "ap": 3, "pvp": 4, "dp": 5, "hbp": 6}
    assert result.injection_time.source == "estimated"
    assert "estimated at" in result.injection_time.detail


def test_descriptions_without_phase_and_without_times_cannot_be_ordered() -> None:
    study = dynamic_study([("Ax LAVA pre", -70), ("Ax LAVA post", None), ("Ax LAVA post", None)])
    with pytest.raises(PhaseError, match=r"^No arterial phase: series 3 \(`Ax LAVA post`\) and 4 \(`Ax LAVA post`\) "
                                         r"have no acquisition times to order them\.$"):
        identify_phases(study, require=("ap",))
    with pytest.raises(PhaseError, match=r"^No arterial phase and no portal venous phase: series 3 "):
        identify_phases(study, require=REQUIRED)


def test_a_description_still_decides_when_the_time_is_missing() -> None:
    study = dynamic_study(STANDARD[:1] + [("Ax LAVA art", None), ("Ax LAVA pv", None)])
    result = identify_phases(study, require=REQUIRED)
    assert result.phases["ap"].stack.description == "Ax LAVA art"
    assert "no acquisition time" in result.phases["ap"].reason
    assert result.phases["ap"].confidence == pytest.approx(load_rules().confidence["text_only"])


# -- contrast agents -------------------------------------------------------------------------------

def test_hepatobiliary_phase_needs_gadoxetic_acid() -> None:
    rows = STANDARD + [("Ax LAVA 20 min", 1200)]
    gadoxetic = identify_phases(dynamic_study(rows, agent="Primovist"), require=REQUIRED)
    assert gadoxetic.phases["hbp"].stack.series_number == 6
    result = identify_phases(dynamic_study(rows, agent="Gadavist"), require=REQUIRED)
    assert "hbp" not in result.phases and result.phases["dp"].stack.series_number == 5
    assert "late delayed" in by_description(result, "Ax LAVA 20 min")[0]["reason"]
    with pytest.raises(PhaseError, match=r"^No hepatobiliary phase: the contrast agent `Gadavist` is extracellular, "
                                         r"which gives no hepatobiliary phase \(series 6 \(`Ax LAVA 20 min`\) is a "
                                         r"late delayed phase\)\.$"):
        identify_phases(dynamic_study(rows, agent="Gadavist"), require=("hbp",))


def test_extracellular_late_series_is_the_delayed_phase_when_no_other_exists() -> None:
    study = dynamic_study(STANDARD[:3] + [("AX_POST_15_MIN_DELAY", 900)], agent="Dotarem")
    result = identify_phases(study, require=REQUIRED)
    dp = result.phases["dp"]
    assert dp.stack.description == "AX_POST_15_MIN_DELAY" and "late delayed" in dp.reason
    assert "hbp" not in result.phases


def test_unknown_agent_follows_the_rules_file(tmp_path) -> None:
    rows = STANDARD + [("Ax 3D T1 post", 1100)]
    known = identify_phases(dynamic_study(rows, agent="EOVIST"), require=REQUIRED).phases["hbp"]
    unknown = identify_phases(dynamic_study(rows, agent=""), require=REQUIRED).phases["hbp"]
    assert unknown.stack.series_number == known.stack.series_number
    assert unknown.confidence < known.confidence and "not named" in unknown.reason
    as_dp = _rules_with(tmp_path, "unknown_agent_late_phase: hbp", "unknown_agent_late_phase: dp")
    result = identify_phases(dynamic_study(rows, agent=""), require=REQUIRED, rules=as_dp)
    assert "hbp" not in result.phases and "unknown_agent_late_phase is dp" in result.missing["hbp"]


def test_agent_named_only_in_a_description_counts() -> None:
    rows = STANDARD + [("AX LAVA EOVIST 20 MIN", 1200)]
    result = identify_phases(dynamic_study(rows, agent=""), require=REQUIRED)
    assert result.contrast_agent["class"] == "gadoxetic"
    assert result.phases["hbp"].confidence > 0.9


# -- timing sources --------------------------------------------------------------------------------

def test_inconsistent_bolus_start_time_is_not_believed() -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1), make_stack("Ax LAVA pre", "t1", -70, number=2)]
    for number, (description, seconds) in enumerate(STANDARD[1:], start=3):
        stacks.append(make_stack(description, "t1", seconds, number=number, agent="EOVIST", bolus=T0 + 400))
    result = identify_phases(make_study(stacks), require=REQUIRED)
    assert result.injection_time.source == "estimated"
    assert "ContrastBolusStartTime 10:06:40 was not used" in result.injection_time.detail
    assert [result.phases[p].stack.series_number for p in ("pre", "ap", "pvp", "dp")] == [2, 3, 4, 5]


def test_reference_time_replaces_bolus_time_and_estimate() -> None:
    study = dynamic_study(STANDARD, bolus=False)
    for reference in ("100000", T0):
        result = identify_phases(study, require=REQUIRED, reference_time=reference)
        assert result.injection_time.source == "reference"
        assert result.phases["ap"].seconds_after_injection == pytest.approx(30)
    with pytest.raises(ConfigError, match="not a time of day"):
        identify_phases(study, require=REQUIRED, reference_time="25:00")


def _multiphase(times: list[float | None], trigger: list[float] | None = None, description: str = "Ax LAVA MultiPhase",
                split_key: str = "TemporalPositionIdentifier") -> list:
    n = len(times)
    return [make_stack(description, "t1", seconds, number=5, agent="Primovist", temporal_position=k,
                       temporal_positions=n, series_uid="1.2.826.0.1.3680043.10.1.5", split={split_key: float(k)},
                       trigger_time=None if trigger is None else trigger[k - 1])
            for k, seconds in enumerate(times, start=1)]


def test_multiphase_series_with_one_shared_time_is_labelled_by_order() -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1)] + _multiphase([-75] * 5)
    result = identify_phases(make_study(stacks), require=REQUIRED)
    positions = {p: result.phases[p].stack.temporal_position for p in ("pre", "ap", "pvp", "dp")}
    assert positions == {"pre": 1, "ap": 3, "pvp": 4, "dp": 5}
    assert "time point 3/5 of its series, which gives only the order" in result.phases["ap"].reason
    assert result.phases["ap"].confidence <= load_rules().confidence["order_only"]


def test_multiphase_series_after_a_separate_pre_starts_post_contrast() -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1), make_stack("Ax LAVA pre", "t1", -80, number=2)]
    stacks += _multiphase([12] * 4)
    result = identify_phases(make_study(stacks), require=REQUIRED)
    assert result.phases["pre"].stack.series_number == 2
    assert [result.phases[p].stack.temporal_position for p in ("ap", "pvp", "dp")] == [2, 3, 4]


def test_multiphase_times_from_trigger_time() -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1)]
    stacks += _multiphase([-70] * 4, trigger=[0.0, 98000.0, 140000.0, 250000.0])
    result = identify_phases(make_study(stacks), require=REQUIRED, reference_time=T0)
    assert result.phases["ap"].seconds_after_injection == pytest.approx(28)
    assert "TriggerTime" in result.phases["ap"].reason


def test_canon_pre_and_post_series_split_by_acquisition_number() -> None:
    stacks = [make_stack("AX T2 FSE FS", "t2fs", -900, number=1)]
    stacks += _multiphase([-60, 13, 30, 70], description="1_AX_DYN_PRE_a_POST", split_key="AcquisitionNumber")
    stacks.append(make_stack("AX_POST_3_MIN_DELAY", "t1", 180, number=6, agent="Primovist"))
    result = identify_phases(make_study(stacks), require=REQUIRED)
    document = result.to_json()
    assert document["phases"]["pre"]["temporal_position"] == 1
    assert document["phases"]["ap"]["temporal_position"] == 3
    assert document["phases"]["ap"]["selector"] == {"AcquisitionNumber": 3}
    assert document["phases"]["ap"]["temporal_positions"] == 4
    assert document["phases"]["dp"]["series_description"] == "AX_POST_3_MIN_DELAY"
    assert "pre-contrast" in result.phases["pre"].reason


# -- classification --------------------------------------------------------------------------------

@pytest.mark.parametrize(("seq", "reason"), [
    ("t1/sub", "subtraction"), ("t1/fatP", "Dixon fat"), ("t1/inP", "in-phase"), ("loc/loc", "localizer"),
    ("dwi/adc", "diffusion"),
])
def test_image_type_excludes_whatever_the_name(seq: str, reason: str) -> None:
    study = make_study([make_stack("Ax series 7", seq, 30, number=7, agent="Primovist")])
    [record] = identify_phases(study, require=()).considered
    assert record["status"] == "excluded" and record["reason"].startswith(reason)
    assert "ImageType" in record["reason"]


def test_sequence_parameters_decide_over_names() -> None:
    stacks = [make_stack("T2 fast", "t2", number=1, echo_time=10.0),       # a T2 name, TE 10 ms
              make_stack("Series 2", "t2", number=2),                      # no name: spin echo TE 90 ms
              make_stack("Ax LAVA", "t1", number=3, echo_time=None, repetition_time=None,
                         scanning_sequence=(), mr_acquisition_type=""),    # no parameters: the name
              make_stack("Ax b-value map", "t2", number=4, diffusion_b_value=800.0, scanning_sequence=("SE", "EP")),
              make_stack("Ax SSFSE T2", "t2", number=5, modality="CT"),
              make_stack("Ax SSFSE T2", "t2", number=6, n_slices=3)]
    kinds = [(c["kind"], c["classification"]) for c in identify_phases(make_study(stacks), require=()).considered]
    assert kinds[0][0] == "other" and "TE 10 ms" in kinds[0][1]
    assert kinds[1][0] == "t2" and "spin echo parameters" in kinds[1][1]
    assert kinds[2][0] == "t1_dynamic" and "by name" in kinds[2][1]
    assert kinds[3][0] == "excluded" and "diffusion" in kinds[3][1]
    assert kinds[4] == ("excluded", "not MR (modality CT)")
    assert kinds[5] == ("excluded", "too few slices (3 < 5)")


def test_a_coronal_t2_is_used_only_when_no_axial_exists() -> None:
    coronal = make_stack("COR FASE BH", "t2/COR", -900, number=1)
    result = identify_phases(make_study([coronal] + dynamic_study(STANDARD, t2=False).stacks), require=REQUIRED)
    t2 = result.phases["t2"]
    assert t2.stack is coronal and "no axial T2 exists" in t2.reason
    assert t2.confidence < load_rules().confidence["t2_keyword_and_parameters"]


@pytest.mark.parametrize(("description", "phase"), [
    ("Vibe 20 sec Post_W", "ap"), ("Vibe 20 min Post_W", "hbp"), ("AX_POST_20_MIN_DELAY", "hbp"),
    ("AX_POST_3_MIN_DELAY", "dp"), ("Ax LAVA BH post gad 0 sec", "pre"), ("Ax LAVA BH post gad 12sec", "eap"),
    ("Ax 3D T1 post", "post"), ("mDIXON +C EARLY", "eap"), ("V60", "pvp"), ("Ax LAVA-Flex 2 phase", None),
    ("Ax LAVA art and pv", None),
])
def test_phase_words_and_times_in_descriptions(description: str, phase: str | None) -> None:
    assert text_phase([normalise(description)], load_rules()).phase == phase


def test_conflicting_phase_words_cancel_and_say_so() -> None:
    found = text_phase([normalise("Ax LAVA art and pv")], load_rules())
    assert found.phase is None and "conflicting phase words" in found.note


# -- errors and output -----------------------------------------------------------------------------

def test_missing_t2_is_one_sentence_and_keeps_the_rest() -> None:
    study = dynamic_study(STANDARD, t2=False)
    with pytest.raises(PhaseError, match=r"^No T2 phase: no T2-weighted series \(spin echo with TE ≥ 60 ms and "
                                         r"TR ≥ 1500 ms, or a T2 name\) among the 4 stacks\.$") as caught:
        identify_phases(study, require=REQUIRED)
    assert isinstance(caught.value, InputError)
    assert caught.value.missing == ["t2"]
    assert set(caught.value.result.phases) == {"pre", "ap", "pvp", "dp"}


def test_several_missing_phases_are_named_in_one_sentence() -> None:
    study = make_study([make_stack("Ax SSFSE T2", "t2", -900, number=1),
                        make_stack("Ax DWI b0_800", "dwi", -600, number=2)])
    with pytest.raises(PhaseError) as caught:
        identify_phases(study, require="t2,ap,pvp")
    assert str(caught.value) == (
        "No arterial phase and no portal venous phase: the study has no T1 gradient-echo dynamic series (3D, or 2D "
        "where no 3D one exists; TR < 10 ms, TE < 5 ms, or a dynamic T1 name) among its 2 stacks, excluded: 1 "
        "diffusion (DWI/ADC).")
    assert caught.value.missing == ["ap", "pvp"]


def test_unknown_required_phase_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^Unknown phase\(s\) art in the required phases; use some of t2, pre"):
        identify_phases(dynamic_study(STANDARD), require=("t2", "art"))


def test_json_document_follows_the_public_contract() -> None:
    study = dynamic_study(STANDARD + [("Ax LAVA 20 min", 1200)])
    study.rejected_series.append(("series 9 (`Ax broken`)", "its slice positions repeat unevenly"))
    document = json.loads(json.dumps(identify_phases(study, require=REQUIRED).to_json()))
    assert list(document["phases"]) == ["t2", "pre", "ap", "pvp", "dp", "hbp"]
    ap = document["phases"]["ap"]
    assert {"series_instance_uid", "series_description", "series_number", "temporal_position", "selector", "reason",
            "confidence", "alternatives", "seconds_after_injection"} <= set(ap)
    assert ap["series_instance_uid"] == study.stacks[2].series_uid and ap["temporal_position"] is None
    assert document["injection_time"] == {"time": "10:00:00", "seconds_since_midnight": T0,
                                          "source": "ContrastBolusStartTime",
                                          "detail": "(0018,1042) Contrast/Bolus Start Time 10:00:00, consistent "
                                                    "with the acquisition times"}
    assert document["contrast_agent"] == {"class": "gadoxetic", "text": "Primovist"}
    assert len(document["considered"]) == len(study.stacks) + 1
    assert document["considered"][-1] == {"series": "series 9 (`Ax broken`)", "kind": "not loaded",
                                          "status": "excluded", "phase": None,
                                          "reason": "its slice positions repeat unevenly"}
    assert all(c["status"] in ("chosen", "alternative", "excluded", "not used") for c in document["considered"])
    assert document["missing"] == {}


def test_a_missing_phase_names_the_series_set_aside_on_the_way() -> None:
    study = dynamic_study([("Ax LAVA pre", -70), ("Ax LAVA art", 30), ("Ax LAVA 3 min", 180)])
    study.rejected_series = [("series 9 (`Ax LAVA pv`)", "duplicated or inconsistent slice positions"),
                             ("series 20 (`Dose report`)", "modality SR, not MR")]  # fmt: skip
    with pytest.raises(PhaseError, match=r"^No portal venous phase: .*; set aside: series 9 \(`Ax LAVA pv`\) "
                                         r"\(duplicated or inconsistent slice positions\)\.$") as raised:  # fmt: skip
        identify_phases(study, require=REQUIRED)
    assert "Dose report" not in str(raised.value)  # not an MR series: no candidate for any phase
    thin = dynamic_study([("Ax LAVA pre", -70), ("Ax LAVA art", 30), ("Ax LAVA pv", 70)])
    thin.stacks[-1] = make_stack("Ax LAVA pv", "t1", 70, number=4, n_slices=1, agent="Primovist", bolus=T0)
    with pytest.raises(PhaseError, match=r"; set aside: series 4 \(`Ax LAVA pv`\) \(its description names the "
                                         r"portal venous phase; too few slices \(1 < \d+\)\)\.$"):  # fmt: skip
        identify_phases(thin, require=REQUIRED)
