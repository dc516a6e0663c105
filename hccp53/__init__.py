"""hccp53: TP53 mutation of hepatocellular carcinoma from multiphase liver MRI.

One importable library shared by the MONAI Deploy app (``app.py``), the MONAI
bundle (``configs/``) and the MONAI Label app (``label/``), so that training and
inference cannot drift apart.

Research use only: not a medical device.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hccp53.errors import ConfigError

__version__ = "0.1.0"

#: Phase keys used everywhere (datalists, configs, JSON output), in acquisition order.
PHASES: tuple[str, ...] = ("t2", "pre", "ap", "pvp", "dp", "hbp")

#: The phases the shipped model and the training configs use. Only CLI defaults and configs may refer to it;
#: a library function takes its phases from the model record or the config it is given.
DEFAULT_PHASES: tuple[str, ...] = ("t2", "ap", "pvp")

#: What each key is called in words: the phases, plus the labels phase identification gives dynamic T1
#: series on the way (``eap`` early arterial, ``late`` 10 minutes or more, ``post`` any post-contrast).
#: Messages, explanations and figures derive their wording from this one map.
PHASE_NAMES: dict[str, str] = {"t2": "T2", "pre": "pre-contrast", "eap": "early arterial", "ap": "arterial",
                               "pvp": "portal venous", "dp": "delayed", "late": "late (10 min or more)",
                               "hbp": "hepatobiliary", "post": "post-contrast"}


def parse_phases(value: str | Iterable[str], what: str = "the phase list", *,
                 allow_empty: bool = False) -> tuple[str, ...]:
    """Read a list of phase keys: ``"t2,ap,pvp"``, ``"T2 AP PVP"`` or ``["t2", "ap", "pvp"]``.

    Parameters
    ----------
    value
        Keys separated by commas and/or whitespace, or an iterable of keys; case and surrounding
        spaces are ignored.
    what
        What the list is, for the error message: an option such as ``"--require"``, or a phrase such as
        ``"the required phases"``.
    allow_empty
        Accept a list with no phase (e.g. ``--require ''``: require none).

    Returns
    -------
    tuple of str
        The keys, lowercase, in the order given.

    Raises
    ------
    ConfigError
        A key is not one of :data:`PHASES`, a key is given twice, or (unless ``allow_empty``) no key is given.
    """
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else [str(item) for item in value]
    phases = tuple(key for key in (item.strip().lower() for item in items) if key)
    known = f"use some of {', '.join(PHASES)}"
    unknown = [key for key in phases if key not in PHASES]
    if unknown:
        raise ConfigError(f"Unknown phase(s) {', '.join(dict.fromkeys(unknown))} in {what}; {known}.")
    repeated = [key for key in dict.fromkeys(phases) if phases.count(key) > 1]
    if repeated:
        raise ConfigError(f"Phase(s) {', '.join(repeated)} given more than once in {what}; {known}, each once.")
    if not phases and not allow_empty:
        raise ConfigError(f"No phase given in {what}; {known}.")
    return phases
