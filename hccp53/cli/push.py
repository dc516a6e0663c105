"""``hccp53 push``: store the app's results (SR, SEG, PDF) on a PACS by STOW-RS or C-STORE."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Send DICOM files (or every .dcm of the app's output folder) to a PACS: by STOW-RS to --dicomweb URL,
or by C-STORE to --destination AET@host:port. The results join their source study on the PACS because
they carry its Study Instance UID.

  hccp53 push --dicomweb http://pacs:8042/dicom-web result/
  hccp53 push --destination ORTHANC@pacs:4242 result/
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("push", help="send results to a PACS by STOW-RS or C-STORE", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("paths", nargs="+", type=Path, help="DICOM files, or folders whose .dcm files to send")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dicomweb", metavar="URL", help="DICOMweb root, e.g. http://host:8042/dicom-web")
    where.add_argument("--destination", metavar="AET@HOST:PORT", help="C-STORE SCP to send to")
    parser.add_argument("--ae-title", default="HCCP53", help="our (calling) AE title for C-STORE (default HCCP53)")
    parser.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hccp53.pacs.config import check_ae_title, parse_destination
    from hccp53.pacs.dicomweb import push_results, result_files
    from hccp53.pacs.send import send_dimse

    if args.dicomweb:
        count = push_results(args.dicomweb, args.paths, args.timeout)
        print(f"Stored {count} object(s) at {args.dicomweb}.")
        return 0
    destination = parse_destination(args.destination)
    files = result_files(args.paths)
    send_dimse(files, destination, check_ae_title(args.ae_title, "AE title"), args.timeout)
    print(f"Stored {len(files)} object(s) at {destination}.")
    return 0
