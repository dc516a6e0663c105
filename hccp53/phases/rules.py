"""Load and check the phase identification rules (``configs/phase_rules.yaml``).

The YAML file holds everything a site may tune: exclusion patterns, ImageType rules, T2 and
dynamic T1 keywords and sequence parameters, phase words with priorities, timing windows,
contrast agent names, scores and confidences. :func:`load_rules` reads it into a
:class:`PhaseRules` object with compiled regular expressions; any missing, unknown or
malformed key raises :class:`~hccp53.errors.ConfigError` with one sentence naming the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import hccp53
from hccp53.errors import ConfigError

#: The rules file used when none is given.
DEFAULT_RULES_PATH = Path(hccp53.__file__).resolve().parents[1] / "configs" / "phase_rules.yaml"

#: Labels of the timing model, in acquisition order (``eap`` early arterial, ``late`` >= 10 min).
LABELS: tuple[str, ...] = ("pre", "eap", "ap", "pvp", "dp", "late")
TEXT_PHASES = ("pre", "eap", "ap", "pvp", "dp", "hbp", "post")
IMAGE_KINDS = ("fat_saturated", "dixon_water", "original", "derived")
FIELDS = ("description", "protocol_name")
SCORES = ("text_agrees", "text_related", "text_conflicts", "post_text", "post_text_on_pre", "timing", "timing_floor",
          "contrast_module_on_pre", "new_phase", "new_pre", "repeat", "pre_repeat_same_geometry")
CONFIDENCES = ("text_and_measured_timing", "text_and_estimated_timing", "text_only", "measured_timing_only",
               "estimated_timing_only", "order_only", "conflict", "close_runner_up", "close_margin",
               "unknown_agent_hbp", "t2_keyword_and_parameters", "t2_parameters_only", "t2_keyword_only",
               "non_axial", "two_d_dynamic", "few_slices")
#: What may corroborate a weak exclusion by name (``corroborate:`` of an ``exclude`` rule).
CORROBORATIONS = ("same_acquisition", "dixon_word", "image_type", "no_phase_named")
#: Chemical-shift components whose names ``chemical_shift.components`` recognises.
COMPONENTS = ("fat", "water", "in_phase", "opposed_phase")


def normalise(text: str) -> str:
    """Text as the patterns see it: ``_`` replaced by a space, runs of spaces collapsed."""
    return " ".join(text.replace("_", " ").split())


@dataclass(frozen=True)
class Rule:
    """A compiled pattern and what a match means (an exclusion reason, a phase or a plane)."""

    label: str
    regex: re.Pattern[str]
    priority: int = 0
    unit: float = 1.0          # times_in_text: seconds per unit
    corroborate: frozenset[str] = frozenset()   # exclude: evidence the name needs (empty: the name decides)

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text)


@dataclass(frozen=True)
class ImageTypeRule:
    """Matches an (0008,0008) *Image Type* (upper case values)."""

    label: str
    all: frozenset[str]
    any: frozenset[str]
    third: frozenset[str]

    def matches(self, image_type: tuple[str, ...]) -> bool:
        values = {v.upper() for v in image_type}
        if not self.all <= values:
            return False
        if self.any and not (self.any & values):
            return False
        if self.third and (len(image_type) < 3 or image_type[2].upper() not in self.third):
            return False
        return bool(self.all or self.any or self.third)


@dataclass(frozen=True)
class Window:
    """A timing window in seconds after the injection, with a soft edge."""

    low: float | None
    high: float | None
    falloff_before: float
    falloff_after: float

    def fit(self, seconds: float, floor: float = -1.0) -> float:
        """1 inside, falling linearly to 0 at the falloff distance outside, not below ``floor``."""
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if seconds < low:
            return max(floor, 1.0 - (low - seconds) / self.falloff_before)
        if seconds > high:
            return max(floor, 1.0 - (seconds - high) / self.falloff_after)
        return 1.0

    def text(self) -> str:
        """``15–45 s``, ``up to 10 s before``, ``10 min or later``."""
        if self.low is None:
            high = float(self.high)  # type: ignore[arg-type]
            return f"up to {-high:g} s before" if high < 0 else f"up to {high:g} s after"
        if self.high is None:
            return f"{self.low / 60:g} min or later" if self.low >= 600 else f"{self.low:g} s or later"
        return f"{self.low:g}–{self.high:g} s"


@dataclass(frozen=True)
class SequenceRules:
    """Keywords and sequence parameters of one kind of series (T2 or dynamic T1)."""

    keywords: re.Pattern[str]
    scanning_any: frozenset[str]
    scanning_none: frozenset[str]
    acquisition_type: str | None
    min_te: float | None
    min_tr: float | None
    max_te: float | None
    max_tr: float | None
    fat_sat_options: frozenset[str]
    fat_sat_pattern: re.Pattern[str]
    not_fat_sat_pattern: re.Pattern[str]


@dataclass(frozen=True)
class TwoDRules:
    """2D T1 gradient echo stacks, the dynamic phases of older protocols (``dynamic_t1.two_d``)."""

    scanning_any: frozenset[str]
    acquisition_type: str
    max_tr: float
    max_te: float
    not_pattern: re.Pattern[str]
    min_slices: int


@dataclass(frozen=True)
class ChemicalShiftRules:
    """How a chemical-shift (Dixon, in/opposed-phase) name is corroborated (``chemical_shift``)."""

    components: dict[str, re.Pattern[str]]
    dixon_words: re.Pattern[str]
    image_types: frozenset[str]


@dataclass(frozen=True)
class PhaseRules:
    """Everything ``configs/phase_rules.yaml`` says, checked and compiled."""

    path: Path
    fields: tuple[str, ...]
    min_slices: int
    same_acquisition_s: float
    exclude: tuple[Rule, ...]
    image_type_exclude: tuple[ImageTypeRule, ...]
    dixon_water_types: tuple[ImageTypeRule, ...]
    plane_names: tuple[Rule, ...]
    t2: SequenceRules
    t1: SequenceRules
    two_d: TwoDRules
    chemical_shift: ChemicalShiftRules
    dixon_water_pattern: re.Pattern[str]
    prefer_images: tuple[str, ...]
    phase_text: tuple[Rule, ...]
    times_in_text: tuple[Rule, ...]
    windows: dict[str, Window]
    bolus_time_max_score_loss: float
    estimate_step_s: float
    gadoxetic: re.Pattern[str]
    extracellular: re.Pattern[str]
    unknown_agent_late_phase: str
    scores: dict[str, float]
    confidence: dict[str, float]


class _Reader:
    """Typed access to the YAML mapping; every error names the file and the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"Phase rules {self.path}: `{where}` {problem}; fix the file or pass another rules file.")

    def mapping(self, value: Any, where: str, keys: set[str], optional: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where or "(top level)", f"must be a mapping, not {type(value).__name__}")
        unknown = sorted(set(value) - keys - optional)
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}" if where else unknown[0], "is not a known key")
        missing = sorted(keys - set(value))
        if missing:
            raise self.fail(f"{where}.{missing[0]}" if where else missing[0], "is missing")
        return value

    def number(self, value: Any, where: str, low: float | None = None, allow_none: bool = False) -> float | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, not {value!r}")
        if low is not None and value < low:
            raise self.fail(where, f"must be at least {low:g}, not {value!r}")
        return float(value)

    def regex(self, value: Any, where: str, case_sensitive: bool = False) -> re.Pattern[str]:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty regular expression string, not {value!r}")
        try:
            return re.compile(value, 0 if case_sensitive else re.IGNORECASE)
        except re.error as error:
            raise self.fail(where, f"is not a valid regular expression ({error})") from None

    def strings(self, value: Any, where: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"must be a list of strings, not {value!r}")
        if allowed is not None:
            for v in value:
                if v not in allowed:
                    raise self.fail(where, f"has {v!r}; allowed: {', '.join(allowed)}")
        return tuple(value)

    def rules(self, value: Any, where: str, label_key: str, allowed: tuple[str, ...] | None = None,
              priority: bool = False, corroborate: bool = False) -> tuple[Rule, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "must be a non-empty list of rules")
        out = []
        for i, item in enumerate(value):
            at = f"{where}[{i}]"
            keys = {label_key, "pattern"} | ({"priority"} if priority else set())
            item = self.mapping(item, at, keys, {"case_sensitive"} | ({"corroborate"} if corroborate else set()))
            label = item[label_key]
            if not isinstance(label, str) or (allowed is not None and label not in allowed):
                choices = f"; allowed: {', '.join(allowed)}" if allowed else ""
                raise self.fail(f"{at}.{label_key}", f"has {label!r}{choices}")
            rank = int(self.number(item["priority"], f"{at}.priority", 0)) if priority else 0
            case = bool(item.get("case_sensitive", False))
            evidence = frozenset(self.strings(item.get("corroborate", []), f"{at}.corroborate", CORROBORATIONS))
            out.append(Rule(label, self.regex(item["pattern"], f"{at}.pattern", case), rank, corroborate=evidence))
        return tuple(out)

    def image_types(self, value: Any, where: str, with_reason: bool) -> tuple[ImageTypeRule, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "must be a non-empty list of rules")
        out = []
        for i, item in enumerate(value):
            at = f"{where}[{i}]"
            item = self.mapping(item, at, {"reason"} if with_reason else set(), {"all", "any", "third"})
            sets = {k: frozenset(v.upper() for v in self.strings(item.get(k, []), f"{at}.{k}"))
                    for k in ("all", "any", "third")}
            if not any(sets.values()):
                raise self.fail(at, "needs at least one of `all`, `any`, `third`")
            out.append(ImageTypeRule(str(item.get("reason", "")), sets["all"], sets["any"], sets["third"]))
        return tuple(out)

    def sequence(self, value: Any, where: str, t2: bool) -> SequenceRules:
        extra = {"dixon_water_pattern", "prefer_images", "two_d"} if not t2 else set()
        value = self.mapping(value, where, {"keywords", "parameters", "fat_saturated"} | extra)
        if t2:
            names = {"scanning_sequence_any", "scanning_sequence_none", "min_echo_time_ms", "min_repetition_time_ms"}
        else:
            names = {"scanning_sequence_any", "acquisition_type", "max_repetition_time_ms", "max_echo_time_ms"}
        params = self.mapping(value["parameters"], f"{where}.parameters", names)
        fat = self.mapping(value["fat_saturated"], f"{where}.fat_saturated", {"scan_options_any", "pattern",
                                                                               "not_pattern"})
        p = f"{where}.parameters"
        acquisition = params.get("acquisition_type")
        if acquisition is not None and acquisition not in ("2D", "3D"):
            raise self.fail(f"{p}.acquisition_type", f"must be 2D or 3D, not {acquisition!r}")
        return SequenceRules(
            keywords=self.regex(value["keywords"], f"{where}.keywords"),
            scanning_any=frozenset(self.strings(params["scanning_sequence_any"], f"{p}.scanning_sequence_any")),
            scanning_none=frozenset(self.strings(params.get("scanning_sequence_none", []),
                                                 f"{p}.scanning_sequence_none")),
            acquisition_type=acquisition,
            min_te=self.number(params["min_echo_time_ms"], f"{p}.min_echo_time_ms", 0) if t2 else None,
            min_tr=self.number(params["min_repetition_time_ms"], f"{p}.min_repetition_time_ms", 0) if t2 else None,
            max_te=None if t2 else self.number(params["max_echo_time_ms"], f"{p}.max_echo_time_ms", 0),
            max_tr=None if t2 else self.number(params["max_repetition_time_ms"], f"{p}.max_repetition_time_ms", 0),
            fat_sat_options=frozenset(v.upper() for v in self.strings(fat["scan_options_any"],
                                                                      f"{where}.fat_saturated.scan_options_any")),
            fat_sat_pattern=self.regex(fat["pattern"], f"{where}.fat_saturated.pattern"),
            not_fat_sat_pattern=self.regex(fat["not_pattern"], f"{where}.fat_saturated.not_pattern"),
        )

    def two_d(self, value: Any, where: str) -> TwoDRules:
        value = self.mapping(value, where, {"parameters", "not_pattern", "min_slices"})
        p = f"{where}.parameters"
        params = self.mapping(value["parameters"], p, {"scanning_sequence_any", "acquisition_type",
                                                       "max_repetition_time_ms", "max_echo_time_ms"})
        if params["acquisition_type"] not in ("2D", "3D"):
            raise self.fail(f"{p}.acquisition_type", f"must be 2D or 3D, not {params['acquisition_type']!r}")
        return TwoDRules(
            scanning_any=frozenset(self.strings(params["scanning_sequence_any"], f"{p}.scanning_sequence_any")),
            acquisition_type=params["acquisition_type"],
            max_tr=float(self.number(params["max_repetition_time_ms"], f"{p}.max_repetition_time_ms", 0)),
            max_te=float(self.number(params["max_echo_time_ms"], f"{p}.max_echo_time_ms", 0)),
            not_pattern=self.regex(value["not_pattern"], f"{where}.not_pattern"),
            min_slices=int(self.number(value["min_slices"], f"{where}.min_slices", 1)),
        )

    def chemical_shift(self, value: Any, where: str) -> ChemicalShiftRules:
        value = self.mapping(value, where, {"components", "dixon_words", "image_types"})
        components = self.mapping(value["components"], f"{where}.components", set(COMPONENTS))
        return ChemicalShiftRules(
            components={k: self.regex(components[k], f"{where}.components.{k}") for k in COMPONENTS},
            dixon_words=self.regex(value["dixon_words"], f"{where}.dixon_words"),
            image_types=frozenset(v.upper() for v in self.strings(value["image_types"], f"{where}.image_types")),
        )

    def windows(self, value: Any, where: str) -> dict[str, Window]:
        value = self.mapping(value, where, set(LABELS))
        out = {}
        for label in LABELS:
            at = f"{where}.{label}"
            item = self.mapping(value[label], at, {"window", "falloff_s"})
            bounds = item["window"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise self.fail(f"{at}.window", f"must be [start, end] in seconds, not {bounds!r}")
            low = self.number(bounds[0], f"{at}.window", allow_none=True)
            high = self.number(bounds[1], f"{at}.window", allow_none=True)
            if low is None and high is None or (low is not None and high is not None and low > high):
                raise self.fail(f"{at}.window", f"must be [start, end] with start <= end, not {bounds!r}")
            falloff = item["falloff_s"]
            pair = falloff if isinstance(falloff, list) and len(falloff) == 2 else [falloff, falloff]
            before = float(self.number(pair[0], f"{at}.falloff_s", 0.001))
            after = float(self.number(pair[1], f"{at}.falloff_s", 0.001))
            out[label] = Window(low, high, before, after)
        return out


def load_rules(path: str | Path | None = None) -> PhaseRules:
    """Read and check a phase rules file.

    Parameters
    ----------
    path:
        The YAML file; None reads :data:`DEFAULT_RULES_PATH` (``configs/phase_rules.yaml``).

    Returns
    -------
    PhaseRules
        The rules with compiled regular expressions.

    Raises
    ------
    ConfigError
        The file cannot be read, is not YAML, or a key is missing, unknown or malformed.
    """
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"Cannot read the phase rules {path}: {error.strerror or error}; "
                          "give an existing rules file.") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"The phase rules {path} are not valid YAML ({str(error).splitlines()[0]}); "
                          "fix the file.") from None
    r = _Reader(path)
    top = {"version", "matching", "min_slices", "same_acquisition_s", "exclude", "chemical_shift", "image_type",
           "plane_names", "t2",
           "dynamic_t1", "phase_text", "times_in_text", "timing", "contrast_agents", "scoring", "confidence"}
    data = r.mapping(data, "", top)
    if data["version"] != 1:
        raise r.fail("version", f"must be 1 (the version this hccp53 reads), not {data['version']!r}")
    matching = r.mapping(data["matching"], "matching", {"fields"})
    image_type = r.mapping(data["image_type"], "image_type", {"exclude", "dixon_water"})
    timing = r.mapping(data["timing"], "timing", {"windows_s", "bolus_time_max_score_loss", "estimate_step_s"})
    agents = r.mapping(data["contrast_agents"], "contrast_agents",
                       {"gadoxetic", "extracellular", "unknown_agent_late_phase"})
    if agents["unknown_agent_late_phase"] not in ("hbp", "dp"):
        raise r.fail("contrast_agents.unknown_agent_late_phase",
                     f"must be hbp or dp, not {agents['unknown_agent_late_phase']!r}")
    scoring = r.mapping(data["scoring"], "scoring", set(SCORES))
    confidence = r.mapping(data["confidence"], "confidence", set(CONFIDENCES))
    for key, value in confidence.items():
        number = r.number(value, f"confidence.{key}", 0)
        if key != "close_margin" and number > 1:
            raise r.fail(f"confidence.{key}", f"must lie in [0, 1], not {value!r}")
    dynamic = data["dynamic_t1"]
    t1 = r.sequence(dynamic, "dynamic_t1", t2=False)
    times = r.rules(data["times_in_text"], "times_in_text", "unit", ("s", "min"), priority=True)
    fields = r.strings(matching["fields"], "matching.fields", FIELDS)
    if not fields:
        raise r.fail("matching.fields", "must name at least one field")
    return PhaseRules(
        path=path,
        fields=fields,
        min_slices=int(r.number(data["min_slices"], "min_slices", 1)),
        same_acquisition_s=float(r.number(data["same_acquisition_s"], "same_acquisition_s", 0)),
        exclude=r.rules(data["exclude"], "exclude", "reason", corroborate=True),
        image_type_exclude=r.image_types(image_type["exclude"], "image_type.exclude", True),
        dixon_water_types=r.image_types(image_type["dixon_water"], "image_type.dixon_water", False),
        plane_names=r.rules(data["plane_names"], "plane_names", "plane", ("AX", "COR", "SAG")),
        t2=r.sequence(data["t2"], "t2", t2=True),
        t1=t1,
        two_d=r.two_d(dynamic["two_d"], "dynamic_t1.two_d"),
        chemical_shift=r.chemical_shift(data["chemical_shift"], "chemical_shift"),
        dixon_water_pattern=r.regex(dynamic["dixon_water_pattern"], "dynamic_t1.dixon_water_pattern"),
        prefer_images=_complete(r, r.strings(dynamic["prefer_images"], "dynamic_t1.prefer_images", IMAGE_KINDS)),
        phase_text=r.rules(data["phase_text"], "phase_text", "phase", TEXT_PHASES, priority=True),
        times_in_text=tuple(Rule(t.label, t.regex, t.priority, 60.0 if t.label == "min" else 1.0) for t in times),
        windows=r.windows(timing["windows_s"], "timing.windows_s"),
        bolus_time_max_score_loss=float(r.number(timing["bolus_time_max_score_loss"],
                                                 "timing.bolus_time_max_score_loss", 0)),
        estimate_step_s=float(r.number(timing["estimate_step_s"], "timing.estimate_step_s", 0.1)),
        gadoxetic=r.regex(agents["gadoxetic"], "contrast_agents.gadoxetic"),
        extracellular=r.regex(agents["extracellular"], "contrast_agents.extracellular"),
        unknown_agent_late_phase=agents["unknown_agent_late_phase"],
        scores={k: float(r.number(v, f"scoring.{k}")) for k, v in scoring.items()},
        confidence={k: float(v) for k, v in confidence.items()},
    )


def _complete(reader: _Reader, kinds: tuple[str, ...]) -> tuple[str, ...]:
    if sorted(kinds) != sorted(IMAGE_KINDS):
        raise reader.fail("dynamic_t1.prefer_images", f"must list each of {', '.join(IMAGE_KINDS)} once")
    return kinds
