"""Phase identification on synthetic studies (``hccp53 synth``) against their ``truth.json``.

Every phase of every case, in every vendor storage style (GE single-series dynamics with
repeated slice positions, Siemens ``_SUB`` twins and Dixon, Philips ``s`` subtractions and
mDIXON, Canon multi-phase series), must come from the series (and time point / Dixon image)
the generator put it in; phases a case does not have must be absent.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hccp53 import PHASES
from hccp53.dicomio.loader import load_study
from hccp53.phases import PhaseResult, identify_phases
from hccp53.synth.cohort import generate_cohort
from hccp53.synth.config import load_config


def _wrong(result: PhaseResult, truth: dict) -> list[str]:
    """One line per phase chosen wrongly, missed, or found although the case has none."""
    problems = []
    for phase in PHASES:
        expected, choice = truth["phases"].get(phase), result.phases.get(phase)
        if expected is None:
            if choice is not None:
                problems.append(f"{phase}: {choice.stack.label} chosen but the case has none ({choice.reason})")
            continue
        if choice is None:
            problems.append(f"{phase}: missing ({result.missing.get(phase)}), expected {expected['series_number']}")
            continue
        stack = choice.stack
        ok = stack.series_uid == expected["series_instance_uid"]
        if "temporal_position" in expected:
            ok = ok and stack.temporal_position == expected["temporal_position"]
        elif "ImageType" in expected.get("selector", {}):
            ok = ok and list(stack.image_type) == expected["selector"]["ImageType"]
        if not ok:
            problems.append(f"{phase}: {stack.label} chosen, expected series {expected['series_number']} "
                            f"{expected.get('temporal_position', '')} ({choice.reason})")
    return problems


def _check_cohort(root: Path) -> tuple[Counter, Counter, list[str]]:
    right, total, problems = Counter(), Counter(), []
    for case in sorted((root / "cases").iterdir()):
        truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))
        result = identify_phases(load_study(case / "dicom"), require=())
        wrong = _wrong(result, truth)
        problems += [f"{case.name} ({truth['vendor']}, {truth['naming']}, {truth['contrast_agent']}): {w}"
                     for w in wrong]
        bad = {w.split(":")[0] for w in wrong}
        for phase in truth["phases"]:
            total[phase] += 1
            right[phase] += phase not in bad
    return right, total, problems


def test_every_phase_of_every_vendor_style(vendor_cohorts: dict[str, Path]) -> None:
    problems = []
    for style, root in vendor_cohorts.items():
        problems += [f"{style}: {p}" for p in _check_cohort(root)[2]]
    assert problems == []


def test_every_phase_of_the_acceptance_cohort(cohort: Path) -> None:
    right, total, problems = _check_cohort(cohort)
    assert problems == []
    assert set(total) >= {"t2", "pre", "ap", "pvp", "dp"}


def test_json_names_the_time_point_of_a_single_series_dynamic(vendor_cohorts: dict[str, Path]) -> None:
    case = sorted((vendor_cohorts["ge_single"] / "cases").iterdir())[0]
    truth = json.loads((case / "truth.json").read_text(encoding="utf-8"))
    found = identify_phases(load_study(case / "dicom"), require=("t2", "ap", "pvp"))
    document = json.loads(json.dumps(found.to_json()))
    for phase, expected in truth["phases"].items():
        got = document["phases"][phase]
        assert got["series_instance_uid"] == expected["series_instance_uid"]
        assert got["series_description"] == expected["series_description"]
        if "temporal_position" in expected:
            assert got["temporal_position"] == expected["temporal_position"]
            assert got["selector"]["TemporalPositionIdentifier"] == expected["selector"]["TemporalPositionIdentifier"]
    statuses = Counter(c["status"] for c in document["considered"])
    assert statuses["chosen"] == len(truth["phases"]) and statuses["excluded"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(("name", "seed", "protocol"), [
    ("default mix", 11, {}),
    ("traps", 7, {"early_arterial_fraction": 1.0, "uninformative_label_fraction": 0.5, "site_label_fraction": 0.5,
                  "agent_text_empty_fraction": 1.0, "bolus_start_time_fraction": 0.0,
                  "t2_after_contrast_fraction": 1.0}),
])
def test_large_synthetic_sweep_is_all_correct(tmp_path: Path, name: str, seed: int, protocol: dict) -> None:
    config = load_config(**{f"protocol__{k}": v for k, v in protocol.items()})
    generate_cohort(tmp_path / "c", 40, seed=seed, profile="small", config=config, workers=2, preview=False,
                    progress=False)
    right, total, problems = _check_cohort(tmp_path / "c")
    accuracy = {phase: f"{right[phase]}/{total[phase]}" for phase in PHASES if total[phase]}
    assert problems == [], (name, accuracy)
