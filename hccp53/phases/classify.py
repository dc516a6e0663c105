"""What each stack is: excluded (and why), a T2 candidate, a dynamic T1 candidate, or other.

A 2D T1 gradient-echo stack is ``other`` with ``two_d`` set: the dynamic phases of older protocols,
used by :func:`~hccp53.phases.identify.identify_phases` only when the 3D stacks give no arterial or
no portal venous phase. Also reads the phase a description names (:func:`text_phase`) and the contrast agent class.
Only header facts of :class:`~hccp53.dicomio.stack.ImageStack` are used, never pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hccp53.dicomio.stack import ImageStack
from hccp53.phases.chemical_shift import corroboration
from hccp53.phases.rules import LABELS, PhaseRules, Rule, normalise

EXCLUDED, T2, T1, OTHER = "excluded", "t2", "t1_dynamic", "other"


@dataclass
class Classification:
    """The kind of a stack and the facts later steps need."""

    kind: str
    reason: str
    plane: str
    image_kind: str = "original"   # fat_saturated | dixon_water | original | derived
    keyword: bool = False          # the kind's keywords matched
    parameters: bool | None = None  # the kind's sequence parameters matched (None: not written)
    category: str = ""             # excluded: the short reason (``localizer``, ``diffusion (DWI/ADC)``, ...)
    two_d: bool = False            # a 2D T1 gradient echo (dynamic_t1.two_d): a dynamic candidate of last resort
    few_slices: bool = False       # fewer slices than min_slices (kept only as a 2D T1 gradient echo)


@dataclass(frozen=True)
class TextPhase:
    """The phase a description names, and the words that say so."""

    phase: str | None              # pre eap ap pvp dp hbp post, or None
    fragment: str = ""
    priority: int = 0
    note: str = ""                 # e.g. conflicting words that cancelled
    related: tuple[str, ...] = ()  # a time near the border of two windows: the other phase(s) it fits

    def describe(self) -> str:
        return f"`{self.fragment}`" if self.fragment else ""


def header_texts(stack: ImageStack, rules: PhaseRules) -> list[str]:
    """The normalised header texts the patterns read (``matching.fields``)."""
    values = {"description": stack.description, "protocol_name": stack.protocol_name}
    return [normalise(values[f]) for f in rules.fields if values[f]]


def _first_match(texts: list[str], rules: tuple[Rule, ...]) -> tuple[str, str] | None:
    for rule in rules:
        for text in texts:
            match = rule.search(text)
            if match:
                return rule.label, match.group(0)
    return None


def _plane(stack: ImageStack, texts: list[str], rules: PhaseRules) -> str:
    plane = stack.plane
    if plane == "OBL":
        named = _first_match(texts, rules.plane_names)
        if named:
            return named[0]
    return plane


def _sequence_match(stack: ImageStack, rules: PhaseRules, t2: bool) -> tuple[bool | None, str]:
    """Whether the sequence parameters fit T2 (or dynamic T1); None when none is written."""
    seq = rules.t2 if t2 else rules.t1
    scanning = {s.upper() for s in stack.scanning_sequence}
    checks: list[tuple[bool, str]] = []
    if scanning:
        checks.append((bool(scanning & seq.scanning_any) and not (scanning & seq.scanning_none),
                       f"ScanningSequence {'/'.join(stack.scanning_sequence)}"))
    te, tr = stack.echo_time, stack.repetition_time
    if t2:
        if te is not None and seq.min_te is not None:
            checks.append((te >= seq.min_te, f"TE {te:g} ms"))
        if tr is not None and seq.min_tr is not None:
            checks.append((tr >= seq.min_tr, f"TR {tr:g} ms"))
    else:
        if stack.mr_acquisition_type and seq.acquisition_type:
            checks.append((stack.mr_acquisition_type.upper() == seq.acquisition_type, stack.mr_acquisition_type))
        if te is not None and seq.max_te is not None:
            checks.append((te < seq.max_te, f"TE {te:g} ms"))
        if tr is not None and seq.max_tr is not None:
            checks.append((tr < seq.max_tr, f"TR {tr:g} ms"))
    if te is None and tr is None:
        return None, "no TR/TE"
    failed = [text for ok, text in checks if not ok]
    if failed:
        return False, ", ".join(failed)
    return True, ", ".join(text for _, text in checks)


def _fat_saturated(stack: ImageStack, texts: list[str], rules: PhaseRules, t2: bool) -> bool:
    seq = rules.t2 if t2 else rules.t1
    if {o.upper() for o in stack.scan_options} & seq.fat_sat_options:
        return True
    if any(seq.not_fat_sat_pattern.search(t) for t in texts):
        return False
    return any(seq.fat_sat_pattern.search(t) for t in texts)


def _two_d_match(stack: ImageStack, texts: list[str], rules: PhaseRules) -> tuple[bool, str]:
    """Whether the stack is a 2D T1 gradient echo (``dynamic_t1.two_d``), with the parameters that say so."""
    two_d = rules.two_d
    scanning = {s.upper() for s in stack.scanning_sequence}
    te, tr = stack.echo_time, stack.repetition_time
    if not scanning & two_d.scanning_any or "EP" in scanning or te is None or te >= two_d.max_te:
        return False, ""
    if stack.mr_acquisition_type and stack.mr_acquisition_type.upper() != two_d.acquisition_type:
        return False, ""
    if tr is not None and tr >= two_d.max_tr:
        return False, ""
    if any(two_d.not_pattern.search(t) for t in [*texts, stack.sequence_name]):
        return False, ""
    parts = [f"ScanningSequence {'/'.join(stack.scanning_sequence)}", stack.mr_acquisition_type or "",
             f"TR {tr:g} ms" if tr is not None else "", f"TE {te:g} ms"]
    return True, ", ".join(p for p in parts if p)


def _image_kind(stack: ImageStack, texts: list[str], rules: PhaseRules) -> str:
    if any(r.matches(stack.image_type) for r in rules.dixon_water_types):
        return "dixon_water"
    if any(rules.dixon_water_pattern.search(t) for t in texts):
        return "dixon_water"
    if stack.image_type and stack.image_type[0].upper() == "DERIVED":
        return "derived"
    return "fat_saturated" if _fat_saturated(stack, texts, rules, t2=False) else "original"


def classify_stack(stack: ImageStack, rules: PhaseRules, others: Sequence[ImageStack] = (),
                   ignore: frozenset[str] = frozenset()) -> Classification:
    """Decide what one stack is, with a reason; non-axial stacks are handled by the caller.

    Exclusions come first (modality, slice count, ImageType, names, b-value); then the
    sequence parameters decide between T2, dynamic T1 and 2D T1 gradient echo, and the keywords
    decide when the parameters are not written. A stack with fewer than ``min_slices`` slices
    (but at least ``dynamic_t1.two_d.min_slices``) is kept only as a 2D T1 gradient echo.

    Parameters
    ----------
    stack:
        The stack to classify.
    rules:
        The phase rules.
    others:
        Every stack of the study: a weak exclusion by name (``corroborate:``) looks there for
        another chemical-shift image of the same acquisition.
    ignore:
        Phase words that every series of the study has (a protocol name), which name no phase.
    """
    texts = header_texts(stack, rules)
    plane = _plane(stack, texts, rules)
    if stack.modality and stack.modality.upper() != "MR":
        return Classification(EXCLUDED, f"not MR (modality {stack.modality})", plane, category="not MR")
    too_few = Classification(EXCLUDED, f"too few slices ({stack.slices} < {rules.min_slices})", plane,
                             category="too few slices")
    if stack.slices < min(rules.min_slices, rules.two_d.min_slices):
        return too_few
    found = _classify(stack, texts, plane, rules, others, ignore)
    if stack.slices >= rules.min_slices:
        return found
    if not found.two_d:
        return too_few
    found.few_slices = True
    found.reason += f"; only {stack.slices} slices (fewer than min_slices {rules.min_slices})"
    return found


def _classify(stack: ImageStack, texts: list[str], plane: str, rules: PhaseRules, others: Sequence[ImageStack],
              ignore: frozenset[str]) -> Classification:
    for rule in rules.image_type_exclude:
        if rule.matches(stack.image_type):
            values = "\\".join(stack.image_type)
            return Classification(EXCLUDED, f"{rule.label} (ImageType {values})", plane, category=rule.label)
    notes = []
    for rule in rules.exclude:
        match = next((m for t in texts if (m := rule.search(t))), None)
        if match is None:
            continue
        words = match.group(0)
        if not rule.corroborate:
            return Classification(EXCLUDED, f"{rule.label} (name: `{words}`)", plane, category=rule.label)
        evidence, looked_for = corroboration(stack, texts, rule, others, rules, ignore)
        if evidence is not None:
            return Classification(EXCLUDED, f"{rule.label} (name: `{words}`; {evidence})", plane,
                                  category=rule.label)
        article = "an" if rule.label[:1].lower() in "aeiou" else "a"
        notes.append(f"`{words}` in its name is not taken as {article} {rule.label} ({looked_for})")
    found = _by_sequence(stack, texts, plane, rules)
    if notes and found.kind != EXCLUDED:
        found.reason += "; " + "; ".join(notes)
    return found


def _by_sequence(stack: ImageStack, texts: list[str], plane: str, rules: PhaseRules) -> Classification:
    if stack.diffusion_b_value is not None:
        return Classification(EXCLUDED, f"diffusion (DWI/ADC) (b-value {stack.diffusion_b_value:g})", plane,
                              category="diffusion (DWI/ADC)")

    t2_words = any(rules.t2.keywords.search(t) for t in texts)
    t1_words = any(rules.t1.keywords.search(t) for t in texts)
    t2_params, t2_detail = _sequence_match(stack, rules, t2=True)
    t1_params, t1_detail = _sequence_match(stack, rules, t2=False)
    if t2_params:
        fat = _fat_saturated(stack, texts, rules, t2=True)
        words = "a T2 name and " if t2_words else ""
        return Classification(T2, f"T2-weighted: {words}spin echo parameters ({t2_detail})", plane,
                              "fat_saturated" if fat else "original", t2_words, True)
    if t1_params:
        words = "a T1 name and " if t1_words else ""
        return Classification(T1, f"dynamic T1: {words}3D gradient echo parameters ({t1_detail})", plane,
                              _image_kind(stack, texts, rules), t1_words, True)
    if t2_params is None and t2_words and not t1_words:
        fat = _fat_saturated(stack, texts, rules, t2=True)
        return Classification(T2, "T2-weighted by name (no TR/TE written)", plane,
                              "fat_saturated" if fat else "original", True, None)
    if t1_params is None and t1_words:
        return Classification(T1, "dynamic T1 by name (no TR/TE written)", plane,
                              _image_kind(stack, texts, rules), True, None)
    two_d, two_d_detail = _two_d_match(stack, texts, rules)
    if two_d:
        return Classification(OTHER, f"2D T1 gradient echo ({two_d_detail}): a dynamic candidate only when the 3D "
                              "stacks give no arterial or no portal venous phase", plane,
                              _image_kind(stack, texts, rules), t1_words, False, two_d=True)
    if t2_words and t2_params is False:
        return Classification(OTHER, f"T2 name but not T2 parameters ({t2_detail})", plane)
    if t1_words and t1_params is False:
        return Classification(OTHER, f"T1 name but not a dynamic 3D gradient echo ({t1_detail})", plane)
    return Classification(OTHER, f"neither T2 nor dynamic T1 by name or parameters ({t1_detail})", plane)


def text_phase(texts: list[str], rules: PhaseRules, ignore: frozenset[str] = frozenset()) -> TextPhase:
    """The phase the header texts name: highest-priority matches win, equal ones that differ cancel.

    Words in ``ignore`` (lower case; see :func:`~hccp53.phases.chemical_shift.shared_phase_words`) are skipped.
    """
    found: list[tuple[int, str, str, tuple[str, ...]]] = []
    for text in texts:
        for rule in rules.phase_text:
            match = next((m for m in rule.regex.finditer(text) if m.group(0).strip().lower() not in ignore), None)
            if match:
                found.append((rule.priority, rule.label, match.group(0).strip(), ()))
        for rule in rules.times_in_text:
            for match in rule.regex.finditer(text):
                if match.group(0).strip().lower() in ignore:
                    continue
                seconds = float(match.group(1)) * rule.unit
                found.append((rule.priority, phase_of_seconds(seconds, rules), match.group(0).strip(),
                              near_phases(seconds, rules)))
    if not found:
        return TextPhase(None)
    top = max(entry[0] for entry in found)
    best = [(label, fragment, near) for p, label, fragment, near in found if p == top]
    phases = {label for label, _, _ in best}
    if len(phases) > 1:
        words = ", ".join(f"`{f}` ({label})" for label, f, _ in best)
        return TextPhase(None, note=f"conflicting phase words {words}")
    label = best[0][0]
    related = tuple(sorted({p for _, _, near in best for p in near} - {label}))
    return TextPhase(label, best[0][1], top, related=related)


def _label_phase(label: str) -> str:
    return "hbp" if label == "late" else label


def phase_of_seconds(seconds: float, rules: PhaseRules) -> str:
    """The label whose timing window fits a time best (the later on a tie; ``late`` reads as ``hbp``)."""
    fits = [(rules.windows[label].fit(seconds), i, label) for i, label in enumerate(LABELS)]
    return _label_phase(max(fits)[2])


def near_phases(seconds: float, rules: PhaseRules) -> tuple[str, ...]:
    """Every label whose window a time fits at all (inside or within its falloff), ``late`` read as ``hbp``.

    A time written at the border of two windows (``45 SEC``: the end of the late arterial window and
    near the portal venous one) supports both: the best-fitting label agrees, the others are related.
    """
    return tuple(_label_phase(label) for label in LABELS if rules.windows[label].fit(seconds) > 0)


def agent_class(texts: list[str], rules: PhaseRules) -> tuple[str, str]:
    """``gadoxetic``, ``extracellular`` or ``unknown`` from agent texts, and the words found."""
    gadoxetic = [m.group(0) for t in texts if (m := rules.gadoxetic.search(t))]
    extracellular = [m.group(0) for t in texts if (m := rules.extracellular.search(t))]
    if gadoxetic and not extracellular:
        return "gadoxetic", gadoxetic[0]
    if extracellular and not gadoxetic:
        return "extracellular", extracellular[0]
    if gadoxetic and extracellular:
        return "unknown", f"both {gadoxetic[0]} and {extracellular[0]} named"
    return "unknown", ""
