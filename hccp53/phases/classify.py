"""What each stack is: excluded (and why), a T2 candidate, a dynamic T1 candidate, or other.

Also reads the phase a description names (:func:`text_phase`) and the contrast agent class.
Only header facts of :class:`~hccp53.dicomio.stack.ImageStack` are used, never pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from hccp53.dicomio.stack import ImageStack
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


@dataclass(frozen=True)
class TextPhase:
    """The phase a description names, and the words that say so."""

    phase: str | None              # pre eap ap pvp dp hbp post, or None
    fragment: str = ""
    priority: int = 0
    note: str = ""                 # e.g. conflicting words that cancelled

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
    return any(seq.fat_sat_pattern.search(t) for t in texts)


def _image_kind(stack: ImageStack, texts: list[str], rules: PhaseRules) -> str:
    if any(r.matches(stack.image_type) for r in rules.dixon_water_types):
        return "dixon_water"
    if any(rules.dixon_water_pattern.search(t) for t in texts):
        return "dixon_water"
    if stack.image_type and stack.image_type[0].upper() == "DERIVED":
        return "derived"
    return "fat_saturated" if _fat_saturated(stack, texts, rules, t2=False) else "original"


def classify_stack(stack: ImageStack, rules: PhaseRules) -> Classification:
    """Decide what one stack is, with a reason; non-axial stacks are handled by the caller.

    Exclusions come first (modality, slice count, ImageType, names, b-value); then the
    sequence parameters decide between T2 and dynamic T1, and the keywords decide when the
    parameters are not written.
    """
    texts = header_texts(stack, rules)
    plane = _plane(stack, texts, rules)
    if stack.modality and stack.modality.upper() != "MR":
        return Classification(EXCLUDED, f"not MR (modality {stack.modality})", plane, category="not MR")
    if stack.slices < rules.min_slices:
        return Classification(EXCLUDED, f"too few slices ({stack.slices} < {rules.min_slices})", plane,
                              category="too few slices")
    for rule in rules.image_type_exclude:
        if rule.matches(stack.image_type):
            values = "\\".join(stack.image_type)
            return Classification(EXCLUDED, f"{rule.label} (ImageType {values})", plane, category=rule.label)
    named = _first_match(texts, rules.exclude)
    if named:
        return Classification(EXCLUDED, f"{named[0]} (name: `{named[1]}`)", plane, category=named[0])
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
    if t2_words and t2_params is False:
        return Classification(OTHER, f"T2 name but not T2 parameters ({t2_detail})", plane)
    if t1_words and t1_params is False:
        return Classification(OTHER, f"T1 name but not a dynamic 3D gradient echo ({t1_detail})", plane)
    return Classification(OTHER, f"neither T2 nor dynamic T1 by name or parameters ({t1_detail})", plane)


def text_phase(texts: list[str], rules: PhaseRules) -> TextPhase:
    """The phase the header texts name: highest-priority matches win, equal ones that differ cancel."""
    found: list[tuple[int, str, str]] = []
    for text in texts:
        for rule in rules.phase_text:
            match = rule.search(text)
            if match:
                found.append((rule.priority, rule.label, match.group(0).strip()))
        for rule in rules.times_in_text:
            for match in rule.regex.finditer(text):
                seconds = float(match.group(1)) * rule.unit
                found.append((rule.priority, phase_of_seconds(seconds, rules), match.group(0).strip()))
    if not found:
        return TextPhase(None)
    top = max(p for p, _, _ in found)
    best = [(label, fragment) for p, label, fragment in found if p == top]
    phases = {label for label, _ in best}
    if len(phases) > 1:
        words = ", ".join(f"`{f}` ({label})" for label, f in best)
        return TextPhase(None, note=f"conflicting phase words {words}")
    return TextPhase(best[0][0], best[0][1], top)


def phase_of_seconds(seconds: float, rules: PhaseRules) -> str:
    """The label whose timing window fits a time best (the later on a tie; ``late`` reads as ``hbp``)."""
    fits = [(rules.windows[label].fit(seconds), i, label) for i, label in enumerate(LABELS)]
    label = max(fits)[2]
    return "hbp" if label == "late" else label


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
