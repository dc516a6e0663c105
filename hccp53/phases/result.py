"""What phase identification returns: the chosen stack per phase, every stack considered, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hccp53.dicomio.stack import ImageStack
from hccp53.errors import InputError


class PhaseError(InputError):
    """A required phase cannot be found; the message says which and why in one sentence.

    Attributes
    ----------
    missing:
        The phase keys that are missing, in phase order.
    result:
        The partial :class:`PhaseResult` (what was found and every stack considered), so that a
        command can still show it.
    """

    def __init__(self, message: str, missing: list[str], result: PhaseResult | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.result = result


def format_time(seconds: float | None) -> str | None:
    """``HH:MM:SS`` (with tenths when not whole) from seconds since midnight."""
    if seconds is None:
        return None
    whole = int(seconds)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    tenths = round((seconds - whole) * 10)
    return text + (f".{tenths}" if 0 < tenths < 10 else "")


def selector(stack: ImageStack) -> dict[str, Any]:
    """The attribute values that pick this stack out of its series (empty for a whole series)."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    return {k: plain(v) for k, v in stack.split.items()}


def stack_record(stack: ImageStack) -> dict[str, Any]:
    """The identity of a stack as the JSON output gives it (no patient identifiers)."""
    multi = stack.temporal_position is not None and stack.temporal_positions > 1
    return {
        "series_instance_uid": stack.series_uid,
        "series_number": stack.series_number,
        "series_description": stack.description,
        "temporal_position": stack.temporal_position if multi else None,
        "temporal_positions": stack.temporal_positions if multi else None,
        "selector": selector(stack),
    }


@dataclass
class PhaseChoice:
    """The stack chosen for one phase.

    Attributes
    ----------
    stack:
        The chosen :class:`~hccp53.dicomio.stack.ImageStack`.
    reason:
        Why it was chosen (and over which competitors).
    confidence:
        In [0, 1], from the evidence that agrees with the choice.
    alternatives:
        Other stacks that could have held the phase, each ``{"stack": ImageStack, "reason": str}``.
    seconds_after_injection:
        Acquisition time minus the injection time, when both are known.
    """

    stack: ImageStack
    reason: str
    confidence: float
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    seconds_after_injection: float | None = None

    def identity(self) -> dict[str, Any]:
        """Which stack was chosen (:func:`stack_record`: the series, and the time point of a multi-phase series)
        and the confidence: a phase's entry in ``result.json``."""
        return {**stack_record(self.stack), "confidence": round(self.confidence, 3)}

    def to_json(self) -> dict[str, Any]:
        seconds = self.seconds_after_injection
        return {
            **stack_record(self.stack),
            "seconds_after_injection": None if seconds is None else round(seconds, 1),
            "reason": self.reason,
            "confidence": round(self.confidence, 3),
            "alternatives": [{**stack_record(a["stack"]), "reason": a["reason"]} for a in self.alternatives],
        }


@dataclass
class InjectionTime:
    """When the contrast was injected (seconds since midnight) and how that was obtained."""

    seconds: float | None
    source: str          # reference | ContrastBolusStartTime | estimated | none
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"time": format_time(self.seconds), "seconds_since_midnight": self.seconds,
                "source": self.source, "detail": self.detail}


@dataclass
class PhaseResult:
    """Phase identification of one study.

    Attributes
    ----------
    phases:
        Phase key (``t2 pre ap pvp dp hbp``) to :class:`PhaseChoice`; absent phases are missing.
    considered:
        One dict per stack of the study (and per series the loader rejected) with its
        classification, label and the reason it was chosen or not.
    injection_time:
        The injection time used for timing and how it was obtained.
    contrast_agent:
        ``{"class": gadoxetic | extracellular | unknown, "text": ...}``.
    missing:
        Phase key to one clause saying why it was not found (every phase absent from ``phases``).
    """

    study_uid: str
    phases: dict[str, PhaseChoice]
    considered: list[dict[str, Any]]
    injection_time: InjectionTime
    contrast_agent: dict[str, str]
    missing: dict[str, str] = field(default_factory=dict)
    rules_path: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``hccp53 phases STUDY_DIR --json`` document (``DESIGN.md`` public contract)."""
        return {
            "study_instance_uid": self.study_uid,
            "phases": {key: choice.to_json() for key, choice in self.phases.items()},
            "missing": dict(self.missing),
            "injection_time": self.injection_time.to_json(),
            "contrast_agent": dict(self.contrast_agent),
            "considered": list(self.considered),
            "rules": self.rules_path,
        }
