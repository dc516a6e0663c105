"""``hccp53 pull``: retrieve a study from a DICOMweb server (WADO-RS) into a folder the app can read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Retrieve every instance of one study by WADO-RS and write them into OUT (whole or nothing), for sites
that route by DICOMweb instead of C-STORE. Then run the app and push the results back:

  hccp53 pull --dicomweb http://pacs:8042/dicom-web --study 1.2.3... --out study/
  python app.py -i study/ -o result/ -m models
  hccp53 push --dicomweb http://pacs:8042/dicom-web result/
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("pull", help="retrieve a study by DICOMweb (WADO-RS)", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--dicomweb", required=True, metavar="URL", help="DICOMweb root, e.g. http://host:8042/dicom-web")
    parser.add_argument("--study", required=True, metavar="UID", help="Study Instance UID to retrieve")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the instances into")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds (default 30)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hccp53.pacs.dicomweb import pull_study

    count = pull_study(args.dicomweb, args.study, args.out, overwrite=args.overwrite, timeout=args.timeout,
                       progress=sys.stderr.isatty())  # fmt: skip
    print(f"Pulled {count} instance(s) into {args.out}.")
    return 0
