"""One clause per missing phase saying why it is missing (for the output and :class:`PhaseError`)."""

from __future__ import annotations

from collections import Counter

from hccp53 import PHASES
from hccp53.dicomio.stack import ImageStack
from hccp53.phases.choose import NAMES
from hccp53.phases.classify import EXCLUDED
from hccp53.phases.result import PhaseResult
from hccp53.phases.rules import PhaseRules
from hccp53.phases.timing import Candidate


def join_labels(stacks: list[ImageStack]) -> str:
    """``series 5 (`Ax LAVA post`) and 6 (`Ax LAVA post`)``."""
    labels = [s.label for s in stacks]
    labels = labels[:1] + [text.removeprefix("series ") for text in labels[1:]]
    if len(labels) <= 2:
        return " and ".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _excluded_summary(stacks: list[ImageStack], classes: dict) -> str:
    counts = Counter(classes[id(s)].category for s in stacks if classes[id(s)].kind == EXCLUDED)
    if not counts:
        return ""
    return ", excluded: " + ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))


def missing_reasons(result: PhaseResult, candidates: list[Candidate], left_out: list[Candidate], t2_pool: list,
                    classes: dict, stacks: list[ImageStack], agent: str, agent_words: str,
                    rules: PhaseRules) -> dict[str, str]:
    """Phase key to the reason it is missing, for every phase absent from ``result.phases``."""
    out: dict[str, str] = {}
    t2, t1 = rules.t2, rules.t1
    late_as = "hbp" if agent == "gadoxetic" else "dp" if agent == "extracellular" else rules.unknown_agent_late_phase
    late = [c.stack for c in candidates if c.label == "late"]
    undated = [c.stack for c in left_out if c.label is None]
    injection = result.injection_time
    for phase in PHASES:
        if phase in result.phases:
            continue
        if phase == "t2":
            out[phase] = (f"no T2-weighted series (spin echo with TE ≥ {t2.min_te:g} ms and TR ≥ {t2.min_tr:g} ms, "
                          f"or a T2 name) among the {len(stacks)} stacks{_excluded_summary(stacks, classes)}")
            continue
        if not candidates:
            out[phase] = (f"the study has no T1 gradient-echo dynamic series (3D, or 2D where no 3D one exists; TR < "
                          f"{t1.max_tr:g} ms, TE < {t1.max_te:g} ms, or a dynamic T1 name) among its {len(stacks)} "
                          f"stacks{_excluded_summary(stacks, classes)}")
            continue
        if phase == "hbp" and late_as != "hbp":
            if agent == "extracellular":
                text = f"the contrast agent `{agent_words}` is extracellular, which gives no hepatobiliary phase"
            else:
                text = "the contrast agent is not named and unknown_agent_late_phase is dp"
            out[phase] = text + (f" ({join_labels(late)} is a late delayed phase)" if late else "")
            continue
        if undated and not any(c.label not in (None, "pre") for c in candidates if c.in_model):
            out[phase] = f"{join_labels(undated)} have no acquisition times to order them"
            continue
        label = "late" if phase == "hbp" else phase
        window = rules.windows[label].text()
        if injection.seconds is None:
            text = f"no T1 dynamic series is labelled {NAMES[phase]} by its description or its place in the time order"
        elif phase == "pre":
            text = (f"no T1 dynamic series was acquired before the injection ({injection.source} "
                    f"{injection.to_json()['time']})")
        else:
            text = (f"no T1 dynamic series falls in the {NAMES[label]} window ({window} after the injection, "
                    f"{injection.source} {injection.to_json()['time']})")
        timed = [c for c in candidates if c.seconds is not None and c.label != "pre"]
        if timed and injection.seconds is not None:
            listed = ", ".join(f"{c.stack.label} at {c.seconds:.0f} s ({NAMES[c.label]})" for c in timed[:4])
            text += f"; post-contrast stacks: {listed}" + (", ..." if len(timed) > 4 else "")
        if undated:
            text += f"; {join_labels(undated)} have no acquisition times to order them"
        out[phase] = text
    return out

