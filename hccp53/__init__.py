"""hccp53: TP53 mutation of hepatocellular carcinoma from multiphase liver MRI.

One importable library shared by the MONAI Deploy app (``app.py``), the MONAI
bundle (``configs/``) and the MONAI Label app (``label/``), so that training and
inference cannot drift apart.

Research use only: not a medical device.
"""

__version__ = "0.1.0"

#: Phase keys used everywhere (datalists, configs, JSON output), in acquisition order.
PHASES: tuple[str, ...] = ("t2", "pre", "ap", "pvp", "dp", "hbp")

#: What each key is called in words: the phases, plus the labels phase identification gives dynamic T1
#: series on the way (``eap`` early arterial, ``late`` 10 minutes or more, ``post`` any post-contrast).
#: Messages, explanations and figures derive their wording from this one map.
PHASE_NAMES: dict[str, str] = {"t2": "T2", "pre": "pre-contrast", "eap": "early arterial", "ap": "arterial",
                               "pvp": "portal venous", "dp": "delayed", "late": "late (10 min or more)",
                               "hbp": "hepatobiliary", "post": "post-contrast"}
