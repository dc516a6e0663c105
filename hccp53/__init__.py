"""hccp53: TP53 mutation of hepatocellular carcinoma from multiphase liver MRI.

One importable library shared by the MONAI Deploy app (``app.py``), the MONAI
bundle (``configs/``) and the MONAI Label app (``label/``), so that training and
inference cannot drift apart.

Research use only: not a medical device.
"""

__version__ = "0.1.0"

#: Phase keys used everywhere (datalists, configs, JSON output), in acquisition order.
PHASES: tuple[str, ...] = ("t2", "pre", "ap", "pvp", "dp", "hbp")
