"""``hccp53 describe``: list the series of a DICOM folder (headers only, no patient identifiers)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from hccp53.dicomio.loader import study_files
from hccp53.errors import InputError

DESCRIPTION = """\
Read every DICOM header under a folder and print one line per series: number, description,
instances, distinct slice positions, how repeated positions are told apart (temporal position,
acquisition number, echo, b-value, image type), plane, TR/TE and acquisition time.
Patient name, ID and birth date are never printed.
"""

_SPLITTERS = ("TemporalPositionIdentifier", "AcquisitionNumber", "EchoNumbers", "DiffusionBValue", "ImageType")


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("describe", help="list the series of a DICOM folder",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder holding DICOM files (searched recursively)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def _plane(orientation: Any) -> str:
    if orientation is None:
        return "?"
    normal = np.abs(np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)))
    return ("SAG", "COR", "AX")[int(np.argmax(normal))]


def describe_folder(folder: Path) -> list[dict[str, Any]]:
    """One summary per series under ``folder``, sorted by series number.

    Raises
    ------
    InputError
        If the folder does not exist or holds no readable DICOM file.
    """
    if not folder.is_dir():
        raise InputError(f"The folder {folder} does not exist; give the folder that holds the DICOM files.")
    series: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    skipped = 0
    for path in study_files(folder):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError):
            skipped += 1
            continue
        if "SeriesInstanceUID" in ds:
            series[str(ds.SeriesInstanceUID)].append(ds)
        else:
            skipped += 1
    if not series:
        raise InputError(f"No DICOM image found under {folder} ({skipped} other file(s)); check the folder.")
    rows = []
    for uid, items in series.items():
        first = items[0]
        positions = {tuple(np.round(np.asarray(d.ImagePositionPatient, float), 2)) for d in items
                     if "ImagePositionPatient" in d}
        split = {}
        for keyword in _SPLITTERS:
            values = {str(d.get(keyword, "")) for d in items if keyword in d}
            if len(values) > 1:
                split[keyword] = len(values)
        times = sorted(str(d.AcquisitionTime) for d in items if d.get("AcquisitionTime"))
        rows.append({
            "series_number": int(first.get("SeriesNumber", 0) or 0),
            "series_description": str(first.get("SeriesDescription", "")),
            "modality": str(first.get("Modality", "")),
            "series_instance_uid": uid,
            "instances": len(items),
            "positions": len(positions),
            "split_by": split,
            "plane": _plane(first.get("ImageOrientationPatient")),
            "repetition_time": float(first.RepetitionTime) if first.get("RepetitionTime") is not None else None,
            "echo_time": float(first.EchoTime) if first.get("EchoTime") is not None else None,
            "acquisition_time": [times[0], times[-1]] if times else None,
        })
    return sorted(rows, key=lambda r: (r["series_number"], r["series_description"]))


def run(args: argparse.Namespace) -> int:
    rows = describe_folder(args.folder)
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    header = f"{'#':>5}  {'description':<38} {'mod':<4} {'inst':>5} {'pos':>4} {'plane':<5} {'TR':>7} {'TE':>6}" \
             f"  {'acq. time':<13} repeated positions told apart by"
    lines = [header, "-" * len(header)]
    for r in rows:
        tr = f"{r['repetition_time']:.1f}" if r["repetition_time"] is not None else "-"
        te = f"{r['echo_time']:.1f}" if r["echo_time"] is not None else "-"
        acq = r["acquisition_time"][0][:6] if r["acquisition_time"] else "-"
        split = ", ".join(f"{k} ({v})" for k, v in r["split_by"].items()) or "-"
        lines.append(f"{r['series_number']:>5}  {r['series_description'][:38]:<38} {r['modality']:<4} "
                     f"{r['instances']:>5} {r['positions']:>4} {r['plane']:<5} {tr:>7} {te:>6}  {acq:<13} {split}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
