"""Whether a chemical-shift name (Dixon fat, in-phase) is corroborated, and which phase words say nothing.

A name such as ``…_F`` or ``IN PHASE`` alone is weak evidence: a truncated MAGNETOM Vision name
``LIVER-GAD-ENHANCEMENT/T1_F`` is a FLASH image, and ``AXIAL IN PHASE POST 45 SEC`` is the portal
venous acquisition of a protocol whose dynamics are in-phase gradient echoes. An ``exclude`` rule
with ``corroborate:`` therefore excludes a stack only when one of the listed kinds of evidence is
found (:func:`corroboration`). Only header facts are used.
"""

from __future__ import annotations

from collections.abc import Sequence

from hccp53.dicomio.stack import ImageStack
from hccp53.phases.rules import PhaseRules, Rule, normalise


def component_and_stem(description: str, rules: PhaseRules) -> tuple[str, str] | None:
    """The chemical-shift component a description names (``fat water in_phase opposed_phase``) and the rest.

    ``t1_vibe_dixon_tra_bh_pre_W`` gives ``("water", "t1 vibe dixon tra bh pre")``; None when no
    component is named.
    """
    text = normalise(description)
    for component, pattern in rules.chemical_shift.components.items():
        match = pattern.search(text)
        if match:
            stem = normalise(text[:match.start()] + " " + text[match.end():]).lower()
            return component, stem
    return None


def names_phase(texts: list[str], rules: PhaseRules, ignore: frozenset[str] = frozenset()) -> str:
    """The first phase word or time a description holds (``phase_text``, ``times_in_text``), or ``""``."""
    for rule in (*rules.phase_text, *rules.times_in_text):
        for text in texts:
            for match in rule.regex.finditer(text):
                if match.group(0).strip().lower() not in ignore:
                    return match.group(0).strip()
    return ""


def _same_acquisition(stack: ImageStack, others: Sequence[ImageStack], rules: PhaseRules) -> ImageStack | None:
    """Another stack of the same name with another chemical-shift component, acquired with this one."""
    mine = component_and_stem(stack.description, rules)
    if mine is None:
        return None
    for other in others:
        if other is stack:
            continue
        theirs = component_and_stem(other.description, rules)
        if theirs is None or theirs[1] != mine[1] or theirs[0] == mine[0]:
            continue
        if stack.acquisition_time is not None and other.acquisition_time is not None and \
                abs(stack.acquisition_time - other.acquisition_time) > rules.same_acquisition_s:
            continue
        return other
    return None


def corroboration(stack: ImageStack, texts: list[str], rule: Rule, others: Sequence[ImageStack], rules: PhaseRules,
                  ignore: frozenset[str] = frozenset()) -> tuple[str | None, str]:
    """What corroborates a weak exclusion by name, or None, and (for None) what was looked for.

    Parameters
    ----------
    stack, texts:
        The stack and its normalised header texts.
    rule:
        The ``exclude`` rule whose pattern matched; ``rule.corroborate`` lists the evidence it needs.
    others:
        Every stack of the study (siblings of the same acquisition are looked for among them).
    ignore:
        Phase words that say nothing in this study (:func:`shared_phase_words`).

    Returns
    -------
    tuple
        The evidence in words (None when nothing corroborates), and the evidence looked for.
    """
    wanted = rule.corroborate
    if "image_type" in wanted:
        found = sorted({v.upper() for v in stack.image_type} & rules.chemical_shift.image_types)
        if found:
            return f"ImageType {'/'.join(found)}", ""
    if "dixon_word" in wanted:
        for text in texts:
            match = rules.chemical_shift.dixon_words.search(text)
            if match:
                return f"the Dixon word `{match.group(0)}`", ""
    if "same_acquisition" in wanted:
        sibling = _same_acquisition(stack, others, rules)
        if sibling is not None:
            return f"{sibling.label} is another chemical-shift image of the same acquisition", ""
    if "no_phase_named" in wanted and not names_phase(texts, rules, ignore):
        return "its description names no phase or time", ""
    looked = {"image_type": "no Dixon ImageType", "dixon_word": "no Dixon word",
              "same_acquisition": "no other chemical-shift image of the same acquisition",
              "no_phase_named": f"its description names `{names_phase(texts, rules, ignore)}`"}
    return None, ", ".join(looked[k] for k in ("image_type", "dixon_word", "same_acquisition", "no_phase_named")
                           if k in wanted)


def shared_phase_words(stacks: Sequence[ImageStack], rules: PhaseRules) -> frozenset[str]:
    """Phase words and times that every series of the study has in its description (lower case).

    Such words belong to a protocol name written into every description (``LIVER-GAD-ENHANCEMENT/T2_TSE``,
    ``LIVER-GAD-ENHANCEMENT/T1_F``), so they tell no series' phase. Only studies of two or more series
    whose descriptions are all written are looked at.
    """
    descriptions = {s.series_uid: s.description for s in stacks}
    if len(descriptions) < 2 or not all(descriptions.values()):
        return frozenset()
    shared: set[str] | None = None
    for description in descriptions.values():
        text = normalise(description)
        words = {m.group(0).strip().lower() for rule in (*rules.phase_text, *rules.times_in_text)
                 for m in rule.regex.finditer(text)}
        shared = words if shared is None else shared & words
    return frozenset(shared or ())
