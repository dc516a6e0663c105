"""The phase rules file: the shipped one loads, a site's edits take effect, bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from phase_factory import make_stack, make_study

import hccp53
from hccp53.errors import ConfigError
from hccp53.phases import DEFAULT_RULES_PATH, identify_phases, load_rules


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_default_rules_are_the_repository_config() -> None:
    assert DEFAULT_RULES_PATH == Path(hccp53.__file__).resolve().parents[1] / "configs" / "phase_rules.yaml"
    rules = load_rules()
    assert rules.path == DEFAULT_RULES_PATH
    assert rules.windows["ap"].low == 15 and rules.windows["ap"].high == 45
    assert rules.windows["late"].low == 600 and rules.windows["late"].high is None
    assert rules.windows["dp"].falloff_before == 60 and rules.windows["dp"].falloff_after == 240
    assert rules.prefer_images[0] == "fat_saturated"
    assert rules.gadoxetic.search("Gd-EOB-DTPA") and rules.extracellular.search("Clariscan")


def test_a_site_rule_takes_effect(tmp_path: Path) -> None:
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1), make_stack("Ax SSFSE T2 NAVI", "t2", -800, number=2)]
    assert identify_phases(make_study(stacks), require=("t2",)).phases["t2"].stack.series_number == 2
    path = _edited(tmp_path, "  - reason: MRCP\n", "  - reason: navigator test\n    pattern: '\\bNAVI\\b'\n"
                                                    "  - reason: MRCP\n")
    result = identify_phases(make_study(stacks), require=("t2",), rules=path)
    assert result.phases["t2"].stack.series_number == 1
    assert result.considered[1]["reason"] == "navigator test (name: `NAVI`)"
    assert result.to_json()["rules"] == str(path)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("version: 1", "version: 2", r"`version` must be 1"),
    ("min_slices: 5", "min_slices: 5\ncolour: red", r"`colour` is not a known key"),
    ("same_acquisition_s: 2.0\n", "", r"`same_acquisition_s` is missing"),
    ("min_slices: 5", "min_slices: five", r"`min_slices` must be a number, not 'five'"),
    ("    pattern: '\\bMRE\\b", "    pattern: '(\\bMRE\\b",
     r"`exclude\[3\]\.pattern` is not a valid regular expression"),
    ("{window: [15, 45], falloff_s: 10}", "{window: [45, 15], falloff_s: 10}",
     r"`timing\.windows_s\.ap\.window` must be \[start, end\] with start <= end"),
    ("{phase: pvp, priority: 3,", "{phase: portal, priority: 3,", r"`phase_text\[5\]\.phase` has 'portal'; allowed"),
    ("prefer_images: [fat_saturated, dixon_water, original, derived]", "prefer_images: [fat_saturated]",
     r"`dynamic_t1\.prefer_images` must list each of"),
    ("unknown_agent_late_phase: hbp", "unknown_agent_late_phase: maybe",
     r"`contrast_agents\.unknown_agent_late_phase` must be hbp or dp, not 'maybe'"),
    ("text_and_measured_timing: 0.98", "text_and_measured_timing: 1.5",
     r"`confidence\.text_and_measured_timing` must lie in \[0, 1\]"),
    ("{reason: localizer, any: [LOCALIZER, SCOUT]}", "{reason: localizer}",
     r"`image_type\.exclude\[0\]` needs at least one of `all`, `any`"),
    ("fields: [description]", "fields: [series_comment]",
     r"`matching\.fields` has 'series_comment'; allowed: description"),
])
def test_a_malformed_rules_file_is_refused_with_the_key_named(tmp_path: Path, old: str, new: str,
                                                              message: str) -> None:
    path = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError, match=r"^Phase rules .*rules\.yaml: " + message):
        load_rules(path)


def test_unreadable_or_non_yaml_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^Cannot read the phase rules .*missing\.yaml: .*give an existing"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("exclude: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^The phase rules .*bad\.yaml are not valid YAML"):
        load_rules(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"`\(top level\)` must be a mapping, not list"):
        load_rules(listed)
    with pytest.raises(ConfigError, match=r"Cannot read the phase rules"):
        identify_phases(make_study([]), require=(), rules=tmp_path / "missing.yaml")
