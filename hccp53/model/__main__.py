"""``python -m hccp53.model``: trained-model folders.

- ``upgrade FOLDER``: give a trained-model folder of bundle 0.3 or older its records (once);
- ``lesion-floor FOLDER --lesions FILE ...``: set the segmentation network's lesion-confidence floor from lesions
  measured on studies of its training look (:mod:`hccp53.model.lesion_floor`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import hccp53
from hccp53.errors import HccP53Error
from hccp53.model.record import SEGMENTATION_RECORD, upgrade_folder

CONFIG = Path(hccp53.__file__).resolve().parents[1] / "configs" / "train_segmentation.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hccp53.model",
        description="Trained-model folders. `upgrade FOLDER` writes the records a folder published before "
                    f"bundle 0.4 lacks: {SEGMENTATION_RECORD} from the segmentation training config it was trained "
                    "with, "
                    "and the weights' sha256, UID and versions in both records. The weights are not changed.")
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help="write the records of an older trained-model folder")
    upgrade.add_argument("folder", type=Path, help="the trained-model folder (e.g. models)")
    upgrade.add_argument("--segmentation-config", type=Path, default=CONFIG,
                         help="the config its segmentation network was trained with (default: %(default)s)")
    upgrade.add_argument("--reference-phase", default="pvp",
                         help="the phase the app resampled studies onto for this folder (default: %(default)s, "
                              "that of bundle 0.3)")
    floor = commands.add_parser(
        "lesion-floor", help="set the lesion-confidence floor of a folder's segmentation network",
        description="Choose the mean tumor probability below which a lesion other than a study's most confident is "
                    "dropped, from lesions that `bench/bench_generalisation.py --styles varied --lesions FILE` "
                    "measured with this folder on studies of the network's training look (never the held-out "
                    f"style), and write it into the folder's {SEGMENTATION_RECORD} with its evidence. Set it "
                    "again after retraining.")  # fmt: skip
    floor.add_argument("folder", type=Path, help="the trained-model folder (e.g. models)")
    floor.add_argument("--lesions", type=Path, nargs="+", required=True, help="lesions files of the bench")
    args = parser.parse_args(argv)
    try:
        if args.command == "lesion-floor":
            from hccp53.model.lesion_floor import set_floor

            values = set_floor(args.folder, args.lesions)
            evidence = values["min_lesion_confidence_evidence"]
            print(f"{args.folder}: lesion-confidence floor {values['min_lesion_confidence']:.3f}, from "
                  f"{evidence['true_lesions']} true and {evidence['false_lesions']} false lesions (other than the "
                  f"first) of {evidence['studies']} {'/'.join(evidence['styles'])} studies; there it keeps "
                  f"{evidence['false_kept']} false lesion(s) and drops {evidence['true_dropped']} true one(s).")
            return 0
        record = upgrade_folder(args.folder, args.segmentation_config, args.reference_phase)
    except HccP53Error as error:
        sys.stderr.write(f"python -m hccp53.model: error: {error}\n")
        return 1
    print(f"{args.folder}: model UID {record.uid}; phases {', '.join(record.phases)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
