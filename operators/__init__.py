"""MONAI Deploy operators of the hccp53 app: one per file, named after what it emits.

Each operator is a thin adapter (ports in, a call into the ``hccp53`` library, ports out);
the science lives in ``hccp53/`` where it is tested without Holoscan. ``app.py`` wires them:
study loader, phase selector, multiphase volumes, tumor segmentation, P53 classifier, then the DICOM
SEG and DICOM SR operators (which build, not write) and the result writer (which writes everything at
once).
"""
