"""Identify the phases of a liver MRI study: ``t2 pre ap pvp dp hbp``.

:func:`identify_phases` works on the header facts of the loader's stacks
(:class:`~hccp53.dicomio.stack.Study`), with the rules of ``configs/phase_rules.yaml``:

1. every stack is classified (:mod:`hccp53.phases.classify`): excluded with a reason
   (localizer, calibration, DWI/ADC, subtraction, Dixon fat / in / opposed phase, MRCP, MRE,
   quantitative maps, reformats, too few slices, not MR, non-axial when an axial stack of the
   same kind exists), T2 candidate, dynamic T1 candidate, 2D T1 gradient echo, or other;
   phase words that every series of the study has (a protocol name such as
   ``LIVER-GAD-ENHANCEMENT/``) name no phase;
2. the dynamic T1 candidates get acquisition times and are labelled pre / early arterial /
   late arterial / portal venous / delayed / late by the timing model
   (:mod:`hccp53.phases.timing`), which combines descriptions, timing windows after the
   injection and acquisition order; the injection time is the caller's ``reference_time``,
   else (0018,1042) *Contrast/Bolus Start Time* when the acquisition times agree with it,
   else the best-fitting estimate; each reason says which; when the 3D candidates give no
   arterial or no portal venous phase and the study has 2D T1 gradient-echo stacks (older
   protocols), steps 2 and 3 are run again with them, and that run is kept if it finds more of
   the two (its choices carry a lower confidence and say why);
3. one stack per phase is chosen (:mod:`hccp53.phases.choose`); a late acquisition is the
   hepatobiliary phase only with gadoxetic acid (an extracellular agent makes it a late
   delayed phase; an unknown agent follows ``unknown_agent_late_phase``).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hccp53 import PHASE_NAMES, PHASES, parse_phases
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.dicomio.values import parse_time
from hccp53.errors import ConfigError
from hccp53.phases.chemical_shift import shared_phase_words
from hccp53.phases.choose import NAMES, choose_phase, choose_t2
from hccp53.phases.classify import (
    EXCLUDED,
    T1,
    T2,
    Classification,
    TextPhase,
    agent_class,
    classify_stack,
    header_texts,
    text_phase,
)
from hccp53.phases.missing import join_labels, missing_reasons
from hccp53.phases.result import InjectionTime, PhaseError, PhaseResult, format_time, stack_record
from hccp53.phases.rules import PhaseRules, load_rules
from hccp53.phases.timing import AGREES, Candidate, assign_times, group_items, label_items, score_at

logger = logging.getLogger(__name__)

PLANE_NAMES = {"COR": "coronal", "SAG": "sagittal", "OBL": "oblique", "AX": "axial"}
MESSAGE_NAMES = {p: f"{PHASE_NAMES[p]} phase" for p in PHASES}


def identify_phases(study: Study, require: Sequence[str] | str,
                    rules: PhaseRules | str | Path | None = None,
                    reference_time: float | str | None = None) -> PhaseResult:
    """Choose the stack of each phase of a study, with reasons and confidences.

    Parameters
    ----------
    study:
        The loaded study (:func:`hccp53.dicomio.loader.load_study`).
    require:
        Phase keys that must be found (a sequence, or text read by :func:`hccp53.parse_phases`; empty for
        none); a missing one raises :class:`PhaseError`. The caller takes them from the model record or the
        config.
    rules:
        A :class:`~hccp53.phases.rules.PhaseRules`, a rules file path, or None for
        ``configs/phase_rules.yaml``.
    reference_time:
        The injection time when it is known from elsewhere (e.g. the injector log), as seconds
        since midnight or a DICOM TM string (``HHMMSS``); it replaces ContrastBolusStartTime and
        the estimate.

    Returns
    -------
    PhaseResult
        The chosen stack per phase found, every stack considered, the injection time used.

    Raises
    ------
    PhaseError
        A required phase is missing (one sentence naming each and why); ``.result`` holds the rest.
    ConfigError
        The rules file is invalid, or ``require`` / ``reference_time`` is not understood.
    """
    rules = rules if isinstance(rules, PhaseRules) else load_rules(rules)
    required = set(parse_phases(require, "the required phases", allow_empty=True))
    reference = _parse_reference(reference_time)
    shared = shared_phase_words(study.stacks, rules)
    if shared:
        logger.info("phase words in every series' description, read as a protocol name: %s", ", ".join(sorted(shared)))
    classes = {id(s): classify_stack(s, rules, study.stacks, shared) for s in study.stacks}
    _exclude_non_axial(study.stacks, classes)

    agent_texts = [s.contrast_agent for s in study.stacks if s.contrast_agent]
    agent, agent_words = agent_class(agent_texts + [t for s in study.stacks for t in header_texts(s, rules)], rules)
    three_d = [s for s in study.stacks if classes[id(s)].kind == T1]
    dynamic = _Dynamic(three_d, classes, shared, agent, agent_words, rules, reference)
    two_d = [s for s in study.stacks if classes[id(s)].two_d]
    if two_d and dynamic.arterial_and_portal() < 2:
        with_2d = _Dynamic(three_d + _axial_first(two_d, classes), classes, shared, agent, agent_words, rules,
                           reference)
        if with_2d.arterial_and_portal() > dynamic.arterial_and_portal():
            logger.info("the 3D dynamic T1 stacks give no arterial or no portal venous phase: 2D T1 gradient-echo "
                        "stacks are used")
            dynamic = with_2d
            used = {id(s) for s in with_2d.stacks}
            for s in two_d:
                cls = classes[id(s)]
                cls.kind = T1 if id(s) in used else EXCLUDED
                if cls.kind == EXCLUDED:
                    cls.category = f"{PLANE_NAMES[cls.plane]} 2D T1 gradient echo"
                    cls.reason = f"{cls.category} while an axial one exists ({cls.reason})"
    candidates, left_out, injection = dynamic.candidates, dynamic.left_out, dynamic.injection

    statuses: dict[int, tuple[str, str | None, str]] = dict(dynamic.statuses)
    phases: dict[str, Any] = dict(dynamic.phases)
    t2_pool = [(s, classes[id(s)]) for s in study.stacks if classes[id(s)].kind == T2]
    if t2_pool:
        choice, losers = choose_t2(t2_pool, rules)
        phases["t2"] = choice
        choice.alternatives = [{"stack": s, "reason": losers[id(s)]} for s, _ in t2_pool if id(s) in losers]
        statuses.update({k: ("alternative", "t2", v) for k, v in losers.items()})

    for key in [p for p in PHASES if p in phases]:
        logger.info("%s: %s (confidence %.2f)", key, phases[key].reason, phases[key].confidence)
    ordered = {key: phases[key] for key in PHASES if key in phases}
    considered = _considered(study, classes, candidates, statuses, ordered)
    result = PhaseResult(study.study_uid, ordered, considered, injection,
                         {"class": agent, "text": agent_words}, rules_path=str(rules.path))
    result.missing = missing_reasons(result, candidates, left_out, t2_pool, classes, study.stacks, agent, agent_words,
                                     rules)
    absent = [p for p in PHASES if p in required and p not in ordered]
    if absent:
        named = [f"{s.label} (its description names the {MESSAGE_NAMES[phase]}; {classes[id(s)].reason})"
                 for phase in absent for s in study.stacks
                 if classes[id(s)].kind == EXCLUDED and _text_for(s, rules, shared).phase == phase]  # fmt: skip
        raise PhaseError(_message(absent, result.missing, [*study.rejected_series, *((n, "") for n in named)]),
                         absent, result)  # fmt: skip
    return result


def _message(absent: list[str], missing: dict[str, str], rejected: Sequence[tuple[str, str]] = ()) -> str:
    """One sentence: phases missing for the same reason share one clause; MR series set aside (by the loader,
    or excluded although their description names a missing phase) follow with their reasons."""
    groups: dict[str, list[str]] = {}
    for phase in absent:
        groups.setdefault(missing[phase], []).append(phase)
    clauses = [" and no ".join(MESSAGE_NAMES[p] for p in phases) + f": {why}" for why, phases in groups.items()]
    message = "No " + "; no ".join(clauses)
    set_aside = [f"{label} ({reason})" if reason else label for label, reason in rejected
                 if not reason.startswith("modality ")]  # fmt: skip
    if set_aside:
        more = f" and {len(set_aside) - 2} more" if len(set_aside) > 2 else ""
        message += "; set aside: " + ", ".join(set_aside[:2]) + more
    return message + "."


def _parse_reference(value: float | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = parse_time(value)
    if seconds is None or not 0 <= seconds < 86400:
        raise ConfigError(f"The injection reference time {value!r} is not a time of day; give seconds since "
                          "midnight or HHMMSS.")
    return seconds


def _exclude_non_axial(stacks: list[ImageStack], classes: dict) -> None:
    for kind, name in ((T2, PHASE_NAMES[T2]), (T1, "dynamic T1")):
        members = [s for s in stacks if classes[id(s)].kind == kind]
        if any(classes[id(s)].plane == "AX" for s in members):
            for s in members:
                cls = classes[id(s)]
                if cls.plane != "AX":
                    cls.kind, cls.category = EXCLUDED, f"{PLANE_NAMES[cls.plane]} {name}"
                    cls.reason = f"{PLANE_NAMES[cls.plane]} {name} while an axial {name} exists ({cls.reason})"


class _Dynamic:
    """Times, labels, injection time and choices of one set of dynamic T1 stacks."""

    def __init__(self, stacks: list[ImageStack], classes: dict[int, Classification], shared: frozenset[str],
                 agent: str, agent_words: str, rules: PhaseRules, reference: float | None) -> None:
        self.stacks = stacks
        self.candidates = [Candidate(s, _text_for(s, rules, shared), classes[id(s)].image_kind, classes[id(s)].plane,
                                     two_d=classes[id(s)].two_d, few_slices=classes[id(s)].few_slices)
                           for s in stacks]
        assign_times(self.candidates)
        items, self.left_out = group_items(self.candidates, rules)
        self.injection = _injection(items, self.candidates, rules, reference)
        for c in self.left_out:   # no time: the description alone, if it names a phase
            c.label = ("late" if c.text.phase == "hbp" else c.text.phase) if c.text.phase in AGREES else None
        self.phases: dict[str, Any] = {}
        self.statuses: dict[int, tuple[str, str | None, str]] = {}
        _choose_dynamic(self.candidates, agent, agent_words, self.injection, rules, self.phases, self.statuses)

    def arterial_and_portal(self) -> int:
        """How many of the arterial and portal venous phases were found."""
        return sum(p in self.phases for p in ("ap", "pvp"))


def _axial_first(stacks: list[ImageStack], classes: dict[int, Classification]) -> list[ImageStack]:
    """The axial stacks, or all of them when none is axial."""
    axial = [s for s in stacks if classes[id(s)].plane == "AX"]
    return axial or stacks


def _text_for(stack: ImageStack, rules: PhaseRules, shared: frozenset[str] = frozenset()) -> TextPhase:
    """The description's phase; a multi-phase series' description says only pre-then-post or post."""
    texts = header_texts(stack, rules)
    if stack.temporal_position is None or stack.temporal_positions <= 1:
        return text_phase(texts, rules, shared)
    words = {}
    for rule in rules.phase_text:
        if rule.label in ("pre", "post"):
            for text in texts:
                match = next((m for m in rule.regex.finditer(text) if m.group(0).strip().lower() not in shared), None)
                if match and rule.label not in words:
                    words[rule.label] = match.group(0)
    if "pre" in words and "post" in words:
        if stack.temporal_position == 1:
            return TextPhase("pre", words["pre"], note="first time point of a pre-and-post multi-phase series")
        return TextPhase("post", words["post"], note="later time point of a pre-and-post multi-phase series")
    if "post" in words:
        return TextPhase("post", words["post"])
    return TextPhase(None, note="a multi-phase series' description is not read per time point")


def _injection(items: list, candidates: list[Candidate], rules: PhaseRules, reference: float | None) -> InjectionTime:
    if not items:
        return InjectionTime(None, "none", "no dynamic T1 stack can be placed in time")
    if reference is not None:
        label_items(items, rules, reference)
        return InjectionTime(reference, "reference", f"given by the caller: {format_time(reference)}")
    estimate = label_items(items, rules, None)
    if estimate.injection is None:
        return InjectionTime(None, "none", "no acquisition times: labels come from the order of time points "
                                           "and the descriptions")
    if all(c.label == "pre" or c.time is None for group in items for c in group):
        for group in items:
            for c in group:
                c.seconds = None
        return InjectionTime(None, "none", "no post-contrast stack has an acquisition time to estimate it from")
    note = "no ContrastBolusStartTime"
    bolus = [c.stack.contrast_start_time for c in candidates if c.stack.contrast_start_time is not None]
    if bolus:
        value = Counter(bolus).most_common(1)[0][0]
        score = score_at(items, rules, value)
        if score >= estimate.score - rules.bolus_time_max_score_loss:
            label_items(items, rules, value)
            return InjectionTime(value, "ContrastBolusStartTime",
                                 f"(0018,1042) Contrast/Bolus Start Time {format_time(value)}, consistent with the "
                                 "acquisition times")
        note = (f"ContrastBolusStartTime {format_time(value)} was not used: the acquisition times fit it "
                f"{estimate.score - score:.1f} points worse than the estimate")
        logger.warning(note)
    detail = (f"estimated at {format_time(estimate.injection)}: the injection time under which the acquisition times, "
              "their order and the descriptions fit the phase windows best")
    low, high = estimate.tied_range or (estimate.injection, estimate.injection)
    if high - low > rules.estimate_step_s:
        detail += f" (equally good from {format_time(low)} to {format_time(high)}; the middle is used)"
    return InjectionTime(estimate.injection, "estimated", f"{detail}; {note}")


def _choose_dynamic(candidates: list[Candidate], agent: str, agent_words: str, injection: InjectionTime,
                    rules: PhaseRules, phases: dict, statuses: dict) -> None:
    source = {"ContrastBolusStartTime": "ContrastBolusStartTime", "reference": "reference injection time",
              "estimated": "estimated injection time"}.get(injection.source, "no injection time")
    measured = injection.source in ("ContrastBolusStartTime", "reference")
    pools: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.label:
            pools[c.label].append(c)
    grids = {c.geometry for c in candidates if c.label in ("ap", "pvp", "dp", "late")}
    late_is = "hbp" if agent == "gadoxetic" else "dp" if agent == "extracellular" else rules.unknown_agent_late_phase
    agent_text = f"`{agent_words}`" if agent_words else "not named"
    late_note = {
        "gadoxetic": f"gadoxetic agent ({agent_text})",
        "extracellular": f"a late delayed phase, not hepatobiliary: the agent {agent_text} is extracellular",
        "unknown": "the contrast agent is not named, so an acquisition 10 min or more after the injection is taken "
                   + ("as hepatobiliary (unknown_agent_late_phase: hbp)" if late_is == "hbp" else
                      "as a late delayed phase (unknown_agent_late_phase: dp)"),
    }[agent]
    by_id = {id(c.stack): c.stack for c in candidates}
    for phase in ("pre", "ap", "pvp", "dp", "hbp"):
        label, note = phase, ""
        if phase == "hbp":
            label, note = "late", late_note
            if late_is != "hbp":
                for c in pools["late"]:
                    if id(c.stack) not in statuses:
                        statuses[id(c.stack)] = ("not used", None, f"labelled late; {late_note}")
                continue
        if phase == "dp" and not pools["dp"] and late_is == "dp" and pools["late"]:
            label, note = "late", f"{late_note}; no 2–5 min delayed acquisition exists, so the late one is used"
        if not pools[label]:
            continue
        choice, losers = choose_phase(phase, label, pools[label], rules, source, measured, grids, note)
        if phase == "hbp" and agent == "unknown":
            choice.confidence *= rules.confidence["unknown_agent_hbp"]
        if phase == "ap" and pools["eap"]:
            for c in pools["eap"]:
                losers[id(c.stack)] = ("not chosen for late arterial: an early arterial acquisition, before "
                                       f"{choice.stack.label}")
            choice.reason += (f"; {join_labels([c.stack for c in pools['eap']])} before it is an early arterial "
                              "acquisition, not the late arterial phase")
        phases[phase] = choice
        statuses[id(choice.stack)] = ("chosen", phase, choice.reason)
        choice.alternatives = [{"stack": by_id[k], "reason": v} for k, v in losers.items()]
        statuses.update({k: ("alternative", phase, v) for k, v in losers.items()})


def _considered(study: Study, classes: dict, candidates: list[Candidate], statuses: dict,
                phases: dict) -> list[dict[str, Any]]:
    by_stack = {id(c.stack): c for c in candidates}
    chosen = {id(choice.stack): key for key, choice in phases.items()}
    out = []
    for stack in study.stacks:
        cls = classes[id(stack)]
        record = {**stack_record(stack), "plane": cls.plane, "slices": stack.slices, "kind": cls.kind,
                  "classification": cls.reason}
        c = by_stack.get(id(stack))
        if c is not None:
            record.update({"label": c.label, "description_phase": c.text.phase,
                           "seconds_after_injection": None if c.seconds is None else round(c.seconds, 1),
                           "time_source": c.time_source or None})
        status, phase, reason = statuses.get(id(stack), (None, None, ""))
        if id(stack) in chosen:
            status, phase, reason = "chosen", chosen[id(stack)], phases[chosen[id(stack)]].reason
        if status is None:
            status = "excluded" if cls.kind == EXCLUDED else "not used"
            reason = cls.reason if cls.kind != T1 else _unused_t1(c)
        record.update({"status": status, "phase": phase, "reason": reason})
        out.append(record)
    for label, reason in study.rejected_series:
        out.append({"series": label, "kind": "not loaded", "status": "excluded", "phase": None, "reason": reason})
    return out


def _unused_t1(c: Candidate | None) -> str:
    if c is None:
        return ""
    if c.label is None:
        if c.time is None and not c.in_model:
            return "no acquisition time to place it among the other stacks, and its description names no phase"
        return "no phase label"
    return f"labelled {NAMES.get(c.label, c.label)}, not needed"
