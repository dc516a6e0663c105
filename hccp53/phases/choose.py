"""Choosing one stack per phase when several compete, with the reason and a confidence.

Time points of one multi-phase series that share a label are consecutive samples, not repeats:
of them only the one closest to the middle of the label's window competes (for ``pre`` and
``late``, whose windows are open, the later one).

Competition rule (the first difference decides; larger is better):

1. ``pre`` only: a stack on the grid of the post-contrast phases (the dynamic pre, not a
   chemical-shift Dixon water series acquired earlier);
2. a 3D acquisition over a 2D T1 gradient echo (``dynamic_t1.two_d``);
3. agreement level: 3 = description and timing agree, 2 = one of them supports the label and
   the other is silent, 1 = only the order (or a time near the window), 0 = they disagree;
4. the later acquisition: late over early arterial, and the repeat over the first attempt
   (a ``pre`` closest to the injection);
5. the image kind, in ``dynamic_t1.prefer_images`` order (ORIGINAL fat-saturated, Dixon water,
   other originals, derived);
6. axial over other planes;
7. the later series number, then the later temporal position.
"""

from __future__ import annotations

import math
from typing import Any

from hccp53 import PHASE_NAMES
from hccp53.phases.classify import Classification, TextPhase
from hccp53.phases.result import PhaseChoice
from hccp53.phases.rules import TEXT_PHASES, PhaseRules
from hccp53.phases.timing import AGREES, RELATED, Candidate

#: Names of the timing labels: where early and late arterial are told apart, ``ap`` is the late one.
NAMES = {**PHASE_NAMES, "ap": "late arterial"}
#: Names of what a series description says (:data:`~hccp53.phases.rules.TEXT_PHASES`): its hbp words also
#: cover any series 10 minutes or more after the injection.
TEXT_NAMES = {**{p: PHASE_NAMES[p] for p in TEXT_PHASES}, "hbp": "hepatobiliary or 10 min or later"}
LABEL_INDEX = {"pre": 0, "eap": 1, "ap": 2, "pvp": 3, "dp": 4, "late": 5}
_WHY = ["it lies on the grid of the post-contrast phases", "it is a 3D acquisition, not a 2D gradient echo",
        "its description and timing support the phase better",
        "it was acquired later", "its image kind is preferred", "it is axial", "its series number is later",
        "its temporal position is later"]


def text_relation(text: TextPhase, label: str) -> str:
    """``agrees``, ``related``, ``conflicts``, ``post`` or ``none``."""
    if text.phase is None:
        return "none"
    if text.phase == "post":
        return "conflicts" if label == "pre" else "post"
    index = LABEL_INDEX[label]
    if AGREES[text.phase] == index:
        return "agrees"
    if index in RELATED.get(text.phase, ()) or index in {AGREES[p] for p in text.related if p in AGREES}:
        return "related"
    return "conflicts"


def timing_relation(c: Candidate, label: str, rules: PhaseRules) -> str:
    """``inside``, ``near``, ``outside``, ``order`` (position in a multi-phase series) or ``none``."""
    if c.seconds is None:
        return "order" if c.order_only and c.in_model else "none"
    fit = rules.windows[label].fit(c.seconds)
    return "inside" if fit >= 0.999 else "near" if fit > 0 else "outside"


def _level(text: str, timing: str) -> int:
    if text == "conflicts" or timing == "outside":
        return 0
    if text in ("agrees", "related") and timing == "inside":
        return 3
    if text in ("agrees", "related") or timing == "inside":
        return 2
    return 1


def _clauses(c: Candidate, label: str, rules: PhaseRules, injection_source: str) -> tuple[str, str]:
    text, timing = text_relation(c.text, label), timing_relation(c, label, rules)
    word = c.text.describe()
    if text == "related" and LABEL_INDEX[label] in {AGREES[p] for p in c.text.related if p in AGREES}:
        text_clause = (f"its description's time ({word}) lies between the {TEXT_NAMES[c.text.phase]} and "
                       f"{NAMES[label]} windows")
    elif text in ("agrees", "related"):
        text_clause = f"its description says {TEXT_NAMES[c.text.phase]} ({word})"
    elif text == "conflicts":
        text_clause = f"its description says {TEXT_NAMES[c.text.phase]} ({word}), not {NAMES[label]}"
    elif text == "post":
        text_clause = f"its description says post-contrast ({word}) but not which phase"
    else:
        text_clause = "its description names no phase" + (f" ({c.text.note})" if c.text.note else "")
    if timing == "order":
        s = c.stack
        time_clause = (f"it is time point {s.temporal_position}/{s.temporal_positions} of its series, which gives "
                       "only the order (no time of its own)")
    elif timing == "none":
        time_clause = "it has no acquisition time"
    else:
        window = rules.windows[label].text()
        where = {"inside": "inside", "near": "near", "outside": "outside"}[timing]
        source = injection_source if c.time_source == "AcquisitionTime" else f"{injection_source}; {c.time_source}"
        when = f"{c.seconds:.0f} s after" if c.seconds >= 0 else f"{-c.seconds:.0f} s before"
        time_clause = f"it was acquired {when} the injection ({source}), {where} the {NAMES[label]} window {window}"
    return text_clause, time_clause


def confidence_of(c: Candidate, label: str, rules: PhaseRules, measured: bool) -> float:
    """Confidence of labelling ``c`` with ``label`` (``confidence:`` in the rules file)."""
    conf = rules.confidence
    text, timing = text_relation(c.text, label), timing_relation(c, label, rules)
    derived = c.time_source not in ("AcquisitionTime", "")
    if text == "conflicts" or timing == "outside":
        value = conf["conflict"]
    elif text in ("agrees", "related") and timing in ("inside", "near"):
        value = conf["text_and_measured_timing" if measured and not derived else "text_and_estimated_timing"]
    elif text in ("agrees", "related"):
        value = conf["text_only"]
    elif timing in ("inside", "near"):
        value = conf["measured_timing_only" if measured and not derived else "estimated_timing_only"]
    else:
        value = conf["order_only"]
    if c.margin is not None and c.margin < conf["close_margin"]:
        value *= conf["close_runner_up"]
    if c.plane != "AX":
        value *= conf["non_axial"]
    if c.two_d:
        value *= conf["two_d_dynamic"]
    if c.few_slices:
        value *= conf["few_slices"]
    return value


def _key(c: Candidate, label: str, rules: PhaseRules, grids: set) -> tuple:
    kinds = rules.prefer_images
    level = _level(text_relation(c.text, label), timing_relation(c, label, rules))
    when = c.item_time if c.item_time is not None else c.time if c.time is not None else -math.inf
    return (c.geometry in grids if label == "pre" else True, not c.two_d, level, when,
            len(kinds) - kinds.index(c.image_kind),
            c.plane == "AX", c.stack.series_number if c.stack.series_number is not None else -1,
            c.stack.temporal_position or 0)


def choose_phase(phase: str, label: str, pool: list[Candidate], rules: PhaseRules, injection_source: str,
                 measured: bool, grids: set, note: str = "") -> tuple[PhaseChoice, dict[int, str]]:
    """Pick the best candidate of ``pool`` (all labelled ``label``) for ``phase``.

    Returns
    -------
    tuple
        The choice, and a reason per losing candidate (keyed by ``id(stack)``).
    """
    pool, losers = _one_per_series(phase, label, pool, rules)
    siblings = len(losers)
    keyed = sorted(pool, key=lambda c: _key(c, label, rules, grids), reverse=True)
    best = keyed[0]
    text_clause, time_clause = _clauses(best, label, rules, injection_source)
    reason = f"{best.stack.label}: {text_clause}; {time_clause}"
    if best.two_d:
        reason += ("; a 2D gradient-echo stack, used because the 3D dynamic T1 stacks give no arterial or no portal "
                   "venous phase")
    if best.few_slices:
        reason += f"; it has only {best.stack.slices} slices (fewer than min_slices {rules.min_slices})"
    if note:
        reason += f"; {note}"
    best_key = _key(best, label, rules, grids)
    for other in keyed[1:]:
        key = _key(other, label, rules, grids)
        first = next((i for i, (a, b) in enumerate(zip(best_key, key, strict=True)) if a != b), len(_WHY) - 1)
        why = _WHY[first]
        if label == "ap" and first == 3:
            why = "the later arterial acquisition is the late arterial phase"
        losers[id(other.stack)] = f"not chosen for {NAMES[phase]}: {best.stack.label} is preferred because {why}"
    beaten = [o.stack.label for o in keyed[1:]]
    if siblings:
        beaten.append(f"{siblings} other time point(s) of its series with the same label")
    if beaten:
        reason += "; chosen over " + ", ".join(beaten)
    confidence = confidence_of(best, label, rules, measured)
    choice = PhaseChoice(best.stack, reason, confidence, seconds_after_injection=best.seconds)
    return choice, losers


def _one_per_series(phase: str, label: str, pool: list[Candidate],
                    rules: PhaseRules) -> tuple[list[Candidate], dict[int, str]]:
    """Keep one time point per multi-phase series: the one closest to the middle of the label's window.

    Time points of one series given the same label are consecutive samples (a multi-arterial or a
    short-interval dynamic), not a repeat after a failed breath-hold, so "the later one" would drift
    to the end of the window. Without times, or for open windows (``pre``, ``late``), the later one is kept.
    """
    window = rules.windows[label]
    middle = None if window.low is None or window.high is None else (window.low + window.high) / 2
    by_series: dict[str, list[Candidate]] = {}
    for c in pool:
        if c.multiphase:
            by_series.setdefault(c.stack.series_uid, []).append(c)
    dropped: dict[int, str] = {}
    for members in by_series.values():
        if len(members) < 2:
            continue
        timed = middle is not None and all(c.seconds is not None for c in members)
        if timed:
            keep = min(members, key=lambda c: (abs(c.seconds - middle), -c.seconds))
            why = (f"its time point {keep.stack.temporal_position} at {keep.seconds:.0f} s lies closer to the middle "
                   f"of the {NAMES[label]} window ({middle:g} s)")
        else:
            keep = max(members, key=lambda c: c.stack.temporal_position or 0)
            why = f"its later time point {keep.stack.temporal_position} is preferred"
        for c in members:
            if c is not keep:
                dropped[id(c.stack)] = f"not chosen for {NAMES[phase]}: another time point of the same series: {why}"
    return [c for c in pool if id(c.stack) not in dropped], dropped


def choose_t2(pool: list[tuple[Any, Classification]], rules: PhaseRules) -> tuple[PhaseChoice, dict[int, str]]:
    """The T2 stack: axial first, then fat-saturated, then ORIGINAL, then the later series number."""
    def key(item: tuple[Any, Classification]) -> tuple:
        stack, cls = item
        original = not stack.image_type or stack.image_type[0].upper() == "ORIGINAL"
        return (cls.plane == "AX", cls.image_kind == "fat_saturated", original,
                stack.series_number if stack.series_number is not None else -1)

    ranked = sorted(pool, key=key, reverse=True)
    stack, cls = ranked[0]
    conf = rules.confidence
    evidence = ("t2_keyword_and_parameters" if cls.keyword and cls.parameters else
                "t2_parameters_only" if cls.parameters else "t2_keyword_only")
    confidence = conf[evidence] * (1.0 if cls.plane == "AX" else conf["non_axial"])
    reason = f"{stack.label}: {cls.reason}"
    if cls.plane != "AX":
        reason += f"; no axial T2 exists, so the {cls.plane} one is used"
    if len(ranked) > 1:
        reason += "; chosen over " + ", ".join(s.label for s, _ in ranked[1:]) + \
            " (axial, fat-saturated, ORIGINAL, then the later series number)"
    losers = {id(s): f"not chosen for T2: {stack.label} is preferred (axial, fat-saturated, ORIGINAL, later series)"
              for s, _ in ranked[1:]}
    return PhaseChoice(stack, reason, confidence), losers
