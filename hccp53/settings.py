"""The app's run settings: the plain values of ``configs/inference.yaml`` that are not the model's.

What the networks are and eat (phases, spacing, crop, reference phase, threshold) comes from the
trained-model folder (:mod:`hccp53.model`); what is read here is how to run them on a study: lesion size,
sliding window, registration and the largest series accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

import hccp53
from hccp53.errors import ConfigError

CONFIG = Path(hccp53.__file__).resolve().parents[1] / "configs" / "inference.yaml"


@dataclass(frozen=True)
class Settings:
    """The run settings of ``configs/inference.yaml`` (see the comments there)."""

    min_lesion_ml: float
    sw_batch_size: int
    sw_overlap: float
    register: bool
    max_voxels_per_series: int


def read_settings(config: str | Path = CONFIG) -> Settings:
    """The plain values of the inference config (no expression is evaluated).

    The app reads only the keys of :class:`Settings`, each of which must be a plain value of its kind:
    a bundle expression (``"$..."``) there is refused, not evaluated (``monai.bundle run`` on the same
    file evaluates its other keys; docs/bundle.md, "Configs are code").

    Raises
    ------
    ConfigError
        The file is unreadable, not a mapping, lacks a key or holds a value of the wrong kind.
    """
    path = Path(config)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Cannot read the inference settings {path} ({error}).") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must be a mapping of settings, not {type(values).__name__}.")
    keys = [f.name for f in fields(Settings)]
    missing = [k for k in keys if k not in values]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}.")
    hints = get_type_hints(Settings)
    for key in keys:
        if not _of_kind(values[key], hints[key]):
            raise ConfigError(f"The inference setting {key} = {values[key]!r} in {path} is not a plain "
                              f"{_KIND_NAMES.get(hints[key], 'value')}; fix the file.")  # fmt: skip
    return Settings(**{k: tuple(values[k]) if isinstance(values[k], list) else values[k] for k in keys})


_KIND_NAMES = {str: "text", bool: "true or false", int: "integer", float: "number",
               tuple[str, ...]: "list of text", tuple[int, ...]: "list of integers",
               tuple[float, ...]: "list of numbers"}  # fmt: skip


def _of_kind(value: Any, hint: Any) -> bool:
    """Whether a YAML value is of a :class:`Settings` field's kind (an int is a float; a bool is neither)."""
    if get_origin(hint) is tuple:
        return isinstance(value, list) and bool(value) and all(_of_kind(v, get_args(hint)[0]) for v in value)
    if hint is str:
        return isinstance(value, str) and not value.lstrip().startswith("$")
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False
