"""MONAI Deploy operators of the hccp53 app: one per file, named after what it emits.

Each operator is a thin adapter (ports in, a call into the ``hccp53`` library, ports out);
the science lives in ``hccp53/`` where it is tested without Holoscan. The study loader, phase
selector and multiphase volume operators exist; segmentation, classification and the SR / SEG
writers arrive with the app issue.
"""
