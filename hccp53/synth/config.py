"""Settings of the synthetic cohort: packaged defaults, user overrides, validation."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hccp53.errors import ConfigError
from hccp53.synth.appearance import NOISE_TYPES, RANGES, STYLES

PROFILES = ("small", "full")


def default_config() -> dict[str, Any]:
    """Return a fresh copy of the packaged ``defaults.yaml``."""
    text = resources.files("hccp53.synth").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _merge(base: dict[str, Any], override: dict[str, Any], where: str) -> None:
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key not in base:
            raise ConfigError(
                f"Unknown setting '{path}' in the synth configuration; "
                "run `hccp53 synth --print-config` to see the valid keys."
            )
        if isinstance(base[key], dict) and not isinstance(value, dict):
            raise ConfigError(f"Setting '{path}' must be a mapping, got {value!r}.")
        if isinstance(base[key], dict) and path not in _FREE_MAPPINGS:
            _merge(base[key], value, path)
        else:
            base[key] = copy.deepcopy(value)


# Mappings whose keys the user may replace wholesale (e.g. a vendor mix without Canon).
_FREE_MAPPINGS = {"protocol.vendors", "appearance.styles.varied.noise_types",
                  "appearance.styles.heldout.noise_types"}


def load_config(path: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Load the defaults, apply a YAML file and dotted-key overrides, and validate.

    Parameters
    ----------
    path:
        Optional YAML file with the keys to change (same nesting as the defaults).
    **overrides:
        Dotted keys with ``__`` as separator, e.g. ``mechanism__target_bayes_auc=0.8``.

    Returns
    -------
    dict
        The effective configuration.

    Raises
    ------
    ConfigError
        If the file cannot be read, has unknown keys or out-of-range values.
    """
    config = default_config()
    if path is not None:
        path = Path(path)
        try:
            user = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as error:
            raise ConfigError(f"Cannot read the synth configuration {path}: {error.strerror}.") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"The synth configuration {path} is not valid YAML: {error}.") from None
        if not isinstance(user, dict):
            raise ConfigError(f"The synth configuration {path} must be a mapping of settings.")
        _merge(config, user, "")
    for dotted, value in overrides.items():
        if value is None:
            continue
        keys = dotted.split("__")
        nested: dict[str, Any] = {keys[-1]: value}
        for key in reversed(keys[:-1]):
            nested = {key: nested}
        _merge(config, nested, "")
    validate_config(config)
    return config


def _fraction(config: dict[str, Any], dotted: str) -> None:
    node: Any = config
    for key in dotted.split("."):
        node = node[key]
    if not isinstance(node, (int, float)) or not 0.0 <= node <= 1.0:
        raise ConfigError(f"Setting '{dotted}' must be a number between 0 and 1, got {node!r}.")


def validate_config(config: dict[str, Any]) -> None:
    """Check ranges and shapes of the settings that the generator relies on.

    Raises
    ------
    ConfigError
        Naming the first invalid setting and the accepted range.
    """
    mech = config["mechanism"]
    prevalence = mech["prevalence"]
    if not isinstance(prevalence, (int, float)) or not 0.05 <= prevalence <= 0.95:
        raise ConfigError(f"Setting 'mechanism.prevalence' must lie in 0.05-0.95, got {prevalence!r}.")
    auc = mech["target_bayes_auc"]
    if not isinstance(auc, (int, float)) or not 0.55 <= auc <= 0.98:
        raise ConfigError(f"Setting 'mechanism.target_bayes_auc' must lie in 0.55-0.98, got {auc!r}.")
    for name, spec in mech["continuous"].items():
        if len(spec) != 3 or spec[1] <= 0:
            raise ConfigError(
                f"Setting 'mechanism.continuous.{name}' must be [mean, SD > 0, shift], got {spec!r}."
            )
    for name, spec in mech["binary"].items():
        if len(spec) != 2 or not 0 < spec[0] < 1 or spec[1] <= 0:
            raise ConfigError(
                f"Setting 'mechanism.binary.{name}' must be [probability in (0, 1), odds ratio > 0], "
                f"got {spec!r}."
            )
    cuts = mech["grade_cuts"]
    if len(cuts) != 3 or sorted(cuts) != list(cuts):
        raise ConfigError(f"Setting 'mechanism.grade_cuts' must be 3 increasing numbers, got {cuts!r}.")
    vendors = config["protocol"]["vendors"]
    unknown = set(vendors) - {"ge", "siemens", "philips", "canon"}
    if unknown:
        raise ConfigError(
            f"Unknown vendor(s) {sorted(unknown)} in 'protocol.vendors'; use ge, siemens, philips, canon."
        )
    if not vendors or any(w < 0 for w in vendors.values()) or sum(vendors.values()) <= 0:
        raise ConfigError("Setting 'protocol.vendors' needs at least one vendor with a positive weight.")
    for key in config["protocol"]:
        if key.endswith("_fraction"):
            _fraction(config, f"protocol.{key}")
    for name, (low, high) in config["protocol"]["timing_s"].items():
        if not 0 < low <= high:
            raise ConfigError(f"Setting 'protocol.timing_s.{name}' must be [low, high] with 0 < low <= high.")
    split = config["split"]
    if not 0 < split["test_fraction"] < 1:
        raise ConfigError(f"Setting 'split.test_fraction' must lie in (0, 1), got {split['test_fraction']!r}.")
    if not isinstance(split["folds"], int) or split["folds"] < 2:
        raise ConfigError(f"Setting 'split.folds' must be an integer of at least 2, got {split['folds']!r}.")
    for profile in PROFILES:
        if profile not in config["profiles"]:
            raise ConfigError(f"Profile '{profile}' is missing from 'profiles'.")
    _validate_appearance(config["appearance"])


def _range(spec: dict[str, Any], where: str, name: str) -> tuple[float, float]:
    low_bound, high_bound = RANGES[name]
    value = spec[name]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not low_bound <= value[0] <= value[1] <= high_bound):
        raise ConfigError(f"Setting '{where}.{name}' must be [low, high] with {low_bound} <= low <= high <= "
                          f"{high_bound}, got {value!r}.")
    if name == "chi_coils" and not all(isinstance(v, int) for v in value):
        raise ConfigError(f"Setting '{where}.chi_coils' must be two whole numbers of channels, got {value!r}.")
    return float(value[0]), float(value[1])


def _noise_types(spec: dict[str, Any], where: str) -> set[str]:
    weights = spec["noise_types"]
    unknown = set(weights) - set(NOISE_TYPES)
    if unknown:
        raise ConfigError(f"Unknown noise type(s) {sorted(unknown)} in '{where}.noise_types'; use "
                          f"{', '.join(NOISE_TYPES)}.")
    if any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError(f"Setting '{where}.noise_types' needs non-negative weights, at least one positive.")
    return {t for t, w in weights.items() if w > 0}


def _validate_appearance(appearance: dict[str, Any]) -> None:
    if appearance["style"] not in STYLES:
        raise ConfigError(f"Unknown style {appearance['style']!r} in 'appearance.style'; choose one of: "
                          f"{', '.join(STYLES)}.")
    for style, spec in appearance["styles"].items():
        where = f"appearance.styles.{style}"
        for name in RANGES:
            _range(spec, where, name)
        _noise_types(spec, where)
    varied, heldout = appearance["styles"]["varied"], appearance["styles"]["heldout"]
    for name in heldout["holds_out"]:
        where = "appearance.styles"
        if name == "noise_types":
            shared = _noise_types(varied, where) & _noise_types(heldout, where)
            if shared:
                raise ConfigError(f"The heldout style must not use a noise type that varied uses; both use "
                                  f"{sorted(shared)}.")
        elif name in RANGES:
            (vl, vh), (hl, hh) = _range(varied, f"{where}.varied", name), _range(heldout, f"{where}.heldout", name)
            if not (hh < vl or vh < hl):
                raise ConfigError(f"The heldout range of '{name}' {heldout[name]} overlaps the varied range "
                                  f"{varied[name]}; a held-out parameter needs a range training never sees.")
        else:
            raise ConfigError(f"Unknown parameter {name!r} in 'appearance.styles.heldout.holds_out'; use "
                              f"{', '.join([*RANGES, 'noise_types'])}.")


def dump_config(config: dict[str, Any]) -> str:
    """Return the configuration as YAML text (for ``--print-config`` and provenance)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100)
